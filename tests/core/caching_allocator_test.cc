#include "scopeflow/allocator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <span>
#include <unordered_map>

#include "scopeflow/error.h"
#include "test_util.h"

namespace scopeflow {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using test::error_of;

constexpr size_t kBlock = 1024;  // a multiple of the small granularity: sizes are not rounded
constexpr auto kBlockBytes = static_cast<int64_t>(kBlock);

// A device of `capacity` bytes behind the cache, as cudaMalloc/cudaFree are for CUDA.
class FakeDeviceAllocator final : public CachingAllocator {
 public:
  explicit FakeDeviceAllocator(int64_t capacity, CachingOptions options = {})
      : CachingAllocator(options), capacity_(capacity) {}
  ~FakeDeviceAllocator() override { release_cached(); }

  Device device() const override { return Device::cuda(0); }
  int64_t device_used() const { return device_used_; }
  int blocks_freed() const { return blocks_freed_; }
  int blocks_allocated() const { return blocks_allocated_; }

 protected:
  void* allocate_block(size_t bytes) override {
    if (device_used_ + static_cast<int64_t>(bytes) > capacity_) return nullptr;  // device full
    void* ptr = std::malloc(bytes);
    sizes_[ptr] = bytes;
    device_used_ += static_cast<int64_t>(bytes);
    ++blocks_allocated_;
    return ptr;
  }
  void free_blocks(std::span<void* const> blocks) noexcept override {
    for (void* ptr : blocks) {
      device_used_ -= static_cast<int64_t>(sizes_.at(ptr));
      sizes_.erase(ptr);
      std::free(ptr);
      ++blocks_freed_;
    }
  }

 private:
  int64_t capacity_;
  int64_t device_used_ = 0;
  int blocks_freed_ = 0;
  int blocks_allocated_ = 0;
  std::unordered_map<void*, size_t> sizes_;
};

TEST(CachingAllocatorTest, FreedBlocksAreReusedWithoutTheDevice) {
  FakeDeviceAllocator a(1 << 20);
  void* p = a.allocate(kBlock, MemoryKind::kActivation);
  a.deallocate(p, kBlock, MemoryKind::kActivation);
  EXPECT_EQ(a.cached_bytes(), kBlockBytes);
  EXPECT_EQ(a.stats().bytes_in_use, 0);
  void* q = a.allocate(kBlock, MemoryKind::kActivation);
  EXPECT_EQ(q, p);
  EXPECT_EQ(a.cached_bytes(), 0);
  EXPECT_EQ(a.held_bytes(), kBlockBytes);
  EXPECT_EQ(a.device_used(), kBlockBytes);
  a.deallocate(q, kBlock, MemoryKind::kActivation);
}

TEST(CachingAllocatorTest, TheLimitCountsCachedBlocks) {
  // Blocks of one size are cached, then a request of another size comes: in use it is under
  // the limit, but with the cache the allocator would hold more than the limit from the device.
  FakeDeviceAllocator a(1 << 20);
  a.set_byte_limit(4 * kBlockBytes);
  void* small[3];
  for (void*& p : small) p = a.allocate(kBlock, MemoryKind::kActivation);
  for (void* p : small) a.deallocate(p, kBlock, MemoryKind::kActivation);
  ASSERT_EQ(a.cached_bytes(), 3 * kBlockBytes);
  void* large = a.allocate(2 * kBlock, MemoryKind::kActivation);
  EXPECT_LE(a.device_used(), 4 * kBlockBytes);
  EXPECT_LE(a.held_bytes(), 4 * kBlockBytes);
  EXPECT_EQ(a.cached_bytes(), 0);
  EXPECT_EQ(a.blocks_freed(), 3);
  a.deallocate(large, 2 * kBlock, MemoryKind::kActivation);
}

TEST(CachingAllocatorTest, ACacheUnderTheLimitIsKept) {
  FakeDeviceAllocator a(1 << 20);
  a.set_byte_limit(8 * kBlockBytes);
  void* p = a.allocate(kBlock, MemoryKind::kActivation);
  a.deallocate(p, kBlock, MemoryKind::kActivation);
  void* large = a.allocate(2 * kBlock, MemoryKind::kActivation);
  EXPECT_EQ(a.cached_bytes(), kBlockBytes);
  EXPECT_EQ(a.blocks_freed(), 0);
  a.deallocate(large, 2 * kBlock, MemoryKind::kActivation);
}

TEST(CachingAllocatorTest, AFullDeviceGetsTheCacheBackAndARetry) {
  // No limit, but the device holds only 3 blocks, all cached in another size.
  FakeDeviceAllocator a(3 * kBlockBytes);
  void* small[3];
  for (void*& p : small) p = a.allocate(kBlock, MemoryKind::kActivation);
  for (void* p : small) a.deallocate(p, kBlock, MemoryKind::kActivation);
  void* large = a.allocate(2 * kBlock, MemoryKind::kActivation);
  EXPECT_NE(large, nullptr);
  EXPECT_EQ(a.blocks_freed(), 3);
  EXPECT_EQ(a.device_used(), 2 * kBlockBytes);
  a.deallocate(large, 2 * kBlock, MemoryKind::kActivation);
}

TEST(CachingAllocatorTest, OutOfMemoryNamesBytesInUseAndCached) {
  FakeDeviceAllocator a(4 * kBlockBytes);
  void* used = a.allocate(2 * kBlock, MemoryKind::kParameter);
  void* cached = a.allocate(kBlock, MemoryKind::kActivation);
  a.deallocate(cached, kBlock, MemoryKind::kActivation);
  // The device is too small even without the cache: it is released, and the error says so.
  EXPECT_THAT(error_of([&] { (void)a.allocate(3 * kBlock, MemoryKind::kActivation); }),
              test::IsError(absl::StatusCode::kResourceExhausted,
                            AllOf(HasSubstr("out of memory on /device:GPU:0: requested 3072 bytes"),
                                  HasSubstr("2048 bytes in use and 0 bytes cached"))));
  EXPECT_EQ(a.held_bytes(), 2 * kBlockBytes);
  EXPECT_EQ(a.stats().bytes_in_use, 2 * kBlockBytes);
  // Past the memory limit the error names what is cached, so the cause is plain.
  void* again = a.allocate(kBlock, MemoryKind::kActivation);
  a.deallocate(again, kBlock, MemoryKind::kActivation);
  a.set_byte_limit(2 * kBlockBytes);
  EXPECT_THAT(error_of([&] { (void)a.allocate(kBlock, MemoryKind::kActivation); }),
              test::IsError(absl::StatusCode::kResourceExhausted,
                            HasSubstr("2048 bytes in use and 1024 bytes cached, past the memory limit")));
  a.deallocate(used, 2 * kBlock, MemoryKind::kParameter);
}

TEST(CachingAllocatorTest, RequestsBelowTheCachedMinimumGoToTheSourceAtTheirOwnSize) {
  FakeDeviceAllocator a(1 << 20, {.min_cached_bytes = kBlock});
  void* small = a.allocate(100, MemoryKind::kActivation);
  EXPECT_EQ(a.device_used(), 100);  // not rounded up to the granularity
  a.deallocate(small, 100, MemoryKind::kActivation);
  EXPECT_EQ(a.device_used(), 0);
  EXPECT_EQ(a.cached_bytes(), 0);
  EXPECT_EQ(a.blocks_freed(), 1);

  void* large = a.allocate(kBlock, MemoryKind::kActivation);
  a.deallocate(large, kBlock, MemoryKind::kActivation);
  EXPECT_EQ(a.cached_bytes(), kBlockBytes);
  EXPECT_EQ(a.allocate(kBlock, MemoryKind::kActivation), large);
  EXPECT_EQ(a.blocks_allocated(), 2);
  a.deallocate(large, kBlock, MemoryKind::kActivation);
}

TEST(CachingAllocatorTest, TheCacheKeepsAtMostItsBound) {
  FakeDeviceAllocator a(1 << 20, {.max_cached_bytes = 2 * kBlockBytes});
  void* blocks[3];
  for (void*& b : blocks) b = a.allocate(kBlock, MemoryKind::kActivation);
  for (void* b : blocks) a.deallocate(b, kBlock, MemoryKind::kActivation);
  EXPECT_EQ(a.cached_bytes(), 2 * kBlockBytes);
  EXPECT_EQ(a.blocks_freed(), 1);  // the third went back to the source
  EXPECT_EQ(a.device_used(), 2 * kBlockBytes);
  EXPECT_EQ(a.held_bytes(), 2 * kBlockBytes);
}

TEST(CachingAllocatorTest, TheCpuAllocatorCachesLargeBlocksOnly) {
  CpuAllocator a(CpuAllocator::kDefaultCaching);
  const size_t large = CpuAllocator::kDefaultCaching.min_cached_bytes;
  void* big = a.allocate(large, MemoryKind::kActivation);
  a.deallocate(big, large, MemoryKind::kActivation);
  EXPECT_EQ(a.cached_bytes(), static_cast<int64_t>(large));
  EXPECT_EQ(a.allocate(large, MemoryKind::kGradient), big);  // reused, whatever the kind
  EXPECT_EQ(a.stats(MemoryKind::kGradient).bytes_in_use, static_cast<int64_t>(large));
  EXPECT_EQ(a.stats(MemoryKind::kActivation).bytes_in_use, 0);
  a.deallocate(big, large, MemoryKind::kGradient);

  void* small = a.allocate(large - 1, MemoryKind::kActivation);
  a.deallocate(small, large - 1, MemoryKind::kActivation);
  EXPECT_EQ(a.cached_bytes(), static_cast<int64_t>(large));  // the small block was not kept
  a.release_cached();
  EXPECT_EQ(a.cached_bytes(), 0);
}

TEST(CachingAllocatorTest, TheCpuMemoryLimitCountsTheCachedBlocks) {
  CpuAllocator a(CpuAllocator::kDefaultCaching);
  const size_t block = size_t{1} << 20;
  a.set_byte_limit(static_cast<int64_t>(3 * block / 2));
  void* p = a.allocate(block, MemoryKind::kActivation);
  a.deallocate(p, block, MemoryKind::kActivation);
  EXPECT_EQ(a.cached_bytes(), static_cast<int64_t>(block));
  // A request of another size would pass the limit with the cache counted: the cache goes first.
  void* q = a.allocate(block + 4096, MemoryKind::kActivation);
  EXPECT_EQ(a.cached_bytes(), 0);
  EXPECT_LE(a.held_bytes(), a.byte_limit());
  a.deallocate(q, block + 4096, MemoryKind::kActivation);
}

TEST(CachingAllocatorTest, SanitizerBuildsCacheNothingOnTheCpu) {
  const CpuAllocator a;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  EXPECT_EQ(a.caching_options().min_cached_bytes, std::numeric_limits<size_t>::max());
#else
  EXPECT_EQ(a.caching_options().min_cached_bytes, CpuAllocator::kDefaultCaching.min_cached_bytes);
  EXPECT_EQ(a.caching_options().max_cached_bytes, CpuAllocator::kDefaultCaching.max_cached_bytes);
#endif
}

TEST(CachingAllocatorTest, RequestsAreRoundedToReusableSizes) {
  EXPECT_EQ(CachingAllocator::rounded_size(0), 512u);
  EXPECT_EQ(CachingAllocator::rounded_size(513), 1024u);
  EXPECT_EQ(CachingAllocator::rounded_size((8u << 20) + 1), 9u << 20);
}

}  // namespace
}  // namespace scopeflow
