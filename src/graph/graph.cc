#include "scopeflow/graph.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "graph/build_context.h"
#include "ops/op_registry.h"
#include "scopeflow/error.h"
#include "scopeflow/scope.h"

namespace scopeflow {

Output::Output(Node* n, int i)
    : node(n), index(i), lifetime_(n != nullptr ? n->graph()->lifetime() : nullptr) {}

bool Output::graph_alive() const {
  return lifetime_ == nullptr || lifetime_->alive.load(std::memory_order_acquire);
}

void Output::check_graph_alive(std::string_view where) const {
  if (!graph_alive()) {
    throw_error(absl::StatusCode::kFailedPrecondition, where,
                "use of an output whose graph was destroyed; keep the Graph alive while its "
                "outputs are used");
  }
}

Graph* Output::graph() const {
  check_graph_alive("output");
  return node ? node->graph() : nullptr;
}

DType Output::dtype() const {
  check_graph_alive("output");
  if (node == nullptr) throw_invalid("output", "dtype of a null output");
  return node->output_dtype(index);
}

const Shape& Output::shape() const {
  check_graph_alive("output");
  if (node == nullptr) throw_invalid("output", "shape of a null output");
  return node->output_shape(index);
}

std::string Output::name() const {
  check_graph_alive("output");
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

bool is_valid_node_name(std::string_view name) {
  // TensorFlow's _VALID_OP_NAME_REGEX: ^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$
  if (name.empty()) return false;
  const char first = name.front();
  if (!absl::ascii_isalnum(static_cast<unsigned char>(first)) && first != '.') return false;
  return is_valid_nested_scope_name(name.substr(1));
}

bool is_valid_nested_scope_name(std::string_view name) {
  // TensorFlow's _VALID_SCOPE_NAME_REGEX: ^[A-Za-z0-9_.\\/>-]*$
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' &&
        c != '\\' && c != '/' && c != '>' && c != '-') {
      return false;
    }
  }
  return true;
}

NameScope::~NameScope() { graph_->close_guard(guard_id_); }
ControlDependencies::~ControlDependencies() { graph_->close_guard(guard_id_); }

Graph::Graph() : variable_store_(std::make_unique<VariableStore>(this)) {}
Graph::~Graph() { lifetime_->alive.store(false, std::memory_order_release); }

bool Graph::owns(const Node* node) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return node_set_.contains(node);
}

int Graph::num_nodes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(nodes_.size());
}

namespace {

BuildContext& context_locked(absl::flat_hash_map<std::thread::id, std::unique_ptr<BuildContext>>& contexts) {
  std::unique_ptr<BuildContext>& context = contexts[std::this_thread::get_id()];
  if (context == nullptr) context = std::make_unique<BuildContext>();
  return *context;
}

std::string unique_name_locked(absl::flat_hash_map<std::string, int>& names_in_use,
                               std::string_view name, bool mark_as_used) {
  // Mirrors TensorFlow's Graph.unique_name, including its case-insensitive bookkeeping.
  std::string name_key = absl::AsciiStrToLower(std::string(name));
  int i = 0;
  if (auto it = names_in_use.find(name_key); it != names_in_use.end()) i = it->second;
  if (mark_as_used) names_in_use[name_key] = i + 1;
  if (i == 0) return std::string(name);
  const std::string base_key = name_key;
  while (names_in_use.contains(name_key)) {
    name_key = absl::StrCat(base_key, "_", i);
    ++i;
  }
  if (mark_as_used) names_in_use[name_key] = 1;
  return absl::StrCat(std::string(name), "_", i - 1);
}

void pop_frame_of(BuildContext& context) noexcept {
  GuardFrame& frame = context.guards.back();
  context.name_scope = std::move(frame.previous_name_scope);
  if (frame.kind == GuardKind::kVariableScope) {
    if (context.variable_scopes.size() > 1) context.variable_scopes.pop_back();
    if (frame.entered_by_object) {
      context.variable_scope_counts = std::move(frame.saved_scope_counts);
    } else {
      // TensorFlow's close_variable_subscopes: default names below the scope count afresh.
      const std::string prefix = absl::StrCat(frame.variable_scope_name, "/");
      for (auto& [name, count] : context.variable_scope_counts) {
        if (frame.variable_scope_name.empty() || absl::StartsWith(name, prefix)) count = 0;
      }
    }
  } else if (frame.kind == GuardKind::kControlDependencies) {
    if (!context.control_dependencies.empty()) context.control_dependencies.pop_back();
  }
  context.guards.pop_back();
}

// Pops the frames on top that were left out of order or on another thread, applies the rule
// that clears the out-of-order error, and throws what is pending: the out-of-order error while
// it lasts, or once, that a guard was left on another thread.
void settle_and_throw(BuildContext& context, std::string_view where) {
  while (!context.guards.empty() && context.guards.back().left) pop_frame_of(context);
  if (!context.broken.empty() && context.guards.size() <= context.broken_depth) context.broken.clear();
  if (!context.broken.empty()) {
    throw_error(absl::StatusCode::kFailedPrecondition, where, context.broken);
  }
  if (!context.left_elsewhere.empty()) {
    std::string message = std::move(context.left_elsewhere);
    context.left_elsewhere.clear();
    throw_error(absl::StatusCode::kFailedPrecondition, where, message);
  }
}

}  // namespace

BuildContext& Graph::build_context() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return context_locked(contexts_);
}

std::string Graph::unique_name(std::string_view name, bool mark_as_used) {
  std::lock_guard<std::mutex> lock(mutex_);
  return unique_name_locked(names_in_use_, name, mark_as_used);
}

const std::string& Graph::current_name_scope() const { return build_context().name_scope; }

uint64_t Graph::open_guard(GuardFrame frame) {
  std::lock_guard<std::mutex> lock(mutex_);
  BuildContext& context = context_locked(contexts_);
  frame.id = next_guard_id_++;
  context.guards.push_back(std::move(frame));
  return context.guards.back().id;
}

void Graph::check_guards(std::string_view where) const {
  std::lock_guard<std::mutex> lock(mutex_);
  settle_and_throw(context_locked(contexts_), where);
}

void Graph::pop_frame(BuildContext& context) noexcept { pop_frame_of(context); }

void Graph::close_guard(uint64_t id) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  auto frame_in = [id](BuildContext& context) -> GuardFrame* {
    for (GuardFrame& frame : context.guards) {
      if (frame.id == id) return &frame;
    }
    return nullptr;
  };
  BuildContext* context = &context_locked(contexts_);
  GuardFrame* frame = frame_in(*context);
  const bool same_thread = frame != nullptr;
  if (!same_thread) {
    // Left on another thread than the one that entered it: that thread's state is broken.
    for (auto& [thread, other] : contexts_) {
      if ((frame = frame_in(*other)) != nullptr) {
        context = other.get();
        break;
      }
    }
    if (frame == nullptr) return;
  }
  if (same_thread && frame == &context->guards.back()) {
    pop_frame(*context);
    while (!context->guards.empty() && context->guards.back().left) pop_frame(*context);
    if (!context->broken.empty() && context->guards.size() <= context->broken_depth) {
      context->broken.clear();
    }
    return;
  }
  frame->left = true;
  if (!same_thread) {
    // The owning thread pops it when it next builds, and is told once.
    if (context->left_elsewhere.empty()) {
      context->left_elsewhere = absl::StrCat("scope guard ", frame->description,
                                             " was left on another thread than the one that entered it");
    }
    return;
  }
  const size_t depth = static_cast<size_t>(frame - context->guards.data());
  if (context->broken.empty()) {
    context->broken = absl::StrCat("scope guards left out of order: ", frame->description,
                                   " was left while ", context->guards.back().description,
                                   ", entered after it, was still open; leave guards in the reverse "
                                   "order of entry");
    context->broken_depth = depth;
  } else {
    context->broken_depth = std::min(context->broken_depth, depth);
  }
}

NameScope::NameScope(Graph& graph, std::string_view name) : graph_(&graph) {
  std::tie(name_, guard_id_) = graph.open_name_scope(name);
}

NameScope Graph::name_scope(std::string_view name) { return NameScope(*this, name); }

std::pair<std::string, uint64_t> Graph::open_name_scope(std::string_view name) {
  std::lock_guard<std::mutex> lock(mutex_);
  BuildContext& context = context_locked(contexts_);
  settle_and_throw(context, "name_scope");
  GuardFrame frame;
  frame.kind = GuardKind::kNameScope;
  frame.previous_name_scope = enter_name_scope_locked(context, name);
  frame.description = absl::StrCat("name_scope '", context.name_scope, "'");
  frame.id = next_guard_id_++;
  const uint64_t id = frame.id;
  context.guards.push_back(std::move(frame));
  return {context.name_scope, id};
}

std::string Graph::enter_name_scope_locked(BuildContext& context, std::string_view name) {
  if (!name.empty()) {
    const bool valid = context.name_scope.empty() ? is_valid_node_name(name)
                                                  : is_valid_nested_scope_name(name);
    if (!valid) {
      throw_invalid("name_scope", "'", escape_for_message(name), "' is not a valid scope name: a name scope matches ",
                    context.name_scope.empty() ? "[A-Za-z0-9.][A-Za-z0-9_.\\\\/>-]*"
                                               : "[A-Za-z0-9_.\\\\/>-]*");
    }
  }
  std::string previous = context.name_scope;
  if (name.empty()) {
    context.name_scope = "";
  } else if (name.back() == '/') {
    context.name_scope = std::string(name);
  } else {
    context.name_scope =
        absl::StrCat(unique_name_locked(names_in_use_, absl::StrCat(context.name_scope, to_absl(name)), true), "/");
  }
  return previous;
}

ControlDependencies Graph::control_dependencies(std::vector<Node*> control_inputs) {
  for (Node* control : control_inputs) {
    if (control == nullptr || !owns(control)) {
      throw_invalid("control_dependencies", "a control input is null or belongs to another graph");
    }
  }
  return open_control_dependencies(std::move(control_inputs), /*clears=*/false);
}

ControlDependencies Graph::control_dependencies(std::nullopt_t) {
  return open_control_dependencies({}, /*clears=*/true);
}

ControlDependencies Graph::open_control_dependencies(std::vector<Node*> control_inputs, bool clears) {
  std::lock_guard<std::mutex> lock(mutex_);
  BuildContext& context = context_locked(contexts_);
  settle_and_throw(context, "control_dependencies");
  ControlDependencyBlock block;
  block.guard_id = next_guard_id_++;
  block.clears = clears;
  // As TensorFlow, inputs an enclosing block already adds are not repeated.
  absl::flat_hash_set<const Node*> current;
  for (auto it = context.control_dependencies.rbegin(); !clears && it != context.control_dependencies.rend(); ++it) {
    current.insert(it->control_inputs.begin(), it->control_inputs.end());
    if (it->clears) break;
  }
  for (Node* control : control_inputs) {
    if (current.insert(control).second) block.control_inputs.push_back(control);
  }
  const uint64_t id = block.guard_id;
  context.control_dependencies.push_back(std::move(block));
  GuardFrame frame;
  frame.id = id;
  frame.kind = GuardKind::kControlDependencies;
  frame.description = clears ? "control_dependencies(none) block" : "control_dependencies block";
  frame.previous_name_scope = context.name_scope;
  context.guards.push_back(std::move(frame));
  return ControlDependencies(this, id);
}

Node* Graph::find_node(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mutex_);
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
    in.check_graph_alive(op->builder_name);
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
    if (control == nullptr || !owns(control)) {
      throw_invalid(op->builder_name, "control input belongs to another graph or is null");
    }
  }

  std::vector<OutputSpec> outputs = op->infer(InferenceContext(*op, spec));

  std::lock_guard<std::mutex> lock(mutex_);
  BuildContext& context = context_locked(contexts_);
  settle_and_throw(context, op->builder_name);
  std::string name;
  if (spec.exact_name) {
    if (spec.name.empty() || nodes_by_name_.contains(spec.name)) {
      throw_invalid(op->builder_name, "node name '", escape_for_message(spec.name), "' is empty or already used");
    }
    name = spec.name;
  } else {
    name = absl::StrCat(context.name_scope, spec.name.empty() ? op->default_name : spec.name);
  }
  if (!is_valid_node_name(name)) {
    throw_invalid(op->builder_name, "'", escape_for_message(name),
                  "' is not a valid node name: a node name matches [A-Za-z0-9.][A-Za-z0-9_.\\/>-]*");
  }
  if (spec.exact_name) {
    // Reserve it (without bumping an existing count, as TensorFlow's scope-named ops do).
    names_in_use_.try_emplace(absl::AsciiStrToLower(name), 1);
  } else {
    name = unique_name_locked(names_in_use_, name, true);
  }

  // Control inputs of the enclosing control_dependencies blocks (TensorFlow's
  // _control_dependencies_for_inputs): a block is skipped when an input was created inside it.
  size_t first_block = context.control_dependencies.size();
  while (first_block > 0) {
    --first_block;
    if (context.control_dependencies[first_block].clears) break;
  }
  for (size_t b = first_block; b < context.control_dependencies.size(); ++b) {
    const ControlDependencyBlock& block = context.control_dependencies[b];
    bool dominated = false;
    for (const Output& in : spec.inputs) dominated = dominated || block.created.contains(in.node);
    if (dominated) continue;
    for (Node* control : block.control_inputs) {
      bool present = false;
      for (const Output& in : spec.inputs) present = present || in.node == control;
      for (const Node* existing : spec.control_inputs) present = present || existing == control;
      if (!present) spec.control_inputs.push_back(control);
    }
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
  node_set_.insert(raw);
  nodes_by_name_.emplace(raw->name_, raw);
  nodes_.push_back(std::move(node));
  for (size_t b = first_block; b < context.control_dependencies.size(); ++b) {
    context.control_dependencies[b].created.insert(raw);
  }
  return raw;
}

}  // namespace scopeflow
