// The CPU elementwise family's NaN semantics, which TensorFlow's kernels define: ReLU keeps NaN
// (and -0) in the plain kernel and in fused MatMul -> BiasAdd -> Relu chains on both GEMM
// libraries; ReluGrad multiplies by the mask, so a NaN or infinite gradient stays non-finite.
// Tanh, Sigmoid and Sqrt on oneDNN's eltwise primitives (oneDNN sessions, from 256 elements
// on) agree with the hand-written kernels (OpenBLAS sessions) within 4e-7 relative, NaN and
// infinities exactly, and traces name the primitive; Exp and Log stay hand-written.
// tests/interop checks the same values against TensorFlow itself (the nan_semantics case).

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <limits>
#include <vector>

#include "scopeflow/ops.h"
#include "scopeflow/session.h"
#include "scopeflow/tensor.h"

namespace scopeflow {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(CpuElementwiseTest, ReluKeepsNaNAndNegativeZero) {
  Graph g;
  Output x = ops::constant(g, Tensor::from_vector<float>(Shape{5}, {kNaN, -1.0f, -0.0f, 2.0f, -kInf}));
  Session session(g, SessionOptions{.device = Device::cpu()});
  const std::vector<float> y = session.run(ops::relu(x)).to_vector<float>();
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_TRUE(y[2] == 0.0f && std::signbit(y[2])) << "max(-0, 0) is -0 in TensorFlow";
  EXPECT_EQ(y[3], 2.0f);
  EXPECT_EQ(y[4], 0.0f);
}

TEST(CpuElementwiseTest, AFusedReluChainKeepsNaNOnEitherGemmLibrary) {
  std::vector<CpuGemm> libraries = {CpuGemm::kOpenBlas};
  if (cpu_gemm_onednn_built()) libraries.push_back(CpuGemm::kOneDnn);
  for (const CpuGemm library : libraries) {
    Graph g;
    Output x = ops::placeholder(g, DType::kFloat32, Shape{2, 2}, "x");
    Output w = ops::constant(g, Tensor::from_vector<float>(Shape{2, 2}, {1, 0, 0, 1}));
    Output b = ops::constant(g, Tensor::from_vector<float>(Shape{2}, {0, 0}));
    Output y = ops::relu(ops::bias_add(ops::matmul(x, w), b));
    Session session(g, SessionOptions{.device = Device::cpu(), .cpu_gemm = library});
    const Tensor x_value = Tensor::from_vector<float>(Shape{2, 2}, {kNaN, 1.0f, -3.0f, 2.0f});
    const std::vector<float> out = session.run({{x, x_value}}, {y}).at(0).to_vector<float>();
    // Row 0 is (NaN * 1 + 1 * 0, NaN * 0 + 1 * 1): NaN in both products.
    EXPECT_TRUE(std::isnan(out[0])) << "library " << static_cast<int>(library);
    EXPECT_TRUE(std::isnan(out[1])) << "library " << static_cast<int>(library);
    EXPECT_EQ(out[2], 0.0f);
    EXPECT_EQ(out[3], 2.0f);
  }
}

TEST(CpuElementwiseTest, ReluGradKeepsANonFiniteGradientWhereTheMaskIsZero) {
  Graph g;
  Output dy = ops::constant(g, Tensor::from_vector<float>(Shape{4}, {kNaN, kInf, 3.0f, kNaN}));
  Output x = ops::constant(g, Tensor::from_vector<float>(Shape{4}, {-1.0f, 0.0f, kNaN, 2.0f}));
  Session session(g, SessionOptions{.device = Device::cpu()});
  const std::vector<float> grad = session.run(ops::relu_grad(dy, x)).to_vector<float>();
  EXPECT_TRUE(std::isnan(grad[0])) << "NaN * 0";
  EXPECT_TRUE(std::isnan(grad[1])) << "inf * 0";
  EXPECT_EQ(grad[2], 0.0f) << "a NaN feature is not > 0";
  EXPECT_TRUE(std::isnan(grad[3]));
}

struct TranscendentalCase {
  std::string name;
  std::function<Output(Output)> build;
  std::string trace;  // what the oneDNN session's trace names
};

std::vector<TranscendentalCase> transcendental_cases() {
  return {{"tanh", [](Output x) { return ops::tanh(x); }, "oneDNN eltwise tanh"},
          {"sigmoid", [](Output x) { return ops::sigmoid(x); }, "oneDNN eltwise logistic"},
          // Exp and Log stay hand-written (oneDNN's exp turns NaN into inf): no trace.
          {"exp", [](Output x) { return ops::exp(x); }, ""},
          {"log", [](Output x) { return ops::log(x); }, ""},
          {"sqrt", [](Output x) { return ops::sqrt(x); }, "oneDNN eltwise sqrt"}};
}

// Values over the ranges that matter: tiny, moderate and overflowing magnitudes of both signs,
// zeros of both signs, infinities and NaN.
std::vector<float> transcendental_inputs(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float t = static_cast<float>(i) / static_cast<float>(n);
    v[static_cast<size_t>(i)] = (i % 2 == 0 ? 1.0f : -1.0f) * std::pow(10.0f, -8.0f + 10.5f * t);
  }
  const float specials[] = {kNaN, kInf, -kInf, 0.0f, -0.0f, 88.0f, 89.0f, -87.0f, -104.0f, 1e-30f, 20.0f, -20.0f};
  for (size_t k = 0; k < std::size(specials); ++k) v[k * 7] = specials[k];
  return v;
}

TEST(CpuElementwiseTest, TranscendentalOpsOnOneDnnMatchTheHandWrittenKernels) {
  if (!cpu_gemm_onednn_built()) GTEST_SKIP() << "built with SCOPEFLOW_CPU_GEMM=openblas: no oneDNN eltwise to compare";
  for (const TranscendentalCase& c : transcendental_cases()) {
    for (const int64_t n : {int64_t{255}, int64_t{256}, int64_t{4099}, int64_t{70000}}) {
      Graph g;
      const Output x = ops::constant(g, Tensor::from_vector<float>(Shape{n}, transcendental_inputs(n)));
      const Output y = c.build(x);
      Session onednn(g, SessionOptions{.device = Device::cpu(), .cpu_gemm = CpuGemm::kOneDnn});
      Session hand_written(g, SessionOptions{.device = Device::cpu(), .cpu_gemm = CpuGemm::kOpenBlas});
      RunStats stats;
      const std::vector<float> got =
          onednn.run({}, std::span<const Output>(&y, 1), {}, RunOptions{.trace = true}, &stats).at(0).to_vector<float>();
      const std::vector<float> want = hand_written.run(y).to_vector<float>();
      std::string kernel;
      for (const NodeRunStats& node : stats.nodes) {
        if (node.node == y.node) kernel = node.fused_kernel;
      }
      EXPECT_EQ(kernel, n >= 256 ? c.trace : std::string()) << c.name << " n=" << n;
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        const float a = got[i];
        const float b = want[i];
        if (std::isnan(b) || std::isinf(b)) {
          EXPECT_TRUE((std::isnan(a) && std::isnan(b)) || a == b)
              << c.name << "(" << transcendental_inputs(n)[i] << "): " << a << " against " << b;
          continue;
        }
        // A few ulps; exp and sigmoid of large inputs underflow to subnormals where oneDNN may
        // flush, so an absolute floor of 1e-37.
        EXPECT_NEAR(a, b, std::max(4e-7f * std::fabs(b), 1e-37f))
            << c.name << "(" << transcendental_inputs(n)[i] << ") at n=" << n;
      }
    }
  }
}

}  // namespace
}  // namespace scopeflow
