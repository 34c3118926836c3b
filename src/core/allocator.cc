#include "scopeflow/allocator.h"

#include <algorithm>
#include <limits>
#include <new>

#include "absl/strings/str_cat.h"
#include "scopeflow/error.h"

namespace scopeflow {

namespace {
constexpr std::align_val_t kCpuAlignment{64};
}  // namespace

const char* memory_kind_name(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::kParameter: return "parameter";
    case MemoryKind::kGradient: return "gradient";
    case MemoryKind::kOptimizerSlot: return "optimizer_slot";
    case MemoryKind::kActivation: return "activation";
    case MemoryKind::kOther: return "other";
  }
  return "unknown";
}

void* Allocator::allocate(size_t bytes, MemoryKind kind) {
  // The cap counts bytes reserved by allocations still in flight, so that concurrent ones
  // cannot together exceed it; the statistics count an allocation only once it succeeded.
  if (bytes > static_cast<size_t>(std::numeric_limits<int64_t>::max())) {
    throw_error(absl::StatusCode::kResourceExhausted, "allocator", "out of memory on ",
                device().to_string(), ": requested ", bytes, " bytes");
  }
  const auto size = static_cast<int64_t>(bytes);
  // The charge is taken before the allocation (so that concurrent ones cannot together pass the
  // limit) with one atomic add: the executor's hot path takes the lock once, for the statistics.
  const int64_t before = charged_bytes_.fetch_add(size, std::memory_order_relaxed);
  auto release_charge = [&] { charged_bytes_.fetch_sub(size, std::memory_order_relaxed); };
  const int64_t limit = byte_limit_.load(std::memory_order_relaxed);
  if (limit > 0 && (size > limit || before > limit - size)) {
    release_charge();
    throw_error(absl::StatusCode::kResourceExhausted, "allocator",
                "out of memory on ", device().to_string(), ": requested ", bytes, " bytes (",
                memory_kind_name(kind), ") with ", stats().bytes_in_use, " bytes in use and ", cached_bytes(),
                " bytes cached, past the memory limit of ", limit, " bytes (SessionOptions::memory_limit)");
  }
  void* ptr = nullptr;
  try {
    ptr = raw_allocate(bytes);
  } catch (const std::bad_alloc&) {  // as a null return: out of memory, never std::bad_alloc
    ptr = nullptr;
  } catch (...) {  // a device error other than out-of-memory: counted nothing, rethrown
    release_charge();
    throw;
  }
  if (ptr == nullptr) {
    release_charge();
    throw_error(absl::StatusCode::kResourceExhausted, "allocator", "out of memory on ",
                device().to_string(), ": requested ", bytes, " bytes (", memory_kind_name(kind), ") with ",
                stats().bytes_in_use, " bytes in use and ", cached_bytes(), " bytes cached");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (AllocationStats* s : {&total_, &per_kind_[static_cast<int>(kind)]}) {
    s->bytes_in_use += size;
    s->peak_bytes = std::max(s->peak_bytes, s->bytes_in_use);
    ++s->live_allocations;
    ++s->total_allocations;
  }
  return ptr;
}

void Allocator::deallocate(void* ptr, size_t bytes, MemoryKind kind) noexcept {
  if (ptr == nullptr) return;
  raw_deallocate(ptr, bytes);
  charged_bytes_.fetch_sub(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mutex_);
  for (AllocationStats* s : {&total_, &per_kind_[static_cast<int>(kind)]}) {
    s->bytes_in_use -= static_cast<int64_t>(bytes);
    --s->live_allocations;
  }
}

AllocationStats Allocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return total_;
}

AllocationStats Allocator::stats(MemoryKind kind) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return per_kind_[static_cast<int>(kind)];
}

void Allocator::reset_peaks() {
  std::lock_guard<std::mutex> lock(mutex_);
  total_.peak_bytes = total_.bytes_in_use;
  for (AllocationStats& s : per_kind_) s.peak_bytes = s.bytes_in_use;
}

void Allocator::set_byte_limit(int64_t limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  byte_limit_.store(std::max<int64_t>(limit, 0), std::memory_order_relaxed);
}

absl::StatusOr<DeviceMemoryInfo> Allocator::device_memory_info() const {
  return absl::UnimplementedError(absl::StrCat("[allocator] ", device().to_string(),
                                               " reports no device memory information"));
}

namespace {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

CachingOptions default_cpu_caching() {
  if (!kSanitized) return CpuAllocator::kDefaultCaching;
  return {.min_cached_bytes = std::numeric_limits<size_t>::max(), .max_cached_bytes = 0};
}
}  // namespace

CpuAllocator::CpuAllocator() : CachingAllocator(default_cpu_caching()) {}

CpuAllocator::~CpuAllocator() { release_cached(); }

void* CpuAllocator::allocate_block(size_t bytes) {
  // Zero-byte requests still get a distinct pointer so every tensor owns a real allocation.
  return ::operator new(std::max<size_t>(bytes, 1), kCpuAlignment, std::nothrow);
}

void CpuAllocator::free_blocks(std::span<void* const> blocks) noexcept {
  for (void* ptr : blocks) ::operator delete(ptr, kCpuAlignment);
}

std::shared_ptr<Allocator> default_cpu_allocator() {
  static const std::shared_ptr<Allocator> allocator = std::make_shared<CpuAllocator>();
  return allocator;
}

}  // namespace scopeflow
