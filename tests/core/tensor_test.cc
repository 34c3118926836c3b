#include "scopeflow/tensor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <memory>
#include <utility>
#include <vector>

#include "scopeflow/error.h"
#include "test_util.h"

namespace scopeflow {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using test::error_of;

TEST(TensorTest, DefaultIsUndefined) {
  const Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_EQ(t.raw_data(), nullptr);
  EXPECT_FALSE(t.shares_buffer_with(Tensor()));
}

TEST(TensorTest, DefaultIsEmptyNotANullScalar) {
  // It once reported a scalar: one element and 4 bytes, with no memory behind them.
  const Tensor t;
  EXPECT_EQ(t.num_elements(), 0);
  EXPECT_EQ(t.byte_size(), 0u);
  EXPECT_EQ(t.shape(), Shape({0}));
  EXPECT_EQ(t.shape().num_elements(), t.num_elements());
  EXPECT_FALSE(t.shape().is_scalar());
  EXPECT_EQ(t.description(), "undefined");
  EXPECT_TRUE(t.to_vector<float>().empty());
  EXPECT_FALSE(t.clone().defined());
  EXPECT_THAT(error_of([&] { (void)t.reshaped(Shape{0}); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("undefined tensor")));

  // A moved-from tensor holds no buffer either, and says so the same way.
  Tensor source = Tensor::from_vector<float>(Shape{2, 2}, {1, 2, 3, 4});
  const Tensor target = std::move(source);
  EXPECT_EQ(target.num_elements(), 4);
  EXPECT_FALSE(source.defined());  // NOLINT(bugprone-use-after-move): what it reports is the point
  EXPECT_EQ(source.num_elements(), 0);
  EXPECT_EQ(source.byte_size(), 0u);

  // A defined tensor with no elements is empty too, but has its buffer and shape.
  const Tensor empty(DType::kFloat32, Shape{0, 3});
  EXPECT_TRUE(empty.defined());
  EXPECT_EQ(empty.shape(), Shape({0, 3}));
  EXPECT_EQ(empty.num_elements(), 0);
  EXPECT_EQ(empty.description(), "float32 (0, 3)");
}

TEST(TensorTest, FromVectorKeepsValuesShapeAndDtype) {
  const Tensor t = Tensor::from_vector<float>(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  EXPECT_EQ(t.shape(), Shape({2, 3}));
  EXPECT_EQ(t.num_elements(), 6);
  EXPECT_EQ(t.byte_size(), 24u);
  EXPECT_EQ(t.device(), Device::cpu());
  EXPECT_THAT(t.to_vector<float>(), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_EQ(t.description(), "float32 (2, 3)");

  const Tensor i = Tensor::from_vector<int64_t>(Shape{2}, {-7, int64_t{1} << 40});
  EXPECT_EQ(i.dtype(), DType::kInt64);
  EXPECT_EQ(i.byte_size(), 16u);
  EXPECT_THAT(i.to_vector<int64_t>(), ElementsAre(-7, int64_t{1} << 40));

  const Tensor s = Tensor::scalar<int32_t>(42);
  EXPECT_EQ(s.dtype(), DType::kInt32);
  EXPECT_TRUE(s.shape().is_scalar());
  EXPECT_THAT(s.to_vector<int32_t>(), ElementsAre(42));
}

TEST(TensorTest, FromVectorSizeMismatchIsRejected) {
  test::ThrownError e = error_of([] { (void)Tensor::from_vector<float>(Shape{2, 3}, {1, 2, 3, 4, 5}); });
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.message, StartsWith("[tensor]"));
  EXPECT_THAT(e.message, HasSubstr("(2, 3)"));
  EXPECT_THAT(e.message, HasSubstr("5"));

  EXPECT_EQ(error_of([] { (void)Tensor::from_vector<float>(Shape{}, std::vector<float>{}); })
                  .code,
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      error_of([] { (void)Tensor::from_vector<int32_t>(Shape{0}, std::vector<int32_t>{1}); })
          .code,
            absl::StatusCode::kInvalidArgument);
}

TEST(TensorTest, EmptyTensorFromEmptyVector) {
  const Tensor t = Tensor::from_vector<float>(Shape{0, 4}, std::vector<float>{});
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.num_elements(), 0);
  EXPECT_EQ(t.byte_size(), 0u);
  EXPECT_NE(t.raw_data(), nullptr);
  EXPECT_TRUE(t.to_vector<float>().empty());
}

TEST(TensorTest, Zeros) {
  const Tensor f = Tensor::zeros(DType::kFloat32, Shape{3, 5});
  EXPECT_EQ(f.shape(), Shape({3, 5}));
  EXPECT_THAT(f.to_vector<float>(), Each(0.0f));
  EXPECT_EQ(f.to_vector<float>().size(), 15u);
  const Tensor i = Tensor::zeros(DType::kInt64, Shape{4});
  EXPECT_THAT(i.to_vector<int64_t>(), ElementsAre(0, 0, 0, 0));
  const Tensor e = Tensor::zeros(DType::kInt32, Shape{0});
  EXPECT_EQ(e.num_elements(), 0);
}

TEST(TensorTest, CopiesShareTheBuffer) {
  const Tensor a = Tensor::from_vector<float>(Shape{2}, {1, 2});
  const Tensor b = a;  // NOLINT: a copy is the point
  EXPECT_TRUE(a.shares_buffer_with(b));
  b.data<float>()[0] = 9;
  EXPECT_EQ(a.to_vector<float>()[0], 9.0f);
}

TEST(TensorTest, ReshapedSharesTheBuffer) {
  const Tensor a = Tensor::from_vector<float>(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor r = a.reshaped(Shape{3, 2});
  EXPECT_EQ(r.shape(), Shape({3, 2}));
  EXPECT_EQ(r.dtype(), DType::kFloat32);
  EXPECT_TRUE(r.shares_buffer_with(a));
  EXPECT_EQ(r.raw_data(), a.raw_data());
  r.data<float>()[5] = -1;
  EXPECT_EQ(a.to_vector<float>()[5], -1.0f);
  const Tensor flat = a.reshaped(Shape{6});
  EXPECT_THAT(flat.to_vector<float>(), ElementsAre(1, 2, 3, 4, 5, -1));
  const Tensor one = Tensor::scalar(3.0f).reshaped(Shape{1, 1});
  EXPECT_THAT(one.to_vector<float>(), ElementsAre(3.0f));
}

TEST(TensorTest, ReshapedRejectsWrongCount) {
  const Tensor a = Tensor::from_vector<float>(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  test::ThrownError e = error_of([&] { (void)a.reshaped(Shape{4, 2}); });
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.message, StartsWith("[tensor]"));
  EXPECT_THAT(e.message, HasSubstr("(2, 3)"));
  EXPECT_THAT(e.message, HasSubstr("(4, 2)"));
  EXPECT_EQ(error_of([&] { (void)a.reshaped(Shape{}); }).code,
            absl::StatusCode::kInvalidArgument);
}

TEST(TensorTest, CloneIsDeep) {
  const Tensor a = Tensor::from_vector<int32_t>(Shape{2, 2}, {1, 2, 3, 4});
  const Tensor c = a.clone();
  EXPECT_FALSE(c.shares_buffer_with(a));
  EXPECT_NE(c.raw_data(), a.raw_data());
  EXPECT_EQ(c.shape(), a.shape());
  EXPECT_EQ(c.dtype(), a.dtype());
  EXPECT_THAT(c.to_vector<int32_t>(), ElementsAre(1, 2, 3, 4));
  c.data<int32_t>()[0] = 100;
  a.data<int32_t>()[3] = -4;
  EXPECT_THAT(a.to_vector<int32_t>(), ElementsAre(1, 2, 3, -4));
  EXPECT_THAT(c.to_vector<int32_t>(), ElementsAre(100, 2, 3, 4));
}

TEST(TensorTest, CloneIntoAnotherAllocatorCountsThere) {
  auto allocator = std::make_shared<CpuAllocator>();
  const Tensor a = Tensor::from_vector<float>(Shape{4}, {1, 2, 3, 4});
  {
    const Tensor c = a.clone(allocator, MemoryKind::kActivation);
    EXPECT_EQ(c.buffer()->kind(), MemoryKind::kActivation);
    EXPECT_EQ(allocator->stats(MemoryKind::kActivation).bytes_in_use, 16);
    EXPECT_THAT(c.to_vector<float>(), ElementsAre(1, 2, 3, 4));
  }
  EXPECT_EQ(allocator->stats(MemoryKind::kActivation).bytes_in_use, 0);
}

TEST(TensorTest, WrongTypedAccessThrows) {
  const Tensor f = Tensor::from_vector<float>(Shape{2}, {1, 2});
  test::ThrownError e = error_of([&] { (void)f.data<int32_t>(); });
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.message, StartsWith("[tensor]"));
  EXPECT_THAT(e.message, HasSubstr("int32"));
  EXPECT_THAT(e.message, HasSubstr("float32"));
  EXPECT_THROW((void)f.to_vector<int64_t>(), Error);

  const Tensor i = Tensor::from_vector<int32_t>(Shape{1}, {1});
  EXPECT_THROW((void)i.data<float>(), Error);
  EXPECT_THROW((void)i.data<int64_t>(), Error);
  EXPECT_NO_THROW((void)i.data<int32_t>());
}

TEST(TensorTest, ViewOfTooSmallBufferIsRejected) {
  const Tensor a = Tensor::from_vector<float>(Shape{4}, {1, 2, 3, 4});
  EXPECT_NO_THROW(Tensor(DType::kInt32, Shape{2, 2}, a.buffer()));
  EXPECT_THROW(Tensor(DType::kInt64, Shape{4}, a.buffer()), Error);
  EXPECT_THROW(Tensor(DType::kFloat32, Shape{1}, std::shared_ptr<Buffer>()), Error);
}

TEST(TensorTest, ByteSizeOverflowIsRejectedBeforeAllocating) {
  auto allocator = std::make_shared<CpuAllocator>();
  // 2^62 elements fit as a count but 2^64 bytes do not.
  test::ThrownError e = error_of([&] {
    Tensor t(DType::kFloat32, Shape{int64_t{1} << 31, int64_t{1} << 31}, allocator);
  });
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.message, StartsWith("[shape]"));
  EXPECT_EQ(allocator->stats().total_allocations, 0);
}

// Three values of each element type, as raw bits for comparison.
template <typename T>
std::vector<T> sample_values() {
  if constexpr (std::is_same_v<T, bool>) {
    return {true, false, true};
  } else if constexpr (is_half_type_v<T>) {
    return {T(1.5f), T(-0.25f), T(1024.0f)};
  } else {
    return {T(1), T(-2), T(100)};  // -2 wraps for unsigned types, which is fine here
  }
}

template <typename T>
std::vector<uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<uint8_t> out(v.size() * sizeof(T));
  for (size_t i = 0; i < v.size(); ++i) {
    const T element = v[i];  // std::vector<bool> has no addressable elements
    std::memcpy(out.data() + i * sizeof(T), &element, sizeof(T));
  }
  return out;
}

TEST(TensorTest, EveryDtypeRoundTripsThroughVectorsScalarsAndZeros) {
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(dtype_name(dtype));
    dispatch_dtype(dtype, [&]<class T>() {
      const std::vector<T> values = sample_values<T>();
      const Tensor t = Tensor::from_vector<T>(Shape{3}, values);
      EXPECT_EQ(t.dtype(), dtype);
      EXPECT_EQ(t.byte_size(), 3 * dtype_size(dtype));
      EXPECT_EQ(bytes_of(t.to_vector<T>()), bytes_of(values));
      EXPECT_EQ(t.description(), std::string(dtype_name(dtype)) + " (3,)");

      const Tensor s = Tensor::scalar<T>(values[0]);
      EXPECT_EQ(s.dtype(), dtype);
      EXPECT_EQ(bytes_of(s.to_vector<T>()), bytes_of(std::vector<T>{values[0]}));

      const Tensor z = Tensor::zeros(dtype, Shape{2, 2});
      EXPECT_EQ(bytes_of(z.to_vector<T>()), std::vector<uint8_t>(4 * sizeof(T), 0));
      EXPECT_EQ(z.description(), std::string(dtype_name(dtype)) + " (2, 2)");

      // Asking for another element type is an error naming both dtypes.
      const DType other = dtype == DType::kFloat64 ? DType::kInt8 : DType::kFloat64;
      EXPECT_THAT(test::error_message_of([&] { (void)t.data<double>(); (void)t.data<int8_t>(); }),
                  AllOf(StartsWith("[tensor]"), HasSubstr(dtype_name(dtype)), HasSubstr(dtype_name(other))));
    });
  }
}

TEST(TensorTest, BoolVectorsAreStoredOneBytePerElement) {
  const Tensor t = Tensor::from_vector<bool>(Shape{2, 2}, std::vector<bool>{true, false, false, true});
  EXPECT_EQ(t.byte_size(), 4u);
  EXPECT_THAT(t.to_vector<bool>(), ElementsAre(true, false, false, true));
  const auto* raw = static_cast<const uint8_t*>(t.raw_data());
  EXPECT_THAT(std::vector<uint8_t>(raw, raw + 4), ElementsAre(1, 0, 0, 1));
}

TEST(TensorTest, HalfTypesKeepTheirBits) {
  const Tensor h = Tensor::from_vector<Float16>(Shape{2}, {Float16::from_bits(0x7c00), Float16::from_bits(0x0001)});
  EXPECT_EQ(h.to_vector<Float16>()[0].bits, 0x7c00);
  EXPECT_EQ(h.to_vector<Float16>()[1].bits, 0x0001);
  const Tensor b = Tensor::scalar(BFloat16(2.0f));
  EXPECT_EQ(b.dtype(), DType::kBFloat16);
  EXPECT_EQ(static_cast<float>(b.to_vector<BFloat16>()[0]), 2.0f);
}

}  // namespace
}  // namespace scopeflow
