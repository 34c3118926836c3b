#pragma once
// Weight regularizers (tf.keras.regularizers) and constraints (tf.keras.constraints) for
// get_variable and variable scopes.

#include "scopeflow/scope.h"

namespace scopeflow::regularizers {

/// scale * sum(|w|), as tf.keras.regularizers.l1; scale >= 0 and finite.
Regularizer l1(double scale = 0.01);
/// scale * sum(w^2), as tf.keras.regularizers.l2 (no 1/2 factor, unlike tf.nn.l2_loss).
Regularizer l2(double scale = 0.01);
/// l1 * sum(|w|) + l2 * sum(w^2), as tf.keras.regularizers.l1_l2.
Regularizer l1_l2(double l1 = 0.01, double l2 = 0.01);
/// No loss: set on a variable or a scope to switch an inherited regularizer off.
Regularizer none();

}  // namespace scopeflow::regularizers

namespace scopeflow::constraints {

/// Projects onto w >= 0 after every update (tf.keras.constraints.NonNeg), as max(w, 0).
Constraint non_neg();

}  // namespace scopeflow::constraints
