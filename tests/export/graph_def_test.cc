#include "scopeflow/graph_def.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "proto/graph.pb.h"
#include "scopeflow/initializers.h"
#include "scopeflow/losses.h"
#include "scopeflow/ops.h"
#include "scopeflow/scope.h"
#include "scopeflow/train.h"

namespace scopeflow {
namespace {

// A small training graph: shared layer, loss, Adam.
std::string training_graph_bytes() {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{4, 3}, "x");
  Output labels = ops::placeholder(graph, DType::kInt32, Shape{4}, "labels");
  Output h = x;
  for (int use = 0; use < 2; ++use) {
    auto scope = variable_scope(graph, "shared", {.reuse = Reuse::kAutoReuse});
    h = ops::relu(ops::matmul(h, get_variable(graph, "weights", {.shape = Shape{3, 3}})));
  }
  train::Adam adam;
  adam.minimize(losses::sparse_softmax_cross_entropy(labels, h));
  return graph_def_bytes(graph);
}

TEST(GraphDefTest, BytesAreDeterministic) {
  const std::string first = training_graph_bytes();
  EXPECT_EQ(first, training_graph_bytes());
  tfproto::GraphDef parsed;
  ASSERT_TRUE(parsed.ParseFromString(first));
  int apply_adam = 0;
  for (const auto& node : parsed.node()) {
    if (node.op() == "ApplyAdam") {
      ++apply_adam;
      EXPECT_EQ(node.input(0), "shared/weights");  // the variable itself: a ref input
      EXPECT_EQ(node.input(1), "shared/weights/Adam");
      EXPECT_EQ(node.input(2), "shared/weights/Adam_1");
    }
  }
  EXPECT_EQ(apply_adam, 1);
}

const tfproto::NodeDef& node_named(const tfproto::GraphDef& graph_def, const std::string& name) {
  for (const auto& node : graph_def.node()) {
    if (node.name() == name) return node;
  }
  throw std::runtime_error("no node " + name);
}

// Variables of several dtypes with constant, zeros and random initializers, a Const and Casts.
TEST(GraphDefTest, VariablesConstsAndCastsCarryTheirDataTypes) {
  Graph graph;
  get_variable(graph, "f64", {.shape = Shape{2, 2}, .dtype = DType::kFloat64});  // glorot_uniform
  get_variable(graph, "f16", {.shape = Shape{3}, .dtype = DType::kFloat16, .initializer = init::constant(0.1)});
  get_variable(graph, "bf16", {.shape = Shape{3}, .dtype = DType::kBFloat16, .initializer = init::ones()});
  get_variable(graph, "i8", {.shape = Shape{2}, .dtype = DType::kInt8, .initializer = init::constant(-5)});
  get_variable(graph, "u16", {.shape = Shape{2}, .dtype = DType::kUInt16});  // zeros
  get_variable(graph, "i64", {.shape = Shape{2}, .dtype = DType::kInt64, .initializer = init::constant(7)});
  Variable flag = get_variable(graph, "flag", {.shape = Shape{2}, .dtype = DType::kBool, .initializer = init::ones()});
  Output c = ops::constant(graph, Tensor::from_vector<Float16>(Shape{2}, {Float16(1.0f), Float16(-2.0f)}), "c");
  ops::cast(c, DType::kUInt8, "c_as_u8");
  ops::cast(flag, DType::kFloat64, "flag_as_f64");

  tfproto::GraphDef graph_def;
  ASSERT_TRUE(graph_def.ParseFromString(graph_def_bytes(graph)));
  EXPECT_EQ(node_named(graph_def, "f64").attr().at("dtype").type(), tfproto::DT_DOUBLE);
  EXPECT_EQ(node_named(graph_def, "f16").attr().at("dtype").type(), tfproto::DT_HALF);
  EXPECT_EQ(node_named(graph_def, "bf16").attr().at("dtype").type(), tfproto::DT_BFLOAT16);
  EXPECT_EQ(node_named(graph_def, "i8").attr().at("dtype").type(), tfproto::DT_INT8);
  EXPECT_EQ(node_named(graph_def, "u16").attr().at("dtype").type(), tfproto::DT_UINT16);
  EXPECT_EQ(node_named(graph_def, "flag").attr().at("dtype").type(), tfproto::DT_BOOL);
  EXPECT_EQ(node_named(graph_def, "f16/Assign").attr().at("T").type(), tfproto::DT_HALF);
  EXPECT_EQ(node_named(graph_def, "f16/read").attr().at("T").type(), tfproto::DT_HALF);
  EXPECT_EQ(node_named(graph_def, "i64/Assign").attr().at("T").type(), tfproto::DT_INT64);

  // Constant initializers: one element in the typed field TensorFlow reads for the dtype.
  const tfproto::TensorProto& f16 = node_named(graph_def, "f16/Initializer/Const").attr().at("value").tensor();
  EXPECT_EQ(f16.dtype(), tfproto::DT_HALF);
  ASSERT_EQ(f16.half_val_size(), 1);
  EXPECT_EQ(f16.half_val(0), 0x2e66);  // 0.1 in float16
  const tfproto::TensorProto& bf16 = node_named(graph_def, "bf16/Initializer/ones").attr().at("value").tensor();
  ASSERT_EQ(bf16.half_val_size(), 1);
  EXPECT_EQ(bf16.half_val(0), 0x3f80);
  const tfproto::TensorProto& i8 = node_named(graph_def, "i8/Initializer/Const").attr().at("value").tensor();
  EXPECT_EQ(i8.dtype(), tfproto::DT_INT8);
  ASSERT_EQ(i8.int_val_size(), 1);
  EXPECT_EQ(i8.int_val(0), -5);
  const tfproto::TensorProto& u16 = node_named(graph_def, "u16/Initializer/zeros").attr().at("value").tensor();
  EXPECT_EQ(u16.dtype(), tfproto::DT_UINT16);
  EXPECT_EQ(u16.int_val_size(), 1);
  EXPECT_EQ(node_named(graph_def, "i64/Initializer/Const").attr().at("value").tensor().int64_val(0), 7);
  EXPECT_TRUE(node_named(graph_def, "flag/Initializer/ones").attr().at("value").tensor().bool_val(0));

  // A random initializer of a float64 variable draws and computes in float64.
  const std::string uniform = "f64/Initializer/random_uniform";
  EXPECT_EQ(node_named(graph_def, uniform + "/RandomUniform").attr().at("dtype").type(), tfproto::DT_DOUBLE);
  EXPECT_EQ(node_named(graph_def, uniform + "/mul").attr().at("T").type(), tfproto::DT_DOUBLE);
  EXPECT_EQ(node_named(graph_def, uniform).attr().at("T").type(), tfproto::DT_DOUBLE);
  EXPECT_EQ(node_named(graph_def, uniform + "/range").attr().at("value").tensor().double_val_size(), 1);

  // Const values as little-endian tensor_content bytes; Casts name both types.
  const tfproto::TensorProto& value = node_named(graph_def, "c").attr().at("value").tensor();
  EXPECT_EQ(value.dtype(), tfproto::DT_HALF);
  EXPECT_EQ(value.tensor_content(), std::string("\x00\x3c\x00\xc0", 4));
  const tfproto::NodeDef& cast = node_named(graph_def, "c_as_u8");
  EXPECT_EQ(cast.attr().at("SrcT").type(), tfproto::DT_HALF);
  EXPECT_EQ(cast.attr().at("DstT").type(), tfproto::DT_UINT8);
  EXPECT_EQ(node_named(graph_def, "flag_as_f64").attr().at("DstT").type(), tfproto::DT_DOUBLE);
}

}  // namespace
}  // namespace scopeflow
