#include "cuda/cuda_allocator.h"

#include <cuda_runtime_api.h>

#include "cuda/cuda_check.h"

namespace scopeflow::cuda {

namespace {
constexpr size_t kSmallGranularity = 512;        // cudaMalloc aligns to 256 at least
constexpr size_t kLargeGranularity = 1 << 20;    // large blocks round to 1 MiB
constexpr size_t kLargeThreshold = 8 << 20;
}  // namespace

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

size_t CudaAllocator::rounded_size(size_t bytes) {
  const size_t granularity = bytes >= kLargeThreshold ? kLargeGranularity : kSmallGranularity;
  const size_t size = bytes == 0 ? 1 : bytes;
  return (size + granularity - 1) / granularity * granularity;
}

void* CudaAllocator::raw_allocate(size_t bytes) {
  const size_t size = rounded_size(bytes);
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = free_blocks_.find(size);
    if (it != free_blocks_.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      cached_bytes_ -= static_cast<int64_t>(size);
      return ptr;
    }
  }
  DeviceGuard guard(device_index_);
  void* ptr = nullptr;
  cudaError_t err = cudaMalloc(&ptr, size);
  if (err == cudaErrorMemoryAllocation) {
    // The cache may hold the memory in blocks of other sizes: give them back and retry once.
    // Queued kernels may still use cached blocks (same-stream reuse is ordered, cudaFree is
    // not), so wait for the device first.
    (void)cudaGetLastError();
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    release_cached();
    err = cudaMalloc(&ptr, size);
  }
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    return nullptr;  // the base class reports out-of-memory with the request and usage
  }
  check(err, "cudaMalloc");
  return ptr;
}

void CudaAllocator::raw_deallocate(void* ptr, size_t bytes) noexcept {
  // Kernels queued on the session's stream may still read the block; a later request reuses it
  // on the same stream, after them, so returning it to the cache needs no synchronisation.
  const size_t size = rounded_size(bytes);
  std::lock_guard<std::mutex> lock(cache_mutex_);
  try {
    free_blocks_[size].push_back(ptr);
    cached_bytes_ += static_cast<int64_t>(size);
  } catch (...) {  // no host memory for the free list: give the block back instead
    BestEffortDeviceGuard guard(device_index_);
    (void)cudaDeviceSynchronize();
    (void)cudaFree(ptr);
  }
}

void CudaAllocator::release_cached() noexcept {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  BestEffortDeviceGuard guard(device_index_);
  if (!free_blocks_.empty()) (void)cudaDeviceSynchronize();  // no queued kernel may still read them
  for (auto& [size, blocks] : free_blocks_) {
    for (void* ptr : blocks) (void)cudaFree(ptr);  // destructors never throw
  }
  free_blocks_.clear();
  cached_bytes_ = 0;
}

int64_t CudaAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  return cached_bytes_;
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
