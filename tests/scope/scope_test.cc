#include "scopeflow/scope.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "scopeflow/error.h"
#include "scopeflow/ops.h"
#include "test_util.h"

namespace scopeflow {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using test::error_of;
using test::IsError;
using test::ThrownError;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

std::vector<std::string> names_of(const std::vector<Variable>& variables) {
  std::vector<std::string> names;
  for (const Variable& v : variables) names.push_back(v.name());
  return names;
}

// "scope_test.cc:<line>", as the errors print the source location of a definition.
std::string here(int line) { return absl::StrCat("scope_test.cc:", line); }

// ---------------------------------------------------------------------------------------------
// Reuse modes.

TEST(VariableScopeTest, RootScopeIsEmptyAndDoesNotReuse) {
  Graph graph;
  const VariableScope& root = graph.variable_store().current_scope();
  EXPECT_EQ(root.name, "");
  EXPECT_EQ(root.reuse, Reuse::kNone);
  Variable w = get_variable(graph, "w", {.shape = Shape{2}});
  EXPECT_EQ(w.name(), "w");
  EXPECT_STREQ(reuse_name(Reuse::kNone), "none");
  EXPECT_STREQ(reuse_name(Reuse::kReuse), "reuse");
  EXPECT_STREQ(reuse_name(Reuse::kAutoReuse), "auto_reuse");
}

TEST(VariableScopeTest, ReuseNoneCreatesAndRefusesAnExistingVariable) {
  Graph graph;
  int first_line = 0;
  {
    VariableScopeGuard scope = variable_scope(graph, "layer");
    EXPECT_EQ(scope.scope().name, "layer");
    EXPECT_EQ(scope.scope().reuse, Reuse::kNone);
    // Keep the next two statements on one line: the error must name this line.
    first_line = __LINE__; Variable w = get_variable(graph, "weights", {.shape = Shape{5, 8}});
    EXPECT_EQ(w.name(), "layer/weights");
    EXPECT_TRUE(w.info().from_get_variable);
    EXPECT_EQ(w.info().defined_at.line(), static_cast<unsigned>(first_line));
  }
  VariableScopeGuard again = variable_scope(graph, "layer");
  const int second_line = __LINE__; const ThrownError e = error_of([&] { get_variable(graph, "weights", {.shape = Shape{5, 8}}); });
  EXPECT_EQ(e.code, absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(e.message, StartsWith("[get_variable]"));
  EXPECT_THAT(e.message, HasSubstr("layer/weights"));
  EXPECT_THAT(e.message, HasSubstr("already exists"));
  EXPECT_THAT(e.message, HasSubstr("reuse"));
  EXPECT_THAT(e.message, HasSubstr(here(first_line)));
  EXPECT_THAT(e.message, Not(HasSubstr(here(second_line))));
  EXPECT_EQ(global_variables(graph).size(), 1u);
}

TEST(VariableScopeTest, ReuseGetsTheExistingVariable) {
  Graph graph;
  Variable created;
  {
    VariableScopeGuard scope = variable_scope(graph, "layer");
    created = get_variable(graph, "weights", {.shape = Shape{5, 8}});
  }
  const int nodes = graph.num_nodes();
  VariableScopeGuard scope = variable_scope(graph, "layer", {.reuse = Reuse::kReuse});
  EXPECT_EQ(scope.scope().reuse, Reuse::kReuse);
  EXPECT_EQ(get_variable(graph, "weights", {.shape = Shape{5, 8}}), created);
  // The shape may be left out when reusing.
  EXPECT_EQ(get_variable(graph, "weights"), created);
  EXPECT_EQ(graph.num_nodes(), nodes);
}

TEST(VariableScopeTest, ReuseOfAMissingVariableIsNotFound) {
  Graph graph;
  VariableScopeGuard scope = variable_scope(graph, "layer", {.reuse = Reuse::kReuse});
  EXPECT_THAT(error_of([&] { get_variable(graph, "weights", {.shape = Shape{5, 8}}); }),
              IsError(absl::StatusCode::kNotFound,
                      AllOf(StartsWith("[get_variable]"), HasSubstr("layer/weights"),
                            HasSubstr("does not exist"))));
  EXPECT_TRUE(global_variables(graph).empty());
}

TEST(VariableScopeTest, AutoReuseCreatesThenGets) {
  Graph graph;
  Variable first;
  {
    VariableScopeGuard scope = variable_scope(graph, "shared", {.reuse = Reuse::kAutoReuse});
    first = get_variable(graph, "weights", {.shape = Shape{3, 4}});
    EXPECT_EQ(get_variable(graph, "weights", {.shape = Shape{3, 4}}), first);
  }
  VariableScopeGuard scope = variable_scope(graph, "shared", {.reuse = Reuse::kAutoReuse});
  EXPECT_EQ(get_variable(graph, "weights", {.shape = Shape{3, 4}}), first);
  Variable other = get_variable(graph, "biases", {.shape = Shape{4}});
  EXPECT_EQ(other.name(), "shared/biases");
  EXPECT_THAT(names_of(global_variables(graph)), ElementsAre("shared/weights", "shared/biases"));
}

TEST(VariableScopeTest, ReuseIsInheritedByNestedScopes) {
  Graph graph;
  {
    VariableScopeGuard outer = variable_scope(graph, "outer", {.reuse = Reuse::kReuse});
    VariableScopeGuard inner = variable_scope(graph, "inner");
    EXPECT_EQ(inner.scope().name, "outer/inner");
    EXPECT_EQ(inner.scope().reuse, Reuse::kReuse);
    VariableScopeGuard auto_inner = variable_scope(graph, "auto", {.reuse = Reuse::kAutoReuse});
    EXPECT_EQ(auto_inner.scope().reuse, Reuse::kAutoReuse);
  }
  {
    VariableScopeGuard outer = variable_scope(graph, "outer2", {.reuse = Reuse::kAutoReuse});
    VariableScopeGuard inner = variable_scope(graph, "inner");
    EXPECT_EQ(inner.scope().reuse, Reuse::kAutoReuse);
    VariableScopeGuard strict = variable_scope(graph, "strict", {.reuse = Reuse::kReuse});
    EXPECT_EQ(strict.scope().reuse, Reuse::kReuse);
  }
  {
    // Under a non-reusing parent, a child may turn reuse on.
    VariableScopeGuard outer = variable_scope(graph, "plain");
    VariableScopeGuard inner = variable_scope(graph, "inner", {.reuse = Reuse::kReuse});
    EXPECT_EQ(inner.scope().reuse, Reuse::kReuse);
  }
}

TEST(VariableScopeTest, ReuseNoneUnderAReusingParentInherits) {
  // TensorFlow: reuse=False is None, and None inherits; a reusing parent cannot be undone.
  Graph graph;
  for (Reuse parent : {Reuse::kReuse, Reuse::kAutoReuse}) {
    SCOPED_TRACE(reuse_name(parent));
    VariableScopeGuard outer = variable_scope(graph, "outer", {.reuse = parent});
    VariableScopeGuard inner = variable_scope(graph, "inner", {.reuse = Reuse::kNone});
    EXPECT_EQ(inner.scope().reuse, parent);
    VariableScopeGuard deeper = variable_scope(graph, "deeper");
    EXPECT_EQ(deeper.scope().reuse, parent);
  }
  // A child's own reuse wins: kReuse under kAutoReuse, and kAutoReuse under kReuse.
  VariableScopeGuard automatic = variable_scope(graph, "a", {.reuse = Reuse::kAutoReuse});
  VariableScopeGuard reusing = variable_scope(graph, "b", {.reuse = Reuse::kReuse});
  EXPECT_EQ(reusing.scope().reuse, Reuse::kReuse);
  VariableScopeGuard automatic_again = variable_scope(graph, "c", {.reuse = Reuse::kAutoReuse});
  EXPECT_EQ(automatic_again.scope().reuse, Reuse::kAutoReuse);
}

TEST(VariableScopeTest, GuardRestoresTheScopes) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{2, 2});
  {
    VariableScopeGuard outer = variable_scope(graph, "outer", {.reuse = Reuse::kAutoReuse});
    {
      VariableScopeGuard inner = variable_scope(graph, "inner");
      EXPECT_EQ(graph.variable_store().current_scope().name, "outer/inner");
      EXPECT_EQ(graph.current_name_scope(), "outer/inner/");
    }
    EXPECT_EQ(graph.variable_store().current_scope().name, "outer");
    EXPECT_EQ(graph.current_name_scope(), "outer/");
    EXPECT_EQ(ops::identity(x).node->name(), "outer/Identity");
  }
  EXPECT_EQ(graph.variable_store().current_scope().name, "");
  EXPECT_EQ(graph.variable_store().current_scope().reuse, Reuse::kNone);
  EXPECT_EQ(graph.current_name_scope(), "");
}

// ---------------------------------------------------------------------------------------------
// Re-entering scopes.

TEST(VariableScopeTest, ReenteringByNameOpensANewNameScopeForOps) {
  // The article's Example 2: the second call's ops land in shared_layer_1/, its variables
  // stay shared_layer/weights and shared_layer/biases.
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{10, 5}, "x");
  std::vector<std::string> op_names;
  std::vector<std::string> original_name_scopes;
  std::vector<Variable> weights;
  for (int call = 0; call < 2; ++call) {
    VariableScopeGuard scope = variable_scope(graph, "shared_layer", {.reuse = Reuse::kAutoReuse});
    EXPECT_EQ(scope.scope().name, "shared_layer");
    original_name_scopes.push_back(scope.scope().original_name_scope);
    Variable w = get_variable(graph, "weights", {.shape = Shape{5, 8}});
    Variable b = get_variable(graph, "biases", {.shape = Shape{8}});
    Output y = ops::matmul(x, w) + b;
    weights.push_back(w);
    op_names.push_back(y.node->input(0).node->name());
    op_names.push_back(y.node->name());
  }
  EXPECT_THAT(op_names, ElementsAre("shared_layer/MatMul", "shared_layer/add",
                                    "shared_layer_1/MatMul", "shared_layer_1/add"));
  EXPECT_THAT(original_name_scopes, ElementsAre("shared_layer/", "shared_layer_1/"));
  EXPECT_EQ(weights[0], weights[1]);
  EXPECT_THAT(names_of(global_variables(graph)),
              ElementsAre("shared_layer/weights", "shared_layer/biases"));
  EXPECT_EQ(graph.find_node("shared_layer_1/weights"), nullptr);
}

TEST(VariableScopeTest, ReenteringByObjectKeepsItsSettingsAndName) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{2, 2});
  VariableScope saved;
  {
    VariableScopeGuard scope =
        variable_scope(graph, "model", {.reuse = Reuse::kAutoReuse,
                                        .initializer = init::ones(),
                                        .dtype = DType::kInt32});
    saved = scope.scope();
  }
  EXPECT_EQ(saved.original_name_scope, "model/");

  VariableScopeGuard other = variable_scope(graph, "other");
  VariableScopeGuard again = variable_scope(graph, saved);
  EXPECT_EQ(again.scope().name, "model");
  EXPECT_EQ(again.scope().reuse, Reuse::kAutoReuse);
  ASSERT_TRUE(again.scope().initializer.has_value());
  EXPECT_EQ(again.scope().initializer->kind, InitializerKind::kOnes);
  EXPECT_EQ(again.scope().dtype, DType::kInt32);
  EXPECT_EQ(again.scope().original_name_scope, "model/");

  // Variables get the scope's absolute name and defaults; ops a name scope below "other/",
  // as tf.variable_scope(scope_object) does.
  Variable counter = get_variable(graph, "counter", {.shape = Shape{2}});
  EXPECT_EQ(counter.name(), "model/counter");
  EXPECT_EQ(counter.dtype(), DType::kInt32);
  EXPECT_EQ(counter.info().initializer.kind, InitializerKind::kOnes);
  EXPECT_EQ(get_variable(graph, "counter"), counter);  // auto-reuse kept
  EXPECT_EQ(ops::identity(x).node->name(), "other/model/Identity");

  VariableScopeGuard inner = variable_scope(graph, "inner");
  EXPECT_EQ(inner.scope().name, "model/inner");
  EXPECT_EQ(inner.scope().reuse, Reuse::kAutoReuse);
  EXPECT_EQ(inner.scope().dtype, DType::kInt32);
}

TEST(VariableScopeTest, ReenteringByObjectWithOverrides) {
  Graph graph;
  VariableScope saved;
  {
    VariableScopeGuard scope = variable_scope(graph, "model");
    get_variable(graph, "w", {.shape = Shape{3}});
    saved = scope.scope();
  }
  {
    VariableScopeGuard again = variable_scope(graph, saved, {.reuse = Reuse::kReuse});
    EXPECT_EQ(again.scope().reuse, Reuse::kReuse);
    EXPECT_EQ(get_variable(graph, "w").name(), "model/w");
  }
  {
    // Entry by object takes the object's reuse, not the parent's (TensorFlow's
    // `name_or_scope.reuse if not reuse else reuse`).
    VariableScopeGuard outer = variable_scope(graph, "outer", {.reuse = Reuse::kReuse});
    VariableScopeGuard again = variable_scope(graph, saved);
    EXPECT_EQ(again.scope().reuse, Reuse::kNone);
    VariableScopeGuard with_none = variable_scope(graph, saved, {.reuse = Reuse::kNone});
    EXPECT_EQ(with_none.scope().reuse, Reuse::kNone);
  }
  {
    // The root scope object re-enters the root: no name scope, variables at the top.
    NameScope ns = graph.name_scope("outer_ns");
    VariableScopeGuard root = variable_scope(graph, VariableScope{});
    EXPECT_EQ(root.scope().name, "");
    EXPECT_EQ(graph.current_name_scope(), "outer_ns/");
    EXPECT_EQ(get_variable(graph, "top", {.shape = Shape{1}}).name(), "top");
  }
}

TEST(VariableScopeTest, InvalidScopeNames) {
  Graph graph;
  EXPECT_THAT(error_of([&] { VariableScopeGuard g(graph, ""); }),
              IsError(kInvalid, AllOf(StartsWith("[variable_scope]"), HasSubstr("default_name"))));
  EXPECT_THAT(error_of([&] { VariableScopeGuard g(graph, "a/"); }),
              IsError(kInvalid, HasSubstr("'a/'")));
  EXPECT_THAT(error_of([&] { VariableScopeGuard g(graph, "/a"); }),
              IsError(kInvalid, HasSubstr("'/a'")));
  EXPECT_EQ(graph.variable_store().current_scope().name, "");
  EXPECT_EQ(graph.current_name_scope(), "");
  // A multi-part name is fine.
  VariableScopeGuard g(graph, "a/b");
  EXPECT_EQ(get_variable(graph, "v", {.shape = Shape{1}}).name(), "a/b/v");
}

// ---------------------------------------------------------------------------------------------
// Initializers and dtypes.

TEST(GetVariableTest, DefaultInitializerDependsOnDtype) {
  Graph graph;
  Variable f = get_variable(graph, "f", {.shape = Shape{2, 3}});
  Variable i32 = get_variable(graph, "i32", {.shape = Shape{2}, .dtype = DType::kInt32});
  Variable i64 = get_variable(graph, "i64", {.shape = Shape{2}, .dtype = DType::kInt64});
  EXPECT_EQ(f.dtype(), DType::kFloat32);
  EXPECT_EQ(f.shape(), (Shape{2, 3}));
  EXPECT_EQ(f.info().initializer.kind, InitializerKind::kGlorotUniform);
  EXPECT_EQ(i32.dtype(), DType::kInt32);
  EXPECT_EQ(i32.info().initializer.kind, InitializerKind::kZeros);
  EXPECT_EQ(i64.dtype(), DType::kInt64);
  EXPECT_EQ(i64.info().initializer.kind, InitializerKind::kZeros);
}

TEST(GetVariableTest, InitializerPrecedenceArgumentThenScopeThenDefault) {
  Graph graph;
  VariableScopeGuard outer = variable_scope(graph, "outer", {.initializer = init::ones()});
  Variable from_scope = get_variable(graph, "a", {.shape = Shape{2}});
  Variable from_arg =
      get_variable(graph, "b", {.shape = Shape{2}, .initializer = init::constant(3)});
  EXPECT_EQ(from_scope.info().initializer.kind, InitializerKind::kOnes);
  EXPECT_EQ(from_arg.info().initializer.kind, InitializerKind::kConstant);
  EXPECT_EQ(from_arg.info().initializer.value, 3);
  {
    VariableScopeGuard inherits = variable_scope(graph, "inherits");
    EXPECT_EQ(get_variable(graph, "c", {.shape = Shape{2}}).info().initializer.kind,
              InitializerKind::kOnes);
  }
  {
    VariableScopeGuard overrides =
        variable_scope(graph, "overrides", {.initializer = init::random_uniform(-1, 1)});
    Variable d = get_variable(graph, "d", {.shape = Shape{2}});
    EXPECT_EQ(d.info().initializer.kind, InitializerKind::kRandomUniform);
    EXPECT_EQ(d.info().initializer.minval, -1);
  }
}

TEST(GetVariableTest, DtypePrecedenceArgumentThenScopeThenFloat32) {
  Graph graph;
  VariableScopeGuard scope = variable_scope(graph, "ints", {.dtype = DType::kInt64});
  Variable from_scope = get_variable(graph, "a", {.shape = Shape{2}});
  EXPECT_EQ(from_scope.dtype(), DType::kInt64);
  EXPECT_EQ(from_scope.info().initializer.kind, InitializerKind::kZeros);
  Variable from_arg = get_variable(graph, "b", {.shape = Shape{2}, .dtype = DType::kFloat32});
  EXPECT_EQ(from_arg.dtype(), DType::kFloat32);
  EXPECT_EQ(from_arg.info().initializer.kind, InitializerKind::kGlorotUniform);
  VariableScopeGuard inner = variable_scope(graph, "inner");
  EXPECT_EQ(get_variable(graph, "c", {.shape = Shape{2}}).dtype(), DType::kInt64);
  VariableScopeGuard floats = variable_scope(graph, "floats", {.dtype = DType::kFloat32});
  EXPECT_EQ(get_variable(graph, "d", {.shape = Shape{2}}).dtype(), DType::kFloat32);
}

TEST(GetVariableTest, RandomInitializerOnIntegerDtypeIsRejected) {
  Graph graph;
  EXPECT_THAT(error_of([&] {
                get_variable(graph, "i",
                             {.shape = Shape{2}, .dtype = DType::kInt32,
                              .initializer = init::random_normal()});
              }),
              IsError(kInvalid, AllOf(StartsWith("[get_variable]"), HasSubstr("random_normal"),
                                      HasSubstr("'i'"), HasSubstr("int32"))));
  // A scope initializer applies to integer variables too.
  VariableScopeGuard scope = variable_scope(graph, "s", {.initializer = init::glorot_uniform()});
  EXPECT_THAT(error_of([&] { get_variable(graph, "j", {.shape = Shape{2}, .dtype = DType::kInt64}); }),
              IsError(kInvalid, AllOf(HasSubstr("glorot_uniform"), HasSubstr("int64"))));
  // Constant initializers are fine for integers.
  EXPECT_EQ(get_variable(graph, "k", {.shape = Shape{2}, .dtype = DType::kInt32,
                                      .initializer = init::constant(7)})
                .dtype(),
            DType::kInt32);
  EXPECT_THAT(names_of(global_variables(graph)), ElementsAre("s/k"));
}

// ---------------------------------------------------------------------------------------------
// Sharing checks and other errors.

TEST(GetVariableTest, SharingChecksTheShape) {
  Graph graph;
  {
    VariableScopeGuard scope = variable_scope(graph, "s");
    get_variable(graph, "weights", {.shape = Shape{5, 8}});
  }
  VariableScopeGuard scope = variable_scope(graph, "s", {.reuse = Reuse::kReuse});
  EXPECT_THAT(error_of([&] { get_variable(graph, "weights", {.shape = Shape{5, 4}}); }),
              IsError(kInvalid, AllOf(StartsWith("[get_variable]"),
                                      HasSubstr("Trying to share variable s/weights"),
                                      HasSubstr("(5, 8)"), HasSubstr("(5, 4)"))));
}

TEST(GetVariableTest, SharingChecksTheDtype) {
  Graph graph;
  VariableScopeGuard scope = variable_scope(graph, "s", {.reuse = Reuse::kAutoReuse});
  Variable v = get_variable(graph, "v", {.shape = Shape{3}});
  EXPECT_EQ(get_variable(graph, "v", {.shape = Shape{3}, .dtype = DType::kFloat32}), v);
  EXPECT_THAT(error_of([&] { get_variable(graph, "v", {.shape = Shape{3}, .dtype = DType::kInt32}); }),
              IsError(kInvalid, AllOf(StartsWith("[get_variable]"),
                                      HasSubstr("Trying to share variable s/v"),
                                      HasSubstr("float32"), HasSubstr("int32"))));
}

TEST(GetVariableTest, MissingShapeOnCreation) {
  Graph graph;
  VariableScopeGuard scope = variable_scope(graph, "s", {.reuse = Reuse::kAutoReuse});
  EXPECT_THAT(error_of([&] { get_variable(graph, "v"); }),
              IsError(kInvalid, AllOf(StartsWith("[get_variable]"), HasSubstr("s/v"),
                                      HasSubstr("shape"))));
  EXPECT_TRUE(global_variables(graph).empty());
}

TEST(GetVariableTest, EmptyNames) {
  Graph graph;
  EXPECT_THAT(error_of([&] { get_variable(graph, "", {.shape = Shape{1}}); }),
              IsError(kInvalid, AllOf(StartsWith("[get_variable]"), HasSubstr("empty"))));
  EXPECT_THAT(error_of([&] { variable(graph, "", {.shape = Shape{1}}); }),
              IsError(kInvalid, AllOf(StartsWith("[variable]"), HasSubstr("empty"))));
  EXPECT_EQ(graph.num_nodes(), 0);
}

TEST(GetVariableTest, InvalidHandle) {
  Variable v;
  EXPECT_FALSE(v.valid());
  EXPECT_THAT(error_of([&] { (void)v.name(); }),
              IsError(kInvalid, AllOf(StartsWith("[variable]"), HasSubstr("invalid"))));
}

// ---------------------------------------------------------------------------------------------
// variable() (tf.Variable).

TEST(VariableTest, AlwaysCreatesUnderAUniquifiedName) {
  Graph graph;
  Variable v0 = variable(graph, "v", {.shape = Shape{2}});
  Variable v1 = variable(graph, "v", {.shape = Shape{2}});
  EXPECT_EQ(v0.name(), "v");
  EXPECT_EQ(v1.name(), "v_1");
  EXPECT_FALSE(v0 == v1);
  EXPECT_FALSE(v0.info().from_get_variable);
  EXPECT_EQ(v1.node()->name(), "v_1");
  EXPECT_EQ(v1.info().read->name(), "v_1/read");
  EXPECT_EQ(v0.info().initializer.kind, InitializerKind::kGlorotUniform);
  EXPECT_EQ(variable(graph, "n", {.shape = Shape{2}, .dtype = DType::kInt32})
                .info().initializer.kind,
            InitializerKind::kZeros);
}

TEST(VariableTest, NamedByTheNameScopeNotTheVariableScope) {
  // tf.variable_scope("foo") + tf.name_scope("bar"): get_variable -> foo/v, Variable -> foo/bar/x.
  Graph graph;
  VariableScopeGuard vs = variable_scope(graph, "foo");
  NameScope ns = graph.name_scope("bar");
  EXPECT_EQ(get_variable(graph, "v", {.shape = Shape{1}}).name(), "foo/v");
  EXPECT_EQ(variable(graph, "x", {.shape = Shape{1}}).name(), "foo/bar/x");
}

TEST(VariableTest, ReenteredVariableScopeNamesVariablesByTheNewNameScope) {
  Graph graph;
  {
    VariableScopeGuard vs = variable_scope(graph, "layer");
    EXPECT_EQ(variable(graph, "w", {.shape = Shape{1}}).name(), "layer/w");
  }
  VariableScopeGuard vs = variable_scope(graph, "layer", {.reuse = Reuse::kAutoReuse});
  EXPECT_EQ(variable(graph, "w", {.shape = Shape{1}}).name(), "layer_1/w");
  EXPECT_EQ(get_variable(graph, "g", {.shape = Shape{1}}).name(), "layer/g");
}

TEST(VariableTest, GetVariableNeverFindsAVariableMadeByVariable) {
  Graph graph;
  Variable made;
  {
    VariableScopeGuard vs = variable_scope(graph, "s");
    made = variable(graph, "v", {.shape = Shape{2}});
    EXPECT_EQ(made.name(), "s/v");
  }
  EXPECT_EQ(graph.variable_store().find("s/v"), nullptr);
  {
    VariableScopeGuard vs = variable_scope(graph, "s", {.reuse = Reuse::kReuse});
    EXPECT_THAT(error_of([&] { get_variable(graph, "v", {.shape = Shape{2}}); }),
                IsError(absl::StatusCode::kNotFound,
                        AllOf(HasSubstr("s/v"), HasSubstr("does not exist"))));
  }
  {
    // Auto-reuse creates a separate get_variable entry of the same name.
    VariableScopeGuard vs = variable_scope(graph, "s", {.reuse = Reuse::kAutoReuse});
    Variable got = get_variable(graph, "v", {.shape = Shape{2}});
    EXPECT_EQ(got.name(), "s/v");
    EXPECT_FALSE(got == made);
    EXPECT_NE(got.node(), made.node());
  }
  EXPECT_EQ(global_variables(graph).size(), 2u);
}

TEST(VariableTest, Errors) {
  Graph graph;
  EXPECT_THAT(error_of([&] { variable(graph, "v"); }),
              IsError(kInvalid, AllOf(StartsWith("[variable]"), HasSubstr("'v'"),
                                      HasSubstr("shape"))));
  EXPECT_THAT(error_of([&] {
                variable(graph, "i",
                         {.shape = Shape{2}, .dtype = DType::kInt64,
                          .initializer = init::truncated_normal()});
              }),
              IsError(kInvalid, AllOf(StartsWith("[variable]"), HasSubstr("int64"))));
  EXPECT_EQ(graph.num_nodes(), 0);
}

// ---------------------------------------------------------------------------------------------
// Collections and graph nodes.

TEST(CollectionsTest, ScopeFiltersAndTrainable) {
  Graph graph;
  {
    VariableScopeGuard s = variable_scope(graph, "model");
    get_variable(graph, "w", {.shape = Shape{2}});
    get_variable(graph, "steps", {.shape = Shape{}, .dtype = DType::kInt64, .trainable = false});
    VariableScopeGuard inner = variable_scope(graph, "inner");
    get_variable(graph, "w", {.shape = Shape{2}});
  }
  {
    VariableScopeGuard s = variable_scope(graph, "model_1");
    get_variable(graph, "w", {.shape = Shape{2}});
  }
  {
    VariableScopeGuard s = variable_scope(graph, "modelx");
    get_variable(graph, "w", {.shape = Shape{2}});
  }
  variable(graph, "frozen", {.shape = Shape{2}, .trainable = false});

  EXPECT_THAT(names_of(global_variables(graph)),
              ElementsAre("model/w", "model/steps", "model/inner/w", "model_1/w", "modelx/w",
                          "frozen"));
  EXPECT_THAT(names_of(trainable_variables(graph)),
              ElementsAre("model/w", "model/inner/w", "model_1/w", "modelx/w"));
  // The scope filter is TensorFlow's: a regular expression matched at the start of the name,
  // so "model" also matches "model_1/w" and "modelx/w"; "model/" does not.
  EXPECT_THAT(names_of(global_variables(graph, "model")),
              ElementsAre("model/w", "model/steps", "model/inner/w", "model_1/w", "modelx/w"));
  EXPECT_THAT(names_of(global_variables(graph, "model/")),
              ElementsAre("model/w", "model/steps", "model/inner/w"));
  EXPECT_THAT(names_of(trainable_variables(graph, "model/")),
              ElementsAre("model/w", "model/inner/w"));
  EXPECT_THAT(names_of(global_variables(graph, "model_1")), ElementsAre("model_1/w"));
  EXPECT_THAT(names_of(global_variables(graph, "model/inner")), ElementsAre("model/inner/w"));
  EXPECT_THAT(names_of(global_variables(graph, "model/w")), ElementsAre("model/w"));
  EXPECT_THAT(names_of(global_variables(graph, "mod.l_")), ElementsAre("model_1/w"));
  EXPECT_TRUE(global_variables(graph, "odel").empty());
  EXPECT_THAT(error_of([&] { global_variables(graph, "model("); }),
              IsError(kInvalid, AllOf(StartsWith("[get_collection]"), HasSubstr("regular expression"))));
  EXPECT_TRUE(trainable_variables(graph, "frozen").empty());
  EXPECT_FALSE(global_variables(graph, "model/")[1].info().trainable);
}

TEST(CollectionsTest, EveryVariableIsAVariableNodeAndAReadNode) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{2, 3}, "x");
  VariableScopeGuard scope = variable_scope(graph, "layer");
  Variable w = get_variable(graph, "weights", {.shape = Shape{3, 4}});

  Node* var = graph.find_node("layer/weights");
  Node* read = graph.find_node("layer/weights/read");
  ASSERT_NE(var, nullptr);
  ASSERT_NE(read, nullptr);
  EXPECT_EQ(w.node(), var);
  EXPECT_EQ(w.info().read, read);
  EXPECT_EQ(var->op(), "VariableV2");
  EXPECT_EQ(var->attr<Shape>("shape"), (Shape{3, 4}));
  EXPECT_EQ(var->attr<DType>("dtype"), DType::kFloat32);
  EXPECT_EQ(var->output_shape(0), (Shape{3, 4}));
  EXPECT_EQ(read->op(), "Identity");
  ASSERT_EQ(read->num_inputs(), 1);
  EXPECT_EQ(read->input(0).node, var);
  EXPECT_EQ(w.value(), read->output(0));
  EXPECT_EQ(Output(w), read->output(0));

  Output m0 = ops::matmul(x, w);
  Output m1 = ops::matmul(x, w);
  EXPECT_EQ(m0.node->input(1).node, read);
  EXPECT_EQ(m1.node->input(1).node, read);
  EXPECT_THAT(read->consumers(), ElementsAre(std::pair<Node*, int>(m0.node, 1),
                                             std::pair<Node*, int>(m1.node, 1)));
  // Only the read Identity consumes the variable node directly.
  EXPECT_THAT(var->consumers(), ElementsAre(std::pair<Node*, int>(read, 0)));

  EXPECT_EQ(variable_for_node(graph, var), w);
  EXPECT_FALSE(variable_for_node(graph, read).valid());
  EXPECT_FALSE(variable_for_node(graph, m0.node).valid());
  EXPECT_EQ(graph.variable_store().find("layer/weights"), &w.info());
  EXPECT_EQ(graph.variable_store().find_by_node(var), &w.info());
}

}  // namespace
}  // namespace scopeflow
