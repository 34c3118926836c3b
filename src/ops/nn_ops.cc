// BiasAdd, Relu, Sigmoid, Tanh, Softmax.

#include "cpu/cpu_kernels.h"
#include "ops/op_util.h"
#include "scopeflow/ops.h"

namespace scopeflow {

namespace {

std::vector<OutputSpec> infer_bias_add(const InferenceContext& ctx) {
  ctx.expect_float(0);
  ctx.expect_float(1);
  const Shape& value = ctx.input_shape(0);
  const Shape& bias = ctx.input_shape(1);
  if (value.rank() < 2) ctx.fail("value must be at least rank 2, got ", value.to_string());
  if (bias.rank() != 1) ctx.fail("bias must be rank 1, got ", bias.to_string());
  if (bias.dim(0) != value.dim(-1)) {
    ctx.fail("bias length ", bias.dim(0), " differs from the last dimension of value ",
             value.to_string());
  }
  return {{DType::kFloat32, value}};
}

std::vector<OutputSpec> infer_float_unary(const InferenceContext& ctx) {
  ctx.expect_float(0);
  return {{DType::kFloat32, ctx.input_shape(0)}};
}

std::vector<OutputSpec> infer_softmax(const InferenceContext& ctx) {
  ctx.expect_float(0);
  if (ctx.input_shape(0).rank() < 1) ctx.fail("logits must be at least rank 1, got a scalar");
  return {{DType::kFloat32, ctx.input_shape(0)}};
}

Output unary(std::string op, std::string_view builder, Output x, std::string_view name) {
  Graph& graph = op_util::graph_of(x, builder);
  return op_util::make(graph, std::move(op), {x}, {{"T", x.dtype()}}, name);
}

}  // namespace

void register_nn_ops() {
  const std::string elementwise_note = "elementwise CUDA kernel lands with the CUDA backend";
  register_op({.tf_name = "BiasAdd", .builder_name = "bias_add", .default_name = "BiasAdd",
               .num_inputs = 2, .infer = infer_bias_add, .cpu_kernel = cpu::bias_add,
               .cuda_note = elementwise_note});
  register_op({.tf_name = "Relu", .builder_name = "relu", .default_name = "Relu", .num_inputs = 1,
               .infer = infer_float_unary, .cpu_kernel = cpu::relu, .cuda_note = elementwise_note});
  register_op({.tf_name = "Sigmoid", .builder_name = "sigmoid", .default_name = "Sigmoid",
               .num_inputs = 1, .infer = infer_float_unary, .cpu_kernel = cpu::sigmoid,
               .cuda_note = elementwise_note});
  register_op({.tf_name = "Tanh", .builder_name = "tanh", .default_name = "Tanh", .num_inputs = 1,
               .infer = infer_float_unary, .cpu_kernel = cpu::tanh, .cuda_note = elementwise_note});
  register_op({.tf_name = "Softmax", .builder_name = "softmax", .default_name = "Softmax",
               .num_inputs = 1, .infer = infer_softmax, .cpu_kernel = cpu::softmax,
               .cuda_note = "row softmax kernel lands with the CUDA backend"});
}

namespace ops {

Output bias_add(Output value, Output bias, std::string_view name) {
  Graph& graph = op_util::graph_of(value, "bias_add");
  if (bias.node == nullptr) throw_invalid("bias_add", "input 1 is a null output");
  return op_util::make(graph, "BiasAdd", {value, bias},
                       {{"T", value.dtype()}, {"data_format", std::string("NHWC")}}, name);
}

Output relu(Output x, std::string_view name) { return unary("Relu", "relu", x, name); }
Output sigmoid(Output x, std::string_view name) { return unary("Sigmoid", "sigmoid", x, name); }
Output tanh(Output x, std::string_view name) { return unary("Tanh", "tanh", x, name); }
Output softmax(Output x, std::string_view name) { return unary("Softmax", "softmax", x, name); }

}  // namespace ops
}  // namespace scopeflow
