// CUDA training family: the in-place updates (Assign as a device copy, the others as one fused
// kernel each); and their rows of the CUDA kernel table.

#include "cuda/cuda_backend.h"
#include "kernels/cuda/training.h"

namespace scopeflow::cuda {

namespace {

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

constexpr CudaKernelRow kRows[] = {
    {OpId::kAssign, assign},
    {OpId::kAssignSub, assign_sub, nullptr, nullptr, kFloat32Only},
    {OpId::kApplyGradientDescent, apply_gradient_descent, nullptr, nullptr, kFloat32Only},
    {OpId::kApplyMomentum, apply_momentum, nullptr, nullptr, kFloat32Only},
    {OpId::kApplyAdam, apply_adam, nullptr, nullptr, kFloat32Only},
};
static_assert(no_op_twice(kRows));

}  // namespace

std::span<const CudaKernelRow> training_rows() { return kRows; }

}  // namespace scopeflow::cuda
