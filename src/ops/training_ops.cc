// Assign, AssignSub and the optimizers' ApplyGradientDescent, ApplyMomentum and ApplyAdam:
// in-place updates of a variable's one buffer (and of its slot variables' buffers).

#include "ops/op_util.h"
#include "scopeflow/train.h"

namespace scopeflow {

namespace {

constexpr char kInPlaceNoGradient[] = "updates a variable in place; an update is not differentiable";

void expect_same(const InferenceContext& ctx, int i, int reference, std::string_view what) {
  ctx.expect_float(i);
  if (ctx.input_shape(i) != ctx.input_shape(reference)) {
    ctx.fail(what, " (input ", i, ") has shape ", ctx.input_shape(i).to_string(),
             " but the variable has shape ", ctx.input_shape(reference).to_string());
  }
}

void expect_scalar(const InferenceContext& ctx, int i, std::string_view what) {
  ctx.expect_float(i);
  if (ctx.input_shape(i).rank() != 0) {
    ctx.fail(what, " (input ", i, ") must be a scalar, got ", ctx.input_shape(i).to_string());
  }
}

std::vector<OutputSpec> variable_output(const InferenceContext& ctx) {
  return {{ctx.input_dtype(0), ctx.input_shape(0)}};
}

std::vector<OutputSpec> infer_assign(const InferenceContext& ctx) {
  ctx.expect_variable(0);
  if (ctx.input_dtype(1) != ctx.input_dtype(0) || ctx.input_shape(1) != ctx.input_shape(0)) {
    ctx.fail("value is ", dtype_name(ctx.input_dtype(1)), " ", ctx.input_shape(1).to_string(),
             " but the variable is ", dtype_name(ctx.input_dtype(0)), " ", ctx.input_shape(0).to_string());
  }
  return variable_output(ctx);
}

std::vector<OutputSpec> infer_assign_sub(const InferenceContext& ctx) {
  ctx.expect_variable(0);
  ctx.expect_float(0);
  expect_same(ctx, 1, 0, "value");
  return variable_output(ctx);
}

std::vector<OutputSpec> infer_apply_gradient_descent(const InferenceContext& ctx) {
  ctx.expect_variable(0);
  ctx.expect_float(0);
  expect_scalar(ctx, 1, "alpha");
  expect_same(ctx, 2, 0, "delta");
  return variable_output(ctx);
}

std::vector<OutputSpec> infer_apply_momentum(const InferenceContext& ctx) {
  ctx.expect_variable(0);
  ctx.expect_variable(1);
  ctx.expect_float(0);
  expect_same(ctx, 1, 0, "accum");
  expect_scalar(ctx, 2, "lr");
  expect_same(ctx, 3, 0, "grad");
  expect_scalar(ctx, 4, "momentum");
  return variable_output(ctx);
}

std::vector<OutputSpec> infer_apply_adam(const InferenceContext& ctx) {
  ctx.expect_variable(0);
  ctx.expect_variable(1);
  ctx.expect_variable(2);
  ctx.expect_float(0);
  expect_same(ctx, 1, 0, "m");
  expect_same(ctx, 2, 0, "v");
  const char* scalars[] = {"beta1_power", "beta2_power", "lr", "beta1", "beta2", "epsilon"};
  for (int i = 0; i < 6; ++i) expect_scalar(ctx, 3 + i, scalars[i]);
  expect_same(ctx, 9, 0, "grad");
  return variable_output(ctx);
}

Node* in_place(std::string op, std::string_view builder, std::vector<Output> inputs, AttrList attrs,
               std::string_view name, std::vector<Node*> control_inputs = {}) {
  if (inputs.empty() || inputs[0].node == nullptr) throw_invalid(builder, "input 0 is a null output");
  inputs[0].check_graph_alive(builder);
  Graph& graph = *inputs[0].graph();
  for (size_t i = 1; i < inputs.size(); ++i) {
    if (inputs[i].node == nullptr) throw_invalid(builder, "input ", i, " is a null output");
  }
  NodeSpec spec;
  spec.op = std::move(op);
  spec.name = std::string(name);
  spec.inputs = std::move(inputs);
  spec.attrs = std::move(attrs);
  spec.control_inputs = std::move(control_inputs);
  return graph.add_node(std::move(spec));
}

}  // namespace

void register_training_ops() {
  register_op({.tf_name = "Assign", .builder_name = "assign", .default_name = "Assign",
               .num_inputs = 2, .infer = infer_assign, .execution = ExecutionKind::kInPlace,
               .stateful = true, .no_gradient = kInPlaceNoGradient});
  register_op({.tf_name = "AssignSub", .builder_name = "assign_sub", .default_name = "AssignSub",
               .num_inputs = 2, .infer = infer_assign_sub, .execution = ExecutionKind::kInPlace,
               .stateful = true,
               .no_gradient = kInPlaceNoGradient});
  register_op({.tf_name = "ApplyGradientDescent", .builder_name = "apply_gradient_descent",
               .default_name = "ApplyGradientDescent", .num_inputs = 3,
               .infer = infer_apply_gradient_descent, .execution = ExecutionKind::kInPlace,
               .stateful = true, .no_gradient = kInPlaceNoGradient});
  register_op({.tf_name = "ApplyMomentum", .builder_name = "apply_momentum",
               .default_name = "ApplyMomentum", .num_inputs = 5, .infer = infer_apply_momentum, .decode_attrs = op_util::decode_nesterov_attrs,
               .execution = ExecutionKind::kInPlace, .stateful = true, .no_gradient = kInPlaceNoGradient});
  register_op({.tf_name = "ApplyAdam", .builder_name = "apply_adam", .default_name = "ApplyAdam",
               .num_inputs = 10, .infer = infer_apply_adam, .decode_attrs = op_util::decode_nesterov_attrs, .execution = ExecutionKind::kInPlace,
               .stateful = true,
               .no_gradient = kInPlaceNoGradient});
}

namespace ops {

Node* assign(const Variable& ref, Output value, std::string_view name) {
  if (!ref.valid()) throw_invalid("assign", "variable handle is invalid");
  return in_place("Assign", "assign", {ref.node()->output(0), value},
                  {{"T", ref.dtype()}, {"validate_shape", true}, {"use_locking", true}}, name);
}

Node* assign_sub(const Variable& ref, Output value, std::string_view name) {
  if (!ref.valid()) throw_invalid("assign_sub", "variable handle is invalid");
  return in_place("AssignSub", "assign_sub", {ref.node()->output(0), value},
                  {{"T", ref.dtype()}, {"use_locking", false}}, name);
}

Node* apply_gradient_descent(const Variable& var, Output alpha, Output delta, std::string_view name) {
  if (!var.valid()) throw_invalid("apply_gradient_descent", "variable handle is invalid");
  return in_place("ApplyGradientDescent", "apply_gradient_descent", {var.node()->output(0), alpha, delta},
                  {{"T", var.dtype()}, {"use_locking", false}}, name);
}

Node* apply_momentum(const Variable& var, const Variable& accum, Output lr, Output grad,
                     Output momentum, bool use_nesterov, std::string_view name) {
  if (!var.valid() || !accum.valid()) throw_invalid("apply_momentum", "variable handle is invalid");
  return in_place("ApplyMomentum", "apply_momentum",
                  {var.node()->output(0), accum.node()->output(0), lr, grad, momentum},
                  {{"T", var.dtype()}, {"use_locking", false}, {"use_nesterov", use_nesterov}}, name);
}

Node* apply_adam(const Variable& var, const Variable& m, const Variable& v, const AdamInputs& in,
                 Output grad, bool use_nesterov, std::string_view name, std::vector<Node*> control_inputs) {
  if (!var.valid() || !m.valid() || !v.valid()) throw_invalid("apply_adam", "variable handle is invalid");
  return in_place("ApplyAdam", "apply_adam",
                  {var.node()->output(0), m.node()->output(0), v.node()->output(0), in.beta1_power,
                   in.beta2_power, in.lr, in.beta1, in.beta2, in.epsilon, grad},
                  {{"T", var.dtype()}, {"use_locking", false}, {"use_nesterov", use_nesterov}}, name,
                  std::move(control_inputs));
}

}  // namespace ops
}  // namespace scopeflow
