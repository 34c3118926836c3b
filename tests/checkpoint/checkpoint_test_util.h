#pragma once
// Shared by the checkpoint tests: a fresh folder per test, and a small model with a shared
// layer, a random op and a choice of optimizer, rebuilt identically for resume tests.

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "scopeflow/checkpoint.h"
#include "scopeflow/layers.h"
#include "scopeflow/losses.h"
#include "scopeflow/ops.h"
#include "scopeflow/session.h"
#include "scopeflow/train.h"

namespace scopeflow::test {

/// An empty folder named after the running test, under the system temp folder.
inline std::string fresh_folder() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "_" + info->name();
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  const std::filesystem::path path = std::filesystem::temp_directory_path() / "scopeflow_checkpoint_tests" / name;
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path.string();
}

enum class OptimizerKind { kSgd, kMomentum, kAdam };

/// x (8, 4) plus random noise through the layer "layer" twice (shared), squared error to a target.
struct TinyModel {
  Graph graph;
  std::unique_ptr<train::Optimizer> optimizer;
  Output loss;
  Node* train_op = nullptr;

  explicit TinyModel(OptimizerKind kind, bool share = true) {
    graph.set_seed(7);
    std::vector<float> x_values, target_values;
    for (int i = 0; i < 32; ++i) {
      x_values.push_back(static_cast<float>((i * 37) % 11) / 11.0f - 0.5f);
      target_values.push_back(static_cast<float>((i * 13) % 7) / 7.0f);
    }
    Output x = ops::constant(graph, Tensor::from_vector<float>(Shape{8, 4}, x_values));
    Output target = ops::constant(graph, Tensor::from_vector<float>(Shape{8, 4}, target_values));
    Output noisy = ops::add(x, ops::random_normal(graph, Shape{8, 4}, {.mean = 0.0f, .stddev = 0.1f, .seed = {}}));
    Output h = ops::relu(linear(noisy, 4, "layer"));
    Output y = linear(h, 4, share ? "layer" : "layer_1");
    loss = losses::mean_squared_error(target, y);
    switch (kind) {
      case OptimizerKind::kSgd: optimizer = std::make_unique<train::GradientDescent>(0.1f); break;
      case OptimizerKind::kMomentum: optimizer = std::make_unique<train::Momentum>(0.1f, 0.9f); break;
      case OptimizerKind::kAdam: optimizer = std::make_unique<train::Adam>(train::AdamOptions{.learning_rate = 0.01f}); break;
    }
    train_op = optimizer->minimize(loss);
  }

  /// Runs one training step and returns the loss before the update.
  float step(Session& session) {
    return session.run({}, {loss}, {train_op}).at(0).data<float>()[0];
  }
};

/// Bytewise equality of two host tensors (dtype, shape and bits).
inline bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.byte_size() == 0 || std::memcmp(a.raw_data(), b.raw_data(), a.byte_size()) == 0);
}

}  // namespace scopeflow::test
