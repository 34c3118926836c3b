// Finite-difference checks of every differentiable op's gradient, and of gradients() itself.

#include "scopeflow/gradients.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"

#include "ops/op_registry.h"
#include "scopeflow/initializers.h"
#include "scopeflow/losses.h"
#include "scopeflow/ops.h"
#include "scopeflow/scope.h"
#include "scopeflow/session.h"
#include "scopeflow/train.h"
#include "test_util.h"
#include "train/gradient_check.h"
#include "train/op_gradient_cases.h"

namespace scopeflow {
namespace {

using test::expect_gradients_match_finite_differences;
using test::random_tensor;
using test::OpGradientCase;
using test::op_gradient_cases;
using ::testing::HasSubstr;

class OpGradientTest : public ::testing::TestWithParam<OpGradientCase> {};

TEST_P(OpGradientTest, MatchesFiniteDifferences) {
  const OpGradientCase& c = GetParam();
  Graph graph;
  std::mt19937 rng(7);
  const test::OpCaseGraph built = test::build_op_case(graph, c, rng);
  ASSERT_EQ(built.y.node->op(), c.op);
  Session session(graph);
  expect_gradients_match_finite_differences(session, built.loss, built.feeds);
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpGradientTest, ::testing::ValuesIn(op_gradient_cases()),
                         [](const ::testing::TestParamInfo<OpGradientCase>& param_info) { return param_info.param.name; });

TEST(OpGradientTableTest, EveryOpHasAGradientOrSaysWhyNot) {
  std::set<std::string> covered;
  for (const OpGradientCase& c : op_gradient_cases()) covered.insert(c.op);
  for (const OpDef* op : all_ops()) {
    if (op->gradient != nullptr) {
      EXPECT_TRUE(covered.contains(op->tf_name)) << op->tf_name << " has a gradient but no finite-difference case";
      EXPECT_FALSE(non_differentiable_reason(op->tf_name).has_value());
    } else {
      EXPECT_FALSE(op->no_gradient.empty()) << op->tf_name << " has neither a gradient nor a reason";
      EXPECT_EQ(non_differentiable_reason(op->tf_name), op->no_gradient);
    }
  }
  EXPECT_THAT(test::error_of([] { (void)non_differentiable_reason("NoSuchOp"); }),
              test::IsError(absl::StatusCode::kNotFound, HasSubstr("NoSuchOp")));
}

TEST(GradientsTest, NamesFollowTensorFlowAndSumUsesWithAddN) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{2, 3}, "x");
  Variable w;
  {
    auto scope = variable_scope(graph, "shared_layer");
    w = get_variable(graph, "weights", {.shape = Shape{3, 3}});
  }
  Output h1 = ops::matmul(x, w, {}, "layer1");
  Output h2 = ops::matmul(h1, w, {}, "layer2");
  Output loss = ops::reduce_sum(h2);
  std::vector<Output> g = gradients(loss, {w.value()});
  ASSERT_TRUE(g[0].valid());
  EXPECT_EQ(g[0].node->op(), "AddN");
  EXPECT_EQ(g[0].node->name(), "gradients/AddN");
  EXPECT_EQ(g[0].node->num_inputs(), 2);
  EXPECT_EQ(g[0].node->output_memory_kind(0), MemoryKind::kGradient);
  EXPECT_NE(graph.find_node("gradients/layer2_grad/MatMul"), nullptr);
  EXPECT_NE(graph.find_node("gradients/layer1_grad/MatMul_1"), nullptr);
  // A second call opens a new scope, as tf.gradients does.
  std::vector<Output> again = gradients(loss, {x});
  EXPECT_EQ(again[0].node->name().rfind("gradients_1/", 0), 0u) << again[0].node->name();
}

// A variable used 2, 3 and 8 times: its gradient is the sum over all uses (checked by finite
// differences on the variable's one buffer) and it is one AddN over the uses.
class SharedVariableGradientTest : public ::testing::TestWithParam<int> {};

TEST_P(SharedVariableGradientTest, SumsEveryUse) {
  const int uses = GetParam();
  Graph graph;
  graph.set_seed(3);
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{2, 4}, "x");
  Variable w;
  Variable b;
  {
    auto scope = variable_scope(graph, "cell", {.reuse = Reuse::kAutoReuse});
    w = get_variable(graph, "weights", {.shape = Shape{4, 4}, .initializer = init::random_normal(0, 0.5)});
    b = get_variable(graph, "biases", {.shape = Shape{4}, .initializer = init::random_normal(0, 0.1)});
  }
  Output h = x;
  for (int k = 0; k < uses; ++k) h = ops::tanh(ops::bias_add(ops::matmul(h, w), b));
  Output loss = ops::reduce_sum(ops::square(h));
  std::vector<Output> grads = gradients(loss, {w.value(), b.value()});
  EXPECT_EQ(grads[0].node->op(), "AddN");
  EXPECT_EQ(grads[0].node->num_inputs(), uses);
  EXPECT_EQ(grads[1].node->num_inputs(), uses);

  Session session(graph);
  session.initialize_variables();
  std::mt19937 rng(11);
  const FeedList feeds = {{x, random_tensor(Shape{2, 4}, rng)}};
  std::vector<Tensor> analytic = session.run(feeds, {grads[0], grads[1]});
  // The session sums the uses in place; the AddN path gives the same within float rounding.
  Session with_add_n(graph, SessionOptions{.accumulate_sums_in_place = false});
  for (const Variable* v : {&w, &b}) with_add_n.assign_variable(*v, session.variable_value(*v));
  const std::vector<Tensor> summed_by_add_n = with_add_n.run(feeds, {grads[0], grads[1]});
  for (size_t g = 0; g < 2; ++g) {
    for (int64_t e = 0; e < analytic[g].num_elements(); ++e) {
      const float want = summed_by_add_n[g].data<float>()[e];
      EXPECT_NEAR(analytic[g].data<float>()[e], want, 1e-6f * std::max(1.0f, std::fabs(want)))
          << (g == 0 ? "weights" : "biases") << "[" << e << "] with " << uses << " uses";
    }
  }
  const double eps = 1e-2;
  for (int which = 0; which < 2; ++which) {
    const Variable& v = which == 0 ? w : b;
    const Tensor original = session.variable_value(v).clone();
    for (int64_t e = 0; e < original.num_elements(); e += 3) {
      auto loss_at = [&](double delta) {
        Tensor value = original.clone();
        value.data<float>()[e] = static_cast<float>(value.data<float>()[e] + delta);
        session.assign_variable(v, value);
        return test::scalar_value(session.run(feeds, {loss}).at(0));
      };
      const double numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps);
      EXPECT_NEAR(analytic[static_cast<size_t>(which)].data<float>()[e], numeric, 2e-3 + 2e-2 * std::fabs(numeric))
          << v.name() << "[" << e << "] with " << uses << " uses";
    }
    session.assign_variable(v, original);
  }
}

INSTANTIATE_TEST_SUITE_P(Uses, SharedVariableGradientTest, ::testing::Values(2, 3, 8));

TEST(GradientsTest, UnconnectedAndIntegerPathsGiveNoGradient) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{3, 4}, "x");
  Output z = ops::placeholder(graph, DType::kFloat32, Shape{3, 4}, "z");
  Output index = ops::cast(ops::argmax(x, 1, DType::kInt32), DType::kFloat32);
  Output loss = ops::add(ops::reduce_sum(index), ops::reduce_sum(ops::square(x)));
  std::vector<Output> g = gradients(loss, {x, z});
  EXPECT_TRUE(g[0].valid());
  EXPECT_FALSE(g[1].valid());
}

// At the points the finite-difference cases avoid: TensorFlow's _AbsGrad (grad * sign(x)) is 0
// at +-0 and NaN at NaN; its _SignGrad is zeros everywhere, a gradient rather than none.
TEST(GradientsTest, AbsAndSignAtZeroInfinityAndNaN) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{2, 3}, "x");
  Output w = ops::constant(graph, Tensor::from_vector<float>(Shape{2, 3}, {2.0f, 3.0f, -1.0f, 0.5f, 4.0f, -2.0f}));
  Output abs_loss = ops::reduce_sum(ops::mul(ops::abs(x), w));
  Output sign_loss = ops::reduce_sum(ops::mul(ops::sign(x), w));
  const Output d_abs = gradients(abs_loss, {x}).at(0);
  const Output d_sign = gradients(sign_loss, {x}).at(0);
  ASSERT_TRUE(d_sign.valid());
  EXPECT_EQ(d_sign.shape(), x.shape());
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const Tensor x_value = Tensor::from_vector<float>(
      Shape{2, 3}, {-0.0f, 0.0f, kInf, -kInf, std::numeric_limits<float>::quiet_NaN(), -1.5f});
  Session session(graph);
  const std::vector<Tensor> got = session.run({{x, x_value}}, {d_abs, d_sign});
  const std::vector<float> abs_grad = got[0].to_vector<float>();
  EXPECT_EQ(abs_grad[0], 0.0f);
  EXPECT_EQ(abs_grad[1], 0.0f);
  EXPECT_EQ(abs_grad[2], -1.0f);
  EXPECT_EQ(abs_grad[3], -0.5f);
  EXPECT_TRUE(std::isnan(abs_grad[4]));
  EXPECT_EQ(abs_grad[5], 2.0f);
  EXPECT_EQ(got[1].to_vector<float>(), std::vector<float>(6, 0.0f));
  // A scalar input gets a scalar zero.
  Output s = ops::placeholder(graph, DType::kFloat32, Shape{}, "s");
  const Output d_scalar = gradients(ops::sign(s), {s}).at(0);
  EXPECT_EQ(d_scalar.shape(), Shape{});
  Session scalar_session(graph);
  EXPECT_EQ(scalar_session.run(d_scalar, {{s, Tensor::scalar(3.0f)}}).to_vector<float>(), std::vector<float>{0.0f});
}

TEST(GradientsTest, GradYsWeightTheOutputs) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{2}, "x");
  Output y = ops::mul(x, x);
  Output weight = ops::constant(graph, Tensor::from_vector<float>(Shape{2}, {3.0f, -1.0f}));
  std::vector<Output> ys = {y};
  std::vector<Output> xs = {x};
  std::vector<Output> grad_ys = {weight};
  std::vector<Output> g = gradients(ys, xs, grad_ys);
  Session session(graph);
  Tensor value = session.run(g[0], {{x, Tensor::from_vector<float>(Shape{2}, {2.0f, 5.0f})}});
  EXPECT_EQ(value.to_vector<float>(), (std::vector<float>{12.0f, -10.0f}));
}

TEST(GradientsTest, BadArgumentsAreClearErrors) {
  Graph graph;
  Graph other;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{2}, "x");
  Output labels = ops::placeholder(graph, DType::kInt32, Shape{2}, "labels");
  Output y = ops::reduce_sum(ops::square(x));
  Output foreign = ops::placeholder(other, DType::kFloat32, Shape{2}, "foreign");
  EXPECT_THAT(test::error_of([&] { gradients(std::span<const Output>(), std::span<const Output>()); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("ys is empty")));
  EXPECT_THAT(test::error_of([&] { gradients(y, {foreign}); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("another graph")));
  EXPECT_THAT(test::error_of([&] { gradients(y, {labels}); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("only float32")));
  EXPECT_THAT(test::error_of([&] { gradients(y, {Output{}}); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("null output")));
  std::vector<Output> ys = {y};
  std::vector<Output> xs = {x};
  std::vector<Output> wrong = {x};
  EXPECT_THAT(test::error_of([&] { gradients(ys, xs, wrong); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("grad_y 0 has shape (2,)")));
}

TEST(GradientsTest, ThroughANonDifferentiableOpIsAnErrorNamingTheNode) {
  Graph graph;
  Variable v = get_variable(graph, "v", {.shape = Shape{2}});
  Output delta = ops::placeholder(graph, DType::kFloat32, Shape{2}, "delta");
  Node* update = ops::assign_sub(v, delta, "update");
  Output loss = ops::reduce_sum(update->output(0));
  EXPECT_THAT(test::error_of([&] { gradients(loss, {delta}); }),
              test::IsError(absl::StatusCode::kInvalidArgument,
                            HasSubstr("cannot differentiate through node 'update' (AssignSub): updates a variable in place")));
}

TEST(GradientsTest, SecondOutputOfCrossEntropyIsRejected) {
  Graph graph;
  Output logits = ops::placeholder(graph, DType::kFloat32, Shape{2, 3}, "logits");
  Output labels = ops::placeholder(graph, DType::kInt32, Shape{2}, "labels");
  ops::CrossEntropy xent = ops::sparse_softmax_cross_entropy_with_logits(logits, labels);
  EXPECT_THAT(test::error_of([&] { gradients(ops::reduce_sum(xent.backprop), {logits}); }),
              test::IsError(absl::StatusCode::kUnimplemented, HasSubstr("backprop output")));
}

// Gradient checkpointing: a shared layer used 12 times with checkpoints every 4 layers. The
// gradients equal those that keep every activation, the copies live under gradients/recompute/
// and wait for the gradient, and fewer activation bytes are alive at once. A random op's value
// is kept, never recomputed (a copy would draw other numbers).
TEST(GradientCheckpointingTest, RecomputedGradientsMatchAndHoldFewerActivations) {
  Graph graph;
  graph.set_seed(7);
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{16, 32}, "x");
  Variable w, b;
  Output h = x;
  std::vector<Output> checkpoints;
  for (int i = 0; i < 12; ++i) {
    VariableScopeGuard scope = variable_scope(graph, "layer", {.reuse = Reuse::kAutoReuse});
    w = get_variable(graph, "weights", {.shape = Shape{32, 32}, .initializer = init::glorot_uniform()});
    b = get_variable(graph, "biases", {.shape = Shape{32}, .initializer = init::random_normal(0, 0.1)});
    h = ops::tanh(ops::bias_add(ops::matmul(h, w), b));
    if (i == 5) h = ops::mul(h, ops::random_normal(graph, Shape{16, 32}, {.mean = 1.0f, .stddev = 0.1f}));
    if (i % 4 == 3) checkpoints.push_back(h);
  }
  Output loss = ops::reduce_sum(ops::square(h));
  const std::vector<Output> kept = gradients(loss, {w.value(), b.value()});
  const int before = graph.num_nodes();
  GradientOptions options;
  options.name = "recomputing";
  options.checkpoints = checkpoints;
  const Output ys[] = {loss};
  const Output xs[] = {w.value(), b.value()};
  const std::vector<Output> recomputed = gradients(ys, xs, options);
  int copies = 0;
  for (int id = before; id < graph.num_nodes(); ++id) {
    const Node& node = *graph.nodes()[static_cast<size_t>(id)];
    if (node.name().rfind("recomputing/recompute/", 0) != 0) continue;
    ++copies;
    EXPECT_NE(node.op(), "RandomStandardNormal") << node.name();
    EXPECT_FALSE(node.control_inputs().empty()) << node.name() << " must wait for the gradient";
  }
  EXPECT_GT(copies, 20);

  std::mt19937 rng(3);
  const FeedList feeds = {{x, random_tensor(Shape{16, 32}, rng)}};
  Session session(graph, SessionOptions{.device = Device::cpu()});
  session.initialize_variables();
  // Random values are drawn per run: both gradients in one run see the same ones.
  const std::vector<Tensor> values = session.run(feeds, {kept[0], kept[1], recomputed[0], recomputed[1]});
  for (size_t g = 0; g < 2; ++g) {
    for (int64_t e = 0; e < values[g].num_elements(); ++e) {
      const float want = values[g].data<float>()[e];
      EXPECT_NEAR(values[g + 2].data<float>()[e], want, 1e-5f * std::max(1.0f, std::fabs(want))) << g << " " << e;
    }
  }
  auto activation_peak = [&](const Output& weights_gradient) {
    session.allocator().reset_peaks();
    session.run(feeds, {weights_gradient});
    return session.allocator().stats(MemoryKind::kActivation).peak_bytes;
  };
  const int64_t keeping = activation_peak(kept[0]);
  const int64_t recomputing = activation_peak(recomputed[0]);
  EXPECT_LT(recomputing, keeping * 3 / 4) << "keeping " << keeping << ", recomputing " << recomputing;

  const test::ThrownError null = test::error_of([&] {
    GradientOptions bad;
    bad.checkpoints = {Output{}};
    (void)gradients(ys, xs, bad);
  });
  EXPECT_THAT(null.message, HasSubstr("checkpoint 0 is a null output"));
}

}  // namespace
}  // namespace scopeflow
