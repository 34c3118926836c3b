#pragma once
// The models and the sequence task of the `train` program (examples/train.cc), as graph builders.
//
// Every layer is the article's shared linear layer: get_variable "weights" and "biases" under a
// variable scope. Sharing is decided by scope names and reuse modes alone:
//  * MLP: input_layer, then `depth` hidden layers, then output_layer. Shared, the hidden layers
//    all enter ONE scope "shared_hidden" with auto-reuse, so they read one weights/biases pair;
//    unshared, each has its own scope hidden_0 .. hidden_{depth-1}.
//  * RNN: h_t = tanh(x_t Wx + h_{t-1} Wh + b) over T steps, then output_layer on h_T. Shared,
//    every step enters scope "rnn_cell" with auto-reuse (one Wx, Wh, b: a recursive layer);
//    unshared, step t has its own cell rnn_cell_t.
// A tower built with reuse_all = true (the evaluation towers) enters every scope with
// Reuse::kReuse: it must find every variable the training tower created, and reads the same
// buffers.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "scopeflow/scopeflow.h"

namespace scopeflow::examples {

/// activation(x @ weights + biases) with "weights" (in, units) and "biases" (units,) from
/// get_variable under variable_scope(scope, reuse).
inline Output dense_layer(Output x, int64_t units, const std::string& scope, Reuse reuse,
                          Activation activation) {
  Graph& graph = *x.graph();
  VariableScopeGuard guard(graph, scope, {.reuse = reuse});
  Variable weights = get_variable(graph, "weights",
                                  {.shape = Shape{x.shape().dim(1), units},
                                   .initializer = init::glorot_uniform()});
  Variable biases = get_variable(graph, "biases", {.shape = Shape{units}, .initializer = init::zeros()});
  return apply_activation(ops::bias_add(ops::matmul(x, weights), biases), activation);
}

/// What the MLP looks like.
struct MlpSpec {
  int64_t features = 0;
  int64_t classes = 0;
  int64_t width = 64;
  int64_t depth = 2;   // hidden width -> width layers
  bool share = true;   // all hidden layers in one scope "shared_hidden"
};

/// Logits (batch, classes) of the MLP for x (batch, features).
inline Output mlp_logits(Output x, const MlpSpec& spec, bool reuse_all) {
  const Reuse create = reuse_all ? Reuse::kReuse : Reuse::kNone;
  Output h = dense_layer(x, spec.width, "input_layer", create, Activation::kRelu);
  for (int64_t i = 0; i < spec.depth; ++i) {
    if (spec.share) {
      // One scope for every hidden layer: the first call creates, the others get.
      h = dense_layer(h, spec.width, "shared_hidden", reuse_all ? Reuse::kReuse : Reuse::kAutoReuse,
                      Activation::kRelu);
    } else {
      h = dense_layer(h, spec.width, absl::StrCat("hidden_", i), create, Activation::kRelu);
    }
  }
  return dense_layer(h, spec.classes, "output_layer", create, Activation::kNone);
}

/// What the recurrent model looks like.
struct RnnSpec {
  int64_t input_size = 0;   // features per time step
  int64_t classes = 0;
  int64_t width = 64;       // state size
  int64_t time_steps = 12;
  bool share = true;        // one cell "rnn_cell" for every step
};

/// One step of the cell: tanh(x Wx + h Wh + b) under variable_scope(scope, reuse).
inline Output rnn_cell(Output x, Output h, const std::string& scope, Reuse reuse) {
  Graph& graph = *x.graph();
  const int64_t width = h.shape().dim(1);
  VariableScopeGuard guard(graph, scope, {.reuse = reuse});
  Variable input_weights = get_variable(graph, "input_weights",
                                        {.shape = Shape{x.shape().dim(1), width},
                                         .initializer = init::glorot_uniform()});
  Variable state_weights = get_variable(graph, "state_weights",
                                        {.shape = Shape{width, width},
                                         .initializer = init::glorot_uniform()});
  Variable biases = get_variable(graph, "biases", {.shape = Shape{width}, .initializer = init::zeros()});
  return ops::tanh(ops::bias_add(ops::matmul(x, input_weights) + ops::matmul(h, state_weights), biases));
}

/// Logits (batch, classes) of the RNN for the inputs x_0 .. x_{T-1}, each (batch, input_size).
inline Output rnn_logits(std::span<const Output> inputs, const RnnSpec& spec, bool reuse_all) {
  if (inputs.empty()) throw_invalid("rnn_logits", "need at least one time step");
  Graph& graph = *inputs[0].graph();
  const Reuse create = reuse_all ? Reuse::kReuse : Reuse::kNone;
  const int64_t batch = inputs[0].shape().dim(0);
  Output h = ops::constant(graph, Tensor::zeros(DType::kFloat32, Shape{batch, spec.width}), "initial_state");
  for (size_t t = 0; t < inputs.size(); ++t) {
    if (spec.share) {
      h = rnn_cell(inputs[t], h, "rnn_cell", reuse_all ? Reuse::kReuse : Reuse::kAutoReuse);
    } else {
      h = rnn_cell(inputs[t], h, absl::StrCat("rnn_cell_", t), create);
    }
  }
  return dense_layer(h, spec.classes, "output_layer", create, Activation::kNone);
}

/// The "majority vote" sequence task. Each of T steps carries a vote for one of `channels`
/// channels (a one-hot vector, drawn uniformly) plus Gaussian noise on every channel; the label
/// is the channel with the most votes over the whole sequence (sequences whose top count is
/// tied are drawn again, so every label is well defined). No single step, or short window,
/// tells the answer: the model has to count over all T steps.
struct MajorityTask {
  int64_t time_steps = 12;
  int64_t channels = 4;
  float noise_stddev = 0.2f;
};

/// `n` sequences of the task as a data::Dataset: example i holds time_steps x channels
/// features, time-major (feature t * channels + c), and its label. Deterministic for a seed on
/// every platform (its own uniform and Box-Muller draws from std::mt19937_64, whose output the
/// standard fixes).
inline data::Dataset make_majority_dataset(const MajorityTask& task, int64_t n, uint64_t seed) {
  if (task.time_steps < 1 || task.channels < 2 || n < 1 || !(task.noise_stddev >= 0)) {
    throw_invalid("make_majority_dataset", "need time_steps >= 1, channels >= 2, n >= 1 and a "
                  "non-negative noise, got ", task.time_steps, ", ", task.channels, ", ", n, ", ",
                  task.noise_stddev);
  }
  std::mt19937_64 rng(seed);
  auto uniform01 = [&rng] {  // (0, 1]
    return (static_cast<double>(rng() >> 11) + 1.0) * 0x1.0p-53;
  };
  auto normal = [&] {
    return std::sqrt(-2.0 * std::log(uniform01())) * std::cos(2.0 * std::numbers::pi * uniform01());
  };
  const auto channels = static_cast<uint64_t>(task.channels);
  // Draws at or above `limit` are rejected so that r % channels is exactly uniform.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % channels;
  data::Dataset ds;
  ds.num_examples = n;
  ds.num_features = task.time_steps * task.channels;
  ds.num_classes = static_cast<int32_t>(task.channels);
  for (int64_t t = 0; t < task.time_steps; ++t) {
    for (int64_t c = 0; c < task.channels; ++c) {
      ds.feature_names.push_back(absl::StrCat("t", t, "_c", c));
    }
  }
  ds.features.reserve(static_cast<size_t>(n * ds.num_features));
  ds.labels.reserve(static_cast<size_t>(n));
  std::vector<uint64_t> votes(static_cast<size_t>(task.time_steps));
  std::vector<int64_t> counts(channels);
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    while (true) {  // redraw until the top count is unique (at most a few tries)
      std::fill(counts.begin(), counts.end(), 0);
      for (uint64_t& v : votes) {
        uint64_t r = rng();
        while (r >= limit) r = rng();
        v = r % channels;
        ++counts[v];
      }
      best = 0;
      int ties = 0;
      for (size_t c = 0; c < channels; ++c) {
        if (counts[c] > counts[static_cast<size_t>(best)]) {
          best = static_cast<int64_t>(c);
          ties = 0;
        } else if (c > 0 && counts[c] == counts[static_cast<size_t>(best)]) {
          ++ties;
        }
      }
      if (ties == 0) break;
    }
    for (uint64_t v : votes) {
      for (uint64_t c = 0; c < channels; ++c) {
        const double value = (c == v ? 1.0 : 0.0) + task.noise_stddev * normal();
        ds.features.push_back(static_cast<float>(value));
      }
    }
    ds.labels.push_back(static_cast<int32_t>(best));
  }
  return ds;
}

}  // namespace scopeflow::examples
