// Optimizers with TensorFlow 1 graph structure: "<name>/update_<var>/Apply*" per variable, slot
// variables "<var>/<name>", and a NoOp "<name>" that runs every update.

#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "scopeflow/gradients.h"
#include "scopeflow/ops.h"
#include "scopeflow/train.h"

namespace scopeflow::train {

namespace {

std::string slot_key(const Variable& var, std::string_view slot_name) {
  return absl::StrCat(var.node()->name(), "\n", to_absl(slot_name));
}

void check_hyperparameter(std::string_view where, std::string_view name, float value, bool positive) {
  if (!std::isfinite(value) || value < 0.0f || (positive && value == 0.0f)) {
    throw_invalid(where, name, " must be ", positive ? "positive" : "non-negative", " and finite, got ", value);
  }
}

}  // namespace

std::vector<GradientAndVariable> Optimizer::compute_gradients(Output loss, std::vector<Variable> var_list) {
  if (!loss.valid()) throw_invalid(name_, "loss is a null output");
  loss.check_graph_alive(name_);
  if (!is_floating(loss.dtype())) throw_invalid(name_, "loss '", loss.name(), "' must be float32, got ", dtype_name(loss.dtype()));
  Graph& graph = *loss.graph();
  if (var_list.empty()) var_list = trainable_variables(graph);
  if (var_list.empty()) throw_invalid(name_, "the graph has no trainable variables to optimize");
  std::vector<Variable> unique;
  absl::flat_hash_set<const Node*> seen;
  for (const Variable& v : var_list) {
    if (!v.valid()) throw_invalid(name_, "var_list holds an invalid variable handle");
    if (v.node()->graph() != &graph) throw_invalid(name_, "variable '", v.name(), "' belongs to another graph than the loss");
    if (!is_floating(v.dtype())) throw_invalid(name_, "variable '", v.name(), "' is ", dtype_name(v.dtype()), "; only float32 variables can be trained");
    if (seen.insert(v.node()).second) unique.push_back(v);
  }
  std::vector<Output> xs;
  for (const Variable& v : unique) xs.push_back(v.value());
  GradientOptions options;
  options.checkpoints = checkpoints_;
  std::vector<Output> grads = gradients(std::span<const Output>(&loss, 1), xs, options);
  std::vector<GradientAndVariable> result;
  for (size_t i = 0; i < unique.size(); ++i) {
    if (grads[i].valid()) result.push_back({grads[i], unique[i]});
  }
  if (result.empty()) {
    throw_invalid(name_, "no gradients for any variable: loss '", loss.name(), "' depends on none of the ",
                  unique.size(), " variables");
  }
  return result;
}

Node* Optimizer::apply_gradients(std::span<const GradientAndVariable> grads_and_vars, std::string_view name) {
  if (grads_and_vars.empty()) throw_invalid(name_, "no (gradient, variable) pairs to apply");
  Graph& graph = *grads_and_vars[0].variable.node()->graph();
  std::vector<Variable> vars;
  absl::flat_hash_set<const Node*> seen;
  for (const GradientAndVariable& gv : grads_and_vars) {
    if (!gv.variable.valid() || !gv.gradient.valid()) throw_invalid(name_, "a gradient or variable handle is invalid");
    const Variable& v = gv.variable;
    if (v.node()->graph() != &graph || gv.gradient.graph() != &graph) {
      throw_invalid(name_, "variable '", v.name(), "' or its gradient belongs to another graph");
    }
    if (!seen.insert(v.node()).second) {
      throw_invalid(name_, "variable '", v.name(), "' is listed twice; a variable is updated once per step, "
                    "with the sum of its gradients");
    }
    if (gv.gradient.dtype() != v.dtype() || gv.gradient.shape() != v.shape()) {
      throw_invalid(name_, "gradient '", gv.gradient.name(), "' is ", dtype_name(gv.gradient.dtype()), " ",
                    gv.gradient.shape().to_string(), " but variable '", v.name(), "' is ",
                    dtype_name(v.dtype()), " ", v.shape().to_string());
    }
    vars.push_back(v);
  }
  create_slots(graph, vars);

  NameScope scope = graph.name_scope(name.empty() ? std::string_view(name_) : name);
  prepare(graph);
  std::vector<Node*> updates;
  for (const GradientAndVariable& gv : grads_and_vars) {
    NameScope update_scope = graph.name_scope(absl::StrCat("update_", gv.variable.node()->name()));
    std::vector<Node*> applied = apply_dense(graph, gv.gradient, gv.variable);
    updates.insert(updates.end(), applied.begin(), applied.end());
    if (const Constraint& constraint = gv.variable.info().constraint) {
      // TF1's apply_gradients: var.assign(constraint(var)) after the update. The constraint's ops
      // read the variable's buffer, so they must run after the update too.
      ControlDependencies after_update = graph.control_dependencies(applied);
      Output projected = constraint(gv.variable.info().read->output(0));
      const Variable& v = gv.variable;
      if (!projected.valid() || projected.graph() != &graph || projected.dtype() != v.dtype() ||
          projected.shape() != v.shape()) {
        throw_invalid(name_, "the constraint of variable '", v.name(), "' must return a ", dtype_name(v.dtype()),
                      " ", v.shape().to_string(), " tensor of the graph, got ",
                      projected.valid() ? absl::StrCat(dtype_name(projected.dtype()), " ", projected.shape().to_string())
                                        : std::string("a null output"));
      }
      updates.push_back(ops::assign(v, projected, "constraint"));
    }
  }
  std::vector<Node*> last = finish(graph, updates);
  updates.insert(updates.end(), last.begin(), last.end());
  // The NoOp takes the scope's own name ("Adam" for scope "Adam/"), as TensorFlow's group does.
  std::string op_name = scope.name();
  op_name.pop_back();
  NodeSpec spec;
  spec.op = "NoOp";
  spec.name = op_name;
  spec.exact_name = true;
  spec.control_inputs = std::move(updates);
  return graph.add_node(std::move(spec));
}

Node* Optimizer::minimize(Output loss, std::vector<Variable> var_list, std::string_view name) {
  std::vector<GradientAndVariable> gvs = compute_gradients(loss, std::move(var_list));
  return apply_gradients(gvs, name);
}

std::optional<Variable> Optimizer::slot(const Variable& var, std::string_view slot_name) const {
  if (!var.valid()) return std::nullopt;
  auto it = slots_.find(slot_key(var, slot_name));
  if (it == slots_.end()) return std::nullopt;
  return it->second;
}

std::vector<Variable> Optimizer::slot_variables() const { return slot_order_; }

void Optimizer::create_slots(Graph&, std::span<const Variable>) {}

std::vector<Node*> Optimizer::finish(Graph&, const std::vector<Node*>&) { return {}; }

Variable Optimizer::zeros_slot(Graph& graph, const Variable& var, std::string_view slot_name) {
  const std::string key = slot_key(var, slot_name);
  if (auto it = slots_.find(key); it != slots_.end()) return it->second;
  // "<var>/<optimizer name>", uniquified ("<var>/Adam_1"), as TensorFlow names slots.
  NameScope scope = graph.name_scope(absl::StrCat(var.node()->name(), "/"));
  Variable slot_var = variable(graph, name_,
                               {.shape = var.shape(), .dtype = var.dtype(), .initializer = init::zeros(),
                                .trainable = false, .memory_kind = MemoryKind::kOptimizerSlot});
  slots_.emplace(key, slot_var);
  slot_order_.push_back(slot_var);
  return slot_var;
}

Variable Optimizer::scalar_variable(Graph& graph, std::string_view name, float initial_value) {
  NameScope scope = graph.name_scope("");
  // One scalar for all variables (the step count state), not a per-variable slot: counted as
  // "other" memory so that optimizer-slot bytes are exactly the per-variable state.
  Variable v = variable(graph, name,
                        {.shape = Shape{}, .dtype = DType::kFloat32, .initializer = init::constant(initial_value),
                         .trainable = false, .memory_kind = MemoryKind::kOther});
  non_slot_variables_.push_back(v);
  return v;
}

Output Optimizer::hyperparameter(Graph& graph, std::string_view const_name, float value) {
  return ops::constant(graph, Tensor::scalar(value), const_name);
}

// --- GradientDescent --------------------------------------------------------------------------

GradientDescent::GradientDescent(float learning_rate, std::string name)
    : Optimizer(std::move(name)), learning_rate_(learning_rate) {
  check_hyperparameter("GradientDescent", "learning_rate", learning_rate, /*positive=*/false);
}

void GradientDescent::prepare(Graph& graph) {
  learning_rate_tensor_ = hyperparameter(graph, "learning_rate", learning_rate_);
}

std::vector<Node*> GradientDescent::apply_dense(Graph&, Output gradient, const Variable& var) {
  return {ops::apply_gradient_descent(var, learning_rate_tensor_, gradient)};
}

// --- Momentum ---------------------------------------------------------------------------------

Momentum::Momentum(float learning_rate, float momentum, bool use_nesterov, std::string name)
    : Optimizer(std::move(name)), learning_rate_(learning_rate), momentum_(momentum), use_nesterov_(use_nesterov) {
  check_hyperparameter("Momentum", "learning_rate", learning_rate, /*positive=*/false);
  check_hyperparameter("Momentum", "momentum", momentum, /*positive=*/false);
}

void Momentum::create_slots(Graph& graph, std::span<const Variable> vars) {
  for (const Variable& v : vars) zeros_slot(graph, v, "momentum");
}

void Momentum::prepare(Graph& graph) {
  learning_rate_tensor_ = hyperparameter(graph, "learning_rate", learning_rate_);
  momentum_tensor_ = hyperparameter(graph, "momentum", momentum_);
}

std::vector<Node*> Momentum::apply_dense(Graph&, Output gradient, const Variable& var) {
  return {ops::apply_momentum(var, *slot(var, "momentum"), learning_rate_tensor_, gradient, momentum_tensor_,
                              use_nesterov_)};
}

// --- Adam -------------------------------------------------------------------------------------

Adam::Adam(AdamOptions options, std::string name)
    : Optimizer(name.empty() ? std::string(options.weight_decay > 0.0f ? "AdamW" : "Adam") : std::move(name)),
      options_(options) {
  check_hyperparameter("Adam", "learning_rate", options.learning_rate, /*positive=*/false);
  check_hyperparameter("Adam", "epsilon", options.epsilon, /*positive=*/true);
  check_hyperparameter("Adam", "weight_decay", options.weight_decay, /*positive=*/false);
  if (!(options.beta1 >= 0.0f && options.beta1 < 1.0f) || !(options.beta2 >= 0.0f && options.beta2 < 1.0f)) {
    throw_invalid("Adam", "beta1 and beta2 must be in [0, 1), got ", options.beta1, " and ", options.beta2);
  }
}

void Adam::create_slots(Graph& graph, std::span<const Variable> vars) {
  if (!beta1_power_.valid()) {
    beta1_power_ = scalar_variable(graph, "beta1_power", options_.beta1);
    beta2_power_ = scalar_variable(graph, "beta2_power", options_.beta2);
  }
  for (const Variable& v : vars) {
    zeros_slot(graph, v, "m");
    zeros_slot(graph, v, "v");
  }
}

void Adam::prepare(Graph& graph) {
  inputs_.beta1_power = beta1_power_.value();
  inputs_.beta2_power = beta2_power_.value();
  inputs_.lr = hyperparameter(graph, "learning_rate", options_.learning_rate);
  inputs_.beta1 = hyperparameter(graph, "beta1", options_.beta1);
  inputs_.beta2 = hyperparameter(graph, "beta2", options_.beta2);
  inputs_.epsilon = hyperparameter(graph, "epsilon", options_.epsilon);
  if (options_.weight_decay > 0.0f) {
    decay_rate_ = hyperparameter(graph, "decay_rate", options_.learning_rate * options_.weight_decay);
  }
}

std::vector<Node*> Adam::apply_dense(Graph& graph, Output gradient, const Variable& var) {
  std::vector<Node*> nodes;
  if (options_.weight_decay > 0.0f) {
    // Decoupled decay from the value before this step. The control input on the gradient keeps TensorFlow's
    // executor from decaying the variable while gradients still read it.
    NodeSpec decay;
    decay.op = "AssignSub";
    decay.name = "weight_decay";
    decay.inputs = {var.node()->output(0), ops::mul(decay_rate_, var.value())};
    decay.control_inputs = {gradient.node};
    decay.attrs = {{"T", var.dtype()}, {"use_locking", false}};
    nodes.push_back(graph.add_node(std::move(decay)));
  }
  // After the decay, which must read the variable before Adam moves it.
  nodes.push_back(ops::apply_adam(var, *slot(var, "m"), *slot(var, "v"), inputs_, gradient, false, "", nodes));
  return nodes;
}

std::vector<Node*> Adam::finish(Graph& graph, const std::vector<Node*>& updates) {
  // beta^t advances after every update has read it (control dependencies, as TensorFlow 1).
  std::vector<Node*> out;
  for (auto [power, beta] : {std::pair{beta1_power_, inputs_.beta1}, std::pair{beta2_power_, inputs_.beta2}}) {
    Output next = ops::mul(power.value(), beta);
    NodeSpec spec;
    spec.op = "Assign";
    spec.name = "Assign";
    spec.inputs = {power.node()->output(0), next};
    spec.control_inputs = updates;
    spec.attrs = {{"T", DType::kFloat32}, {"validate_shape", true}, {"use_locking", false}};
    out.push_back(graph.add_node(std::move(spec)));
  }
  return out;
}

}  // namespace scopeflow::train
