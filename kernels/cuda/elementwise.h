#pragma once
// Launchers of the CUDA elementwise family (kernels/cuda/elementwise.cu): unary and binary
// functors, Equal, Cast, BiasAdd, AddN's accumulation and fills.
// Launchers queue their work on `stream` and return the launch status (cudaGetLastError);
// callers check it with the call's name. Shapes are validated before a launcher is called.
// Device-safe: includes nothing from src/.

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

/// value (rows, channels) + bias (channels,).
cudaError_t launch_bias_add(const float* value, const float* bias, float* out, int64_t rows,
                            int64_t channels, cudaStream_t stream);

/// dst[i] += src[i] (AddN accumulates its inputs this way).
cudaError_t launch_accumulate(float* dst, const float* src, int64_t n, cudaStream_t stream);

/// dst[i] = value.
cudaError_t launch_fill(float* dst, float value, int64_t n, cudaStream_t stream);

}  // namespace scopeflow::cuda
