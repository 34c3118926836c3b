// Const, Identity and Cast over every dtype, and the dtype errors of the float32-only ops.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/op_registry.h"
#include "scopeflow/gradients.h"
#include "scopeflow/ops.h"
#include "scopeflow/session.h"
#include "test_util.h"
#include "train/op_gradient_cases.h"

namespace scopeflow {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using test::values_of;

SessionOptions cpu_options() { return SessionOptions{.device = Device::cpu()}; }

// A host tensor of `dtype` holding `values` (each converted as a C++ conversion would; the
// callers pass values every dtype represents exactly).
Tensor tensor_of(DType dtype, const std::vector<double>& values) {
  return dispatch_dtype(dtype, [&]<class T>() {
    std::vector<T> typed;
    for (double v : values) {
      if constexpr (is_half_type_v<T>) {
        typed.push_back(T(static_cast<float>(v)));
      } else {
        typed.push_back(static_cast<T>(v));
      }
    }
    return Tensor::from_vector<T>(Shape{static_cast<int64_t>(values.size())}, typed);
  });
}

Tensor run_cast(const Tensor& in, DType to) {
  Graph graph;
  Output x = ops::placeholder(graph, in.dtype(), in.shape(), "x");
  Output y = ops::cast(x, to);
  EXPECT_EQ(y.dtype(), to);
  Session session(graph, cpu_options());
  return session.run(y, {{x, in}});
}

bool is_signed_dtype(DType d) {
  return is_floating(d) || d == DType::kInt8 || d == DType::kInt16 || d == DType::kInt32 ||
         d == DType::kInt64;
}

// Every pair of dtypes on values all of them hold: 0, 1, 2, 100 (and -3 where signed).
TEST(CastTest, EveryPairOfDtypesOnSmallValues) {
  for (DType from : kAllDTypes) {
    for (DType to : kAllDTypes) {
      SCOPED_TRACE(absl::StrCat(dtype_name(from), " -> ", dtype_name(to)));
      std::vector<double> in = {0, 1, 2, 100};
      if (from == DType::kBool) in = {0, 1, 0, 1};
      if (is_signed_dtype(from) && is_signed_dtype(to)) in.push_back(-3);
      std::vector<double> expected = in;
      if (to == DType::kBool) {
        for (double& v : expected) v = v != 0 ? 1 : 0;
      }
      const Tensor out = run_cast(tensor_of(from, in), to);
      EXPECT_EQ(out.dtype(), to);
      EXPECT_EQ(values_of(out), expected);
    }
  }
}

struct CastCase {
  DType from;
  double in;
  DType to;
  double expected;  // NaN: expect a NaN
};

TEST(CastTest, EdgeValuesFollowTensorFlow) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const CastCase cases[] = {
      // float -> integer truncates toward zero; NaN gives 0, out of range saturates.
      {DType::kFloat32, 2.7, DType::kInt32, 2},
      {DType::kFloat32, -2.7, DType::kInt32, -2},
      {DType::kFloat32, nan, DType::kInt32, 0},
      {DType::kFloat32, nan, DType::kUInt8, 0},
      {DType::kFloat32, 1e10, DType::kInt32, 2147483647},
      {DType::kFloat32, -1e10, DType::kInt32, -2147483648.0},
      {DType::kFloat32, 300.5, DType::kInt8, 127},
      {DType::kFloat32, -300, DType::kInt8, -128},
      {DType::kFloat32, 300, DType::kUInt8, 255},
      {DType::kFloat32, -1.5, DType::kUInt8, 0},
      {DType::kFloat64, 1e300, DType::kInt64, 9223372036854775807.0},
      {DType::kFloat64, -0.99, DType::kInt16, 0},
      {DType::kFloat16, inf, DType::kInt16, 32767},
      {DType::kFloat16, -inf, DType::kInt16, -32768},
      {DType::kFloat16, 65504, DType::kUInt16, 65504},
      {DType::kFloat16, -7.9, DType::kInt8, -7},  // -7.8984375 in float16
      {DType::kBFloat16, nan, DType::kInt32, 0},
      {DType::kBFloat16, 1e20, DType::kInt64, 9223372036854775807.0},
      // integer -> integer wraps modulo 2^bits.
      {DType::kInt32, 300, DType::kInt8, 44},
      {DType::kInt32, -1, DType::kUInt8, 255},
      {DType::kInt32, 70000, DType::kUInt16, 4464},
      {DType::kInt64, 1099511627781.0, DType::kInt32, 5},  // 2^40 + 5
      {DType::kUInt16, 65535, DType::kInt16, -1},
      {DType::kUInt8, 200, DType::kInt8, -56},
      {DType::kInt8, -1, DType::kUInt16, 65535},
      // anything -> bool is != 0 (NaN included); bool -> number is 0 or 1.
      {DType::kFloat32, 0.5, DType::kBool, 1},
      {DType::kFloat32, -0.0, DType::kBool, 0},
      {DType::kFloat32, nan, DType::kBool, 1},
      {DType::kFloat16, -0.0, DType::kBool, 0},
      {DType::kBFloat16, 1e-40, DType::kBool, 1},  // a subnormal is nonzero
      {DType::kInt8, -1, DType::kBool, 1},
      {DType::kBool, 1, DType::kFloat16, 1},
      {DType::kBool, 1, DType::kInt64, 1},
      // float -> float16 / bfloat16 rounds to nearest even.
      {DType::kFloat32, 1 + std::ldexp(1.0, -11), DType::kFloat16, 1},
      {DType::kFloat32, 1 + 3 * std::ldexp(1.0, -11), DType::kFloat16, 1 + std::ldexp(1.0, -9)},
      {DType::kFloat32, 65520, DType::kFloat16, inf},
      {DType::kFloat32, 1e-8, DType::kFloat16, 0},
      {DType::kFloat32, nan, DType::kFloat16, nan},
      {DType::kFloat32, 1 + std::ldexp(1.0, -8), DType::kBFloat16, 1},
      {DType::kFloat32, 1 + 3 * std::ldexp(1.0, -8), DType::kBFloat16, 1 + std::ldexp(1.0, -6)},
      {DType::kFloat32, -inf, DType::kBFloat16, -inf},
      // float64 rounds to float first (as TensorFlow's Eigen does), then to the half type.
      {DType::kFloat64, 1 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40), DType::kFloat16, 1},
      {DType::kFloat64, 1e300, DType::kFloat32, inf},
      {DType::kInt32, 2049, DType::kFloat16, 2048},
      {DType::kInt64, 70000, DType::kFloat16, inf},
      {DType::kFloat16, std::ldexp(1.0, -24), DType::kFloat32, std::ldexp(1.0, -24)},
      {DType::kBFloat16, 3.140625, DType::kFloat64, 3.140625},
      {DType::kFloat16, 0.1, DType::kBFloat16, 0.10009765625},  // 0.0999755859375 rounded again
  };
  for (const CastCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(dtype_name(c.from), " ", c.in, " -> ", dtype_name(c.to)));
    Tensor in = dispatch_dtype(c.from, [&]<class T>() {
      if constexpr (is_half_type_v<T>) {
        return Tensor::scalar(T(static_cast<float>(c.in)));
      } else if constexpr (std::is_floating_point_v<T>) {
        return Tensor::scalar(static_cast<T>(c.in));
      } else {
        return Tensor::scalar(static_cast<T>(static_cast<int64_t>(c.in)));  // wraps on purpose
      }
    });
    const std::vector<double> out = values_of(run_cast(in, c.to));
    ASSERT_EQ(out.size(), 1u);
    if (std::isnan(c.expected)) {
      EXPECT_TRUE(std::isnan(out[0])) << out[0];
    } else {
      EXPECT_EQ(out[0], c.expected);
      if (c.expected == 0 && is_floating(c.to)) {
        EXPECT_EQ(std::signbit(out[0]), std::signbit(c.expected));
      }
    }
  }
}

TEST(ConstIdentityTest, EveryDtypePassesThroughUnchanged) {
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(dtype_name(dtype));
    Graph graph;
    const Tensor value = tensor_of(dtype, {1, 0, 2, 1});
    Output c = ops::constant(graph, value.reshaped(Shape{2, 2}));
    EXPECT_EQ(c.dtype(), dtype);
    Output id = ops::identity(c);
    Output flat = ops::reshape(id, {4});
    EXPECT_EQ(flat.dtype(), dtype);
    Session session(graph, cpu_options());
    const std::vector<Tensor> out = session.run({}, {c, id, flat});
    for (const Tensor& t : out) {
      EXPECT_EQ(t.dtype(), dtype);
      EXPECT_EQ(std::memcmp(t.raw_data(), value.raw_data(), value.byte_size()), 0);
    }
  }
}

TEST(DTypeErrorTest, MatMulNamesTheDtypeAndWhatIsSupported) {
  Graph graph;
  Output a = ops::placeholder(graph, DType::kFloat64, Shape{2, 2}, "a");
  Output b = ops::placeholder(graph, DType::kFloat64, Shape{2, 2}, "b");
  EXPECT_THAT(test::error_of([&] { ops::matmul(a, b); }),
              test::IsError(absl::StatusCode::kInvalidArgument,
                            "[matmul] input 0 ('a') is float64; only float32 is supported"));
  Output i = ops::placeholder(graph, DType::kInt32, Shape{2, 2}, "i");
  EXPECT_THAT(test::error_message_of([&] { ops::matmul(i, i); }),
              "[matmul] input 0 ('i') is int32; only float32 is supported");
  Output h = ops::placeholder(graph, DType::kFloat16, Shape{2, 2}, "h");
  EXPECT_THAT(test::error_message_of([&] { ops::add(h, h); }),
              "[add] input 0 ('h') is float16; only float32, int32 or int64 are supported");
  EXPECT_THAT(test::error_message_of([&] { ops::equal(h, h); }),
              AllOf(StartsWith("[equal]"), HasSubstr("float16")));
  NodeSpec draw;
  draw.op = "RandomStandardNormal";
  draw.inputs = {ops::constant(graph, Tensor::from_vector<int32_t>(Shape{1}, {2}))};
  draw.attrs = {{"dtype", DType::kFloat64}, {"T", DType::kInt32}};
  EXPECT_THAT(test::error_message_of([&] { graph.add_node(draw); }),
              AllOf(StartsWith("[random_normal]"), HasSubstr("float64; only float32 is supported")));
}

// Every differentiable op's case, built on each non-float32 dtype: only the ops that move or
// convert data accept it (and the arithmetic ones int32); every other op says why not.
TEST(DTypeErrorTest, EveryFloat32OnlyOpRejectsOtherDtypesAtBuildTime) {
  const std::set<std::string> any_dtype = {"Cast", "BroadcastTo", "Identity", "Reshape", "Transpose"};
  const std::set<std::string> also_int32 = {"AddV2", "Sub", "Mul", "Neg", "Square", "Maximum", "Minimum"};
  std::mt19937 rng(1);
  for (const test::OpGradientCase& c : test::op_gradient_cases()) {
    for (DType dtype : kAllDTypes) {
      if (dtype == DType::kFloat32) continue;
      SCOPED_TRACE(absl::StrCat(c.name, " on ", dtype_name(dtype)));
      Graph graph;
      std::vector<Output> inputs;
      for (size_t k = 0; k < c.shapes.size(); ++k) {
        inputs.push_back(ops::placeholder(graph, dtype, c.shapes[k], absl::StrCat("x", k)));
      }
      const bool accepted = any_dtype.contains(c.op) ||
                            ((dtype == DType::kInt32 || dtype == DType::kInt64) && also_int32.contains(c.op));
      if (accepted) {
        EXPECT_NO_THROW(c.build(inputs));
        continue;
      }
      const test::ThrownError e = test::error_of([&] { c.build(inputs); });
      EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(e.message, MatchesRegex(absl::StrCat("\\[[a-z_]+\\] input [0-9]+ \\('[a-z0-9_/]+'\\) is ",
                                                       dtype_name(dtype), "; only float32.* supported")));
    }
  }
}

// Gradients through Cast and Identity keep working for float32; a float64 source gets a
// float64 gradient (Cast's gradient casts back), which float32-only ops then reject clearly.
TEST(DTypeGradientTest, CastGradientsCarryTheSourceDtype) {
  Graph graph;
  Output x32 = ops::placeholder(graph, DType::kFloat32, Shape{3}, "x32");
  Output x64 = ops::placeholder(graph, DType::kFloat64, Shape{3}, "x64");
  Output y = ops::reduce_sum(ops::mul(ops::identity(ops::cast(x32, DType::kFloat32)), ops::cast(x64, DType::kFloat32)));
  const std::vector<Output> grads = gradients(y, {x32, x64});
  ASSERT_EQ(grads.size(), 2u);
  EXPECT_EQ(grads[0].dtype(), DType::kFloat32);
  EXPECT_EQ(grads[1].dtype(), DType::kFloat64);
  Session session(graph, cpu_options());
  const std::vector<Tensor> g = session.run({{x32, tensor_of(DType::kFloat32, {1, 2, 3})},
                                             {x64, tensor_of(DType::kFloat64, {4, 5, 6})}},
                                            {grads[0], grads[1]});
  EXPECT_EQ(values_of(g[0]), (std::vector<double>{4, 5, 6}));
  EXPECT_EQ(values_of(g[1]), (std::vector<double>{1, 2, 3}));
  EXPECT_THAT(test::error_message_of([&] { ops::mul(grads[1], grads[1]); }),
              AllOf(StartsWith("[mul]"), HasSubstr("float64")));
}

}  // namespace
}  // namespace scopeflow
