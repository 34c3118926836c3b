#include "scopeflow/dtype.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <string>

#include "test_util.h"

namespace scopeflow {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

float from_bits(uint32_t u) { return std::bit_cast<float>(u); }
uint32_t to_bits(float f) { return std::bit_cast<uint32_t>(f); }

TEST(DTypeTest, SizesNamesAndTensorFlowNumbers) {
  struct Expected {
    DType dtype;
    size_t size;
    const char* name;
    int tf;  // types.proto DataType
    bool floating;
    bool integer;
  };
  const Expected expected[] = {
      {DType::kFloat32, 4, "float32", 1, true, false},  {DType::kFloat64, 8, "float64", 2, true, false},
      {DType::kInt32, 4, "int32", 3, false, true},      {DType::kUInt8, 1, "uint8", 4, false, true},
      {DType::kInt16, 2, "int16", 5, false, true},      {DType::kInt8, 1, "int8", 6, false, true},
      {DType::kInt64, 8, "int64", 9, false, true},      {DType::kBool, 1, "bool", 10, false, false},
      {DType::kBFloat16, 2, "bfloat16", 14, true, false}, {DType::kUInt16, 2, "uint16", 17, false, true},
      {DType::kFloat16, 2, "float16", 19, true, false},
  };
  ASSERT_EQ(std::size(expected), std::size(kAllDTypes));
  for (const Expected& e : expected) {
    SCOPED_TRACE(e.name);
    EXPECT_EQ(dtype_size(e.dtype), e.size);
    EXPECT_STREQ(dtype_name(e.dtype), e.name);
    EXPECT_EQ(tf_data_type(e.dtype), e.tf);
    EXPECT_EQ(is_floating(e.dtype), e.floating);
    EXPECT_EQ(is_integer(e.dtype), e.integer);
  }
}

TEST(DTypeTest, TheFirstFourKeepTheirValues) {
  EXPECT_EQ(static_cast<int>(DType::kFloat32), 0);
  EXPECT_EQ(static_cast<int>(DType::kInt32), 1);
  EXPECT_EQ(static_cast<int>(DType::kInt64), 2);
  EXPECT_EQ(static_cast<int>(DType::kBool), 3);
}

TEST(DTypeTest, DispatchGivesTheElementTypeOfEachDType) {
  for (DType d : kAllDTypes) {
    EXPECT_EQ(dispatch_dtype(d, []<class T>() { return DTypeOf<T>::value; }), d) << dtype_name(d);
    EXPECT_EQ(dispatch_dtype(d, []<class T>() { return sizeof(T); }), dtype_size(d)) << dtype_name(d);
  }
}

TEST(DTypeTest, AnInvalidValueIsAClearError) {
  const DType bad = static_cast<DType>(200);
  EXPECT_THAT(test::error_message_of([&] { (void)dtype_size(bad); }),
              AllOf(StartsWith("[dtype]"), HasSubstr("200")));
  EXPECT_STREQ(dtype_name(bad), "unknown");
  EXPECT_FALSE(is_floating(bad));
}

TEST(Float16Test, KnownValues) {
  EXPECT_EQ(Float16(1.0f).bits, 0x3c00);
  EXPECT_EQ(Float16(-2.0f).bits, 0xc000);
  EXPECT_EQ(Float16(0.0f).bits, 0x0000);
  EXPECT_EQ(Float16(-0.0f).bits, 0x8000);
  EXPECT_EQ(Float16(65504.0f).bits, 0x7bff);  // largest finite
  EXPECT_EQ(Float16(0.1f).bits, 0x2e66);
  EXPECT_EQ(static_cast<float>(Float16::from_bits(0x3555)), 0.333251953125f);
}

TEST(Float16Test, InfinitiesAndOverflow) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(Float16(inf).bits, 0x7c00);
  EXPECT_EQ(Float16(-inf).bits, 0xfc00);
  EXPECT_EQ(Float16(65519.996f).bits, 0x7bff);  // below the midpoint to 2^16: stays finite
  EXPECT_EQ(Float16(65520.0f).bits, 0x7c00);    // the midpoint rounds to even: Inf
  EXPECT_EQ(Float16(1e10f).bits, 0x7c00);
  EXPECT_EQ(Float16(-1e10f).bits, 0xfc00);
  EXPECT_EQ(static_cast<float>(Float16::from_bits(0x7c00)), inf);
  EXPECT_EQ(static_cast<float>(Float16::from_bits(0xfc00)), -inf);
}

TEST(Float16Test, NaNStaysNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Float16 h(nan);
  EXPECT_EQ(h.bits & 0x7c00, 0x7c00);
  EXPECT_NE(h.bits & 0x03ff, 0);
  EXPECT_TRUE(std::isnan(static_cast<float>(h)));
  EXPECT_TRUE(std::isnan(static_cast<float>(Float16(-nan))));
  EXPECT_TRUE(std::isnan(static_cast<float>(Float16::from_bits(0x7c01))));  // signalling payload
}

TEST(Float16Test, Subnormals) {
  const float tiny = std::ldexp(1.0f, -24);  // smallest subnormal half
  EXPECT_EQ(Float16(tiny).bits, 0x0001);
  EXPECT_EQ(Float16(-tiny).bits, 0x8001);
  EXPECT_EQ(Float16(1023 * tiny).bits, 0x03ff);             // largest subnormal
  EXPECT_EQ(Float16(std::ldexp(1.0f, -14)).bits, 0x0400);  // smallest normal
  EXPECT_EQ(Float16(0.5f * tiny).bits, 0x0000);            // tie between 0 and 1: even (0)
  EXPECT_EQ(Float16(1.5f * tiny).bits, 0x0002);            // tie between 1 and 2: even (2)
  EXPECT_EQ(Float16(2.5f * tiny).bits, 0x0002);            // tie between 2 and 3: even (2)
  EXPECT_EQ(Float16(0.50001f * tiny).bits, 0x0001);        // above the tie
  EXPECT_EQ(Float16(std::ldexp(1.0f, -30)).bits, 0x0000);  // underflows to zero
  EXPECT_EQ(static_cast<float>(Float16::from_bits(0x0001)), tiny);
  EXPECT_EQ(static_cast<float>(Float16::from_bits(0x03ff)), 1023 * tiny);
  EXPECT_TRUE(std::signbit(static_cast<float>(Float16::from_bits(0x8000))));
}

TEST(Float16Test, EveryValueRoundTripsThroughFloat) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const Float16 h = Float16::from_bits(static_cast<uint16_t>(b));
    const float f = static_cast<float>(h);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(static_cast<float>(Float16(f)))) << std::hex << b;
    } else {
      ASSERT_EQ(Float16(f).bits, b) << std::hex << b;
    }
  }
}

// Exhaustive round-to-nearest-even: each midpoint of two neighbouring finite halves goes to the
// even one, and the floats just beside it go to the nearer one.
TEST(Float16Test, MidpointsRoundToEven) {
  for (uint32_t b = 0; b < 0x7bff; ++b) {
    const float lo = static_cast<float>(Float16::from_bits(static_cast<uint16_t>(b)));
    const float hi = static_cast<float>(Float16::from_bits(static_cast<uint16_t>(b + 1)));
    const float mid = (lo + hi) / 2;  // exact: halves carry at most 11 significant bits
    const uint32_t even = (b % 2 == 0) ? b : b + 1;
    ASSERT_EQ(Float16(mid).bits, even) << std::hex << b;
    ASSERT_EQ(Float16(std::nextafter(mid, 0.0f)).bits, b) << std::hex << b;
    ASSERT_EQ(Float16(std::nextafter(mid, hi)).bits, b + 1) << std::hex << b;
    ASSERT_EQ(Float16(-mid).bits, even | 0x8000) << std::hex << b;
  }
}

TEST(BFloat16Test, KnownValuesAndRounding) {
  EXPECT_EQ(BFloat16(1.0f).bits, 0x3f80);
  EXPECT_EQ(BFloat16(-2.0f).bits, 0xc000);
  EXPECT_EQ(BFloat16(from_bits(0x3f808000)).bits, 0x3f80);  // tie: even
  EXPECT_EQ(BFloat16(from_bits(0x3f818000)).bits, 0x3f82);  // tie: even
  EXPECT_EQ(BFloat16(from_bits(0x3f808001)).bits, 0x3f81);  // above the tie
  EXPECT_EQ(BFloat16(from_bits(0x3f807fff)).bits, 0x3f80);  // below the tie
  EXPECT_EQ(BFloat16(3.14159265f).bits, 0x4049);
  EXPECT_EQ(static_cast<float>(BFloat16::from_bits(0x4049)), 3.140625f);
}

TEST(BFloat16Test, InfinitiesNaNAndSubnormals) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(BFloat16(inf).bits, 0x7f80);
  EXPECT_EQ(BFloat16(-inf).bits, 0xff80);
  EXPECT_EQ(BFloat16(std::numeric_limits<float>::max()).bits, 0x7f80);  // rounds up to Inf
  EXPECT_EQ(BFloat16(from_bits(0x7f7f7fff)).bits, 0x7f7f);              // stays finite
  const BFloat16 nan(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(static_cast<float>(nan)));
  // A NaN whose payload sits only in the low bits must not round to Inf.
  EXPECT_TRUE(std::isnan(static_cast<float>(BFloat16(from_bits(0x7f800001)))));
  EXPECT_EQ(BFloat16(from_bits(0x00008000)).bits, 0x0000);  // subnormal tie: even
  EXPECT_EQ(BFloat16(from_bits(0x00018000)).bits, 0x0002);
  EXPECT_EQ(BFloat16(from_bits(0x00010000)).bits, 0x0001);
  EXPECT_EQ(to_bits(static_cast<float>(BFloat16::from_bits(0x0001))), 0x00010000u);
}

TEST(BFloat16Test, EveryValueRoundTripsThroughFloat) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const BFloat16 h = BFloat16::from_bits(static_cast<uint16_t>(b));
    const float f = static_cast<float>(h);
    ASSERT_EQ(to_bits(f), b << 16);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(static_cast<float>(BFloat16(f)))) << std::hex << b;
    } else {
      ASSERT_EQ(BFloat16(f).bits, b) << std::hex << b;
    }
  }
}

}  // namespace
}  // namespace scopeflow
