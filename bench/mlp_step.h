#pragma once
// The MLP training step that step_time_vs_tensorflow and step_time_vs_libtorch time, built once
// here so that both compare the very same graph: placeholders x (batch, width) float32 and
// labels (batch,) int32; DEPTH layers relu(h @ kernel + bias) of WIDTH units (scopes dense_<i>);
// a 10-class output layer (scope logits); losses::sparse_softmax_cross_entropy; and the train op
// of train::GradientDescent(0.01) (NoOp "GradientDescent") or train::Adam (NoOp "Adam").

#include <charconv>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "scopeflow/graph.h"
#include "scopeflow/initializers.h"
#include "scopeflow/losses.h"
#include "scopeflow/ops.h"
#include "scopeflow/scope.h"
#include "scopeflow/train.h"
#include "util/format.h"

namespace scopeflow::bench {

inline constexpr int64_t kMlpClasses = 10;
inline constexpr float kMlpSgdLearningRate = 0.01f;
// Largest tensor a configuration may ask for, in elements.
inline constexpr int64_t kMlpMaxElements = int64_t{1} << 28;

struct MlpConfig {
  int64_t batch = 0;
  int64_t width = 0;
  int64_t depth = 0;

  std::string text() const { return absl::StrCat(batch, "x", width, "x", depth); }
};

namespace detail {

inline std::string_view trim_text(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == ';')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == ';')) s.remove_suffix(1);
  return s;
}

}  // namespace detail

/// "32x64x4,256x1024x8" -> configs (appended); false with *error set (naming --configs).
inline bool parse_mlp_configs(std::string_view text, std::vector<MlpConfig>* configs, std::string* error) {
  for (std::string_view item : split(text, ',')) {
    item = detail::trim_text(item);
    if (item.empty()) continue;
    const std::vector<std::string_view> dims = split(item, 'x');
    int64_t values[3] = {0, 0, 0};
    bool ok = dims.size() == 3;
    for (size_t i = 0; ok && i < 3; ++i) {
      const std::string_view d = detail::trim_text(dims[i]);
      const auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), values[i]);
      ok = !d.empty() && ec == std::errc() && end == d.data() + d.size();
    }
    const MlpConfig config{values[0], values[1], values[2]};
    ok = ok && config.batch >= 1 && config.batch <= 65536 && config.width >= 1 && config.width <= 65536 &&
         config.depth >= 0 && config.depth <= 1024;
    if (!ok) {
      *error = absl::StrCat("--configs: '", std::string(item),
                            "' is not BATCHxWIDTHxDEPTH with batch and width in [1, 65536] and depth in [0, 1024]");
      return false;
    }
    if (config.batch * config.width > kMlpMaxElements || config.width * config.width > kMlpMaxElements) {
      *error = absl::StrCat("--configs: '", std::string(item), "' has a tensor above ", kMlpMaxElements,
                            " elements");
      return false;
    }
    configs->push_back(config);
  }
  if (configs->empty()) {
    *error = "--configs: no configurations given";
    return false;
  }
  return true;
}

/// The built step: what a bench feeds, fetches, runs and reads.
struct MlpStep {
  Output x;
  Output labels;
  Output loss;
  Node* train_op = nullptr;
  std::vector<Variable> kernels;  // (in, out) per layer, the logits layer last
  std::vector<Variable> biases;   // (out,) per layer
  int64_t parameters = 0;         // float32 parameters of the model
  std::unique_ptr<train::Optimizer> optimizer;
};

/// Builds the MLP, its loss and the train op of `optimizer` ("sgd" or "adam") into `graph`.
inline MlpStep build_mlp_step(Graph& graph, const MlpConfig& config, std::string_view optimizer) {
  MlpStep step;
  step.x = ops::placeholder(graph, DType::kFloat32, Shape{config.batch, config.width}, "x");
  step.labels = ops::placeholder(graph, DType::kInt32, Shape{config.batch}, "labels");
  Output h = step.x;
  auto dense = [&](const std::string& scope_name, int64_t units, bool relu) {
    VariableScopeGuard scope = variable_scope(graph, scope_name);
    const Variable kernel = get_variable(graph, "kernel", {.shape = Shape{h.shape().dim(1), units},
                                                           .initializer = init::glorot_uniform()});
    const Variable bias = get_variable(graph, "bias", {.shape = Shape{units}, .initializer = init::zeros()});
    step.parameters += kernel.shape().num_elements() + bias.shape().num_elements();
    step.kernels.push_back(kernel);
    step.biases.push_back(bias);
    const Output out = ops::bias_add(ops::matmul(h, kernel), bias);
    h = relu ? ops::relu(out) : out;
  };
  for (int64_t i = 0; i < config.depth; ++i) dense(absl::StrCat("dense_", i), config.width, true);
  dense("logits", kMlpClasses, false);
  step.loss = losses::sparse_softmax_cross_entropy(step.labels, h);
  if (optimizer == "adam") {
    step.optimizer = std::make_unique<train::Adam>();
  } else {
    step.optimizer = std::make_unique<train::GradientDescent>(kMlpSgdLearningRate);
  }
  step.train_op = step.optimizer->minimize(step.loss);
  return step;
}

/// Seeded fed values: normal inputs (batch * width) and uniform labels in [0, 10).
struct MlpFeedValues {
  std::vector<float> x;
  std::vector<int32_t> labels;
};

inline MlpFeedValues mlp_feed_values(const MlpConfig& config, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int32_t> label(0, static_cast<int32_t>(kMlpClasses - 1));
  MlpFeedValues values;
  values.x.resize(static_cast<size_t>(config.batch * config.width));
  for (float& v : values.x) v = normal(rng);
  values.labels.resize(static_cast<size_t>(config.batch));
  for (int32_t& v : values.labels) v = label(rng);
  return values;
}

}  // namespace scopeflow::bench
