#include "cuda/cuda_allocator.h"

#include <cuda_runtime_api.h>

#include "cuda/cuda_check.h"

namespace scopeflow::cuda {

absl::StatusOr<std::shared_ptr<CudaAllocator>> CudaAllocator::create(int device_index) {
  int count = 0;
  if (absl::Status s = status_of(cudaGetDeviceCount(&count), "cudaGetDeviceCount"); !s.ok()) return s;
  if (device_index < 0 || device_index >= count) {
    return absl::FailedPreconditionError(absl::StrCat("[cuda] device ", device_index,
                                                      " does not exist; ", count, " answer"));
  }
  return std::make_shared<CudaAllocator>(device_index);
}

CudaAllocator::~CudaAllocator() { release_cached(); }

void* CudaAllocator::allocate_block(size_t bytes) {
  DeviceGuard guard(device_index_);
  void* ptr = nullptr;
  const cudaError_t err = cudaMalloc(&ptr, bytes);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // clears the sticky error; the caller frees the cache and retries
    return nullptr;
  }
  check(err, "cudaMalloc");
  return ptr;
}

void CudaAllocator::free_blocks(std::span<void* const> blocks) noexcept {
  if (blocks.empty()) return;
  BestEffortDeviceGuard guard(device_index_);
  // Queued kernels may still use cached blocks (same-stream reuse is ordered, cudaFree is not).
  (void)cudaDeviceSynchronize();
  for (void* ptr : blocks) (void)cudaFree(ptr);  // never throws
}

absl::StatusOr<DeviceMemoryInfo> CudaAllocator::device_memory_info() const {
  try {
    DeviceGuard guard(device_index_);
    size_t free_bytes = 0;
    size_t total_bytes = 0;
    if (absl::Status s = status_of(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo"); !s.ok()) {
      return s;
    }
    return DeviceMemoryInfo{static_cast<int64_t>(free_bytes), static_cast<int64_t>(total_bytes)};
  } catch (const Error& e) {
    return e.status();
  }
}

}  // namespace scopeflow::cuda
