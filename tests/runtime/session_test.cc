#include "scopeflow/session.h"

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "scopeflow/error.h"
#include "test_util.h"
#include "scopeflow/graph.h"
#include "scopeflow/initializers.h"
#include "scopeflow/ops.h"
#include "scopeflow/scope.h"
#include "scopeflow/train.h"

namespace scopeflow {
namespace {

using ::testing::AllOf;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using test::error_of;

SessionOptions cpu_options() { return SessionOptions{.device = Device::cpu()}; }

// A graph y = relu(x) * 2 with x a (2, 3) float32 placeholder, and an unrelated placeholder z.
struct SmallGraph {
  Graph graph;
  Output x;
  Output z;
  Output h;
  Output y;
  SmallGraph() {
    x = ops::placeholder(graph, DType::kFloat32, Shape{2, 3}, "x");
    z = ops::placeholder(graph, DType::kFloat32, Shape{4}, "z");
    h = ops::relu(x);
    y = ops::mul(h, ops::scalar(graph, 2.0f));
  }
};

Tensor x_value() { return Tensor::from_vector<float>(Shape{2, 3}, {-1, 2, -3, 4, -5, 6}); }

// A correct run after an error still works and gives the right values.
void expect_usable(Session& session, const SmallGraph& m) {
  const Tensor y = session.run(m.y, {{m.x, x_value()}});
  EXPECT_THAT(y.to_vector<float>(), ElementsAre(0, 4, 0, 8, 0, 12));
}

// Expects `fn` to throw Error(kInvalidArgument) from session.run containing `pieces`.
void expect_run_error(const std::function<void()>& fn, const std::vector<std::string>& pieces) {
  test::ThrownError e = error_of(fn);
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument) << e.message;
  EXPECT_THAT(e.message, StartsWith("[session.run]"));
  for (const std::string& piece : pieces) EXPECT_THAT(e.message, HasSubstr(piece));
}

// ---------------------------------------------------------------------------------------------
// Feed and fetch validation

TEST(SessionFeedTest, WrongDtype) {
  SmallGraph m;
  Session session(m.graph, cpu_options());
  expect_run_error([&] { session.run(m.y, {{m.x, Tensor::zeros(DType::kInt32, Shape{2, 3})}}); },
                   {"'x'", "int32", "float32", "(2, 3)"});
  expect_usable(session, m);
}

TEST(SessionFeedTest, WrongShape) {
  SmallGraph m;
  Session session(m.graph, cpu_options());
  expect_run_error([&] { session.run(m.y, {{m.x, Tensor::zeros(DType::kFloat32, Shape{3, 2})}}); },
                   {"'x'", "(3, 2)", "(2, 3)"});
  expect_run_error([&] { session.run(m.y, {{m.x, Tensor::zeros(DType::kFloat32, Shape{6})}}); },
                   {"(6,)"});
  expect_usable(session, m);
}

TEST(SessionFeedTest, MissingFeedNamesThePlaceholderAndShape) {
  SmallGraph m;
  Session session(m.graph, cpu_options());
  expect_run_error([&] { session.run(m.y); }, {"placeholder 'x'", "float32", "(2, 3)"});
  // Feeding only the unrelated placeholder does not help.
  expect_run_error([&] { session.run(m.y, {{m.z, Tensor::zeros(DType::kFloat32, Shape{4})}}); },
                   {"placeholder 'x'", "(2, 3)"});
  EXPECT_EQ(session.num_compiled_plans(), 0);
  expect_usable(session, m);
}

TEST(SessionFeedTest, SameOutputFedTwice) {
  SmallGraph m;
  Session session(m.graph, cpu_options());
  expect_run_error([&] { session.run(m.y, {{m.x, x_value()}, {m.x, x_value()}}); },
                   {"'x'", "fed twice"});
  expect_usable(session, m);
}

TEST(SessionFeedTest, FeedingAVariableIsRejected) {
  SmallGraph m;
  Variable w = get_variable(m.graph, "w", {.shape = Shape{3}, .initializer = init::zeros()});
  Output uses_w = ops::add(w, ops::scalar(m.graph, 1.0f));
  Session session(m.graph, cpu_options());
  session.initialize_variables();
  expect_run_error([&] { session.run(uses_w, {{w.node()->output(0), Tensor::zeros(DType::kFloat32, Shape{3})}}); },
                   {"variable 'w'", "assign_variable"});
  // Feeding the read value is allowed and replaces it for this run.
  const Tensor r = session.run(uses_w, {{w.value(), Tensor::from_vector<float>(Shape{3}, {1, 2, 3})}});
  EXPECT_THAT(r.to_vector<float>(), ElementsAre(2, 3, 4));
  EXPECT_THAT(session.run(uses_w).to_vector<float>(), Each(1.0f));  // zeros + 1
  expect_usable(session, m);
}

TEST(SessionFeedTest, EmptyTensorFed) {
  SmallGraph m;
  Session session(m.graph, cpu_options());
  expect_run_error([&] { session.run(m.y, {{m.x, Tensor()}}); }, {"'x'", "empty"});
  expect_usable(session, m);
}

TEST(SessionFeedTest, FeedFromAnotherGraph) {
  SmallGraph m;
  SmallGraph other;
  Session session(m.graph, cpu_options());
  expect_run_error([&] { session.run(m.y, {{other.x, x_value()}}); }, {"another graph"});
  expect_usable(session, m);
}

TEST(SessionFetchTest, FetchFromAnotherGraph) {
  SmallGraph m;
  SmallGraph other;
  Session session(m.graph, cpu_options());
  expect_run_error([&] { session.run(other.y, {{m.x, x_value()}}); }, {"fetch", "another graph"});
  expect_run_error([&] { session.run(Output{}); }, {"null"});
  expect_run_error([&] { session.run(Output{m.y.node, 3}, {{m.x, x_value()}}); }, {"does not exist"});
  expect_usable(session, m);
}

TEST(SessionFetchTest, TargetFromAnotherGraph) {
  SmallGraph m;
  SmallGraph other;
  Node* foreign = ops::no_op(other.graph, {other.y.node});
  Session session(m.graph, cpu_options());
  expect_run_error([&] { session.run({{m.x, x_value()}}, {m.y}, {foreign}); }, {"target", "another graph"});
  expect_run_error([&] { session.run({{m.x, x_value()}}, {m.y}, {nullptr}); }, {"target"});
  expect_usable(session, m);
}

TEST(SessionVariableTest, UninitializedVariableIsAFailedPrecondition) {
  SmallGraph m;
  Variable w = get_variable(m.graph, "layer/w", {.shape = Shape{2, 3}, .initializer = init::ones()});
  Output out = ops::add(m.x, w);
  Session session(m.graph, cpu_options());
  EXPECT_FALSE(session.is_initialized(w));
  test::ThrownError e = error_of([&] { session.run(out, {{m.x, x_value()}}); });
  EXPECT_EQ(e.code, absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(e.message, StartsWith("[session.run]"));
  EXPECT_THAT(e.message, HasSubstr("layer/w"));
  e = error_of([&] { (void)session.variable_value(w); });
  EXPECT_EQ(e.code, absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(e.message, HasSubstr("layer/w"));

  session.initialize_variables();
  EXPECT_TRUE(session.is_initialized(w));
  EXPECT_THAT(session.run(out, {{m.x, x_value()}}).to_vector<float>(), ElementsAre(0, 3, -2, 5, -4, 7));
  expect_usable(session, m);
}

// ---------------------------------------------------------------------------------------------
// Pruning and feeding intermediates

TEST(SessionPruningTest, UnneededPlaceholdersNeedNoFeed) {
  SmallGraph m;
  Output from_z = ops::relu(m.z);
  Session session(m.graph, cpu_options());
  expect_usable(session, m);  // z is never fed
  const Tensor r = session.run(from_z, {{m.z, Tensor::from_vector<float>(Shape{4}, {-1, 1, -2, 2})}});
  EXPECT_THAT(r.to_vector<float>(), ElementsAre(0, 1, 0, 2));  // x is never fed
  // A constant-only subgraph needs no feed at all.
  Output c = ops::add(ops::scalar(m.graph, 1.5f), ops::scalar(m.graph, 2.0f));
  EXPECT_THAT(session.run(c).to_vector<float>(), ElementsAre(3.5f));
}

TEST(SessionPruningTest, FeedingAnIntermediateReplacesIt) {
  SmallGraph m;
  Session session(m.graph, cpu_options());
  const AllocationStats before = session.allocator().stats(MemoryKind::kActivation);
  // h is fed, so x (upstream of h only) needs no feed and relu does not run.
  const Tensor y = session.run(m.y, {{m.h, Tensor::from_vector<float>(Shape{2, 3}, {-1, 1, 2, 3, 4, 5})}});
  EXPECT_THAT(y.to_vector<float>(), ElementsAre(-2, 2, 4, 6, 8, 10));
  EXPECT_EQ(session.allocator().stats(MemoryKind::kActivation).total_allocations - before.total_allocations, 1);
  // Fetching the fed output itself gives the fed value.
  const Tensor h = session.run(m.h, {{m.h, Tensor::from_vector<float>(Shape{2, 3}, {9, 8, 7, 6, 5, 4})}});
  EXPECT_THAT(h.to_vector<float>(), ElementsAre(9, 8, 7, 6, 5, 4));
  expect_usable(session, m);
}

// ---------------------------------------------------------------------------------------------
// Plan reuse

TEST(SessionPlanTest, OnePlanPerSignature) {
  Graph g;
  Output a = ops::placeholder(g, DType::kFloat32, Shape{2}, "a");
  Output b = ops::placeholder(g, DType::kFloat32, Shape{2}, "b");
  Output sum = ops::add(a, b);
  Output diff = ops::sub(a, b);
  Session session(g, cpu_options());
  EXPECT_EQ(session.num_compiled_plans(), 0);
  const Tensor va = Tensor::from_vector<float>(Shape{2}, {1, 2});
  const Tensor vb = Tensor::from_vector<float>(Shape{2}, {10, 20});
  for (int i = 0; i < 5; ++i) {
    // Alternate the feed order: the signature does not depend on it.
    const FeedList feeds = i % 2 == 0 ? FeedList{{a, va}, {b, vb}} : FeedList{{b, vb}, {a, va}};
    EXPECT_THAT(session.run(sum, feeds).to_vector<float>(), ElementsAre(11, 22));
    EXPECT_EQ(session.num_compiled_plans(), 1) << "run " << i;
  }
  // A new fetch set compiles a new plan, once.
  for (int i = 0; i < 3; ++i) {
    const std::vector<Tensor> r = session.run({{a, va}, {b, vb}}, {sum, diff});
    EXPECT_THAT(r[1].to_vector<float>(), ElementsAre(-9, -18));
    EXPECT_EQ(session.num_compiled_plans(), 2);
  }
  session.run({{a, va}, {b, vb}}, {diff});
  EXPECT_EQ(session.num_compiled_plans(), 3);
  session.run(sum, {{a, va}, {b, vb}});
  EXPECT_EQ(session.num_compiled_plans(), 3);
  // Failed runs compile nothing.
  EXPECT_THROW(session.run(sum, {{a, va}}), Error);
  EXPECT_EQ(session.num_compiled_plans(), 3);
}

// ---------------------------------------------------------------------------------------------
// Memory: liveness of intermediates and one buffer per variable

TEST(SessionMemoryTest, ChainFreesIntermediates) {
  constexpr int64_t kSide = 256;
  constexpr int64_t kBuffer = kSide * kSide * 4;
  Graph g;
  Output x = ops::placeholder(g, DType::kFloat32, Shape{kSide, kSide}, "x");
  Output y = x;
  for (int i = 0; i < 10; ++i) {
    switch (i % 3) {
      case 0: y = ops::tanh(y); break;
      case 1: y = ops::sigmoid(y); break;
      default: y = ops::relu(y); break;
    }
  }
  const Tensor feed = Tensor::zeros(DType::kFloat32, Shape{kSide, kSide});
  for (const bool arena : {false, true}) {
    Session session(g, SessionOptions{.device = Device::cpu(), .plan_activation_arena = arena});
    Allocator& alloc = session.allocator();
    for (int run = 0; run < 2; ++run) {
      alloc.reset_peaks();
      const AllocationStats before = alloc.stats(MemoryKind::kActivation);
      {
        RunStats stats;
        const Output fetches[] = {y};
        const Tensor result = session.run(FeedList{{x, feed}}, fetches, {}, RunOptions{}, &stats).at(0);
        const AllocationStats after = alloc.stats(MemoryKind::kActivation);
        // One allocation per value, or the arena (the 9 intermediates) and the fetched result.
        EXPECT_EQ(after.total_allocations - before.total_allocations, arena ? 2 : 10);
        // Only the fetched result stays; at most the input and output of one step were live,
        // and the arena holds two values.
        EXPECT_EQ(after.bytes_in_use, kBuffer);
        EXPECT_EQ(after.live_allocations, 1);
        EXPECT_LE(after.peak_bytes, (arena ? 3 : 2) * kBuffer) << "intermediates are not freed after their last use";
        EXPECT_EQ(stats.arena_bytes, arena ? 2 * kBuffer : 0);
        EXPECT_EQ(stats.arena_lower_bound_bytes, arena ? 2 * kBuffer : 0);
        EXPECT_EQ(result.shape(), Shape({kSide, kSide}));
        // tanh(0) = 0, sigmoid(0) = 0.5, relu(0.5) = 0.5, ... ends in tanh(relu(sigmoid(...))).
        EXPECT_FALSE(std::isnan(result.to_vector<float>()[0]));
      }
      EXPECT_EQ(alloc.stats(MemoryKind::kActivation).bytes_in_use, 0);
      EXPECT_EQ(alloc.stats(MemoryKind::kActivation).live_allocations, 0);
    }
    EXPECT_EQ(alloc.stats().bytes_in_use, 0);
  }
}

TEST(SessionMemoryTest, BranchesKeepValuesUntilTheLastReader) {
  // a is read by the first and the last op; its value must stay alive in between.
  Graph g;
  Output x = ops::placeholder(g, DType::kFloat32, Shape{3}, "x");
  Output a = ops::relu(x);
  Output b = ops::tanh(a);
  Output c = ops::sigmoid(b);
  Output d = ops::add(c, a);
  Session session(g, cpu_options());
  const std::vector<float> xs = {-1.0f, 0.5f, 2.0f};
  const std::vector<float> r =
      session.run(d, {{x, Tensor::from_vector<float>(Shape{3}, xs)}}).to_vector<float>();
  for (size_t i = 0; i < xs.size(); ++i) {
    const double av = std::max(0.0f, xs[i]);
    EXPECT_NEAR(r[i], 1.0 / (1.0 + std::exp(-std::tanh(av))) + av, 1e-6);
  }
  EXPECT_EQ(session.allocator().stats(MemoryKind::kActivation).live_allocations, 0);
}

TEST(SessionMemoryTest, OneParameterAllocationPerVariable) {
  Graph g;
  Variable w = get_variable(g, "dense/kernel", {.shape = Shape{4, 3}});
  Variable b = get_variable(g, "dense/bias", {.shape = Shape{3}, .initializer = init::zeros()});
  Variable c = get_variable(g, "other/c", {.shape = Shape{2, 2, 2}, .initializer = init::ones()});
  Output x = ops::placeholder(g, DType::kFloat32, Shape{5, 4}, "x");
  Output h = ops::bias_add(ops::matmul(x, w), b);
  Output h2 = ops::bias_add(ops::matmul(x, w), b);  // shares both variables
  Output loss = ops::add(ops::reduce_sum(ops::add(h, h2)), ops::reduce_sum(c));

  Session session(g, cpu_options());
  const Allocator& alloc = session.allocator();
  EXPECT_EQ(alloc.stats(MemoryKind::kParameter).total_allocations, 0);
  session.initialize_variables();
  const int64_t expected_bytes = (4 * 3 + 3 + 2 * 2 * 2) * 4;
  EXPECT_EQ(alloc.stats(MemoryKind::kParameter).live_allocations, 3);
  EXPECT_EQ(alloc.stats(MemoryKind::kParameter).total_allocations, 3);
  EXPECT_EQ(alloc.stats(MemoryKind::kParameter).bytes_in_use, expected_bytes);
  const Tensor w_buffer = session.variable_value(w);
  const Tensor b_buffer = session.variable_value(b);
  const Tensor c_buffer = session.variable_value(c);
  EXPECT_EQ(w_buffer.buffer()->kind(), MemoryKind::kParameter);
  EXPECT_THAT(c_buffer.to_vector<float>(), Each(1.0f));

  const Tensor xv = Tensor::from_vector<float>(Shape{5, 4}, std::vector<float>(20, 0.25f));
  float first = 0;
  for (int step = 0; step < 25; ++step) {
    const float value = session.run(loss, {{x, xv}}).to_vector<float>()[0];
    if (step == 0) first = value;
    EXPECT_EQ(value, first);
  }
  EXPECT_EQ(alloc.stats(MemoryKind::kParameter).total_allocations, 3);
  EXPECT_EQ(alloc.stats(MemoryKind::kParameter).live_allocations, 3);
  EXPECT_EQ(alloc.stats(MemoryKind::kParameter).peak_bytes, expected_bytes);

  // Initializing again neither reallocates nor replaces the buffers.
  session.initialize_variables();
  EXPECT_EQ(alloc.stats(MemoryKind::kParameter).total_allocations, 3);
  EXPECT_TRUE(session.variable_value(w).shares_buffer_with(w_buffer));
  EXPECT_TRUE(session.variable_value(b).shares_buffer_with(b_buffer));
  EXPECT_TRUE(session.variable_value(c).shares_buffer_with(c_buffer));

  // Re-initializing a named variable refills its one buffer in place.
  session.assign_variable(c, Tensor::zeros(DType::kFloat32, Shape{2, 2, 2}));
  const std::vector<Variable> to_reset = {c};
  session.initialize_variables(to_reset);
  EXPECT_TRUE(session.variable_value(c).shares_buffer_with(c_buffer));
  EXPECT_THAT(session.variable_value(c).to_vector<float>(), Each(1.0f));
  EXPECT_EQ(alloc.stats(MemoryKind::kParameter).total_allocations, 3);
}

TEST(SessionMemoryTest, FreshSessionsGetTheirOwnBuffersWithTheSameValues) {
  Graph g;
  g.set_seed(3);
  Variable w = get_variable(g, "w", {.shape = Shape{8, 8}, .initializer = init::random_normal()});
  Session s1(g, cpu_options());
  Session s2(g, cpu_options());
  s1.initialize_variables();
  s2.initialize_variables();
  EXPECT_FALSE(s1.variable_value(w).shares_buffer_with(s2.variable_value(w)));
  EXPECT_EQ(s1.variable_value(w).to_vector<float>(), s2.variable_value(w).to_vector<float>());
}

// ---------------------------------------------------------------------------------------------
// assign_variable and fetched copies

TEST(SessionVariableTest, AssignCopiesIntoTheSameBuffer) {
  Graph g;
  Variable w = get_variable(g, "w", {.shape = Shape{2, 2}, .initializer = init::zeros()});
  Output doubled = ops::mul(w, ops::scalar(g, 2.0f));
  Session session(g, cpu_options());
  session.initialize_variables();
  const Tensor before = session.variable_value(w);
  const Tensor value = Tensor::from_vector<float>(Shape{2, 2}, {1, 2, 3, 4});
  session.assign_variable(w, value);
  const Tensor after = session.variable_value(w);
  EXPECT_TRUE(after.shares_buffer_with(before));
  EXPECT_FALSE(after.shares_buffer_with(value));
  EXPECT_THAT(after.to_vector<float>(), ElementsAre(1, 2, 3, 4));
  // The variable holds a copy: later writes to the assigned tensor do not reach it.
  value.data<float>()[0] = 100;
  EXPECT_THAT(session.variable_value(w).to_vector<float>(), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(session.run(doubled).to_vector<float>(), ElementsAre(2, 4, 6, 8));
  EXPECT_EQ(session.allocator().stats(MemoryKind::kParameter).total_allocations, 1);
}

TEST(SessionVariableTest, AssignRejectsWrongShapeOrDtype) {
  Graph g;
  Variable w = get_variable(g, "w", {.shape = Shape{2, 2}, .initializer = init::ones()});
  Session session(g, cpu_options());
  session.initialize_variables();
  for (const Tensor& bad : {Tensor::zeros(DType::kFloat32, Shape{4}),
                            Tensor::zeros(DType::kFloat32, Shape{2, 3}),
                            Tensor::zeros(DType::kInt32, Shape{2, 2}), Tensor()}) {
    test::ThrownError e = error_of([&] { session.assign_variable(w, bad); });
    EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(e.message, StartsWith("[session.assign_variable]"));
    EXPECT_THAT(e.message, HasSubstr("'w'"));
    EXPECT_THAT(e.message, HasSubstr("(2, 2)"));
  }
  EXPECT_THAT(session.variable_value(w).to_vector<float>(), Each(1.0f));
}

TEST(SessionVariableTest, AssignBeforeInitializeAllocatesOnce) {
  Graph g;
  Variable w = get_variable(g, "w", {.shape = Shape{3}});
  Session session(g, cpu_options());
  session.assign_variable(w, Tensor::from_vector<float>(Shape{3}, {7, 8, 9}));
  EXPECT_TRUE(session.is_initialized(w));
  EXPECT_THAT(session.run(w.value()).to_vector<float>(), ElementsAre(7, 8, 9));
  session.initialize_variables();  // already initialized: keeps the assigned value
  EXPECT_THAT(session.variable_value(w).to_vector<float>(), ElementsAre(7, 8, 9));
  EXPECT_EQ(session.allocator().stats(MemoryKind::kParameter).total_allocations, 1);
}

TEST(SessionVariableTest, AssignToAVariableOfAnotherGraphIsRejected) {
  Graph g;
  Graph other;
  Variable w = get_variable(other, "w", {.shape = Shape{3}});
  Session session(g, cpu_options());
  const test::ThrownError e =
      error_of([&] { session.assign_variable(w, Tensor::zeros(DType::kFloat32, Shape{3})); });
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.message, HasSubstr("another graph"));
}

TEST(SessionVariableTest, FetchedVariableValuesAreCopies) {
  Graph g;
  Variable w = get_variable(g, "w", {.shape = Shape{3}, .initializer = init::constant(0.5)});
  Session session(g, cpu_options());
  session.initialize_variables();
  for (Output fetch : {w.value(), w.node()->output(0), ops::identity(w)}) {
    const Tensor fetched = session.run(fetch);
    EXPECT_FALSE(fetched.shares_buffer_with(session.variable_value(w))) << fetch.name();
    EXPECT_THAT(fetched.to_vector<float>(), Each(0.5f));
    fetched.data<float>()[1] = -7;
    EXPECT_THAT(session.variable_value(w).to_vector<float>(), Each(0.5f)) << fetch.name();
  }
  // Constants are handed out as copies too, so the graph's value cannot change.
  Output c = ops::constant(g, Tensor::from_vector<float>(Shape{2}, {1, 2}));
  const Tensor fetched_c = session.run(c);
  fetched_c.data<float>()[0] = 42;
  EXPECT_THAT(session.run(c).to_vector<float>(), ElementsAre(1, 2));
}

// ---------------------------------------------------------------------------------------------
// Devices and targets

TEST(SessionDeviceTest, CudaSessionThrowsInsteadOfAborting) {
  absl::StatusOr<int> devices = cuda_device_count();
  if (devices.ok() && *devices > 0) GTEST_SKIP() << "a CUDA device answers; the GPU tests cover it";
  Graph g;
  const test::ThrownError e =
      error_of([&] { Session session(g, SessionOptions{.device = Device::cuda()}); });
  EXPECT_NE(e.code, absl::StatusCode::kOk);
  EXPECT_THAT(e.message, StartsWith("[session]"));
  EXPECT_THAT(e.message, HasSubstr("GPU"));

  EXPECT_THROW(Session(g, SessionOptions{.device = Device{DeviceType::kCpu, 1}}), Error);
  Session cpu(g, cpu_options());
  EXPECT_EQ(cpu.device(), Device::cpu());
  EXPECT_EQ(&cpu.graph(), &g);
}

TEST(SessionTargetTest, NoOpRunsItsControlInputs) {
  Graph g;
  g.set_seed(11);
  Output r = ops::random_normal(g, Shape{16});
  Node* draw = g.find_node("random_normal/RandomStandardNormal");
  ASSERT_NE(draw, nullptr);
  Node* step = ops::no_op(g, {draw}, "step");
  EXPECT_EQ(step->op(), "NoOp");
  EXPECT_EQ(step->num_outputs(), 0);

  Session reference(g, cpu_options());
  const std::vector<float> first = reference.run(r).to_vector<float>();
  const std::vector<float> second = reference.run(r).to_vector<float>();
  ASSERT_NE(first, second);

  // Running the no_op draws once, so the next fetch sees the second draw.
  Session session(g, cpu_options());
  const std::vector<Tensor> none = session.run({}, {}, {step});
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(session.run(r).to_vector<float>(), second);
}

TEST(SessionTargetTest, NoOpControlInputsAreValidated) {
  Graph g;
  Variable w = get_variable(g, "w", {.shape = Shape{2}});
  Output x = ops::placeholder(g, DType::kFloat32, Shape{2}, "x");
  Node* needs_variable = ops::no_op(g, {ops::add(w, ops::scalar(g, 1.0f)).node});
  Node* needs_feed = ops::no_op(g, {ops::relu(x).node});
  Session session(g, cpu_options());
  test::ThrownError e = error_of([&] { session.run({}, {}, {needs_variable}); });
  EXPECT_EQ(e.code, absl::StatusCode::kFailedPrecondition);
  expect_run_error([&] { session.run({}, {}, {needs_feed}); }, {"placeholder 'x'", "(2,)"});
  session.initialize_variables();
  EXPECT_NO_THROW(session.run({}, {}, {needs_variable}));
  EXPECT_NO_THROW(session.run({{x, Tensor::zeros(DType::kFloat32, Shape{2})}}, {}, {needs_feed}));
}

}  // namespace
}  // namespace scopeflow

// ---------------------------------------------------------------------------------------------
// GEMM epilogue fusion (MatMul -> BiasAdd [-> Relu] as one GEMM)

namespace scopeflow {
namespace {

struct DenseChain {
  Graph graph;
  Output x, weights, bias, product, biased, activated;
  FeedList feeds;
};

std::unique_ptr<DenseChain> dense_chain() {
  auto c = std::make_unique<DenseChain>();
  std::vector<float> xs(6 * 5), ws(5 * 4);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<float>((i * 7) % 11) / 5.0f - 1.0f;
  for (size_t i = 0; i < ws.size(); ++i) ws[i] = static_cast<float>((i * 5) % 9) / 4.0f - 1.0f;
  c->x = ops::placeholder(c->graph, DType::kFloat32, Shape{6, 5}, "x");
  c->weights = ops::constant(c->graph, Tensor::from_vector<float>(Shape{5, 4}, ws));
  c->bias = ops::constant(c->graph, Tensor::from_vector<float>(Shape{4}, {0.5f, -0.25f, 0.0f, -2.0f}));
  c->product = ops::matmul(c->x, c->weights);
  c->biased = ops::bias_add(c->product, c->bias);
  c->activated = ops::relu(c->biased);
  c->feeds = {{c->x, Tensor::from_vector<float>(Shape{6, 5}, xs)}};
  return c;
}

SessionOptions unfused_options() { return SessionOptions{.device = Device::cpu(), .fuse_gemm_epilogues = false}; }

TEST(GemmEpilogueFusionTest, FusedChainComputesWhatTheSeparateOpsDo) {
  auto c = dense_chain();
  Session fused(c->graph, cpu_options());
  Session unfused(c->graph, unfused_options());
  const std::vector<float> expected = unfused.run(c->feeds, {c->activated}).at(0).to_vector<float>();
  EXPECT_EQ(fused.run(c->feeds, {c->activated}).at(0).to_vector<float>(), expected);
  EXPECT_THAT(expected, ::testing::Contains(0.0f)) << "the ReLU must clip something here";
  // Only the chain's result is allocated: no buffers for the product and the biased value.
  fused.allocator().reset_peaks();
  const int64_t before = fused.allocator().stats().total_allocations;
  RunStats stats;
  const Output fetches[] = {c->activated};
  fused.run(c->feeds, fetches, {}, RunOptions{}, &stats);
  EXPECT_EQ(fused.allocator().stats().total_allocations - before, 1);
  EXPECT_EQ(stats.arena_bytes, 0) << "nothing left to place";
  // Unfused: the arena (the product and the biased value, 6x4 floats in a 128-byte block each,
  // both alive while the BiasAdd runs) and the fetched result.
  const int64_t unfused_before = unfused.allocator().stats().total_allocations;
  unfused.run(c->feeds, fetches, {}, RunOptions{}, &stats);
  EXPECT_EQ(unfused.allocator().stats().total_allocations - unfused_before, 2);
  EXPECT_EQ(stats.arena_bytes, 2 * 128);
  EXPECT_EQ(stats.arena_lower_bound_bytes, 2 * 128);
}

TEST(GemmEpilogueFusionTest, FetchedOrSharedIntermediatesAreNotFusedAway) {
  auto c = dense_chain();
  Session fused(c->graph, cpu_options());
  Session unfused(c->graph, unfused_options());
  // The product is fetched: MatMul runs on its own, BiasAdd + Relu still give the same values.
  const std::vector<Output> fetches = {c->product, c->activated, c->biased};
  const std::vector<Tensor> got = fused.run(c->feeds, fetches);
  const std::vector<Tensor> want = unfused.run(c->feeds, fetches);
  for (size_t i = 0; i < fetches.size(); ++i) {
    EXPECT_EQ(got[i].to_vector<float>(), want[i].to_vector<float>()) << fetches[i].name();
  }
  // A second reader of the biased value keeps it: only MatMul + BiasAdd fuse.
  Output doubled = ops::add(c->biased, c->biased);
  const Output both[] = {c->activated, doubled};
  const std::vector<Tensor> got2 = fused.run(c->feeds, both);
  const std::vector<Tensor> want2 = unfused.run(c->feeds, both);
  EXPECT_EQ(got2[0].to_vector<float>(), want2[0].to_vector<float>());
  EXPECT_EQ(got2[1].to_vector<float>(), want2[1].to_vector<float>());
}

TEST(GemmEpilogueFusionTest, TracedRunsStillReportEveryNode) {
  auto c = dense_chain();
  Session fused(c->graph, cpu_options());
  RunStats stats;
  fused.run(c->feeds, std::vector<Output>{c->activated}, {}, RunOptions{.trace = true}, &stats);
  std::vector<std::string> names;
  for (const NodeRunStats& n : stats.nodes) names.push_back(n.node->name());
  EXPECT_THAT(names, ::testing::IsSupersetOf({c->product.node->name(), c->biased.node->name(),
                                              c->activated.node->name()}));
  for (const NodeRunStats& n : stats.nodes) {
    if (n.node == c->product.node || n.node == c->biased.node) {
      EXPECT_EQ(n.duration_nanos, 0) << n.node->name() << " ran inside the fused step";
      EXPECT_EQ(n.allocated_bytes, 0) << n.node->name();
      ASSERT_EQ(n.output_shapes.size(), 1u);
      EXPECT_EQ(n.output_shapes[0], (Shape{6, 4}));
    }
  }
}

// Both CPU GEMM libraries, with each transpose: bias and ReLU epilogues (oneDNN post-ops, or
// a bias-initialised sgemm) equal the unfused ops.
TEST(GemmEpilogueFusionTest, TransposedOperandsAndAddOfABiasVectorFuse) {
  std::vector<std::pair<CpuGemm, std::string>> libraries = {{CpuGemm::kOpenBlas, "sgemm onto the bias, then ReLU"}};
  if (cpu_gemm_onednn_built()) libraries.emplace_back(CpuGemm::kOneDnn, "oneDNN matmul");
  for (const auto& [library, kernel_name] : libraries) {
  for (const bool transpose_a : {false, true}) {
    for (const bool transpose_b : {false, true}) {
      Graph g;
      std::vector<float> as(7 * 5), ws(5 * 3);
      for (size_t i = 0; i < as.size(); ++i) as[i] = static_cast<float>((i * 3) % 13) / 6.0f - 1.0f;
      for (size_t i = 0; i < ws.size(); ++i) ws[i] = static_cast<float>((i * 5) % 7) / 3.0f - 1.0f;
      Output a = ops::constant(g, Tensor::from_vector<float>(transpose_a ? Shape{5, 7} : Shape{7, 5}, as));
      Output w = ops::constant(g, Tensor::from_vector<float>(transpose_b ? Shape{3, 5} : Shape{5, 3}, ws));
      Output b = ops::constant(g, Tensor::from_vector<float>(Shape{3}, {0.25f, -0.5f, 1.0f}));
      // The article's x @ w + b (AddV2), with and without a ReLU after it.
      Output plain = ops::add(ops::matmul(a, w, {.transpose_a = transpose_a, .transpose_b = transpose_b}), b);
      Output rectified = ops::relu(ops::add(ops::matmul(a, w, {.transpose_a = transpose_a, .transpose_b = transpose_b}), b));
      SessionOptions fused_options = cpu_options();
      fused_options.cpu_gemm = library;
      Session fused(g, fused_options);
      Session unfused(g, unfused_options());
      const Output both[] = {plain, rectified};
      const std::vector<Tensor> got = fused.run({}, both);
      const std::vector<Tensor> want = unfused.run({}, both);
      for (int i = 0; i < 2; ++i) {
        const std::vector<float> x = got[static_cast<size_t>(i)].to_vector<float>();
        const std::vector<float> y = want[static_cast<size_t>(i)].to_vector<float>();
        ASSERT_EQ(x.size(), y.size());
        for (size_t e = 0; e < x.size(); ++e) {
          EXPECT_NEAR(x[e], y[e], 1e-6) << transpose_a << transpose_b << " output " << i << "[" << e << "]";
        }
      }
      RunStats stats;
      fused.run({}, std::vector<Output>{rectified}, {}, RunOptions{.trace = true}, &stats);
      ASSERT_FALSE(stats.nodes.empty());
      EXPECT_EQ(stats.nodes.back().node, rectified.node);
      EXPECT_THAT(stats.nodes.back().fused_kernel, ::testing::StartsWith(kernel_name));
      if (library == CpuGemm::kOneDnn) {
        EXPECT_THAT(stats.nodes.back().fused_kernel, HasSubstr("with bias, then ReLU"));
      }
    }
  }
  }
}

TEST(GemmEpilogueFusionTest, AProductReadTwiceIsNotFused) {
  auto c = dense_chain();
  Output second = ops::bias_add(c->product, c->bias);
  Session fused(c->graph, cpu_options());
  Session unfused(c->graph, unfused_options());
  const Output both[] = {c->activated, second};
  const std::vector<Tensor> got = fused.run(c->feeds, both);
  const std::vector<Tensor> want = unfused.run(c->feeds, both);
  EXPECT_EQ(got[0].to_vector<float>(), want[0].to_vector<float>());
  EXPECT_EQ(got[1].to_vector<float>(), want[1].to_vector<float>());
  RunStats stats;
  fused.run(c->feeds, both, {}, RunOptions{.trace = true}, &stats);
  // The MatMul runs as a plain GEMM (traces name its library call), with no epilogue.
  for (const NodeRunStats& n : stats.nodes) {
    EXPECT_THAT(n.fused_kernel, ::testing::Not(::testing::HasSubstr("bias"))) << n.node->name();
    EXPECT_THAT(n.fused_kernel, ::testing::Not(::testing::HasSubstr("ReLU"))) << n.node->name();
  }
}

TEST(GemmEpilogueFusionTest, EmptyInnerDimensionGivesTheBias) {
  Graph g;
  Output x = ops::placeholder(g, DType::kFloat32, Shape{3, 0}, "x");
  Output w = ops::constant(g, Tensor::zeros(DType::kFloat32, Shape{0, 2}));
  Output y = ops::relu(ops::bias_add(ops::matmul(x, w), ops::constant(g, Tensor::from_vector<float>(Shape{2}, {1.5f, -1.0f}))));
  Session fused(g, cpu_options());
  EXPECT_THAT(fused.run({{x, Tensor::zeros(DType::kFloat32, Shape{3, 0})}}, {y}).at(0).to_vector<float>(),
              ElementsAre(1.5f, 0, 1.5f, 0, 1.5f, 0));
}


// ---------------------------------------------------------------------------------------------
// Faults: a failed operation leaves no half-made state.

TEST(SessionFaultTest, FailedInitializationLeavesTheVariableUninitialized) {
  Graph g;
  const Variable w = get_variable(g, "w", {.shape = Shape{256, 256}, .initializer = init::constant(0.5)});
  const Variable b = get_variable(g, "b", {.shape = Shape{256}, .initializer = init::constant(1.0)});
  Output x = ops::placeholder(g, DType::kFloat32, Shape{1, 256}, "x");
  Output loss = ops::reduce_sum(ops::add(ops::matmul(x, w), b));
  train::GradientDescent optimizer(0.1f);
  Node* step = optimizer.minimize(loss);
  Session session(g, cpu_options());
  session.allocator().set_byte_limit(64 * 1024);  // b fits, w (256 KiB) does not
  EXPECT_THAT(error_of([&] { session.initialize_variables(); }),
              test::HasCode(absl::StatusCode::kResourceExhausted));
  EXPECT_FALSE(session.is_initialized(w));
  EXPECT_THAT(error_of([&] { (void)session.variable_value(w); }),
              test::IsError(absl::StatusCode::kFailedPrecondition, HasSubstr("not initialized")));
  EXPECT_THAT(error_of([&] { session.assign_variable(w, Tensor::zeros(DType::kFloat32, Shape{256, 256})); }),
              test::HasCode(absl::StatusCode::kResourceExhausted));
  EXPECT_FALSE(session.is_initialized(w));

  session.allocator().set_byte_limit(0);
  session.initialize_variables();
  ASSERT_TRUE(session.is_initialized(w));
  EXPECT_THAT(session.variable_value(w).to_vector<float>(), Each(0.5f));
  EXPECT_THAT(session.variable_value(b).to_vector<float>(), Each(1.0f));
  const Tensor ones = Tensor::from_vector<float>(Shape{1, 256}, std::vector<float>(256, 1.0f));
  session.run({{x, ones}}, {}, {step});
  EXPECT_THAT(session.variable_value(w).to_vector<float>(), Each(::testing::FloatNear(0.4f, 1e-6f)));
}

TEST(SessionFaultTest, AFailedRunLeavesThePlanAndVariablesUsable) {
  SmallGraph m;
  Session session(m.graph, cpu_options());
  session.allocator().set_byte_limit(8);  // less than one (2, 3) float32 output
  EXPECT_THAT(error_of([&] { session.run(m.y, {{m.x, x_value()}}); }),
              test::HasCode(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(session.allocator().stats().bytes_in_use, 0);
  session.allocator().set_byte_limit(0);
  expect_usable(session, m);
}

// GEMM dimensions above 2^31 - 1 would be truncated by the BLAS integer: refused when the plan
// is made, before any of the huge operands is allocated.
TEST(SessionGemmLimitTest, DimensionsAboveTheBlasIntegerAreRefusedAtPlanTime) {
  constexpr int64_t kTooLong = (int64_t{1} << 32) + 1;
  constexpr int64_t kTooTall = (int64_t{1} << 31) + 1;
  Graph g;
  // Empty operands (a zero dimension beside the huge one) make the test need no memory.
  Output a = ops::placeholder(g, DType::kFloat32, Shape{0, kTooLong}, "a");
  Output b = ops::placeholder(g, DType::kFloat32, Shape{kTooLong, 0}, "b");
  Output c = ops::placeholder(g, DType::kFloat32, Shape{kTooTall, 0}, "c");
  Output d = ops::placeholder(g, DType::kFloat32, Shape{0, 1}, "d");
  Output inner = ops::matmul(a, b);  // (0, 0), k = 2^32 + 1
  Output tall = ops::matmul(c, d);   // (2^31 + 1, 1), k = 0
  Session session(g, cpu_options());
  auto empty = [](const Output& o) { return Tensor(DType::kFloat32, o.shape()); };
  EXPECT_THAT(error_of([&] { session.run({{a, empty(a)}, {b, empty(b)}}, {inner}); }),
              test::IsError(absl::StatusCode::kInvalidArgument,
                            AllOf(StartsWith("[matmul]"), HasSubstr("k = 4294967297"))));
  EXPECT_THAT(error_of([&] { session.run({{c, empty(c)}, {d, empty(d)}}, {tall}); }),
              test::IsError(absl::StatusCode::kInvalidArgument,
                            AllOf(StartsWith("[matmul]"), HasSubstr("m = 2147483649"))));
  EXPECT_EQ(session.allocator().stats().total_allocations, 0) << "refused only after allocating";
}

TEST(SessionForeignVariableTest, VariableOfAnotherGraphIsNamedAsSuch) {
  Graph g1, g2;
  const Variable v = get_variable(g2, "v", {.shape = Shape{2}});
  Session session(g1, cpu_options());
  EXPECT_THAT(error_of([&] { (void)session.variable_value(v); }),
              test::IsError(absl::StatusCode::kInvalidArgument,
                            "[session.variable_value] variable 'v' belongs to another graph than the session's"));
  EXPECT_THAT(error_of([&] { (void)session.is_initialized(v); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("belongs to another graph")));
}


TEST(SessionMemoryLimitTest, ExceedingTheLimitIsAClearError) {
  Graph g;
  Output x = ops::placeholder(g, DType::kFloat32, Shape{256, 256}, "x");
  Output y = ops::matmul(x, x);
  Session session(g, SessionOptions{.device = Device::cpu(), .memory_limit = 64 * 1024});
  EXPECT_EQ(session.memory_limit(), 64 * 1024);
  EXPECT_THAT(error_of([&] { session.run({{x, Tensor::zeros(DType::kFloat32, Shape{256, 256})}}, {y}); }),
              test::IsError(absl::StatusCode::kResourceExhausted,
                            AllOf(HasSubstr("requested 262144 bytes"), HasSubstr("memory limit of 65536 bytes"),
                                  HasSubstr("bytes in use"))));
  EXPECT_THAT(error_of([&] { Session bad(g, SessionOptions{.device = Device::cpu(), .memory_limit = -1}); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("memory_limit is -1")));
  EXPECT_EQ(Session(g, SessionOptions{.device = Device::cpu(), .memory_limit = 0}).memory_limit(), 0);
}

TEST(SessionMemoryLimitTest, DefaultIsAShareOfPhysicalMemory) {
  Graph g;
  Session session(g, cpu_options());
  const int64_t limit = default_memory_limit(Device::cpu());
  EXPECT_GT(limit, 0);
  EXPECT_EQ(session.memory_limit(), limit);
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  EXPECT_LE(limit, static_cast<int64_t>(pages) * ::sysconf(_SC_PAGE_SIZE) / 5 * 4);
}

// ---------------------------------------------------------------------------------------------
// Lifetimes

TEST(SessionLifetimeTest, ASessionWhoseGraphIsGoneThrows) {
  auto graph = std::make_unique<Graph>();
  const Variable v = get_variable(*graph, "v", {.shape = Shape{2}});
  Output y = ops::neg(v);
  Session session(*graph, cpu_options());
  session.initialize_variables();
  ASSERT_EQ(session.run(y).shape(), (Shape{2}));
  graph.reset();
  const auto gone = test::IsError(absl::StatusCode::kFailedPrecondition, HasSubstr("graph was destroyed"));
  EXPECT_THAT(error_of([&] { session.run(y); }), gone);
  EXPECT_THAT(error_of([&] { session.initialize_variables(); }), gone);
  EXPECT_THAT(error_of([&] { (void)session.variable_value(v); }), gone);
  EXPECT_THAT(error_of([&] { (void)session.is_initialized(v); }), gone);
  EXPECT_THAT(error_of([&] { (void)session.graph(); }), gone);
  // The variable handle outlives its graph too: a clear error, not a use-after-free.
  EXPECT_THAT(error_of([&] { (void)v.name(); }), gone);
  EXPECT_THAT(error_of([&] { (void)v.value(); }), gone);
}

TEST(SessionLifetimeTest, FeedsFetchesAndTargetsOfADestroyedGraphThrow) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{2});
  Output y = ops::neg(x);
  Session session(graph, cpu_options());
  Output dead_output;
  Node* dead_node = nullptr;
  {
    Graph other;
    dead_output = ops::placeholder(other, DType::kFloat32, Shape{2});
    dead_node = ops::neg(dead_output).node;
  }
  const Tensor value = Tensor::from_vector<float>(Shape{2}, {1, 2});
  const auto gone = test::IsError(absl::StatusCode::kFailedPrecondition, HasSubstr("graph was destroyed"));
  EXPECT_THAT(error_of([&] { session.run({{dead_output, value}}, {y}); }), gone);
  EXPECT_THAT(error_of([&] { session.run({{x, value}}, {dead_output}); }), gone);
  EXPECT_THAT(error_of([&] { session.run({{x, value}}, {y}, {dead_node}); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("another graph")));
  EXPECT_EQ(session.run({{x, value}}, {y})[0].to_vector<float>(), (std::vector<float>{-1, -2}));
}

}  // namespace
}  // namespace scopeflow
