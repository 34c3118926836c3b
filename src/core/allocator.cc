#include "scopeflow/allocator.h"

#include <algorithm>
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
  // Check the cap and count the bytes in one critical section, so that concurrent allocations
  // cannot together exceed it; roll back if the device allocation itself fails.
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (byte_limit_ > 0 && total_.bytes_in_use + static_cast<int64_t>(bytes) > byte_limit_) {
      throw_error(absl::StatusCode::kResourceExhausted, "allocator",
                  "out of memory on ", device().to_string(), ": requested ", bytes,
                  " bytes with ", total_.bytes_in_use, " of ", byte_limit_, " bytes in use");
    }
    for (AllocationStats* s : {&total_, &per_kind_[static_cast<int>(kind)]}) {
      s->bytes_in_use += static_cast<int64_t>(bytes);
      s->peak_bytes = std::max(s->peak_bytes, s->bytes_in_use);
      ++s->live_allocations;
      ++s->total_allocations;
    }
  }
  auto roll_back = [&] {
    std::lock_guard<std::mutex> lock(mutex_);
    for (AllocationStats* s : {&total_, &per_kind_[static_cast<int>(kind)]}) {
      s->bytes_in_use -= static_cast<int64_t>(bytes);
      --s->live_allocations;
      --s->total_allocations;
    }
  };
  void* ptr = nullptr;
  try {
    ptr = raw_allocate(bytes);
  } catch (...) {  // a device error other than out-of-memory: counted nothing, rethrown
    roll_back();
    throw;
  }
  if (ptr == nullptr) {
    roll_back();
    throw_error(absl::StatusCode::kResourceExhausted, "allocator", "out of memory on ",
                device().to_string(), ": requested ", bytes, " bytes");
  }
  return ptr;
}

void Allocator::deallocate(void* ptr, size_t bytes, MemoryKind kind) noexcept {
  if (ptr == nullptr) return;
  raw_deallocate(ptr, bytes);
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
  byte_limit_ = std::max<int64_t>(limit, 0);
}

absl::StatusOr<DeviceMemoryInfo> Allocator::device_memory_info() const {
  return absl::UnimplementedError(absl::StrCat("[allocator] ", device().to_string(),
                                               " reports no device memory information"));
}

void* CpuAllocator::raw_allocate(size_t bytes) {
  // Zero-byte requests still get a distinct pointer so every tensor owns a real allocation.
  return ::operator new(std::max<size_t>(bytes, 1), kCpuAlignment, std::nothrow);
}

void CpuAllocator::raw_deallocate(void* ptr, size_t /*bytes*/) noexcept {
  ::operator delete(ptr, kCpuAlignment);
}

std::shared_ptr<Allocator> default_cpu_allocator() {
  static const std::shared_ptr<Allocator> allocator = std::make_shared<CpuAllocator>();
  return allocator;
}

}  // namespace scopeflow
