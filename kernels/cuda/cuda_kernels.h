#pragma once
// Launchers of the CUDA kernels. Each queues its work on `stream` and returns the launch status
// (cudaGetLastError); callers check it with the call's name. Shapes are validated before a
// launcher is called (house style: kernels assume valid input). Device-safe: includes nothing
// from src/; the math comes from the functor headers shared with the CPU kernels.

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/broadcast_index.h"
#include "scopeflow/dtype.h"

namespace scopeflow::cuda {

enum class UnaryOp { kRelu, kSigmoid, kTanh, kNeg, kSquare, kAbs, kSign, kExp, kLog, kSqrt, kRsqrt };
enum class BinaryOp { kAdd, kSub, kMul, kMaximum, kMinimum, kPow, kReluGrad, kSigmoidGrad, kTanhGrad };

/// out[i] = op(in[i]) over n elements of `dtype` (float32 for all but Neg and Square).
cudaError_t launch_unary(UnaryOp op, DType dtype, const void* in, void* out, int64_t n,
                         cudaStream_t stream);
/// out[i] = op(a[index.offset(0, i)], b[index.offset(1, i)]); `same_shape` skips the indexing.
cudaError_t launch_binary(BinaryOp op, DType dtype, const void* a, const void* b, void* out,
                          const StridedIndex& index, bool same_shape, int64_t n,
                          cudaStream_t stream);
/// out[i] = a[...] == b[...] (bool output), broadcasting as launch_binary.
cudaError_t launch_equal(DType dtype, const void* a, const void* b, bool* out,
                         const StridedIndex& index, int64_t n, cudaStream_t stream);
/// out[i] = cast(in[i]).
cudaError_t launch_cast(DType from, DType to, const void* in, void* out, int64_t n,
                        cudaStream_t stream);
/// out[i] = in[index.offset(0, i)] for any element size: BroadcastTo, Transpose, and the
/// transpose that brings reduced axes last.
cudaError_t launch_gather(size_t element_bytes, const void* in, void* out,
                          const StridedIndex& index, int64_t n, cudaStream_t stream);
/// value (rows, channels) + bias (channels,).
cudaError_t launch_bias_add(const float* value, const float* bias, float* out, int64_t rows,
                            int64_t channels, cudaStream_t stream);
/// dst[i] += src[i] (AddN accumulates its inputs this way).
cudaError_t launch_accumulate(float* dst, const float* src, int64_t n, cudaStream_t stream);
/// dst[i] = value.
cudaError_t launch_fill(float* dst, float value, int64_t n, cudaStream_t stream);

// Row kernels over the last dimension of (rows, classes): one block per row, reductions with
// cub::BlockReduce.
cudaError_t launch_softmax(const float* x, float* y, int64_t rows, int64_t classes,
                           cudaStream_t stream);
cudaError_t launch_log_softmax(const float* x, float* y, int64_t rows, int64_t classes,
                               cudaStream_t stream);
/// Dense labels (rows, classes): loss (rows,), backprop (rows, classes).
cudaError_t launch_softmax_cross_entropy(const float* logits, const float* labels, float* loss,
                                         float* backprop, int64_t rows, int64_t classes,
                                         cudaStream_t stream);
/// Integer labels (rows,) of `label_dtype` (int32 or int64). A label outside [0, classes) sets
/// *first_bad_row (which must hold rows beforehand) to the smallest such row, and that row's
/// outputs are NaN; the caller reads it back and reports the error.
cudaError_t launch_sparse_softmax_cross_entropy(const float* logits, const void* labels,
                                                DType label_dtype, float* loss, float* backprop,
                                                int64_t rows, int64_t classes,
                                                unsigned long long* first_bad_row,
                                                cudaStream_t stream);
/// Index of the first maximum along an axis of (outer, extent, inner); int32 or int64 output.
cudaError_t launch_arg_max(const float* x, void* out, DType out_dtype, int64_t outer,
                           int64_t extent, int64_t inner, cudaStream_t stream);

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
