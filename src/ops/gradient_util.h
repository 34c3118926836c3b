#pragma once
// Helpers for the gradient functions of the op table.

#include <vector>

#include "ops/op_registry.h"

namespace scopeflow::grad_util {

/// Sums `grad` over the dimensions along which `target` was broadcast, then reshapes it to
/// `target` (the gradient of NumPy broadcasting). Returns grad itself when shapes match.
Output sum_to_shape(Output grad, const Shape& target);

/// A float32 scalar Const in the current name scope.
Output scalar(Graph& graph, float value, std::string_view name = "Const");

/// tf.zeros_like of a float32 tensor: a scalar zero broadcast to its shape (TensorFlow's
/// zeros/Fill), so the graph holds one element however large x is.
Output zeros_like(Output x);

/// `grad` of a reduced value, reshaped to the kept-dims shape and broadcast to `input`.
Output broadcast_reduced_grad(Output grad, const Shape& input, const std::vector<int>& axes);

/// The normalized axes of a reduction node (input 1 is its constant axes).
std::vector<int> reduction_axes(const Node& node);

}  // namespace scopeflow::grad_util
