#include <utility>

#include "scopeflow/allocator.h"

namespace scopeflow {

namespace {
constexpr size_t kSmallGranularity = 512;        // cudaMalloc aligns to 256 at least
constexpr size_t kLargeGranularity = 1 << 20;    // large blocks round to 1 MiB
constexpr size_t kLargeThreshold = 8 << 20;
}  // namespace

size_t CachingAllocator::rounded_size(size_t bytes) {
  const size_t granularity = bytes >= kLargeThreshold ? kLargeGranularity : kSmallGranularity;
  const size_t size = bytes == 0 ? 1 : bytes;
  return (size + granularity - 1) / granularity * granularity;
}

void* CachingAllocator::raw_allocate(size_t bytes) {
  if (bypasses_cache(bytes)) return allocate_block(bytes);
  const size_t size = rounded_size(bytes);
  const auto charge = static_cast<int64_t>(size);
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = free_blocks_.find(size);
    if (it != free_blocks_.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      cached_bytes_ -= charge;
      in_use_bytes_ += charge;
      return ptr;
    }
    // A new block would pass the limit with the cache counted: give the cache back first.
    const int64_t limit = byte_limit();
    if (limit > 0 && cached_bytes_ > 0 && in_use_bytes_ + cached_bytes_ > limit - charge) {
      release_cached_locked();
    }
    in_use_bytes_ += charge;  // reserved while the block is allocated outside the lock
  }
  auto unreserve = [&] {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    in_use_bytes_ -= charge;
  };
  try {
    void* ptr = allocate_block(size);
    if (ptr == nullptr) {
      // The source is full: the cache may hold the memory in blocks of other sizes.
      release_cached();
      ptr = allocate_block(size);
    }
    if (ptr == nullptr) unreserve();  // the base class reports out-of-memory with the usage
    return ptr;
  } catch (...) {
    unreserve();
    throw;
  }
}

void CachingAllocator::raw_deallocate(void* ptr, size_t bytes) noexcept {
  // Work queued on the block may still read it; a later request reuses it in the same order
  // (one stream per session), so caching it needs no synchronisation.
  if (bypasses_cache(bytes)) {
    free_blocks(std::span<void* const>(&ptr, 1));
    return;
  }
  const size_t size = rounded_size(bytes);
  std::lock_guard<std::mutex> lock(cache_mutex_);
  in_use_bytes_ -= static_cast<int64_t>(size);
  if (options_.max_cached_bytes > 0 && cached_bytes_ + static_cast<int64_t>(size) > options_.max_cached_bytes) {
    free_blocks(std::span<void* const>(&ptr, 1));
    return;
  }
  try {
    free_blocks_[size].push_back(ptr);
    cached_bytes_ += static_cast<int64_t>(size);
  } catch (...) {  // no host memory for the free list: give the block back instead
    free_blocks(std::span<void* const>(&ptr, 1));
  }
}

void CachingAllocator::release_cached() noexcept {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  release_cached_locked();
}

void CachingAllocator::release_cached_locked() noexcept {
  std::vector<void*> blocks;
  try {
    for (auto& [size, list] : free_blocks_) blocks.insert(blocks.end(), list.begin(), list.end());
  } catch (...) {  // no host memory for the list: free them size by size
    for (auto& [size, list] : free_blocks_) free_blocks(list);
    blocks.clear();
  }
  if (!blocks.empty()) free_blocks(blocks);
  free_blocks_.clear();
  cached_bytes_ = 0;
}

int64_t CachingAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  return cached_bytes_;
}

int64_t CachingAllocator::held_bytes() const {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  return in_use_bytes_ + cached_bytes_;
}

}  // namespace scopeflow
