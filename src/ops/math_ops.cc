// MatMul, AddV2, Sub, Mul, Sum, Mean, AddN, Neg, Square, Abs, Sign, Cast, Equal, ArgMax, Exp, Log,
// Sqrt, Rsqrt, Maximum, Minimum, Pow.

#include <limits>

#include "absl/strings/str_cat.h"
#include "ops/gradient_util.h"
#include "ops/op_util.h"
#include "scopeflow/ops.h"

namespace scopeflow {

namespace {

using op_util::infer_float_unary;

std::vector<OutputSpec> infer_matmul(const InferenceContext& ctx) {
  ctx.expect_float(0);
  ctx.expect_float(1);
  const Shape& a = ctx.input_shape(0);
  const Shape& b = ctx.input_shape(1);
  if (a.rank() != 2 || b.rank() != 2) {
    ctx.fail("both inputs must be rank 2, got a ", a.to_string(), " and b ", b.to_string());
  }
  const bool ta = ctx.attr<bool>("transpose_a");
  const bool tb = ctx.attr<bool>("transpose_b");
  const int64_t m = ta ? a.dim(1) : a.dim(0);
  const int64_t ka = ta ? a.dim(0) : a.dim(1);
  const int64_t kb = tb ? b.dim(1) : b.dim(0);
  const int64_t n = tb ? b.dim(0) : b.dim(1);
  if (ka != kb) {
    ctx.fail("inner dimensions ", ka, " and ", kb, " differ: a is ", a.to_string(),
             ta ? " (transposed)" : "", ", b is ", b.to_string(), tb ? " (transposed)" : "");
  }
  return {{DType::kFloat32, Shape{m, n}}};
}

// Two inputs of one dtype with NumPy-broadcast shapes: the broadcast shape.
Shape broadcast_pair(const InferenceContext& ctx) {
  if (ctx.input_dtype(0) != ctx.input_dtype(1)) {
    ctx.fail("inputs have different dtypes: ", dtype_name(ctx.input_dtype(0)), " and ",
             dtype_name(ctx.input_dtype(1)));
  }
  std::optional<Shape> out = op_util::broadcast_shapes(ctx.input_shape(0), ctx.input_shape(1));
  if (!out) {
    ctx.fail("shapes ", ctx.input_shape(0).to_string(), " and ", ctx.input_shape(1).to_string(),
             " are not broadcast-compatible");
  }
  return std::move(*out);
}

std::vector<OutputSpec> infer_binary(const InferenceContext& ctx) {
  ctx.expect_dtype(0, {DType::kFloat32, DType::kInt32, DType::kInt64});
  return {{ctx.input_dtype(0), broadcast_pair(ctx)}};
}

// Pow: float32 only (TensorFlow's integer Pow fails at run time on negative exponents).
std::vector<OutputSpec> infer_float_binary(const InferenceContext& ctx) {
  ctx.expect_float(0);
  return {{DType::kFloat32, broadcast_pair(ctx)}};
}

std::vector<OutputSpec> infer_reduction(const InferenceContext& ctx) {
  ctx.expect_float(0);
  ctx.expect_dtype(1, {DType::kInt32, DType::kInt64});
  const Tensor* axes_value = ctx.constant_input(1);
  if (axes_value == nullptr) ctx.fail("the reduction axes must be a constant");
  if (axes_value->shape().rank() > 1) ctx.fail("the reduction axes must be a scalar or 1-D");
  const Shape& in = ctx.input_shape(0);
  const std::vector<int> axes = op_util::normalize_axes(ctx, op_util::int_values(*axes_value), in.rank());
  return {{DType::kFloat32, op_util::reduced_shape(in, axes, ctx.attr<bool>("keep_dims"))}};
}

Output binary(std::string op, std::string_view builder, Output x, Output y, std::string_view name) {
  Graph& graph = op_util::graph_of(x, builder);
  if (y.node == nullptr) throw_invalid(builder, "input 1 is a null output");
  return op_util::make(graph, std::move(op), {x, y}, {{"T", x.dtype()}}, name);
}

// Checks x before reading its dtype: a null output is an Error, never a null dereference.
Output unary(std::string op, std::string_view builder, Output x, std::string_view name) {
  Graph& graph = op_util::graph_of(x, builder);
  return op_util::make(graph, std::move(op), {x}, {{"T", x.dtype()}}, name);
}

Output reduction(std::string op, std::string_view builder, Output x,
                 std::optional<std::vector<int64_t>> axes, bool keep_dims, std::string_view name) {
  Graph& graph = op_util::graph_of(x, builder);
  std::vector<int32_t> values;
  if (axes) {
    for (int64_t a : *axes) values.push_back(static_cast<int32_t>(std::clamp<int64_t>(a, INT32_MIN, INT32_MAX)));
  } else {
    for (int i = 0; i < x.shape().rank(); ++i) values.push_back(i);
  }
  const std::string op_name = op_util::scoped_op_name(graph, name, op);
  Output axes_node = op_util::int32_const_input(
      graph, op_name, "reduction_indices",
      Tensor::from_vector<int32_t>(Shape{static_cast<int64_t>(values.size())}, values));
  return op_util::make_exact(graph, std::move(op), {x, axes_node},
                             {{"keep_dims", keep_dims}, {"T", x.dtype()}, {"Tidx", DType::kInt32}},
                             op_name);
}

std::vector<OutputSpec> infer_add_n(const InferenceContext& ctx) {
  if (ctx.num_inputs() < 1) ctx.fail("needs at least one input");
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    ctx.expect_float(i);
    if (ctx.input_shape(i) != ctx.input_shape(0)) {
      ctx.fail("input ", i, " has shape ", ctx.input_shape(i).to_string(), " but input 0 has ",
               ctx.input_shape(0).to_string(), "; all inputs must have one shape");
    }
  }
  if (ctx.attr<int64_t>("N") != ctx.num_inputs()) ctx.fail("attr N differs from the input count");
  return {{DType::kFloat32, ctx.input_shape(0)}};
}

std::vector<OutputSpec> infer_numeric_unary(const InferenceContext& ctx) {
  ctx.expect_dtype(0, {DType::kFloat32, DType::kInt32, DType::kInt64});
  return {{ctx.input_dtype(0), ctx.input_shape(0)}};
}

std::vector<OutputSpec> infer_cast(const InferenceContext& ctx) {
  if (ctx.attr<DType>("SrcT") != ctx.input_dtype(0)) ctx.fail("attr SrcT differs from the input's dtype");
  return {{ctx.attr<DType>("DstT"), ctx.input_shape(0)}};
}

std::vector<OutputSpec> infer_equal(const InferenceContext& ctx) {
  ctx.expect_dtype(0, {DType::kFloat32, DType::kInt32, DType::kInt64, DType::kBool});
  return {{DType::kBool, broadcast_pair(ctx)}};
}

std::vector<OutputSpec> infer_arg_max(const InferenceContext& ctx) {
  ctx.expect_float(0);
  ctx.expect_dtype(1, {DType::kInt32, DType::kInt64});
  const Tensor* axis_value = ctx.constant_input(1);
  if (axis_value == nullptr || axis_value->num_elements() != 1) ctx.fail("the axis must be a constant scalar");
  const Shape& in = ctx.input_shape(0);
  if (in.rank() < 1) ctx.fail("input must be at least rank 1, got a scalar");
  const std::vector<int> axes = op_util::normalize_axes(ctx, op_util::int_values(*axis_value), in.rank());
  if (in.dims()[static_cast<size_t>(axes[0])] == 0) ctx.fail("cannot take the argmax over an empty axis of ", in.to_string());
  const DType out = ctx.attr<DType>("output_type");
  if (out != DType::kInt32 && out != DType::kInt64) ctx.fail("output_type must be int32 or int64");
  return {{out, op_util::reduced_shape(in, axes, /*keep_dims=*/false)}};
}

// Gradients. Each returns one entry per input (invalid: no gradient for that input).

std::vector<Output> matmul_grad(const GradientContext& g) {
  const bool ta = g.node.attr<bool>("transpose_a");
  const bool tb = g.node.attr<bool>("transpose_b");
  const Output a = g.input(0);
  const Output b = g.input(1);
  const Output dy = g.grad(0);
  using ops::matmul;
  if (!ta && !tb) return {matmul(dy, b, {.transpose_b = true}), matmul(a, dy, {.transpose_a = true})};
  if (!ta && tb) return {matmul(dy, b), matmul(dy, a, {.transpose_a = true})};
  if (ta && !tb) return {matmul(b, dy, {.transpose_b = true}), matmul(a, dy)};
  return {matmul(b, dy, {.transpose_a = true, .transpose_b = true}),
          matmul(dy, a, {.transpose_a = true, .transpose_b = true})};
}

std::vector<Output> add_grad(const GradientContext& g) {
  return {grad_util::sum_to_shape(g.grad(0), g.input(0).shape()),
          grad_util::sum_to_shape(g.grad(0), g.input(1).shape())};
}

std::vector<Output> sub_grad(const GradientContext& g) {
  return {grad_util::sum_to_shape(g.grad(0), g.input(0).shape()),
          grad_util::sum_to_shape(ops::neg(g.grad(0)), g.input(1).shape())};
}

std::vector<Output> mul_grad(const GradientContext& g) {
  return {grad_util::sum_to_shape(ops::mul(g.grad(0), g.input(1)), g.input(0).shape()),
          grad_util::sum_to_shape(ops::mul(g.input(0), g.grad(0)), g.input(1).shape())};
}

std::vector<Output> sum_grad(const GradientContext& g) {
  return {grad_util::broadcast_reduced_grad(g.grad(0), g.input(0).shape(), grad_util::reduction_axes(g.node)),
          Output{}};
}

std::vector<Output> mean_grad(const GradientContext& g) {
  const Shape& in = g.input(0).shape();
  const int64_t count = in.num_elements() / std::max<int64_t>(g.output(0).shape().num_elements(), 1);
  Output scaled = ops::mul(g.grad(0), grad_util::scalar(g.graph, 1.0f / static_cast<float>(std::max<int64_t>(count, 1))));
  return {grad_util::broadcast_reduced_grad(scaled, in, grad_util::reduction_axes(g.node)), Output{}};
}

std::vector<Output> add_n_grad(const GradientContext& g) {
  return std::vector<Output>(static_cast<size_t>(g.node.num_inputs()), g.grad(0));
}

std::vector<Output> neg_grad(const GradientContext& g) { return {ops::neg(g.grad(0))}; }

std::vector<Output> square_grad(const GradientContext& g) {
  return {ops::mul(g.grad(0), ops::mul(grad_util::scalar(g.graph, 2.0f), g.input(0)))};
}

// TensorFlow's _AbsGrad: grad * sign(x), so the gradient at 0 is 0.
std::vector<Output> abs_grad(const GradientContext& g) { return {ops::mul(g.grad(0), ops::sign(g.input(0)))}; }

// TensorFlow's _SignGrad: zeros_like(x), a real zero gradient rather than a no-gradient mark.
std::vector<Output> sign_grad(const GradientContext& g) { return {grad_util::zeros_like(g.input(0))}; }

// TensorFlow's _ExpGrad: grad * y, reusing the forward output.
std::vector<Output> exp_grad(const GradientContext& g) { return {ops::mul(g.grad(0), g.output(0))}; }

// TensorFlow's _LogGrad: grad / x (x^-1 through Pow: there is no division op).
std::vector<Output> log_grad(const GradientContext& g) {
  return {ops::mul(g.grad(0), ops::pow(g.input(0), grad_util::scalar(g.graph, -1.0f)))};
}

// TensorFlow's SqrtGrad: grad * 0.5 / y.
std::vector<Output> sqrt_grad(const GradientContext& g) {
  Output half_over_y = ops::mul(grad_util::scalar(g.graph, 0.5f), ops::pow(g.output(0), grad_util::scalar(g.graph, -1.0f)));
  return {ops::mul(g.grad(0), half_over_y)};
}

// TensorFlow's RsqrtGrad: grad * -0.5 * y^3.
std::vector<Output> rsqrt_grad(const GradientContext& g) {
  const Output y = g.output(0);
  return {ops::mul(g.grad(0), ops::mul(grad_util::scalar(g.graph, -0.5f), ops::mul(ops::square(y), y)))};
}

// TensorFlow's _MaximumGrad and _MinimumGrad: the gradient goes to x where x won (x >= y for
// Maximum, x <= y for Minimum; ties go to x), else to y. "x won" is z == x, so a NaN sends it to y
// as TensorFlow's comparison does. Each side is summed over its broadcast dimensions.
std::vector<Output> select_grad(const GradientContext& g) {
  const Output x = g.input(0);
  const Output y = g.input(1);
  const Output to_x = ops::cast(ops::equal(g.output(0), x), g.grad(0).dtype());  // output's shape
  const Output to_y = ops::sub(grad_util::scalar(g.graph, 1.0f), to_x);
  return {grad_util::sum_to_shape(ops::mul(g.grad(0), to_x), x.shape()),
          grad_util::sum_to_shape(ops::mul(g.grad(0), to_y), y.shape())};
}

// TensorFlow's _PowGrad: dx = grad * y * x^(y - 1); dy = grad * z * log(x) where x > 0, else 0.
// log(x) is taken of max(x, FLT_MIN) and masked, so x <= 0 gives 0, never NaN or inf.
std::vector<Output> pow_grad(const GradientContext& g) {
  const Output x = g.input(0);
  const Output y = g.input(1);
  const Output dz = g.grad(0);
  Graph& graph = g.graph;
  const Output one = grad_util::scalar(graph, 1.0f);
  const Output dx = ops::mul(dz, ops::mul(y, ops::pow(x, ops::sub(y, one))));
  // 1 where x > 0: min(x, 0) == x exactly where x <= 0.
  const Output not_positive = ops::cast(ops::equal(ops::minimum(x, grad_util::scalar(graph, 0.0f)), x), DType::kFloat32);
  const Output positive = ops::sub(one, not_positive);
  const Output safe_x = ops::maximum(x, grad_util::scalar(graph, std::numeric_limits<float>::min()));
  const Output log_x = ops::mul(ops::log(safe_x), positive);
  const Output dy = ops::mul(dz, ops::mul(g.output(0), log_x));
  return {grad_util::sum_to_shape(dx, x.shape()), grad_util::sum_to_shape(dy, y.shape())};
}

std::vector<Output> cast_grad(const GradientContext& g) {
  // Only float -> float casts carry a gradient; integer and bool values are constants to it.
  if (!is_floating(g.input(0).dtype()) || !is_floating(g.output(0).dtype())) return {Output{}};
  return {ops::cast(g.grad(0), g.input(0).dtype())};
}

}  // namespace

void register_math_ops() {
  register_op({.tf_name = "MatMul", .builder_name = "matmul", .default_name = "MatMul",
               .num_inputs = 2, .infer = infer_matmul, .decode_attrs = op_util::decode_matmul_attrs, .gradient = matmul_grad});
  register_op({.tf_name = "AddV2", .builder_name = "add", .default_name = "add", .num_inputs = 2,
               .infer = infer_binary, .gradient = add_grad});
  register_op({.tf_name = "Sub", .builder_name = "sub", .default_name = "sub", .num_inputs = 2,
               .infer = infer_binary, .gradient = sub_grad});
  register_op({.tf_name = "Mul", .builder_name = "mul", .default_name = "mul", .num_inputs = 2,
               .infer = infer_binary, .gradient = mul_grad});
  register_op({.tf_name = "Sum", .builder_name = "reduce_sum", .default_name = "Sum",
               .num_inputs = 2, .infer = infer_reduction, .decode_attrs = op_util::decode_constant_axes, .gradient = sum_grad});
  register_op({.tf_name = "Mean", .builder_name = "reduce_mean", .default_name = "Mean",
               .num_inputs = 2, .infer = infer_reduction, .decode_attrs = op_util::decode_constant_axes, .gradient = mean_grad});
  register_op({.tf_name = "AddN", .builder_name = "add_n", .default_name = "AddN", .num_inputs = -1,
               .infer = infer_add_n, .gradient = add_n_grad});
  register_op({.tf_name = "Neg", .builder_name = "neg", .default_name = "Neg", .num_inputs = 1,
               .infer = infer_numeric_unary, .gradient = neg_grad});
  register_op({.tf_name = "Square", .builder_name = "square", .default_name = "Square",
               .num_inputs = 1, .infer = infer_numeric_unary, .gradient = square_grad});
  register_op({.tf_name = "Abs", .builder_name = "abs", .default_name = "Abs", .num_inputs = 1,
               .infer = infer_float_unary, .gradient = abs_grad});
  register_op({.tf_name = "Sign", .builder_name = "sign", .default_name = "Sign", .num_inputs = 1,
               .infer = infer_float_unary, .gradient = sign_grad});
  register_op({.tf_name = "Exp", .builder_name = "exp", .default_name = "Exp", .num_inputs = 1,
               .infer = infer_float_unary, .gradient = exp_grad});
  register_op({.tf_name = "Log", .builder_name = "log", .default_name = "Log", .num_inputs = 1,
               .infer = infer_float_unary, .gradient = log_grad});
  register_op({.tf_name = "Sqrt", .builder_name = "sqrt", .default_name = "Sqrt", .num_inputs = 1,
               .infer = infer_float_unary, .gradient = sqrt_grad});
  register_op({.tf_name = "Rsqrt", .builder_name = "rsqrt", .default_name = "Rsqrt", .num_inputs = 1,
               .infer = infer_float_unary, .gradient = rsqrt_grad});
  register_op({.tf_name = "Maximum", .builder_name = "maximum", .default_name = "Maximum",
               .num_inputs = 2, .infer = infer_binary, .gradient = select_grad});
  register_op({.tf_name = "Minimum", .builder_name = "minimum", .default_name = "Minimum",
               .num_inputs = 2, .infer = infer_binary, .gradient = select_grad});
  register_op({.tf_name = "Pow", .builder_name = "pow", .default_name = "Pow", .num_inputs = 2,
               .infer = infer_float_binary, .gradient = pow_grad});
  register_op({.tf_name = "Cast", .builder_name = "cast", .default_name = "Cast", .num_inputs = 1,
               .infer = infer_cast, .gradient = cast_grad});
  register_op({.tf_name = "Equal", .builder_name = "equal", .default_name = "Equal",
               .num_inputs = 2, .infer = infer_equal, .no_gradient = "a comparison is piecewise constant; its output is bool"});
  register_op({.tf_name = "ArgMax", .builder_name = "argmax", .default_name = "ArgMax",
               .num_inputs = 2, .infer = infer_arg_max, .decode_attrs = op_util::decode_constant_axes, .no_gradient = "an index is piecewise constant; its output is an integer"});
}

namespace ops {

Output matmul(Output a, Output b, MatMulOptions options, std::string_view name) {
  Graph& graph = op_util::graph_of(a, "matmul");
  if (b.node == nullptr) throw_invalid("matmul", "input 1 is a null output");
  return op_util::make(graph, "MatMul", {a, b},
                       {{"transpose_a", options.transpose_a}, {"transpose_b", options.transpose_b},
                        {"T", a.dtype()}},
                       name);
}

Output add(Output x, Output y, std::string_view name) { return binary("AddV2", "add", x, y, name); }
Output sub(Output x, Output y, std::string_view name) { return binary("Sub", "sub", x, y, name); }
Output mul(Output x, Output y, std::string_view name) { return binary("Mul", "mul", x, y, name); }

Output add_n(std::vector<Output> inputs, std::string_view name) {
  if (inputs.empty()) throw_invalid("add_n", "needs at least one input");
  Graph& graph = op_util::graph_of(inputs[0], "add_n");
  const auto n = static_cast<int64_t>(inputs.size());
  const DType dtype = inputs[0].dtype();
  return op_util::make(graph, "AddN", std::move(inputs), {{"N", n}, {"T", dtype}}, name);
}

Output neg(Output x, std::string_view name) { return unary("Neg", "neg", x, name); }

Output square(Output x, std::string_view name) { return unary("Square", "square", x, name); }

Output abs(Output x, std::string_view name) { return unary("Abs", "abs", x, name); }

Output sign(Output x, std::string_view name) { return unary("Sign", "sign", x, name); }

Output exp(Output x, std::string_view name) { return unary("Exp", "exp", x, name); }
Output log(Output x, std::string_view name) { return unary("Log", "log", x, name); }
Output sqrt(Output x, std::string_view name) { return unary("Sqrt", "sqrt", x, name); }
Output rsqrt(Output x, std::string_view name) { return unary("Rsqrt", "rsqrt", x, name); }
Output maximum(Output x, Output y, std::string_view name) { return binary("Maximum", "maximum", x, y, name); }
Output minimum(Output x, Output y, std::string_view name) { return binary("Minimum", "minimum", x, y, name); }
Output pow(Output x, Output y, std::string_view name) { return binary("Pow", "pow", x, y, name); }

Output cast(Output x, DType dtype, std::string_view name) {
  Graph& graph = op_util::graph_of(x, "cast");
  return op_util::make(graph, "Cast", {x}, {{"SrcT", x.dtype()}, {"DstT", dtype}, {"Truncate", false}}, name);
}

Output equal(Output x, Output y, std::string_view name) {
  Graph& graph = op_util::graph_of(x, "equal");
  if (y.node == nullptr) throw_invalid("equal", "input 1 is a null output");
  return op_util::make(graph, "Equal", {x, y}, {{"T", x.dtype()}, {"incompatible_shape_error", true}}, name);
}

Output argmax(Output x, int64_t axis, DType output_type, std::string_view name) {
  Graph& graph = op_util::graph_of(x, "argmax");
  if (axis < INT32_MIN || axis > INT32_MAX) throw_invalid("argmax", "axis ", axis, " is out of range");
  const std::string op_name = op_util::scoped_op_name(graph, name, "ArgMax");
  Output dimension =
      op_util::int32_const_input(graph, op_name, "dimension", Tensor::scalar<int32_t>(static_cast<int32_t>(axis)));
  return op_util::make_exact(graph, "ArgMax", {x, dimension},
                             {{"T", x.dtype()}, {"Tidx", DType::kInt32}, {"output_type", output_type}},
                             op_name);
}

Output reduce_sum(Output x, std::optional<std::vector<int64_t>> axes, bool keep_dims, std::string_view name) {
  return reduction("Sum", "reduce_sum", x, std::move(axes), keep_dims, name);
}

Output reduce_mean(Output x, std::optional<std::vector<int64_t>> axes, bool keep_dims, std::string_view name) {
  return reduction("Mean", "reduce_mean", x, std::move(axes), keep_dims, name);
}

}  // namespace ops
}  // namespace scopeflow
