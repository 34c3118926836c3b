#include "ops/gradient_util.h"

#include <algorithm>

#include "ops/op_util.h"
#include "scopeflow/ops.h"

namespace scopeflow::grad_util {

Output sum_to_shape(Output grad, const Shape& target) {
  const Shape& from = grad.shape();
  if (from == target) return grad;
  std::vector<int64_t> axes;
  const int offset = from.rank() - target.rank();
  for (int i = 0; i < from.rank(); ++i) {
    const int t = i - offset;
    if (t < 0 || (target.dims()[static_cast<size_t>(t)] == 1 && from.dims()[static_cast<size_t>(i)] != 1)) {
      axes.push_back(i);
    }
  }
  Output summed = axes.empty() ? grad : ops::reduce_sum(grad, axes, /*keep_dims=*/false);
  if (summed.shape() == target) return summed;
  return ops::reshape(summed, target.dims());
}

Output scalar(Graph& graph, float value, std::string_view name) {
  return ops::constant(graph, Tensor::scalar(value), name);
}

Output zeros_like(Output x) {
  Output zero = scalar(*x.graph(), 0.0f, "zeros");
  if (x.shape().rank() == 0) return zero;
  return ops::broadcast_to(zero, x.shape(), "zeros_like");
}

Output broadcast_reduced_grad(Output grad, const Shape& input, const std::vector<int>& axes) {
  Output kept = grad;
  if (grad.shape().rank() != input.rank()) {
    kept = ops::reshape(grad, op_util::reduced_shape(input, axes, /*keep_dims=*/true).dims());
  }
  if (kept.shape() == input) return kept;
  return ops::broadcast_to(kept, input);
}

std::vector<int> reduction_axes(const Node& node) {
  const Tensor& axes_value = node.input(1).node->attr<Tensor>("value");
  const int rank = node.input(0).shape().rank();
  std::vector<int> axes;
  for (int64_t a : op_util::int_values(axes_value)) axes.push_back(static_cast<int>(a < 0 ? a + rank : a));
  std::sort(axes.begin(), axes.end());
  return axes;
}

}  // namespace scopeflow::grad_util
