#pragma once
// Variable updates and optimizers (tf.compat.v1.train): SGD, Momentum (optionally Nesterov),
// Adam and AdamW-style decoupled weight decay. Each builds TensorFlow's own update ops, with one
// slot variable per unique variable, updated in place in the variable's one buffer.

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "scopeflow/graph.h"
#include "scopeflow/scope.h"

namespace scopeflow::ops {

/// tf.assign: copies `value` into the variable's buffer when run; returns the Assign node.
Node* assign(const Variable& ref, Output value, std::string_view name = "");
/// tf.assign_sub: ref -= value, in place.
Node* assign_sub(const Variable& ref, Output value, std::string_view name = "");
/// ApplyGradientDescent: var -= alpha * delta.
Node* apply_gradient_descent(const Variable& var, Output alpha, Output delta, std::string_view name = "");
/// ApplyMomentum: accum = accum * momentum + grad; var -= lr * accum (Nesterov:
/// var -= lr * grad + lr * momentum * accum).
Node* apply_momentum(const Variable& var, const Variable& accum, Output lr, Output grad,
                     Output momentum, bool use_nesterov = false, std::string_view name = "");
/// The scalar inputs of ApplyAdam.
struct AdamInputs {
  Output beta1_power;
  Output beta2_power;
  Output lr;
  Output beta1;
  Output beta2;
  Output epsilon;
};
/// ApplyAdam: m, v moments; var -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps).
/// `control_inputs` run first.
Node* apply_adam(const Variable& var, const Variable& m, const Variable& v, const AdamInputs& inputs,
                 Output grad, bool use_nesterov = false, std::string_view name = "",
                 std::vector<Node*> control_inputs = {});

}  // namespace scopeflow::ops

namespace scopeflow::train {

/// A (gradient, variable) pair as compute_gradients returns it.
struct GradientAndVariable {
  Output gradient;
  Variable variable;
};

/// Base of the optimizers (tf.compat.v1.train.Optimizer).
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Gradients of `loss` (a float32 scalar) for `var_list` (default: the graph's trainable
  /// variables), each variable once however often it is used. Variables `loss` does not depend
  /// on are left out; throws Error when none remains.
  std::vector<GradientAndVariable> compute_gradients(Output loss, std::vector<Variable> var_list = {});
  /// Adds one update per variable and returns a NoOp (named after the optimizer) that runs them
  /// all. A variable listed twice is an error: a shared variable is updated exactly once.
  Node* apply_gradients(std::span<const GradientAndVariable> grads_and_vars, std::string_view name = "");
  /// compute_gradients + apply_gradients.
  Node* minimize(Output loss, std::vector<Variable> var_list = {}, std::string_view name = "");
  /// Gradient checkpointing for the gradients this optimizer computes from now on: keep these
  /// forward values and recompute the others in backward (GradientOptions::checkpoints).
  /// Empty (the default): every forward value the gradients read is kept.
  void set_gradient_checkpoints(std::vector<Output> checkpoints) { checkpoints_ = std::move(checkpoints); }

  /// The slot variable `slot_name` (e.g. "m", "v", "momentum") of `var`, if created.
  std::optional<Variable> slot(const Variable& var, std::string_view slot_name) const;
  /// Every slot variable created so far (one per (variable, slot name)).
  std::vector<Variable> slot_variables() const;
  /// Variables of the optimizer that are not per-variable slots (Adam's beta1_power, beta2_power).
  const std::vector<Variable>& non_slot_variables() const { return non_slot_variables_; }
  const std::string& name() const { return name_; }

 private:
  std::vector<Output> checkpoints_;

 protected:
  explicit Optimizer(std::string name) : name_(std::move(name)) {}
  /// Creates the slots of every variable before any update is built.
  virtual void create_slots(Graph& graph, std::span<const Variable> vars);
  /// Creates the hyperparameter constants inside the optimizer's name scope.
  virtual void prepare(Graph& graph) = 0;
  /// The update ops of one variable; called inside the "<name>/update_<var>" name scope.
  virtual std::vector<Node*> apply_dense(Graph& graph, Output gradient, const Variable& var) = 0;
  /// Ops that run after every update (Adam's beta power updates); default: none.
  virtual std::vector<Node*> finish(Graph& graph, const std::vector<Node*>& updates);

  /// A zero-initialized slot variable "<var>/<optimizer name>[_k]", counted by the allocator as
  /// optimizer state.
  Variable zeros_slot(Graph& graph, const Variable& var, std::string_view slot_name);
  /// A non-trainable scalar optimizer variable at the graph root (e.g. "beta1_power").
  Variable scalar_variable(Graph& graph, std::string_view name, float initial_value);
  /// A float32 scalar Const named `const_name` in the current name scope.
  static Output hyperparameter(Graph& graph, std::string_view const_name, float value);

 private:
  std::string name_;
  absl::flat_hash_map<std::string, Variable> slots_;  // "<var name>\n<slot name>" -> slot
  std::vector<Variable> slot_order_;
  std::vector<Variable> non_slot_variables_;
};

/// tf.compat.v1.train.GradientDescentOptimizer.
class GradientDescent final : public Optimizer {
 public:
  explicit GradientDescent(float learning_rate, std::string name = "GradientDescent");

 private:
  void prepare(Graph& graph) override;
  std::vector<Node*> apply_dense(Graph& graph, Output gradient, const Variable& var) override;
  float learning_rate_;
  Output learning_rate_tensor_;
};

/// tf.compat.v1.train.MomentumOptimizer; slot "momentum" per variable.
class Momentum final : public Optimizer {
 public:
  Momentum(float learning_rate, float momentum, bool use_nesterov = false, std::string name = "Momentum");

 private:
  void create_slots(Graph& graph, std::span<const Variable> vars) override;
  void prepare(Graph& graph) override;
  std::vector<Node*> apply_dense(Graph& graph, Output gradient, const Variable& var) override;
  float learning_rate_;
  float momentum_;
  bool use_nesterov_;
  Output learning_rate_tensor_;
  Output momentum_tensor_;
};

struct AdamOptions {
  float learning_rate = 0.001f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  /// Decoupled weight decay (AdamW, Loshchilov & Hutter): var -= learning_rate * weight_decay *
  /// var each step, next to the Adam update and not through the moments. 0 = plain Adam.
  float weight_decay = 0.0f;
};

/// tf.compat.v1.train.AdamOptimizer (slots "m" and "v" per variable, named "<var>/Adam" and
/// "<var>/Adam_1"), with optional decoupled weight decay.
class Adam final : public Optimizer {
 public:
  explicit Adam(AdamOptions options = {}, std::string name = "");

 private:
  void create_slots(Graph& graph, std::span<const Variable> vars) override;
  void prepare(Graph& graph) override;
  std::vector<Node*> apply_dense(Graph& graph, Output gradient, const Variable& var) override;
  std::vector<Node*> finish(Graph& graph, const std::vector<Node*>& updates) override;
  AdamOptions options_;
  Variable beta1_power_;
  Variable beta2_power_;
  ops::AdamInputs inputs_;
  Output decay_rate_;  // learning_rate * weight_decay, when weight_decay > 0
};

}  // namespace scopeflow::train
