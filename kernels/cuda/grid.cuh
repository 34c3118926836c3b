#pragma once
// Launch geometry shared by the CUDA kernel families: grid-stride loops over n elements.

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace scopeflow::cuda {

inline constexpr int kThreads = 256;

// Enough blocks to cover n once, capped; the grid-stride loops cover the rest.
inline unsigned int blocks_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(std::min<int64_t>(std::max<int64_t>(blocks, 1), 65535 * 8));
}

}  // namespace scopeflow::cuda

#define SCOPEFLOW_GRID_STRIDE(i, n)                                                         \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
