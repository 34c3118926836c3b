#pragma once
// Caching CUDA device allocator: freed blocks go to per-size free lists of this allocator and
// are reused by later requests of the same rounded size, so a training step allocates from
// cudaMalloc only on its first run. Statistics are the base Allocator's (requested bytes per
// memory kind); cached_bytes() and device_memory_info() add what the cache and the driver hold.

#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "scopeflow/allocator.h"

namespace scopeflow::cuda {

class CudaAllocator final : public Allocator {
 public:
  /// Fails (with the CUDA error) when the device does not answer.
  static absl::StatusOr<std::shared_ptr<CudaAllocator>> create(int device_index);
  explicit CudaAllocator(int device_index) : device_index_(device_index) {}
  ~CudaAllocator() override;

  Device device() const override { return Device::cuda(device_index_); }
  int64_t cached_bytes() const override;
  absl::StatusOr<DeviceMemoryInfo> device_memory_info() const override;
  /// Returns every cached block to the driver.
  void release_cached() noexcept;

  /// Requests are rounded up to this granularity, so blocks are reusable across sizes.
  static size_t rounded_size(size_t bytes);

 protected:
  void* raw_allocate(size_t bytes) override;
  void raw_deallocate(void* ptr, size_t bytes) noexcept override;

 private:
  int device_index_;
  mutable std::mutex cache_mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_blocks_;  // rounded size -> blocks
  int64_t cached_bytes_ = 0;
};

}  // namespace scopeflow::cuda
