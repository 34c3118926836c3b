// TensorFlow 1's multi-tower pattern, line by line: every tower is built under
// variable_scope(get_variable_scope()), and after the first tower the current scope is switched
// to reuse with get_variable_scope().reuse_variables(), so all towers share one set of
// variables. The towers' gradients are averaged and applied once, as the CIFAR-10 multi-GPU
// model does. Trains on the digits data set and prints the memory report: one buffer per
// variable, read by every tower.
//
//   multi_tower [--towers N] [--steps N] [--logdir DIR] [--json]

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "scopeflow/data.h"
#include "scopeflow/graph_def.h"
#include "scopeflow/losses.h"
#include "scopeflow/memory_report.h"
#include "scopeflow/ops.h"
#include "scopeflow/regularizers.h"
#include "scopeflow/scope.h"
#include "scopeflow/session.h"
#include "scopeflow/summary.h"
#include "scopeflow/train.h"

namespace {

using namespace scopeflow;  // NOLINT: an example program

constexpr int64_t kHidden = 64;
constexpr int64_t kTowerBatch = 32;

// One fully connected layer with get_variable, as TF1 model code writes it.
Output dense(Graph& graph, Output x, int64_t units, std::string_view scope, bool relu) {
  VariableScopeGuard guard = variable_scope(graph, scope);
  Variable weights = get_variable(graph, "weights", {.shape = Shape{x.shape().dim(1), units},
                                                     .initializer = init::glorot_uniform()});
  Variable biases = get_variable(graph, "biases", {.shape = Shape{units}, .initializer = init::zeros(),
                                                   .regularizer = regularizers::none()});
  Output y = ops::bias_add(ops::matmul(x, weights), biases);
  return relu ? ops::relu(y) : y;
}

// tower_loss: the model on this tower's slice of the batch, plus the weight decay.
Output tower_loss(Graph& graph, Output images, Output labels, int32_t classes) {
  Output hidden = dense(graph, images, kHidden, "hidden", /*relu=*/true);
  Output logits = dense(graph, hidden, classes, "logits", /*relu=*/false);
  Output cross_entropy = losses::sparse_softmax_cross_entropy(labels, logits);
  // The regularizer adds its loss once, when the first tower creates the weights.
  return ops::add(cross_entropy, losses::regularization_loss(graph));
}

int parse_positive(const char* flag, const char* text, long max) {
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || value < 1 || value > max) {
    std::fprintf(stderr, "multi_tower: %s must be an integer in [1, %ld], got '%s'\n", flag, max, text);
    std::exit(2);
  }
  return static_cast<int>(value);
}

}  // namespace

int main(int argc, char** argv) {
  int towers = 2;
  int steps = 300;
  std::string logdir = "logs/multi_tower";
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (std::strcmp(argv[i], "--towers") == 0 && i + 1 < argc) {
      towers = parse_positive("--towers", argv[++i], 16);
    } else if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
      steps = parse_positive("--steps", argv[++i], 1000000);
    } else if (std::strcmp(argv[i], "--logdir") == 0 && i + 1 < argc) {
      logdir = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--towers N] [--steps N] [--logdir DIR] [--json]\n", argv[0]);
      return 2;
    }
  }
  try {
    data::Dataset digits = data::load_digits();
    data::scale_features(digits, 1.0f / 16.0f);
    const int64_t features = static_cast<int64_t>(digits.feature_names.size());

    Graph graph;
    graph.set_seed(7);
    train::GradientDescent optimizer(0.5f);
    std::vector<Output> images;
    std::vector<Output> labels;
    std::vector<std::vector<train::GradientAndVariable>> tower_grads;
    std::vector<Output> tower_losses;
    {
      // Weight decay on every weight the towers create, as a scope default.
      VariableScopeGuard model = variable_scope(graph, get_variable_scope(graph),
                                                {.regularizer = regularizers::l2(1e-4)});
      for (int i = 0; i < towers; ++i) {
        NameScope tower = graph.name_scope(absl::StrCat("tower_", i));
        images.push_back(ops::placeholder(graph, DType::kFloat32, Shape{kTowerBatch, features}, "images"));
        labels.push_back(ops::placeholder(graph, DType::kInt32, Shape{kTowerBatch}, "labels"));
        Output loss = tower_loss(graph, images.back(), labels.back(), digits.num_classes);
        // Reuse variables for the next tower.
        get_variable_scope(graph).reuse_variables();
        tower_grads.push_back(optimizer.compute_gradients(loss));
        tower_losses.push_back(loss);
      }
    }
    // average_gradients: the mean over towers of each variable's gradient.
    std::vector<train::GradientAndVariable> averaged;
    {
      NameScope average = graph.name_scope("average_gradients");
      for (size_t v = 0; v < tower_grads[0].size(); ++v) {
        std::vector<Output> per_tower;
        for (const auto& grads : tower_grads) per_tower.push_back(grads.at(v).gradient);
        Output sum = ops::add_n(per_tower);
        averaged.push_back({ops::mul(sum, ops::scalar(graph, 1.0f / static_cast<float>(towers))), tower_grads[0][v].variable});
      }
    }
    Node* train_op = optimizer.apply_gradients(averaged);
    Output mean_loss = ops::mul(ops::add_n(tower_losses), ops::scalar(graph, 1.0f / static_cast<float>(towers)), "mean_loss");

    Session session(graph);
    session.initialize_variables();
    const int64_t global_batch = kTowerBatch * towers;
    std::vector<int64_t> order = data::shuffled_indices(digits.num_examples, 11);
    float first_loss = 0;
    float last_loss = 0;
    for (int step = 0; step < steps; ++step) {
      FeedList feeds;
      for (int i = 0; i < towers; ++i) {
        std::vector<int64_t> batch(static_cast<size_t>(kTowerBatch));
        for (int64_t j = 0; j < kTowerBatch; ++j) {
          batch[static_cast<size_t>(j)] = order[static_cast<size_t>((step * global_batch + i * kTowerBatch + j) % digits.num_examples)];
        }
        Tensor x(DType::kFloat32, Shape{kTowerBatch, features});
        Tensor y(DType::kInt32, Shape{kTowerBatch});
        data::fill_batch(digits, batch, x.data<float>(), y.data<int32_t>());
        feeds.emplace_back(images[static_cast<size_t>(i)], x);
        feeds.emplace_back(labels[static_cast<size_t>(i)], y);
      }
      const float loss = session.run(feeds, {mean_loss}, {train_op}).at(0).to_vector<float>()[0];
      if (step == 0) first_loss = loss;
      last_loss = loss;
    }

    absl::StatusOr<std::unique_ptr<SummaryWriter>> writer = SummaryWriter::create(logdir);
    absl::Status status = writer.status();
    if (status.ok()) status = (*writer)->add_graph(graph, {.default_device = session.device()});
    if (status.ok()) status = (*writer)->close();
    if (!status.ok()) {
      std::fprintf(stderr, "multi_tower: writing TensorBoard logs failed: %s\n", status.ToString().c_str());
      return 1;
    }
    const MemoryReport report = memory_report(session);
    if (json) {
      // Six decimals, as the losses were printed before; a non-finite one is null (JSON has no NaN).
      auto rounded = [](float x) { return std::round(static_cast<double>(x) * 1e6) / 1e6; };
      const nlohmann::ordered_json result = {{"towers", towers},
                                             {"steps", steps},
                                             {"first_loss", rounded(first_loss)},
                                             {"last_loss", rounded(last_loss)},
                                             {"memory", nlohmann::ordered_json::parse(report.to_json())}};
      std::printf("%s\n", result.dump().c_str());
    } else {
      std::printf("== multi-tower: %d towers share one set of variables ==\n", towers);
      std::printf("mean tower loss: %.4f at step 1, %.4f at step %d\n", first_loss, last_loss, steps);
      std::printf("%sTensorBoard logs: %s\n", report.to_table().c_str(), (*writer)->path().c_str());
    }
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
      std::fprintf(stderr, "multi_tower: writing to standard output failed: %s\n", std::strerror(errno));
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "multi_tower: %s\n", e.what());
    return 1;
  }
}
