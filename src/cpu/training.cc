// CPU training family: the in-place variable updates Assign, AssignSub and the optimizers'
// Apply* ops, each writing the buffers of its variable inputs directly (one buffer per
// variable, no copies); and their rows of the CPU kernel table.

#include <cmath>
#include <cstring>

#include "cpu/kernel_rows.h"
#include "kernels/elementwise_functors.h"

namespace scopeflow::cpu {

namespace {

float scalar_of(const Tensor& t) { return t.data<float>()[0]; }

void assign(KernelContext& ctx) {
  const Tensor& ref = ctx.inputs[0];
  const Tensor& value = ctx.inputs[1];
  if (ref.byte_size() > 0 && !ref.shares_buffer_with(value)) {
    std::memcpy(ref.raw_data(), value.raw_data(), ref.byte_size());
  }
}

void assign_sub(KernelContext& ctx) {
  float* ref = ctx.inputs[0].data<float>();
  const float* value = ctx.inputs[1].data<float>();
  const int64_t n = ctx.inputs[0].num_elements();
  for (int64_t i = 0; i < n; ++i) ref[i] -= value[i];
}

void apply_gradient_descent(KernelContext& ctx) {
  float* var = ctx.inputs[0].data<float>();
  const functors::ApplyGradientDescent update{scalar_of(ctx.inputs[1])};
  const float* grad = ctx.inputs[2].data<float>();
  const int64_t n = ctx.inputs[0].num_elements();
  for (int64_t i = 0; i < n; ++i) update(var[i], grad[i]);
}

void apply_momentum(KernelContext& ctx) {
  // Inputs: var, accum, lr, grad, momentum.
  float* var = ctx.inputs[0].data<float>();
  float* accum = ctx.inputs[1].data<float>();
  const float* grad = ctx.inputs[3].data<float>();
  const functors::ApplyMomentum update{scalar_of(ctx.inputs[2]), scalar_of(ctx.inputs[4]),
                                       ctx.attr<NesterovAttrs>().use_nesterov};
  const int64_t n = ctx.inputs[0].num_elements();
  for (int64_t i = 0; i < n; ++i) update(var[i], accum[i], grad[i]);
}

void apply_adam(KernelContext& ctx) {
  // Inputs: var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad.
  float* var = ctx.inputs[0].data<float>();
  float* m = ctx.inputs[1].data<float>();
  float* v = ctx.inputs[2].data<float>();
  const float beta1_power = scalar_of(ctx.inputs[3]);
  const float beta2_power = scalar_of(ctx.inputs[4]);
  const float lr = scalar_of(ctx.inputs[5]);
  const float lr_t = functors::adam_step_size(lr, beta1_power, beta2_power);
  const functors::ApplyAdam update{lr_t, scalar_of(ctx.inputs[6]), scalar_of(ctx.inputs[7]),
                                   scalar_of(ctx.inputs[8]), ctx.attr<NesterovAttrs>().use_nesterov};
  const float* grad = ctx.inputs[9].data<float>();
  const int64_t n = ctx.inputs[0].num_elements();
  for (int64_t i = 0; i < n; ++i) update(var[i], m[i], v[i], grad[i]);
}

constexpr CpuKernelRow kRows[] = {
    {OpId::kAssign, assign},
    {OpId::kAssignSub, assign_sub, nullptr, kFloat32Only},
    {OpId::kApplyGradientDescent, apply_gradient_descent, nullptr, kFloat32Only},
    {OpId::kApplyMomentum, apply_momentum, nullptr, kFloat32Only},
    {OpId::kApplyAdam, apply_adam, nullptr, kFloat32Only},
};
static_assert(no_op_twice(kRows));

}  // namespace

std::span<const CpuKernelRow> training_rows() { return kRows; }

}  // namespace scopeflow::cpu
