#pragma once
// Variable scopes and variables with TensorFlow 1 semantics (tf.variable_scope, tf.get_variable,
// tf.Variable). A variable is one VariableV2 node plus its "read" Identity; every op that uses it
// reads that one node, and a session gives it exactly one buffer.

#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "scopeflow/graph.h"
#include "scopeflow/initializers.h"

namespace scopeflow {

/// Reuse mode of a variable scope.
enum class Reuse {
  kNone,       // get_variable creates; an existing variable is an error
  kReuse,      // get_variable gets; a missing variable is an error (reuse=True)
  kAutoReuse,  // get_variable gets or creates (reuse=tf.AUTO_REUSE)
};

/// "none", "reuse", "auto_reuse".
const char* reuse_name(Reuse reuse);

/// Everything known about one variable.
struct VariableInfo {
  std::string name;          // full name: "shared_layer/weights"
  Node* node = nullptr;      // the VariableV2 node
  Node* read = nullptr;      // the "<name>/read" Identity every user reads
  // Names reserved for the TensorFlow 1 nodes the GraphDef export adds: "<name>/Assign" and
  // the scope "<name>/Initializer/" holding the initializer ops.
  std::string assign_name;
  std::string initializer_scope;
  DType dtype = DType::kFloat32;
  Shape shape;
  Initializer initializer;
  bool trainable = true;
  bool from_get_variable = false;  // false for variable() (tf.Variable)
  MemoryKind memory_kind = MemoryKind::kParameter;  // kOptimizerSlot for optimizer state
  std::source_location defined_at;
};

/// A handle to a variable. Converts to its value (the read output) for use in ops.
class Variable {
 public:
  Variable() = default;
  explicit Variable(const VariableInfo* info) : info_(info) {}

  bool valid() const { return info_ != nullptr; }
  const std::string& name() const { return info().name; }
  DType dtype() const { return info().dtype; }
  const Shape& shape() const { return info().shape; }
  /// The VariableV2 node (what optimizers update in place).
  Node* node() const { return info().node; }
  /// The value as read by ops: output 0 of "<name>/read".
  Output value() const { return info().read->output(0); }
  operator Output() const { return value(); }  // NOLINT: a variable is used as its value
  const VariableInfo& info() const;

  friend bool operator==(const Variable& a, const Variable& b) { return a.info_ == b.info_; }

 private:
  const VariableInfo* info_ = nullptr;
};

/// A variable scope object (tf.VariableScope): keep it to re-enter the scope with its settings.
struct VariableScope {
  std::string name{};                  // full scope name, "" for the root
  Reuse reuse = Reuse::kNone;
  std::optional<Initializer> initializer{};
  std::optional<DType> dtype{};
  std::string original_name_scope{};   // name scope opened when first entered ("model/")
};

/// Settings for entering a variable scope; unset fields are inherited.
struct VariableScopeOptions {
  std::optional<Reuse> reuse{};
  std::optional<Initializer> initializer{};
  std::optional<DType> dtype{};
};

/// RAII: enters a variable scope (and a name scope for ops) and leaves both when destroyed.
class VariableScopeGuard {
 public:
  /// Enters `name` below the current variable scope (tf.variable_scope("name")).
  VariableScopeGuard(Graph& graph, std::string_view name, VariableScopeOptions options = {});
  /// Re-enters a scope object: same full name and settings, wherever it is entered from.
  VariableScopeGuard(Graph& graph, const VariableScope& scope, VariableScopeOptions options = {});
  ~VariableScopeGuard();
  VariableScopeGuard(const VariableScopeGuard&) = delete;
  VariableScopeGuard& operator=(const VariableScopeGuard&) = delete;

  /// The scope now in force.
  const VariableScope& scope() const;

 private:
  void enter(VariableScope scope, std::string_view name_scope_base);

  Graph& graph_;
  size_t depth_ = 0;
  std::string previous_name_scope_;
};

/// tf.variable_scope(name, reuse=..., initializer=..., dtype=...).
[[nodiscard]] inline VariableScopeGuard variable_scope(Graph& graph, std::string_view name,
                                                       VariableScopeOptions options = {}) {
  return VariableScopeGuard(graph, name, std::move(options));
}
/// tf.variable_scope(scope_object, ...).
[[nodiscard]] inline VariableScopeGuard variable_scope(Graph& graph, const VariableScope& scope,
                                                       VariableScopeOptions options = {}) {
  return VariableScopeGuard(graph, scope, std::move(options));
}

/// Arguments of get_variable / variable beyond the name.
struct VariableOptions {
  std::optional<Shape> shape{};        // required when creating
  std::optional<DType> dtype{};        // argument, then scope, then float32
  std::optional<Initializer> initializer{};  // argument, then scope, then default_initializer
  bool trainable = true;
  /// What the session's buffer counts as: parameters, or optimizer state for slot variables.
  MemoryKind memory_kind = MemoryKind::kParameter;
};

/// tf.get_variable: gets or creates "<scope>/<name>" according to the scope's reuse mode.
/// Throws Error(kAlreadyExists | kNotFound | kInvalidArgument) with TensorFlow's meaning,
/// naming the source location where the variable was first defined.
Variable get_variable(Graph& graph, std::string_view name, VariableOptions options = {},
                      std::source_location location = std::source_location::current());

/// tf.Variable: always creates a new variable named in the current name scope (uniquified).
/// Requires a shape; it is never found by get_variable.
Variable variable(Graph& graph, std::string_view name, VariableOptions options = {},
                  std::source_location location = std::source_location::current());

/// Variables of the graph in creation order whose name is `scope` or starts with "scope/"
/// ("" = all): tf.global_variables(scope).
std::vector<Variable> global_variables(const Graph& graph, std::string_view scope = "");
/// The trainable subset: tf.trainable_variables(scope).
std::vector<Variable> trainable_variables(const Graph& graph, std::string_view scope = "");
/// The variable whose VariableV2 node is `node`, or an invalid handle.
Variable variable_for_node(const Graph& graph, const Node* node);

/// Per-graph store of variables and the variable-scope stack.
class VariableStore {
 public:
  explicit VariableStore(Graph* graph);
  ~VariableStore();

  const VariableScope& current_scope() const { return scopes_.back(); }
  const std::vector<std::unique_ptr<VariableInfo>>& variables() const { return variables_; }
  /// The get_variable entry named `name`, or nullptr.
  const VariableInfo* find(std::string_view name) const;
  const VariableInfo* find_by_node(const Node* node) const;

 private:
  friend class VariableScopeGuard;
  friend Variable get_variable(Graph&, std::string_view, VariableOptions, std::source_location);
  friend Variable variable(Graph&, std::string_view, VariableOptions, std::source_location);

  const VariableInfo* create(std::string name, bool exact_node_name, DType dtype, Shape shape,
                             Initializer initializer, bool trainable, bool from_get_variable,
                             MemoryKind memory_kind, std::source_location location);

  Graph* graph_;
  std::vector<VariableScope> scopes_;
  std::vector<std::unique_ptr<VariableInfo>> variables_;
  absl::flat_hash_map<std::string, const VariableInfo*> by_name_;
  absl::flat_hash_map<const Node*, const VariableInfo*> by_node_;
};

}  // namespace scopeflow
