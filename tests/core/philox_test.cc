#include "core/philox.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "scopeflow/error.h"

namespace scopeflow::random {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Block = std::array<uint32_t, 4>;

// Known-answer vectors for philox4x32_10 from Random123's kat_vectors.
TEST(PhiloxTest, KnownAnswerZero) {
  EXPECT_THAT(philox4x32_10({0, 0, 0, 0}, {0, 0}),
              ElementsAre(0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u));
}

TEST(PhiloxTest, KnownAnswerAllOnes) {
  EXPECT_THAT(philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                            {0xffffffffu, 0xffffffffu}),
              ElementsAre(0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu));
}

TEST(PhiloxTest, KnownAnswerPi) {
  EXPECT_THAT(philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
                            {0xa4093822u, 0x299f31d0u}),
              ElementsAre(0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u));
}

TEST(PhiloxTest, UnitFloatRange) {
  EXPECT_EQ(uint32_to_unit_float(0), 0.0f);
  EXPECT_LT(uint32_to_unit_float(0xffffffffu), 1.0f);
  EXPECT_EQ(uint32_to_unit_float(0xffffffffu), 1.0f - std::ldexp(1.0f, -24));
  EXPECT_EQ(uint32_to_unit_float(0x80000000u), 0.5f);
  // Only the top 24 bits matter.
  EXPECT_EQ(uint32_to_unit_float(0x800000ffu), 0.5f);
}

using FillFn = void (*)(uint64_t, uint64_t, float*, int64_t);

std::vector<float> fill(FillFn fn, uint64_t seed, uint64_t stream, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  fn(seed, stream, v.data(), n);
  return v;
}

bool same_bytes(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class PhiloxFillTest : public ::testing::TestWithParam<FillFn> {};

TEST_P(PhiloxFillTest, SameSeedsGiveIdenticalBytes) {
  EXPECT_TRUE(same_bytes(fill(GetParam(), 42, 7, 1001), fill(GetParam(), 42, 7, 1001)));
}

TEST_P(PhiloxFillTest, DifferentSeedOrStreamGivesDifferentValues) {
  const auto base = fill(GetParam(), 42, 7, 64);
  const auto other_seed = fill(GetParam(), 43, 7, 64);
  const auto other_stream = fill(GetParam(), 42, 8, 64);
  int same_seed_matches = 0;
  int same_stream_matches = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    same_seed_matches += base[i] == other_seed[i];
    same_stream_matches += base[i] == other_stream[i];
  }
  EXPECT_EQ(same_seed_matches, 0);
  EXPECT_EQ(same_stream_matches, 0);
}

TEST_P(PhiloxFillTest, ValueDependsOnlyOnIndexNotOnCount) {
  const auto big = fill(GetParam(), 123, 456, 1000);
  for (int64_t n : {1, 3, 7, 10, 13}) {
    const auto small = fill(GetParam(), 123, 456, n);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(small[i], big[i]) << "n=" << n << " i=" << i;
  }
}

TEST_P(PhiloxFillTest, ZeroCountWritesNothing) {
  float sentinel = 12.5f;
  GetParam()(1, 2, &sentinel, 0);
  EXPECT_EQ(sentinel, 12.5f);
  GetParam()(1, 2, nullptr, 0);
}

TEST_P(PhiloxFillTest, RejectsNegativeCountAndNullOutput) {
  float x = 0;
  try {
    GetParam()(1, 2, &x, -1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("[philox]"));
  }
  EXPECT_THROW(GetParam()(1, 2, nullptr, 4), Error);
}

INSTANTIATE_TEST_SUITE_P(AllFills, PhiloxFillTest,
                         ::testing::Values(&fill_uniform, &fill_normal, &fill_truncated_normal));

constexpr int64_t kSamples = 200000;

struct Moments {
  double mean = 0;
  double stddev = 0;
};

Moments moments(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += x;
  const double mean = sum / static_cast<double>(v.size());
  double sq = 0;
  for (float x : v) sq += (x - mean) * (x - mean);
  return {mean, std::sqrt(sq / static_cast<double>(v.size()))};
}

// Correlation of consecutive elements: catches words reused inside or across blocks.
double lag1_correlation(const std::vector<float>& v) {
  const Moments m = moments(v);
  double c = 0;
  for (size_t i = 0; i + 1 < v.size(); ++i) c += (v[i] - m.mean) * (v[i + 1] - m.mean);
  return c / static_cast<double>(v.size() - 1) / (m.stddev * m.stddev);
}

TEST(PhiloxStatsTest, UniformIsUniform) {
  const auto v = fill(fill_uniform, 2024, 1, kSamples);
  int buckets[10] = {};
  for (float x : v) {
    ASSERT_GE(x, 0.0f);
    ASSERT_LT(x, 1.0f);
    ++buckets[static_cast<int>(x * 10)];
  }
  for (int count : buckets) EXPECT_NEAR(count, kSamples / 10, kSamples / 10 * 0.03);
  const Moments m = moments(v);
  EXPECT_NEAR(m.mean, 0.5, 0.005);
  EXPECT_NEAR(m.stddev, std::sqrt(1.0 / 12), 0.005);
  EXPECT_NEAR(lag1_correlation(v), 0.0, 0.01);
}

TEST(PhiloxStatsTest, NormalHasUnitMoments) {
  const auto v = fill(fill_normal, 2024, 1, kSamples);
  const Moments m = moments(v);
  EXPECT_NEAR(m.mean, 0.0, 0.01);
  EXPECT_NEAR(m.stddev, 1.0, 0.01);
  EXPECT_NEAR(lag1_correlation(v), 0.0, 0.01);
  // About 4.55% of N(0, 1) lies beyond 2 sigma: the tails are really there.
  int64_t beyond = 0;
  for (float x : v) beyond += std::abs(x) > 2.0f;
  EXPECT_NEAR(static_cast<double>(beyond) / kSamples, 0.0455, 0.003);
}

TEST(PhiloxStatsTest, TruncatedNormalStaysWithinTwoSigma) {
  const auto v = fill(fill_truncated_normal, 2024, 1, kSamples);
  for (float x : v) ASSERT_LE(std::abs(x), 2.0f);
  const Moments m = moments(v);
  EXPECT_NEAR(m.mean, 0.0, 0.01);
  // Stddev of N(0, 1) truncated to [-2, 2].
  EXPECT_NEAR(m.stddev, 0.87962566103423978, 0.01);
  EXPECT_NEAR(lag1_correlation(v), 0.0, 0.01);
}

}  // namespace
}  // namespace scopeflow::random
