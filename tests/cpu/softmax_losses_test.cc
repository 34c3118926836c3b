// Softmax on a oneDNN primitive (sessions of the oneDNN build) against the hand-written kernel
// (OpenBLAS sessions), over shapes, large logits and empty rows; log-softmax (hand-written in
// both) alongside; and TensorFlow's NaN semantics in both.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "scopeflow/ops.h"
#include "scopeflow/session.h"

namespace scopeflow {
namespace {

TEST(OneDnnSoftmaxTest, MatchesTheHandWrittenKernels) {
  if (!cpu_gemm_onednn_built()) GTEST_SKIP() << "built with SCOPEFLOW_CPU_GEMM=openblas: no oneDNN softmax to compare";
  for (const Shape& shape : {Shape{1, 1}, Shape{3, 10}, Shape{2, 3, 7}, Shape{64, 1024}, Shape{4, 0}, Shape{0, 5}}) {
    Graph g;
    std::vector<float> values(static_cast<size_t>(shape.num_elements()));
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>((i * 37) % 23) * 4.0f - 40.0f;
    if (!values.empty()) values[0] = 80.0f;  // a large logit: exp overflows without the max shift
    Output x = ops::constant(g, Tensor::from_vector<float>(shape, values));
    const Output both[] = {ops::softmax(x), ops::log_softmax(x)};
    Session onednn(g, SessionOptions{.device = Device::cpu(), .cpu_gemm = CpuGemm::kOneDnn});
    Session hand_written(g, SessionOptions{.device = Device::cpu(), .cpu_gemm = CpuGemm::kOpenBlas});
    const std::vector<Tensor> got = onednn.run({}, both);
    const std::vector<Tensor> want = hand_written.run({}, both);
    for (size_t k = 0; k < 2; ++k) {
      const std::vector<float> x_got = got[k].to_vector<float>();
      const std::vector<float> x_want = want[k].to_vector<float>();
      ASSERT_EQ(x_got.size(), x_want.size());
      for (size_t i = 0; i < x_got.size(); ++i) {
        ASSERT_TRUE(std::isfinite(x_got[i])) << shape.to_string() << " output " << k << "[" << i << "]";
        ASSERT_NEAR(x_got[i], x_want[i], 2e-5 * std::max(1.0f, std::fabs(x_want[i])))
            << shape.to_string() << " output " << k << "[" << i << "]";
      }
    }
  }
}

// NaN never disappears: softmax is NaN where a row's input is NaN (TensorFlow's oneDNN softmax,
// which ours is in oneDNN builds, leaves the row's other entries finite; the hand-written kernel
// makes the whole row NaN), log-softmax is NaN throughout such a row as TensorFlow's; rows
// without NaN are untouched by it.
TEST(OneDnnSoftmaxTest, NaNNeverDisappears) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<CpuGemm> libraries = {CpuGemm::kOpenBlas};
  if (cpu_gemm_onednn_built()) libraries.push_back(CpuGemm::kOneDnn);
  for (const CpuGemm library : libraries) {
    Graph g;
    Output x = ops::constant(g, Tensor::from_vector<float>(Shape{3, 4}, {nan, -inf, inf, -0.0f, 1, nan, 2, -inf, 1, 2, 3, 4}));
    Session session(g, SessionOptions{.device = Device::cpu(), .cpu_gemm = library});
    const std::vector<Tensor> got = session.run({}, {ops::softmax(x), ops::log_softmax(x)});
    for (size_t k = 0; k < 2; ++k) {
      const std::vector<float> v = got[k].to_vector<float>();
      for (size_t i = 0; i < 8; ++i) {
        if (k == 1 || i == 0 || i == 5) {
          EXPECT_TRUE(std::isnan(v[i])) << "output " << k << "[" << i << "]";
        }
      }
      for (size_t i = 8; i < 12; ++i) EXPECT_TRUE(std::isfinite(v[i])) << "output " << k << "[" << i << "]";
    }
  }
}

}  // namespace
}  // namespace scopeflow
