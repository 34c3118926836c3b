// tf.gradients: reverse-mode differentiation over the static graph.

#include "scopeflow/gradients.h"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "ops/op_registry.h"
#include "scopeflow/ops.h"

namespace scopeflow {

namespace {

constexpr std::string_view kWhere = "gradients";

void check_output(const Output& o, const Graph* graph, std::string_view role, size_t i) {
  if (!o.valid()) throw_invalid(kWhere, role, " ", i, " is a null output");
  o.check_graph_alive(kWhere);
  if (graph != nullptr && o.graph() != graph) {
    throw_invalid(kWhere, role, " ", i, " ('", o.name(), "') belongs to another graph");
  }
  if (!is_floating(o.dtype())) {
    throw_invalid(kWhere, role, " ", i, " ('", o.name(), "') is ", dtype_name(o.dtype()),
                  "; only float32 tensors have gradients");
  }
}

// True for the value a variable's users read (its "read" Identity) or the variable itself.
bool is_variable_value(const Output& x) {
  const Node* n = x.node;
  if (n->op() == "VariableV2") return true;
  return n->op() == "Identity" && n->input(0).node->op() == "VariableV2";
}

// TensorFlow's GATE_OP (tf.tuple): when an op passes gradients to several inputs, none of them
// is used before all are computed. An update of a variable can then never run before a gradient
// that still reads the variable's old value, in TensorFlow's executor as in ours. The
// Identities forward their input's buffer: no copies.
void gate(Graph& graph, const Node& node, std::vector<Output>& input_grads,
          const absl::flat_hash_set<Output>& depends_on_x) {
  std::vector<size_t> flowing;
  for (size_t i = 0; i < input_grads.size() && i < static_cast<size_t>(node.num_inputs()); ++i) {
    if (input_grads[i].valid() && depends_on_x.contains(node.inputs()[i])) flowing.push_back(i);
  }
  if (flowing.size() < 2) return;
  NameScope tuple_scope = graph.name_scope("tuple");
  NodeSpec group;
  group.op = "NoOp";
  group.name = "group_deps";
  for (size_t i : flowing) group.control_inputs.push_back(input_grads[i].node);
  Node* group_node = graph.add_node(std::move(group));
  for (size_t i : flowing) {
    NodeSpec identity;
    identity.op = "Identity";
    identity.name = "control_dependency";
    identity.inputs = {input_grads[i]};
    identity.control_inputs = {group_node};
    identity.attrs = {{"T", input_grads[i].dtype()}};
    input_grads[i] = graph.add_node(std::move(identity))->output(0);
  }
}

// The output that owns the buffer of `g`, looking through forwarding ops (Identity, Reshape).
Output buffer_owner(Output g) {
  while (g.node->op_def().execution == ExecutionKind::kForwardInput) g = g.node->input(0);
  return g;
}

}  // namespace

std::optional<std::string> non_differentiable_reason(std::string_view tf_op) {
  const OpDef* op = find_op(tf_op);
  if (op == nullptr) throw_error(absl::StatusCode::kNotFound, kWhere, "unknown op '", tf_op, "'");
  if (op->gradient != nullptr) return std::nullopt;
  return op->no_gradient.empty() ? std::string("no gradient is defined") : op->no_gradient;
}

std::vector<Output> gradients(std::span<const Output> ys, std::span<const Output> xs,
                              std::span<const Output> grad_ys, std::string_view name) {
  GradientOptions options;
  options.grad_ys = grad_ys;
  options.name = std::string(name);
  return gradients(ys, xs, options);
}

namespace {

// Copies of forward nodes for gradient checkpointing (GradientOptions::checkpoints), made on
// first need and reused after.
class Recomputation {
 public:
  Recomputation(Graph& graph, const absl::flat_hash_set<Output>& checkpoints,
                const absl::flat_hash_set<Output>& depends_on_x, std::string scope)
      : graph_(graph), checkpoints_(checkpoints), depends_on_x_(depends_on_x), scope_(std::move(scope)) {}

  /// The node whose inputs the gradient of `node` reads: `node`, or its copy over recomputed
  /// inputs. Copies made now wait for `trigger` (the gradient arriving at `node`).
  Node& for_gradient(Node& node, Node* trigger) {
    trigger_ = trigger;
    bool any_recomputed = false;
    std::vector<Output> inputs;
    for (const Output& in : node.inputs()) {
      inputs.push_back(value(in));
      any_recomputed = any_recomputed || inputs.back() != in;
    }
    if (!any_recomputed) return node;
    return *copy(node, std::move(inputs));
  }

 private:
  // A forward value the gradients may read: kept when a checkpoint, not dependent on an x,
  // or not repeatable; else recomputed.
  Output value(const Output& v) {
    if (checkpoints_.contains(v) || !depends_on_x_.contains(v)) return v;
    const OpDef& op = v.node->op_def();
    const bool repeatable = !op.stateful && (op.execution == ExecutionKind::kKernel ||
                                             op.execution == ExecutionKind::kForwardInput);
    if (!repeatable) return v;
    if (auto it = copies_.find(v.node); it != copies_.end()) return it->second->output(v.index);
    std::vector<Output> inputs;
    for (const Output& in : v.node->inputs()) inputs.push_back(value(in));
    return copy(*v.node, std::move(inputs))->output(v.index);
  }

  Node* copy(const Node& node, std::vector<Output> inputs) {
    if (auto it = copies_.find(&node); it != copies_.end()) return it->second;
    NameScope scope = graph_.name_scope(scope_);
    NodeSpec spec;
    spec.op = node.op();
    spec.name = node.name();
    spec.inputs = std::move(inputs);
    spec.control_inputs = node.control_inputs();
    if (trigger_ != nullptr) spec.control_inputs.push_back(trigger_);
    spec.attrs = node.attrs();
    Node* made = graph_.add_node(std::move(spec));
    made->set_device(node.device());
    copies_.emplace(&node, made);
    return made;
  }

  Graph& graph_;
  const absl::flat_hash_set<Output>& checkpoints_;
  const absl::flat_hash_set<Output>& depends_on_x_;
  std::string scope_;  // absolute: "gradients/recompute/"
  Node* trigger_ = nullptr;
  absl::flat_hash_map<const Node*, Node*> copies_;
};

}  // namespace

std::vector<Output> gradients(std::span<const Output> ys, std::span<const Output> xs,
                              const GradientOptions& options) {
  const std::span<const Output> grad_ys = options.grad_ys;
  const std::string_view name = options.name;
  if (ys.empty()) throw_invalid(kWhere, "ys is empty");
  check_output(ys[0], nullptr, "y", 0);
  Graph& graph = *ys[0].graph();
  for (size_t i = 0; i < ys.size(); ++i) check_output(ys[i], &graph, "y", i);
  for (size_t i = 0; i < xs.size(); ++i) check_output(xs[i], &graph, "x", i);
  if (!grad_ys.empty() && grad_ys.size() != ys.size()) {
    throw_invalid(kWhere, "got ", grad_ys.size(), " grad_ys for ", ys.size(), " ys");
  }
  for (size_t i = 0; i < grad_ys.size(); ++i) {
    check_output(grad_ys[i], &graph, "grad_y", i);
    if (grad_ys[i].shape() != ys[i].shape()) {
      throw_invalid(kWhere, "grad_y ", i, " has shape ", grad_ys[i].shape().to_string(), " but y ", i,
                    " ('", ys[i].name(), "') has shape ", ys[i].shape().to_string());
    }
  }

  // Forward: float outputs that depend on some x. Node ids are a topological order.
  absl::flat_hash_set<Output> depends_on_x(xs.begin(), xs.end());
  int first = graph.num_nodes();
  for (const Output& x : xs) first = std::min(first, x.node->id());
  for (int id = first; id < graph.num_nodes(); ++id) {
    Node* node = graph.nodes()[static_cast<size_t>(id)].get();
    bool fed_by_x = false;
    for (const Output& in : node->inputs()) fed_by_x = fed_by_x || (is_floating(in.dtype()) && depends_on_x.contains(in));
    if (!fed_by_x) continue;
    for (int i = 0; i < node->num_outputs(); ++i) {
      if (is_floating(node->output_dtype(i))) depends_on_x.insert(node->output(i));
    }
  }
  // Backward: nodes some y depends on.
  absl::flat_hash_set<const Node*> needed;
  int last = 0;
  for (const Output& y : ys) {
    needed.insert(y.node);
    last = std::max(last, y.node->id());
  }
  for (int id = last; id >= 0; --id) {
    const Node* node = graph.nodes()[static_cast<size_t>(id)].get();
    if (!needed.contains(node)) continue;
    for (const Output& in : node->inputs()) needed.insert(in.node);
  }

  absl::flat_hash_set<Output> checkpoints;
  for (size_t i = 0; i < options.checkpoints.size(); ++i) {
    const Output& c = options.checkpoints[i];
    if (!c.valid()) throw_invalid(kWhere, "checkpoint ", i, " is a null output");
    if (c.node->graph() != &graph) throw_invalid(kWhere, "checkpoint ", i, " ('", c.name(), "') belongs to another graph");
    checkpoints.insert(c);
  }

  const int first_new_node = graph.num_nodes();
  NameScope scope = graph.name_scope(name);
  std::optional<Recomputation> recompute;
  if (!checkpoints.empty()) recompute.emplace(graph, checkpoints, depends_on_x, scope.name() + "recompute/");
  absl::flat_hash_map<Output, std::vector<Output>> pending;  // contributions per tensor
  absl::flat_hash_map<Output, Output> total;                  // summed gradient per tensor
  for (size_t i = 0; i < ys.size(); ++i) {
    Output seed = grad_ys.empty() ? Output{} : grad_ys[i];
    if (!seed.valid()) {
      Tensor ones(DType::kFloat32, ys[i].shape());
      std::fill_n(ones.data<float>(), ones.num_elements(), 1.0f);
      seed = ops::constant(graph, ones, absl::StrCat("grad_ys_", i));
    }
    pending[ys[i]].push_back(seed);
  }
  auto sum_of = [&](const Output& tensor) -> Output {
    if (auto it = total.find(tensor); it != total.end()) return it->second;
    auto it = pending.find(tensor);
    if (it == pending.end() || it->second.empty()) return Output{};
    Output summed = it->second.size() == 1 ? it->second[0] : ops::add_n(it->second);
    total.emplace(tensor, summed);
    return summed;
  };

  for (int id = last; id >= first; --id) {
    Node* node = graph.nodes()[static_cast<size_t>(id)].get();
    if (!needed.contains(node)) continue;
    bool differentiate = false;
    for (const Output& in : node->inputs()) differentiate = differentiate || depends_on_x.contains(in);
    if (!differentiate) continue;
    std::vector<Output> grad_outputs;
    bool any = false;
    for (int i = 0; i < node->num_outputs(); ++i) {
      grad_outputs.push_back(sum_of(node->output(i)));
      any = any || grad_outputs.back().valid();
    }
    if (!any) continue;
    const OpDef& op = node->op_def();
    if (op.gradient == nullptr) {
      throw_invalid(kWhere, "cannot differentiate through node '", node->name(), "' (", op.tf_name,
                    "): ", op.no_gradient.empty() ? "no gradient is defined" : op.no_gradient);
    }
    std::vector<Output> input_grads;
    {
      NameScope op_scope = graph.name_scope(absl::StrCat(node->name(), "_grad"));
      Node* trigger = nullptr;
      for (const Output& g : grad_outputs) {
        if (g.valid() && trigger == nullptr) trigger = g.node;
      }
      Node& differentiated = recompute.has_value() ? recompute->for_gradient(*node, trigger) : *node;
      input_grads = op.gradient(GradientContext{graph, differentiated, grad_outputs});
      gate(graph, *node, input_grads, depends_on_x);
    }
    if (input_grads.size() != static_cast<size_t>(node->num_inputs())) {
      throw_error(absl::StatusCode::kInternal, kWhere, "gradient of ", op.tf_name, " returned ",
                  input_grads.size(), " values for ", node->num_inputs(), " inputs");
    }
    for (int i = 0; i < node->num_inputs(); ++i) {
      const Output in = node->input(i);
      const Output& g = input_grads[static_cast<size_t>(i)];
      if (!g.valid() || !depends_on_x.contains(in)) continue;
      if (g.shape() != in.shape()) {
        throw_error(absl::StatusCode::kInternal, kWhere, "gradient of ", op.tf_name, " for input ", i,
                    " has shape ", g.shape().to_string(), ", expected ", in.shape().to_string());
      }
      pending[in].push_back(g);
    }
  }

  for (int id = first_new_node; id < graph.num_nodes(); ++id) graph.nodes()[static_cast<size_t>(id)]->mark_gradient();
  std::vector<Output> result;
  for (const Output& x : xs) {
    Output g = sum_of(x);
    // The final gradient of a variable is what an optimizer consumes: count its buffer as
    // gradient memory when a kernel made it (not a fed or constant value).
    if (g.valid() && is_variable_value(x)) {
      const Output owner = buffer_owner(g);
      if (owner.node->op_def().execution == ExecutionKind::kKernel) {
        owner.node->set_output_memory_kind(owner.index, MemoryKind::kGradient);
      }
    }
    result.push_back(g);
  }
  return result;
}

std::vector<Output> gradients(Output y, std::span<const Output> xs) {
  return gradients(std::span<const Output>(&y, 1), xs);
}

std::vector<Output> gradients(Output y, std::initializer_list<Output> xs) {
  return gradients(std::span<const Output>(&y, 1), std::span<const Output>(xs.begin(), xs.size()));
}

}  // namespace scopeflow
