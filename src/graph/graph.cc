#include "scopeflow/graph.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ops/op_registry.h"
#include "scopeflow/error.h"
#include "scopeflow/scope.h"

namespace scopeflow {

Graph* Output::graph() const { return node ? node->graph() : nullptr; }
DType Output::dtype() const { return node->output_dtype(index); }
const Shape& Output::shape() const { return node->output_shape(index); }

std::string Output::name() const {
  if (node == nullptr) return "<null>";
  return index == 0 ? node->name() : absl::StrCat(node->name(), ":", index);
}

const std::string& Node::op() const { return op_def_->tf_name; }

const AttrValue* Node::find_attr(std::string_view name) const {
  for (const auto& [key, value] : attrs_) {
    if (key == name) return &value;
  }
  return nullptr;
}

void Node::throw_attr_error(std::string_view name, std::string_view problem) const {
  throw_invalid("graph", "attr '", name, "' of node '", name_, "' (", op(), ") ", problem);
}

Output Node::output(int i) {
  if (i < 0 || i >= num_outputs()) {
    throw_invalid("graph", "node '", name_, "' (", op(), ") has ", num_outputs(),
                  " outputs; output ", i, " does not exist");
  }
  return Output{this, i};
}

NameScope::~NameScope() { graph_->name_scope_ = previous_; }

Graph::Graph() : variable_store_(std::make_unique<VariableStore>(this)) {}
Graph::~Graph() = default;

std::string Graph::unique_name(std::string_view name, bool mark_as_used) {
  // Mirrors TensorFlow's Graph.unique_name, including its case-insensitive bookkeeping.
  std::string name_key = absl::AsciiStrToLower(std::string(name));
  int i = 0;
  if (auto it = names_in_use_.find(name_key); it != names_in_use_.end()) i = it->second;
  if (mark_as_used) names_in_use_[name_key] = i + 1;
  if (i == 0) return std::string(name);
  const std::string base_key = name_key;
  while (names_in_use_.contains(name_key)) {
    name_key = absl::StrCat(base_key, "_", i);
    ++i;
  }
  if (mark_as_used) names_in_use_[name_key] = 1;
  return absl::StrCat(std::string(name), "_", i - 1);
}

NameScope Graph::name_scope(std::string_view name) {
  std::string previous = enter_name_scope(name);
  return NameScope(this, name_scope_, std::move(previous));
}

std::string Graph::enter_name_scope(std::string_view name) {
  std::string previous = name_scope_;
  std::string entered;
  if (name.empty()) {
    entered = "";
  } else if (name.back() == '/') {
    entered = std::string(name);
  } else {
    entered = absl::StrCat(unique_name(name_scope_ + std::string(name)), "/");
  }
  name_scope_ = std::move(entered);
  return previous;
}

Node* Graph::find_node(std::string_view name) const {
  auto it = nodes_by_name_.find(absl::string_view(name.data(), name.size()));
  return it == nodes_by_name_.end() ? nullptr : it->second;
}

Node* Graph::add_node(NodeSpec spec) {
  const OpDef* op = find_op(spec.op);
  if (op == nullptr) {
    throw_error(absl::StatusCode::kNotFound, "graph", "unknown op '", spec.op, "'");
  }
  if (op->num_inputs >= 0 && static_cast<int>(spec.inputs.size()) != op->num_inputs) {
    throw_invalid(op->builder_name, "takes ", op->num_inputs, " inputs, got ",
                  spec.inputs.size());
  }
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    const Output& in = spec.inputs[i];
    if (in.node == nullptr) throw_invalid(op->builder_name, "input ", i, " is a null output");
    if (in.node->graph() != this) {
      throw_invalid(op->builder_name, "input ", i, " ('", in.name(),
                    "') belongs to another graph");
    }
    if (in.index < 0 || in.index >= in.node->num_outputs()) {
      throw_invalid(op->builder_name, "input ", i, " refers to output ", in.index, " of '",
                    in.node->name(), "', which has ", in.node->num_outputs(), " outputs");
    }
  }
  for (Node* control : spec.control_inputs) {
    if (control == nullptr || control->graph() != this) {
      throw_invalid(op->builder_name, "control input belongs to another graph or is null");
    }
  }

  std::vector<OutputSpec> outputs = op->infer(InferenceContext(*op, spec));

  std::string name;
  if (spec.exact_name) {
    if (spec.name.empty() || nodes_by_name_.contains(spec.name)) {
      throw_invalid(op->builder_name, "node name '", spec.name, "' is empty or already used");
    }
    name = spec.name;
    // Reserve it (without bumping an existing count, as TensorFlow's scope-named ops do).
    names_in_use_.try_emplace(absl::AsciiStrToLower(name), 1);
  } else {
    const std::string& base = spec.name.empty() ? op->default_name : spec.name;
    name = unique_name(absl::StrCat(name_scope_, base));
  }

  auto node = std::unique_ptr<Node>(new Node());
  node->id_ = static_cast<int>(nodes_.size());
  node->name_ = std::move(name);
  node->op_def_ = op;
  node->graph_ = this;
  node->inputs_ = std::move(spec.inputs);
  node->control_inputs_ = std::move(spec.control_inputs);
  node->attrs_ = std::move(spec.attrs);
  for (OutputSpec& out : outputs) {
    node->output_dtypes_.push_back(out.dtype);
    node->output_shapes_.push_back(std::move(out.shape));
    node->output_memory_kinds_.push_back(MemoryKind::kActivation);
  }
  Node* raw = node.get();
  for (int i = 0; i < raw->num_inputs(); ++i) {
    raw->inputs_[static_cast<size_t>(i)].node->consumers_.emplace_back(raw, i);
  }
  nodes_by_name_.emplace(raw->name_, raw);
  nodes_.push_back(std::move(node));
  return raw;
}

}  // namespace scopeflow
