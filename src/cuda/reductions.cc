// CUDA reduction family: Sum, Mean and BiasAddGrad as cuBLAS GEMV calls against a vector of
// ones (after a gather that brings the reduced axes last), ArgMax as a kernel; and their rows
// of the CUDA kernel table.

#include <cmath>

#include "cuda/cuda_backend.h"
#include "kernels/cuda/array.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/reductions.h"
#include "kernels/gemm_args.h"
#include "ops/op_util.h"

namespace scopeflow::cuda {

namespace {

// y = alpha * row or column sums of a row-major (rows, cols) matrix [+ y], through cuBLAS GEMV.
void gemv_sums(CudaBackend& b, const float* matrix, int64_t rows, int64_t cols, bool sum_rows,
               float alpha, float* y, std::string_view op, bool accumulate = false) {
  const ColumnMajorGemv g = column_major_gemv_for_row_major_sums(rows, cols, sum_rows);
  const float beta = accumulate ? 1.0f : 0.0f;
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

// Column sums of the gradient into out, or added to it (`accumulate`: beta = 1).
void bias_add_grad_into(CudaBackend& b, const Tensor& grad, Tensor& out, bool accumulate) {
  const int64_t channels = grad.shape().dims().back();  // grad (..., channels), out (channels,)
  if (channels == 0) return;
  const int64_t rows = grad.num_elements() / channels;
  if (rows == 0) {
    if (!accumulate) check(cuda::launch_fill(out.data<float>(), 0.0f, channels, b.stream()), "launch_fill");
    return;
  }
  gemv_sums(b, grad.data<float>(), rows, channels, /*sum_rows=*/false, 1.0f, out.data<float>(),
            "bias_add_grad", accumulate);
}

void bias_add_grad(CudaBackend& b, KernelContext& ctx) { bias_add_grad_into(b, ctx.inputs[0], ctx.outputs[0], false); }

// A BiasAddGrad adding into a sum summed in place (inputs gradient, sum; output 0 is the sum).
class AccumulatingBiasAddGrad final : public PreparedCudaKernel {
 public:
  std::string_view run(CudaBackend& b, KernelContext& ctx) const override {
    bias_add_grad_into(b, ctx.inputs[0], ctx.outputs[0], true);
    return "cublasSgemv (beta = 1)";
  }
};

std::unique_ptr<PreparedCudaKernel> prepare_bias_add_grad(const PlanStep& step, const DecodedAttrs&) {
  if (step.accumulator_input < 0) return nullptr;
  return std::make_unique<AccumulatingBiasAddGrad>();
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

constexpr CudaKernelRow kRows[] = {
    {OpId::kSum, sum, nullptr, nullptr, kFloat32Only},
    {OpId::kMean, mean, nullptr, nullptr, kFloat32Only},
    {OpId::kBiasAddGrad, bias_add_grad, prepare_bias_add_grad, nullptr, kFloat32Only},
    {OpId::kArgMax, arg_max, nullptr, nullptr, kIndexDTypes},
};
static_assert(no_op_twice(kRows));

}  // namespace

std::span<const CudaKernelRow> reduction_rows() { return kRows; }

}  // namespace scopeflow::cuda
