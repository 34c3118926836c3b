// MatMul, AddV2, Sub, Mul, Sum, Mean.

#include "absl/strings/str_cat.h"
#include "cpu/cpu_kernels.h"
#include "ops/op_util.h"
#include "scopeflow/ops.h"

namespace scopeflow {

namespace {

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

std::vector<OutputSpec> infer_binary(const InferenceContext& ctx) {
  ctx.expect_dtype(0, {DType::kFloat32, DType::kInt32, DType::kInt64});
  if (ctx.input_dtype(0) != ctx.input_dtype(1)) {
    ctx.fail("inputs have different dtypes: ", dtype_name(ctx.input_dtype(0)), " and ",
             dtype_name(ctx.input_dtype(1)));
  }
  std::optional<Shape> out = op_util::broadcast_shapes(ctx.input_shape(0), ctx.input_shape(1));
  if (!out) {
    ctx.fail("shapes ", ctx.input_shape(0).to_string(), " and ", ctx.input_shape(1).to_string(),
             " are not broadcast-compatible");
  }
  return {{ctx.input_dtype(0), std::move(*out)}};
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

Output reduction(std::string op, std::string_view builder, Output x,
                 std::optional<std::vector<int64_t>> axes, bool keep_dims, std::string_view name) {
  Graph& graph = op_util::graph_of(x, builder);
  std::vector<int32_t> values;
  if (axes) {
    for (int64_t a : *axes) values.push_back(static_cast<int32_t>(std::clamp<int64_t>(a, INT32_MIN, INT32_MAX)));
  } else {
    for (int i = 0; i < x.shape().rank(); ++i) values.push_back(i);
  }
  const std::string op_name =
      graph.unique_name(graph.current_name_scope() + (name.empty() ? op : std::string(name)));
  Tensor axes_tensor = Tensor::from_vector<int32_t>(Shape{static_cast<int64_t>(values.size())}, values);
  Output axes_node = op_util::make_exact(graph, "Const", {}, {{"value", axes_tensor}, {"dtype", DType::kInt32}},
                                         graph.unique_name(absl::StrCat(op_name, "/reduction_indices")));
  return op_util::make_exact(graph, std::move(op), {x, axes_node},
                             {{"keep_dims", keep_dims}, {"T", x.dtype()}, {"Tidx", DType::kInt32}},
                             op_name);
}

}  // namespace

void register_math_ops() {
  register_op({.tf_name = "MatMul", .builder_name = "matmul", .default_name = "MatMul",
               .num_inputs = 2, .infer = infer_matmul, .cpu_kernel = cpu::matmul,
               .cuda_note = "cuBLAS GEMM lands with the CUDA backend"});
  register_op({.tf_name = "AddV2", .builder_name = "add", .default_name = "add", .num_inputs = 2,
               .infer = infer_binary, .cpu_kernel = cpu::add,
               .cuda_note = "elementwise CUDA kernel lands with the CUDA backend"});
  register_op({.tf_name = "Sub", .builder_name = "sub", .default_name = "sub", .num_inputs = 2,
               .infer = infer_binary, .cpu_kernel = cpu::sub,
               .cuda_note = "elementwise CUDA kernel lands with the CUDA backend"});
  register_op({.tf_name = "Mul", .builder_name = "mul", .default_name = "mul", .num_inputs = 2,
               .infer = infer_binary, .cpu_kernel = cpu::mul,
               .cuda_note = "elementwise CUDA kernel lands with the CUDA backend"});
  register_op({.tf_name = "Sum", .builder_name = "reduce_sum", .default_name = "Sum",
               .num_inputs = 2, .infer = infer_reduction, .cpu_kernel = cpu::sum,
               .cuda_note = "CUB reduction lands with the CUDA backend"});
  register_op({.tf_name = "Mean", .builder_name = "reduce_mean", .default_name = "Mean",
               .num_inputs = 2, .infer = infer_reduction, .cpu_kernel = cpu::mean,
               .cuda_note = "CUB reduction lands with the CUDA backend"});
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

Output reduce_sum(Output x, std::optional<std::vector<int64_t>> axes, bool keep_dims, std::string_view name) {
  return reduction("Sum", "reduce_sum", x, std::move(axes), keep_dims, name);
}

Output reduce_mean(Output x, std::optional<std::vector<int64_t>> axes, bool keep_dims, std::string_view name) {
  return reduction("Mean", "reduce_mean", x, std::move(axes), keep_dims, name);
}

}  // namespace ops
}  // namespace scopeflow
