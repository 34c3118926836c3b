// Variable-scope features beyond TensorFlow's own test cases: guard order, value and function
// initializers, collections, control dependencies around variables, custom getters, threads.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "scopeflow/error.h"
#include "scopeflow/ops.h"
#include "scopeflow/scope.h"
#include "scopeflow/session.h"
#include "test_util.h"

namespace scopeflow {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using test::error_of;
using test::IsError;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

std::vector<std::string> names_of(const std::vector<Variable>& variables) {
  std::vector<std::string> names;
  for (const Variable& v : variables) names.push_back(v.name());
  return names;
}

TEST(VariableScopeGuardOrderTest, LeavingAnOuterScopeFirstIsAnErrorNotACorruptedStack) {
  Graph graph;
  std::optional<VariableScopeGuard> outer;
  std::optional<VariableScopeGuard> inner;
  outer.emplace(graph, "outer");
  inner.emplace(graph, "inner");
  outer.reset();
  EXPECT_THAT(error_of([&] { get_variable(graph, "w", {.shape = Shape{1}}); }),
              IsError(absl::StatusCode::kFailedPrecondition,
                      AllOf(StartsWith("[get_variable]"), HasSubstr("variable_scope 'outer'"),
                            HasSubstr("variable_scope 'outer/inner'"), HasSubstr("out of order"))));
  EXPECT_THAT(error_of([&] { VariableScopeGuard g(graph, "x"); }),
              IsError(absl::StatusCode::kFailedPrecondition, StartsWith("[variable_scope]")));
  EXPECT_TRUE(all_variables(graph).empty());
  inner.reset();
  // Both are gone now, and the thread is back at the root.
  EXPECT_EQ(graph.variable_store().current_scope().name, "");
  EXPECT_EQ(graph.current_name_scope(), "");
  EXPECT_EQ(get_variable(graph, "w", {.shape = Shape{1}}).name(), "w");
}

TEST(ValueInitializerTest, TakesValueShapeAndDtypeFromATensor) {
  Graph graph;
  const Tensor embedding = Tensor::from_vector<float>(Shape{3, 2}, {1, 2, 3, 4, 5, 6});
  Variable from_tensor = get_variable(graph, "embedding", {.initializer = init::value(embedding)});
  Variable from_list = get_variable(graph, "ids", {.initializer = init::value<int64_t>({{1, 2, 3}, {4, 5, 6}})});
  Variable from_vector = get_variable(graph, "bias", {.initializer = init::value(std::vector<float>{0.5f, -0.5f})});
  Variable scalar = variable(graph, "count", {.initializer = init::value<int32_t>(7)});
  Variable flat = variable(graph, "flat", {.initializer = init::value<float>({0.5f, -1.5f})});
  EXPECT_EQ(flat.shape(), (Shape{2}));
  EXPECT_EQ(from_tensor.shape(), (Shape{3, 2}));
  EXPECT_EQ(from_list.dtype(), DType::kInt64);
  EXPECT_EQ(from_list.shape(), (Shape{2, 3}));
  EXPECT_EQ(from_vector.shape(), (Shape{2}));
  EXPECT_EQ(scalar.shape(), Shape{});
  // The initializer holds its own copy: changing the caller's tensor later changes nothing.
  embedding.data<float>()[0] = 100;
  Session session(graph);
  session.initialize_variables();
  EXPECT_THAT(session.variable_value(from_tensor).to_vector<float>(), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_THAT(session.variable_value(from_list).to_vector<int64_t>(), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_THAT(session.variable_value(from_vector).to_vector<float>(), ElementsAre(0.5f, -0.5f));
  EXPECT_THAT(session.variable_value(scalar).to_vector<int32_t>(), ElementsAre(7));
}

TEST(ValueInitializerTest, ConflictsAndBadValuesAreClearErrors) {
  Graph graph;
  const Initializer values = init::value(Tensor::from_vector<float>(Shape{2}, {1, 2}));
  EXPECT_THAT(error_of([&] { get_variable(graph, "a", {.shape = Shape{3}, .initializer = values}); }),
              IsError(kInvalid, AllOf(StartsWith("[get_variable]"), HasSubstr("do not specify shape"),
                                      HasSubstr("(2,)"), HasSubstr("(3,)"))));
  EXPECT_THAT(error_of([&] { get_variable(graph, "b", {.dtype = DType::kInt32, .initializer = values}); }),
              IsError(kInvalid, AllOf(HasSubstr("Initializer type 'float32'"),
                                      HasSubstr("explicit dtype 'int32' don't match"))));
  EXPECT_THAT(error_of([] { init::value<float>({{1, 2}, {3}}); }),
              IsError(kInvalid, AllOf(StartsWith("[initializer]"), HasSubstr("ragged"))));
  EXPECT_THAT(error_of([] { init::value<float>({{1, 2}, 3}); }), IsError(kInvalid, HasSubstr("ragged")));
  EXPECT_THAT(error_of([] { init::value(Tensor()); }), IsError(kInvalid, HasSubstr("empty")));
  // Same shape is accepted (TensorFlow refuses any shape with a constant; see the README).
  EXPECT_EQ(get_variable(graph, "c", {.shape = Shape{2}, .initializer = values}).shape(), (Shape{2}));
  EXPECT_EQ(all_variables(graph).size(), 1u);
}

TEST(FunctionInitializerTest, CalledOnceWithShapeAndDtype) {
  Graph graph;
  int calls = 0;
  const Initializer counting = init::from_function([&](const Shape& shape, DType dtype) {
    ++calls;
    EXPECT_EQ(dtype, DType::kFloat32);
    std::vector<float> v(static_cast<size_t>(shape.num_elements()));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
    return Tensor::from_vector<float>(shape, v);
  });
  Variable w = get_variable(graph, "w", {.shape = Shape{2, 2}, .initializer = counting});
  EXPECT_EQ(calls, 1);
  Session session(graph);
  session.initialize_variables();
  EXPECT_THAT(session.variable_value(w).to_vector<float>(), ElementsAre(0, 1, 2, 3));
  // Without a shape there is nothing to call it with, as TensorFlow says for such callables.
  EXPECT_THAT(error_of([&] { get_variable(graph, "v", {.initializer = counting}); }),
              IsError(kInvalid, HasSubstr("shape must be given")));
  // A function returning the wrong shape is caught.
  const Initializer wrong = init::from_function([](const Shape&, DType) { return Tensor::zeros(DType::kFloat32, Shape{5}); });
  EXPECT_THAT(error_of([&] { get_variable(graph, "u", {.shape = Shape{2}, .initializer = wrong}); }),
              IsError(kInvalid, AllOf(HasSubstr("returned float32 (5,)"), HasSubstr("(2,)"))));
  EXPECT_EQ(all_variables(graph).size(), 1u);
}

TEST(PartitionerTest, IsAClearUnimplementedError) {
  Graph graph;
  const Partitioner halves = [](const Shape& shape, DType) { return std::vector<int64_t>(static_cast<size_t>(shape.rank()), 2); };
  EXPECT_THAT(error_of([&] { get_variable(graph, "w", {.shape = Shape{4}, .partitioner = halves}); }),
              IsError(absl::StatusCode::kUnimplemented, AllOf(StartsWith("[get_variable]"), HasSubstr("partition"))));
  EXPECT_THAT(error_of([&] { VariableScopeGuard g(graph, "s", {.partitioner = halves}); }),
              IsError(absl::StatusCode::kUnimplemented, StartsWith("[variable_scope]")));
  EXPECT_THAT(error_of([&] { get_variable_scope(graph).set_partitioner(halves); }),
              IsError(absl::StatusCode::kUnimplemented, HasSubstr("partition")));
  EXPECT_EQ(graph.current_name_scope(), "");
  EXPECT_TRUE(all_variables(graph).empty());
}

TEST(CollectionsTest, StandardAndUserCollections) {
  Graph graph;
  Variable w = get_variable(graph, "w", {.shape = Shape{1}});
  get_variable(graph, "frozen", {.shape = Shape{1}, .trainable = false});
  get_variable(graph, "mine", {.shape = Shape{1}, .collections = std::vector<std::string>{"mine"}});
  Variable local = get_local_variable(graph, "local", {.shape = Shape{1}});
  get_variable(graph, "model", {.shape = Shape{1},
      .collections = std::vector<std::string>{"variables", std::string(collection_keys::kModelVariables)}});
  EXPECT_THAT(names_of(global_variables(graph)), ElementsAre("w", "frozen", "model"));
  EXPECT_THAT(names_of(trainable_variables(graph)), ElementsAre("w", "mine", "model"));
  EXPECT_THAT(names_of(local_variables(graph)), ElementsAre("local"));
  EXPECT_THAT(names_of(model_variables(graph)), ElementsAre("model"));
  EXPECT_THAT(names_of(get_collection_variables(graph, "mine")), ElementsAre("mine"));
  EXPECT_FALSE(local.info().trainable);
  Output loss = ops::scalar(graph, 1.0f, "loss");
  Node* op = ops::no_op(graph, {}, "train_op");
  add_to_collection(graph, "losses", loss);
  add_to_collection(graph, collection_keys::kUpdateOps, op);
  EXPECT_EQ(collection_item_name(get_collection(graph, "losses").at(0)), "loss:0");
  EXPECT_EQ(std::get<Node*>(get_collection(graph, collection_keys::kUpdateOps).at(0)), op);
  EXPECT_THAT(collection_keys_of(graph), ElementsAre("local_variables", "losses", "mine", "model_variables",
                                                     "trainable_variables", "update_ops", "variables"));
  // Reusing a variable adds nothing to any collection.
  {
    VariableScopeGuard reuse = variable_scope(graph, get_variable_scope(graph), {.reuse = Reuse::kReuse});
    get_variable(graph, "w", {.shape = Shape{1}});
  }
  EXPECT_EQ(global_variables(graph).size(), 3u);
  Graph other;
  EXPECT_THAT(error_of([&] { add_to_collection(other, "x", w); }), IsError(kInvalid, HasSubstr("another graph")));
  EXPECT_THAT(error_of([&] { add_to_collection(graph, "", w); }), IsError(kInvalid, HasSubstr("key")));
  // A bad collection key in get_variable leaves no half-made variable behind.
  EXPECT_THAT(error_of([&] { get_variable(graph, "keyless", {.shape = Shape{1}, .collections = std::vector<std::string>{""}}); }),
              IsError(kInvalid, HasSubstr("collection key is empty")));
  EXPECT_EQ(graph.variable_store().find("keyless"), nullptr);
  EXPECT_EQ(get_variable(graph, "keyless", {.shape = Shape{1}}).name(), "keyless");
}

TEST(ControlDependenciesTest, VariablesIgnoreThemAsTensorFlowsInitializersDo) {
  Graph graph;
  Node* first = ops::no_op(graph, {}, "first");
  Variable v;
  Output use;
  {
    auto deps = graph.control_dependencies({first});
    v = get_variable(graph, "v", {.shape = Shape{2}, .initializer = init::ones()});
    use = ops::neg(v);
  }
  EXPECT_THAT(v.node()->control_inputs(), IsEmpty());
  EXPECT_THAT(v.info().read->control_inputs(), IsEmpty());
  EXPECT_THAT(use.node->control_inputs(), ElementsAre(first));
}

TEST(CustomGetterTest, CountingGetterSeesEveryCallAndTheResolvedReuse) {
  Graph graph;
  int calls = 0;
  std::vector<Reuse> seen;
  const CustomGetter counting = [&](const VariableGetter& getter, std::string_view name, const VariableOptions& options) {
    ++calls;
    seen.push_back(options.reuse.value_or(Reuse::kNone));
    return getter(name, options);
  };
  Variable a;
  {
    VariableScopeGuard s = variable_scope(graph, "s", {.custom_getter = counting});
    a = get_variable(graph, "a", {.shape = Shape{1}});
    get_variable_scope(graph).reuse_variables();
    EXPECT_EQ(get_variable(graph, "a"), a);
  }
  EXPECT_EQ(calls, 2);
  EXPECT_THAT(seen, ElementsAre(Reuse::kNone, Reuse::kReuse));
  // The getter's ops land at the root name scope, where TensorFlow runs getters.
  const CustomGetter doubling = [](const VariableGetter& getter, std::string_view name, const VariableOptions& options) {
    Variable v = getter(name, options);
    return v.with_value(ops::mul(v, ops::scalar(*v.node()->graph(), 2.0f), "doubled"));
  };
  NameScope ns = graph.name_scope("ops_here");
  VariableScopeGuard d = variable_scope(graph, "d", {.custom_getter = doubling});
  Variable doubled = get_variable(graph, "x", {.shape = Shape{1}, .initializer = init::constant(3)});
  EXPECT_EQ(doubled.value().node->name(), "doubled");
  EXPECT_EQ(doubled.name(), "d/x");
  Session session(graph);
  session.initialize_variables();
  EXPECT_THAT(session.run(doubled.value()).to_vector<float>(), ElementsAre(6.0f));
}

TEST(CustomGetterTest, CastingGetterKeepsFloat32VariablesAndUsesThemAsBfloat16) {
  // The mixed-precision pattern: variables stored in float32, read through a bfloat16 Cast.
  Graph graph;
  const CustomGetter bfloat16_use = [](const VariableGetter& getter, std::string_view name, const VariableOptions& options) {
    VariableOptions stored = options;
    stored.dtype = DType::kFloat32;
    Variable v = getter(name, stored);
    return v.with_value(ops::cast(v, DType::kBFloat16));
  };
  VariableScopeGuard scope = variable_scope(graph, "mixed", {.custom_getter = bfloat16_use});
  Variable w = get_variable(graph, "w", {.initializer = init::value(std::vector<float>{1.0f, 1.00390625f, 3.14159f})});
  EXPECT_EQ(w.dtype(), DType::kFloat32);
  EXPECT_EQ(w.value().dtype(), DType::kBFloat16);
  EXPECT_EQ(w.value().node->op(), "Cast");
  Session session(graph);
  session.initialize_variables();
  const Tensor used = session.run(w.value());
  ASSERT_EQ(used.dtype(), DType::kBFloat16);
  std::vector<float> as_float;
  for (BFloat16 b : used.to_vector<BFloat16>()) as_float.push_back(static_cast<float>(b));
  // Round to nearest even on 8 mantissa bits: 1.00390625 is a tie that goes to 1.
  EXPECT_THAT(as_float, ElementsAre(1.0f, 1.0f, 3.140625f));
  EXPECT_THAT(session.variable_value(w).to_vector<float>(), ElementsAre(1.0f, 1.00390625f, 3.14159f));
  // Reuse through the getter finds the same float32 variable; the store has one.
  get_variable_scope(graph).reuse_variables();
  EXPECT_EQ(get_variable(graph, "w"), w);
  EXPECT_EQ(all_variables(graph).size(), 1u);
}

TEST(CustomGetterTest, GettersChainInnerFirstAndAnArgumentReplacesTheScopes) {
  Graph graph;
  std::vector<std::string> order;
  auto tagging = [&](std::string tag) -> CustomGetter {
    return [&order, tag](const VariableGetter& getter, std::string_view name, const VariableOptions& options) {
      order.push_back(tag);
      return getter(name, options);
    };
  };
  {
    VariableScopeGuard outer = variable_scope(graph, "outer", {.custom_getter = tagging("outer")});
    VariableScopeGuard inner = variable_scope(graph, "inner", {.custom_getter = tagging("inner")});
    get_variable(graph, "v", {.shape = Shape{1}});
    EXPECT_THAT(order, ElementsAre("inner", "outer"));
    order.clear();
    get_variable(graph, "u", {.shape = Shape{1}, .custom_getter = tagging("argument")});
    EXPECT_THAT(order, ElementsAre("argument"));
  }
  const CustomGetter invalid = [](const VariableGetter&, std::string_view, const VariableOptions&) { return Variable(); };
  VariableScopeGuard bad = variable_scope(graph, "bad", {.custom_getter = invalid});
  EXPECT_THAT(error_of([&] { get_variable(graph, "w", {.shape = Shape{1}}); }),
              IsError(kInvalid, HasSubstr("returned an invalid variable")));
}

TEST(ScopeHandleTest, ChangesApplyToTheScopeUntilItIsLeftAndNeverToItsParent) {
  Graph graph;
  VariableScope saved;
  {
    VariableScopeGuard s = variable_scope(graph, "s");
    VariableScopeHandle current = get_variable_scope(graph);
    current.set_initializer(init::constant(0.25));
    current.set_dtype(DType::kInt32);
    EXPECT_EQ(get_variable(graph, "n", {.shape = Shape{1}, .initializer = init::zeros()}).dtype(), DType::kInt32);
    current.set_dtype(DType::kFloat32);
    Variable w = get_variable(graph, "w", {.shape = Shape{1}});
    EXPECT_EQ(w.info().initializer.kind, InitializerKind::kConstant);
    current.reuse_variables();
    EXPECT_EQ(s.scope().reuse, Reuse::kReuse);
    EXPECT_EQ(get_variable(graph, "w"), w);
    saved = s.scope();
  }
  const VariableScopeHandle root = get_variable_scope(graph);
  EXPECT_EQ(root.reuse(), Reuse::kNone);
  EXPECT_FALSE(root.scope().initializer.has_value());
  EXPECT_FALSE(root.scope().dtype.has_value());
  // The saved object keeps its settings for entry by object.
  VariableScopeGuard again = variable_scope(graph, saved);
  EXPECT_EQ(again.scope().reuse, Reuse::kReuse);
}

TEST(VariableStoreThreadsTest, ThreadsShareTheStoreButNotTheScopes) {
  Graph graph;
  constexpr int kThreads = 4;
  std::atomic<int> created{0};
  std::atomic<int> already_existed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread starts at its own root, whatever the others have entered.
      EXPECT_EQ(get_variable_scope(graph).name(), "");
      VariableScopeGuard shared = variable_scope(graph, "shared", {.reuse = Reuse::kAutoReuse});
      for (int i = 0; i < 50; ++i) get_variable(graph, absl::StrCat("w", i), {.shape = Shape{2}});
      {
        VariableScopeGuard own = variable_scope(graph, "", {.default_name = "tower"});
        get_variable(graph, "v", {.shape = Shape{1}});
      }
      // Without reuse, exactly one thread creates "plain/p" and the others are told it exists.
      try {
        VariableScopeGuard root = variable_scope(graph, VariableScope{});
        VariableScopeGuard plain = variable_scope(graph, "plain");
        get_variable(graph, "p", {.shape = Shape{1}});
        ++created;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), absl::StatusCode::kAlreadyExists);
        ++already_existed;
      }
      EXPECT_EQ(get_variable_scope(graph).name(), "shared");
      (void)t;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(already_existed.load(), kThreads - 1);
  // 50 shared variables, one "plain/p", and per thread "shared/tower/v": the default name is
  // counted per thread, so all threads asked for the same one under auto-reuse.
  EXPECT_EQ(global_variables(graph, "shared/w").size(), 50u);
  EXPECT_THAT(names_of(global_variables(graph, "shared/tower")), ElementsAre("shared/tower/v"));
  EXPECT_EQ(global_variables(graph).size(), 52u);
}

}  // namespace
}  // namespace scopeflow
