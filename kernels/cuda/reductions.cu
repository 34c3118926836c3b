// CUDA reduction family: the arg-max along an axis (first maximum wins, NaN never replaces it).

#include "kernels/cuda/reductions.h"

#include <cuda_runtime.h>

#include "kernels/cuda/grid.cuh"

namespace scopeflow::cuda {

namespace {

template <typename Index>
__global__ void arg_max_kernel(const float* x, Index* out, int64_t outer, int64_t extent,
                               int64_t inner) {
  const int64_t n = outer * inner;
  SCOPEFLOW_GRID_STRIDE(i, n) {
    const float* base = x + (i / inner) * extent * inner + (i % inner);
    int64_t best = 0;
    // Strictly greater: the first maximum wins and NaN never replaces it, as on the CPU.
    for (int64_t k = 1; k < extent; ++k) {
      if (base[k * inner] > base[best * inner]) best = k;
    }
    out[i] = static_cast<Index>(best);
  }
}

}  // namespace

cudaError_t launch_arg_max(const float* x, void* out, DType out_dtype, int64_t outer,
                           int64_t extent, int64_t inner, cudaStream_t stream) {
  const int64_t n = outer * inner;
  if (n == 0) return cudaSuccess;
  if (!is_index_dtype(out_dtype)) return cudaErrorInvalidValue;
  dispatch_index_dtype(out_dtype, [&]<class Index>() {
    arg_max_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, static_cast<Index*>(out), outer, extent, inner);
  });
  return cudaGetLastError();
}

}  // namespace scopeflow::cuda
