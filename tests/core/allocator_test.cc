#include "scopeflow/allocator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "scopeflow/error.h"
#include "test_util.h"
#include "scopeflow/tensor.h"

namespace scopeflow {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using test::error_of;

void expect_stats(const AllocationStats& s, int64_t in_use, int64_t peak, int64_t live,
                  int64_t total, const std::string& what) {
  EXPECT_EQ(s.bytes_in_use, in_use) << what;
  EXPECT_EQ(s.peak_bytes, peak) << what;
  EXPECT_EQ(s.live_allocations, live) << what;
  EXPECT_EQ(s.total_allocations, total) << what;
}

TEST(AllocatorTest, MemoryKindNames) {
  EXPECT_STREQ(memory_kind_name(MemoryKind::kParameter), "parameter");
  EXPECT_STREQ(memory_kind_name(MemoryKind::kGradient), "gradient");
  EXPECT_STREQ(memory_kind_name(MemoryKind::kOptimizerSlot), "optimizer_slot");
  EXPECT_STREQ(memory_kind_name(MemoryKind::kActivation), "activation");
  EXPECT_STREQ(memory_kind_name(MemoryKind::kOther), "other");
}

TEST(AllocatorTest, FreshAllocatorIsEmpty) {
  CpuAllocator a;
  EXPECT_EQ(a.device(), Device::cpu());
  expect_stats(a.stats(), 0, 0, 0, 0, "total");
  for (int k = 0; k < kNumMemoryKinds; ++k) {
    expect_stats(a.stats(static_cast<MemoryKind>(k)), 0, 0, 0, 0, std::to_string(k));
  }
}

TEST(AllocatorTest, StatsPerKindAndTotalAcrossTensors) {
  auto a = std::make_shared<CpuAllocator>();
  {
    Tensor p(DType::kFloat32, Shape{10, 5}, a, MemoryKind::kParameter);  // 200 bytes
    Tensor g(DType::kFloat32, Shape{10, 5}, a, MemoryKind::kGradient);   // 200 bytes
    expect_stats(a->stats(MemoryKind::kParameter), 200, 200, 1, 1, "parameter");
    expect_stats(a->stats(MemoryKind::kGradient), 200, 200, 1, 1, "gradient");
    expect_stats(a->stats(MemoryKind::kActivation), 0, 0, 0, 0, "activation");
    expect_stats(a->stats(), 400, 400, 2, 2, "total");
    {
      Tensor x(DType::kInt64, Shape{16}, a, MemoryKind::kActivation);  // 128 bytes
      Tensor y(DType::kInt32, Shape{8}, a, MemoryKind::kActivation);   // 32 bytes
      expect_stats(a->stats(MemoryKind::kActivation), 160, 160, 2, 2, "activation live");
      expect_stats(a->stats(), 560, 560, 4, 4, "total with activations");
    }
    expect_stats(a->stats(MemoryKind::kActivation), 0, 160, 0, 2, "activation freed");
    expect_stats(a->stats(), 400, 560, 2, 4, "total after activations");
    {
      Tensor z(DType::kFloat32, Shape{4}, a, MemoryKind::kActivation);  // 16 bytes
      expect_stats(a->stats(MemoryKind::kActivation), 16, 160, 1, 3, "activation again");
    }
    // A copy of a Tensor does not allocate; the buffer lives until the last copy is gone.
    Tensor p2 = p;
    p = Tensor();
    expect_stats(a->stats(MemoryKind::kParameter), 200, 200, 1, 1, "parameter still viewed");
  }
  expect_stats(a->stats(MemoryKind::kParameter), 0, 200, 0, 1, "parameter freed");
  expect_stats(a->stats(MemoryKind::kGradient), 0, 200, 0, 1, "gradient freed");
  expect_stats(a->stats(MemoryKind::kOptimizerSlot), 0, 0, 0, 0, "slots untouched");
  expect_stats(a->stats(), 0, 560, 0, 5, "total freed");
}

TEST(AllocatorTest, RawAllocateAndDeallocate) {
  CpuAllocator a;
  void* p = a.allocate(100, MemoryKind::kOther);
  ASSERT_NE(p, nullptr);
  expect_stats(a.stats(MemoryKind::kOther), 100, 100, 1, 1, "other");
  a.deallocate(p, 100, MemoryKind::kOther);
  expect_stats(a.stats(MemoryKind::kOther), 0, 100, 0, 1, "other freed");
  a.deallocate(nullptr, 0, MemoryKind::kOther);  // a no-op
  expect_stats(a.stats(), 0, 100, 0, 1, "total");
}

TEST(AllocatorTest, AllocationsAre64ByteAligned) {
  CpuAllocator a;
  std::vector<void*> ptrs;
  for (size_t bytes : {1u, 3u, 17u, 64u, 65u, 1000u, 4097u}) {
    void* p = a.allocate(bytes, MemoryKind::kActivation);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << bytes;
    a.deallocate(p, bytes, MemoryKind::kActivation);
  }
  auto shared = std::make_shared<CpuAllocator>();
  for (int64_t n : {1, 3, 5, 33}) {
    Tensor t(DType::kFloat32, Shape{n}, shared, MemoryKind::kActivation);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u) << n;
  }
}

TEST(AllocatorTest, ZeroByteAllocationIsUniqueAndCounted) {
  CpuAllocator a;
  void* p = a.allocate(0, MemoryKind::kOther);
  void* q = a.allocate(0, MemoryKind::kOther);
  ASSERT_NE(p, nullptr);
  ASSERT_NE(q, nullptr);
  EXPECT_NE(p, q);
  expect_stats(a.stats(MemoryKind::kOther), 0, 0, 2, 2, "zero-byte");
  a.deallocate(p, 0, MemoryKind::kOther);
  a.deallocate(q, 0, MemoryKind::kOther);
  expect_stats(a.stats(MemoryKind::kOther), 0, 0, 0, 2, "zero-byte freed");

  auto shared = std::make_shared<CpuAllocator>();
  {
    Tensor t(DType::kFloat32, Shape{0, 3}, shared, MemoryKind::kActivation);
    EXPECT_NE(t.raw_data(), nullptr);
    EXPECT_EQ(shared->stats(MemoryKind::kActivation).live_allocations, 1);
  }
  EXPECT_EQ(shared->stats(MemoryKind::kActivation).live_allocations, 0);
}

TEST(AllocatorTest, ByteLimitThrowsResourceExhaustedAndLeavesStats) {
  auto a = std::make_shared<CpuAllocator>();
  a->set_byte_limit(1000);
  Tensor kept(DType::kFloat32, Shape{200}, a, MemoryKind::kParameter);  // 800 bytes
  const AllocationStats total_before = a->stats();
  const AllocationStats act_before = a->stats(MemoryKind::kActivation);

  test::ThrownError e = error_of([&] { Tensor t(DType::kFloat32, Shape{51}, a, MemoryKind::kActivation); });
  EXPECT_EQ(e.code, absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(e.message, StartsWith("[allocator]"));
  EXPECT_THAT(e.message, HasSubstr("204"));

  e = error_of([&] { (void)a->allocate(201, MemoryKind::kOther); });
  EXPECT_EQ(e.code, absl::StatusCode::kResourceExhausted);

  const AllocationStats total_after = a->stats();
  EXPECT_EQ(total_after.bytes_in_use, total_before.bytes_in_use);
  EXPECT_EQ(total_after.peak_bytes, total_before.peak_bytes);
  EXPECT_EQ(total_after.live_allocations, total_before.live_allocations);
  EXPECT_EQ(total_after.total_allocations, total_before.total_allocations);
  expect_stats(a->stats(MemoryKind::kActivation), act_before.bytes_in_use,
               act_before.peak_bytes, act_before.live_allocations,
               act_before.total_allocations, "activation after failure");
  expect_stats(a->stats(MemoryKind::kOther), 0, 0, 0, 0, "other after failure");

  // Exactly up to the limit still fits.
  {
    Tensor fits(DType::kFloat32, Shape{50}, a, MemoryKind::kActivation);  // 200 bytes
    EXPECT_EQ(a->stats().bytes_in_use, 1000);
  }
  // Lifting the limit (0) allows the allocation again.
  a->set_byte_limit(0);
  EXPECT_NO_THROW(Tensor(DType::kFloat32, Shape{1000}, a, MemoryKind::kActivation));
}

// Host memory that fails on request: raw_allocate returns null (out of memory) or throws (any
// other device error) while `fail` says so.
class FailingAllocator final : public Allocator {
 public:
  enum class Failure { kNone, kOutOfMemory, kDeviceError };
  Failure fail = Failure::kNone;
  Device device() const override { return Device::cpu(); }

 protected:
  void* raw_allocate(size_t bytes) override {
    if (fail == Failure::kOutOfMemory) return nullptr;
    if (fail == Failure::kDeviceError) throw_error(absl::StatusCode::kInternal, "device", "lost");
    return ::operator new(bytes == 0 ? 1 : bytes);
  }
  void raw_deallocate(void* ptr, size_t /*bytes*/) noexcept override { ::operator delete(ptr); }
};

TEST(AllocatorTest, FailedAllocationsLeaveEveryStatisticAsItWas) {
  // The peak once rose before the device allocation and stayed up when it failed.
  for (const auto failure : {FailingAllocator::Failure::kOutOfMemory, FailingAllocator::Failure::kDeviceError}) {
    FailingAllocator a;
    void* kept = a.allocate(100, MemoryKind::kParameter);
    a.fail = failure;
    const test::ThrownError e = error_of([&] { (void)a.allocate(1000, MemoryKind::kActivation); });
    EXPECT_EQ(e.code, failure == FailingAllocator::Failure::kOutOfMemory ? absl::StatusCode::kResourceExhausted
                                                                          : absl::StatusCode::kInternal);
    expect_stats(a.stats(), 100, 100, 1, 1, "total after a failed allocation");
    expect_stats(a.stats(MemoryKind::kActivation), 0, 0, 0, 0, "activation after a failed allocation");
    expect_stats(a.stats(MemoryKind::kParameter), 100, 100, 1, 1, "parameter after a failed allocation");

    // A failed request reserves nothing: the whole cap is still there afterwards.
    a.fail = FailingAllocator::Failure::kNone;
    a.set_byte_limit(1100);
    void* fits = a.allocate(1000, MemoryKind::kActivation);
    expect_stats(a.stats(), 1100, 1100, 2, 2, "total after the retry");
    a.deallocate(fits, 1000, MemoryKind::kActivation);
    a.deallocate(kept, 100, MemoryKind::kParameter);
    expect_stats(a.stats(), 0, 1100, 0, 2, "total freed");
  }
}

TEST(AllocatorTest, RequestsBeyondInt64AreOutOfMemory) {
  CpuAllocator a;
  const test::ThrownError e = error_of([&] { (void)a.allocate(~size_t{0}, MemoryKind::kOther); });
  EXPECT_EQ(e.code, absl::StatusCode::kResourceExhausted);
  expect_stats(a.stats(), 0, 0, 0, 0, "total");
  a.set_byte_limit(1000);
  EXPECT_EQ(error_of([&] { (void)a.allocate(~size_t{0} / 2, MemoryKind::kOther); }).code,
            absl::StatusCode::kResourceExhausted);
  expect_stats(a.stats(), 0, 0, 0, 0, "total under a cap");
}

TEST(AllocatorTest, ResetPeaksKeepsLiveCounts) {
  auto a = std::make_shared<CpuAllocator>();
  Tensor kept(DType::kFloat32, Shape{10}, a, MemoryKind::kParameter);  // 40 bytes
  { Tensor big(DType::kFloat32, Shape{100}, a, MemoryKind::kActivation); }  // 400 bytes
  EXPECT_EQ(a->stats().peak_bytes, 440);
  EXPECT_EQ(a->stats(MemoryKind::kActivation).peak_bytes, 400);
  a->reset_peaks();
  expect_stats(a->stats(), 40, 40, 1, 2, "total after reset");
  expect_stats(a->stats(MemoryKind::kActivation), 0, 0, 0, 1, "activation after reset");
  expect_stats(a->stats(MemoryKind::kParameter), 40, 40, 1, 1, "parameter after reset");
  { Tensor small(DType::kFloat32, Shape{5}, a, MemoryKind::kActivation); }  // 20 bytes
  EXPECT_EQ(a->stats().peak_bytes, 60);
  EXPECT_EQ(a->stats(MemoryKind::kActivation).peak_bytes, 20);
}

TEST(AllocatorTest, DefaultCpuAllocatorIsOneInstance) {
  auto a = default_cpu_allocator();
  auto b = default_cpu_allocator();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(a->device(), Device::cpu());
  const Tensor t = Tensor::zeros(DType::kFloat32, Shape{3});
  EXPECT_EQ(t.device(), Device::cpu());
}


// An allocator whose device throws std::bad_alloc, as operator new does.
class ThrowingAllocator final : public Allocator {
 public:
  Device device() const override { return Device::cpu(); }

 protected:
  void* raw_allocate(size_t) override { throw std::bad_alloc(); }
  void raw_deallocate(void*, size_t) noexcept override {}
};

TEST(AllocatorTest, BadAllocBecomesResourceExhausted) {
  ThrowingAllocator a;
  EXPECT_THAT(error_of([&] { (void)a.allocate(100, MemoryKind::kActivation); }),
              test::IsError(absl::StatusCode::kResourceExhausted,
                            HasSubstr("out of memory on /device:CPU:0: requested 100 bytes")));
  EXPECT_EQ(a.stats().bytes_in_use, 0);
}

TEST(AllocatorTest, LimitMessageNamesRequestLimitAndUse) {
  CpuAllocator a;
  a.set_byte_limit(1000);
  EXPECT_EQ(a.byte_limit(), 1000);
  void* p = a.allocate(600, MemoryKind::kParameter);
  EXPECT_THAT(error_of([&] { (void)a.allocate(500, MemoryKind::kActivation); }),
              test::IsError(absl::StatusCode::kResourceExhausted,
                            AllOf(HasSubstr("requested 500 bytes (activation)"), HasSubstr("600 bytes in use"),
                                  HasSubstr("memory limit of 1000 bytes"))));
  a.deallocate(p, 600, MemoryKind::kParameter);
}

}  // namespace
}  // namespace scopeflow
