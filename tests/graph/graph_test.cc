#include "scopeflow/graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "scopeflow/error.h"
#include "scopeflow/gradients.h"
#include "scopeflow/losses.h"
#include "scopeflow/ops.h"
#include "test_util.h"

namespace scopeflow {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;
using test::error_of;
using test::IsError;

// A (2, 2) float32 placeholder: a cheap input for ops whose names are under test.
Output input(Graph& graph, std::string_view name = "") {
  return ops::placeholder(graph, DType::kFloat32, Shape{2, 2}, name);
}

TEST(GraphNamesTest, DefaultNodeNamesUniquify) {
  Graph graph;
  Output x = input(graph);
  EXPECT_EQ(x.node->name(), "Placeholder");
  Output m0 = ops::matmul(x, x);
  Output m1 = ops::matmul(x, x);
  Output m2 = ops::matmul(x, x);
  EXPECT_EQ(m0.node->name(), "MatMul");
  EXPECT_EQ(m1.node->name(), "MatMul_1");
  EXPECT_EQ(m2.node->name(), "MatMul_2");
  EXPECT_EQ(m0.node->op(), "MatMul");
  EXPECT_EQ((x + x).node->name(), "add");
  EXPECT_EQ((x + x).node->name(), "add_1");
}

TEST(GraphNamesTest, ExplicitNodeNamesUniquify) {
  Graph graph;
  Output x = input(graph);
  EXPECT_EQ(ops::identity(x, "y").node->name(), "y");
  EXPECT_EQ(ops::identity(x, "y").node->name(), "y_1");
  EXPECT_EQ(ops::identity(x, "y").node->name(), "y_2");
  EXPECT_EQ(graph.find_node("y_1"), graph.nodes()[2].get());
  EXPECT_EQ(graph.find_node("y_3"), nullptr);
}

TEST(GraphNamesTest, UniquificationIsCaseInsensitive) {
  // TensorFlow keys names_in_use by the lower-cased name: after "Foo", "foo" is taken.
  Graph graph;
  EXPECT_EQ(graph.unique_name("Foo"), "Foo");
  EXPECT_EQ(graph.unique_name("foo"), "foo_1");
  EXPECT_EQ(graph.unique_name("FOO"), "FOO_2");

  Graph nodes;
  Output x = input(nodes);
  EXPECT_EQ(ops::identity(x, "Bar").node->name(), "Bar");
  EXPECT_EQ(ops::identity(x, "bar").node->name(), "bar_1");
}

TEST(GraphNamesTest, ExplicitSuffixIsSkippedByLaterUniquification) {
  // The TensorFlow corner case: "a", then "a_1" taken explicitly, then "a" again -> "a_2".
  Graph graph;
  EXPECT_EQ(graph.unique_name("a"), "a");
  EXPECT_EQ(graph.unique_name("a_1"), "a_1");
  EXPECT_EQ(graph.unique_name("a"), "a_2");
  EXPECT_EQ(graph.unique_name("a"), "a_3");
  EXPECT_EQ(graph.unique_name("a_1"), "a_1_1");

  Graph nodes;
  Output x = input(nodes);
  EXPECT_EQ(ops::identity(x, "a").node->name(), "a");
  EXPECT_EQ(ops::identity(x, "a_1").node->name(), "a_1");
  EXPECT_EQ(ops::identity(x, "a").node->name(), "a_2");
}

TEST(GraphNamesTest, UniqueNameWithoutMarkingLeavesTheNameFree) {
  Graph graph;
  EXPECT_EQ(graph.unique_name("b", /*mark_as_used=*/false), "b");
  EXPECT_EQ(graph.unique_name("b", /*mark_as_used=*/false), "b");
  EXPECT_EQ(graph.unique_name("b"), "b");
  EXPECT_EQ(graph.unique_name("b", /*mark_as_used=*/false), "b_1");
  EXPECT_EQ(graph.unique_name("b"), "b_1");
}

TEST(NameScopeTest, OpsAreNamedInTheCurrentScope) {
  Graph graph;
  Output x = input(graph);
  {
    NameScope scope = graph.name_scope("layer1");
    EXPECT_EQ(scope.name(), "layer1/");
    EXPECT_EQ(graph.current_name_scope(), "layer1/");
    EXPECT_EQ(ops::matmul(x, x).node->name(), "layer1/MatMul");
    EXPECT_EQ(ops::matmul(x, x).node->name(), "layer1/MatMul_1");
    EXPECT_EQ(ops::identity(x, "out").node->name(), "layer1/out");
  }
  EXPECT_EQ(graph.current_name_scope(), "");
  EXPECT_EQ(ops::matmul(x, x).node->name(), "MatMul");
}

TEST(NameScopeTest, ScopesUniquify) {
  Graph graph;
  Output x = input(graph);
  std::string first;
  std::string second;
  std::string third;
  {
    NameScope scope = graph.name_scope("layer1");
    first = ops::matmul(x, x).node->name();
  }
  {
    NameScope scope = graph.name_scope("layer1");
    EXPECT_EQ(scope.name(), "layer1_1/");
    second = ops::matmul(x, x).node->name();
  }
  {
    NameScope scope = graph.name_scope("Layer1");  // case-insensitive, as for node names
    EXPECT_EQ(scope.name(), "Layer1_2/");
    third = ops::matmul(x, x).node->name();
  }
  EXPECT_EQ(first, "layer1/MatMul");
  EXPECT_EQ(second, "layer1_1/MatMul");
  EXPECT_EQ(third, "Layer1_2/MatMul");
}

TEST(NameScopeTest, ScopeNameCollidesWithNodeName) {
  // A node "layer" takes the name, so a scope "layer" becomes "layer_1/" (as in TensorFlow).
  Graph graph;
  Output x = input(graph);
  ops::identity(x, "layer");
  NameScope scope = graph.name_scope("layer");
  EXPECT_EQ(scope.name(), "layer_1/");
}

TEST(NameScopeTest, NestedScopes) {
  Graph graph;
  Output x = input(graph);
  {
    NameScope outer = graph.name_scope("outer");
    {
      NameScope inner = graph.name_scope("inner");
      EXPECT_EQ(inner.name(), "outer/inner/");
      EXPECT_EQ(ops::matmul(x, x).node->name(), "outer/inner/MatMul");
    }
    {
      NameScope inner = graph.name_scope("inner");
      EXPECT_EQ(inner.name(), "outer/inner_1/");
    }
    EXPECT_EQ(graph.current_name_scope(), "outer/");
    EXPECT_EQ(ops::matmul(x, x).node->name(), "outer/MatMul");
  }
  {
    // A fresh outer scope has its own, unused "inner".
    NameScope outer = graph.name_scope("outer");
    NameScope inner = graph.name_scope("inner");
    EXPECT_EQ(inner.name(), "outer_1/inner/");
    EXPECT_EQ(ops::matmul(x, x).node->name(), "outer_1/inner/MatMul");
  }
}

TEST(NameScopeTest, TrailingSlashReentersTheExactScope) {
  Graph graph;
  Output x = input(graph);
  {
    NameScope scope = graph.name_scope("layer1");
    ops::matmul(x, x);
  }
  {
    NameScope scope = graph.name_scope("layer1/");
    EXPECT_EQ(scope.name(), "layer1/");
    EXPECT_EQ(ops::matmul(x, x).node->name(), "layer1/MatMul_1");
  }
  {
    // Absolute: entered from inside another scope it is still "layer1/".
    NameScope other = graph.name_scope("other");
    NameScope scope = graph.name_scope("layer1/");
    EXPECT_EQ(scope.name(), "layer1/");
    EXPECT_EQ(ops::matmul(x, x).node->name(), "layer1/MatMul_2");
  }
  // Re-entering by exact name does not consume a uniquified name.
  NameScope again = graph.name_scope("layer1");
  EXPECT_EQ(again.name(), "layer1_1/");
}

TEST(NameScopeTest, EmptyNameIsTheRootScope) {
  Graph graph;
  Output x = input(graph);
  NameScope outer = graph.name_scope("outer");
  {
    NameScope root = graph.name_scope("");
    EXPECT_EQ(root.name(), "");
    EXPECT_EQ(graph.current_name_scope(), "");
    EXPECT_EQ(ops::matmul(x, x).node->name(), "MatMul");
  }
  EXPECT_EQ(graph.current_name_scope(), "outer/");
  EXPECT_EQ(ops::matmul(x, x).node->name(), "outer/MatMul");
}

TEST(NameScopeTest, GuardRestoresThePreviousScope) {
  Graph graph;
  EXPECT_EQ(graph.current_name_scope(), "");
  {
    NameScope a = graph.name_scope("a");
    {
      NameScope b = graph.name_scope("b");
      {
        NameScope c = graph.name_scope("c/");
        EXPECT_EQ(graph.current_name_scope(), "c/");
      }
      EXPECT_EQ(graph.current_name_scope(), "a/b/");
    }
    EXPECT_EQ(graph.current_name_scope(), "a/");
  }
  EXPECT_EQ(graph.current_name_scope(), "");
}

TEST(GraphTest, NodesRecordInputsConsumersAndShapes) {
  Graph graph;
  Output a = ops::placeholder(graph, DType::kFloat32, Shape{4, 3}, "a");
  Output b = ops::placeholder(graph, DType::kFloat32, Shape{3, 5}, "b");
  Output m = ops::matmul(a, b);
  Output s = m + m;
  EXPECT_EQ(graph.num_nodes(), 4);
  EXPECT_EQ(m.shape(), (Shape{4, 5}));
  EXPECT_EQ(m.dtype(), DType::kFloat32);
  EXPECT_EQ(m.graph(), &graph);
  ASSERT_EQ(m.node->num_inputs(), 2);
  EXPECT_EQ(m.node->input(0), a);
  EXPECT_EQ(m.node->input(1), b);
  EXPECT_THAT(a.node->consumers(), ElementsAre(std::pair<Node*, int>(m.node, 0)));
  EXPECT_THAT(m.node->consumers(),
              ElementsAre(std::pair<Node*, int>(s.node, 0), std::pair<Node*, int>(s.node, 1)));
  EXPECT_EQ(graph.find_node("MatMul"), m.node);
  EXPECT_EQ(m.name(), "MatMul");
  EXPECT_EQ((Output{m.node, 1}).name(), "MatMul:1");
  EXPECT_EQ(m.node->attr<bool>("transpose_a"), false);
}

TEST(GraphTest, UnknownOpIsNotFound) {
  Graph graph;
  EXPECT_THAT(error_of([&] { graph.add_node({.op = "NoSuchOp"}); }),
              IsError(absl::StatusCode::kNotFound,
                      AllOf(StartsWith("[graph]"), HasSubstr("unknown op 'NoSuchOp'"))));
  EXPECT_EQ(graph.num_nodes(), 0);
}

TEST(GraphTest, ExactNameMustBeUnused) {
  Graph graph;
  Output x = input(graph, "x");
  auto add_exact = [&](std::string name) {
    graph.add_node({.op = "Identity",
                    .name = std::move(name),
                    .inputs = {x},
                    .attrs = {{"T", DType::kFloat32}},
                    .exact_name = true});
  };
  EXPECT_THAT(error_of([&] { add_exact("x"); }),
              IsError(absl::StatusCode::kInvalidArgument,
                      AllOf(StartsWith("[identity]"), HasSubstr("'x'"), HasSubstr("already used"))));
  add_exact("scope/exact");
  EXPECT_NE(graph.find_node("scope/exact"), nullptr);
  // An exact name is reserved for later uniquification.
  EXPECT_EQ(graph.unique_name("scope/exact"), "scope/exact_1");
}

TEST(GraphTest, WrongInputCountIsRejected) {
  Graph graph;
  Output x = input(graph);
  EXPECT_THAT(error_of([&] {
                graph.add_node({.op = "MatMul", .inputs = {x}});
              }),
              IsError(absl::StatusCode::kInvalidArgument,
                      AllOf(StartsWith("[matmul]"), HasSubstr("takes 2 inputs, got 1"))));
}

TEST(GraphTest, InputFromAnotherGraphIsRejected) {
  Graph graph;
  Graph other;
  Output x = input(graph);
  Output y = input(other);
  EXPECT_THAT(error_of([&] { ops::matmul(x, y); }),
              IsError(absl::StatusCode::kInvalidArgument,
                      AllOf(StartsWith("[matmul]"), HasSubstr("another graph"))));
}

TEST(GraphTest, OutputAndAttrAccessErrors) {
  Graph graph;
  Output x = input(graph);
  EXPECT_THAT(error_of([&] { x.node->output(3); }),
              IsError(absl::StatusCode::kInvalidArgument,
                      AllOf(StartsWith("[graph]"), HasSubstr("'Placeholder'"),
                            HasSubstr("output 3 does not exist"))));
  EXPECT_THAT(error_of([&] { x.node->attr<bool>("no_such_attr"); }),
              IsError(absl::StatusCode::kInvalidArgument,
                      AllOf(HasSubstr("'no_such_attr'"), HasSubstr("is missing"))));
  EXPECT_THAT(error_of([&] { x.node->attr<bool>("dtype"); }),
              IsError(absl::StatusCode::kInvalidArgument, HasSubstr("has another kind")));
  EXPECT_EQ(x.node->attr<DType>("dtype"), DType::kFloat32);
}

constexpr absl::StatusCode kFailedPrecondition = absl::StatusCode::kFailedPrecondition;

TEST(NameRulesTest, TensorFlowsNodeAndScopeNameRules) {
  EXPECT_TRUE(is_valid_node_name("a"));
  EXPECT_TRUE(is_valid_node_name(".a-b_c/d>e\\f"));
  EXPECT_TRUE(is_valid_node_name("0"));
  EXPECT_FALSE(is_valid_node_name(""));
  EXPECT_FALSE(is_valid_node_name("_a"));
  EXPECT_FALSE(is_valid_node_name("-a"));
  EXPECT_FALSE(is_valid_node_name("/a"));
  EXPECT_FALSE(is_valid_node_name("a b"));
  EXPECT_FALSE(is_valid_node_name("a:0"));
  EXPECT_TRUE(is_valid_nested_scope_name("_a"));
  EXPECT_TRUE(is_valid_nested_scope_name(""));
  EXPECT_FALSE(is_valid_nested_scope_name("a*"));
}

TEST(NameRulesTest, BadScopeAndNodeNamesAreClearErrors) {
  Graph graph;
  EXPECT_THAT(error_of([&] { NameScope s = graph.name_scope("_x"); }),
              IsError(absl::StatusCode::kInvalidArgument,
                      AllOf(HasSubstr("[name_scope]"), HasSubstr("'_x' is not a valid scope name"))));
  EXPECT_THAT(error_of([&] { NameScope s = graph.name_scope("a b"); }),
              IsError(absl::StatusCode::kInvalidArgument, HasSubstr("not a valid scope name")));
  {
    // Below the root a leading '_' is fine, as in TensorFlow.
    NameScope outer = graph.name_scope("outer");
    NameScope inner = graph.name_scope("_inner");
    EXPECT_EQ(inner.name(), "outer/_inner/");
  }
  EXPECT_THAT(error_of([&] { input(graph, "bad name"); }),
              IsError(absl::StatusCode::kInvalidArgument,
                      AllOf(HasSubstr("[placeholder]"), HasSubstr("'bad name' is not a valid node name"))));
  EXPECT_THAT(error_of([&] { input(graph, "_x"); }),
              IsError(absl::StatusCode::kInvalidArgument, HasSubstr("not a valid node name")));
  // TensorFlow refuses "bad name:1" (a tensor name, not a node name); names with control bytes
  // come back escaped.
  EXPECT_THAT(error_of([&] { input(graph, "bad name:1"); }),
              IsError(absl::StatusCode::kInvalidArgument, HasSubstr("'bad name:1' is not a valid node name")));
  EXPECT_THAT(error_of([&] { input(graph, std::string("x\x1b[2J\0y", 7)); }),
              IsError(absl::StatusCode::kInvalidArgument, HasSubstr("'x\\x1b[2J\\x00y' is not a valid node name")));
  EXPECT_THAT(error_of([&] { NameScope s = graph.name_scope("\xff"); }),
              IsError(absl::StatusCode::kInvalidArgument, HasSubstr("'\\xff' is not a valid scope name")));
  EXPECT_EQ(graph.num_nodes(), 0);
  EXPECT_EQ(graph.current_name_scope(), "");
}

TEST(GuardOrderTest, NameScopesLeftOutOfOrderAreAnErrorUntilUnwound) {
  Graph graph;
  auto outer = std::make_unique<NameScope>(graph, "outer");
  {
    NameScope inner = graph.name_scope("inner");
    outer.reset();  // left while "inner", entered after it, is still open
    EXPECT_THAT(error_of([&] { input(graph); }),
                IsError(kFailedPrecondition,
                        AllOf(HasSubstr("out of order"), HasSubstr("name_scope 'outer/'"),
                              HasSubstr("name_scope 'outer/inner/'"))));
    EXPECT_THAT(error_of([&] { NameScope s = graph.name_scope("more"); }), IsError(kFailedPrecondition, HasSubstr("out of order")));
    EXPECT_THAT(error_of([&] { auto d = graph.control_dependencies(std::vector<Node*>{}); }),
                IsError(kFailedPrecondition, HasSubstr("out of order")));
    EXPECT_EQ(graph.num_nodes(), 0);
  }
  // Leaving "inner" unwinds "outer" too: the state is whole again.
  EXPECT_EQ(graph.current_name_scope(), "");
  EXPECT_EQ(input(graph).node->name(), "Placeholder");
}

TEST(GuardOrderTest, OptionalGuardsInReverseOrderAreFine) {
  Graph graph;
  std::optional<NameScope> a;
  std::optional<NameScope> b;
  a.emplace(graph, "a");
  b.emplace(graph, "b");
  EXPECT_EQ(graph.current_name_scope(), "a/b/");
  b.reset();
  EXPECT_EQ(graph.current_name_scope(), "a/");
  a.reset();
  EXPECT_EQ(graph.current_name_scope(), "");
}

TEST(GuardOrderTest, AGuardLeftOnAnotherThreadBreaksItsOwnThread) {
  Graph graph;
  auto scope = std::make_unique<NameScope>(graph, "mine");
  std::thread([&] { scope.reset(); }).join();
  EXPECT_THAT(error_of([&] { input(graph); }),
              IsError(kFailedPrecondition, HasSubstr("another thread")));
  // Said once; the scope it left is gone and the thread builds at the root again.
  EXPECT_EQ(graph.current_name_scope(), "");
  EXPECT_EQ(input(graph).node->name(), "Placeholder");
}

TEST(GuardOrderTest, ASecondOutOfOrderExitKeepsTheErrorUntilAllAreUnwound) {
  Graph graph;
  auto a = std::make_unique<NameScope>(graph, "a");
  auto b = std::make_unique<NameScope>(graph, "b");
  auto c = std::make_unique<NameScope>(graph, "c");
  auto d = std::make_unique<NameScope>(graph, "d");
  c.reset();
  a.reset();
  d.reset();  // c is popped with d, but a was left while b is still open
  EXPECT_THAT(error_of([&] { input(graph); }), IsError(kFailedPrecondition, HasSubstr("out of order")));
  b.reset();
  EXPECT_EQ(graph.current_name_scope(), "");
  EXPECT_EQ(input(graph).node->name(), "Placeholder");
}

TEST(ControlDependenciesTest, OpsCreatedInsideGetTheControlInputs) {
  Graph graph;
  Output a = input(graph, "a");
  Output b = input(graph, "b");
  Output c;
  Output d;
  Output e;
  Output before = ops::neg(a, "before");
  {
    auto deps = graph.control_dependencies({a.node, b.node});
    c = ops::neg(a, "c");  // reads a: only b is added
    d = ops::neg(c, "d");  // c was made inside the block: it already depends on a and b
    e = ops::neg(before, "e");
    {
      auto clear = graph.control_dependencies(std::nullopt);
      Output free = ops::neg(before, "free");
      EXPECT_THAT(free.node->control_inputs(), IsEmpty());
    }
    {
      // Nested: inputs of the enclosing block are not repeated.
      auto more = graph.control_dependencies({b.node, before.node});
      Output f = ops::neg(a, "f");
      EXPECT_THAT(f.node->control_inputs(), UnorderedElementsAre(b.node, before.node));
    }
  }
  Output after = ops::neg(a, "after");
  EXPECT_THAT(c.node->control_inputs(), ElementsAre(b.node));
  EXPECT_THAT(d.node->control_inputs(), IsEmpty());
  EXPECT_THAT(e.node->control_inputs(), ElementsAre(a.node, b.node));
  EXPECT_THAT(after.node->control_inputs(), IsEmpty());
  EXPECT_THAT(before.node->control_inputs(), IsEmpty());
}

TEST(ControlDependenciesTest, ForeignOrNullControlInputsAreRejected) {
  Graph graph;
  Graph other;
  Output x = input(other);
  EXPECT_THAT(error_of([&] { auto d = graph.control_dependencies({x.node}); }),
              IsError(absl::StatusCode::kInvalidArgument, HasSubstr("another graph")));
  EXPECT_THAT(error_of([&] { auto d = graph.control_dependencies({nullptr}); }),
              IsError(absl::StatusCode::kInvalidArgument, HasSubstr("null")));
}

TEST(GraphThreadsTest, EachThreadHasItsOwnNameScopeAndNodesAreUnique) {
  Graph graph;
  constexpr int kThreads = 4;
  constexpr int kNodes = 200;
  std::vector<std::thread> threads;
  std::vector<std::string> scopes(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      NameScope scope = graph.name_scope("worker");
      scopes[static_cast<size_t>(t)] = scope.name();
      for (int i = 0; i < kNodes; ++i) {
        Output x = input(graph);
        EXPECT_EQ(x.node->name().rfind(scope.name(), 0), 0u);
        auto deps = graph.control_dependencies({x.node});
        Output y = ops::neg(x);
        EXPECT_THAT(y.node->control_inputs(), IsEmpty());  // y reads x: dominated
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(graph.num_nodes(), kThreads * kNodes * 2);
  std::set<std::string> names;
  for (const auto& node : graph.nodes()) names.insert(node->name());
  EXPECT_EQ(names.size(), static_cast<size_t>(kThreads * kNodes * 2));
  std::set<std::string> distinct_scopes(scopes.begin(), scopes.end());
  EXPECT_EQ(distinct_scopes.size(), static_cast<size_t>(kThreads));  // worker/, worker_1/, ...
  EXPECT_EQ(graph.current_name_scope(), "");
}

// ---------------------------------------------------------------------------------------------
// Lifetimes: an Output kept past its graph is a clear error wherever the API reads it (under
// ASan, each of these was a heap-use-after-free).

TEST(OutputLifetimeTest, AnOutputWhoseGraphIsGoneThrows) {
  auto graph = std::make_unique<Graph>();
  const Output x = input(*graph, "x");
  const Output y = ops::matmul(x, x);
  const Output copy = y;
  graph.reset();
  const auto gone = IsError(absl::StatusCode::kFailedPrecondition, HasSubstr("graph was destroyed"));
  EXPECT_FALSE(y.graph_alive());
  EXPECT_THAT(error_of([&] { (void)y.shape(); }), gone);
  EXPECT_THAT(error_of([&] { (void)y.dtype(); }), gone);
  EXPECT_THAT(error_of([&] { (void)y.name(); }), gone);
  EXPECT_THAT(error_of([&] { (void)y.graph(); }), gone);
  EXPECT_THAT(error_of([&] { ops::relu(y); }), IsError(absl::StatusCode::kFailedPrecondition, StartsWith("[relu]")));
  EXPECT_THAT(error_of([&] { ops::matmul(x, y); }), gone);
  EXPECT_THAT(error_of([&] { ops::add(y, x); }), gone);
  EXPECT_THAT(error_of([&] { gradients(y, {x}); }), IsError(absl::StatusCode::kFailedPrecondition, StartsWith("[gradients]")));
  EXPECT_THAT(error_of([&] { losses::mean_squared_error(x, y); }), gone);
  // Equality and hashing need no graph: they compare (node, index) only.
  EXPECT_EQ(copy, y);
  EXPECT_NE(x, y);
}

TEST(OutputLifetimeTest, AnOutputOfADestroyedGraphCannotFeedAnotherGraph) {
  Graph graph;
  const Output live = input(graph, "live");
  Output dead;
  {
    Graph other;
    dead = input(other, "dead");
  }
  EXPECT_TRUE(live.graph_alive());
  EXPECT_TRUE(Output{}.graph_alive());
  EXPECT_THAT(error_of([&] { ops::add(live, dead); }),
              IsError(absl::StatusCode::kFailedPrecondition, HasSubstr("graph was destroyed")));
  EXPECT_THAT(error_of([&] { gradients(live, {dead}); }),
              IsError(absl::StatusCode::kFailedPrecondition, HasSubstr("graph was destroyed")));
  // A control input from a destroyed graph is refused without reading it.
  Node* dead_node = dead.node;
  EXPECT_FALSE(graph.owns(dead_node));
  EXPECT_TRUE(graph.owns(live.node));
  EXPECT_THAT(error_of([&] { auto d = graph.control_dependencies({dead_node}); }),
              IsError(absl::StatusCode::kInvalidArgument, HasSubstr("another graph")));
}

}  // namespace
}  // namespace scopeflow
