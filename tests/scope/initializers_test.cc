#include "scopeflow/initializers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "scopeflow/error.h"
#include "scopeflow/tensor.h"

namespace scopeflow {
namespace {

using ::testing::AllOf;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr double kTruncatedStddev = 0.87962566103423978;

std::vector<float> fill_float(const Initializer& init, const Shape& shape,
                              uint64_t graph_seed = 1, uint64_t op_seed = 2) {
  std::vector<float> v(static_cast<size_t>(shape.num_elements()));
  fill_initial_values(init, DType::kFloat32, shape, graph_seed, op_seed, v.data());
  return v;
}

template <typename T>
std::vector<T> fill_int(const Initializer& init, const Shape& shape) {
  std::vector<T> v(static_cast<size_t>(shape.num_elements()), T{77});
  fill_initial_values(init, DTypeOf<T>::value, shape, 1, 2, v.data());
  return v;
}

bool same_bytes(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Runs `fn`, expects an Error whose message starts with "[initializer]" and contains `pieces`.
void expect_initializer_error(const std::function<void()>& fn,
                              const std::vector<std::string>& pieces) {
  try {
    fn();
    ADD_FAILURE() << "expected an [initializer] error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), StartsWith("[initializer]"));
    for (const auto& piece : pieces) EXPECT_THAT(e.what(), HasSubstr(piece));
    EXPECT_EQ(e.code(), absl::StatusCode::kInvalidArgument);
  }
}

struct Moments {
  double mean = 0;
  double variance = 0;
};

Moments moments(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += x;
  const double mean = sum / static_cast<double>(v.size());
  double sq = 0;
  for (float x : v) sq += (x - mean) * (x - mean);
  return {mean, sq / static_cast<double>(v.size())};
}

TEST(InitializerTest, NamesMatchKeras) {
  EXPECT_EQ(init::zeros().name(), "zeros");
  EXPECT_EQ(init::ones().name(), "ones");
  EXPECT_EQ(init::constant(3).name(), "constant");
  EXPECT_EQ(init::random_normal().name(), "random_normal");
  EXPECT_EQ(init::truncated_normal().name(), "truncated_normal");
  EXPECT_EQ(init::random_uniform().name(), "random_uniform");
  EXPECT_EQ(init::glorot_uniform().name(), "glorot_uniform");
  EXPECT_EQ(init::glorot_normal().name(), "glorot_normal");
  EXPECT_EQ(init::he_normal().name(), "he_normal");
}

TEST(InitializerTest, FactoriesStoreParametersAndDefaults) {
  const Initializer u = init::random_uniform();
  EXPECT_EQ(u.kind, InitializerKind::kRandomUniform);
  EXPECT_EQ(u.minval, 0);
  EXPECT_EQ(u.maxval, 1);
  EXPECT_FALSE(u.seed.has_value());
  const Initializer n = init::random_normal(2, 3, 9);
  EXPECT_EQ(n.mean, 2);
  EXPECT_EQ(n.stddev, 3);
  EXPECT_EQ(n.seed, 9);
  EXPECT_EQ(init::constant(-4.5).value, -4.5);
  EXPECT_EQ(init::he_normal(11).seed, 11);
}

TEST(InitializerTest, DefaultInitializerDependsOnDType) {
  EXPECT_EQ(default_initializer(DType::kFloat32).kind, InitializerKind::kGlorotUniform);
  EXPECT_EQ(default_initializer(DType::kInt32).kind, InitializerKind::kZeros);
  EXPECT_EQ(default_initializer(DType::kInt64).kind, InitializerKind::kZeros);
}

TEST(FansTest, AllRanks) {
  auto fans = [](const Shape& s) {
    const Fans f = compute_fans(s);
    return std::vector<int64_t>{f.fan_in, f.fan_out};
  };
  EXPECT_EQ(fans(Shape{}), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(fans(Shape{5}), (std::vector<int64_t>{5, 5}));
  EXPECT_EQ(fans(Shape{3, 4}), (std::vector<int64_t>{3, 4}));
  // Receptive field 2: fan_in = 3 * 2, fan_out = 4 * 2.
  EXPECT_EQ(fans(Shape{2, 3, 4}), (std::vector<int64_t>{6, 8}));
  // Conv kernel (h, w, in, out): receptive field 3 * 5.
  EXPECT_EQ(fans(Shape{3, 5, 7, 11}), (std::vector<int64_t>{105, 165}));
  EXPECT_EQ(fans(Shape{0, 5}), (std::vector<int64_t>{0, 5}));
}

TEST(FillTest, ConstantsOnFloat) {
  EXPECT_THAT(fill_float(init::zeros(), Shape{2, 3}), Each(0.0f));
  EXPECT_THAT(fill_float(init::ones(), Shape{4}), Each(1.0f));
  EXPECT_THAT(fill_float(init::constant(-2.25), Shape{3, 1}), Each(-2.25f));
  EXPECT_THAT(fill_float(init::constant(7), Shape{}), Each(7.0f));
}

TEST(FillTest, ConstantsOnIntegers) {
  EXPECT_THAT(fill_int<int32_t>(init::zeros(), Shape{5}), Each(0));
  EXPECT_THAT(fill_int<int32_t>(init::ones(), Shape{2, 2}), Each(1));
  EXPECT_THAT(fill_int<int32_t>(init::constant(-2147483648.0), Shape{3}), Each(INT32_MIN));
  EXPECT_THAT(fill_int<int32_t>(init::constant(2147483647.0), Shape{3}), Each(INT32_MAX));
  EXPECT_THAT(fill_int<int64_t>(init::constant(-5), Shape{2}), Each(int64_t{-5}));
  EXPECT_THAT(fill_int<int64_t>(init::constant(9007199254740992.0), Shape{1}),
              Each(int64_t{9007199254740992}));
  EXPECT_THAT(fill_int<int64_t>(init::constant(-9223372036854775808.0), Shape{1}),
              Each(std::numeric_limits<int64_t>::min()));
  EXPECT_THAT(fill_int<int64_t>(init::ones(), Shape{}), Each(int64_t{1}));
}

TEST(FillTest, IntegerConstantMustBeExactAndInRange) {
  expect_initializer_error([] { fill_int<int32_t>(init::constant(1.5), Shape{2}); },
                           {"constant", "1.5", "int32"});
  expect_initializer_error([] { fill_int<int32_t>(init::constant(2147483648.0), Shape{2}); },
                           {"constant", "int32"});
  expect_initializer_error([] { fill_int<int32_t>(init::constant(-2147483649.0), Shape{2}); },
                           {"constant", "int32"});
  expect_initializer_error(
      [] { fill_int<int64_t>(init::constant(9223372036854775808.0), Shape{2}); },
      {"constant", "int64"});
}

TEST(FillTest, RandomInitializersRejectIntegerDTypes) {
  const std::vector<Initializer> randoms = {
      init::random_normal(),  init::truncated_normal(), init::random_uniform(),
      init::glorot_uniform(), init::glorot_normal(),    init::he_normal()};
  for (const Initializer& r : randoms) {
    expect_initializer_error([&] { fill_int<int32_t>(r, Shape{2, 2}); }, {r.name(), "int32"});
    expect_initializer_error([&] { fill_int<int64_t>(r, Shape{2, 2}); }, {r.name(), "int64"});
    // The dtype is wrong whatever the shape, so even an empty one fails.
    expect_initializer_error([&] { fill_int<int64_t>(r, Shape{0}); }, {r.name(), "int64"});
  }
}

TEST(FillTest, EmptyShapeWritesNothing) {
  for (const Initializer& i : {init::zeros(), init::constant(3), init::random_normal(),
                               init::truncated_normal(), init::random_uniform(),
                               init::glorot_uniform(), init::glorot_normal(), init::he_normal()}) {
    float sentinel = 42.0f;
    fill_initial_values(i, DType::kFloat32, Shape{0, 5}, 1, 2, &sentinel);
    EXPECT_EQ(sentinel, 42.0f) << i.name();
    // Zero fans (a dim of 0) divide nothing by zero, and a null pointer is fine for no data.
    fill_initial_values(i, DType::kFloat32, Shape{3, 0}, 1, 2, nullptr);
    fill_initial_values(i, DType::kFloat32, Shape{0, 0, 4, 4}, 1, 2, nullptr);
  }
  int32_t int_sentinel = 42;
  fill_initial_values(init::ones(), DType::kInt32, Shape{0}, 1, 2, &int_sentinel);
  EXPECT_EQ(int_sentinel, 42);
}

TEST(FillTest, NullOutputWithElementsIsAnError) {
  expect_initializer_error(
      [] { fill_initial_values(init::ones(), DType::kFloat32, Shape{2}, 1, 2, nullptr); },
      {"null"});
}

TEST(DeterminismTest, SameSeedsGiveIdenticalBytes) {
  for (const Initializer& i : {init::random_normal(), init::truncated_normal(),
                               init::random_uniform(), init::glorot_uniform(),
                               init::glorot_normal(), init::he_normal()}) {
    EXPECT_TRUE(same_bytes(fill_float(i, Shape{17, 9}, 5, 6), fill_float(i, Shape{17, 9}, 5, 6)))
        << i.name();
  }
}

int count_equal(const std::vector<float>& a, const std::vector<float>& b) {
  int equal = 0;
  for (size_t i = 0; i < a.size(); ++i) equal += a[i] == b[i] ? 1 : 0;
  return equal;
}

TEST(DeterminismTest, DifferentSeedsGiveDifferentValues) {
  const Shape shape{8, 8};
  const auto base = fill_float(init::random_normal(), shape, 5, 6);
  EXPECT_EQ(count_equal(base, fill_float(init::random_normal(), shape, 5, 7)), 0);
  EXPECT_EQ(count_equal(base, fill_float(init::random_normal(), shape, 4, 6)), 0);
  // Swapping the graph and op seed is a different stream too.
  EXPECT_EQ(count_equal(base, fill_float(init::random_normal(), shape, 6, 5)), 0);
}

TEST(DeterminismTest, InitializerSeedOverridesOpSeed) {
  const Shape shape{10};
  const auto explicit_seed = fill_float(init::random_uniform(0, 1, 99), shape, 5, 1234);
  const auto from_argument = fill_float(init::random_uniform(), shape, 5, 99);
  EXPECT_TRUE(same_bytes(explicit_seed, from_argument));
  // The op-seed argument is ignored when the initializer has its own seed.
  EXPECT_TRUE(same_bytes(explicit_seed, fill_float(init::random_uniform(0, 1, 99), shape, 5, 1)));
}

TEST(DeterminismTest, ValueDependsOnlyOnIndex) {
  // Fans differ between the shapes for the variance-scaling kinds, so check the plain ones.
  for (const Initializer& i :
       {init::random_normal(1, 2), init::truncated_normal(), init::random_uniform(-1, 3)}) {
    const auto small = fill_float(i, Shape{10}, 3, 4);
    const auto big = fill_float(i, Shape{1000}, 3, 4);
    for (size_t k = 0; k < small.size(); ++k) EXPECT_EQ(small[k], big[k]) << i.name();
    // The shape itself does not matter, only the element index.
    const auto reshaped = fill_float(i, Shape{10, 100}, 3, 4);
    EXPECT_TRUE(same_bytes(big, reshaped)) << i.name();
  }
}

TEST(StatsTest, RandomNormal) {
  const auto v = fill_float(init::random_normal(3, 2), Shape{200000});
  const Moments m = moments(v);
  EXPECT_NEAR(m.mean, 3.0, 0.02);
  EXPECT_NEAR(std::sqrt(m.variance), 2.0, 0.02);
}

TEST(StatsTest, RandomNormalWithZeroStddevIsTheMean) {
  EXPECT_THAT(fill_float(init::random_normal(1.5, 0), Shape{100}), Each(1.5f));
}

TEST(StatsTest, TruncatedNormal) {
  const auto v = fill_float(init::truncated_normal(1, 0.5), Shape{200000});
  EXPECT_THAT(v, Each(AllOf(::testing::Ge(0.0f), ::testing::Le(2.0f))));
  const Moments m = moments(v);
  EXPECT_NEAR(m.mean, 1.0, 0.005);
  EXPECT_NEAR(std::sqrt(m.variance), 0.5 * kTruncatedStddev, 0.005);
}

TEST(StatsTest, RandomUniform) {
  const auto v = fill_float(init::random_uniform(-3, 5), Shape{200000});
  EXPECT_THAT(v, Each(AllOf(::testing::Ge(-3.0f), ::testing::Le(5.0f))));
  const Moments m = moments(v);
  EXPECT_NEAR(m.mean, 1.0, 0.03);
  EXPECT_NEAR(m.variance, 64.0 / 12, 64.0 / 12 * 0.02);
  // Both ends of the range are reached.
  EXPECT_LT(*std::min_element(v.begin(), v.end()), -2.99f);
  EXPECT_GT(*std::max_element(v.begin(), v.end()), 4.99f);
}

TEST(StatsTest, GlorotUniform) {
  const Shape shape{400, 500};
  const double limit = std::sqrt(6.0 / 900.0);
  const auto v = fill_float(init::glorot_uniform(), shape);
  const float flimit = static_cast<float>(limit);
  EXPECT_THAT(v, Each(AllOf(::testing::Ge(-flimit), ::testing::Le(flimit))));
  EXPECT_LT(*std::min_element(v.begin(), v.end()), -0.999 * limit);
  EXPECT_GT(*std::max_element(v.begin(), v.end()), 0.999 * limit);
  const Moments m = moments(v);
  EXPECT_NEAR(m.mean, 0.0, 0.01 * limit);
  EXPECT_NEAR(m.variance, limit * limit / 3, limit * limit / 3 * 0.02);
}

TEST(StatsTest, GlorotUniformOnConvKernel) {
  // fan_in = 3 * 3 * 64 = 576, fan_out = 3 * 3 * 32 = 288.
  const double limit = std::sqrt(6.0 / (576.0 + 288.0));
  const auto v = fill_float(init::glorot_uniform(), Shape{3, 3, 64, 32});
  const float flimit = static_cast<float>(limit);
  EXPECT_THAT(v, Each(AllOf(::testing::Ge(-flimit), ::testing::Le(flimit))));
  EXPECT_GT(*std::max_element(v.begin(), v.end()), 0.99 * limit);
}

TEST(StatsTest, GlorotNormal) {
  const auto v = fill_float(init::glorot_normal(), Shape{400, 500});
  const double target_variance = 2.0 / 900.0;
  const float bound = static_cast<float>(2 * std::sqrt(target_variance) / kTruncatedStddev);
  EXPECT_THAT(v, Each(AllOf(::testing::Ge(-bound), ::testing::Le(bound))));
  const Moments m = moments(v);
  EXPECT_NEAR(m.variance, target_variance, target_variance * 0.03);
}

TEST(StatsTest, HeNormal) {
  // fan_in = 5 * 5 * 32 = 800.
  const auto v = fill_float(init::he_normal(), Shape{5, 5, 32, 250});
  const double target_variance = 2.0 / 800.0;
  const float bound = static_cast<float>(2 * std::sqrt(target_variance) / kTruncatedStddev);
  EXPECT_THAT(v, Each(AllOf(::testing::Ge(-bound), ::testing::Le(bound))));
  const Moments m = moments(v);
  EXPECT_NEAR(m.mean, 0.0, 0.01 * std::sqrt(target_variance));
  EXPECT_NEAR(m.variance, target_variance, target_variance * 0.03);
}

TEST(StatsTest, ScalarAndVectorShapesUseTheirFans) {
  // Rank 0: fans 1 and 1, limit sqrt(3). Rank 1: fans 7 and 7, limit sqrt(6 / 14).
  const auto s = fill_float(init::glorot_uniform(), Shape{});
  EXPECT_LE(std::abs(s[0]), static_cast<float>(std::sqrt(3.0)));
  const auto v = fill_float(init::glorot_uniform(), Shape{7});
  EXPECT_THAT(v, Each(AllOf(::testing::Ge(-static_cast<float>(std::sqrt(6.0 / 14))),
                            ::testing::Le(static_cast<float>(std::sqrt(6.0 / 14))))));
}

TEST(ValidationTest, FactoriesRejectInvalidArguments) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  expect_initializer_error([] { init::random_normal(0, -1); }, {"random_normal", "stddev"});
  expect_initializer_error([&] { init::random_normal(nan, 1); }, {"random_normal", "mean"});
  expect_initializer_error([&] { init::random_normal(0, inf); }, {"random_normal", "stddev"});
  expect_initializer_error([] { init::truncated_normal(0, -0.5); },
                           {"truncated_normal", "stddev"});
  expect_initializer_error([&] { init::truncated_normal(-inf, 1); },
                           {"truncated_normal", "mean"});
  expect_initializer_error([] { init::random_uniform(2, 1); },
                           {"random_uniform", "minval", "maxval"});
  expect_initializer_error([&] { init::random_uniform(nan, 1); }, {"random_uniform", "minval"});
  expect_initializer_error([&] { init::random_uniform(0, inf); }, {"random_uniform", "maxval"});
  expect_initializer_error([] { init::random_uniform(-1e308, 1e308); },
                           {"random_uniform", "maxval - minval"});
  expect_initializer_error([&] { init::constant(nan); }, {"constant", "value"});
  expect_initializer_error([&] { init::constant(-inf); }, {"constant", "value"});
}

TEST(ValidationTest, DegenerateButValidArgumentsAreAccepted) {
  EXPECT_NO_THROW(init::random_normal(0, 0));
  EXPECT_THAT(fill_float(init::random_uniform(2, 2), Shape{5}), Each(2.0f));
}

TEST(ValidationTest, HandBuiltInitializersAreCheckedWhenFilling) {
  Initializer bad;
  bad.kind = InitializerKind::kRandomNormal;
  bad.stddev = -2;
  expect_initializer_error([&] { fill_float(bad, Shape{3}); }, {"random_normal", "stddev"});
  Initializer uniform;
  uniform.kind = InitializerKind::kRandomUniform;
  uniform.minval = 5;
  uniform.maxval = 4;
  expect_initializer_error([&] { fill_float(uniform, Shape{3}); }, {"random_uniform"});
  Initializer unknown;
  unknown.kind = static_cast<InitializerKind>(99);
  expect_initializer_error([&] { fill_float(unknown, Shape{3}); }, {"unknown"});
}

TEST(ValidationTest, Float32RangeIsChecked) {
  expect_initializer_error([] { fill_float(init::constant(1e39), Shape{2}); },
                           {"constant", "float32"});
  expect_initializer_error([] { fill_float(init::random_normal(-1e39, 1), Shape{2}); },
                           {"random_normal", "mean", "float32"});
  expect_initializer_error([] { fill_float(init::random_uniform(0, 1e40), Shape{2}); },
                           {"random_uniform", "maxval", "float32"});
  // Large integers are fine as int64 constants even beyond float precision.
  EXPECT_NO_THROW(fill_int<int64_t>(init::constant(1e18), Shape{1}));
}

// Fills n values of `dtype` and returns them as doubles (through the element type's float).
std::vector<double> fill_as_double(const Initializer& init, DType dtype, const Shape& shape) {
  std::vector<double> out;
  const Tensor t(dtype, shape);
  fill_initial_values(init, dtype, shape, 1, 2, t.raw_data());
  dispatch_dtype(dtype, [&]<class T>() {
    for (const T& x : t.to_vector<T>()) {
      if constexpr (is_half_type_v<T>) {
        out.push_back(static_cast<float>(x));
      } else {
        out.push_back(static_cast<double>(x));
      }
    }
  });
  return out;
}

TEST(DTypeFillTest, ZerosOnesAndConstantsForEveryDtype) {
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(dtype_name(dtype));
    EXPECT_THAT(fill_as_double(init::zeros(), dtype, Shape{3}), Each(0.0));
    EXPECT_THAT(fill_as_double(init::ones(), dtype, Shape{2, 2}), Each(1.0));
    EXPECT_THAT(fill_as_double(init::constant(5), dtype, Shape{2}), Each(dtype == DType::kBool ? 1.0 : 5.0));
  }
  // Values that the narrow floating types round.
  EXPECT_THAT(fill_as_double(init::constant(0.1), DType::kFloat64, Shape{1}), Each(0.1));
  EXPECT_THAT(fill_as_double(init::constant(0.1), DType::kFloat16, Shape{1}), Each(0.0999755859375));
  EXPECT_THAT(fill_as_double(init::constant(0.1), DType::kBFloat16, Shape{1}), Each(0.10009765625));
}

TEST(DTypeFillTest, BoolConstantIsNonzero) {
  EXPECT_THAT(fill_as_double(init::constant(-0.5), DType::kBool, Shape{2}), Each(1.0));
  EXPECT_THAT(fill_as_double(init::constant(0), DType::kBool, Shape{2}), Each(0.0));
}

TEST(DTypeFillTest, DefaultInitializersFollowTensorFlow) {
  for (DType dtype : kAllDTypes) {
    EXPECT_EQ(default_initializer(dtype).kind,
              is_floating(dtype) ? InitializerKind::kGlorotUniform : InitializerKind::kZeros)
        << dtype_name(dtype);
  }
}

TEST(DTypeFillTest, NarrowIntegerConstantsMustFit) {
  EXPECT_THAT(fill_int<int8_t>(init::constant(-128), Shape{2}), Each(-128));
  EXPECT_THAT(fill_int<uint8_t>(init::constant(255), Shape{2}), Each(255));
  EXPECT_THAT(fill_int<uint16_t>(init::constant(65535), Shape{2}), Each(65535));
  EXPECT_THAT(fill_int<int16_t>(init::constant(-32768), Shape{2}), Each(-32768));
  expect_initializer_error([] { fill_int<int8_t>(init::constant(128), Shape{1}); }, {"128", "int8"});
  expect_initializer_error([] { fill_int<uint8_t>(init::constant(-1), Shape{1}); }, {"-1", "uint8"});
  expect_initializer_error([] { fill_int<uint16_t>(init::constant(65536), Shape{1}); }, {"uint16"});
  expect_initializer_error([] { fill_int<int16_t>(init::constant(1.5), Shape{1}); }, {"1.5", "int16"});
}

TEST(DTypeFillTest, RandomInitializersOnIntegerAndBoolDtypesAreErrors) {
  for (DType dtype : {DType::kInt8, DType::kUInt8, DType::kInt16, DType::kUInt16, DType::kBool}) {
    expect_initializer_error([&] { fill_as_double(init::glorot_uniform(), dtype, Shape{2}); },
                             {"glorot_uniform", dtype_name(dtype)});
    expect_initializer_error([&] { fill_as_double(init::random_normal(), dtype, Shape{0}); },
                             {"random_normal", dtype_name(dtype)});
  }
}

// The wider and narrower floating types take the float32 draws, mapped in double, then rounded.
TEST(DTypeFillTest, RandomFloatingValuesAreTheFloat32DrawsConverted) {
  const Shape shape{8, 16};
  for (const Initializer& init : {init::random_uniform(-2, 3), init::random_normal(1, 2),
                                  init::truncated_normal(0, 0.5), init::glorot_uniform(),
                                  init::glorot_normal(), init::he_normal()}) {
    SCOPED_TRACE(init.name());
    const std::vector<float> f32 = fill_float(init, shape);
    const std::vector<double> f64 = fill_as_double(init, DType::kFloat64, shape);
    const std::vector<double> f16 = fill_as_double(init, DType::kFloat16, shape);
    const std::vector<double> bf16 = fill_as_double(init, DType::kBFloat16, shape);
    ASSERT_EQ(f64.size(), f32.size());
    for (size_t i = 0; i < f32.size(); ++i) {
      EXPECT_EQ(static_cast<float>(f64[i]), f32[i]) << i;  // float32 is float64 rounded
      EXPECT_NEAR(f16[i], f64[i], std::abs(f64[i]) * 1e-3 + 1e-7) << i;
      EXPECT_NEAR(bf16[i], f64[i], std::abs(f64[i]) * 8e-3 + 1e-7) << i;
      EXPECT_EQ(static_cast<float>(Float16(static_cast<float>(f64[i]))), static_cast<float>(f16[i])) << i;
    }
  }
}

TEST(DTypeFillTest, Float16RangeIsChecked) {
  expect_initializer_error([] { fill_as_double(init::constant(70000), DType::kFloat16, Shape{1}); },
                           {"constant", "float16"});
  expect_initializer_error([] { fill_as_double(init::random_uniform(0, 1e5), DType::kFloat16, Shape{1}); },
                           {"maxval", "float16"});
  EXPECT_THAT(fill_as_double(init::constant(65504), DType::kFloat16, Shape{1}), Each(65504.0));
  EXPECT_THAT(fill_as_double(init::constant(1e300), DType::kFloat64, Shape{1}), Each(1e300));
  EXPECT_THAT(fill_as_double(init::constant(1e38), DType::kBFloat16, Shape{1}),
              Each(static_cast<float>(BFloat16(1e38f))));
}

}  // namespace
}  // namespace scopeflow
