// Numerics of every op against plain reference loops, and the errors of shape inference.

#include "scopeflow/ops.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/elementwise_functors.h"
#include "scopeflow/error.h"
#include "test_util.h"
#include "scopeflow/graph.h"
#include "scopeflow/initializers.h"
#include "scopeflow/scope.h"
#include "scopeflow/session.h"
#include "scopeflow/tensor.h"

namespace scopeflow {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using test::error_of;

// Expects `fn` to throw Error(kInvalidArgument) starting with "[builder]" and containing `pieces`.
void expect_builder_error(const std::function<void()>& fn, const std::string& builder,
                          const std::vector<std::string>& pieces = {}) {
  test::ThrownError e = error_of(fn);
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument) << e.message;
  EXPECT_THAT(e.message, StartsWith("[" + builder + "]"));
  for (const std::string& piece : pieces) EXPECT_THAT(e.message, HasSubstr(piece));
}

// Deterministic values in [-2, 2) (a small LCG, independent of the library's generators).
std::vector<float> test_values(int64_t n, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t state = seed * 2654435761u + 12345u;
  for (float& x : v) {
    state = state * 1664525u + 1013904223u;
    x = static_cast<float>(state >> 8) / static_cast<float>(1u << 24) * 4.0f - 2.0f;
  }
  return v;
}

SessionOptions cpu_options() { return SessionOptions{.device = Device::cpu()}; }

// Runs `out` in a fresh CPU session.
Tensor run_one(const Graph& graph, Output out, const FeedList& feeds = {}) {
  Session session(graph, cpu_options());
  return session.run(out, feeds);
}

void expect_all_near(const std::vector<float>& actual, const std::vector<double>& expected,
                     double tolerance, const std::string& what = "") {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(actual[i])) << what << " element " << i;
    } else {
      EXPECT_NEAR(actual[i], expected[i], tolerance * std::max(1.0, std::abs(expected[i])))
          << what << " element " << i;
    }
  }
}

// Row-major strides of `dims`.
std::vector<int64_t> strides_of(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) {
    s[static_cast<size_t>(i)] = s[static_cast<size_t>(i) + 1] * dims[static_cast<size_t>(i) + 1];
  }
  return s;
}

// NumPy broadcasting, written independently of the library: for each output index, the input
// index that reads it (size-1 and missing dimensions repeat).
int64_t broadcast_source(const std::vector<int64_t>& out_dims, int64_t flat,
                         const std::vector<int64_t>& in_dims) {
  const std::vector<int64_t> out_strides = strides_of(out_dims);
  const std::vector<int64_t> in_strides = strides_of(in_dims);
  const size_t offset = out_dims.size() - in_dims.size();
  int64_t source = 0;
  for (size_t d = 0; d < out_dims.size(); ++d) {
    const int64_t index = (flat / out_strides[d]) % out_dims[d];
    if (d < offset) continue;
    const size_t id = d - offset;
    if (in_dims[id] != 1) source += index * in_strides[id];
  }
  return source;
}

template <typename T, typename F>
std::vector<T> broadcast_reference(const std::vector<int64_t>& out_dims,
                                   const std::vector<int64_t>& a_dims, const std::vector<T>& a,
                                   const std::vector<int64_t>& b_dims, const std::vector<T>& b,
                                   F f) {
  const int64_t n = Shape(out_dims).num_elements();
  std::vector<T> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    out[static_cast<size_t>(i)] = f(a[static_cast<size_t>(broadcast_source(out_dims, i, a_dims))],
                                    b[static_cast<size_t>(broadcast_source(out_dims, i, b_dims))]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// MatMul

struct MatMulCase {
  int64_t m, k, n;
  bool transpose_a, transpose_b;
};

std::string matmul_case_name(const testing::TestParamInfo<MatMulCase>& param_info) {
  const MatMulCase& c = param_info.param;
  std::ostringstream name;
  name << "m" << c.m << "k" << c.k << "n" << c.n << (c.transpose_a ? "_ta" : "")
       << (c.transpose_b ? "_tb" : "");
  return name.str();
}

void PrintTo(const MatMulCase& c, std::ostream* os) {
  *os << "(" << c.m << ", " << c.k << ") x (" << c.k << ", " << c.n << ")"
      << (c.transpose_a ? " transpose_a" : "") << (c.transpose_b ? " transpose_b" : "");
}

class MatMulTest : public testing::TestWithParam<MatMulCase> {};

TEST_P(MatMulTest, MatchesReferenceLoop) {
  const MatMulCase c = GetParam();
  // A is stored (m, k), or (k, m) when transposed; B is stored (k, n), or (n, k) when transposed.
  const Shape a_shape = c.transpose_a ? Shape{c.k, c.m} : Shape{c.m, c.k};
  const Shape b_shape = c.transpose_b ? Shape{c.n, c.k} : Shape{c.k, c.n};
  const std::vector<float> a = test_values(a_shape.num_elements(), 1);
  const std::vector<float> b = test_values(b_shape.num_elements(), 2);

  Graph g;
  Output pa = ops::placeholder(g, DType::kFloat32, a_shape, "a");
  Output pb = ops::placeholder(g, DType::kFloat32, b_shape, "b");
  Output product = ops::matmul(pa, pb, {.transpose_a = c.transpose_a, .transpose_b = c.transpose_b});
  ASSERT_EQ(product.shape(), Shape({c.m, c.n}));
  const Tensor result = run_one(g, product, {{pa, Tensor::from_vector(a_shape, a)},
                                             {pb, Tensor::from_vector(b_shape, b)}});
  ASSERT_EQ(result.shape(), Shape({c.m, c.n}));

  std::vector<double> expected(static_cast<size_t>(c.m * c.n), 0.0);
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      double total = 0;
      for (int64_t p = 0; p < c.k; ++p) {
        const float av = c.transpose_a ? a[static_cast<size_t>(p * c.m + i)]
                                       : a[static_cast<size_t>(i * c.k + p)];
        const float bv = c.transpose_b ? b[static_cast<size_t>(j * c.k + p)]
                                       : b[static_cast<size_t>(p * c.n + j)];
        total += static_cast<double>(av) * bv;
      }
      expected[static_cast<size_t>(i * c.n + j)] = total;
    }
  }
  expect_all_near(result.to_vector<float>(), expected, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(
    TransposeCombinations, MatMulTest,
    testing::Values(MatMulCase{3, 4, 5, false, false}, MatMulCase{3, 4, 5, true, false},
                    MatMulCase{3, 4, 5, false, true}, MatMulCase{3, 4, 5, true, true},
                    MatMulCase{7, 2, 1, false, false}, MatMulCase{1, 6, 2, true, true},
                    MatMulCase{17, 33, 9, true, false}, MatMulCase{5, 1, 4, false, true},
                    // Empty dimensions: m = 0, n = 0, and k = 0 (which gives zeros).
                    MatMulCase{0, 4, 5, false, false}, MatMulCase{3, 4, 0, false, true},
                    MatMulCase{3, 0, 5, false, false}, MatMulCase{3, 0, 5, true, true},
                    MatMulCase{0, 0, 0, false, false}),
    matmul_case_name);

TEST(MatMulOpTest, InnerDimensionZeroGivesZeros) {
  Graph g;
  Output a = ops::constant(g, Tensor::zeros(DType::kFloat32, Shape{3, 0}));
  Output b = ops::constant(g, Tensor::zeros(DType::kFloat32, Shape{0, 5}));
  Session session(g, cpu_options());
  // Run twice: the second output may land in memory the first run left non-zero.
  for (int run = 0; run < 2; ++run) {
    const Tensor c = session.run(ops::matmul(a, b));
    EXPECT_EQ(c.shape(), Shape({3, 5}));
    EXPECT_THAT(c.to_vector<float>(), testing::Each(0.0f));
  }
}

// ---------------------------------------------------------------------------------------------
// AddV2, Sub, Mul with broadcasting

struct BroadcastCase {
  std::vector<int64_t> a, b, out;
};

void PrintTo(const BroadcastCase& c, std::ostream* os) {
  *os << Shape(c.a).to_string() << " op " << Shape(c.b).to_string() << " -> "
      << Shape(c.out).to_string();
}

class BroadcastTest : public testing::TestWithParam<BroadcastCase> {};

template <typename T>
std::vector<T> typed_values(int64_t n, uint32_t seed) {
  std::vector<T> v;
  for (float f : test_values(n, seed)) {
    if constexpr (std::is_same_v<T, float>) {
      v.push_back(f);
    } else {
      v.push_back(static_cast<T>(std::lround(f * 50.0f)));
    }
  }
  return v;
}

template <typename T>
void check_binary_ops(const BroadcastCase& c) {
  const Shape a_shape(c.a);
  const Shape b_shape(c.b);
  const std::vector<T> a = typed_values<T>(a_shape.num_elements(), 3);
  const std::vector<T> b = typed_values<T>(b_shape.num_elements(), 4);
  constexpr DType dtype = DTypeOf<T>::value;

  Graph g;
  Output pa = ops::placeholder(g, dtype, a_shape, "a");
  Output pb = ops::placeholder(g, dtype, b_shape, "b");
  Output sum = ops::add(pa, pb);
  Output diff = ops::sub(pa, pb);
  Output prod = ops::mul(pa, pb);
  for (Output o : {sum, diff, prod}) {
    EXPECT_EQ(o.shape(), Shape(c.out));
    EXPECT_EQ(o.dtype(), dtype);
  }
  Session session(g, cpu_options());
  const std::vector<Tensor> r = session.run(
      {{pa, Tensor::from_vector(a_shape, a)}, {pb, Tensor::from_vector(b_shape, b)}},
      {sum, diff, prod});
  ASSERT_EQ(r.size(), 3u);
  for (const Tensor& t : r) {
    EXPECT_EQ(t.shape(), Shape(c.out));
    EXPECT_EQ(t.dtype(), dtype);
  }
  EXPECT_EQ(r[0].to_vector<T>(),
            broadcast_reference<T>(c.out, c.a, a, c.b, b, [](T x, T y) { return T(x + y); }));
  EXPECT_EQ(r[1].to_vector<T>(),
            broadcast_reference<T>(c.out, c.a, a, c.b, b, [](T x, T y) { return T(x - y); }));
  EXPECT_EQ(r[2].to_vector<T>(),
            broadcast_reference<T>(c.out, c.a, a, c.b, b, [](T x, T y) { return T(x * y); }));
}

TEST_P(BroadcastTest, Float32) { check_binary_ops<float>(GetParam()); }
TEST_P(BroadcastTest, Int32) { check_binary_ops<int32_t>(GetParam()); }
TEST_P(BroadcastTest, Int64) { check_binary_ops<int64_t>(GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Shapes, BroadcastTest,
    testing::Values(BroadcastCase{{2, 3}, {2, 3}, {2, 3}},           // same shape
                    BroadcastCase{{2, 3}, {}, {2, 3}},               // scalar on the right
                    BroadcastCase{{}, {2, 3}, {2, 3}},               // scalar on the left
                    BroadcastCase{{3, 1}, {1, 4}, {3, 4}},           // both broadcast
                    BroadcastCase{{2, 3, 4}, {4}, {2, 3, 4}},        // lower rank
                    BroadcastCase{{4}, {2, 3, 4}, {2, 3, 4}},        // lower rank on the left
                    BroadcastCase{{2, 1, 4}, {3, 1}, {2, 3, 4}},     // both, different ranks
                    BroadcastCase{{}, {}, {}},                       // rank 0 + rank 0
                    BroadcastCase{{1, 1}, {3}, {1, 3}},              // one element, not a scalar
                    BroadcastCase{{2, 3, 1}, {2, 1, 5}, {2, 3, 5}},  // middle and last
                    BroadcastCase{{4, 1}, {4, 1}, {4, 1}},           // inner dimension 1
                    BroadcastCase{{0, 3}, {3}, {0, 3}}));            // empty output

TEST(BinaryOpTest, OperatorsBuildTheSameOps) {
  Graph g;
  Output a = ops::constant(g, Tensor::from_vector<float>(Shape{3}, {1, 2, 3}));
  Output b = ops::constant(g, Tensor::from_vector<float>(Shape{3}, {10, 20, 30}));
  Output s = a + b;
  Output d = a - b;
  Output p = a * b;
  EXPECT_EQ(s.node->op(), "AddV2");
  EXPECT_EQ(d.node->op(), "Sub");
  EXPECT_EQ(p.node->op(), "Mul");
  Session session(g, cpu_options());
  const std::vector<Tensor> r = session.run({}, {s, d, p});
  EXPECT_THAT(r[0].to_vector<float>(), ElementsAre(11, 22, 33));
  EXPECT_THAT(r[1].to_vector<float>(), ElementsAre(-9, -18, -27));
  EXPECT_THAT(r[2].to_vector<float>(), ElementsAre(10, 40, 90));
}

// ---------------------------------------------------------------------------------------------
// BiasAdd

TEST(BiasAddTest, Rank2AndRank3) {
  for (const std::vector<int64_t>& dims : {std::vector<int64_t>{4, 3}, std::vector<int64_t>{2, 3, 5}}) {
    const Shape shape(dims);
    const int64_t channels = dims.back();
    const std::vector<float> value = test_values(shape.num_elements(), 5);
    const std::vector<float> bias = test_values(channels, 6);
    Graph g;
    Output v = ops::placeholder(g, DType::kFloat32, shape, "value");
    Output b = ops::constant(g, Tensor::from_vector<float>(Shape{channels}, bias));
    Output out = ops::bias_add(v, b);
    ASSERT_EQ(out.shape(), shape);
    const Tensor r = run_one(g, out, {{v, Tensor::from_vector(shape, value)}});
    std::vector<float> expected(value.size());
    for (size_t i = 0; i < value.size(); ++i) {
      expected[i] = value[i] + bias[i % static_cast<size_t>(channels)];
    }
    EXPECT_EQ(r.to_vector<float>(), expected) << shape.to_string();
  }
}

// ---------------------------------------------------------------------------------------------
// Relu, Sigmoid, Tanh

std::vector<float> unary_inputs() {
  std::vector<float> x = test_values(40, 7);
  for (float v : {0.0f, -0.0f, 1e-8f, -1e-8f, 5.0f, -5.0f, 20.0f, -20.0f, 88.0f, -88.0f, 100.0f,
                  -100.0f, 1000.0f, -1000.0f}) {
    x.push_back(v);
  }
  return x;
}

Tensor run_unary(Output (*op)(Output, std::string_view), const std::vector<float>& x) {
  Graph g;
  const Shape shape{static_cast<int64_t>(x.size())};
  Output in = ops::placeholder(g, DType::kFloat32, shape);
  Output out = op(in, "");
  EXPECT_EQ(out.shape(), shape);
  return run_one(g, out, {{in, Tensor::from_vector(shape, x)}});
}

TEST(UnaryOpTest, Relu) {
  const std::vector<float> x = unary_inputs();
  const std::vector<float> y = run_unary(ops::relu, x).to_vector<float>();
  ASSERT_EQ(y.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], x[i] > 0 ? x[i] : 0.0f) << x[i];
}

TEST(UnaryOpTest, Sigmoid) {
  const std::vector<float> x = unary_inputs();
  const std::vector<float> y = run_unary(ops::sigmoid, x).to_vector<float>();
  std::vector<double> expected;
  for (float v : x) expected.push_back(1.0 / (1.0 + std::exp(-static_cast<double>(v))));
  ASSERT_EQ(y.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_FALSE(std::isnan(y[i])) << x[i];
    EXPECT_GE(y[i], 0.0f) << x[i];
    EXPECT_LE(y[i], 1.0f) << x[i];
    EXPECT_NEAR(y[i], expected[i], 1e-6) << x[i];
  }
  // Large |x| saturates without overflow: exactly 1 above, (denormal-)zero below.
  const std::vector<float> big = run_unary(ops::sigmoid, {100.0f, -100.0f, 1000.0f, -1000.0f,
                                                          std::numeric_limits<float>::max(),
                                                          -std::numeric_limits<float>::max()})
                                     .to_vector<float>();
  EXPECT_EQ(big[0], 1.0f);
  EXPECT_LT(big[1], 1e-40f);
  EXPECT_GE(big[1], 0.0f);
  EXPECT_EQ(big[2], 1.0f);
  EXPECT_EQ(big[3], 0.0f);
  EXPECT_EQ(big[4], 1.0f);
  EXPECT_EQ(big[5], 0.0f);
}

TEST(UnaryOpTest, Tanh) {
  const std::vector<float> x = unary_inputs();
  const std::vector<float> y = run_unary(ops::tanh, x).to_vector<float>();
  ASSERT_EQ(y.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(y[i], std::tanh(static_cast<double>(x[i])), 1e-6) << x[i];
  }
  const std::vector<float> big = run_unary(ops::tanh, {100.0f, -100.0f}).to_vector<float>();
  EXPECT_EQ(big[0], 1.0f);
  EXPECT_EQ(big[1], -1.0f);
}

// unary_inputs() plus the values whose TensorFlow semantics Abs and Sign must keep.
std::vector<float> special_unary_inputs() {
  std::vector<float> x = unary_inputs();
  constexpr float kInf = std::numeric_limits<float>::infinity();
  for (float v : {kInf, -kInf, std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                  std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                  std::numeric_limits<float>::min(), -std::numeric_limits<float>::denorm_min()}) {
    x.push_back(v);
  }
  return x;
}

TEST(UnaryOpTest, Abs) {
  const std::vector<float> x = special_unary_inputs();
  const std::vector<float> y = run_unary(ops::abs, x).to_vector<float>();
  ASSERT_EQ(y.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    // Never negative, not even -0 or a NaN with its sign bit set (TensorFlow clears it too).
    EXPECT_FALSE(std::signbit(y[i])) << x[i];
    if (std::isnan(x[i])) {
      EXPECT_TRUE(std::isnan(y[i]));
    } else {
      EXPECT_EQ(y[i], x[i] < 0 ? -x[i] : x[i]) << x[i];
    }
  }
  EXPECT_THAT(run_unary(ops::abs, {-0.0f, 0.0f, -3.5f, 2.0f, -std::numeric_limits<float>::infinity()}).to_vector<float>(),
              ElementsAre(0.0f, 0.0f, 3.5f, 2.0f, std::numeric_limits<float>::infinity()));
}

TEST(UnaryOpTest, Sign) {
  const std::vector<float> x = special_unary_inputs();
  const std::vector<float> y = run_unary(ops::sign, x).to_vector<float>();
  ASSERT_EQ(y.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) {
      EXPECT_TRUE(std::isnan(y[i]));  // TensorFlow's sign(NaN) is NaN, not 0
    } else if (x[i] == 0.0f) {
      EXPECT_EQ(y[i], 0.0f);
      EXPECT_FALSE(std::signbit(y[i])) << "sign(-0) is +0 in TensorFlow";
    } else {
      EXPECT_EQ(y[i], x[i] > 0 ? 1.0f : -1.0f) << x[i];
    }
  }
  // Denormals are not flushed (TensorFlow's CPU kernels flush them, so its sign gives 0 there).
  EXPECT_THAT(run_unary(ops::sign, {-0.0f, 0.0f, -1e-30f, 1e-30f, std::numeric_limits<float>::denorm_min(),
                                    std::numeric_limits<float>::infinity()})
                  .to_vector<float>(),
              ElementsAre(0.0f, 0.0f, -1.0f, 1.0f, 1.0f, 1.0f));
}

TEST(UnaryOpTest, RankIsKept) {
  Graph g;
  Output in = ops::constant(g, Tensor::from_vector<float>(Shape{2, 2}, {-1, 2, -3, 4}));
  const Tensor r = run_one(g, ops::relu(in));
  EXPECT_EQ(r.shape(), Shape({2, 2}));
  EXPECT_THAT(r.to_vector<float>(), ElementsAre(0, 2, 0, 4));
  const Tensor a = run_one(g, ops::abs(in));
  EXPECT_EQ(a.shape(), Shape({2, 2}));
  EXPECT_THAT(a.to_vector<float>(), ElementsAre(1, 2, 3, 4));
  const Tensor s = run_one(g, ops::sign(in));
  EXPECT_EQ(s.shape(), Shape({2, 2}));
  EXPECT_THAT(s.to_vector<float>(), ElementsAre(-1, 1, -1, 1));
  // A scalar and an empty tensor keep their shapes too.
  EXPECT_EQ(run_one(g, ops::sign(ops::scalar(g, -7.0f))).to_vector<float>(), std::vector<float>{-1.0f});
  Output empty = ops::constant(g, Tensor(DType::kFloat32, Shape{0, 3}));
  EXPECT_EQ(run_one(g, ops::abs(empty)).shape(), Shape({0, 3}));
}

TEST(UnaryOpTest, AbsAndSignNodes) {
  Graph g;
  Output x = ops::placeholder(g, DType::kFloat32, Shape{3}, "x");
  Output a = ops::abs(x);
  Output s = ops::sign(x, "direction");
  EXPECT_EQ(a.node->op(), "Abs");
  EXPECT_EQ(a.node->name(), "Abs");
  EXPECT_EQ(s.node->op(), "Sign");
  EXPECT_EQ(s.node->name(), "direction");
  EXPECT_EQ(s.node->attr<DType>("T"), DType::kFloat32);
  EXPECT_EQ(ops::abs(x).node->name(), "Abs_1");
}

// ---------------------------------------------------------------------------------------------
// Softmax

std::vector<double> softmax_reference(const std::vector<float>& x, int64_t classes) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size() / static_cast<size_t>(classes); ++r) {
    const size_t base = r * static_cast<size_t>(classes);
    double max_value = -std::numeric_limits<double>::infinity();
    for (int64_t c = 0; c < classes; ++c) max_value = std::max<double>(max_value, x[base + static_cast<size_t>(c)]);
    double total = 0;
    for (int64_t c = 0; c < classes; ++c) total += std::exp(x[base + static_cast<size_t>(c)] - max_value);
    for (int64_t c = 0; c < classes; ++c) {
      y[base + static_cast<size_t>(c)] = std::exp(x[base + static_cast<size_t>(c)] - max_value) / total;
    }
  }
  return y;
}

TEST(SoftmaxTest, RowsMatchReferenceAndSumToOne) {
  for (const std::vector<int64_t>& dims :
       {std::vector<int64_t>{4, 5}, std::vector<int64_t>{2, 3, 7}, std::vector<int64_t>{6}}) {
    const Shape shape(dims);
    const int64_t classes = dims.back();
    const std::vector<float> x = test_values(shape.num_elements(), 8);
    Graph g;
    Output in = ops::placeholder(g, DType::kFloat32, shape);
    Output out = ops::softmax(in);
    ASSERT_EQ(out.shape(), shape);
    const std::vector<float> y = run_one(g, out, {{in, Tensor::from_vector(shape, x)}}).to_vector<float>();
    expect_all_near(y, softmax_reference(x, classes), 1e-6, shape.to_string());
    for (size_t r = 0; r < y.size() / static_cast<size_t>(classes); ++r) {
      double total = 0;
      for (int64_t c = 0; c < classes; ++c) total += y[r * static_cast<size_t>(classes) + static_cast<size_t>(c)];
      EXPECT_NEAR(total, 1.0, 1e-6) << shape.to_string() << " row " << r;
    }
  }
}

TEST(SoftmaxTest, LargeLogitsDoNotOverflow) {
  const std::vector<float> x = {1000, 1001, -1000, 1000, 1e30f, -1e30f, 88, 89};
  Graph g;
  Output in = ops::constant(g, Tensor::from_vector<float>(Shape{4, 2}, x));
  const std::vector<float> y = run_one(g, ops::softmax(in)).to_vector<float>();
  ASSERT_EQ(y.size(), 8u);
  for (float v : y) EXPECT_FALSE(std::isnan(v));
  const double e = std::exp(1.0);
  EXPECT_NEAR(y[0], 1.0 / (1.0 + e), 1e-6);
  EXPECT_NEAR(y[1], e / (1.0 + e), 1e-6);
  EXPECT_EQ(y[2], 0.0f);
  EXPECT_EQ(y[3], 1.0f);
  EXPECT_EQ(y[4], 1.0f);
  EXPECT_EQ(y[5], 0.0f);
  EXPECT_NEAR(y[6], 1.0 / (1.0 + e), 1e-6);
  EXPECT_NEAR(y[0] + y[1], 1.0, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// Reshape

TEST(ReshapeTest, InfersMinusOneAndKeepsOrder) {
  const std::vector<float> x = test_values(12, 9);
  Graph g;
  Output in = ops::placeholder(g, DType::kFloat32, Shape{2, 3, 2});
  Output a = ops::reshape(in, {-1, 2});
  Output b = ops::reshape(in, {4, -1});
  Output c = ops::reshape(in, {12});
  Output d = ops::reshape(ops::reshape(in, {-1}), {3, 1, 4});
  EXPECT_EQ(a.shape(), Shape({6, 2}));
  EXPECT_EQ(b.shape(), Shape({4, 3}));
  EXPECT_EQ(c.shape(), Shape({12}));
  EXPECT_EQ(d.shape(), Shape({3, 1, 4}));
  Session session(g, cpu_options());
  const std::vector<Tensor> r =
      session.run({{in, Tensor::from_vector(Shape{2, 3, 2}, x)}}, {a, b, c, d});
  EXPECT_EQ(r[0].shape(), Shape({6, 2}));
  EXPECT_EQ(r[1].shape(), Shape({4, 3}));
  EXPECT_EQ(r[3].shape(), Shape({3, 1, 4}));
  for (const Tensor& t : r) EXPECT_EQ(t.to_vector<float>(), x);
}

TEST(ReshapeTest, ScalarAndEmpty) {
  Graph g;
  Output s = ops::constant(g, Tensor::scalar(7.0f));
  Output e = ops::constant(g, Tensor::zeros(DType::kFloat32, Shape{0, 4}));
  Output s2 = ops::reshape(s, {1, 1});
  Output e2 = ops::reshape(e, {2, 0, 4});
  EXPECT_EQ(s2.shape(), Shape({1, 1}));
  EXPECT_EQ(e2.shape(), Shape({2, 0, 4}));
  // As in TensorFlow, -1 cannot be inferred next to a zero dimension.
  expect_builder_error([&] { ops::reshape(e, {2, 0, -1}); }, "reshape");
  Session session(g, cpu_options());
  EXPECT_THAT(session.run(s2).to_vector<float>(), ElementsAre(7.0f));
  const Tensor empty = session.run(e2);
  EXPECT_EQ(empty.shape(), Shape({2, 0, 4}));
  EXPECT_EQ(empty.num_elements(), 0);
}

// ---------------------------------------------------------------------------------------------
// Sum and Mean

// Reference reduction over `axes` (already normalised); returns sums and counts per output.
std::vector<double> reduce_reference(const std::vector<int64_t>& dims, const std::vector<float>& x,
                                     const std::vector<int>& axes, bool mean) {
  std::vector<int64_t> out_dims;
  for (int d = 0; d < static_cast<int>(dims.size()); ++d) {
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) out_dims.push_back(dims[static_cast<size_t>(d)]);
  }
  const int64_t out_n = Shape(out_dims).num_elements();
  std::vector<double> sums(static_cast<size_t>(out_n), 0.0);
  std::vector<int64_t> counts(static_cast<size_t>(out_n), 0);
  const std::vector<int64_t> in_strides = strides_of(dims);
  const std::vector<int64_t> out_strides = strides_of(out_dims);
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t out_index = 0;
    size_t od = 0;
    for (size_t d = 0; d < dims.size(); ++d) {
      const int64_t index = (static_cast<int64_t>(i) / in_strides[d]) % dims[d];
      if (std::find(axes.begin(), axes.end(), static_cast<int>(d)) == axes.end()) {
        out_index += index * out_strides[od++];
      }
    }
    sums[static_cast<size_t>(out_index)] += x[i];
    ++counts[static_cast<size_t>(out_index)];
  }
  if (mean) {
    for (size_t i = 0; i < sums.size(); ++i) {
      sums[i] = counts[i] == 0 ? std::numeric_limits<double>::quiet_NaN()
                               : sums[i] / static_cast<double>(counts[i]);
    }
  }
  return sums;
}

struct ReduceCase {
  std::vector<int64_t> dims;
  std::optional<std::vector<int64_t>> axes;  // as passed to the builder
  std::vector<int> normalized;               // the axes reduced
  bool keep_dims;
  std::vector<int64_t> out;
};

void PrintTo(const ReduceCase& c, std::ostream* os) {
  *os << Shape(c.dims).to_string() << " axes ";
  if (c.axes) {
    *os << "{";
    for (int64_t a : *c.axes) *os << " " << a;
    *os << " }";
  } else {
    *os << "all";
  }
  *os << (c.keep_dims ? " keep_dims" : "");
}

class ReduceTest : public testing::TestWithParam<ReduceCase> {};

TEST_P(ReduceTest, SumAndMeanMatchReference) {
  const ReduceCase& c = GetParam();
  const Shape shape(c.dims);
  const std::vector<float> x = test_values(shape.num_elements(), 10);
  Graph g;
  Output in = ops::placeholder(g, DType::kFloat32, shape);
  Output sum = ops::reduce_sum(in, c.axes, c.keep_dims);
  Output mean = ops::reduce_mean(in, c.axes, c.keep_dims);
  EXPECT_EQ(sum.shape(), Shape(c.out));
  EXPECT_EQ(mean.shape(), Shape(c.out));
  EXPECT_EQ(sum.node->op(), "Sum");
  EXPECT_EQ(mean.node->op(), "Mean");
  Session session(g, cpu_options());
  const std::vector<Tensor> r = session.run({{in, Tensor::from_vector(shape, x)}}, {sum, mean});
  EXPECT_EQ(r[0].shape(), Shape(c.out));
  EXPECT_EQ(r[1].shape(), Shape(c.out));
  expect_all_near(r[0].to_vector<float>(), reduce_reference(c.dims, x, c.normalized, false), 1e-5, "sum");
  expect_all_near(r[1].to_vector<float>(), reduce_reference(c.dims, x, c.normalized, true), 1e-5, "mean");
}

using Axes = std::vector<int64_t>;
INSTANTIATE_TEST_SUITE_P(
    Axes, ReduceTest,
    testing::Values(ReduceCase{{3, 4}, Axes{0}, {0}, false, {4}},
                    ReduceCase{{3, 4}, Axes{1}, {1}, false, {3}},
                    ReduceCase{{3, 4}, Axes{-1}, {1}, false, {3}},
                    ReduceCase{{3, 4}, Axes{-2}, {0}, true, {1, 4}},
                    ReduceCase{{3, 4}, Axes{1}, {1}, true, {3, 1}},
                    ReduceCase{{2, 3, 4}, Axes{0, 2}, {0, 2}, false, {3}},
                    ReduceCase{{2, 3, 4}, Axes{2, 0}, {0, 2}, true, {1, 3, 1}},
                    ReduceCase{{2, 3, 4}, Axes{-1, 1}, {1, 2}, false, {2}},
                    ReduceCase{{2, 3, 4}, Axes{1}, {1}, false, {2, 4}},
                    ReduceCase{{2, 3, 4}, std::nullopt, {0, 1, 2}, false, {}},
                    ReduceCase{{2, 3, 4}, std::nullopt, {0, 1, 2}, true, {1, 1, 1}},
                    ReduceCase{{2, 3, 4}, Axes{0, 1, 2}, {0, 1, 2}, false, {}},
                    ReduceCase{{5}, Axes{0}, {0}, false, {}},
                    ReduceCase{{}, std::nullopt, {}, false, {}},
                    ReduceCase{{3, 4}, Axes{}, {}, false, {3, 4}},
                    ReduceCase{{2, 1, 3}, Axes{1}, {1}, false, {2, 3}}));

TEST(ReduceOpTest, MeanOverAnEmptyAxisIsNaN) {
  Graph g;
  Output rows = ops::constant(g, Tensor::zeros(DType::kFloat32, Shape{0, 3}));
  Output cols = ops::constant(g, Tensor::zeros(DType::kFloat32, Shape{3, 0}));
  Output mean0 = ops::reduce_mean(rows, Axes{0});
  Output mean1 = ops::reduce_mean(cols, Axes{1});
  Output mean_all = ops::reduce_mean(rows);
  Output sum0 = ops::reduce_sum(rows, Axes{0});
  Session session(g, cpu_options());
  const std::vector<Tensor> r = session.run({}, {mean0, mean1, mean_all, sum0});
  EXPECT_EQ(r[0].shape(), Shape({3}));
  for (float v : r[0].to_vector<float>()) EXPECT_TRUE(std::isnan(v));
  EXPECT_EQ(r[1].shape(), Shape({3}));
  for (float v : r[1].to_vector<float>()) EXPECT_TRUE(std::isnan(v));
  EXPECT_TRUE(r[2].shape().is_scalar());
  EXPECT_TRUE(std::isnan(r[2].to_vector<float>()[0]));
  // The sum over no elements is 0.
  EXPECT_THAT(r[3].to_vector<float>(), ElementsAre(0.0f, 0.0f, 0.0f));
}

// ---------------------------------------------------------------------------------------------
// RandomStandardNormal through ops::random_normal

TEST(RandomNormalTest, DeterministicAcrossSessionsForTheGraphSeed) {
  Graph g;
  g.set_seed(1234);
  Output r = ops::random_normal(g, Shape{8, 16});
  EXPECT_EQ(r.shape(), Shape({8, 16}));
  Session s1(g, cpu_options());
  Session s2(g, cpu_options());
  const std::vector<float> first_1 = s1.run(r).to_vector<float>();
  const std::vector<float> first_2 = s2.run(r).to_vector<float>();
  EXPECT_EQ(first_1, first_2);
  // Stateful: the next run in the same session draws new values, again the same in both.
  const std::vector<float> second_1 = s1.run(r).to_vector<float>();
  const std::vector<float> second_2 = s2.run(r).to_vector<float>();
  EXPECT_NE(first_1, second_1);
  EXPECT_EQ(second_1, second_2);
  // Not a constant fill.
  EXPECT_NE(first_1.front(), first_1.back());

  // Another graph seed gives other values; the same graph seed and layout the same ones.
  Graph other;
  other.set_seed(99);
  Output r_other = ops::random_normal(other, Shape{8, 16});
  EXPECT_NE(run_one(other, r_other).to_vector<float>(), first_1);
  Graph same;
  same.set_seed(1234);
  Output r_same = ops::random_normal(same, Shape{8, 16});
  EXPECT_EQ(run_one(same, r_same).to_vector<float>(), first_1);
}

TEST(RandomNormalTest, OpSeedsSeparateStreams) {
  Graph g;
  g.set_seed(7);
  Output a = ops::random_normal(g, Shape{64}, {.seed = 1});
  Output b = ops::random_normal(g, Shape{64}, {.seed = 2});
  Output c = ops::random_normal(g, Shape{64});
  Output d = ops::random_normal(g, Shape{64});
  Session session(g, cpu_options());
  const std::vector<Tensor> r = session.run({}, {a, b, c, d});
  EXPECT_NE(r[0].to_vector<float>(), r[1].to_vector<float>());
  EXPECT_NE(r[2].to_vector<float>(), r[3].to_vector<float>());
}

struct Moments {
  double mean = 0;
  double stddev = 0;
};

Moments moments_of(const std::vector<float>& v) {
  double total = 0;
  for (float x : v) total += x;
  const double mean = total / static_cast<double>(v.size());
  double sq = 0;
  for (float x : v) sq += (x - mean) * (x - mean);
  return {mean, std::sqrt(sq / static_cast<double>(v.size()))};
}

TEST(RandomNormalTest, StandardMoments) {
  Graph g;
  g.set_seed(42);
  Output r = ops::random_normal(g, Shape{200, 500});
  const std::vector<float> v = run_one(g, r).to_vector<float>();
  ASSERT_EQ(v.size(), 100000u);
  for (float x : v) ASSERT_TRUE(std::isfinite(x));
  const Moments m = moments_of(v);
  // Standard errors: 1/sqrt(1e5) ~ 0.003 for the mean, ~0.0022 for the stddev.
  EXPECT_NEAR(m.mean, 0.0, 0.015);
  EXPECT_NEAR(m.stddev, 1.0, 0.015);
  int64_t within_one = 0;
  for (float x : v) within_one += std::abs(x) < 1.0f ? 1 : 0;
  EXPECT_NEAR(static_cast<double>(within_one) / 1e5, 0.6827, 0.01);
}

TEST(RandomNormalTest, MeanAndStddevOptionsApplied) {
  Graph g;
  g.set_seed(5);
  Output r = ops::random_normal(g, Shape{100000}, {.mean = 5.0f, .stddev = 0.5f});
  // The composite is RandomStandardNormal * stddev + mean; check it against its own draw.
  Node* draw = g.find_node("random_normal/RandomStandardNormal");
  ASSERT_NE(draw, nullptr);
  EXPECT_EQ(draw->op(), "RandomStandardNormal");
  EXPECT_EQ(r.node->name(), "random_normal");
  Session session(g, cpu_options());
  const std::vector<Tensor> out = session.run({}, {r, draw->output(0)});
  const std::vector<float> v = out[0].to_vector<float>();
  const std::vector<float> z = out[1].to_vector<float>();
  ASSERT_EQ(v.size(), z.size());
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_EQ(v[i], z[i] * 0.5f + 5.0f) << i;
  }
  const Moments m = moments_of(v);
  EXPECT_NEAR(m.mean, 5.0, 0.01);
  EXPECT_NEAR(m.stddev, 0.5, 0.01);

  // stddev 0 gives the mean everywhere.
  Graph g0;
  Output c = ops::random_normal(g0, Shape{10}, {.mean = -2.0f, .stddev = 0.0f});
  EXPECT_THAT(run_one(g0, c).to_vector<float>(), testing::Each(-2.0f));
  expect_builder_error([&] { ops::random_normal(g0, Shape{3}, {.stddev = -1.0f}); },
                       "random_normal");
}

// ---------------------------------------------------------------------------------------------
// Identity and variables: reads share the variable's one buffer

TEST(IdentityTest, CopiesValuesOfAFeed) {
  Graph g;
  Output x = ops::placeholder(g, DType::kInt32, Shape{3});
  Output y = ops::identity(ops::identity(x));
  EXPECT_EQ(y.dtype(), DType::kInt32);
  EXPECT_EQ(y.shape(), Shape({3}));
  EXPECT_THAT(run_one(g, y, {{x, Tensor::from_vector<int32_t>(Shape{3}, {4, 5, 6})}}).to_vector<int32_t>(),
              ElementsAre(4, 5, 6));
}

TEST(IdentityTest, VariableReadsAllocateNoParameterOrActivationCopies) {
  Graph g;
  Variable w = get_variable(g, "shared/weights", {.shape = Shape{4, 3}, .initializer = init::ones()});
  Output x = ops::placeholder(g, DType::kFloat32, Shape{2, 4}, "x");
  Output h1 = ops::matmul(x, w);
  Output h2 = ops::matmul(x, w);
  Output total = ops::add(h1, h2);
  Output read_again = ops::identity(w);

  Session session(g, cpu_options());
  session.initialize_variables();
  const Allocator& alloc = session.allocator();
  ASSERT_EQ(alloc.stats(MemoryKind::kParameter).live_allocations, 1);
  ASSERT_EQ(alloc.stats(MemoryKind::kParameter).bytes_in_use, 4 * 3 * 4);
  const Tensor value = session.variable_value(w);

  const std::vector<float> xs = test_values(8, 11);
  const AllocationStats act_before = alloc.stats(MemoryKind::kActivation);
  const Tensor out = session.run(total, {{x, Tensor::from_vector(Shape{2, 4}, xs)}});
  // Only the arena holding the two products and the fetched sum were allocated; the weights
  // were never copied.
  EXPECT_EQ(alloc.stats(MemoryKind::kActivation).total_allocations - act_before.total_allocations, 2);
  EXPECT_EQ(alloc.stats(MemoryKind::kParameter).total_allocations, 1);
  EXPECT_EQ(alloc.stats(MemoryKind::kParameter).live_allocations, 1);
  EXPECT_EQ(alloc.stats(MemoryKind::kParameter).peak_bytes, 4 * 3 * 4);
  EXPECT_TRUE(session.variable_value(w).shares_buffer_with(value));
  std::vector<double> expected;
  for (int i = 0; i < 2; ++i) {
    double row = 0;
    for (int p = 0; p < 4; ++p) row += xs[static_cast<size_t>(i * 4 + p)];
    for (int j = 0; j < 3; ++j) expected.push_back(2 * row);
  }
  expect_all_near(out.to_vector<float>(), expected, 1e-5);

  // An Identity of the variable forwards its buffer: no activation is allocated, and the fetch
  // is handed out as a copy (kOther), not as the variable's buffer.
  const AllocationStats act = alloc.stats(MemoryKind::kActivation);
  const AllocationStats other = alloc.stats(MemoryKind::kOther);
  const Tensor fetched = session.run(read_again);
  EXPECT_EQ(alloc.stats(MemoryKind::kActivation).total_allocations, act.total_allocations);
  EXPECT_EQ(alloc.stats(MemoryKind::kOther).total_allocations, other.total_allocations + 1);
  EXPECT_FALSE(fetched.shares_buffer_with(value));
  EXPECT_THAT(fetched.to_vector<float>(), testing::Each(1.0f));
  EXPECT_EQ(alloc.stats(MemoryKind::kParameter).total_allocations, 1);
}

// ---------------------------------------------------------------------------------------------
// Shape inference errors when adding ops

TEST(ShapeInferenceErrorTest, MatMul) {
  Graph g;
  Output a = ops::placeholder(g, DType::kFloat32, Shape{10, 5}, "a");
  Output b = ops::placeholder(g, DType::kFloat32, Shape{8, 3}, "b");
  expect_builder_error([&] { ops::matmul(a, b); }, "matmul", {"5", "8", "(10, 5)", "(8, 3)"});
  // Transposes change which dimensions must agree.
  expect_builder_error([&] { ops::matmul(a, b, {.transpose_a = true}); }, "matmul", {"(10, 5)", "(8, 3)"});
  Output bt = ops::placeholder(g, DType::kFloat32, Shape{3, 5});
  EXPECT_EQ(ops::matmul(a, bt, {.transpose_b = true}).shape(), Shape({10, 3}));

  Output v = ops::placeholder(g, DType::kFloat32, Shape{5});
  Output r3 = ops::placeholder(g, DType::kFloat32, Shape{2, 10, 5});
  expect_builder_error([&] { ops::matmul(a, v); }, "matmul", {"rank 2", "(5,)"});
  expect_builder_error([&] { ops::matmul(r3, bt); }, "matmul", {"rank 2", "(2, 10, 5)"});

  Output ia = ops::placeholder(g, DType::kInt32, Shape{2, 2});
  Output ib = ops::placeholder(g, DType::kInt32, Shape{2, 2});
  expect_builder_error([&] { ops::matmul(ia, ib); }, "matmul", {"int32", "float32"});
}

TEST(ShapeInferenceErrorTest, Binary) {
  Graph g;
  Output a = ops::placeholder(g, DType::kFloat32, Shape{2, 3});
  Output b = ops::placeholder(g, DType::kFloat32, Shape{4});
  Output c = ops::placeholder(g, DType::kFloat32, Shape{3, 3});
  Output i = ops::placeholder(g, DType::kInt32, Shape{2, 3});
  expect_builder_error([&] { ops::add(a, b); }, "add", {"(2, 3)", "(4,)"});
  expect_builder_error([&] { ops::sub(a, c); }, "sub", {"(2, 3)", "(3, 3)"});
  expect_builder_error([&] { ops::mul(b, a); }, "mul");
  expect_builder_error([&] { ops::add(a, i); }, "add", {"float32", "int32"});
  expect_builder_error([&] { ops::mul(i, a); }, "mul", {"int32", "float32"});
}

TEST(ShapeInferenceErrorTest, BiasAdd) {
  Graph g;
  Output value = ops::placeholder(g, DType::kFloat32, Shape{4, 3});
  Output bias = ops::placeholder(g, DType::kFloat32, Shape{4});
  Output bias2 = ops::placeholder(g, DType::kFloat32, Shape{1, 3});
  Output vec = ops::placeholder(g, DType::kFloat32, Shape{3});
  expect_builder_error([&] { ops::bias_add(value, bias); }, "bias_add", {"4", "(4, 3)"});
  expect_builder_error([&] { ops::bias_add(value, bias2); }, "bias_add", {"rank 1"});
  expect_builder_error([&] { ops::bias_add(vec, vec); }, "bias_add", {"rank 2"});
}

TEST(ShapeInferenceErrorTest, SoftmaxOfAScalar) {
  Graph g;
  Output s = ops::scalar(g, 1.0f);
  expect_builder_error([&] { ops::softmax(s); }, "softmax", {"scalar"});
}

TEST(ShapeInferenceErrorTest, UnaryOfInt) {
  Graph g;
  Output i = ops::placeholder(g, DType::kInt32, Shape{3});
  expect_builder_error([&] { ops::relu(i); }, "relu", {"int32"});
  expect_builder_error([&] { ops::sigmoid(i); }, "sigmoid", {"int32"});
  expect_builder_error([&] { ops::tanh(i); }, "tanh", {"int32"});
  expect_builder_error([&] { ops::abs(i); }, "abs", {"int32"});
  expect_builder_error([&] { ops::sign(i); }, "sign", {"int32"});
  Output b = ops::placeholder(g, DType::kBool, Shape{3});
  expect_builder_error([&] { ops::abs(b); }, "abs", {"bool"});
}

TEST(ShapeInferenceErrorTest, Reshape) {
  Graph g;
  Output x = ops::placeholder(g, DType::kFloat32, Shape{2, 3});
  expect_builder_error([&] { ops::reshape(x, {4, 2}); }, "reshape", {"(2, 3)", "(4, 2)"});
  expect_builder_error([&] { ops::reshape(x, {-1, 4}); }, "reshape", {"(2, 3)"});
  expect_builder_error([&] { ops::reshape(x, {-1, -1}); }, "reshape");
  expect_builder_error([&] { ops::reshape(x, {-2, 3}); }, "reshape");
}

TEST(ShapeInferenceErrorTest, Reductions) {
  Graph g;
  Output x = ops::placeholder(g, DType::kFloat32, Shape{2, 3});
  expect_builder_error([&] { ops::reduce_sum(x, Axes{2}); }, "reduce_sum", {"2", "rank 2"});
  expect_builder_error([&] { ops::reduce_sum(x, Axes{-3}); }, "reduce_sum", {"-3"});
  expect_builder_error([&] { ops::reduce_sum(x, Axes{0, -2}); }, "reduce_sum", {"repeated"});
  expect_builder_error([&] { ops::reduce_mean(x, Axes{1, 1}); }, "reduce_mean", {"repeated"});
  expect_builder_error([&] { ops::reduce_mean(x, Axes{int64_t{1} << 40}); }, "reduce_mean");
}

TEST(ShapeInferenceErrorTest, InputFromAnotherGraph) {
  Graph g1;
  Graph g2;
  Output a = ops::placeholder(g1, DType::kFloat32, Shape{2, 2}, "a");
  Output b = ops::placeholder(g2, DType::kFloat32, Shape{2, 2}, "b");
  expect_builder_error([&] { ops::matmul(a, b); }, "matmul", {"another graph", "b"});
  expect_builder_error([&] { ops::add(a, b); }, "add", {"another graph"});
  expect_builder_error([&] { ops::bias_add(a, ops::placeholder(g2, DType::kFloat32, Shape{2})); },
                       "bias_add", {"another graph"});
  const int before = g1.num_nodes();
  EXPECT_THROW(ops::mul(a, b), Error);
  EXPECT_EQ(g1.num_nodes(), before);
}

TEST(ShapeInferenceErrorTest, NullInputs) {
  Graph g;
  Output a = ops::placeholder(g, DType::kFloat32, Shape{2, 2});
  expect_builder_error([&] { ops::matmul(a, Output{}); }, "matmul", {"null"});
  expect_builder_error([&] { ops::relu(Output{}); }, "relu", {"null"});
  expect_builder_error([&] { ops::neg(Output{}); }, "neg", {"null"});
  expect_builder_error([&] { ops::square(Output{}); }, "square", {"null"});
  expect_builder_error([&] { ops::abs(Output{}); }, "abs", {"null"});
  expect_builder_error([&] { ops::sign(Output{}); }, "sign", {"null"});
  expect_builder_error([&] { ops::add(Output{}, a); }, "add", {"null"});
}

// ---------------------------------------------------------------------------------------------
// The elementwise functors shared with the CUDA kernels, called directly

TEST(ElementwiseFunctorsTest, Relu) {
  const functors::Relu relu;
  EXPECT_EQ(relu(3.5f), 3.5f);
  EXPECT_EQ(relu(-2.0f), 0.0f);
  EXPECT_EQ(relu(0.0f), 0.0f);
  EXPECT_EQ(relu(1e-30f), 1e-30f);
  EXPECT_EQ(relu(-std::numeric_limits<float>::infinity()), 0.0f);
}

TEST(ElementwiseFunctorsTest, Sigmoid) {
  const functors::Sigmoid sigmoid;
  EXPECT_EQ(sigmoid(0.0f), 0.5f);
  for (float x : {-30.0f, -5.0f, -1.0f, -0.25f, 0.25f, 1.0f, 5.0f, 30.0f}) {
    EXPECT_NEAR(sigmoid(x), 1.0 / (1.0 + std::exp(-static_cast<double>(x))), 1e-7) << x;
    // Symmetry: sigmoid(-x) = 1 - sigmoid(x).
    EXPECT_NEAR(sigmoid(-x), 1.0f - sigmoid(x), 1e-7) << x;
  }
  EXPECT_EQ(sigmoid(100.0f), 1.0f);
  EXPECT_LT(sigmoid(-100.0f), 1e-40f);
  EXPECT_EQ(sigmoid(1000.0f), 1.0f);
  EXPECT_EQ(sigmoid(-1000.0f), 0.0f);
  EXPECT_EQ(sigmoid(std::numeric_limits<float>::infinity()), 1.0f);
  EXPECT_EQ(sigmoid(-std::numeric_limits<float>::infinity()), 0.0f);
}

TEST(ElementwiseFunctorsTest, Tanh) {
  const functors::Tanh tanh_fn;
  EXPECT_EQ(tanh_fn(0.0f), 0.0f);
  for (float x : {-3.0f, -0.5f, 0.1f, 2.0f}) EXPECT_NEAR(tanh_fn(x), std::tanh(static_cast<double>(x)), 1e-7) << x;
  EXPECT_EQ(tanh_fn(50.0f), 1.0f);
  EXPECT_EQ(tanh_fn(-50.0f), -1.0f);
}

TEST(ElementwiseFunctorsTest, AbsAndSign) {
  const functors::Abs abs_fn;
  const functors::Sign sign_fn;
  constexpr float kInf = std::numeric_limits<float>::infinity();
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(abs_fn(-2.5f), 2.5f);
  EXPECT_EQ(abs_fn(-kInf), kInf);
  EXPECT_FALSE(std::signbit(abs_fn(-0.0f)));
  EXPECT_TRUE(std::isnan(abs_fn(kNaN)));
  EXPECT_TRUE(std::isnan(abs_fn(-kNaN)));
  EXPECT_EQ(sign_fn(-2.5f), -1.0f);
  EXPECT_EQ(sign_fn(1e-30f), 1.0f);
  EXPECT_EQ(sign_fn(kInf), 1.0f);
  EXPECT_EQ(sign_fn(-kInf), -1.0f);
  EXPECT_EQ(sign_fn(0.0f), 0.0f);
  EXPECT_FALSE(std::signbit(sign_fn(-0.0f)));
  EXPECT_TRUE(std::isnan(sign_fn(kNaN)));
  EXPECT_TRUE(std::isnan(sign_fn(-kNaN)));
}

TEST(ElementwiseFunctorsTest, Arithmetic) {
  const functors::Add add;
  const functors::Sub sub;
  const functors::Mul mul;
  EXPECT_EQ(add(1.5f, 2.25f), 3.75f);
  EXPECT_EQ(sub(1.5f, 2.25f), -0.75f);
  EXPECT_EQ(mul(1.5f, -2.0f), -3.0f);
  EXPECT_EQ(add(int32_t{7}, int32_t{-9}), -2);
  EXPECT_EQ(sub(int32_t{7}, int32_t{-9}), 16);
  EXPECT_EQ(mul(int32_t{7}, int32_t{-9}), -63);
  EXPECT_EQ(add(int64_t{1} << 40, int64_t{1}), (int64_t{1} << 40) + 1);
  EXPECT_EQ(sub(int64_t{0}, int64_t{1} << 40), -(int64_t{1} << 40));
  EXPECT_EQ(mul(int64_t{1} << 20, int64_t{1} << 20), int64_t{1} << 40);
}

// ---------------------------------------------------------------------------------------------
// Exp, Log, Sqrt, Rsqrt, Maximum, Minimum, Pow, Transpose

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Runs binary `op` on two constants.
Tensor run_binary(Output (*op)(Output, Output, std::string_view), const Tensor& x, const Tensor& y) {
  Graph g;
  return run_one(g, op(ops::constant(g, x), ops::constant(g, y), ""));
}

TEST(MathOpTest, ExpLogSqrtRsqrtValues) {
  const std::vector<float> x = {0.0f, 1.0f, 4.0f, 0.25f, -1.0f, kInf, -kInf, kNaN};
  const std::vector<float> e = run_unary(ops::exp, x).to_vector<float>();
  const std::vector<float> l = run_unary(ops::log, x).to_vector<float>();
  const std::vector<float> s = run_unary(ops::sqrt, x).to_vector<float>();
  const std::vector<float> r = run_unary(ops::rsqrt, x).to_vector<float>();
  EXPECT_EQ(e[0], 1.0f);
  EXPECT_NEAR(e[1], 2.718281828f, 1e-6f);
  EXPECT_NEAR(e[4], 0.367879441f, 1e-7f);
  EXPECT_EQ(e[5], kInf);
  EXPECT_EQ(e[6], 0.0f);
  EXPECT_TRUE(std::isnan(e[7]));
  EXPECT_EQ(run_unary(ops::exp, {100.0f, -200.0f}).to_vector<float>(), (std::vector<float>{kInf, 0.0f}));
  EXPECT_EQ(l[0], -kInf);  // TensorFlow: log(0) = -inf
  EXPECT_EQ(l[1], 0.0f);
  EXPECT_NEAR(l[2], 1.386294361f, 1e-6f);
  EXPECT_TRUE(std::isnan(l[4]));  // log of a negative number is NaN
  EXPECT_EQ(l[5], kInf);
  EXPECT_TRUE(std::isnan(l[6]));
  EXPECT_TRUE(std::isnan(l[7]));
  EXPECT_EQ(s[0], 0.0f);
  EXPECT_EQ(s[2], 2.0f);
  EXPECT_EQ(s[3], 0.5f);
  EXPECT_TRUE(std::isnan(s[4]));  // sqrt(-1) = NaN
  EXPECT_EQ(s[5], kInf);
  EXPECT_TRUE(std::isnan(s[7]));
  EXPECT_EQ(r[0], kInf);  // rsqrt(0) = inf
  EXPECT_EQ(r[1], 1.0f);
  EXPECT_EQ(r[2], 0.5f);
  EXPECT_EQ(r[3], 2.0f);
  EXPECT_TRUE(std::isnan(r[4]));
  EXPECT_EQ(r[5], 0.0f);
  EXPECT_TRUE(std::isnan(r[7]));
  const std::vector<float> neg_zero = run_unary(ops::rsqrt, {-0.0f}).to_vector<float>();
  EXPECT_EQ(neg_zero[0], -kInf);  // 1 / sqrt(-0) = 1 / -0
}

TEST(MathOpTest, UnaryNodesAndDtypeErrors) {
  Graph g;
  Output x = ops::placeholder(g, DType::kFloat32, Shape{2, 3}, "x");
  EXPECT_EQ(ops::exp(x).node->name(), "Exp");
  EXPECT_EQ(ops::log(x).node->name(), "Log");
  EXPECT_EQ(ops::sqrt(x).node->name(), "Sqrt");
  EXPECT_EQ(ops::rsqrt(x, "r").node->name(), "r");
  EXPECT_EQ(ops::rsqrt(x).node->op(), "Rsqrt");
  EXPECT_EQ(ops::exp(x).shape(), Shape({2, 3}));
  Output i = ops::placeholder(g, DType::kInt32, Shape{2}, "i");
  expect_builder_error([&] { ops::exp(i); }, "exp", {"int32", "only float32"});
  expect_builder_error([&] { ops::log(i); }, "log", {"int32"});
  expect_builder_error([&] { ops::sqrt(i); }, "sqrt", {"int32"});
  expect_builder_error([&] { ops::rsqrt(i); }, "rsqrt", {"int32"});
  expect_builder_error([&] { ops::exp(Output{}); }, "exp", {"null"});
}

TEST(MathOpTest, MaximumMinimumBroadcastAndPropagateNaN) {
  const Tensor x = Tensor::from_vector<float>(Shape{2, 3}, {1.0f, -2.0f, kNaN, 4.0f, 0.0f, -kInf});
  const Tensor y = Tensor::from_vector<float>(Shape{3}, {0.5f, kNaN, 3.0f});
  const std::vector<float> mx = run_binary(ops::maximum, x, y).to_vector<float>();
  const std::vector<float> mn = run_binary(ops::minimum, x, y).to_vector<float>();
  // NaN on either side gives NaN, as TensorFlow's Maximum and Minimum do.
  EXPECT_EQ(mx[0], 1.0f);
  EXPECT_TRUE(std::isnan(mx[1]));
  EXPECT_TRUE(std::isnan(mx[2]));
  EXPECT_EQ(mx[3], 4.0f);
  EXPECT_TRUE(std::isnan(mx[4]));
  EXPECT_EQ(mx[5], 3.0f);
  EXPECT_EQ(mn[0], 0.5f);
  EXPECT_TRUE(std::isnan(mn[1]));
  EXPECT_TRUE(std::isnan(mn[2]));
  EXPECT_EQ(mn[3], 0.5f);
  EXPECT_TRUE(std::isnan(mn[4]));
  EXPECT_EQ(mn[5], -kInf);
  // Integers, broadcast on both sides.
  const Tensor a = Tensor::from_vector<int32_t>(Shape{2, 1}, {1, 5});
  const Tensor b = Tensor::from_vector<int32_t>(Shape{1, 3}, {0, 3, 7});
  EXPECT_THAT(run_binary(ops::maximum, a, b).to_vector<int32_t>(), ElementsAre(1, 3, 7, 5, 5, 7));
  EXPECT_THAT(run_binary(ops::minimum, a, b).to_vector<int32_t>(), ElementsAre(0, 1, 1, 0, 3, 5));
  const Tensor c = Tensor::from_vector<int64_t>(Shape{2}, {int64_t{1} << 40, -3});
  EXPECT_THAT(run_binary(ops::maximum, c, Tensor::scalar<int64_t>(0)).to_vector<int64_t>(),
              ElementsAre(int64_t{1} << 40, 0));
}

TEST(MathOpTest, PowValuesAndEdgeCases) {
  const Tensor x = Tensor::from_vector<float>(Shape{8}, {0.0f, 2.0f, 4.0f, -2.0f, -2.0f, 0.0f, kInf, 1.0f});
  const Tensor y = Tensor::from_vector<float>(Shape{8}, {0.0f, 3.0f, 0.5f, 2.0f, 0.5f, -1.0f, -1.0f, kNaN});
  const std::vector<float> z = run_binary(ops::pow, x, y).to_vector<float>();
  EXPECT_EQ(z[0], 1.0f);  // pow(0, 0) = 1
  EXPECT_EQ(z[1], 8.0f);
  EXPECT_EQ(z[2], 2.0f);
  EXPECT_EQ(z[3], 4.0f);
  EXPECT_TRUE(std::isnan(z[4]));  // a negative base to a non-integer power
  EXPECT_EQ(z[5], kInf);
  EXPECT_EQ(z[6], 0.0f);
  EXPECT_EQ(z[7], 1.0f);  // pow(1, NaN) = 1, as C and TensorFlow define it
  // Broadcast exponent.
  EXPECT_THAT(run_binary(ops::pow, Tensor::from_vector<float>(Shape{2, 2}, {1, 2, 3, 4}),
                         Tensor::from_vector<float>(Shape{2}, {2, 0.5f}))
                  .to_vector<float>(),
              ElementsAre(1.0f, std::sqrt(2.0f), 9.0f, 2.0f));
}

TEST(MathOpTest, BinaryNodesAndErrors) {
  Graph g;
  Output x = ops::placeholder(g, DType::kFloat32, Shape{2, 3}, "x");
  Output y = ops::placeholder(g, DType::kFloat32, Shape{4}, "y");
  Output i = ops::placeholder(g, DType::kInt32, Shape{3}, "i");
  Output m = ops::maximum(x, x);
  EXPECT_EQ(m.node->op(), "Maximum");
  EXPECT_EQ(m.node->name(), "Maximum");
  EXPECT_EQ(m.node->attr<DType>("T"), DType::kFloat32);
  EXPECT_EQ(ops::minimum(x, x).node->name(), "Minimum");
  EXPECT_EQ(ops::pow(x, x).node->name(), "Pow");
  expect_builder_error([&] { ops::maximum(x, y); }, "maximum", {"(2, 3)", "(4,)", "broadcast"});
  expect_builder_error([&] { ops::minimum(x, i); }, "minimum", {"float32", "int32"});
  expect_builder_error([&] { ops::pow(i, i); }, "pow", {"int32", "only float32"});
  expect_builder_error([&] { ops::pow(x, Output{}); }, "pow", {"null"});
}

TEST(TransposeTest, PermutesValuesOfEveryDtype) {
  Graph g;
  // (2, 3, 4) -> perm {2, 0, 1} -> (4, 2, 3): out[k][i][j] = in[i][j][k].
  std::vector<float> values(24);
  std::iota(values.begin(), values.end(), 0.0f);
  Output x = ops::constant(g, Tensor::from_vector<float>(Shape{2, 3, 4}, values));
  Output t = ops::transpose(x, {2, 0, 1});
  EXPECT_EQ(t.shape(), Shape({4, 2, 3}));
  const std::vector<float> out = run_one(g, t).to_vector<float>();
  for (int k = 0; k < 4; ++k) {
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 3; ++j) EXPECT_EQ(out[static_cast<size_t>(k * 6 + i * 3 + j)], values[static_cast<size_t>(i * 12 + j * 4 + k)]);
    }
  }
  // A matrix, on int64, bool and float16.
  Output m = ops::constant(g, Tensor::from_vector<int64_t>(Shape{2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_THAT(run_one(g, ops::transpose(m, {1, 0})).to_vector<int64_t>(), ElementsAre(1, 4, 2, 5, 3, 6));
  Output b = ops::constant(g, Tensor::from_vector<bool>(Shape{1, 2}, {true, false}));
  const Tensor bt = run_one(g, ops::transpose(b, {1, 0}));
  EXPECT_EQ(bt.shape(), Shape({2, 1}));
  EXPECT_THAT(bt.to_vector<bool>(), ElementsAre(true, false));
  Output h = ops::cast(ops::constant(g, Tensor::from_vector<float>(Shape{2, 2}, {1, 2, 3, 4})), DType::kFloat16);
  EXPECT_THAT(run_one(g, ops::cast(ops::transpose(h, {1, 0}), DType::kFloat32)).to_vector<float>(),
              ElementsAre(1, 3, 2, 4));
  // Identity permutation, a scalar, an empty tensor, and rank 9 (beyond the fixed index).
  EXPECT_EQ(run_one(g, ops::transpose(x, {0, 1, 2})).to_vector<float>(), values);
  EXPECT_EQ(run_one(g, ops::transpose(ops::scalar(g, 3.0f), {})).to_vector<float>(), std::vector<float>{3.0f});
  Output empty = ops::constant(g, Tensor(DType::kFloat32, Shape{0, 3}));
  EXPECT_EQ(run_one(g, ops::transpose(empty, {1, 0})).shape(), Shape({3, 0}));
  Output big = ops::reshape(ops::constant(g, Tensor::from_vector<float>(Shape{4}, {1, 2, 3, 4})), {1, 1, 1, 2, 1, 1, 1, 2, 1});
  Output big_t = ops::transpose(big, {7, 1, 2, 3, 4, 5, 6, 0, 8});
  EXPECT_EQ(big_t.shape(), Shape({2, 1, 1, 2, 1, 1, 1, 1, 1}));
  EXPECT_THAT(run_one(g, big_t).to_vector<float>(), ElementsAre(1, 3, 2, 4));
}

TEST(TransposeTest, NodesAndPermErrors) {
  Graph g;
  Output x = ops::placeholder(g, DType::kFloat32, Shape{2, 3, 4}, "x");
  Output t = ops::transpose(x, {1, 2, 0});
  EXPECT_EQ(t.node->op(), "Transpose");
  EXPECT_EQ(t.node->name(), "transpose");
  EXPECT_EQ(t.node->attr<DType>("T"), DType::kFloat32);
  EXPECT_EQ(t.node->attr<DType>("Tperm"), DType::kInt32);
  EXPECT_EQ(t.node->input(1).node->name(), "transpose/perm");
  EXPECT_EQ(t.node->input(1).node->op(), "Const");
  EXPECT_EQ(ops::transpose(x, {0, 1, 2}).node->name(), "transpose_1");
  expect_builder_error([&] { ops::transpose(x, {0, 1}); }, "transpose",
                       {"perm [0, 1] is not a permutation of 0..rank-1", "(2, 3, 4)", "rank 3"});
  expect_builder_error([&] { ops::transpose(x, {0, 1, 1}); }, "transpose", {"perm [0, 1, 1] is not a permutation"});
  expect_builder_error([&] { ops::transpose(x, {0, 1, 3}); }, "transpose", {"not a permutation"});
  expect_builder_error([&] { ops::transpose(x, {-1, 0, 1}); }, "transpose", {"not a permutation"});
  expect_builder_error([&] { ops::transpose(Output{}, {0}); }, "transpose", {"null"});
  // A perm that is not a Const, and an int64 perm built by hand.
  NodeSpec spec;
  spec.op = "Transpose";
  spec.inputs = {x, ops::placeholder(g, DType::kInt32, Shape{3}, "p")};
  spec.attrs = {{"T", DType::kFloat32}, {"Tperm", DType::kInt32}};
  expect_builder_error([&] { g.add_node(spec); }, "transpose", {"perm must be a constant"});
  spec.inputs[1] = ops::constant(g, Tensor::from_vector<int64_t>(Shape{3}, {2, 1, 0}));
  spec.attrs = {{"T", DType::kFloat32}, {"Tperm", DType::kInt64}};
  EXPECT_EQ(g.add_node(spec)->output_shape(0), Shape({4, 3, 2}));
  spec.inputs[1] = ops::constant(g, Tensor::from_vector<float>(Shape{3}, {2, 1, 0}));
  expect_builder_error([&] { g.add_node(spec); }, "transpose", {"float32", "int32"});
}

TEST(ElementwiseFunctorsTest, MathFunctors) {
  EXPECT_EQ(functors::Exp{}(0.0f), 1.0f);
  EXPECT_EQ(functors::Log{}(0.0f), -kInf);
  EXPECT_TRUE(std::isnan(functors::Sqrt{}(-1.0f)));
  EXPECT_EQ(functors::Rsqrt{}(0.0f), kInf);
  EXPECT_EQ(functors::Pow{}(0.0f, 0.0f), 1.0f);
  EXPECT_TRUE(std::isnan(functors::Maximum{}(kNaN, 1.0f)));
  EXPECT_TRUE(std::isnan(functors::Maximum{}(1.0f, kNaN)));
  EXPECT_TRUE(std::isnan(functors::Minimum{}(kNaN, 1.0f)));
  EXPECT_TRUE(std::isnan(functors::Minimum{}(1.0f, kNaN)));
  EXPECT_EQ(functors::Maximum{}(int32_t{-3}, int32_t{2}), 2);
  EXPECT_EQ(functors::Minimum{}(int64_t{-3}, int64_t{2}), -3);
}

}  // namespace
}  // namespace scopeflow
