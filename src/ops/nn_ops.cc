// BiasAdd, Relu, Sigmoid, Tanh, Softmax, LogSoftmax and their gradient ops.

#include "ops/gradient_util.h"
#include "ops/op_util.h"
#include "scopeflow/ops.h"

namespace scopeflow {

namespace {

using op_util::infer_float_unary;

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

std::vector<OutputSpec> infer_softmax(const InferenceContext& ctx) {
  ctx.expect_float(0);
  if (ctx.input_shape(0).rank() < 1) ctx.fail("logits must be at least rank 1, got a scalar");
  return {{DType::kFloat32, ctx.input_shape(0)}};
}

Output unary(std::string op, std::string_view builder, Output x, std::string_view name) {
  Graph& graph = op_util::graph_of(x, builder);
  return op_util::make(graph, std::move(op), {x}, {{"T", x.dtype()}}, name);
}

// Two same-shaped float inputs (the activation gradient ops).
std::vector<OutputSpec> infer_float_pair(const InferenceContext& ctx) {
  ctx.expect_float(0);
  ctx.expect_float(1);
  if (ctx.input_shape(0) != ctx.input_shape(1)) {
    ctx.fail("inputs must have one shape, got ", ctx.input_shape(0).to_string(), " and ",
             ctx.input_shape(1).to_string());
  }
  return {{DType::kFloat32, ctx.input_shape(0)}};
}

std::vector<OutputSpec> infer_bias_add_grad(const InferenceContext& ctx) {
  ctx.expect_float(0);
  const Shape& grad = ctx.input_shape(0);
  if (grad.rank() < 2) ctx.fail("out_backprop must be at least rank 2, got ", grad.to_string());
  return {{DType::kFloat32, Shape{grad.dim(-1)}}};
}

Output last_axis_sum(Output x) { return ops::reduce_sum(x, std::vector<int64_t>{-1}, /*keep_dims=*/true); }

std::vector<Output> bias_add_grad_fn(const GradientContext& g) {
  return {g.grad(0), ops::bias_add_grad(g.grad(0))};
}
std::vector<Output> relu_grad_fn(const GradientContext& g) { return {ops::relu_grad(g.grad(0), g.output(0))}; }
std::vector<Output> sigmoid_grad_fn(const GradientContext& g) { return {ops::sigmoid_grad(g.output(0), g.grad(0))}; }
std::vector<Output> tanh_grad_fn(const GradientContext& g) { return {ops::tanh_grad(g.output(0), g.grad(0))}; }

std::vector<Output> softmax_grad_fn(const GradientContext& g) {
  // dx = (dy - sum(dy * y, last axis)) * y
  const Output y = g.output(0);
  return {ops::mul(ops::sub(g.grad(0), last_axis_sum(ops::mul(g.grad(0), y))), y)};
}

std::vector<Output> log_softmax_grad_fn(const GradientContext& g) {
  // dx = dy - sum(dy, last axis) * softmax(x)
  return {ops::sub(g.grad(0), ops::mul(last_axis_sum(g.grad(0)), ops::softmax(g.input(0))))};
}

// Gradients of the gradient ops, so that second derivatives through activations also work.
std::vector<Output> bias_add_grad_grad_fn(const GradientContext& g) {
  const Shape& in = g.input(0).shape();
  std::vector<int64_t> row(static_cast<size_t>(in.rank()), 1);
  row.back() = in.dim(-1);
  return {ops::broadcast_to(ops::reshape(g.grad(0), row), in)};
}

std::vector<Output> relu_grad_grad_fn(const GradientContext& g) {
  // ReluGrad(dy, x) = dy * [x > 0]: linear in dy, piecewise constant in x.
  return {ops::relu_grad(g.grad(0), g.input(1)), Output{}};
}

std::vector<Output> sigmoid_grad_grad_fn(const GradientContext& g) {
  // f(y, dy) = dy * y * (1 - y): df/dy = dy * (1 - 2y), df/ddy = y * (1 - y).
  Graph& graph = g.graph;
  const Output y = g.input(0);
  const Output dy = g.input(1);
  const Output one_minus_2y = ops::sub(grad_util::scalar(graph, 1.0f), ops::mul(grad_util::scalar(graph, 2.0f), y));
  return {ops::mul(g.grad(0), ops::mul(dy, one_minus_2y)), ops::sigmoid_grad(y, g.grad(0))};
}

std::vector<Output> tanh_grad_grad_fn(const GradientContext& g) {
  // f(y, dy) = dy * (1 - y^2): df/dy = -2 y dy, df/ddy = 1 - y^2.
  const Output y = g.input(0);
  const Output dy = g.input(1);
  const Output d_y = ops::mul(grad_util::scalar(g.graph, -2.0f), ops::mul(y, dy));
  return {ops::mul(g.grad(0), d_y), ops::tanh_grad(y, g.grad(0))};
}

}  // namespace

void register_nn_ops() {
  register_op({.tf_name = "BiasAdd", .builder_name = "bias_add", .default_name = "BiasAdd",
               .num_inputs = 2, .infer = infer_bias_add, .gradient = bias_add_grad_fn});
  register_op({.tf_name = "Relu", .builder_name = "relu", .default_name = "Relu", .num_inputs = 1,
               .infer = infer_float_unary, .gradient = relu_grad_fn});
  register_op({.tf_name = "Sigmoid", .builder_name = "sigmoid", .default_name = "Sigmoid",
               .num_inputs = 1, .infer = infer_float_unary, .gradient = sigmoid_grad_fn});
  register_op({.tf_name = "Tanh", .builder_name = "tanh", .default_name = "Tanh", .num_inputs = 1,
               .infer = infer_float_unary, .gradient = tanh_grad_fn});
  register_op({.tf_name = "Softmax", .builder_name = "softmax", .default_name = "Softmax",
               .num_inputs = 1, .infer = infer_softmax, .gradient = softmax_grad_fn});
  register_op({.tf_name = "LogSoftmax", .builder_name = "log_softmax", .default_name = "LogSoftmax",
               .num_inputs = 1, .infer = infer_softmax, .gradient = log_softmax_grad_fn});
  register_op({.tf_name = "BiasAddGrad", .builder_name = "bias_add_grad", .default_name = "BiasAddGrad",
               .num_inputs = 1, .infer = infer_bias_add_grad, .gradient = bias_add_grad_grad_fn});
  register_op({.tf_name = "ReluGrad", .builder_name = "relu_grad", .default_name = "ReluGrad",
               .num_inputs = 2, .infer = infer_float_pair, .gradient = relu_grad_grad_fn});
  register_op({.tf_name = "SigmoidGrad", .builder_name = "sigmoid_grad", .default_name = "SigmoidGrad",
               .num_inputs = 2, .infer = infer_float_pair, .gradient = sigmoid_grad_grad_fn});
  register_op({.tf_name = "TanhGrad", .builder_name = "tanh_grad", .default_name = "TanhGrad",
               .num_inputs = 2, .infer = infer_float_pair, .gradient = tanh_grad_grad_fn});
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
Output log_softmax(Output x, std::string_view name) { return unary("LogSoftmax", "log_softmax", x, name); }

Output bias_add_grad(Output grad, std::string_view name) {
  Graph& graph = op_util::graph_of(grad, "bias_add_grad");
  return op_util::make(graph, "BiasAddGrad", {grad},
                       {{"T", grad.dtype()}, {"data_format", std::string("NHWC")}}, name);
}

namespace {
Output float_pair(std::string op, std::string_view builder, Output a, Output b, std::string_view name) {
  Graph& graph = op_util::graph_of(a, builder);
  if (b.node == nullptr) throw_invalid(builder, "input 1 is a null output");
  return op_util::make(graph, std::move(op), {a, b}, {{"T", a.dtype()}}, name);
}
}  // namespace

Output relu_grad(Output gradients, Output features, std::string_view name) {
  return float_pair("ReluGrad", "relu_grad", gradients, features, name);
}
Output sigmoid_grad(Output y, Output dy, std::string_view name) {
  return float_pair("SigmoidGrad", "sigmoid_grad", y, dy, name);
}
Output tanh_grad(Output y, Output dy, std::string_view name) {
  return float_pair("TanhGrad", "tanh_grad", y, dy, name);
}

}  // namespace ops
}  // namespace scopeflow
