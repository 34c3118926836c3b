#include "scopeflow/layers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "scopeflow/error.h"
#include "scopeflow/memory_report.h"
#include "scopeflow/ops.h"
#include "scopeflow/session.h"
#include "test_util.h"

namespace scopeflow {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using test::error_of;
using test::IsError;
using test::ThrownError;

std::vector<std::string> names_of(const std::vector<Variable>& variables) {
  std::vector<std::string> names;
  for (const Variable& v : variables) names.push_back(v.name());
  return names;
}

// Distinct ops that read the variable through its read Identity.
int readers_of(const Variable& v) { return static_cast<int>(v.info().read->consumers().size()); }

// The article's SharedLinearLayer (Example 3): weights (in, units) and biases (units,) built on
// the first call, x @ weights + biases on every call.
class SharedLinearLayer : public Layer {
 public:
  explicit SharedLinearLayer(int64_t units) : Layer("", "shared_linear_layer"), units_(units) {}
  const Variable& w() const { return w_; }
  const Variable& b() const { return b_; }
  int builds() const { return builds_; }

 protected:
  void build(Graph& graph, const Shape& input_shape) override {
    ++builds_;
    w_ = add_weight(graph, "weights", Shape{input_shape.dim(-1), units_}, init::random_normal());
    b_ = add_weight(graph, "biases", Shape{units_}, init::zeros());
  }
  Output call(Output input) override { return ops::matmul(input, w_) + b_; }

 private:
  int64_t units_;
  Variable w_;
  Variable b_;
  int builds_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Dense.

TEST(DenseTest, BuildsOnFirstCallAndSharesAfterwards) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{4, 3}, "x");
  Dense dense(5);
  EXPECT_FALSE(dense.built());
  EXPECT_FALSE(dense.kernel().valid());
  EXPECT_EQ(dense.units(), 5);

  Output y1 = dense(x);
  ASSERT_TRUE(dense.built());
  const Variable kernel = dense.kernel();
  const Variable bias = dense.bias();
  EXPECT_EQ(dense.scope_name(), "dense");
  EXPECT_EQ(kernel.name(), "dense/kernel");
  EXPECT_EQ(bias.name(), "dense/bias");
  EXPECT_EQ(kernel.shape(), (Shape{3, 5}));
  EXPECT_EQ(bias.shape(), (Shape{5}));
  EXPECT_EQ(kernel.info().initializer.kind, InitializerKind::kGlorotUniform);
  EXPECT_EQ(bias.info().initializer.kind, InitializerKind::kZeros);
  EXPECT_EQ(y1.shape(), (Shape{4, 5}));

  Output y2 = dense(x);
  Output y3 = dense(x);
  EXPECT_EQ(dense.kernel(), kernel);
  EXPECT_EQ(dense.bias(), bias);
  EXPECT_THAT(dense.weights(), ElementsAre(kernel, bias));
  EXPECT_THAT(names_of(global_variables(graph)), ElementsAre("dense/kernel", "dense/bias"));
  EXPECT_EQ(readers_of(kernel), 3);
  EXPECT_EQ(readers_of(bias), 3);

  // Each call's ops go to a new name scope; all of them read the one kernel and bias.
  std::vector<std::string> op_names;
  for (const Output& y : {y1, y2, y3}) {
    EXPECT_EQ(y.node->op(), "BiasAdd");
    EXPECT_EQ(y.node->input(1).node, bias.info().read);
    const Node* matmul = y.node->input(0).node;
    EXPECT_EQ(matmul->input(1).node, kernel.info().read);
    op_names.push_back(matmul->name());
    op_names.push_back(y.node->name());
  }
  EXPECT_THAT(op_names, ElementsAre("dense/MatMul", "dense/BiasAdd", "dense_1/MatMul",
                                    "dense_1/BiasAdd", "dense_2/MatMul", "dense_2/BiasAdd"));
}

TEST(DenseTest, DefaultNamesAreUniqueInTheParentScope) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{4, 3}, "x");
  Dense first(6);
  Dense second(2);
  Output h = first(x);
  Output y = second(h);
  EXPECT_EQ(first.scope_name(), "dense");
  EXPECT_EQ(second.scope_name(), "dense_1");
  EXPECT_THAT(names_of(global_variables(graph)),
              ElementsAre("dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"));
  EXPECT_EQ(second.kernel().shape(), (Shape{6, 2}));
  EXPECT_EQ(y.shape(), (Shape{4, 2}));
  EXPECT_NE(first.kernel(), second.kernel());
}

TEST(DenseTest, NamedLayerWithActivationAndNoBias) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{4, 3}, "x");
  VariableScopeGuard model = variable_scope(graph, "model");
  Dense dense(7, {.activation = Activation::kRelu, .use_bias = false, .name = "fc"});
  Output y = dense(x);
  EXPECT_EQ(dense.scope_name(), "model/fc");
  EXPECT_FALSE(dense.bias().valid());
  EXPECT_THAT(names_of(global_variables(graph)), ElementsAre("model/fc/kernel"));
  EXPECT_EQ(y.node->op(), "Relu");
  EXPECT_EQ(y.node->name(), "model/fc/Relu");
  EXPECT_EQ(y.node->input(0).node->name(), "model/fc/MatMul");
}

TEST(DenseTest, Errors) {
  EXPECT_THAT(error_of([] { Dense dense(0); }),
              IsError(absl::StatusCode::kInvalidArgument,
                      AllOf(StartsWith("[dense]"), HasSubstr("units must be positive"))));
  Graph graph;
  Dense dense(3);
  EXPECT_THAT(error_of([&] { (void)dense.scope_name(); }),
              IsError(absl::StatusCode::kFailedPrecondition, HasSubstr("not built")));
  Output rank3 = ops::placeholder(graph, DType::kFloat32, Shape{2, 3, 4});
  EXPECT_THAT(error_of([&] { dense(rank3); }),
              IsError(absl::StatusCode::kInvalidArgument,
                      AllOf(StartsWith("[dense]"), HasSubstr("rank 2"), HasSubstr("(2, 3, 4)"))));
  EXPECT_THAT(error_of([&] { dense(Output{}); }),
              IsError(absl::StatusCode::kInvalidArgument, StartsWith("[layer]")));
}

TEST(DenseTest, FailedBuildLeavesTheLayerUnbuilt) {
  Graph graph;
  Dense dense(3);
  Output rank3 = ops::placeholder(graph, DType::kFloat32, Shape{2, 3, 4});
  EXPECT_THAT(error_of([&] { dense(rank3); }), IsError(absl::StatusCode::kInvalidArgument,
                                                       StartsWith("[dense]")));
  EXPECT_FALSE(dense.built());
  EXPECT_TRUE(dense.weights().empty());
  // A later call with a valid input builds it.
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{2, 4});
  Output y = dense(x);
  EXPECT_TRUE(dense.built());
  EXPECT_EQ(dense.scope_name(), "dense");
  EXPECT_EQ(dense.kernel().shape(), (Shape{4, 3}));
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_THAT(names_of(global_variables(graph)), ElementsAre("dense/kernel", "dense/bias"));
}

// ---------------------------------------------------------------------------------------------
// linear().

TEST(LinearTest, AutoReuseSharesTheVariables) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{10, 5}, "x");
  Output y1 = linear(x, 8, "fc");
  Output y2 = linear(x, 8, "fc");
  EXPECT_EQ(y1.shape(), (Shape{10, 8}));
  const std::vector<Variable> vars = global_variables(graph);
  ASSERT_THAT(names_of(vars), ElementsAre("fc/weights", "fc/biases"));
  EXPECT_EQ(vars[0].shape(), (Shape{5, 8}));
  EXPECT_EQ(vars[1].shape(), (Shape{8}));
  EXPECT_EQ(vars[0].info().initializer.kind, InitializerKind::kRandomNormal);
  EXPECT_EQ(vars[1].info().initializer.kind, InitializerKind::kZeros);
  EXPECT_EQ(readers_of(vars[0]), 2);
  EXPECT_EQ(readers_of(vars[1]), 2);
  EXPECT_EQ(y1.node->name(), "fc/add");
  EXPECT_EQ(y1.node->input(0).node->name(), "fc/MatMul");
  EXPECT_EQ(y2.node->name(), "fc_1/add");
  EXPECT_EQ(y2.node->input(0).node->name(), "fc_1/MatMul");
}

TEST(LinearTest, WithoutReuseTheSecondCallNamesTheFirstDefinition) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{10, 5}, "x");
  // Keep the next two statements on one line: the error must name this line.
  const int first_line = __LINE__; linear(x, 8, "fc", {.reuse = Reuse::kNone});
  const ThrownError e = error_of([&] { linear(x, 8, "fc", {.reuse = Reuse::kNone}); });
  EXPECT_EQ(e.code, absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(e.message, AllOf(StartsWith("[get_variable]"), HasSubstr("fc/weights"),
                               HasSubstr("already exists"),
                               HasSubstr(absl::StrCat("layers_test.cc:", first_line))));
}

TEST(LinearTest, Errors) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{10, 5}, "x");
  EXPECT_THAT(error_of([&] { linear(x, 8, "fc", {.reuse = Reuse::kReuse}); }),
              IsError(absl::StatusCode::kNotFound, HasSubstr("fc/weights")));
  Output v = ops::placeholder(graph, DType::kFloat32, Shape{5}, "v");
  EXPECT_THAT(error_of([&] { linear(v, 8, "fc"); }),
              IsError(absl::StatusCode::kInvalidArgument,
                      AllOf(StartsWith("[linear]"), HasSubstr("rank 2"))));
  linear(x, 8, "fc");
  EXPECT_THAT(error_of([&] { linear(x, 4, "fc"); }),
              IsError(absl::StatusCode::kInvalidArgument,
                      AllOf(HasSubstr("Trying to share variable fc/weights"), HasSubstr("(5, 4)"),
                            HasSubstr("(5, 8)"))));
}

// ---------------------------------------------------------------------------------------------
// Custom layers (the article's Example 3).

TEST(CustomLayerTest, OneLayerAppliedTwiceUnderAutoReuse) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{10, 8}, "x");
  VariableScopeGuard model = variable_scope(graph, "model", {.reuse = Reuse::kAutoReuse});
  SharedLinearLayer layer(8);
  Output h = layer(x);
  Output y = layer(h);
  EXPECT_EQ(layer.builds(), 1);
  EXPECT_EQ(layer.scope_name(), "model/shared_linear_layer");
  EXPECT_EQ(y.shape(), (Shape{10, 8}));
  EXPECT_THAT(names_of(global_variables(graph)),
              ElementsAre("model/shared_linear_layer/weights", "model/shared_linear_layer/biases"));
  EXPECT_THAT(layer.weights(), ElementsAre(layer.w(), layer.b()));
  EXPECT_EQ(readers_of(layer.w()), 2);
  EXPECT_EQ(readers_of(layer.b()), 2);
  EXPECT_EQ(h.node->name(), "model/shared_linear_layer/add");
  EXPECT_EQ(y.node->name(), "model/shared_linear_layer_1/add");
  EXPECT_EQ(y.node->input(0).node->input(0), h);
}

// The article's complex_model with its layer: `units` outputs, applied to its own output.
Output complex_model(Graph& graph, Output input, int64_t units, const char* scope) {
  VariableScopeGuard guard(graph, scope, {.reuse = Reuse::kAutoReuse});
  SharedLinearLayer layer_shared(units);
  Output output1 = layer_shared(input);
  return layer_shared(output1);
}

TEST(CustomLayerTest, LiteralArticleExample3IsAMatmulShapeError) {
  // Built for 5 inputs and 8 units, then applied to its own (10, 8) output.
  Graph graph;
  Output input = ops::random_normal(graph, Shape{10, 5});
  const ThrownError e = error_of([&] { complex_model(graph, input, 8, "model"); });
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.message, StartsWith("[matmul]"));
  EXPECT_THAT(e.message, HasSubstr("(10, 8)"));
  EXPECT_THAT(e.message, HasSubstr("(5, 8)"));
  // The guards were unwound.
  EXPECT_EQ(graph.variable_store().current_scope().name, "");
  EXPECT_EQ(graph.current_name_scope(), "");
}

// ---------------------------------------------------------------------------------------------
// The article's three examples as graphs run by a session, and their memory reports.

// Example 1: tf.Variable under tf.name_scope, so every layer has its own variables.
Output example1_layer(Graph& graph, Output input, int64_t units, const char* name) {
  NameScope scope = graph.name_scope(name);
  Variable w = variable(graph, "weights",
                        {.shape = Shape{input.shape().dim(-1), units},
                         .initializer = init::random_normal()});
  Variable b = variable(graph, "biases", {.shape = Shape{units}, .initializer = init::zeros()});
  return ops::matmul(input, w) + b;
}

// Example 2: get_variable under variable_scope(scope, auto-reuse).
Output example2_layer(Graph& graph, Output input, int64_t units, const char* scope) {
  VariableScopeGuard guard(graph, scope, {.reuse = Reuse::kAutoReuse});
  Variable w = get_variable(graph, "weights",
                            {.shape = Shape{input.shape().dim(-1), units},
                             .initializer = init::random_normal()});
  Variable b =
      get_variable(graph, "biases", {.shape = Shape{units}, .initializer = init::zeros()});
  return ops::matmul(input, w) + b;
}

MemoryReport run_and_report(const Graph& graph, std::initializer_list<Output> fetches) {
  Session session(graph);
  session.initialize_variables();
  std::vector<Tensor> results = session.run({}, fetches);
  EXPECT_EQ(results.size(), fetches.size());
  return memory_report(session);
}

std::vector<std::string> report_names(const MemoryReport& report) {
  std::vector<std::string> names;
  for (const VariableMemory& v : report.variables) names.push_back(v.name);
  return names;
}

std::vector<int> report_readers(const MemoryReport& report) {
  std::vector<int> readers;
  for (const VariableMemory& v : report.variables) readers.push_back(v.readers);
  return readers;
}

MemoryReport example1_report() {
  Graph graph;
  Output input_data = ops::random_normal(graph, Shape{10, 5});
  Output layer1_output = example1_layer(graph, input_data, 8, "layer1");
  Output layer2_output = example1_layer(graph, input_data, 8, "layer2");
  return run_and_report(graph, {layer1_output, layer2_output});
}

MemoryReport example2_report() {
  Graph graph;
  Output input_data = ops::random_normal(graph, Shape{10, 5});
  Output layer1_output_shared = example2_layer(graph, input_data, 8, "shared_layer");
  Output layer2_output_shared = example2_layer(graph, input_data, 8, "shared_layer");
  return run_and_report(graph, {layer1_output_shared, layer2_output_shared});
}

MemoryReport example3_report() {
  Graph graph;
  Output input_data = ops::random_normal(graph, Shape{10, 8});
  Output model_output = complex_model(graph, input_data, 8, "model");
  return run_and_report(graph, {model_output});
}

TEST(ArticleExamplesTest, Example1HasFourSeparateVariables) {
  const MemoryReport report = example1_report();
  EXPECT_THAT(report_names(report), ElementsAre("layer1/weights", "layer1/biases",
                                                "layer2/weights", "layer2/biases"));
  EXPECT_THAT(report_readers(report), ElementsAre(1, 1, 1, 1));
  for (const VariableMemory& v : report.variables) {
    EXPECT_TRUE(v.initialized) << v.name;
    EXPECT_EQ(v.dtype, DType::kFloat32);
  }
  EXPECT_EQ(report.variables[0].shape, (Shape{5, 8}));
  EXPECT_EQ(report.variables[0].bytes, 160);
  EXPECT_EQ(report.variables[1].bytes, 32);
  EXPECT_EQ(report.parameter_bytes, 384);
  EXPECT_EQ(report.parameter_allocations, 4);
  EXPECT_EQ(report.duplicated_parameter_bytes, 384);
}

TEST(ArticleExamplesTest, Example2SharesTwoVariables) {
  const MemoryReport report = example2_report();
  EXPECT_THAT(report_names(report), ElementsAre("shared_layer/weights", "shared_layer/biases"));
  EXPECT_THAT(report_readers(report), ElementsAre(2, 2));
  EXPECT_EQ(report.parameter_bytes, 192);
  EXPECT_EQ(report.parameter_allocations, static_cast<int64_t>(report.variables.size()));
  EXPECT_EQ(report.duplicated_parameter_bytes, 384);
}

TEST(ArticleExamplesTest, SharingHalvesTheMeasuredParameterBytes) {
  const MemoryReport naive = example1_report();
  const MemoryReport shared = example2_report();
  EXPECT_EQ(shared.parameter_bytes * 2, naive.parameter_bytes);
  EXPECT_EQ(shared.duplicated_parameter_bytes, naive.parameter_bytes);
}

TEST(ArticleExamplesTest, Example3SharesOneWeightsAndOneBiases) {
  const MemoryReport report = example3_report();
  EXPECT_THAT(report_names(report), ElementsAre("model/shared_linear_layer/weights",
                                                "model/shared_linear_layer/biases"));
  EXPECT_THAT(report_readers(report), ElementsAre(2, 2));
  EXPECT_EQ(report.parameter_bytes, 8 * 8 * 4 + 8 * 4);
  EXPECT_EQ(report.parameter_allocations, 2);
  EXPECT_EQ(report.parameter_bytes * 2, report.duplicated_parameter_bytes);
}

TEST(ArticleExamplesTest, ReportRendersAsJsonAndTable) {
  const MemoryReport report = example1_report();
  const std::string json = report.to_json();
  const std::string table = report.to_table();
  for (const char* name : {"layer1/weights", "layer1/biases", "layer2/weights", "layer2/biases"}) {
    EXPECT_THAT(json, HasSubstr(absl::StrCat("\"name\":\"", name, "\""))) << name;
    EXPECT_THAT(table, HasSubstr(name));
  }
  EXPECT_THAT(json, AllOf(StartsWith("{"), HasSubstr("\"parameter_bytes\":384"),
                          HasSubstr("\"parameter_allocations\":4"),
                          HasSubstr("\"readers\":1")));
  EXPECT_THAT(table, AllOf(HasSubstr("(5, 8)"), HasSubstr("384")));

  const MemoryReport shared = example2_report();
  EXPECT_THAT(shared.to_json(), AllOf(HasSubstr("\"name\":\"shared_layer/weights\""),
                                      HasSubstr("\"readers\":2"),
                                      HasSubstr("\"parameter_bytes\":192")));
  EXPECT_THAT(shared.to_table(), HasSubstr("shared_layer/biases"));
}

}  // namespace
}  // namespace scopeflow
