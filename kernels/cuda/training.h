#pragma once
// Launchers of the CUDA training family (kernels/cuda/training.cu): the in-place updates.
// Launchers queue their work on `stream` and return the launch status (cudaGetLastError);
// callers check it with the call's name. Shapes are validated before a launcher is called.
// Device-safe: includes nothing from src/.

#include <cuda_runtime_api.h>

#include <cstdint>

namespace scopeflow::cuda {

// Fused optimizer updates: one pass over the variable and its slots, with the scalar
// hyper-parameters read from device memory (they are graph tensors).
cudaError_t launch_assign_sub(float* ref, const float* value, int64_t n, cudaStream_t stream);
cudaError_t launch_apply_gradient_descent(float* var, const float* alpha, const float* grad,
                                          int64_t n, cudaStream_t stream);
cudaError_t launch_apply_momentum(float* var, float* accum, const float* lr, const float* grad,
                                  const float* momentum, bool use_nesterov, int64_t n,
                                  cudaStream_t stream);
/// scalars: beta1_power, beta2_power, lr, beta1, beta2, epsilon (each a device scalar).
cudaError_t launch_apply_adam(float* var, float* m, float* v, const float* const scalars[6],
                              const float* grad, bool use_nesterov, int64_t n,
                              cudaStream_t stream);

}  // namespace scopeflow::cuda
