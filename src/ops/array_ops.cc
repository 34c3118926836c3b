// Placeholder, Const, Identity, Reshape, BroadcastTo, NoOp, Transpose.

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ops/gradient_util.h"
#include "ops/op_util.h"
#include "scopeflow/ops.h"

namespace scopeflow {

namespace {

std::vector<OutputSpec> infer_placeholder(const InferenceContext& ctx) {
  return {{ctx.attr<DType>("dtype"), ctx.attr<Shape>("shape")}};
}

std::vector<OutputSpec> infer_const(const InferenceContext& ctx) {
  const Tensor& value = ctx.attr<Tensor>("value");
  if (!value.defined()) ctx.fail("value is an empty tensor handle");
  if (ctx.attr<DType>("dtype") != value.dtype()) ctx.fail("dtype attr differs from the value's dtype");
  return {{value.dtype(), value.shape()}};
}

std::vector<OutputSpec> infer_identity(const InferenceContext& ctx) {
  return {{ctx.input_dtype(0), ctx.input_shape(0)}};
}

std::vector<OutputSpec> infer_reshape(const InferenceContext& ctx) {
  const Tensor* target = ctx.constant_input(1);
  if (target == nullptr) ctx.fail("the shape input must be a constant");
  if (target->shape().rank() != 1) ctx.fail("the shape input must be 1-D, got ", target->shape().to_string());
  std::vector<int64_t> dims = op_util::int_values(*target);
  const Shape& in = ctx.input_shape(0);
  int unknown = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      if (unknown >= 0) ctx.fail("only one dimension of the target shape may be -1");
      unknown = static_cast<int>(i);
    } else if (dims[i] < 0) {
      ctx.fail("target dimension ", i, " is negative (", dims[i], ")");
    } else {
      known = Shape({known, dims[i]}).num_elements();  // overflow-checked product
    }
  }
  if (unknown >= 0) {
    if (known == 0 || in.num_elements() % known != 0) {
      ctx.fail("cannot reshape ", in.to_string(), " (", in.num_elements(),
               " elements) so that the -1 dimension is whole");
    }
    dims[static_cast<size_t>(unknown)] = in.num_elements() / known;
  }
  Shape out(std::move(dims));
  if (out.num_elements() != in.num_elements()) {
    ctx.fail("cannot reshape ", in.to_string(), " (", in.num_elements(), " elements) to ",
             out.to_string(), " (", out.num_elements(), " elements)");
  }
  return {{ctx.input_dtype(0), std::move(out)}};
}

std::vector<OutputSpec> infer_no_op(const InferenceContext&) { return {}; }

std::vector<OutputSpec> infer_broadcast_to(const InferenceContext& ctx) {
  const Tensor* target = ctx.constant_input(1);
  if (target == nullptr || target->shape().rank() != 1) ctx.fail("the shape input must be a 1-D constant");
  Shape out(op_util::int_values(*target));
  const Shape& in = ctx.input_shape(0);
  std::optional<Shape> joined = op_util::broadcast_shapes(in, out);
  if (in.rank() > out.rank() || !joined || *joined != out) {
    ctx.fail("cannot broadcast ", in.to_string(), " to ", out.to_string());
  }
  return {{ctx.input_dtype(0), std::move(out)}};
}

// TensorFlow's Transpose: perm is a Const int32/int64 vector, a permutation of 0..rank-1.
std::vector<OutputSpec> infer_transpose(const InferenceContext& ctx) {
  ctx.expect_dtype(1, {DType::kInt32, DType::kInt64});
  const Tensor* perm_value = ctx.constant_input(1);
  if (perm_value == nullptr) ctx.fail("perm must be a constant");
  if (perm_value->shape().rank() != 1) ctx.fail("perm must be 1-D, got ", perm_value->shape().to_string());
  const std::vector<int64_t> perm = op_util::int_values(*perm_value);
  const Shape& in = ctx.input_shape(0);
  const auto rank = static_cast<size_t>(in.rank());
  std::vector<bool> seen(rank, false);
  bool valid = perm.size() == rank;
  for (size_t i = 0; valid && i < perm.size(); ++i) {
    const int64_t d = perm[i];
    valid = d >= 0 && static_cast<size_t>(d) < rank && !seen[static_cast<size_t>(d)];
    if (valid) seen[static_cast<size_t>(d)] = true;
  }
  if (!valid) {
    ctx.fail("perm [", absl::StrJoin(perm, ", "), "] is not a permutation of 0..rank-1 for input ",
             in.to_string(), " of rank ", in.rank());
  }
  std::vector<int64_t> dims;
  dims.reserve(rank);
  for (int64_t d : perm) dims.push_back(in.dim(static_cast<int>(d)));
  return {{ctx.input_dtype(0), Shape(std::move(dims))}};
}

std::vector<Output> identity_grad(const GradientContext& g) { return {g.grad(0)}; }

std::vector<Output> reshape_grad(const GradientContext& g) {
  return {ops::reshape(g.grad(0), g.input(0).shape().dims()), Output{}};
}

std::vector<Output> broadcast_to_grad(const GradientContext& g) {
  return {grad_util::sum_to_shape(g.grad(0), g.input(0).shape()), Output{}};
}

// TensorFlow's _TransposeGrad: the gradient transposed by the inverse permutation.
std::vector<Output> transpose_grad(const GradientContext& g) {
  const std::vector<int64_t> perm = op_util::int_values(g.input(1).node->attr<Tensor>("value"));
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
  return {ops::transpose(g.grad(0), std::move(inverse)), Output{}};
}

constexpr char kSourceOp[] = "a source op: it has no inputs to differentiate";

}  // namespace

void register_array_ops() {
  register_op({.tf_name = "Placeholder", .builder_name = "placeholder", .default_name = "Placeholder",
               .num_inputs = 0, .infer = infer_placeholder, .execution = ExecutionKind::kFeed,
               .no_gradient = kSourceOp});
  register_op({.tf_name = "Const", .builder_name = "constant", .default_name = "Const",
               .num_inputs = 0, .infer = infer_const, .execution = ExecutionKind::kConstant,
               .no_gradient = kSourceOp});
  register_op({.tf_name = "Identity", .builder_name = "identity", .default_name = "Identity",
               .num_inputs = 1, .infer = infer_identity,
               .execution = ExecutionKind::kForwardInput, .gradient = identity_grad});
  register_op({.tf_name = "Reshape", .builder_name = "reshape", .default_name = "Reshape",
               .num_inputs = 2, .infer = infer_reshape,
               .execution = ExecutionKind::kForwardInput, .gradient = reshape_grad});
  register_op({.tf_name = "BroadcastTo", .builder_name = "broadcast_to", .default_name = "BroadcastTo",
               .num_inputs = 2, .infer = infer_broadcast_to, .gradient = broadcast_to_grad});
  register_op({.tf_name = "Transpose", .builder_name = "transpose", .default_name = "transpose",
               .num_inputs = 2, .infer = infer_transpose, .decode_attrs = op_util::decode_perm,
               .gradient = transpose_grad});
  register_op({.tf_name = "NoOp", .builder_name = "no_op", .default_name = "NoOp",
               .num_inputs = 0, .infer = infer_no_op, .execution = ExecutionKind::kNoOutput,
               .no_gradient = "control-only: it has no outputs"});
}

namespace ops {

Output placeholder(Graph& graph, DType dtype, Shape shape, std::string_view name) {
  return op_util::make(graph, "Placeholder", {}, {{"dtype", dtype}, {"shape", std::move(shape)}}, name);
}

Output constant(Graph& graph, const Tensor& value, std::string_view name) {
  if (!value.defined()) throw_invalid("constant", "value is an empty tensor handle");
  if (value.device().type != DeviceType::kCpu) throw_invalid("constant", "value must be a host tensor");
  // Copy so later writes to the caller's tensor cannot change the graph.
  return op_util::make(graph, "Const", {}, {{"value", value.clone()}, {"dtype", value.dtype()}}, name);
}

Output scalar(Graph& graph, float value, std::string_view name) {
  return constant(graph, Tensor::scalar(value), name);
}

Output identity(Output x, std::string_view name) {
  Graph& graph = op_util::graph_of(x, "identity");
  return op_util::make(graph, "Identity", {x}, {{"T", x.dtype()}}, name);
}

Output reshape(Output x, std::vector<int64_t> shape, std::string_view name) {
  Graph& graph = op_util::graph_of(x, "reshape");
  // TensorFlow names the converted shape list "<op>/shape" inside the op's own scope.
  const std::string op_name = op_util::scoped_op_name(graph, name, "Reshape");
  std::vector<int32_t> dims32;
  for (int64_t d : shape) {
    if (d < -1 || d > INT32_MAX) throw_invalid("reshape", "target dimension ", d, " is invalid");
    dims32.push_back(static_cast<int32_t>(d));
  }
  Output shape_node = op_util::int32_const_input(
      graph, op_name, "shape", Tensor::from_vector<int32_t>(Shape{static_cast<int64_t>(dims32.size())}, dims32));
  return op_util::make_exact(graph, "Reshape", {x, shape_node},
                             {{"T", x.dtype()}, {"Tshape", DType::kInt32}}, op_name);
}

Output broadcast_to(Output x, Shape shape, std::string_view name) {
  Graph& graph = op_util::graph_of(x, "broadcast_to");
  const std::string op_name = op_util::scoped_op_name(graph, name, "BroadcastTo");
  std::vector<int32_t> dims32;
  for (int64_t d : shape.dims()) {
    if (d > INT32_MAX) throw_invalid("broadcast_to", "dimension ", d, " is too large");
    dims32.push_back(static_cast<int32_t>(d));
  }
  Output shape_node = op_util::int32_const_input(
      graph, op_name, "shape", Tensor::from_vector<int32_t>(Shape{static_cast<int64_t>(dims32.size())}, dims32));
  return op_util::make_exact(graph, "BroadcastTo", {x, shape_node},
                             {{"T", x.dtype()}, {"Tidx", DType::kInt32}}, op_name);
}

Output transpose(Output x, std::vector<int64_t> perm, std::string_view name) {
  Graph& graph = op_util::graph_of(x, "transpose");
  // TensorFlow names the converted perm list "<op>/perm" inside the op's own scope.
  const std::string op_name = op_util::scoped_op_name(graph, name, "transpose");
  std::vector<int32_t> perm32;
  for (int64_t d : perm) {
    if (d < INT32_MIN || d > INT32_MAX) throw_invalid("transpose", "perm entry ", d, " is out of range");
    perm32.push_back(static_cast<int32_t>(d));
  }
  Output perm_node = op_util::int32_const_input(
      graph, op_name, "perm", Tensor::from_vector<int32_t>(Shape{static_cast<int64_t>(perm32.size())}, perm32));
  return op_util::make_exact(graph, "Transpose", {x, perm_node},
                             {{"T", x.dtype()}, {"Tperm", DType::kInt32}}, op_name);
}

Node* no_op(Graph& graph, std::vector<Node*> control_inputs, std::string_view name) {
  NodeSpec spec;
  spec.op = "NoOp";
  spec.name = std::string(name);
  spec.control_inputs = std::move(control_inputs);
  return graph.add_node(std::move(spec));
}

}  // namespace ops
}  // namespace scopeflow
