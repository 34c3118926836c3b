#pragma once
// Device allocators with statistics, split by what the memory is for.

#include <array>
#include <cstddef>
#include <cstdint>
#include <atomic>
#include <memory>
#include <mutex>
#include <string_view>

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

/// Host memory from aligned operator new.
class CpuAllocator final : public Allocator {
 public:
  Device device() const override { return Device::cpu(); }

 protected:
  void* raw_allocate(size_t bytes) override;
  void raw_deallocate(void* ptr, size_t bytes) noexcept override;
};

/// Process-wide CPU allocator used for tensors made outside a session (feeds, constants).
std::shared_ptr<Allocator> default_cpu_allocator();

}  // namespace scopeflow
