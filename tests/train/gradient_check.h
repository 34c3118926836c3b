#pragma once
// Finite-difference gradient checking shared by the gradient and training tests.

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "scopeflow/gradients.h"
#include "scopeflow/ops.h"
#include "scopeflow/session.h"

namespace scopeflow::test {

/// Uniform values in [lo, hi), with |v| >= min_abs (keeps kinks such as Relu's away).
inline Tensor random_tensor(const Shape& shape, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f,
                            float min_abs = 0.0f) {
  Tensor t(DType::kFloat32, shape);
  std::uniform_real_distribution<float> dist(lo, hi);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    float v = dist(rng);
    while (std::fabs(v) < min_abs) v = dist(rng);
    p[i] = v;
  }
  return t;
}

inline double scalar_value(const Tensor& t) { return static_cast<double>(t.data<float>()[0]); }

/// Compares analytic gradients of a scalar `loss` against central differences, perturbing each
/// fed float input (at most `max_elements` elements per input, spread evenly).
/// `feeds` holds the placeholders and their values; returns the largest scaled error.
inline void expect_gradients_match_finite_differences(Session& session, Output loss, FeedList feeds,
                                                      double epsilon = 1e-2, double rtol = 2e-2,
                                                      double atol = 2e-3, int64_t max_elements = 48) {
  std::vector<Output> xs;
  for (const auto& [output, value] : feeds) {
    if (is_floating(output.dtype())) xs.push_back(output);
  }
  std::vector<Output> grads = gradients(std::span<const Output>(&loss, 1), xs);
  std::vector<Output> fetch_grads;
  for (size_t i = 0; i < grads.size(); ++i) {
    ASSERT_TRUE(grads[i].valid()) << "no gradient for " << xs[i].name();
    fetch_grads.push_back(grads[i]);
  }
  std::vector<Tensor> analytic = session.run(feeds, fetch_grads);
  size_t x_index = 0;
  for (size_t f = 0; f < feeds.size(); ++f) {
    if (!is_floating(feeds[f].first.dtype())) continue;
    const Tensor original = feeds[f].second.clone();
    const int64_t n = original.num_elements();
    const int64_t step = std::max<int64_t>(1, n / max_elements);
    for (int64_t e = 0; e < n; e += step) {
      auto loss_at = [&](double delta) {
        Tensor perturbed = original.clone();
        perturbed.data<float>()[e] = static_cast<float>(original.data<float>()[e] + delta);
        feeds[f].second = perturbed;
        return scalar_value(session.run(feeds, {loss}).at(0));
      };
      const double numeric = (loss_at(epsilon) - loss_at(-epsilon)) / (2 * epsilon);
      const double got = analytic[x_index].data<float>()[e];
      EXPECT_NEAR(got, numeric, atol + rtol * std::fabs(numeric))
          << "d loss / d " << xs[x_index].name() << "[" << e << "]";
    }
    feeds[f].second = original;
    ++x_index;
  }
}

}  // namespace scopeflow::test
