#pragma once
// Shared by the data-parallel test programs (run under mpirun): a small MLP on deterministic
// data, where global row i of step s is the same whichever rank holds it.

#include <cmath>
#include <cstdint>
#include <vector>

#include "scopeflow/graph.h"
#include "scopeflow/layers.h"
#include "scopeflow/ops.h"
#include "scopeflow/tensor.h"

namespace scopeflow::dist_test {

inline constexpr int64_t kInputs = 6;
inline constexpr int64_t kOutputs = 3;

/// Dense options with a tanh activation.
inline DenseOptions tanh_options() {
  DenseOptions options;
  options.activation = Activation::kTanh;
  return options;
}

struct Mlp {
  Output x;       // (batch, kInputs)
  Output target;  // (batch, kOutputs)
  Output loss;    // mean squared error, a scalar
};

/// x -> Dense(16, tanh) -> Dense(kOutputs) -> mean squared error against target.
inline Mlp build_mlp(Graph& graph, int64_t batch, int64_t hidden = 16) {
  Mlp m;
  m.x = ops::placeholder(graph, DType::kFloat32, Shape{batch, kInputs}, "x");
  m.target = ops::placeholder(graph, DType::kFloat32, Shape{batch, kOutputs}, "target");
  Dense hidden_layer(hidden, tanh_options());
  Dense output_layer(kOutputs);
  Output y = output_layer(hidden_layer(m.x));
  m.loss = ops::reduce_mean(ops::square(ops::sub(y, m.target)));
  return m;
}

/// Rows [first_row, first_row + batch) of step `step`'s global batch: (x, target).
inline std::pair<Tensor, Tensor> batch_rows(int64_t first_row, int64_t batch, int step) {
  std::vector<float> x;
  std::vector<float> t;
  for (int64_t i = first_row; i < first_row + batch; ++i) {
    for (int64_t j = 0; j < kInputs; ++j) {
      x.push_back(static_cast<float>(std::sin(0.37 * static_cast<double>((i + 1) * (j + 1)) + 0.11 * step)));
    }
    for (int64_t c = 0; c < kOutputs; ++c) {
      t.push_back(static_cast<float>(std::cos(0.23 * static_cast<double>(i + 1) + 0.5 * static_cast<double>(c) +
                                              0.07 * step)));
    }
  }
  return {Tensor::from_vector<float>(Shape{batch, kInputs}, x), Tensor::from_vector<float>(Shape{batch, kOutputs}, t)};
}

}  // namespace scopeflow::dist_test
