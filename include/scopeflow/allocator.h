#pragma once
// Device allocators with statistics, split by what the memory is for.

#include <array>
#include <cstddef>
#include <cstdint>
#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "scopeflow/device.h"

namespace scopeflow {

/// What an allocation holds; statistics are kept per kind and in total.
enum class MemoryKind : uint8_t {
  kParameter,       // variable values (one allocation per variable)
  kGradient,        // gradient buffers
  kOptimizerSlot,   // optimizer state (momentum, Adam moments)
  kActivation,      // intermediate and output tensors of a run
  kOther,           // constants, feeds, anything else
};
inline constexpr int kNumMemoryKinds = 5;

/// "parameter", "gradient", "optimizer_slot", "activation", "other".
const char* memory_kind_name(MemoryKind kind);

/// Counters of one allocator (for one memory kind or for all of them).
struct AllocationStats {
  int64_t bytes_in_use = 0;
  int64_t peak_bytes = 0;
  int64_t live_allocations = 0;
  int64_t total_allocations = 0;
};

/// What the device driver reports about the whole device (cudaMemGetInfo).
struct DeviceMemoryInfo {
  int64_t free_bytes = 0;
  int64_t total_bytes = 0;
};

/// Allocates device memory and keeps statistics. Thread-safe.
class Allocator {
 public:
  virtual ~Allocator() = default;
  Allocator() = default;
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  /// Returns memory aligned to at least 64 bytes, or throws Error(kResourceExhausted).
  /// A zero-byte request returns a unique non-null pointer and counts as an allocation.
  void* allocate(size_t bytes, MemoryKind kind);
  /// Releases memory from allocate(); bytes and kind must be those it was allocated with.
  void deallocate(void* ptr, size_t bytes, MemoryKind kind) noexcept;

  virtual Device device() const = 0;

  /// Statistics over all kinds.
  AllocationStats stats() const;
  /// Statistics of one kind.
  AllocationStats stats(MemoryKind kind) const;
  /// Resets peaks to the current usage (live counts stay).
  void reset_peaks();

  /// Caps bytes in use; allocations beyond it fail as if the device were full (0 = no cap).
  void set_byte_limit(int64_t limit);
  /// The cap set by set_byte_limit (0 = none).
  int64_t byte_limit() const { return byte_limit_.load(std::memory_order_relaxed); }

  /// Bytes held in a cache of freed blocks for reuse (not in use, not yet returned).
  virtual int64_t cached_bytes() const { return 0; }
  /// Free and total memory of the device as its driver reports them; kUnimplemented for the
  /// host, whose memory belongs to the whole process.
  virtual absl::StatusOr<DeviceMemoryInfo> device_memory_info() const;

 protected:
  virtual void* raw_allocate(size_t bytes) = 0;
  virtual void raw_deallocate(void* ptr, size_t bytes) noexcept = 0;

 private:
  mutable std::mutex mutex_;
  AllocationStats total_;
  std::array<AllocationStats, kNumMemoryKinds> per_kind_{};
  std::atomic<int64_t> byte_limit_ = 0;  // read without the lock on the hot path
  // Bytes of live allocations plus those in flight, checked against the limit without the lock.
  std::atomic<int64_t> charged_bytes_ = 0;
};

/// What a CachingAllocator keeps. The defaults cache every block without a bound of their own
/// (the memory limit still bounds blocks in use plus cached).
struct CachingOptions {
  /// Requests below this size bypass the cache: they go to the block source at their own size.
  size_t min_cached_bytes = 0;
  /// The most bytes the cache holds; a freed block that would pass it goes back to the source
  /// (0: no bound).
  int64_t max_cached_bytes = 0;
};

/// An allocator that keeps freed blocks in per-size free lists for reuse, over a raw block source
/// (cudaMalloc/cudaFree for the CUDA backend, aligned operator new for the CPU). The memory limit
/// bounds what it holds from the source, in use plus cached: a request that would pass the limit,
/// or that the source refuses, first returns the cached blocks and retries.
/// Derived classes call release_cached() in their destructor, while their block source works.
class CachingAllocator : public Allocator {
 public:
  explicit CachingAllocator(CachingOptions options = {}) : options_(options) {}

  int64_t cached_bytes() const override;
  /// Bytes this allocator holds from its block source: blocks in use (rounded) plus cached ones.
  int64_t held_bytes() const;
  /// Returns every cached block to the block source.
  void release_cached() noexcept;
  const CachingOptions& caching_options() const { return options_; }

  /// Cached requests are rounded up to this granularity, so blocks are reusable across sizes.
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
  bool bypasses_cache(size_t bytes) const { return bytes < options_.min_cached_bytes; }

  const CachingOptions options_;
  mutable std::mutex cache_mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_blocks_;  // rounded size -> blocks
  int64_t cached_bytes_ = 0;
  int64_t in_use_bytes_ = 0;  // rounded sizes of the blocks handed out (or being allocated)
};

/// Host memory from aligned operator new (64-byte aligned). Blocks of 64 KiB and more are cached
/// (up to 1 GiB): glibc's malloc maps such blocks freshly and unmaps them on free, so every
/// training step would otherwise pay page faults on its large buffers. Sanitizer builds cache
/// nothing, so that they see every use after free.
class CpuAllocator final : public CachingAllocator {
 public:
  static constexpr CachingOptions kDefaultCaching{.min_cached_bytes = size_t{64} << 10,
                                                  .max_cached_bytes = int64_t{1} << 30};
  CpuAllocator();
  explicit CpuAllocator(CachingOptions options) : CachingAllocator(options) {}
  ~CpuAllocator() override;

  Device device() const override { return Device::cpu(); }

 protected:
  void* allocate_block(size_t bytes) override;
  void free_blocks(std::span<void* const> blocks) noexcept override;
};

/// Process-wide CPU allocator used for tensors made outside a session (feeds, constants).
std::shared_ptr<Allocator> default_cpu_allocator();

}  // namespace scopeflow
