// The planner on plans themselves: order, pruning, release points, fusion choices, in-place
// ordering and fetch snapshots; and the executor's side of snapshots.

#include "runtime/plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "scopeflow/gradients.h"
#include "scopeflow/initializers.h"
#include "scopeflow/ops.h"
#include "scopeflow/scope.h"
#include "scopeflow/session.h"
#include "scopeflow/train.h"
#include "test_util.h"

namespace scopeflow {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Names of the plan's step nodes, in order.
std::vector<std::string> step_names(const Plan& plan) {
  std::vector<std::string> names;
  for (const PlanStep& step : plan.steps) names.push_back(step.node->name());
  return names;
}

size_t position_of(const Plan& plan, const Node* node) {
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    if (plan.steps[i].node == node) return i;
  }
  ADD_FAILURE() << node->name() << " is not a step of the plan";
  return plan.steps.size();
}

const PlanStep& step_of(const Plan& plan, const Node* node) { return plan.steps.at(position_of(plan, node)); }

struct Dense {
  Graph graph;
  Output x, w, b, product, biased, activated;
};

// relu(x @ w + b) with x fed, w and b constants.
std::unique_ptr<Dense> dense() {
  auto d = std::make_unique<Dense>();
  d->x = ops::placeholder(d->graph, DType::kFloat32, Shape{2, 3}, "x");
  d->w = ops::constant(d->graph, Tensor::zeros(DType::kFloat32, Shape{3, 4}), "w");
  d->b = ops::constant(d->graph, Tensor::zeros(DType::kFloat32, Shape{4}), "b");
  d->product = ops::matmul(d->x, d->w, {}, "product");
  d->biased = ops::bias_add(d->product, d->b, "biased");
  d->activated = ops::relu(d->biased, "activated");
  return d;
}

TEST(PlanTest, InputsComeFirstAndUnneededNodesArePruned) {
  auto d = dense();
  Output unused = ops::neg(d->activated, "unused");
  const Output feeds[] = {d->x};
  const Output fetches[] = {d->biased};
  const Plan plan = make_plan({.feeds = feeds, .fetches = fetches, .fuse_gemm_epilogues = false});
  EXPECT_THAT(step_names(plan), ElementsAre("w", "product", "b", "biased"));
  EXPECT_EQ(plan.feed_slots.size(), 1u);
  EXPECT_EQ(plan.fetch_slots.size(), 1u);
  (void)unused;
}

TEST(PlanTest, EachIntermediateIsReleasedAfterItsLastReader) {
  auto d = dense();
  const Output feeds[] = {d->x};
  const Output fetches[] = {d->activated};
  const Plan plan = make_plan({.feeds = feeds, .fetches = fetches, .fuse_gemm_epilogues = false});
  // The product's slot dies at the BiasAdd, the BiasAdd's at the Relu; fed and fetched slots
  // are never released.
  const PlanStep& bias_step = step_of(plan, d->biased.node);
  const PlanStep& relu_step = step_of(plan, d->activated.node);
  const int product_slot = step_of(plan, d->product.node).output_slots.at(0);
  EXPECT_THAT(bias_step.release_after, ::testing::Contains(product_slot));
  EXPECT_THAT(relu_step.release_after, ::testing::Contains(bias_step.output_slots.at(0)));
  for (const PlanStep& step : plan.steps) {
    EXPECT_THAT(step.release_after, ::testing::Not(::testing::Contains(plan.feed_slots[0]))) << step.node->name();
    EXPECT_THAT(step.release_after, ::testing::Not(::testing::Contains(plan.fetch_slots[0]))) << step.node->name();
  }
}

TEST(PlanTest, AMatMulBiasAddReluChainIsOneStep) {
  auto d = dense();
  const Output feeds[] = {d->x};
  const Output fetches[] = {d->activated};
  const Plan plan = make_plan({.feeds = feeds, .fetches = fetches});
  EXPECT_THAT(step_names(plan), ElementsAre("w", "b", "activated"));
  const PlanStep& fused = plan.steps.back();
  EXPECT_EQ(fused.fused_matmul, d->product.node);
  EXPECT_EQ(fused.fused_bias_add, d->biased.node);
  EXPECT_TRUE(fused.fused_relu);
  EXPECT_EQ(&fused.kernel_node(), d->product.node);
  // Inputs: a, b, bias.
  ASSERT_EQ(fused.input_slots.size(), 3u);
  EXPECT_EQ(fused.input_slots[0], plan.feed_slots[0]);
}

TEST(PlanTest, FetchedOrTwiceReadIntermediatesAreNotFusedAway) {
  auto d = dense();
  const Output feeds[] = {d->x};
  {
    const Output fetches[] = {d->activated, d->product};
    const Plan plan = make_plan({.feeds = feeds, .fetches = fetches});
    // The product is fetched, so it must exist as a value: no chain starts at it.
    EXPECT_THAT(step_names(plan), ::testing::Contains("product"));
    for (const PlanStep& step : plan.steps) EXPECT_FALSE(step.fused()) << step.node->name();
  }
  {
    // A second reader of the BiasAdd keeps the Relu out of the chain.
    Output other = ops::neg(d->biased, "other");
    const Output fetches[] = {d->activated, other};
    const Plan plan = make_plan({.feeds = feeds, .fetches = fetches});
    const PlanStep& chain = step_of(plan, d->biased.node);
    EXPECT_TRUE(chain.fused());
    EXPECT_FALSE(chain.fused_relu);
    EXPECT_FALSE(step_of(plan, d->activated.node).fused());
  }
}

TEST(PlanTest, AControlDependencyOnTheMatMulKeepsItUnfusedAndBeforeItsWaiter) {
  auto d = dense();
  Node* waiter = ops::no_op(d->graph, {d->product.node}, "waiter");
  const Output feeds[] = {d->x};
  const Output fetches[] = {d->activated};
  Node* const targets[] = {waiter};
  const Plan plan = make_plan({.feeds = feeds, .fetches = fetches, .targets = targets});
  // Fusing the MatMul into the Relu's step would run it after the NoOp that waits for it.
  EXPECT_THAT(step_names(plan), ::testing::Contains("product"));
  EXPECT_LT(position_of(plan, d->product.node), position_of(plan, waiter));
  for (const PlanStep& step : plan.steps) EXPECT_NE(step.fused_matmul, d->product.node);
}

TEST(PlanTest, InPlaceUpdatesRunAfterEveryReaderOfTheOldValue) {
  Graph g;
  Variable w = get_variable(g, "w", {.shape = Shape{2}, .initializer = init::ones()});
  Output read = ops::neg(w.value(), "read");
  Node* update = ops::assign_sub(w, ops::constant(g, Tensor::from_vector<float>(Shape{2}, {1, 1})), "update");
  Output later_read = ops::square(w.value(), "later_read");
  const Output fetches[] = {read, later_read};
  Node* const targets[] = {update};
  const Plan plan = make_plan({.fetches = fetches, .targets = targets});
  EXPECT_GT(position_of(plan, update), position_of(plan, read.node));
  EXPECT_GT(position_of(plan, update), position_of(plan, later_read.node));
  EXPECT_EQ(plan.steps.back().node, update);
}

// An unrolled RNN: each step's x_t * W depends only on a feed and a variable. A depth-first
// order would compute all of them first and hold every product; the plan computes each just
// before the step that adds it, so at most one is alive at a time.
TEST(PlanTest, KernelsOfPersistentValuesRunJustBeforeTheirFirstReader) {
  Graph g;
  const int64_t steps = 6;
  Variable w = get_variable(g, "w", {.shape = Shape{3, 3}, .initializer = init::ones()});
  Variable u = get_variable(g, "u", {.shape = Shape{3, 3}, .initializer = init::ones()});
  std::vector<Output> feeds;
  std::vector<Output> inputs;  // x_t * W
  std::vector<Output> cells;
  Output h = ops::placeholder(g, DType::kFloat32, Shape{2, 3}, "h0");
  feeds.push_back(h);
  for (int64_t t = 0; t < steps; ++t) {
    Output x = ops::placeholder(g, DType::kFloat32, Shape{2, 3}, absl::StrCat("x", t));
    feeds.push_back(x);
    inputs.push_back(ops::matmul(x, w.value(), {}, absl::StrCat("input", t)));
    h = ops::tanh(ops::add(inputs.back(), ops::matmul(h, u.value())), absl::StrCat("cell", t));
    cells.push_back(h);
  }
  const Output fetches[] = {h};
  const Plan plan = make_plan({.feeds = feeds, .fetches = fetches});
  for (int64_t t = 1; t < steps; ++t) {
    const size_t i = static_cast<size_t>(t);
    EXPECT_GT(position_of(plan, inputs[i].node), position_of(plan, cells[i - 1].node)) << "input " << t;
    EXPECT_LT(position_of(plan, inputs[i].node), position_of(plan, cells[i].node)) << "input " << t;
  }
  // Each product is released by its Add, before the next product is computed.
  for (int64_t t = 0; t + 1 < steps; ++t) {
    const PlanStep& add = step_of(plan, cells[static_cast<size_t>(t)].node->input(0).node);
    EXPECT_THAT(add.release_after, ::testing::Contains(step_of(plan, inputs[static_cast<size_t>(t)].node).output_slots[0]));
    EXPECT_LT(position_of(plan, add.node), position_of(plan, inputs[static_cast<size_t>(t) + 1].node));
  }
}

// Moving a reader of a variable down never takes it past an in-place update of that variable.
TEST(PlanTest, AMovedReaderStaysBeforeAnInPlaceUpdate) {
  Graph g;
  Variable w = get_variable(g, "w", {.shape = Shape{2}, .initializer = init::ones()});
  Output x = ops::placeholder(g, DType::kFloat32, Shape{2}, "x");
  Output old_value = ops::mul(w.value(), x, "old_value");  // persistent inputs only: may move
  Node* update = ops::assign_sub(w, ops::constant(g, Tensor::from_vector<float>(Shape{2}, {1, 1})), "update");
  Output later = ops::square(ops::exp(x, "chain"), "chain2");
  Output reader;
  {
    ControlDependencies after_update = g.control_dependencies({update});  // the reader runs after it
    reader = ops::add(later, old_value, "reader");
  }
  const Output feeds[] = {x};
  const Output fetches[] = {reader};
  const Plan plan = make_plan({.feeds = feeds, .fetches = fetches});
  EXPECT_LT(position_of(plan, old_value.node), position_of(plan, update));
  Session session(g, SessionOptions{.device = Device::cpu()});
  session.initialize_variables();
  const std::vector<float> got = session.run({{x, Tensor::from_vector<float>(Shape{2}, {2, 3})}}, {reader}).at(0).to_vector<float>();
  EXPECT_NEAR(got[0], std::exp(2.0f) * std::exp(2.0f) + 2.0f, 1e-3f) << "old_value read w before the update (1 * x)";
  EXPECT_NEAR(got[1], std::exp(3.0f) * std::exp(3.0f) + 3.0f, 1e-3f);
}

TEST(PlanTest, AFetchedVariableValueIsSnapshotBeforeALaterUpdate) {
  Graph g;
  Variable w = get_variable(g, "w", {.shape = Shape{2}, .initializer = init::ones()});
  Output value = w.value();
  Node* update = ops::assign_sub(w, ops::constant(g, Tensor::from_vector<float>(Shape{2}, {1, 1})), "update");
  const Output fetches[] = {value};
  Node* const targets[] = {update};
  const Plan plan = make_plan({.fetches = fetches, .targets = targets});
  int snapshots = 0;
  for (const PlanStep& step : plan.steps) {
    for (const Snapshot& snapshot : step.snapshots) {
      ++snapshots;
      EXPECT_EQ(snapshot.slot, plan.fetch_slots[0]);
      EXPECT_LT(&step - plan.steps.data(), static_cast<ptrdiff_t>(position_of(plan, update)));
    }
  }
  EXPECT_EQ(snapshots, 1);
  // Without an update in the plan, nothing is copied.
  const Plan read_only = make_plan({.fetches = fetches});
  for (const PlanStep& step : read_only.steps) EXPECT_TRUE(step.snapshots.empty());
}

// loss = sum((x @ w1 @ w)^2) trained by SGD: each weight's gradient is one MatMul that only its
// update reads (w's through the Identity of TensorFlow's gradient tuple, gated by a NoOp).
struct SgdModel {
  Graph graph;
  Output x, loss;
  Variable w1, w;
  Node* train = nullptr;
};

std::unique_ptr<SgdModel> sgd_model() {
  auto m = std::make_unique<SgdModel>();
  m->x = ops::placeholder(m->graph, DType::kFloat32, Shape{4, 3}, "x");
  m->w1 = get_variable(m->graph, "w1", {.shape = Shape{3, 3}, .initializer = init::ones()});
  m->w = get_variable(m->graph, "w", {.shape = Shape{3, 2}, .initializer = init::ones()});
  m->loss = ops::reduce_sum(ops::square(ops::matmul(ops::matmul(m->x, m->w1.value()), m->w.value())));
  m->train = train::GradientDescent(0.05f).minimize(m->loss);
  return m;
}

// The update of variable `v` in the plan.
const PlanStep* update_step(const Plan& plan, const Variable& v) {
  for (const PlanStep& step : plan.steps) {
    if (step.node->op_def().id == OpId::kApplyGradientDescent && step.node->input(0).node == v.node()) return &step;
  }
  ADD_FAILURE() << "no update of " << v.name() << " in the plan";
  return &plan.steps.front();
}

TEST(PlanTest, AnSgdUpdateRunsItsWeightGradientsProductInside) {
  auto m = sgd_model();
  const Output feeds[] = {m->x};
  Node* const targets[] = {m->train};
  const Plan plan = make_plan({.feeds = feeds, .targets = targets});
  const Plan unfused = make_plan({.feeds = feeds, .targets = targets, .fuse_gemm_epilogues = false});
  for (const Variable* v : {&m->w1, &m->w}) {
    const PlanStep* update = update_step(plan, *v);
    ASSERT_NE(update->update_matmul, nullptr) << v->name();
    EXPECT_EQ(&update->kernel_node(), update->update_matmul);
    // Unfused, the product (and the gate's Identity, for w) are steps of their own before it.
    const PlanStep* separate = update_step(unfused, *v);
    EXPECT_EQ(separate->update_matmul, nullptr);
    const Node* delta = separate->node->input(2).node;
    std::vector<const Node*> forwarded;
    while (delta->op_def().id == OpId::kIdentity) {
      forwarded.push_back(delta);
      delta = delta->input(0).node;
    }
    EXPECT_EQ(update->update_matmul, delta) << v->name();
    EXPECT_EQ(update->update_forwarded, forwarded) << v->name();
    EXPECT_EQ(forwarded.size(), v == &m->w ? 1u : 0u) << v->name() << ": w's gradient comes through its tuple's gate";
    EXPECT_LT(position_of(unfused, delta), position_of(unfused, separate->node));
    for (const PlanStep& step : plan.steps) EXPECT_NE(step.node, delta) << "the product runs inside the update";
    // Inputs: the variable, the learning rate and the product's two operands.
    ASSERT_EQ(update->input_slots.size(), 4u);
  }
}

// The MatMul that computes w's gradient (found in the unfused plan).
Node* weight_gradient(const SgdModel& m) {
  const Output feeds[] = {m.x};
  Node* const targets[] = {m.train};
  const Plan plan = make_plan({.feeds = feeds, .targets = targets, .fuse_gemm_epilogues = false});
  Node* delta = update_step(plan, m.w)->node->input(2).node;
  while (delta->op_def().id == OpId::kIdentity) delta = delta->input(0).node;
  return delta;
}

TEST(PlanTest, AFetchedOrAwaitedWeightGradientStaysItsOwnStep) {
  {
    auto m = sgd_model();
    Node* gradient = weight_gradient(*m);
    const Output feeds[] = {m->x};
    const Output fetches[] = {gradient->output(0)};
    Node* const targets[] = {m->train};
    const Plan plan = make_plan({.feeds = feeds, .fetches = fetches, .targets = targets});
    EXPECT_EQ(update_step(plan, m->w)->update_matmul, nullptr);
    EXPECT_THAT(step_names(plan), ::testing::Contains(gradient->name()));
  }
  {
    // A node with a value that waits on the product keeps it a step of its own, before the waiter.
    auto m = sgd_model();
    Node* gradient = weight_gradient(*m);
    Output waiter;
    {
      ControlDependencies after = m->graph.control_dependencies({gradient});
      waiter = ops::identity(ops::constant(m->graph, Tensor::from_vector<float>(Shape{1}, {1})), "waiter");
    }
    const Output feeds[] = {m->x};
    const Output fetches[] = {waiter};
    Node* const targets[] = {m->train};
    const Plan plan = make_plan({.feeds = feeds, .fetches = fetches, .targets = targets});
    EXPECT_EQ(update_step(plan, m->w)->update_matmul, nullptr);
    EXPECT_LT(position_of(plan, gradient), position_of(plan, waiter.node));
  }
  {
    // A NoOp that waits on it orders nothing observable (the product reads no variable buffer).
    auto m = sgd_model();
    Node* gradient = weight_gradient(*m);
    Node* waiter = ops::no_op(m->graph, {gradient}, "waiter");
    const Output feeds[] = {m->x};
    Node* const targets[] = {m->train, waiter};
    const Plan plan = make_plan({.feeds = feeds, .targets = targets});
    EXPECT_EQ(update_step(plan, m->w)->update_matmul, gradient);
  }
}

TEST(PlanTest, AnUnfedPlaceholderIsAClearError) {
  auto d = dense();
  const Output fetches[] = {d->activated};
  const test::ThrownError e = test::error_of([&] { (void)make_plan({.fetches = fetches}); });
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.message, HasSubstr("placeholder 'x' must be fed a float32 tensor of shape (2, 3)"));
}

// The executor's side of fused updates: the same variables as the unfused update, on either CPU
// GEMM library, and traces name the kernel that ran the product inside the update.
TEST(SessionGemmUpdateTest, FusedUpdatesMatchTheUnfusedOnesAndAreTraced) {
  std::vector<CpuGemm> libraries = {CpuGemm::kOpenBlas};
  if (cpu_gemm_onednn_built()) libraries.push_back(CpuGemm::kOneDnn);
  for (const CpuGemm library : libraries) {
    auto m = sgd_model();
    const Tensor x = Tensor::from_vector<float>(Shape{4, 3}, {1, -2, 3, 0.5f, 4, -1, 2, 2, 2, -3, 1, 0.25f});
    std::vector<std::vector<float>> trained;
    for (const bool fuse : {true, false}) {
      Session session(m->graph, SessionOptions{.device = Device::cpu(), .fuse_gemm_epilogues = fuse, .cpu_gemm = library});
      session.initialize_variables();
      Node* const targets[] = {m->train};
      RunStats stats;
      for (int step = 0; step < 3; ++step) {
        session.run({{m->x, x}}, std::span<const Output>(), targets, RunOptions{.trace = true}, &stats);
      }
      if (fuse) {
        int traced = 0;
        for (const NodeRunStats& node : stats.nodes) {
          if (node.node->op_def().id == OpId::kApplyGradientDescent) {
            ++traced;
            EXPECT_THAT(node.fused_kernel, library == CpuGemm::kOpenBlas ? HasSubstr("sgemm (alpha, beta = 1)")
                                                                         : HasSubstr("output scale"));
          }
        }
        EXPECT_EQ(traced, 2);
      }
      for (const Variable* v : {&m->w1, &m->w}) trained.push_back(session.variable_value(*v).to_vector<float>());
    }
    ASSERT_EQ(trained.size(), 4u);  // fused w1, w; unfused w1, w
    for (size_t v = 0; v < 2; ++v) {
      const std::vector<float>& fused = trained[v];
      const std::vector<float>& unfused = trained[v + 2];
      ASSERT_EQ(fused.size(), unfused.size());
      for (size_t i = 0; i < fused.size(); ++i) {
        EXPECT_NEAR(fused[i], unfused[i], 1e-5f * std::max(1.0f, std::fabs(unfused[i]))) << v << " " << i;
      }
      EXPECT_NE(fused, std::vector<float>(fused.size(), 1.0f)) << "training moved the variable";
    }
  }
}

// The executor's side: a fetched read of a variable returns the value as of the read, also when
// the same run updates the variable in place afterwards.
TEST(SessionSnapshotTest, AFetchedReadSeesTheValueBeforeTheUpdateOfTheSameRun) {
  Graph g;
  Variable w = get_variable(g, "w", {.shape = Shape{2}, .initializer = init::ones()});
  Node* update = ops::assign_sub(w, ops::constant(g, Tensor::from_vector<float>(Shape{2}, {0.25f, 0.5f})), "update");
  Session session(g, SessionOptions{.device = Device::cpu()});
  session.initialize_variables();
  const Output fetches[] = {w.value()};
  Node* const targets[] = {update};
  const std::vector<Tensor> first = session.run({}, fetches, targets);
  EXPECT_EQ(first.at(0).to_vector<float>(), (std::vector<float>{1.0f, 1.0f}));
  const std::vector<Tensor> second = session.run({}, fetches, targets);
  EXPECT_EQ(second.at(0).to_vector<float>(), (std::vector<float>{0.75f, 0.5f}));
  // The first result stayed as it was; the variable holds both updates.
  EXPECT_EQ(first.at(0).to_vector<float>(), (std::vector<float>{1.0f, 1.0f}));
  EXPECT_EQ(session.variable_value(w).to_vector<float>(), (std::vector<float>{0.5f, 0.0f}));
}

// A layer used `uses` times through one auto-reused scope, trained with Adam: the gradients of
// its weights and biases are AddNs over the uses.
struct SharedStack {
  Graph graph;
  Output x, loss;
  Variable w, b;
  Node* train = nullptr;
  Node* weights_sum = nullptr;  // the AddN of w's per-use gradients
  Node* biases_sum = nullptr;
};

std::unique_ptr<SharedStack> shared_stack(int uses, int64_t width = 3, int64_t batch = 4) {
  auto m = std::make_unique<SharedStack>();
  m->graph.set_seed(5);
  m->x = ops::placeholder(m->graph, DType::kFloat32, Shape{batch, width}, "x");
  Output h = m->x;
  for (int i = 0; i < uses; ++i) {
    VariableScopeGuard scope = variable_scope(m->graph, "layer", {.reuse = Reuse::kAutoReuse});
    m->w = get_variable(m->graph, "weights", {.shape = Shape{width, width}, .initializer = init::glorot_uniform()});
    m->b = get_variable(m->graph, "biases", {.shape = Shape{width}, .initializer = init::random_normal(0, 0.1)});
    h = ops::tanh(ops::bias_add(ops::matmul(h, m->w), m->b));
  }
  m->loss = ops::reduce_sum(ops::square(h));
  const std::vector<Output> grads = gradients(m->loss, {m->w.value(), m->b.value()});
  m->weights_sum = grads[0].node;
  m->biases_sum = grads[1].node;
  m->train = train::Adam({.learning_rate = 0.05f}).minimize(m->loss);
  return m;
}

// The AddN of `variable`'s gradient in the training graph (the optimizer's own gradients call).
const Node* gradient_sum(const Plan& unaccumulated, const Variable& variable) {
  for (const PlanStep& step : unaccumulated.steps) {
    if (step.node->op_def().id != OpId::kApplyAdam || step.node->input(0).node != variable.node()) continue;
    const Node* sum = step.node->inputs().back().node;
    EXPECT_EQ(sum->op_def().id, OpId::kAddN) << variable.name();
    return sum;
  }
  ADD_FAILURE() << "no update of " << variable.name();
  return nullptr;
}

TEST(PlanTest, TheUsesOfASharedVariableAddTheirGradientsIntoOneBufferInPlanOrder) {
  auto m = shared_stack(3);
  const Output feeds[] = {m->x};
  Node* const targets[] = {m->train};
  const Plan plan = make_plan({.feeds = feeds, .targets = targets});
  const Plan plain = make_plan({.feeds = feeds, .targets = targets, .accumulate_sums = false});
  for (const Variable* v : {&m->w, &m->b}) {
    const Node* sum = gradient_sum(plain, *v);
    ASSERT_NE(sum, nullptr);
    ASSERT_EQ(sum->num_inputs(), 3);
    EXPECT_THAT(step_names(plain), ::testing::Contains(sum->name()));
    EXPECT_THAT(step_names(plan), ::testing::Not(::testing::Contains(sum->name())))
        << "no AddN step: its contributions write its buffer";
    const OpId contribution_op = v == &m->w ? OpId::kMatMul : OpId::kBiasAddGrad;
    std::vector<const PlanStep*> contributions;
    for (const PlanStep& step : plan.steps) {
      if (step.sum == sum) contributions.push_back(&step);
    }
    ASSERT_EQ(contributions.size(), 3u) << v->name();
    int sum_slot = -1;
    for (size_t i = 0; i < contributions.size(); ++i) {
      const PlanStep& step = *contributions[i];
      EXPECT_EQ(step.node->op_def().id, contribution_op) << v->name() << " " << i;
      EXPECT_EQ(step.completes_sum, i == 2) << v->name() << " " << i;
      // Each reaches the AddN through its tuple's gate, but the first layer's weights: its
      // input is fed, so that MatMul's gradient has one output and no tuple.
      const bool gated = contribution_op == OpId::kBiasAddGrad || !step.completes_sum;
      EXPECT_EQ(step.sum_forwarded.size(), gated ? 1u : 0u) << v->name() << " " << i;
      if (i == 0) {
        EXPECT_EQ(step.accumulator_input, -1) << "the first writes the sum (beta = 0)";
        sum_slot = step.output_slots[0];
      } else {
        // A MatMul reads (a, b, sum), a BiasAddGrad (gradient, sum), and writes the sum.
        EXPECT_EQ(step.accumulator_input, contribution_op == OpId::kMatMul ? 2 : 1) << v->name() << " " << i;
        EXPECT_EQ(step.input_slots.at(static_cast<size_t>(step.accumulator_input)), sum_slot);
        EXPECT_EQ(step.output_slots[0], sum_slot);
      }
      for (const Node* gate : step.sum_forwarded) EXPECT_THAT(step_names(plan), ::testing::Not(::testing::Contains(gate->name())));
    }
    // The update reads the sum's buffer, and frees it.
    const PlanStep* update = nullptr;
    for (const PlanStep& step : plan.steps) {
      if (step.node->op_def().id == OpId::kApplyAdam && step.node->input(0).node == v->node()) update = &step;
    }
    ASSERT_NE(update, nullptr);
    EXPECT_EQ(update->input_slots.back(), sum_slot);
    EXPECT_THAT(update->release_after, ::testing::Contains(sum_slot));
  }
}

TEST(PlanTest, AContributionThatCannotAddItselfIsAddedByTheAddNRightAfterIt) {
  Graph g;
  Output a = ops::placeholder(g, DType::kFloat32, Shape{5}, "a");
  Output sum = ops::add_n({ops::square(a, "first"), ops::exp(a, "second"), ops::neg(a, "third")}, "sum");
  const Output feeds[] = {a};
  const Output fetches[] = {sum};
  const Plan plan = make_plan({.feeds = feeds, .fetches = fetches});
  EXPECT_THAT(step_names(plan), ElementsAre("first", "second", "sum", "third", "sum"));
  const PlanStep& first = plan.steps[0];
  EXPECT_EQ(first.sum, sum.node);
  const int sum_slot = first.output_slots[0];
  EXPECT_EQ(plan.fetch_slots, std::vector<int>{sum_slot});
  for (size_t add : {2u, 4u}) {
    const PlanStep& step = plan.steps[add];
    EXPECT_EQ(step.accumulator_input, 0);
    ASSERT_EQ(step.input_slots.size(), 2u);
    EXPECT_EQ(step.input_slots[0], sum_slot);
    EXPECT_EQ(step.input_slots[1], plan.steps[add - 1].output_slots[0]);
    EXPECT_EQ(step.output_slots, std::vector<int>{sum_slot});
    EXPECT_THAT(step.release_after, ElementsAre(plan.steps[add - 1].output_slots[0])) << "freed at once";
    EXPECT_EQ(step.completes_sum, add == 4u);
  }

  Session session(g, SessionOptions{.device = Device::cpu()});
  Session plain(g, SessionOptions{.device = Device::cpu(), .accumulate_sums_in_place = false});
  const Tensor values = Tensor::from_vector<float>(Shape{5}, {-1.5f, 0.0f, 0.25f, 2.0f, std::nanf("")});
  const std::vector<float> got = session.run({{a, values}}, {sum}).at(0).to_vector<float>();
  const std::vector<float> want = plain.run({{a, values}}, {sum}).at(0).to_vector<float>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(got[i], want[i]) << "same order of additions: the same floats";
  EXPECT_TRUE(std::isnan(got[4]));
}

// A sum of sums (the average over towers of per-tower gradients): the inner sums accumulate in
// place, the outer AddN adds their buffers as an AddN of its own.
TEST(PlanTest, ASumOfSumsSumsTheInnerOnesInPlaceAndKeepsTheOuterAddN) {
  Graph g;
  Output a = ops::placeholder(g, DType::kFloat32, Shape{3}, "a");
  Output inner0 = ops::add_n({ops::square(a), ops::exp(a)}, "inner0");
  Output inner1 = ops::add_n({ops::neg(a), ops::sqrt(a)}, "inner1");
  Output outer = ops::add_n({inner0, inner1}, "outer");
  const Output feeds[] = {a};
  const Output fetches[] = {outer};
  const Plan plan = make_plan({.feeds = feeds, .fetches = fetches});
  EXPECT_EQ(step_of(plan, outer.node).sum, nullptr);
  int inner_steps = 0;
  for (const PlanStep& step : plan.steps) inner_steps += step.sum == inner0.node || step.sum == inner1.node;
  EXPECT_EQ(inner_steps, 4) << "two contributions and one add each";
  Session session(g, SessionOptions{.device = Device::cpu()});
  const std::vector<float> got =
      session.run({{a, Tensor::from_vector<float>(Shape{3}, {0.5f, 1.0f, 4.0f})}}, {outer}).at(0).to_vector<float>();
  for (size_t i = 0; i < 3; ++i) {
    const float x = std::vector<float>{0.5f, 1.0f, 4.0f}[i];
    EXPECT_NEAR(got[i], x * x + std::exp(x) - x + std::sqrt(x), 1e-5f) << i;
  }
}

TEST(PlanTest, ASumWithAFetchedOrTwiceReadContributionKeepsItsAddN) {
  {
    Graph g;
    Output a = ops::placeholder(g, DType::kFloat32, Shape{2}, "a");
    Output first = ops::square(a, "first");
    Output sum = ops::add_n({first, ops::exp(a, "second")}, "sum");
    const Output feeds[] = {a};
    const Output fetches[] = {sum, first};
    const Plan plan = make_plan({.feeds = feeds, .fetches = fetches});
    EXPECT_EQ(step_of(plan, sum.node).sum, nullptr);
    for (const PlanStep& step : plan.steps) EXPECT_EQ(step.sum, nullptr) << step.node->name();
  }
  {
    Graph g;
    Output a = ops::placeholder(g, DType::kFloat32, Shape{2}, "a");
    Output first = ops::square(a, "first");
    Output sum = ops::add_n({first, first}, "sum");
    const Output feeds[] = {a};
    const Output fetches[] = {sum};
    const Plan plan = make_plan({.feeds = feeds, .fetches = fetches});
    EXPECT_THAT(step_names(plan), ElementsAre("first", "sum"));
    EXPECT_EQ(step_of(plan, sum.node).sum, nullptr);
  }
}

// The executor's side: trained with the sums accumulated in place, a shared stack ends where the
// AddN path ends (within float rounding), bit for bit the same from run to run, on either CPU
// GEMM library, holds no per-use gradient, and traces name the accumulating kernels.
TEST(SessionSumAccumulationTest, SharedGradientsMatchTheAddNPathRepeatBitForBitAndAreTraced) {
  std::vector<CpuGemm> libraries = {CpuGemm::kOpenBlas};
  if (cpu_gemm_onednn_built()) libraries.push_back(CpuGemm::kOneDnn);
  for (const CpuGemm library : libraries) {
    auto m = shared_stack(8, /*width=*/16, /*batch=*/2);
    std::mt19937 rng(4);
    std::normal_distribution<float> normal;
    std::vector<float> values(32);
    for (float& value : values) value = normal(rng);
    const Tensor x = Tensor::from_vector<float>(Shape{2, 16}, values);
    Node* const targets[] = {m->train};
    std::vector<std::vector<float>> trained;  // per session: w then b
    std::vector<int64_t> activation_peaks;
    for (const bool accumulate : {true, true, false}) {
      Session session(m->graph, SessionOptions{.device = Device::cpu(), .accumulate_sums_in_place = accumulate,
                                               .cpu_gemm = library});
      session.initialize_variables();
      RunStats stats;
      int64_t peak = 0;
      for (int step = 0; step < 4; ++step) {
        session.allocator().reset_peaks();
        session.run({{m->x, x}}, std::span<const Output>(), targets, RunOptions{.trace = true}, &stats);
        peak = std::max(peak, session.allocator().stats(MemoryKind::kActivation).peak_bytes);
      }
      activation_peaks.push_back(peak);
      int accumulating = 0;
      for (const NodeRunStats& node : stats.nodes) {
        if (node.fused_kernel.find("adding into the sum") != std::string::npos) ++accumulating;
      }
      // 8 uses: the first of each sum writes it, 7 add into it, for the weights and the biases.
      EXPECT_EQ(accumulating, accumulate ? 14 : 0);
      trained.push_back(session.variable_value(m->w).to_vector<float>());
      trained.push_back(session.variable_value(m->b).to_vector<float>());
    }
    EXPECT_EQ(trained[0], trained[2]) << "weights: the same plan order, the same bits";
    EXPECT_EQ(trained[1], trained[3]) << "biases";
    for (size_t v = 0; v < 2; ++v) {
      ASSERT_EQ(trained[v].size(), trained[v + 4].size());
      for (size_t i = 0; i < trained[v].size(); ++i) {
        EXPECT_NEAR(trained[v][i], trained[v + 4][i], 1e-5f * std::max(1.0f, std::fabs(trained[v + 4][i])));
      }
    }
    // The AddN path holds the 8 per-use weight gradients (16x16 floats) as activations at once.
    EXPECT_LE(activation_peaks[0] + 7 * 1024, activation_peaks[2]);
  }
}

// Blocks of the activation arena: aligned, inside it, and the arena near its lower bound.
TEST(PlanTest, ActivationsArePlacedInOneArenaNearItsLowerBound) {
  auto m = shared_stack(8, /*width=*/16, /*batch=*/2);
  const Output feeds[] = {m->x};
  const Output fetches[] = {m->loss};
  Node* const targets[] = {m->train};
  const Plan plan = make_plan({.feeds = feeds, .fetches = fetches, .targets = targets});
  int placed = 0;
  for (const PlanStep& step : plan.steps) {
    for (size_t i = 0; i < step.arena_offsets.size(); ++i) {
      const int64_t offset = step.arena_offsets[i];
      if (offset < 0) continue;
      ++placed;
      EXPECT_EQ(offset % kArenaAlignment, 0);
      EXPECT_EQ(step.node->output_memory_kind(static_cast<int>(i)), MemoryKind::kActivation) << step.node->name();
      const int64_t bytes = step.node->output_shape(static_cast<int>(i)).num_elements() * 4;
      EXPECT_LE(offset + bytes, plan.arena_bytes) << step.node->name();
      EXPECT_NE(step.output_slots[i], plan.fetch_slots[0]) << "the fetched loss leaves the run: not in the arena";
    }
  }
  EXPECT_GT(placed, 30);
  EXPECT_GT(plan.arena_lower_bound_bytes, 0);
  EXPECT_GE(plan.arena_bytes, plan.arena_lower_bound_bytes);
  EXPECT_LE(static_cast<double>(plan.arena_bytes), 1.05 * static_cast<double>(plan.arena_lower_bound_bytes));
  const Plan without = make_plan({.feeds = feeds, .fetches = fetches, .targets = targets, .plan_arena = false});
  EXPECT_EQ(without.arena_bytes, 0);
  for (const PlanStep& step : without.steps) EXPECT_TRUE(step.arena_offsets.empty());
}

// The executor's side: the same training in the arena as with one allocation per tensor, bit
// for bit (a block placed over a live one would change the numbers), and one activation
// allocation per run.
TEST(SessionArenaTest, TrainingInTheArenaMatchesOneAllocationPerTensorBitForBit) {
  auto m = shared_stack(6, /*width=*/16, /*batch=*/4);
  std::mt19937 rng(6);
  std::normal_distribution<float> normal;
  std::vector<float> values(64);
  for (float& value : values) value = normal(rng);
  const Tensor x = Tensor::from_vector<float>(Shape{4, 16}, values);
  const Output fetches[] = {m->loss};
  Node* const targets[] = {m->train};
  std::vector<std::vector<float>> results;
  for (const bool arena : {true, false}) {
    Session session(m->graph, SessionOptions{.device = Device::cpu(), .plan_activation_arena = arena});
    session.initialize_variables();
    std::vector<float> losses;
    RunStats stats;
    for (int step = 0; step < 5; ++step) {
      const int64_t before = session.allocator().stats(MemoryKind::kActivation).total_allocations;
      losses.push_back(session.run({{m->x, x}}, fetches, targets, RunOptions{}, &stats).at(0).data<float>()[0]);
      const int64_t allocations = session.allocator().stats(MemoryKind::kActivation).total_allocations - before;
      if (arena) {
        EXPECT_EQ(allocations, 2) << "the arena and the fetched loss";
      } else {
        EXPECT_GT(allocations, 20);
      }
    }
    EXPECT_EQ(stats.arena_bytes > 0, arena);
    results.push_back(losses);
    results.push_back(session.variable_value(m->w).to_vector<float>());
    results.push_back(session.variable_value(m->b).to_vector<float>());
  }
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(results[i], results[i + 3]) << i;
}

}  // namespace
}  // namespace scopeflow
