#pragma once
// Symbolic differentiation (tf.gradients): adds gradient nodes to the graph.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "scopeflow/graph.h"

namespace scopeflow {

/// d(sum of ys) / d xs, as tf.gradients: adds the gradient nodes under a "gradients" name scope
/// (one "<op>_grad" scope per differentiated node) and sums the contributions of every use of a
/// tensor with one AddN. A shared variable's value is one tensor, so its gradient is the sum over
/// all of its uses, in one buffer.
///
/// `grad_ys` (optional, one per y) weights each y; by default each y gets ones. The result has
/// one entry per x: an invalid Output when x does not influence ys. Only float32 tensors carry
/// gradients. Gradients of variable values are marked MemoryKind::kGradient for the allocator.
///
/// Throws Error(kInvalidArgument) for null, foreign or non-float ys and xs or mismatched grad_ys,
/// and when a gradient would have to pass through an op without one, naming the node and why.
std::vector<Output> gradients(std::span<const Output> ys, std::span<const Output> xs,
                              std::span<const Output> grad_ys = {},
                              std::string_view name = "gradients");

struct GradientOptions {
  std::span<const Output> grad_ys{};  // as above
  std::string name = "gradients";
  /// Gradient checkpointing (Chen et al. 2016): when not empty, the forward values the
  /// gradients read are these checkpoints, and every other one (a kernel's output that depends
  /// on an x; not a random op's, which could not be repeated) is recomputed in backward from
  /// the nearest checkpoints, fed values and variables, by copies of its ops under
  /// "<name>/recompute/". A copy waits (control input) for the gradient arriving at the node
  /// being differentiated when it is made, so TensorFlow's executor, too, runs it in backward.
  /// The forward values then live only until their forward readers have run: with checkpoints
  /// every k of n layers, about n/k + k layers' activations are alive at once instead of n,
  /// for about one more forward pass. The GraphDef shows the copies as plain ops.
  std::vector<Output> checkpoints{};
};
std::vector<Output> gradients(std::span<const Output> ys, std::span<const Output> xs,
                              const GradientOptions& options);
std::vector<Output> gradients(Output y, std::span<const Output> xs);
std::vector<Output> gradients(Output y, std::initializer_list<Output> xs);

/// Whether the op named `tf_op` (e.g. "MatMul") has a gradient; when it does not, the reason.
/// Throws Error(kNotFound) for an unknown op.
std::optional<std::string> non_differentiable_reason(std::string_view tf_op);

}  // namespace scopeflow
