#pragma once
// Caching CUDA device allocator: cudaMalloc/cudaFree as the block source of a CachingAllocator,
// so a training step allocates from the driver only on its first run and the memory limit
// bounds the blocks in use and cached. device_memory_info() adds what the driver reports.

#include <memory>
#include <span>

#include "absl/status/statusor.h"
#include "scopeflow/allocator.h"

namespace scopeflow::cuda {

class CudaAllocator final : public CachingAllocator {
 public:
  /// Fails (with the CUDA error) when the device does not answer.
  static absl::StatusOr<std::shared_ptr<CudaAllocator>> create(int device_index);
  explicit CudaAllocator(int device_index) : device_index_(device_index) {}
  ~CudaAllocator() override;

  Device device() const override { return Device::cuda(device_index_); }
  absl::StatusOr<DeviceMemoryInfo> device_memory_info() const override;

 protected:
  void* allocate_block(size_t bytes) override;
  void free_blocks(std::span<void* const> blocks) noexcept override;

 private:
  int device_index_;
};

}  // namespace scopeflow::cuda
