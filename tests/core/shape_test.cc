#include "scopeflow/shape.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "scopeflow/error.h"
#include "test_util.h"

namespace scopeflow {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using test::error_of;

TEST(ShapeTest, ScalarHasRankZeroAndOneElement) {
  const Shape s;
  EXPECT_EQ(s.rank(), 0);
  EXPECT_TRUE(s.is_scalar());
  EXPECT_EQ(s.num_elements(), 1);
  EXPECT_TRUE(s.dims().empty());
  EXPECT_EQ(s.to_string(), "()");
  EXPECT_EQ(Shape(std::vector<int64_t>{}), s);
}

TEST(ShapeTest, DimsAndElementCount) {
  const Shape s{10, 5};
  EXPECT_EQ(s.rank(), 2);
  EXPECT_FALSE(s.is_scalar());
  EXPECT_THAT(s.dims(), ElementsAre(10, 5));
  EXPECT_EQ(s.num_elements(), 50);
  EXPECT_EQ(s.dim(0), 10);
  EXPECT_EQ(s.dim(1), 5);
  EXPECT_EQ(s.dim(-1), 5);
  EXPECT_EQ(s.dim(-2), 10);
}

TEST(ShapeTest, ConstructorsAgree) {
  const std::vector<int64_t> dims{2, 3, 4};
  const Shape a{2, 3, 4};
  const Shape b(dims);
  const Shape c{std::span<const int64_t>(dims)};
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);
  EXPECT_EQ(a.num_elements(), 24);
  EXPECT_FALSE(a == Shape({2, 3}));
  EXPECT_FALSE(a == Shape({4, 3, 2}));
}

TEST(ShapeTest, ZeroDimensionsGiveZeroElements) {
  EXPECT_EQ(Shape({0}).num_elements(), 0);
  EXPECT_EQ(Shape({3, 0}).num_elements(), 0);
  EXPECT_EQ(Shape({0, 7, 9}).num_elements(), 0);
  // A zero dimension makes the count 0 even when the other dimensions would overflow.
  EXPECT_EQ(Shape({int64_t{1} << 40, 0, int64_t{1} << 40}).num_elements(), 0);
  EXPECT_EQ(Shape({3, 0}).to_string(), "(3, 0)");
}

TEST(ShapeTest, ToStringMatchesTensorFlow) {
  EXPECT_EQ(Shape({10, 5}).to_string(), "(10, 5)");
  EXPECT_EQ(Shape({8}).to_string(), "(8,)");
  EXPECT_EQ(Shape().to_string(), "()");
  EXPECT_EQ(Shape({2, 3, 4}).to_string(), "(2, 3, 4)");
}

TEST(ShapeTest, NegativeDimensionIsRejected) {
  test::ThrownError e = error_of([] { Shape s{3, -1}; });
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.message, StartsWith("[shape]"));
  EXPECT_THAT(e.message, HasSubstr("negative"));
  EXPECT_THAT(e.message, HasSubstr("-1"));

  e = error_of([] { Shape s(std::vector<int64_t>{-5}); });
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.message, StartsWith("[shape]"));
}

TEST(ShapeTest, ElementCountOverflowIsRejected) {
  test::ThrownError e = error_of([] { Shape s{int64_t{1} << 32, int64_t{1} << 32}; });
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.message, StartsWith("[shape]"));
  EXPECT_THAT(e.message, HasSubstr("overflow"));

  e = error_of([] { Shape s{std::numeric_limits<int64_t>::max(), 2}; });
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);

  // The largest count that fits is accepted.
  EXPECT_EQ(Shape({int64_t{1} << 31, int64_t{1} << 31}).num_elements(), int64_t{1} << 62);
  EXPECT_EQ(Shape({std::numeric_limits<int64_t>::max()}).num_elements(),
            std::numeric_limits<int64_t>::max());
}

TEST(ShapeTest, DimIndexOutOfRangeIsRejected) {
  const Shape s{4, 6};
  for (int bad : {2, -3, 100}) {
    test::ThrownError e = error_of([&] { (void)s.dim(bad); });
    EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(e.message, StartsWith("[shape]"));
  }
  EXPECT_EQ(error_of([] { (void)Shape().dim(-1); }).code,
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(error_of([] { (void)Shape().dim(0); }).code,
            absl::StatusCode::kInvalidArgument);
}

TEST(ShapeTest, CheckedByteSize) {
  EXPECT_EQ(checked_byte_size(50, 4), 200);
  EXPECT_EQ(checked_byte_size(0, 8), 0);
  EXPECT_EQ(checked_byte_size(int64_t{1} << 60, 4), int64_t{1} << 62);

  test::ThrownError e = error_of([] { (void)checked_byte_size(int64_t{1} << 62, 4); });
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.message, StartsWith("[shape]"));
  EXPECT_THAT(e.message, HasSubstr("overflow"));

  EXPECT_EQ(error_of([] { (void)checked_byte_size(std::numeric_limits<int64_t>::max(), 2); })
                  .code,
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(error_of([] { (void)checked_byte_size(-1, 4); }).code,
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace scopeflow
