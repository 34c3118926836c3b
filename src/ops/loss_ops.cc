// SoftmaxCrossEntropyWithLogits and SparseSoftmaxCrossEntropyWithLogits: TensorFlow's fused
// losses, each producing the per-example loss and its gradient with respect to the logits.

#include "ops/gradient_util.h"
#include "ops/op_util.h"
#include "scopeflow/ops.h"

namespace scopeflow {

namespace {

std::vector<OutputSpec> infer_xent(const InferenceContext& ctx) {
  ctx.expect_float(0);
  ctx.expect_float(1);
  const Shape& logits = ctx.input_shape(0);
  if (logits.rank() != 2) ctx.fail("logits must be rank 2 (batch, classes), got ", logits.to_string());
  if (ctx.input_shape(1) != logits) {
    ctx.fail("labels ", ctx.input_shape(1).to_string(), " must have the shape of logits ", logits.to_string());
  }
  return {{DType::kFloat32, Shape{logits.dim(0)}}, {DType::kFloat32, logits}};
}

std::vector<OutputSpec> infer_sparse_xent(const InferenceContext& ctx) {
  ctx.expect_float(0);
  ctx.expect_dtype(1, {DType::kInt32, DType::kInt64});
  const Shape& logits = ctx.input_shape(0);
  if (logits.rank() != 2) ctx.fail("logits must be rank 2 (batch, classes), got ", logits.to_string());
  if (logits.dim(1) == 0) ctx.fail("logits have no classes: ", logits.to_string());
  if (ctx.input_shape(1) != Shape{logits.dim(0)}) {
    ctx.fail("labels must have shape (", logits.dim(0), ",) to match logits ", logits.to_string(),
             ", got ", ctx.input_shape(1).to_string());
  }
  return {{DType::kFloat32, Shape{logits.dim(0)}}, {DType::kFloat32, logits}};
}

// d loss / d logits = grad_loss[:, None] * backprop (the op's second output).
Output scaled_backprop(const GradientContext& g) {
  const int64_t batch = g.input(0).shape().dim(0);
  return ops::mul(ops::reshape(g.grad(0), {batch, 1}), g.output(1));
}

void reject_backprop_grad(const GradientContext& g) {
  if (g.grad(1).valid()) {
    throw_error(absl::StatusCode::kUnimplemented, "gradients", "node '", g.node.name(),
                "': differentiating through the backprop output (1) of ", g.node.op(),
                " is not supported; differentiate the loss output (0)");
  }
}

std::vector<Output> xent_grad(const GradientContext& g) {
  reject_backprop_grad(g);
  if (!g.grad(0).valid()) return {Output{}, Output{}};
  const int64_t batch = g.input(0).shape().dim(0);
  // d loss / d labels = -grad_loss[:, None] * log_softmax(logits), as TensorFlow computes it.
  Output labels_grad = ops::mul(ops::reshape(ops::neg(g.grad(0)), {batch, 1}), ops::log_softmax(g.input(0)));
  return {scaled_backprop(g), labels_grad};
}

std::vector<Output> sparse_xent_grad(const GradientContext& g) {
  reject_backprop_grad(g);
  if (!g.grad(0).valid()) return {Output{}, Output{}};
  return {scaled_backprop(g), Output{}};
}

}  // namespace

void register_loss_ops() {
  register_op({.tf_name = "SoftmaxCrossEntropyWithLogits",
               .builder_name = "softmax_cross_entropy_with_logits",
               .default_name = "SoftmaxCrossEntropyWithLogits", .num_inputs = 2,
               .infer = infer_xent, .gradient = xent_grad});
  register_op({.tf_name = "SparseSoftmaxCrossEntropyWithLogits",
               .builder_name = "sparse_softmax_cross_entropy_with_logits",
               .default_name = "SparseSoftmaxCrossEntropyWithLogits", .num_inputs = 2,
               .infer = infer_sparse_xent, .gradient = sparse_xent_grad});
}

namespace ops {

namespace {
CrossEntropy xent(std::string op, std::string_view builder, Output logits, Output labels,
                  AttrList attrs, std::string_view name) {
  Graph& graph = op_util::graph_of(logits, builder);
  if (labels.node == nullptr) throw_invalid(builder, "input 1 (labels) is a null output");
  NodeSpec spec;
  spec.op = std::move(op);
  spec.name = std::string(name);
  spec.inputs = {logits, labels};
  spec.attrs = std::move(attrs);
  Node* node = graph.add_node(std::move(spec));
  return {node->output(0), node->output(1)};
}
}  // namespace

CrossEntropy softmax_cross_entropy_with_logits(Output logits, Output labels, std::string_view name) {
  return xent("SoftmaxCrossEntropyWithLogits", "softmax_cross_entropy_with_logits", logits, labels,
              {{"T", logits.dtype()}}, name);
}

CrossEntropy sparse_softmax_cross_entropy_with_logits(Output logits, Output labels, std::string_view name) {
  return xent("SparseSoftmaxCrossEntropyWithLogits", "sparse_softmax_cross_entropy_with_logits", logits,
              labels, {{"T", logits.dtype()}, {"Tlabels", labels.dtype()}}, name);
}

}  // namespace ops
}  // namespace scopeflow
