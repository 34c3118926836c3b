#pragma once
// Launcher of the CUDA array family (kernels/cuda/array.cu): the strided gather behind
// BroadcastTo, Transpose and the transpose that brings reduced axes last.
// Launchers queue their work on `stream` and return the launch status (cudaGetLastError);
// callers check it with the call's name. Shapes are validated before a launcher is called.
// Device-safe: includes nothing from src/.

#include <cuda_runtime_api.h>

#include <cstdint>

#include <cstddef>

#include "kernels/broadcast_index.h"

namespace scopeflow::cuda {

/// out[i] = in[index.offset(0, i)] for any element size: BroadcastTo, Transpose, and the
/// transpose that brings reduced axes last.
cudaError_t launch_gather(size_t element_bytes, const void* in, void* out,
                          const StridedIndex& index, int64_t n, cudaStream_t stream);

}  // namespace scopeflow::cuda
