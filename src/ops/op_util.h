#pragma once
// Helpers shared by the op definitions: node construction, broadcasting and axis handling.

#include <optional>
#include <string_view>
#include <vector>

#include "ops/op_registry.h"

namespace scopeflow::op_util {

/// Adds a node named `name` (or the op's default) in the current name scope; returns output 0.
Output make(Graph& graph, std::string op, std::vector<Output> inputs, AttrList attrs,
            std::string_view name);
/// Same, for a node whose full name was already reserved with Graph::unique_name.
Output make_exact(Graph& graph, std::string op, std::vector<Output> inputs, AttrList attrs,
                  std::string full_name);
/// The graph of `x`; throws Error naming `where` when x is a null output.
Graph& graph_of(const Output& x, std::string_view where);

/// The full name of an op that owns Const inputs: `name` (else `default_name`) in the current
/// name scope, made unique.
std::string scoped_op_name(Graph& graph, std::string_view name, std::string_view default_name);
/// An int32 Const input of op `op_name`, named "<op_name>/<suffix>" as TensorFlow names the
/// lists it converts (Reshape's shape, Transpose's perm, a reduction's indices).
Output int32_const_input(Graph& graph, const std::string& op_name, std::string_view suffix, Tensor value);

/// Shape inference of a float32 elementwise unary op (Relu, Abs, ...): same dtype and shape.
std::vector<OutputSpec> infer_float_unary(const InferenceContext& ctx);

/// NumPy broadcast of two shapes, or nullopt when they are incompatible.
std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b);

/// Reads a 1-D (or scalar) int32/int64 constant as int64 values.
std::vector<int64_t> int_values(const Tensor& t);

/// Normalises reduction axes against `rank` (negative from the end); throws via ctx on
/// out-of-range or repeated axes. An empty result means "no axis".
std::vector<int> normalize_axes(const InferenceContext& ctx, const std::vector<int64_t>& axes,
                                int rank);

/// A MatMul kernel's product dimensions: op(a) (m, k) x op(b) (k, n), and its transpose attrs.
struct MatMulDims {
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  bool transpose_a = false;
  bool transpose_b = false;
};
MatMulDims matmul_dims(const KernelContext& ctx);
/// The same for a MatMul whose first operand has shape `a` and whose product has `product`.
MatMulDims matmul_dims(const MatMulAttrs& attrs, const Shape& a, const Shape& product);

// Attribute decoders (OpDef::decode_attrs), run once per plan step.
DecodedAttrs decode_matmul_attrs(const Node& node);
DecodedAttrs decode_nesterov_attrs(const Node& node);
DecodedAttrs decode_seed_attrs(const Node& node);
/// Input 1 is a Const of axes (Sum, Mean, ArgMax): its values, negative ones from the end.
DecodedAttrs decode_constant_axes(const Node& node);
/// Input 1 is Transpose's Const perm (checked to be a permutation by shape inference).
DecodedAttrs decode_perm(const Node& node);

/// A shape seen as (outer, extent, inner) around one axis (negative: from the end), as the
/// arg-max kernels walk it.
struct AxisSplit {
  int64_t outer = 1;
  int64_t extent = 1;
  int64_t inner = 1;
};
AxisSplit split_at_axis(const Shape& shape, int64_t axis);

/// Output shape of a reduction.
Shape reduced_shape(const Shape& in, const std::vector<int>& axes, bool keep_dims);

}  // namespace scopeflow::op_util
