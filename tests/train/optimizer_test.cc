// Optimizers: update rules against hand-computed references, slots and sharing, errors.

#include "scopeflow/train.h"

#include <gtest/gtest.h>

#include <cmath>

#include "scopeflow/gradients.h"
#include "scopeflow/losses.h"
#include "scopeflow/memory_report.h"
#include "scopeflow/ops.h"
#include "scopeflow/session.h"
#include "test_util.h"
#include "train/gradient_check.h"

namespace scopeflow {
namespace {

using ::testing::HasSubstr;

// loss = sum(w * target) + 0.5 * sum(w^2): gradient w + target, known in closed form.
struct QuadraticModel {
  Graph graph;
  Variable w;
  Output loss;
  std::vector<float> target = {0.5f, -1.0f, 2.0f};
  QuadraticModel() {
    w = get_variable(graph, "w", {.shape = Shape{3}, .initializer = init::constant(1.0)});
    Output t = ops::constant(graph, Tensor::from_vector<float>(Shape{3}, target));
    loss = ops::add(ops::reduce_sum(ops::mul(w, t)),
                    ops::mul(ops::scalar(graph, 0.5f), ops::reduce_sum(ops::square(w))));
  }
  std::vector<double> grad(const std::vector<double>& value) const {
    std::vector<double> g;
    for (size_t i = 0; i < value.size(); ++i) g.push_back(value[i] + target[i]);
    return g;
  }
};

void expect_values(const Tensor& got, const std::vector<double>& want, double tol = 1e-5) {
  ASSERT_EQ(got.num_elements(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got.data<float>()[i], want[i], tol) << "element " << i;
}

TEST(OptimizerTest, GradientDescentStep) {
  QuadraticModel m;
  train::GradientDescent sgd(0.1f);
  Node* step = sgd.minimize(m.loss);
  EXPECT_EQ(step->name(), "GradientDescent");
  EXPECT_NE(m.graph.find_node("GradientDescent/update_w/ApplyGradientDescent"), nullptr);
  Session session(m.graph);
  session.initialize_variables();
  std::vector<double> w = {1, 1, 1};
  for (int s = 0; s < 3; ++s) {
    session.run({}, {}, {step});
    std::vector<double> g = m.grad(w);
    for (size_t i = 0; i < w.size(); ++i) w[i] -= 0.1 * g[i];
  }
  expect_values(session.variable_value(m.w), w);
}

class MomentumTest : public ::testing::TestWithParam<bool> {};

TEST_P(MomentumTest, MatchesTensorFlowUpdateRule) {
  const bool nesterov = GetParam();
  QuadraticModel m;
  train::Momentum opt(0.1f, 0.9f, nesterov);
  Node* step = opt.minimize(m.loss);
  ASSERT_TRUE(opt.slot(m.w, "momentum").has_value());
  EXPECT_EQ(opt.slot(m.w, "momentum")->name(), "w/Momentum");
  Session session(m.graph);
  session.initialize_variables();
  std::vector<double> w = {1, 1, 1};
  std::vector<double> accum = {0, 0, 0};
  for (int s = 0; s < 4; ++s) {
    session.run({}, {}, {step});
    std::vector<double> g = m.grad(w);
    for (size_t i = 0; i < w.size(); ++i) {
      accum[i] = accum[i] * 0.9 + g[i];
      w[i] -= nesterov ? 0.1 * g[i] + 0.1 * 0.9 * accum[i] : 0.1 * accum[i];
    }
  }
  expect_values(session.variable_value(m.w), w);
  expect_values(session.variable_value(*opt.slot(m.w, "momentum")), accum);
}

INSTANTIATE_TEST_SUITE_P(Nesterov, MomentumTest, ::testing::Bool());

class AdamTest : public ::testing::TestWithParam<float> {};

TEST_P(AdamTest, MatchesTensorFlowUpdateRuleWithOptionalDecoupledDecay) {
  const float decay = GetParam();
  QuadraticModel m;
  train::Adam adam({.learning_rate = 0.05f, .weight_decay = decay});
  Node* step = adam.minimize(m.loss);
  EXPECT_EQ(step->name(), decay > 0 ? "AdamW" : "Adam");
  EXPECT_EQ(adam.slot(m.w, "m")->name(), "w/" + adam.name());
  EXPECT_EQ(adam.slot(m.w, "v")->name(), "w/" + adam.name() + "_1");
  Session session(m.graph);
  session.initialize_variables();
  std::vector<double> w = {1, 1, 1};
  std::vector<double> mm = {0, 0, 0};
  std::vector<double> vv = {0, 0, 0};
  const double b1 = 0.9;
  const double b2 = 0.999;
  double p1 = b1;
  double p2 = b2;
  for (int s = 0; s < 5; ++s) {
    session.run({}, {}, {step});
    std::vector<double> g = m.grad(w);
    const double lr_t = 0.05 * std::sqrt(1 - p2) / (1 - p1);
    for (size_t i = 0; i < w.size(); ++i) {
      const double before = w[i];
      mm[i] += (g[i] - mm[i]) * (1 - b1);
      vv[i] += (g[i] * g[i] - vv[i]) * (1 - b2);
      w[i] -= lr_t * mm[i] / (std::sqrt(vv[i]) + 1e-8);
      w[i] -= 0.05 * decay * before;
    }
    p1 *= b1;
    p2 *= b2;
  }
  expect_values(session.variable_value(m.w), w, 2e-5);
  expect_values(session.variable_value(*adam.slot(m.w, "m")), mm, 2e-5);
  expect_values(session.variable_value(adam.non_slot_variables()[0]), {p1}, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Decay, AdamTest, ::testing::Values(0.0f, 0.1f));

// The article's shared layer used twice, trained with Adam: one buffer per variable, one m and
// one v per variable (from the allocator), one update per shared weight per step.
TEST(OptimizerTest, SharedModelHasOneSlotPerVariableAndUpdatesOnce) {
  Graph graph;
  graph.set_seed(5);
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{4, 3}, "x");
  Variable w;
  Variable b;
  Output h = x;
  for (int use = 0; use < 2; ++use) {
    auto scope = variable_scope(graph, "shared_layer", {.reuse = Reuse::kAutoReuse});
    w = get_variable(graph, "weights", {.shape = Shape{3, 3}});
    b = get_variable(graph, "biases", {.shape = Shape{3}});
    h = ops::relu(ops::bias_add(ops::matmul(h, w), b));
  }
  Output loss = ops::reduce_mean(ops::square(h));
  train::Adam adam;
  Node* step = adam.minimize(loss);
  int apply_nodes = 0;
  for (const auto& node : graph.nodes()) {
    if (node->op() == "ApplyAdam" && node->input(0).node == w.node()) ++apply_nodes;
  }
  EXPECT_EQ(apply_nodes, 1);
  EXPECT_EQ(adam.slot_variables().size(), 4u);

  Session session(graph);
  session.initialize_variables();
  const Allocator& alloc = session.allocator();
  EXPECT_EQ(alloc.stats(MemoryKind::kParameter).live_allocations, 2);
  EXPECT_EQ(alloc.stats(MemoryKind::kOptimizerSlot).live_allocations, 4);  // m, v per variable
  EXPECT_EQ(alloc.stats(MemoryKind::kOptimizerSlot).bytes_in_use,
            2 * alloc.stats(MemoryKind::kParameter).bytes_in_use);
  // Gradient ops and updates read the weights too, but are not uses: still 2 readers.
  const MemoryReport report = memory_report(session);
  EXPECT_EQ(report.parameter_bytes, (9 + 3) * 4);
  EXPECT_EQ(report.duplicated_parameter_bytes, 2 * (9 + 3) * 4);
  EXPECT_EQ(report.optimizer_slot_bytes, 2 * (9 + 3) * 4);
  EXPECT_EQ(report.optimizer_slot_allocations, 4);
  for (const VariableMemory& v : report.variables) {
    if (v.name == "shared_layer/weights") {
      EXPECT_EQ(v.readers, 2);
    }
    if (v.name == "shared_layer/weights/Adam") {
      EXPECT_EQ(v.kind, MemoryKind::kOptimizerSlot);
    }
  }

  std::mt19937 rng(1);
  FeedList feeds = {{x, test::random_tensor(Shape{4, 3}, rng, 0.1f, 1.0f)}};
  std::vector<Output> grads = gradients(loss, {w.value()});
  const Tensor g = session.run(feeds, {grads[0]}).at(0);
  const Tensor before = session.variable_value(w).clone();
  session.run(feeds, {}, {step});
  EXPECT_EQ(alloc.stats(MemoryKind::kOptimizerSlot).live_allocations, 4);
  // First Adam step: m = (1-b1) g, v = (1-b2) g^2, lr_t = lr sqrt(1-b2)/(1-b1); applied once.
  const Tensor after = session.variable_value(w);
  for (int64_t i = 0; i < g.num_elements(); ++i) {
    const double gi = g.data<float>()[i];
    const double lr_t = 0.001 * std::sqrt(1 - 0.999) / (1 - 0.9);
    const double expected = before.data<float>()[i] -
                            lr_t * (0.1 * gi) / (std::sqrt(0.001 * gi * gi) + 1e-8);
    EXPECT_NEAR(after.data<float>()[i], expected, 1e-6) << i;
  }
}

TEST(OptimizerTest, FetchedLossIsReadBeforeTheUpdate) {
  QuadraticModel m;
  train::GradientDescent sgd(0.5f);
  Node* step = sgd.minimize(m.loss);
  Session session(m.graph);
  session.initialize_variables();
  const double initial = test::scalar_value(session.run(m.loss));
  std::vector<Output> fetches = {m.loss};
  std::vector<Node*> targets = {step};
  const double during = test::scalar_value(session.run({}, fetches, targets).at(0));
  EXPECT_DOUBLE_EQ(during, initial);
  EXPECT_LT(test::scalar_value(session.run(m.loss)), initial);
}

TEST(OptimizerTest, GradientMemoryIsCountedAsGradient) {
  QuadraticModel m;
  train::GradientDescent sgd(0.1f);
  Node* step = sgd.minimize(m.loss);
  Session session(m.graph);
  session.initialize_variables();
  session.run({}, {}, {step});
  EXPECT_EQ(session.allocator().stats(MemoryKind::kGradient).total_allocations, 1);
  EXPECT_EQ(session.allocator().stats(MemoryKind::kGradient).peak_bytes, 12);
  EXPECT_EQ(session.allocator().stats(MemoryKind::kGradient).bytes_in_use, 0);
}

TEST(OptimizerTest, ErrorsAreClear) {
  QuadraticModel m;
  train::GradientDescent sgd(0.1f);
  std::vector<train::GradientAndVariable> gvs = sgd.compute_gradients(m.loss);
  ASSERT_EQ(gvs.size(), 1u);
  std::vector<train::GradientAndVariable> twice = {gvs[0], gvs[0]};
  EXPECT_THAT(test::error_of([&] { sgd.apply_gradients(twice); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("listed twice")));
  Variable unused = get_variable(m.graph, "unused", {.shape = Shape{2}});
  EXPECT_THAT(test::error_of([&] { sgd.minimize(m.loss, {unused}); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("no gradients for any variable")));
  EXPECT_THAT(test::error_of([] { train::GradientDescent bad(-1.0f); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("learning_rate")));
  EXPECT_THAT(test::error_of([] { train::Adam bad({.beta1 = 1.0f}); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("beta1")));
  Graph empty;
  Output c = ops::scalar(empty, 1.0f);
  EXPECT_THAT(test::error_of([&] { sgd.minimize(c); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("no trainable variables")));
}

TEST(TrainingOpsTest, UpdatesNeedAVariableAndMatchingShapes) {
  Graph graph;
  Variable v = get_variable(graph, "v", {.shape = Shape{3}});
  Output lr = ops::scalar(graph, 0.1f);
  Output wrong = ops::placeholder(graph, DType::kFloat32, Shape{2}, "wrong");
  Output right = ops::placeholder(graph, DType::kFloat32, Shape{3}, "right");
  EXPECT_THAT(test::error_of([&] { ops::apply_gradient_descent(v, lr, wrong); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("delta (input 2) has shape (2,)")));
  EXPECT_THAT(test::error_of([&] { ops::apply_gradient_descent(v, right, right); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("alpha (input 1) must be a scalar")));
  NodeSpec spec;
  spec.op = "AssignSub";
  spec.inputs = {v.value(), right};
  spec.attrs = {{"T", DType::kFloat32}, {"use_locking", false}};
  EXPECT_THAT(test::error_of([&] { graph.add_node(spec); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("must be a variable")));
}

TEST(LossesTest, ValuesAndLabelErrorsLeaveTheSessionUsable) {
  Graph graph;
  Output logits = ops::placeholder(graph, DType::kFloat32, Shape{2, 3}, "logits");
  Output labels = ops::placeholder(graph, DType::kInt32, Shape{2}, "labels");
  Output loss = losses::sparse_softmax_cross_entropy(labels, logits);
  Output acc = metrics::accuracy(labels, logits);
  Output dense = ops::placeholder(graph, DType::kFloat32, Shape{2, 3}, "dense");
  Output dense_loss = losses::softmax_cross_entropy(dense, logits);
  Output mse = losses::mean_squared_error(dense, logits);
  Session session(graph);
  const Tensor z = Tensor::from_vector<float>(Shape{2, 3}, {0, 0, 0, 1, 2, 3});
  const Tensor onehot = Tensor::from_vector<float>(Shape{2, 3}, {1, 0, 0, 0, 0, 1});
  FeedList feeds = {{logits, z}, {labels, Tensor::from_vector<int32_t>(Shape{2}, {0, 2})}, {dense, onehot}};
  std::vector<Tensor> out = session.run(feeds, {loss, acc, dense_loss, mse});
  const double row1 = std::log(3.0);
  const double row2 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
  EXPECT_NEAR(test::scalar_value(out[0]), (row1 + row2) / 2, 1e-6);
  EXPECT_NEAR(test::scalar_value(out[1]), 1.0, 1e-7);  // row 1 ties pick class 0 (the first maximum)
  EXPECT_NEAR(test::scalar_value(out[2]), (row1 + row2) / 2, 1e-6);
  EXPECT_NEAR(test::scalar_value(out[3]), (1 + 0 + 0 + 1 + 4 + 4) / 6.0, 1e-6);
  feeds[1].second = Tensor::from_vector<int32_t>(Shape{2}, {0, 3});
  EXPECT_THAT(test::error_of([&] { session.run(feeds, {loss}); }),
              test::IsError(absl::StatusCode::kInvalidArgument,
                            HasSubstr("label value of 3 (example 1) which is outside the valid range of [0, 3)")));
  feeds[1].second = Tensor::from_vector<int32_t>(Shape{2}, {1, 2});
  EXPECT_NEAR(test::scalar_value(session.run(feeds, {acc}).at(0)), 0.5, 1e-7);
  EXPECT_THAT(test::error_of([&] { metrics::accuracy(ops::placeholder(graph, DType::kInt32, Shape{2, 1}), logits); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("labels must have shape (2,)")));
}

}  // namespace
}  // namespace scopeflow
