#include "scopeflow/graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "scopeflow/error.h"
#include "scopeflow/ops.h"
#include "test_util.h"

namespace scopeflow {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
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

}  // namespace
}  // namespace scopeflow
