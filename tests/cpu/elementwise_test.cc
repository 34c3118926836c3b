// The CPU elementwise family's NaN semantics, which TensorFlow's kernels define: ReLU keeps NaN
// (and -0) in the plain kernel and in fused MatMul -> BiasAdd -> Relu chains on both GEMM
// libraries; ReluGrad multiplies by the mask, so a NaN or infinite gradient stays non-finite.
// tests/interop checks the same values against TensorFlow itself (the nan_semantics case).

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "scopeflow/ops.h"
#include "scopeflow/session.h"

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

}  // namespace
}  // namespace scopeflow
