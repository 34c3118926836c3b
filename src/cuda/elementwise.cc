// CUDA elementwise family: adapters to the elementwise launchers and their rows of the CUDA
// kernel table.

#include "cuda/cuda_backend.h"
#include "kernels/cuda/elementwise.h"

namespace scopeflow::cuda {

namespace {

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
  // A plan that sums in place passes the sum as input 0 and as the output.
  if (!out.shares_buffer_with(ctx.inputs[0])) {
    check(cudaMemcpyAsync(out.raw_data(), ctx.inputs[0].raw_data(), out.byte_size(),
                          cudaMemcpyDeviceToDevice, b.stream()),
          "cudaMemcpyAsync (device to device)");
  }
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

constexpr CudaKernelRow kRows[] = {
    {OpId::kAddV2, binary<BinaryOp::kAdd>, nullptr, nullptr, kArithmeticDTypes},
    {OpId::kSub, binary<BinaryOp::kSub>, nullptr, nullptr, kArithmeticDTypes},
    {OpId::kMul, binary<BinaryOp::kMul>, nullptr, nullptr, kArithmeticDTypes},
    {OpId::kMaximum, binary<BinaryOp::kMaximum>, nullptr, nullptr, kArithmeticDTypes},
    {OpId::kMinimum, binary<BinaryOp::kMinimum>, nullptr, nullptr, kArithmeticDTypes},
    {OpId::kPow, binary<BinaryOp::kPow>, nullptr, nullptr, kFloat32Only},
    {OpId::kNeg, unary<UnaryOp::kNeg>, nullptr, nullptr, kArithmeticDTypes},
    {OpId::kSquare, unary<UnaryOp::kSquare>, nullptr, nullptr, kArithmeticDTypes},
    {OpId::kAbs, unary<UnaryOp::kAbs>, nullptr, nullptr, kFloat32Only},
    {OpId::kSign, unary<UnaryOp::kSign>, nullptr, nullptr, kFloat32Only},
    {OpId::kExp, unary<UnaryOp::kExp>, nullptr, nullptr, kFloat32Only},
    {OpId::kLog, unary<UnaryOp::kLog>, nullptr, nullptr, kFloat32Only},
    {OpId::kSqrt, unary<UnaryOp::kSqrt>, nullptr, nullptr, kFloat32Only},
    {OpId::kRsqrt, unary<UnaryOp::kRsqrt>, nullptr, nullptr, kFloat32Only},
    {OpId::kRelu, unary<UnaryOp::kRelu>, nullptr, nullptr, kFloat32Only},
    {OpId::kSigmoid, unary<UnaryOp::kSigmoid>, nullptr, nullptr, kFloat32Only},
    {OpId::kTanh, unary<UnaryOp::kTanh>, nullptr, nullptr, kFloat32Only},
    {OpId::kReluGrad, binary<BinaryOp::kReluGrad>, nullptr, nullptr, kFloat32Only},
    {OpId::kSigmoidGrad, binary<BinaryOp::kSigmoidGrad>, nullptr, nullptr, kFloat32Only},
    {OpId::kTanhGrad, binary<BinaryOp::kTanhGrad>, nullptr, nullptr, kFloat32Only},
    {OpId::kBiasAdd, bias_add, nullptr, nullptr, kFloat32Only},
    {OpId::kAddN, add_n, nullptr, nullptr, kFloat32Only},
    {OpId::kCast, cast},
    {OpId::kEqual, equal, nullptr, nullptr, {DType::kBool}},
};
static_assert(no_op_twice(kRows));

}  // namespace

std::span<const CudaKernelRow> elementwise_rows() { return kRows; }

}  // namespace scopeflow::cuda
