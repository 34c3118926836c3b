#include "ops/op_util.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace scopeflow::op_util {

Output make(Graph& graph, std::string op, std::vector<Output> inputs, AttrList attrs,
            std::string_view name) {
  NodeSpec spec;
  spec.op = std::move(op);
  spec.name = std::string(name);
  spec.inputs = std::move(inputs);
  spec.attrs = std::move(attrs);
  return graph.add_node(std::move(spec))->output(0);
}

Output make_exact(Graph& graph, std::string op, std::vector<Output> inputs, AttrList attrs,
                  std::string full_name) {
  NodeSpec spec;
  spec.op = std::move(op);
  spec.name = std::move(full_name);
  spec.exact_name = true;
  spec.inputs = std::move(inputs);
  spec.attrs = std::move(attrs);
  return graph.add_node(std::move(spec))->output(0);
}

std::string scoped_op_name(Graph& graph, std::string_view name, std::string_view default_name) {
  return graph.unique_name(absl::StrCat(graph.current_name_scope(), to_absl(name.empty() ? default_name : name)));
}

Output int32_const_input(Graph& graph, const std::string& op_name, std::string_view suffix, Tensor value) {
  return make_exact(graph, "Const", {}, {{"value", std::move(value)}, {"dtype", DType::kInt32}},
                    graph.unique_name(absl::StrCat(op_name, "/", to_absl(suffix))));
}

Graph& graph_of(const Output& x, std::string_view where) {
  if (x.node == nullptr) throw_invalid(where, "input is a null output");
  x.check_graph_alive(where);
  return *x.node->graph();
}

std::vector<OutputSpec> infer_float_unary(const InferenceContext& ctx) {
  ctx.expect_float(0);
  return {{DType::kFloat32, ctx.input_shape(0)}};
}

std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  const int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> dims(static_cast<size_t>(rank));
  for (int i = 0; i < rank; ++i) {
    const int ia = a.rank() - rank + i;
    const int ib = b.rank() - rank + i;
    const int64_t da = ia >= 0 ? a.dims()[static_cast<size_t>(ia)] : 1;
    const int64_t db = ib >= 0 ? b.dims()[static_cast<size_t>(ib)] : 1;
    if (da != db && da != 1 && db != 1) return std::nullopt;
    dims[static_cast<size_t>(i)] = da == 1 ? db : da;
  }
  return Shape(std::move(dims));
}

std::vector<int64_t> int_values(const Tensor& t) {
  std::vector<int64_t> out;
  if (t.dtype() == DType::kInt32) {
    for (int32_t v : t.to_vector<int32_t>()) out.push_back(v);
  } else if (t.dtype() == DType::kInt64) {
    out = t.to_vector<int64_t>();
  } else {
    throw_invalid("graph", "expected an int32 or int64 constant, got ", t.description());
  }
  return out;
}

std::vector<int> normalize_axes(const InferenceContext& ctx, const std::vector<int64_t>& axes,
                                int rank) {
  std::vector<int> out;
  for (int64_t axis : axes) {
    if (axis < -rank || axis >= rank) {
      ctx.fail("axis ", axis, " is out of range for an input of rank ", rank);
    }
    const int normalized = static_cast<int>(axis < 0 ? axis + rank : axis);
    if (std::find(out.begin(), out.end(), normalized) != out.end()) {
      ctx.fail("axis ", axis, " is repeated");
    }
    out.push_back(normalized);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Shape reduced_shape(const Shape& in, const std::vector<int>& axes, bool keep_dims) {
  std::vector<int64_t> dims;
  for (int i = 0; i < in.rank(); ++i) {
    const bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (!reduced) {
      dims.push_back(in.dims()[static_cast<size_t>(i)]);
    } else if (keep_dims) {
      dims.push_back(1);
    }
  }
  return Shape(std::move(dims));
}

MatMulDims matmul_dims(const MatMulAttrs& attrs, const Shape& a, const Shape& product) {
  MatMulDims d;
  d.transpose_a = attrs.transpose_a;
  d.transpose_b = attrs.transpose_b;
  d.m = product.dim(0);
  d.n = product.dim(1);
  d.k = d.transpose_a ? a.dim(0) : a.dim(1);
  return d;
}

MatMulDims matmul_dims(const KernelContext& ctx) {
  return matmul_dims(ctx.attr<MatMulAttrs>(), ctx.inputs[0].shape(), ctx.outputs[0].shape());
}

DecodedAttrs decode_matmul_attrs(const Node& node) {
  return MatMulAttrs{node.attr<bool>("transpose_a"), node.attr<bool>("transpose_b")};
}

DecodedAttrs decode_nesterov_attrs(const Node& node) {
  return NesterovAttrs{node.attr<bool>("use_nesterov")};
}

DecodedAttrs decode_seed_attrs(const Node& node) {
  return SeedAttrs{static_cast<uint64_t>(node.attr<int64_t>("seed")),
                   static_cast<uint64_t>(node.attr<int64_t>("seed2"))};
}

DecodedAttrs decode_constant_axes(const Node& node) {
  // Shape inference already required a Const and checked the range.
  const Node& axes_node = *node.input(1).node;
  const int rank = node.input(0).shape().rank();
  AxesAttrs attrs;
  for (int64_t axis : int_values(axes_node.attr<Tensor>("value"))) {
    attrs.axes.push_back(axis < 0 ? axis + rank : axis);
  }
  return attrs;
}

DecodedAttrs decode_perm(const Node& node) {
  return PermAttrs{int_values(node.input(1).node->attr<Tensor>("value"))};
}

AxisSplit split_at_axis(const Shape& shape, int64_t axis) {
  if (axis < 0) axis += shape.rank();
  AxisSplit split;
  for (int d = 0; d < shape.rank(); ++d) {
    const int64_t extent = shape.dim(d);
    if (d < axis) split.outer *= extent;
    if (d == axis) split.extent = extent;
    if (d > axis) split.inner *= extent;
  }
  return split;
}

}  // namespace scopeflow::op_util
