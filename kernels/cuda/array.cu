// CUDA array family: a gather through a strided index, by element size (it only moves bytes).

#include "kernels/cuda/array.h"

#include <cuda_runtime.h>

#include "kernels/cuda/grid.cuh"

namespace scopeflow::cuda {

namespace {

template <typename T>
__global__ void gather_kernel(const T* in, T* out, StridedIndex index, int64_t n) {
  SCOPEFLOW_GRID_STRIDE(i, n) { out[i] = in[index.offset(0, i)]; }
}

}  // namespace

cudaError_t launch_gather(size_t element_bytes, const void* in, void* out,
                          const StridedIndex& index, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  auto run = [&](auto type_tag) {
    using T = decltype(type_tag);
    gather_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const T*>(in),
                                                             static_cast<T*>(out), index, n);
  };
  switch (element_bytes) {  // by size, not dtype: a gather only moves bytes
    case 1: run(uint8_t{}); break;
    case 2: run(uint16_t{}); break;
    case 4: run(uint32_t{}); break;
    case 8: run(uint64_t{}); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace scopeflow::cuda
