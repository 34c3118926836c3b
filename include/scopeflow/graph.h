#pragma once
// Graph, nodes and name scopes with TensorFlow's naming rules.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "scopeflow/allocator.h"
#include "scopeflow/device.h"
#include "scopeflow/dtype.h"
#include "scopeflow/shape.h"
#include "scopeflow/tensor.h"

namespace scopeflow {

class Graph;
class Node;
class VariableStore;
struct OpDef;

struct GraphLifetime;

/// One output of a node: (node, index). The handle model code passes between op builders.
/// It keeps its graph's lifetime token: once the graph is destroyed, every API that reads the
/// output (its accessors, op builders, gradients, session feeds and fetches) throws
/// kFailedPrecondition instead of touching freed nodes. Only `node` itself is a plain pointer:
/// dereference it only while the graph lives. Copies are cheap (a pointer, an index and a
/// shared token); equality and hashing look at (node, index) only.
struct Output {
  Node* node = nullptr;
  int index = 0;

  Output() = default;
  /// Output `index` of a live node (reads the node's graph for its lifetime token).
  Output(Node* node, int index);

  bool valid() const { return node != nullptr; }
  /// False once the node's graph was destroyed (true for a null output).
  bool graph_alive() const;
  /// Throws kFailedPrecondition, naming `where`, when the node's graph was destroyed.
  void check_graph_alive(std::string_view where) const;
  Graph* graph() const;
  DType dtype() const;
  const Shape& shape() const;
  /// TensorFlow tensor name: "node" for output 0, "node:k" otherwise (as GraphDef inputs spell it).
  std::string name() const;

  friend bool operator==(const Output& a, const Output& b) { return a.node == b.node && a.index == b.index; }
  template <typename H>
  friend H AbslHashValue(H h, const Output& o) { return H::combine(std::move(h), o.node, o.index); }

 private:
  std::shared_ptr<const GraphLifetime> lifetime_{};  // says whether node still exists
};

/// A node attribute value, as TensorFlow's AttrValue kinds: b, i, f, s, type, shape, tensor, list(int).
using AttrValue =
    std::variant<bool, int64_t, float, std::string, DType, Shape, Tensor, std::vector<int64_t>>;

/// Where a node's attributes are kept; iteration order is the insertion order.
using AttrList = std::vector<std::pair<std::string, AttrValue>>;

/// A graph node: TensorFlow op, inputs, control inputs, attrs, device and inferred outputs.
class Node {
 public:
  int id() const { return id_; }
  const std::string& name() const { return name_; }
  /// TensorFlow op name ("MatMul").
  const std::string& op() const;
  const OpDef& op_def() const { return *op_def_; }
  Graph* graph() const { return graph_; }

  const std::vector<Output>& inputs() const { return inputs_; }
  Output input(int i) const { return inputs_.at(static_cast<size_t>(i)); }
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  const std::vector<Node*>& control_inputs() const { return control_inputs_; }
  /// Data consumers as (node, input index), in the order they were added.
  const std::vector<std::pair<Node*, int>>& consumers() const { return consumers_; }

  const AttrList& attrs() const { return attrs_; }
  /// The attr `name`, or nullptr when absent.
  const AttrValue* find_attr(std::string_view name) const;
  /// Typed attr access; throws Error when missing or of another kind.
  template <typename T>
  const T& attr(std::string_view name) const;

  /// Requested device ("" = chosen by the session); see Session for the assigned one.
  const std::string& device() const { return device_; }
  void set_device(std::string device) { device_ = std::move(device); }

  int num_outputs() const { return static_cast<int>(output_dtypes_.size()); }
  DType output_dtype(int i) const { return output_dtypes_.at(static_cast<size_t>(i)); }
  const Shape& output_shape(int i) const { return output_shapes_.at(static_cast<size_t>(i)); }
  /// Output i of this node; throws Error when i is out of range.
  Output output(int i = 0);
  /// What a session's buffer for output i counts as (activation unless marked, e.g. gradients).
  MemoryKind output_memory_kind(int i) const { return output_memory_kinds_.at(static_cast<size_t>(i)); }
  void set_output_memory_kind(int i, MemoryKind kind) { output_memory_kinds_.at(static_cast<size_t>(i)) = kind; }
  /// True for nodes that gradients() added (they read variables, but are not uses of them).
  bool is_gradient() const { return is_gradient_; }
  void mark_gradient() { is_gradient_ = true; }

 private:
  friend class Graph;
  Node() = default;
  [[noreturn]] void throw_attr_error(std::string_view name, std::string_view problem) const;

  int id_ = 0;
  std::string name_;
  const OpDef* op_def_ = nullptr;
  Graph* graph_ = nullptr;
  std::vector<Output> inputs_;
  std::vector<Node*> control_inputs_;
  std::vector<std::pair<Node*, int>> consumers_;
  AttrList attrs_;
  std::string device_;
  std::vector<DType> output_dtypes_;
  std::vector<Shape> output_shapes_;
  std::vector<MemoryKind> output_memory_kinds_;
  bool is_gradient_ = false;
};

/// What an op builder asks the graph to add; the graph validates, infers shapes and names it.
struct NodeSpec {
  std::string op{};               // TensorFlow op name, looked up in the op table
  std::string name{};             // base name; empty = the op's default name
  std::vector<Output> inputs{};
  std::vector<Node*> control_inputs{};
  AttrList attrs{};
  /// True to use `name` exactly as the full node name (it must be unused); false to place
  /// it in the current name scope and uniquify it.
  bool exact_name = false;
};

/// RAII guard returned by Graph::name_scope; restores the previous scope when destroyed.
/// Guards of one thread must be left in the reverse order of entry (see Graph).
class NameScope {
 public:
  /// The same as graph.name_scope(name); this form also fits std::optional::emplace.
  NameScope(Graph& graph, std::string_view name);
  NameScope(const NameScope&) = delete;
  NameScope& operator=(const NameScope&) = delete;
  ~NameScope();
  /// The scope entered, with a trailing '/' ("layer1/"), or "" for the root.
  const std::string& name() const { return name_; }

 private:
  Graph* graph_;
  std::string name_;
  uint64_t guard_id_ = 0;
};

/// RAII guard returned by Graph::control_dependencies; ends the block when destroyed.
class ControlDependencies {
 public:
  ControlDependencies(const ControlDependencies&) = delete;
  ControlDependencies& operator=(const ControlDependencies&) = delete;
  ~ControlDependencies();

 private:
  friend class Graph;
  ControlDependencies(Graph* graph, uint64_t guard_id) : graph_(graph), guard_id_(guard_id) {}
  Graph* graph_;
  uint64_t guard_id_;
};

/// Per-thread building state (name scope, variable scopes, control dependencies, open guards).
struct BuildContext;
struct GuardFrame;

/// True when `name` is a valid TensorFlow node name: [A-Za-z0-9.][A-Za-z0-9_.\\/>-]*.
bool is_valid_node_name(std::string_view name);
/// True when `name` may be entered as a name scope below the root: [A-Za-z0-9_.\\/>-]*.
bool is_valid_nested_scope_name(std::string_view name);

/// Shared by a graph and the handles that outlive it (Session, Variable): false once the graph
/// is destroyed, so that a use after that is a clear error instead of a use-after-free.
struct GraphLifetime {
  std::atomic<bool> alive{true};
};

/// A dataflow graph. Several threads may build one graph at once: each thread has its own
/// name scope, variable scopes and control dependencies (as TensorFlow keeps them per thread),
/// and node creation is serialised. Reading nodes() while another thread adds nodes is not safe.
///
/// Scope guards (NameScope, VariableScopeGuard, ControlDependencies) of one thread nest: a guard
/// left while a guard entered after it is still open is an error. It cannot be thrown from a
/// destructor, so the thread's building state is marked broken: every later scope entry, node
/// creation and get_variable on that thread throws kFailedPrecondition naming both guards,
/// until the guards entered after it are left too.
///
/// Lifetime: nodes live as long as their graph. A Session, Variable or Output used after its
/// graph is destroyed throws kFailedPrecondition. Node* is a plain pointer, valid only while the
/// graph lives; APIs that take a Node* with its graph (control inputs, session targets) check
/// that the graph owns it without dereferencing it. Destroying a graph while another thread
/// uses it is undefined.
class Graph {
 public:
  Graph();
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  /// Validates the spec against the op table, infers output dtypes and shapes, names and adds
  /// the node. Throws Error (message starting with the op builder's name) on invalid input.
  /// The node gets the control inputs of the enclosing control_dependencies blocks.
  Node* add_node(NodeSpec spec);

  /// Enters a name scope as tf.name_scope does: "layer" becomes "layer/", then "layer_1/", ...
  /// inside the current scope; a name ending in '/' re-enters that exact scope; "" is the root.
  /// Names follow TensorFlow's rules (see is_valid_node_name); a bad name throws Error.
  [[nodiscard]] NameScope name_scope(std::string_view name);
  /// The current name scope with trailing '/', or "" at the root.
  const std::string& current_name_scope() const;
  /// TensorFlow's Graph.unique_name: `name` if unused, else name_1, name_2, ... (case-insensitive).
  std::string unique_name(std::string_view name, bool mark_as_used = true);

  /// tf.control_dependencies: ops created inside get these control inputs, unless one of their
  /// inputs was itself created inside the block (it already depends on them) or is one of them.
  [[nodiscard]] ControlDependencies control_dependencies(std::vector<Node*> control_inputs);
  /// tf.control_dependencies(None): ops created inside get no control inputs from outer blocks.
  [[nodiscard]] ControlDependencies control_dependencies(std::nullopt_t);

  /// Node by full name, or nullptr.
  Node* find_node(std::string_view name) const;
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  int num_nodes() const;
  /// True when `node` is one of this graph's nodes; never dereferences it, so a pointer into
  /// another, destroyed graph is answered safely.
  bool owns(const Node* node) const;

  /// The token that handles check before they touch this graph (see GraphLifetime).
  std::shared_ptr<const GraphLifetime> lifetime() const { return lifetime_; }

  /// Graph-level random seed (tf.set_random_seed); op seeds derive from it.
  uint64_t seed() const { return seed_; }
  void set_seed(uint64_t seed) { seed_ = seed; }

  /// Variables and variable scopes of this graph.
  VariableStore& variable_store() { return *variable_store_; }
  const VariableStore& variable_store() const { return *variable_store_; }

  // For scope guards: this thread's building state, and the stack of open guards in it.
  BuildContext& build_context() const;
  /// Pushes a guard frame onto this thread's stack; returns its id.
  uint64_t open_guard(GuardFrame frame);
  /// Leaves the guard `id`: restores what it saved, or marks the state broken when it is not
  /// the innermost open guard. Never throws.
  void close_guard(uint64_t id) noexcept;
  /// Throws kFailedPrecondition when this thread's guards were left out of order.
  void check_guards(std::string_view where) const;

 private:
  friend class NameScope;
  /// Enters a name scope and pushes its guard frame: {the scope entered, the guard id}.
  std::pair<std::string, uint64_t> open_name_scope(std::string_view name);
  ControlDependencies open_control_dependencies(std::vector<Node*> control_inputs, bool clears);
  std::string enter_name_scope_locked(BuildContext& context, std::string_view name);
  void pop_frame(BuildContext& context) noexcept;

  mutable std::mutex mutex_;  // nodes, names and the per-thread contexts map
  std::vector<std::unique_ptr<Node>> nodes_;
  absl::flat_hash_map<std::string, Node*> nodes_by_name_;
  absl::flat_hash_set<const Node*> node_set_;  // for owns()
  absl::flat_hash_map<std::string, int> names_in_use_;
  mutable absl::flat_hash_map<std::thread::id, std::unique_ptr<BuildContext>> contexts_;
  uint64_t next_guard_id_ = 1;
  uint64_t seed_ = 0;
  std::unique_ptr<VariableStore> variable_store_;
  std::shared_ptr<GraphLifetime> lifetime_ = std::make_shared<GraphLifetime>();
};

template <typename T>
const T& Node::attr(std::string_view name) const {
  const AttrValue* value = find_attr(name);
  if (value == nullptr) throw_attr_error(name, "is missing");
  const T* typed = std::get_if<T>(value);
  if (typed == nullptr) throw_attr_error(name, "has another kind");
  return *typed;
}

}  // namespace scopeflow
