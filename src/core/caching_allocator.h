#pragma once
// An allocator that keeps freed blocks in per-size free lists for reuse, over a raw block
// source (cudaMalloc/cudaFree for the CUDA backend, a fake device in the tests). The memory
// limit bounds what it holds from the source, in use plus cached: a request that would pass the
// limit, or that the source refuses, first returns the cached blocks and retries.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "scopeflow/allocator.h"

namespace scopeflow {

/// Derived classes call release_cached() in their destructor, while their block source works.
class CachingAllocator : public Allocator {
 public:

  int64_t cached_bytes() const override;
  /// Bytes this allocator holds from its block source: blocks in use (rounded) plus cached ones.
  int64_t held_bytes() const;
  /// Returns every cached block to the block source.
  void release_cached() noexcept;

  /// Requests are rounded up to this granularity, so blocks are reusable across sizes.
  static size_t rounded_size(size_t bytes);

 protected:
  /// A block of `bytes` from the source, or nullptr when it is out of memory; throws on other
  /// failures.
  virtual void* allocate_block(size_t bytes) = 0;
  /// Returns blocks to the source; work queued on them must finish first (the CUDA source
  /// synchronises the device). Never throws.
  virtual void free_blocks(std::span<void* const> blocks) noexcept = 0;

  void* raw_allocate(size_t bytes) final;
  void raw_deallocate(void* ptr, size_t bytes) noexcept final;

 private:
  void release_cached_locked() noexcept;

  mutable std::mutex cache_mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_blocks_;  // rounded size -> blocks
  int64_t cached_bytes_ = 0;
  int64_t in_use_bytes_ = 0;  // rounded sizes of the blocks handed out (or being allocated)
};

}  // namespace scopeflow
