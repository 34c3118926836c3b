// The CUDA backend: one stream and one cuBLAS handle per session, a caching device allocator,
// pinned host staging for feeds and fetches, and the adapters from the op table's kernel
// contexts to the launchers in kernels/cuda. Ops with a CPU-fallback mark run their CPU kernel
// on host copies of their inputs.

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <climits>
#include <cstring>
#include <span>

#include "absl/container/flat_hash_map.h"
#include "cuda/cuda_allocator.h"
#include "cuda/cuda_check.h"
#include "kernels/broadcast_index.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/gemm_args.h"
#include "ops/op_util.h"
#include "runtime/backend.h"

namespace scopeflow {

namespace {

using cuda::check;
using cuda::check_cublas;

// cuBLAS takes int dimensions.
int blas_int(int64_t value, std::string_view op) {
  if (value > INT_MAX) {
    throw_error(absl::StatusCode::kUnimplemented, op, "dimension ", value,
                " exceeds what one cuBLAS call takes (", INT_MAX, ")");
  }
  return static_cast<int>(value);
}

// A broadcast index for out = f(a, b); throws for ranks beyond what device kernels index.
StridedIndex broadcast_index(const Shape& out, const Shape& a, const Shape& b, std::string_view op) {
  StridedIndex index;
  if (!make_broadcast_index(out.dims().data(), out.rank(), a.dims().data(), a.rank(),
                            b.dims().data(), b.rank(), index)) {
    throw_error(absl::StatusCode::kUnimplemented, op, "rank ", out.rank(),
                " exceeds the ", kMaxIndexRank, " dimensions CUDA kernels index");
  }
  return index;
}

// Owners of cuBLASLt descriptors (destroyed on every path, errors ignored: destructors never throw).
template <typename T, cublasStatus_t (*kDestroy)(T)>
struct LtDescriptor {
  T value = nullptr;
  LtDescriptor() = default;
  LtDescriptor(const LtDescriptor&) = delete;
  LtDescriptor& operator=(const LtDescriptor&) = delete;
  ~LtDescriptor() {
    if (value != nullptr) (void)kDestroy(value);
  }
};
using LtMatmulDesc = LtDescriptor<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using LtLayout = LtDescriptor<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using LtPreference = LtDescriptor<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

// A cuBLASLt matmul set up for one problem (shape, transposes, epilogue, operand alignments,
// workspace): its descriptors and the algorithm the heuristic chose, or none.
struct LtGemmPlan {
  LtMatmulDesc desc;
  LtLayout first, second, result;
  bool has_algorithm = false;
  cublasLtMatmulAlgo_t algo{};
};

class CudaBackend;
using CudaKernelFn = void (*)(CudaBackend&, KernelContext&);

class CudaBackend final : public Backend {
 public:
  CudaBackend(int index, std::shared_ptr<Allocator> allocator, bool allow_tf32)
      : index_(index), allocator_(std::move(allocator)), allow_tf32_(allow_tf32) {}

  ~CudaBackend() override {
    // Destructors never throw: best effort, errors ignored.
    lt_plans_.clear();
    cuda::BestEffortDeviceGuard guard(index_);
    if (stream_ != nullptr) (void)cudaStreamSynchronize(stream_);
    if (blas_ != nullptr) (void)cublasDestroy(blas_);
    if (lt_ != nullptr) (void)cublasLtDestroy(lt_);
    if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
    if (staging_ != nullptr) (void)cudaFreeHost(staging_);
  }

  void init() {
    cuda::DeviceGuard guard(index_);
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    check_cublas(cublasCreate(&blas_), "cublasCreate");
    check_cublas(cublasSetStream(blas_, stream_), "cublasSetStream");
    // Scalars (alpha, beta) are passed from host memory.
    check_cublas(cublasSetPointerMode(blas_, CUBLAS_POINTER_MODE_HOST), "cublasSetPointerMode");
    check_cublas(cublasSetMathMode(blas_, allow_tf32_ ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
                 "cublasSetMathMode");
    check_cublas(cublasLtCreate(&lt_), "cublasLtCreate");
  }

  Device device() const override { return Device::cuda(index_); }
  const std::shared_ptr<Allocator>& allocator() const override { return allocator_; }

  KernelSupportInfo support(OpId op) const override { return *cuda_kernel_support(op); }

  std::unique_ptr<PreparedKernel> prepare(const PlanStep& step, const DecodedAttrs& attrs) override;
  std::string_view run(const PreparedKernel& kernel, KernelContext& ctx) override;

  void upload_into(const Tensor& host, const Tensor& device_tensor) override {
    const size_t bytes = host.byte_size();
    if (bytes == 0) return;
    cuda::DeviceGuard guard(index_);
    void* staging = staging_buffer(bytes);
    std::memcpy(staging, host.raw_data(), bytes);
    check(cudaMemcpyAsync(device_tensor.raw_data(), staging, bytes, cudaMemcpyHostToDevice, stream_),
          "cudaMemcpyAsync (host to device)");
    // The staging buffer is reused by the next copy.
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

  Tensor copy(const Tensor& device_tensor, MemoryKind kind) override {
    Tensor result(device_tensor.dtype(), device_tensor.shape(), allocator_, kind);
    if (result.byte_size() == 0) return result;
    cuda::DeviceGuard guard(index_);
    check(cudaMemcpyAsync(result.raw_data(), device_tensor.raw_data(), result.byte_size(),
                          cudaMemcpyDeviceToDevice, stream_),
          "cudaMemcpyAsync (device to device)");
    return result;
  }

  Tensor download(const Tensor& device_tensor) override {
    Tensor host(device_tensor.dtype(), device_tensor.shape());
    const size_t bytes = device_tensor.byte_size();
    if (bytes == 0) return host;
    cuda::DeviceGuard guard(index_);
    void* staging = staging_buffer(bytes);
    check(cudaMemcpyAsync(staging, device_tensor.raw_data(), bytes, cudaMemcpyDeviceToHost, stream_),
          "cudaMemcpyAsync (device to host)");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    std::memcpy(host.raw_data(), staging, bytes);
    return host;
  }

  void synchronize() override {
    cuda::DeviceGuard guard(index_);
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

  cudaStream_t stream() const { return stream_; }
  cublasHandle_t blas() const { return blas_; }
  cublasLtHandle_t lt() const { return lt_; }
  bool allow_tf32() const { return allow_tf32_; }

  /// Workspace for cuBLASLt (allocated on first use, counted as kOther); none when the device
  /// (or its allocation cap) has no room for it, which limits cuBLASLt's choice of algorithm.
  std::pair<void*, size_t> lt_workspace() {
    // 4 MiB: what cuBLAS suggests before Hopper; small next to activations, enough for the
    // epilogue kernels of the GEMM shapes here.
    constexpr size_t kBytes = size_t{4} << 20;
    if (!lt_workspace_.defined()) {
      try {
        lt_workspace_ = Tensor(DType::kFloat32, Shape{static_cast<int64_t>(kBytes / 4)}, allocator_,
                               MemoryKind::kOther);
      } catch (const Error& e) {
        if (e.code() != absl::StatusCode::kResourceExhausted) throw;
        return {nullptr, 0};
      }
    }
    return {lt_workspace_.raw_data(), kBytes};
  }

  /// The cached cuBLASLt setup for `key`, made by `make` on first use.
  template <typename Make>
  LtGemmPlan& lt_plan(const std::string& key, Make make) {
    auto it = lt_plans_.find(key);
    if (it == lt_plans_.end()) it = lt_plans_.emplace(key, make()).first;
    return *it->second;
  }

  /// A device vector of at least n ones (GEMV reductions), grown on demand.
  const float* ones(int64_t n) {
    if (!ones_.defined() || ones_.num_elements() < n) {
      Tensor grown(DType::kFloat32, Shape{n}, allocator_, MemoryKind::kOther);
      check(cuda::launch_fill(grown.data<float>(), 1.0f, n, stream_), "launch_fill");
      ones_ = std::move(grown);  // only once filled, so a failure leaves the old vector
    }
    return ones_.data<float>();
  }

  /// Scratch memory on the device, counted as activations while it lives.
  Tensor scratch(DType dtype, Shape shape) {
    return Tensor(dtype, std::move(shape), allocator_, MemoryKind::kActivation);
  }

 private:
  void* staging_buffer(size_t bytes) {
    if (bytes > staging_bytes_) {
      if (staging_ != nullptr) {
        check(cudaFreeHost(staging_), "cudaFreeHost");
        staging_ = nullptr;
        staging_bytes_ = 0;
      }
      check(cudaMallocHost(&staging_, bytes), "cudaMallocHost (pinned staging)");
      staging_bytes_ = bytes;
    }
    return staging_;
  }

  void run_on_host(KernelContext& ctx, CpuKernelFn cpu_kernel);
  std::string_view run_fused_gemm(KernelContext& ctx, const MatMulAttrs& matmul, bool relu);

  int index_;
  std::shared_ptr<Allocator> allocator_;
  bool allow_tf32_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  Tensor lt_workspace_;
  absl::flat_hash_map<std::string, std::unique_ptr<LtGemmPlan>> lt_plans_;
  void* staging_ = nullptr;
  size_t staging_bytes_ = 0;
  Tensor ones_;
};

// ---- kernel adapters --------------------------------------------------------------------

// out = op(a) op(w) through cublasSgemm with the argument mapping cblas_sgemm gets on the CPU.
void sgemm(CudaBackend& b, const op_util::MatMulDims& d, const float* a, const float* w, float* out) {
  const ColumnMajorGemm g = column_major_gemm_for_row_major(d.m, d.n, d.k, d.transpose_a, d.transpose_b);
  const float alpha = 1.0f;
  const float beta = 0.0f;
  check_cublas(cublasSgemm(b.blas(), g.transpose_first ? CUBLAS_OP_T : CUBLAS_OP_N,
                           g.transpose_second ? CUBLAS_OP_T : CUBLAS_OP_N, blas_int(g.m, "matmul"),
                           blas_int(g.n, "matmul"), blas_int(g.k, "matmul"), &alpha, w,
                           blas_int(g.ld_first, "matmul"), a, blas_int(g.ld_second, "matmul"), &beta,
                           out, blas_int(g.ld_result, "matmul")),
               "cublasSgemm");
}

// Largest power of two (up to 256) that divides the address: what cuBLASLt may assume.
uint32_t alignment_of(const void* ptr) {
  const auto address = reinterpret_cast<uintptr_t>(ptr);
  uint32_t alignment = 256;
  while (alignment > 4 && address % alignment != 0) alignment /= 2;
  return alignment;
}

std::unique_ptr<LtGemmPlan> make_lt_plan(CudaBackend& b, const ColumnMajorGemm& g, bool relu,
                                         const float* a, const float* w, const float* bias,
                                         const float* out, size_t workspace_bytes) {
  auto plan = std::make_unique<LtGemmPlan>();
  check_cublas(cublasLtMatmulDescCreate(&plan->desc.value,
                                        b.allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F,
                                        CUDA_R_32F),
               "cublasLtMatmulDescCreate");
  auto set_desc = [&](cublasLtMatmulDescAttributes_t attribute, const void* value, size_t size) {
    check_cublas(cublasLtMatmulDescSetAttribute(plan->desc.value, attribute, value, size),
                 "cublasLtMatmulDescSetAttribute");
  };
  const cublasOperation_t op_first = g.transpose_first ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = g.transpose_second ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasLtEpilogue_t epilogue = relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
  set_desc(CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof(op_first));
  set_desc(CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof(op_second));
  set_desc(CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue));
  // The heuristic reads the bias pointer's alignment; each call sets its own pointer again.
  set_desc(CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias));

  // Stored shapes (column-major): first operand op^-1 of (m, k), second of (k, n), result (m, n).
  const auto u64 = [](int64_t v) { return static_cast<uint64_t>(v); };
  check_cublas(cublasLtMatrixLayoutCreate(&plan->first.value, CUDA_R_32F, u64(g.transpose_first ? g.k : g.m),
                                          u64(g.transpose_first ? g.m : g.k), g.ld_first),
               "cublasLtMatrixLayoutCreate");
  check_cublas(cublasLtMatrixLayoutCreate(&plan->second.value, CUDA_R_32F, u64(g.transpose_second ? g.n : g.k),
                                          u64(g.transpose_second ? g.k : g.n), g.ld_second),
               "cublasLtMatrixLayoutCreate");
  check_cublas(cublasLtMatrixLayoutCreate(&plan->result.value, CUDA_R_32F, u64(g.m), u64(g.n), g.ld_result),
               "cublasLtMatrixLayoutCreate");

  LtPreference preference;
  check_cublas(cublasLtMatmulPreferenceCreate(&preference.value), "cublasLtMatmulPreferenceCreate");
  auto set_preference = [&](cublasLtMatmulPreferenceAttributes_t attribute, const void* value, size_t size) {
    check_cublas(cublasLtMatmulPreferenceSetAttribute(preference.value, attribute, value, size),
                 "cublasLtMatmulPreferenceSetAttribute");
  };
  const uint64_t max_workspace = workspace_bytes;
  set_preference(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_workspace, sizeof(max_workspace));
  const uint32_t align_first = alignment_of(w);
  const uint32_t align_second = alignment_of(a);
  const uint32_t align_result = alignment_of(out);
  set_preference(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_first, sizeof(align_first));
  set_preference(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_second, sizeof(align_second));
  set_preference(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_result, sizeof(align_result));
  set_preference(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_result, sizeof(align_result));

  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
      b.lt(), plan->desc.value, plan->first.value, plan->second.value, plan->result.value,
      plan->result.value, preference.value, 1, &heuristic, &found);
  // A combination this cuBLASLt does not offer is not an error: the unfused kernels run instead.
  if (status == CUBLAS_STATUS_NOT_SUPPORTED || status == CUBLAS_STATUS_INVALID_VALUE) return plan;
  check_cublas(status, "cublasLtMatmulAlgoGetHeuristic");
  if (found > 0 && heuristic.state == CUBLAS_STATUS_SUCCESS) {
    plan->has_algorithm = true;
    plan->algo = heuristic.algo;
  }
  return plan;
}

// out = relu?(op(a) op(w) + bias) as one cuBLASLt matmul with a BIAS or RELU_BIAS epilogue, on
// the same column-major mapping as cublasSgemm (the bias runs along rows of column-major D,
// which are the row-major output's columns). Returns false when cuBLASLt offers no algorithm.
bool lt_gemm_bias(CudaBackend& b, const op_util::MatMulDims& d, const float* a, const float* w,
                  const float* bias, bool relu, float* out) {
  const ColumnMajorGemm g = column_major_gemm_for_row_major(d.m, d.n, d.k, d.transpose_a, d.transpose_b);
  const auto [workspace, workspace_bytes] = b.lt_workspace();
  const std::string key = absl::StrCat(g.m, ",", g.n, ",", g.k, ",", g.transpose_first, g.transpose_second,
                                       relu, ",", alignment_of(a), ",", alignment_of(w), ",",
                                       alignment_of(bias), ",", alignment_of(out), ",", workspace_bytes);
  LtGemmPlan& plan = b.lt_plan(key, [&] { return make_lt_plan(b, g, relu, a, w, bias, out, workspace_bytes); });
  if (!plan.has_algorithm) return false;
  check_cublas(cublasLtMatmulDescSetAttribute(plan.desc.value, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                              sizeof(bias)),
               "cublasLtMatmulDescSetAttribute");
  const float alpha = 1.0f;
  const float beta = 0.0f;
  check_cublas(cublasLtMatmul(b.lt(), plan.desc.value, &alpha, w, plan.first.value, a, plan.second.value,
                              &beta, out, plan.result.value, out, plan.result.value, &plan.algo,
                              workspace, workspace_bytes, b.stream()),
               "cublasLtMatmul");
  return true;
}

void matmul(CudaBackend& b, KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];  // (m, k), or (k, m) when transpose_a
  const Tensor& y = ctx.inputs[1];  // (k, n), or (n, k) when transpose_b
  Tensor& out = ctx.outputs[0];     // (m, n)
  const auto [m, n, k, transpose_a, transpose_b] = op_util::matmul_dims(ctx);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    check(cudaMemsetAsync(out.raw_data(), 0, out.byte_size(), b.stream()), "cudaMemsetAsync");
    return;
  }
  sgemm(b, {m, n, k, transpose_a, transpose_b}, x.data<float>(), y.data<float>(), out.data<float>());
}

// y = alpha * row or column sums of a row-major (rows, cols) matrix, through cuBLAS GEMV.
void gemv_sums(CudaBackend& b, const float* matrix, int64_t rows, int64_t cols, bool sum_rows,
               float alpha, float* y, std::string_view op) {
  const ColumnMajorGemv g = column_major_gemv_for_row_major_sums(rows, cols, sum_rows);
  const float beta = 0.0f;
  check_cublas(cublasSgemv(b.blas(), g.transpose ? CUBLAS_OP_T : CUBLAS_OP_N, blas_int(g.m, op),
                           blas_int(g.n, op), &alpha, matrix, blas_int(g.lda, op),
                           b.ones(g.x_length), 1, &beta, y, 1),
               "cublasSgemv");
}

void reduce(CudaBackend& b, KernelContext& ctx, bool mean) {
  const Tensor& in = ctx.inputs[0];
  Tensor& out = ctx.outputs[0];
  const std::string_view op = mean ? "reduce_mean" : "reduce_sum";
  const int rank = in.shape().rank();
  bool reduced[kMaxIndexRank] = {};
  if (rank > kMaxIndexRank) {
    throw_error(absl::StatusCode::kUnimplemented, op, "rank ", rank, " exceeds the ",
                kMaxIndexRank, " dimensions CUDA kernels index");
  }
  for (int64_t axis : ctx.attr<AxesAttrs>().axes) reduced[axis] = true;
  ReductionLayout layout;
  make_reduction_layout(in.shape().dims().data(), rank, reduced, layout);
  if (layout.outer == 0) return;
  if (layout.inner == 0) {  // sum of nothing is 0; mean of nothing is NaN, as in TensorFlow
    check(cuda::launch_fill(out.data<float>(), mean ? NAN : 0.0f, out.num_elements(), b.stream()),
          "launch_fill");
    return;
  }
  const float* matrix = in.data<float>();
  Tensor permuted;
  if (layout.needs_transpose) {
    permuted = b.scratch(DType::kFloat32, in.shape());
    check(cuda::launch_gather(sizeof(float), in.raw_data(), permuted.raw_data(), layout.permute,
                              in.num_elements(), b.stream()),
          "launch_gather");
    matrix = permuted.data<float>();
  }
  const float alpha = mean ? static_cast<float>(1.0 / static_cast<double>(layout.inner)) : 1.0f;
  gemv_sums(b, matrix, layout.outer, layout.inner, /*sum_rows=*/true, alpha, out.data<float>(), op);
}

void sum(CudaBackend& b, KernelContext& ctx) { reduce(b, ctx, false); }
void mean(CudaBackend& b, KernelContext& ctx) { reduce(b, ctx, true); }

void bias_add_grad(CudaBackend& b, KernelContext& ctx) {
  const Tensor& grad = ctx.inputs[0];  // (..., channels)
  Tensor& out = ctx.outputs[0];        // (channels,)
  const int64_t channels = grad.shape().dims().back();
  if (channels == 0) return;
  const int64_t rows = grad.num_elements() / channels;
  if (rows == 0) {
    check(cuda::launch_fill(out.data<float>(), 0.0f, channels, b.stream()), "launch_fill");
    return;
  }
  gemv_sums(b, grad.data<float>(), rows, channels, /*sum_rows=*/false, 1.0f, out.data<float>(),
            "bias_add_grad");
}

template <cuda::BinaryOp kOp>
void binary(CudaBackend& b, KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  const Tensor& y = ctx.inputs[1];
  Tensor& out = ctx.outputs[0];
  const bool same_shape = x.shape() == out.shape() && y.shape() == out.shape();
  const StridedIndex index = same_shape ? StridedIndex{}
                                        : broadcast_index(out.shape(), x.shape(), y.shape(),
                                                          ctx.node.op_def().builder_name);
  check(cuda::launch_binary(kOp, out.dtype(), x.raw_data(), y.raw_data(), out.raw_data(), index,
                            same_shape, out.num_elements(), b.stream()),
        "launch_binary");
}

template <cuda::UnaryOp kOp>
void unary(CudaBackend& b, KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  check(cuda::launch_unary(kOp, x.dtype(), x.raw_data(), ctx.outputs[0].raw_data(),
                           x.num_elements(), b.stream()),
        "launch_unary");
}

void bias_add(CudaBackend& b, KernelContext& ctx) {
  const Tensor& value = ctx.inputs[0];
  const int64_t channels = value.shape().dims().back();
  if (channels == 0) return;
  check(cuda::launch_bias_add(value.data<float>(), ctx.inputs[1].data<float>(),
                              ctx.outputs[0].data<float>(), value.num_elements() / channels,
                              channels, b.stream()),
        "launch_bias_add");
}

void add_n(CudaBackend& b, KernelContext& ctx) {
  Tensor& out = ctx.outputs[0];
  if (out.byte_size() == 0) return;
  check(cudaMemcpyAsync(out.raw_data(), ctx.inputs[0].raw_data(), out.byte_size(),
                        cudaMemcpyDeviceToDevice, b.stream()),
        "cudaMemcpyAsync (device to device)");
  for (size_t k = 1; k < ctx.inputs.size(); ++k) {
    check(cuda::launch_accumulate(out.data<float>(), ctx.inputs[k].data<float>(),
                                  out.num_elements(), b.stream()),
          "launch_accumulate");
  }
}

void cast(CudaBackend& b, KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  Tensor& out = ctx.outputs[0];
  check(cuda::launch_cast(x.dtype(), out.dtype(), x.raw_data(), out.raw_data(), x.num_elements(),
                          b.stream()),
        "launch_cast");
}

void equal(CudaBackend& b, KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  const Tensor& y = ctx.inputs[1];
  Tensor& out = ctx.outputs[0];
  const StridedIndex index = broadcast_index(out.shape(), x.shape(), y.shape(), "equal");
  check(cuda::launch_equal(x.dtype(), x.raw_data(), y.raw_data(), out.data<bool>(), index,
                           out.num_elements(), b.stream()),
        "launch_equal");
}

void broadcast_to(CudaBackend& b, KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  Tensor& out = ctx.outputs[0];
  const StridedIndex index = broadcast_index(out.shape(), x.shape(), x.shape(), "broadcast_to");
  check(cuda::launch_gather(dtype_size(x.dtype()), x.raw_data(), out.raw_data(), index,
                            out.num_elements(), b.stream()),
        "launch_gather");
}

void transpose(CudaBackend& b, KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  Tensor& out = ctx.outputs[0];
  StridedIndex index;
  if (!make_transpose_index(x.shape().dims().data(), x.shape().rank(), ctx.attr<PermAttrs>().perm.data(), index)) {
    throw_error(absl::StatusCode::kUnimplemented, "transpose", "rank ", x.shape().rank(), " exceeds the ",
                kMaxIndexRank, " dimensions CUDA kernels index");
  }
  check(cuda::launch_gather(dtype_size(x.dtype()), x.raw_data(), out.raw_data(), index,
                            out.num_elements(), b.stream()),
        "launch_gather");
}

// (rows, classes) view of a tensor over its last dimension.
std::pair<int64_t, int64_t> rows_and_classes(const Tensor& t) {
  const int64_t classes = t.shape().rank() == 0 ? 1 : t.shape().dims().back();
  return {classes == 0 ? 0 : t.num_elements() / classes, classes};
}

void softmax(CudaBackend& b, KernelContext& ctx) {
  const auto [rows, classes] = rows_and_classes(ctx.inputs[0]);
  check(cuda::launch_softmax(ctx.inputs[0].data<float>(), ctx.outputs[0].data<float>(), rows,
                             classes, b.stream()),
        "launch_softmax");
}

void log_softmax(CudaBackend& b, KernelContext& ctx) {
  const auto [rows, classes] = rows_and_classes(ctx.inputs[0]);
  check(cuda::launch_log_softmax(ctx.inputs[0].data<float>(), ctx.outputs[0].data<float>(), rows,
                                 classes, b.stream()),
        "launch_log_softmax");
}

void softmax_cross_entropy(CudaBackend& b, KernelContext& ctx) {
  const Tensor& logits = ctx.inputs[0];
  check(cuda::launch_softmax_cross_entropy(logits.data<float>(), ctx.inputs[1].data<float>(),
                                           ctx.outputs[0].data<float>(),
                                           ctx.outputs[1].data<float>(), logits.shape().dim(0),
                                           logits.shape().dim(1), b.stream()),
        "launch_softmax_cross_entropy");
}

void sparse_softmax_cross_entropy(CudaBackend& b, KernelContext& ctx) {
  const Tensor& logits = ctx.inputs[0];
  const Tensor& labels = ctx.inputs[1];
  const int64_t rows = logits.shape().dim(0);
  const int64_t classes = logits.shape().dim(1);
  if (rows == 0) return;
  // The first bad row, or all ones (more than any row) when every label is in range.
  Tensor flag = b.scratch(DType::kInt64, Shape{});
  check(cudaMemsetAsync(flag.raw_data(), 0xFF, sizeof(unsigned long long), b.stream()), "cudaMemsetAsync");
  check(cuda::launch_sparse_softmax_cross_entropy(
            logits.data<float>(), labels.raw_data(), labels.dtype(), ctx.outputs[0].data<float>(),
            ctx.outputs[1].data<float>(), rows, classes,
            static_cast<unsigned long long*>(flag.raw_data()), b.stream()),
        "launch_sparse_softmax_cross_entropy");
  // Labels are data, so a bad one is a user error: read the flag back (8 bytes and a stream
  // synchronisation per step) and report it as the CPU kernel does, instead of training on NaN.
  const Tensor host_flag = b.download(flag);
  const auto first_bad_row = static_cast<unsigned long long>(host_flag.data<int64_t>()[0]);
  if (first_bad_row < static_cast<unsigned long long>(rows)) {
    const int64_t row = static_cast<int64_t>(first_bad_row);
    const std::vector<int64_t> label_values = op_util::int_values(b.download(labels));
    throw_invalid("sparse_softmax_cross_entropy_with_logits", "node '", ctx.node.name(),
                  "': received a label value of ", label_values[static_cast<size_t>(row)],
                  " (example ", row, ") which is outside the valid range of [0, ", classes, ")");
  }
}

void arg_max(CudaBackend& b, KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  const op_util::AxisSplit split =
      op_util::split_at_axis(x.shape(), ctx.attr<AxesAttrs>().axes.at(0));
  Tensor& out = ctx.outputs[0];
  check(cuda::launch_arg_max(x.data<float>(), out.raw_data(), out.dtype(), split.outer, split.extent,
                             split.inner, b.stream()),
        "launch_arg_max");
}

void assign(CudaBackend& b, KernelContext& ctx) {
  const Tensor& ref = ctx.inputs[0];
  const Tensor& value = ctx.inputs[1];
  if (ref.byte_size() == 0 || ref.shares_buffer_with(value)) return;
  check(cudaMemcpyAsync(ref.raw_data(), value.raw_data(), ref.byte_size(),
                        cudaMemcpyDeviceToDevice, b.stream()),
        "cudaMemcpyAsync (device to device)");
}

void assign_sub(CudaBackend& b, KernelContext& ctx) {
  check(cuda::launch_assign_sub(ctx.inputs[0].data<float>(), ctx.inputs[1].data<float>(),
                                ctx.inputs[0].num_elements(), b.stream()),
        "launch_assign_sub");
}

void apply_gradient_descent(CudaBackend& b, KernelContext& ctx) {
  // Inputs: var, alpha, delta.
  check(cuda::launch_apply_gradient_descent(ctx.inputs[0].data<float>(), ctx.inputs[1].data<float>(),
                                            ctx.inputs[2].data<float>(),
                                            ctx.inputs[0].num_elements(), b.stream()),
        "launch_apply_gradient_descent");
}

void apply_momentum(CudaBackend& b, KernelContext& ctx) {
  // Inputs: var, accum, lr, grad, momentum.
  check(cuda::launch_apply_momentum(ctx.inputs[0].data<float>(), ctx.inputs[1].data<float>(),
                                    ctx.inputs[2].data<float>(), ctx.inputs[3].data<float>(),
                                    ctx.inputs[4].data<float>(),
                                    ctx.attr<NesterovAttrs>().use_nesterov,
                                    ctx.inputs[0].num_elements(), b.stream()),
        "launch_apply_momentum");
}

void apply_adam(CudaBackend& b, KernelContext& ctx) {
  // Inputs: var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad.
  const float* scalars[6];
  for (int i = 0; i < 6; ++i) scalars[i] = ctx.inputs[static_cast<size_t>(3 + i)].data<float>();
  check(cuda::launch_apply_adam(ctx.inputs[0].data<float>(), ctx.inputs[1].data<float>(),
                                ctx.inputs[2].data<float>(), scalars, ctx.inputs[9].data<float>(),
                                ctx.attr<NesterovAttrs>().use_nesterov, ctx.inputs[0].num_elements(),
                                b.stream()),
        "launch_apply_adam");
}

// One row per op of the list (checked when this file compiles): its kernel adapter, or why it
// runs on the CPU (an explicit fallback mark), or neither when the executor produces its value.
struct CudaKernelRow {
  OpId op{};
  CudaKernelFn kernel = nullptr;
  const char* cpu_fallback = nullptr;
};

constexpr CudaKernelRow kCudaKernelRows[] = {
    {OpId::kPlaceholder},
    {OpId::kConst},
    {OpId::kIdentity},
    {OpId::kReshape},
    {OpId::kNoOp},
    {OpId::kVariableV2},
    {OpId::kMatMul, matmul},
    {OpId::kAddV2, binary<cuda::BinaryOp::kAdd>},
    {OpId::kSub, binary<cuda::BinaryOp::kSub>},
    {OpId::kMul, binary<cuda::BinaryOp::kMul>},
    {OpId::kMaximum, binary<cuda::BinaryOp::kMaximum>},
    {OpId::kMinimum, binary<cuda::BinaryOp::kMinimum>},
    {OpId::kPow, binary<cuda::BinaryOp::kPow>},
    {OpId::kReluGrad, binary<cuda::BinaryOp::kReluGrad>},
    {OpId::kSigmoidGrad, binary<cuda::BinaryOp::kSigmoidGrad>},
    {OpId::kTanhGrad, binary<cuda::BinaryOp::kTanhGrad>},
    {OpId::kRelu, unary<cuda::UnaryOp::kRelu>},
    {OpId::kSigmoid, unary<cuda::UnaryOp::kSigmoid>},
    {OpId::kTanh, unary<cuda::UnaryOp::kTanh>},
    {OpId::kNeg, unary<cuda::UnaryOp::kNeg>},
    {OpId::kSquare, unary<cuda::UnaryOp::kSquare>},
    {OpId::kAbs, unary<cuda::UnaryOp::kAbs>},
    {OpId::kSign, unary<cuda::UnaryOp::kSign>},
    {OpId::kExp, unary<cuda::UnaryOp::kExp>},
    {OpId::kLog, unary<cuda::UnaryOp::kLog>},
    {OpId::kSqrt, unary<cuda::UnaryOp::kSqrt>},
    {OpId::kRsqrt, unary<cuda::UnaryOp::kRsqrt>},
    {OpId::kBiasAdd, bias_add},
    {OpId::kBiasAddGrad, bias_add_grad},
    {OpId::kSum, sum},
    {OpId::kMean, mean},
    {OpId::kAddN, add_n},
    {OpId::kCast, cast},
    {OpId::kEqual, equal},
    {OpId::kBroadcastTo, broadcast_to},
    {OpId::kTranspose, transpose},
    {OpId::kSoftmax, softmax},
    {OpId::kLogSoftmax, log_softmax},
    {OpId::kSoftmaxCrossEntropyWithLogits, softmax_cross_entropy},
    {OpId::kSparseSoftmaxCrossEntropyWithLogits, sparse_softmax_cross_entropy},
    {OpId::kArgMax, arg_max},
    {OpId::kRandomStandardNormal, nullptr,
     "drawn on the host from the counter-based Philox stream, so CPU and GPU sessions of one graph "
     "see identical values; then copied to the device"},
    {OpId::kAssign, assign},
    {OpId::kAssignSub, assign_sub},
    {OpId::kApplyGradientDescent, apply_gradient_descent},
    {OpId::kApplyMomentum, apply_momentum},
    {OpId::kApplyAdam, apply_adam},
};
static_assert(each_op_once(kCudaKernelRows), "the CUDA kernel table needs exactly one row per op");
constexpr auto kCudaKernels = index_by_op(kCudaKernelRows);

struct CudaPreparedKernel final : PreparedKernel {
  CudaKernelFn kernel = nullptr;
  bool on_host = false;       // the CPU kernel on host copies
  CpuKernelFn cpu_kernel = nullptr;
  bool fused = false;
  bool relu = false;
  MatMulAttrs matmul{};
};

void CudaBackend::run_on_host(KernelContext& ctx, CpuKernelFn cpu_kernel) {
  std::vector<Tensor> host_inputs;
  host_inputs.reserve(ctx.inputs.size());
  for (const Tensor& in : ctx.inputs) host_inputs.push_back(download(in));
  std::vector<Tensor> host_outputs;
  host_outputs.reserve(ctx.outputs.size());
  for (const Tensor& out : ctx.outputs) host_outputs.emplace_back(out.dtype(), out.shape());
  KernelContext host_ctx{ctx.node, host_inputs, host_outputs, ctx.invocation, ctx.attrs};
  cpu_kernel(host_ctx);
  for (size_t i = 0; i < host_outputs.size(); ++i) upload_into(host_outputs[i], ctx.outputs[i]);
}

std::string_view CudaBackend::run_fused_gemm(KernelContext& ctx, const MatMulAttrs& matmul, bool relu) {
  cuda::DeviceGuard guard(index_);
  const Tensor& a = ctx.inputs[0];     // (m, k), or (k, m) when transpose_a
  const Tensor& w = ctx.inputs[1];     // (k, n), or (n, k) when transpose_b
  const Tensor& bias = ctx.inputs[2];  // (n,)
  Tensor& out = ctx.outputs[0];        // (m, n)
  const op_util::MatMulDims d = op_util::matmul_dims(matmul, a.shape(), out.shape());
  if (d.m == 0 || d.n == 0) return "empty product";
  if (d.k > 0 && lt_gemm_bias(*this, d, a.data<float>(), w.data<float>(), bias.data<float>(), relu,
                              out.data<float>())) {
    return relu ? "cublasLt RELU_BIAS epilogue" : "cublasLt BIAS epilogue";
  }
  // No cuBLASLt algorithm for this shape (or an empty inner dimension): the unfused kernels.
  if (d.k == 0) {
    check(cudaMemsetAsync(out.raw_data(), 0, out.byte_size(), stream_), "cudaMemsetAsync");
  } else {
    sgemm(*this, d, a.data<float>(), w.data<float>(), out.data<float>());
  }
  check(cuda::launch_bias_add(out.data<float>(), bias.data<float>(), out.data<float>(), d.m, d.n, stream_),
        "launch_bias_add");
  if (relu) {
    check(cuda::launch_unary(cuda::UnaryOp::kRelu, DType::kFloat32, out.raw_data(), out.raw_data(),
                             out.num_elements(), stream_),
          "launch_unary");
  }
  return "unfused: no cuBLASLt algorithm (cublasSgemm, bias and ReLU kernels)";
}

std::unique_ptr<PreparedKernel> CudaBackend::prepare(const PlanStep& step, const DecodedAttrs& attrs) {
  const Node& node = step.kernel_node();
  const OpDef& op = node.op_def();
  const CudaKernelRow& row = kCudaKernels[op_index(op.id)];
  auto prepared = std::make_unique<CudaPreparedKernel>();
  prepared->device = device();
  if (step.fused()) {
    prepared->fused = true;
    prepared->relu = step.fused_relu;
    prepared->matmul = std::get<MatMulAttrs>(attrs);
  } else if (row.kernel != nullptr) {
    prepared->kernel = row.kernel;
  } else if (row.cpu_fallback != nullptr) {
    if (op.execution == ExecutionKind::kInPlace) {
      throw_error(absl::StatusCode::kInternal, op.builder_name,
                  "in-place ops need a CUDA kernel; '", op.tf_name, "' has a CPU-fallback mark");
    }
    prepared->device = Device::cpu();
    prepared->on_host = true;
    prepared->cpu_kernel = cpu_kernel_function(op.id);
  } else {
    throw_error(absl::StatusCode::kInternal, op.builder_name, "op ", op.tf_name,
                " has no CUDA kernel to run node '", node.name(), "'");
  }
  return prepared;
}

std::string_view CudaBackend::run(const PreparedKernel& kernel, KernelContext& ctx) {
  const auto& prepared = static_cast<const CudaPreparedKernel&>(kernel);
  if (prepared.on_host) {
    run_on_host(ctx, prepared.cpu_kernel);
    return {};
  }
  // Which kernels run a fused chain depends on cuBLASLt's answer for its buffers.
  if (prepared.fused) return run_fused_gemm(ctx, prepared.matmul, prepared.relu);
  cuda::DeviceGuard guard(index_);
  prepared.kernel(*this, ctx);
  return {};
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> make_cuda_backend(int index, bool allow_tf32) {
  absl::StatusOr<std::shared_ptr<cuda::CudaAllocator>> allocator = cuda::CudaAllocator::create(index);
  if (!allocator.ok()) return allocator.status();
  try {
    auto backend = std::make_unique<CudaBackend>(index, *std::move(allocator), allow_tf32);
    backend->init();
    return backend;
  } catch (const Error& e) {
    return e.status();
  }
}

std::optional<KernelSupportInfo> cuda_kernel_support(OpId op) {
  const CudaKernelRow& row = kCudaKernels[op_index(op)];
  if (row.kernel != nullptr) return KernelSupportInfo{KernelSupport::kKernel, {}};
  if (row.cpu_fallback != nullptr) return KernelSupportInfo{KernelSupport::kCpuFallback, row.cpu_fallback};
  return KernelSupportInfo{KernelSupport::kNoKernel, {}};
}

}  // namespace scopeflow
