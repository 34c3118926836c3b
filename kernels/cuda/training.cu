// CUDA training family: one pass over a variable and its slots per update, over the functors
// the CPU kernels use.

#include "kernels/cuda/training.h"

#include <cuda_runtime.h>

#include "kernels/cuda/grid.cuh"
#include "kernels/elementwise_functors.h"

namespace scopeflow::cuda {

namespace {

__global__ void assign_sub_kernel(float* ref, const float* value, int64_t n) {
  const functors::Sub sub_fn;
  SCOPEFLOW_GRID_STRIDE(i, n) { ref[i] = sub_fn(ref[i], value[i]); }
}

__global__ void apply_gradient_descent_kernel(float* var, const float* alpha, const float* grad,
                                              int64_t n) {
  const functors::ApplyGradientDescent update{*alpha};
  SCOPEFLOW_GRID_STRIDE(i, n) { update(var[i], grad[i]); }
}

__global__ void apply_momentum_kernel(float* var, float* accum, const float* lr,
                                      const float* grad, const float* momentum,
                                      bool use_nesterov, int64_t n) {
  const functors::ApplyMomentum update{*lr, *momentum, use_nesterov};
  SCOPEFLOW_GRID_STRIDE(i, n) { update(var[i], accum[i], grad[i]); }
}

struct AdamScalars {
  const float* values[6];  // beta1_power, beta2_power, lr, beta1, beta2, epsilon
};

__global__ void apply_adam_kernel(float* var, float* m, float* v, AdamScalars scalars,
                                  const float* grad, bool use_nesterov, int64_t n) {
  const float lr_t = functors::adam_step_size(*scalars.values[2], *scalars.values[0],
                                              *scalars.values[1]);
  const functors::ApplyAdam update{lr_t, *scalars.values[3], *scalars.values[4],
                                   *scalars.values[5], use_nesterov};
  SCOPEFLOW_GRID_STRIDE(i, n) { update(var[i], m[i], v[i], grad[i]); }
}

}  // namespace

cudaError_t launch_assign_sub(float* ref, const float* value, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  assign_sub_kernel<<<blocks_for(n), kThreads, 0, stream>>>(ref, value, n);
  return cudaGetLastError();
}

cudaError_t launch_apply_gradient_descent(float* var, const float* alpha, const float* grad,
                                          int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  apply_gradient_descent_kernel<<<blocks_for(n), kThreads, 0, stream>>>(var, alpha, grad, n);
  return cudaGetLastError();
}

cudaError_t launch_apply_momentum(float* var, float* accum, const float* lr, const float* grad,
                                  const float* momentum, bool use_nesterov, int64_t n,
                                  cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  apply_momentum_kernel<<<blocks_for(n), kThreads, 0, stream>>>(var, accum, lr, grad, momentum,
                                                                use_nesterov, n);
  return cudaGetLastError();
}

cudaError_t launch_apply_adam(float* var, float* m, float* v, const float* const scalars[6],
                              const float* grad, bool use_nesterov, int64_t n,
                              cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  AdamScalars packed{};
  for (int i = 0; i < 6; ++i) packed.values[i] = scalars[i];
  apply_adam_kernel<<<blocks_for(n), kThreads, 0, stream>>>(var, m, v, packed, grad,
                                                            use_nesterov, n);
  return cudaGetLastError();
}

}  // namespace scopeflow::cuda
