// CUDA GEMM family: MatMul through cublasSgemm, with the column-major argument mapping
// cblas_sgemm gets on the CPU, and fused MatMul -> BiasAdd [-> Relu] chains as cuBLASLt
// matmuls with BIAS or RELU_BIAS epilogues; and MatMul's row of the CUDA kernel table.

#include <cstdint>
#include <string>

#include "cuda/cuda_backend.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/training.h"
#include "kernels/gemm_args.h"
#include "ops/op_util.h"

namespace scopeflow::cuda {

namespace {

// out = op(a) op(w) [+ out] through cublasSgemm with the argument mapping cblas_sgemm gets on
// the CPU; `accumulate` is beta = 1 (a contribution added into a sum summed in place).
void sgemm(CudaBackend& b, const op_util::MatMulDims& d, const float* a, const float* w, float* out,
           bool accumulate = false) {
  const ColumnMajorGemm g = column_major_gemm_for_row_major(d.m, d.n, d.k, d.transpose_a, d.transpose_b);
  const float alpha = 1.0f;
  const float beta = accumulate ? 1.0f : 0.0f;
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

// A fused MatMul -> BiasAdd [-> Relu] chain (inputs a, b, bias): one cuBLASLt matmul with its
// epilogue when cuBLASLt offers an algorithm for these buffers, else the unfused kernels.
class FusedGemmKernel final : public PreparedCudaKernel {
 public:
  FusedGemmKernel(const MatMulAttrs& matmul, bool relu) : matmul_(matmul), relu_(relu) {}
  std::string_view run(CudaBackend& b, KernelContext& ctx) const override;

 private:
  MatMulAttrs matmul_;
  bool relu_;
};

std::string_view FusedGemmKernel::run(CudaBackend& b, KernelContext& ctx) const {
  const MatMulAttrs& matmul = matmul_;
  const bool relu = relu_;
  const Tensor& a = ctx.inputs[0];     // (m, k), or (k, m) when transpose_a
  const Tensor& w = ctx.inputs[1];     // (k, n), or (n, k) when transpose_b
  const Tensor& bias = ctx.inputs[2];  // (n,)
  Tensor& out = ctx.outputs[0];        // (m, n)
  const op_util::MatMulDims d = op_util::matmul_dims(matmul, a.shape(), out.shape());
  if (d.m == 0 || d.n == 0) return "empty product";
  // The BIAS epilogue only: cuBLASLt does not document what its RELU epilogue does with NaN
  // (TensorFlow's Relu keeps it), so our ReLU kernel follows, on the product still in L2.
  if (d.k > 0 && lt_gemm_bias(b, d, a.data<float>(), w.data<float>(), bias.data<float>(), /*relu=*/false,
                              out.data<float>())) {
    if (!relu) return "cublasLt BIAS epilogue";
    check(launch_unary(UnaryOp::kRelu, DType::kFloat32, out.raw_data(), out.raw_data(), out.num_elements(),
                       b.stream()),
          "launch_unary");
    return "cublasLt BIAS epilogue, then the ReLU kernel";
  }
  // No cuBLASLt algorithm for this shape (or an empty inner dimension): the unfused kernels.
  if (d.k == 0) {
    check(cudaMemsetAsync(out.raw_data(), 0, out.byte_size(), b.stream()), "cudaMemsetAsync");
  } else {
    sgemm(b, d, a.data<float>(), w.data<float>(), out.data<float>());
  }
  check(cuda::launch_bias_add(out.data<float>(), bias.data<float>(), out.data<float>(), d.m, d.n, b.stream()),
        "launch_bias_add");
  if (relu) {
    check(cuda::launch_unary(cuda::UnaryOp::kRelu, DType::kFloat32, out.raw_data(), out.raw_data(),
                             out.num_elements(), b.stream()),
          "launch_unary");
  }
  return "unfused: no cuBLASLt algorithm (cublasSgemm, bias and ReLU kernels)";
}

// An SGD update whose delta is a product (inputs var, alpha, a, b): the product into scratch
// memory, then the update kernel. (cuBLAS would take -alpha only from host memory or with beta
// in device memory too; the delta stays on the device either way.)
class GemmUpdateKernel final : public PreparedCudaKernel {
 public:
  explicit GemmUpdateKernel(const MatMulAttrs& matmul) : matmul_(matmul) {}

  std::string_view run(CudaBackend& b, KernelContext& ctx) const override {
    const Tensor& var = ctx.inputs[0];
    const Tensor& a = ctx.inputs[2];
    const op_util::MatMulDims d = op_util::matmul_dims(matmul_, a.shape(), var.shape());
    if (d.m == 0 || d.n == 0 || d.k == 0) return "empty product: the variable is unchanged";
    Tensor delta = b.scratch(DType::kFloat32, var.shape());
    sgemm(b, d, a.data<float>(), ctx.inputs[3].data<float>(), delta.data<float>());
    check(launch_apply_gradient_descent(var.data<float>(), ctx.inputs[1].data<float>(), delta.data<float>(),
                                        var.num_elements(), b.stream()),
          "launch_apply_gradient_descent");
    return "cublasSgemm into scratch, then the gradient-descent kernel";
  }

 private:
  MatMulAttrs matmul_;
};

// A MatMul adding into a sum summed in place (inputs a, b, sum; output 0 is the sum's buffer):
// cublasSgemm with beta = 1, on the session's one stream, so contributions add in plan order.
class AccumulatingGemmKernel final : public PreparedCudaKernel {
 public:
  explicit AccumulatingGemmKernel(const MatMulAttrs& matmul) : matmul_(matmul) {}

  std::string_view run(CudaBackend& b, KernelContext& ctx) const override {
    Tensor& out = ctx.outputs[0];
    const op_util::MatMulDims d = op_util::matmul_dims(matmul_, ctx.inputs[0].shape(), out.shape());
    if (d.m == 0 || d.n == 0 || d.k == 0) return "empty product: the sum is unchanged";
    sgemm(b, d, ctx.inputs[0].data<float>(), ctx.inputs[1].data<float>(), out.data<float>(), /*accumulate=*/true);
    return "cublasSgemm (beta = 1)";
  }

 private:
  MatMulAttrs matmul_;
};

// Fused chains, updates and accumulating products get their kernels set up per step; a plain
// MatMul runs its adapter.
std::unique_ptr<PreparedCudaKernel> prepare_matmul(const PlanStep& step, const DecodedAttrs& attrs) {
  if (step.update_matmul != nullptr) return std::make_unique<GemmUpdateKernel>(std::get<MatMulAttrs>(attrs));
  if (step.accumulator_input >= 0) return std::make_unique<AccumulatingGemmKernel>(std::get<MatMulAttrs>(attrs));
  if (!step.fused()) return nullptr;
  return std::make_unique<FusedGemmKernel>(std::get<MatMulAttrs>(attrs), step.fused_relu);
}

constexpr CudaKernelRow kRows[] = {
    {OpId::kMatMul, matmul, prepare_matmul, nullptr, kFloat32Only},
};
static_assert(no_op_twice(kRows));

}  // namespace

std::span<const CudaKernelRow> gemm_rows() { return kRows; }

}  // namespace scopeflow::cuda
