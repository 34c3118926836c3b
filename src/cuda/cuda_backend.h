#pragma once
// The CUDA backend: one stream and one cuBLAS handle per session, a caching device allocator,
// pinned host staging for feeds and fetches. Each op family's file (elementwise.cc, array.cc,
// reductions.cc, softmax_losses.cc, gemm.cc, training.cc, random.cc) holds its adapters from
// kernel contexts to the launchers in kernels/cuda and its rows of the kernel table, which
// cuda_backend.cc merges and checks once.

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "cuda/cuda_allocator.h"
#include "cuda/cuda_check.h"
#include "kernels/broadcast_index.h"
#include "runtime/backend.h"
#include "runtime/kernel_table.h"

namespace scopeflow::cuda {

/// cuBLAS takes int dimensions: a larger one is a clear error naming `op`.
int blas_int(int64_t value, std::string_view op);

/// A broadcast index for out = f(a, b); throws for ranks beyond what device kernels index.
StridedIndex broadcast_index(const Shape& out, const Shape& a, const Shape& b, std::string_view op);

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

  void copy_into(const Tensor& from, const Tensor& to) override {
    if (from.byte_size() == 0) return;
    cuda::DeviceGuard guard(index_);
    check(cudaMemcpyAsync(to.raw_data(), from.raw_data(), from.byte_size(), cudaMemcpyDeviceToDevice, stream_),
          "cudaMemcpyAsync (device to device)");
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
  void* work_queue() const override { return stream_; }
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
  const float* ones(int64_t n);


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

/// An adapter: runs one op's launchers for a kernel context on the backend's stream.
using CudaKernelFn = void (*)(CudaBackend&, KernelContext&);

/// A kernel set up for one plan step when the plan is made (a GEMM with its epilogue).
class PreparedCudaKernel {
 public:
  virtual ~PreparedCudaKernel() = default;
  /// Runs the step; returns which library calls ran it, for traces.
  virtual std::string_view run(CudaBackend& backend, KernelContext& ctx) const = 0;
};
using CudaPrepareFn = std::unique_ptr<PreparedCudaKernel> (*)(const PlanStep& step, const DecodedAttrs& attrs);

/// One op's row: its adapter, plan-time setup, or why it runs on the CPU (an explicit fallback
/// mark), or none of them when the executor produces its value.
struct CudaKernelRow {
  OpId op{};
  CudaKernelFn kernel = nullptr;
  CudaPrepareFn prepare = nullptr;
  const char* cpu_fallback = nullptr;
  DTypeSet dtypes = DTypeSet::all();  // of kernel_dtype(node) the kernel is built for
};

// Each family's rows, defined in its file.
std::span<const CudaKernelRow> elementwise_rows();
std::span<const CudaKernelRow> array_rows();
std::span<const CudaKernelRow> reduction_rows();
std::span<const CudaKernelRow> softmax_loss_rows();
std::span<const CudaKernelRow> gemm_rows();
std::span<const CudaKernelRow> training_rows();
std::span<const CudaKernelRow> random_rows();

}  // namespace scopeflow::cuda
