#pragma once
// Launcher of the CUDA reduction family (kernels/cuda/reductions.cu); Sum, Mean and
// BiasAddGrad run as cuBLAS GEMV calls on the host side.
// Launchers queue their work on `stream` and return the launch status (cudaGetLastError);
// callers check it with the call's name. Shapes are validated before a launcher is called.
// Device-safe: includes nothing from src/.

#include <cuda_runtime_api.h>

#include <cstdint>

#include "scopeflow/dtype.h"

namespace scopeflow::cuda {

/// Index of the first maximum along an axis of (outer, extent, inner); int32 or int64 output.
cudaError_t launch_arg_max(const float* x, void* out, DType out_dtype, int64_t outer,
                           int64_t extent, int64_t inner, cudaStream_t stream);

}  // namespace scopeflow::cuda
