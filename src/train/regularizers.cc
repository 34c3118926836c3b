#include "scopeflow/regularizers.h"

#include <cmath>

#include "scopeflow/error.h"
#include "scopeflow/ops.h"

namespace scopeflow {

namespace {

void check_scale(std::string_view what, double scale) {
  if (!std::isfinite(scale) || scale < 0 || scale > 3.4e38) {
    throw_invalid("regularizers", what, " must be a finite float32 >= 0, got ", scale);
  }
}

// sum(op(w)) * scale under the current name scope, as Keras writes it.
Output scaled_sum(Output reduced_input, double scale) {
  Graph& graph = *reduced_input.graph();
  return ops::mul(ops::scalar(graph, static_cast<float>(scale)), ops::reduce_sum(reduced_input));
}

}  // namespace

namespace regularizers {

Regularizer l1(double scale) {
  check_scale("l1", scale);
  return [scale](Output w) -> std::optional<Output> {
    NameScope scope = w.graph()->name_scope("l1_regularizer");
    return scaled_sum(ops::abs(w), scale);
  };
}

Regularizer l2(double scale) {
  check_scale("l2", scale);
  return [scale](Output w) -> std::optional<Output> {
    NameScope scope = w.graph()->name_scope("l2_regularizer");
    return scaled_sum(ops::square(w), scale);
  };
}

Regularizer l1_l2(double l1, double l2) {
  check_scale("l1", l1);
  check_scale("l2", l2);
  return [l1, l2](Output w) -> std::optional<Output> {
    NameScope scope = w.graph()->name_scope("l1_l2_regularizer");
    return ops::add(scaled_sum(ops::abs(w), l1), scaled_sum(ops::square(w), l2));
  };
}

Regularizer none() {
  return [](Output) -> std::optional<Output> { return std::nullopt; };
}

}  // namespace regularizers

namespace constraints {

Constraint non_neg() {
  // max(w, 0) is Relu; it equals Keras' w * (w >= 0) for every non-NaN w.
  return [](Output w) { return ops::relu(w, "non_neg"); };
}

}  // namespace constraints

}  // namespace scopeflow
