#pragma once
// Variable scopes and variables with TensorFlow 1 semantics (tf.variable_scope, tf.get_variable,
// tf.Variable, graph collections). A variable is one VariableV2 node plus its "read" Identity;
// every op that uses it reads that one node, and a session gives it exactly one buffer.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "scopeflow/graph.h"
#include "scopeflow/initializers.h"

namespace scopeflow {

/// Reuse mode of a variable scope.
enum class Reuse {
  kNone,       // as TensorFlow's reuse=False/None: inherit; at the root, create (existing = error)
  kReuse,      // get_variable gets; a missing variable is an error (reuse=True)
  kAutoReuse,  // get_variable gets or creates (reuse=tf.AUTO_REUSE)
};

/// "none", "reuse", "auto_reuse".
const char* reuse_name(Reuse reuse);

class Variable;
struct VariableOptions;

/// Maps a variable's value to a scalar loss, or to nothing (no loss, as a TensorFlow regularizer
/// returning None). The loss lands in REGULARIZATION_LOSSES when the variable is created.
using Regularizer = std::function<std::optional<Output>(Output value)>;
/// Maps a variable's value after an optimizer update to its projected value (tf constraint).
using Constraint = std::function<Output(Output value)>;
/// A partitioner (tf.fixed_size_partitioner, ...): not supported; setting one is an error.
using Partitioner = std::function<std::vector<int64_t>(const Shape& shape, DType dtype)>;
/// The getter a custom getter wraps: creates or gets `full_name` with `options`.
using VariableGetter = std::function<Variable(std::string_view full_name, const VariableOptions& options)>;
/// A custom getter (tf custom_getter): called instead of the getter, with the getter to call
/// (which may be the next custom getter of an enclosing scope), the full variable name and the
/// resolved options. It may change the options and wrap the result (Variable::with_value).
using CustomGetter = std::function<Variable(const VariableGetter& getter, std::string_view full_name,
                                            const VariableOptions& options)>;

/// Keys of TensorFlow's standard collections (tf.GraphKeys).
namespace collection_keys {
inline constexpr std::string_view kGlobalVariables = "variables";
inline constexpr std::string_view kLocalVariables = "local_variables";
inline constexpr std::string_view kTrainableVariables = "trainable_variables";
inline constexpr std::string_view kModelVariables = "model_variables";
inline constexpr std::string_view kRegularizationLosses = "regularization_losses";
inline constexpr std::string_view kUpdateOps = "update_ops";
}  // namespace collection_keys

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
  std::vector<std::string> collections;             // the collections it was added to
  Constraint constraint{};                          // applied after each optimizer update
  std::optional<Output> regularization_loss{};      // its loss in REGULARIZATION_LOSSES
  std::source_location defined_at;
};

/// A handle to a variable (copyable, thread-compatible). Using it after its graph is destroyed
/// throws kFailedPrecondition. Converts to its value (the read output, or the value a custom getter
/// gave it) for use in ops.
class Variable {
 public:
  Variable() = default;
  explicit Variable(const VariableInfo* info)
      : info_(info), lifetime_(info != nullptr ? info->node->graph()->lifetime() : nullptr) {}

  bool valid() const { return info_ != nullptr; }
  const std::string& name() const { return info().name; }
  DType dtype() const { return info().dtype; }
  const Shape& shape() const { return info().shape; }
  /// The VariableV2 node (what optimizers update in place).
  Node* node() const { return info().node; }
  /// The value as read by ops: output 0 of "<name>/read", unless with_value replaced it.
  Output value() const { return value_.valid() ? value_ : info().read->output(0); }
  operator Output() const { return value(); }  // NOLINT: a variable is used as its value
  /// Throws kFailedPrecondition when the variable's graph was destroyed.
  const VariableInfo& info() const;
  /// The same variable used through `value` (e.g. a Cast a custom getter added).
  Variable with_value(Output value) const;

  /// Same variable (the value used may differ).
  friend bool operator==(const Variable& a, const Variable& b) { return a.info_ == b.info_; }

 private:
  const VariableInfo* info_ = nullptr;
  std::shared_ptr<const GraphLifetime> lifetime_{};  // says whether info_ still exists
  Output value_{};
};

/// A variable scope object (tf.VariableScope): keep it to re-enter the scope with its settings.
struct VariableScope {
  std::string name{};                  // full scope name, "" for the root
  Reuse reuse = Reuse::kNone;
  std::optional<Initializer> initializer{};
  std::optional<DType> dtype{};
  std::optional<Regularizer> regularizer{};
  CustomGetter custom_getter{};
  Constraint constraint{};
  std::string original_name_scope{};   // name scope opened when first entered ("model/")
};

/// Settings for entering a variable scope (tf.variable_scope's arguments); unset fields are
/// inherited from the parent scope, or for entry by object, taken from the object.
struct VariableScopeOptions {
  /// Used when no name is given: made unique among the parent's scopes ("layer", "layer_1").
  std::string default_name{};
  /// kReuse or kAutoReuse switch reuse on; unset or kNone inherit (TensorFlow: False = None).
  std::optional<Reuse> reuse{};
  std::optional<Initializer> initializer{};
  std::optional<DType> dtype{};
  /// Default regularizer of new variables; regularizers::none() switches an inherited one off.
  std::optional<Regularizer> regularizer{};
  /// Wraps get_variable inside the scope, around the custom getters of enclosing scopes.
  CustomGetter custom_getter{};
  Constraint constraint{};
  /// False: no new name scope for ops (they stay in the current one).
  bool auxiliary_name_scope = true;
  /// Not supported: a partitioner is a clear error.
  Partitioner partitioner{};
  /// Tensors the scope's ops will use (tf's `values`): they must belong to the scope's graph.
  std::vector<Output> values{};
};

/// A handle to a variable-scope object (tf.get_variable_scope(), or a guard's scope). Changes
/// made through it apply to that object: to the scope in force while it is entered, and to later
/// entries by object, never to its parent (TensorFlow's VariableScope is such an object).
class VariableScopeHandle {
 public:
  /// The scope's current settings.
  const VariableScope& scope() const { return *scope_; }
  operator const VariableScope&() const { return *scope_; }  // NOLINT: re-enter by object
  const std::string& name() const { return scope_->name; }
  Reuse reuse() const { return scope_->reuse; }
  const std::string& original_name_scope() const { return scope_->original_name_scope; }

  /// tf VariableScope.reuse_variables(): from now on get_variable in this scope reuses.
  void reuse_variables() { scope_->reuse = Reuse::kReuse; }
  void set_initializer(Initializer initializer) { scope_->initializer = std::move(initializer); }
  void set_dtype(DType dtype) { scope_->dtype = dtype; }
  void set_regularizer(Regularizer regularizer) { scope_->regularizer = std::move(regularizer); }
  void set_custom_getter(CustomGetter custom_getter) { scope_->custom_getter = std::move(custom_getter); }
  void set_constraint(Constraint constraint) { scope_->constraint = std::move(constraint); }
  /// Partitioners are not supported: always throws kUnimplemented.
  void set_partitioner(Partitioner partitioner);

  /// Variables of the collections whose name starts with "<scope>/" (all at the root).
  std::vector<Variable> global_variables() const;
  std::vector<Variable> trainable_variables() const;
  std::vector<Variable> local_variables() const;

 private:
  friend VariableScopeHandle get_variable_scope(Graph& graph);
  friend class VariableScopeGuard;
  VariableScopeHandle(const Graph* graph, std::shared_ptr<VariableScope> scope)
      : graph_(graph), scope_(std::move(scope)) {}

  const Graph* graph_;
  std::shared_ptr<VariableScope> scope_;
};

/// tf.get_variable_scope(): the scope in force on this thread.
VariableScopeHandle get_variable_scope(Graph& graph);

/// RAII: enters a variable scope (and a name scope for ops) and leaves both when destroyed.
class VariableScopeGuard {
 public:
  /// Enters `name` below the current variable scope (tf.variable_scope("name")); an empty name
  /// uses options.default_name, made unique.
  VariableScopeGuard(Graph& graph, std::string_view name, VariableScopeOptions options = {});
  /// Re-enters a scope object: same full name and settings, wherever it is entered from. The
  /// root scope object re-enters the root and opens no name scope.
  VariableScopeGuard(Graph& graph, const VariableScope& scope, VariableScopeOptions options = {});
  ~VariableScopeGuard();
  VariableScopeGuard(const VariableScopeGuard&) = delete;
  VariableScopeGuard& operator=(const VariableScopeGuard&) = delete;

  /// The scope this guard entered (live: reuse_variables() through a handle shows here).
  const VariableScope& scope() const { return *scope_; }
  /// A handle to that scope object (tf: `with variable_scope(...) as vs`).
  VariableScopeHandle handle() const { return VariableScopeHandle(&graph_, scope_); }

 private:
  void enter(VariableScope scope, bool by_object, std::string_view name_scope_base,
             const VariableScopeOptions& options);

  Graph& graph_;
  uint64_t guard_id_ = 0;
  std::shared_ptr<VariableScope> scope_;
};

/// tf.variable_scope(name_or_scope, default_name, ...): `name` empty = none (default_name).
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
  /// Required when creating, unless a value initializer gives it.
  std::optional<Shape> shape{};
  /// Argument, then the value initializer's, then the scope's, then float32.
  std::optional<DType> dtype{};
  /// Argument, then scope, then default_initializer(dtype).
  std::optional<Initializer> initializer{};
  /// Argument, then scope; regularizers::none() switches the scope's off.
  std::optional<Regularizer> regularizer{};
  bool trainable = true;
  /// Collections the new variable joins; unset = GLOBAL_VARIABLES. Trainable variables also
  /// join TRAINABLE_VARIABLES.
  std::optional<std::vector<std::string>> collections{};
  /// Argument, then scope.
  Constraint constraint{};
  /// Not supported: a partitioner is a clear error.
  Partitioner partitioner{};
  /// Replaces the scope's custom getter for this call (as TensorFlow's argument does).
  CustomGetter custom_getter{};
  /// What the session's buffer counts as: parameters, or optimizer state for slot variables.
  MemoryKind memory_kind = MemoryKind::kParameter;
  /// Leave unset: the scope's reuse applies. Custom getters see the resolved value here.
  std::optional<Reuse> reuse{};
};

/// tf.get_variable: gets or creates "<scope>/<name>" according to the scope's reuse mode.
/// Throws Error(kAlreadyExists | kNotFound | kInvalidArgument) with TensorFlow's meaning,
/// naming the source location where the variable was first defined.
Variable get_variable(Graph& graph, std::string_view name, VariableOptions options = {},
                      std::source_location location = std::source_location::current());

/// tf.get_local_variable: get_variable with trainable = false, in LOCAL_VARIABLES.
Variable get_local_variable(Graph& graph, std::string_view name, VariableOptions options = {},
                            std::source_location location = std::source_location::current());

/// tf.Variable: always creates a new variable named in the current name scope (uniquified).
/// Requires a shape or a value initializer; it is never found by get_variable.
Variable variable(Graph& graph, std::string_view name, VariableOptions options = {},
                  std::source_location location = std::source_location::current());

/// What a graph collection holds: variables, tensors (losses) or ops (update ops).
using CollectionItem = std::variant<Variable, Output, Node*>;
/// The name a collection's scope filter matches: "w:0" for a variable, "loss:0" for a
/// tensor, "train_op" for an op (as TensorFlow's item.name).
std::string collection_item_name(const CollectionItem& item);

/// tf.add_to_collection.
void add_to_collection(Graph& graph, std::string_view key, CollectionItem item);
/// The items of collection `key` in insertion order; with `scope`, only those whose name
/// matches `scope` as a regular expression anchored at the start (TensorFlow's re.match).
std::vector<CollectionItem> get_collection(const Graph& graph, std::string_view key,
                                           std::string_view scope = "");
/// The variables of collection `key` (items of other kinds are skipped).
std::vector<Variable> get_collection_variables(const Graph& graph, std::string_view key,
                                               std::string_view scope = "");
/// The tensors of collection `key`.
std::vector<Output> get_collection_outputs(const Graph& graph, std::string_view key,
                                           std::string_view scope = "");
/// The keys of every non-empty collection, sorted.
std::vector<std::string> collection_keys_of(const Graph& graph);

/// tf.global_variables(scope): the GLOBAL_VARIABLES collection, filtered as get_collection.
std::vector<Variable> global_variables(const Graph& graph, std::string_view scope = "");
/// tf.trainable_variables(scope).
std::vector<Variable> trainable_variables(const Graph& graph, std::string_view scope = "");
/// tf.local_variables(scope).
std::vector<Variable> local_variables(const Graph& graph, std::string_view scope = "");
/// tf.model_variables(scope).
std::vector<Variable> model_variables(const Graph& graph, std::string_view scope = "");
/// Every variable of the graph in creation order, whatever its collections.
std::vector<Variable> all_variables(const Graph& graph);
/// The variable whose VariableV2 node is `node`, or an invalid handle.
Variable variable_for_node(const Graph& graph, const Node* node);

/// Per-graph store of variables and collections. Variable scopes live per thread (see Graph).
class VariableStore {
 public:
  explicit VariableStore(Graph* graph);
  ~VariableStore();

  /// The variable scope in force on this thread.
  const VariableScope& current_scope() const;
  /// Every variable in creation order. Not safe while another thread creates variables.
  const std::vector<std::unique_ptr<VariableInfo>>& variables() const { return variables_; }
  /// The get_variable entry named `name`, or nullptr.
  const VariableInfo* find(std::string_view name) const;
  const VariableInfo* find_by_node(const Node* node) const;

 private:
  friend Variable get_variable(Graph&, std::string_view, VariableOptions, std::source_location);
  friend Variable variable(Graph&, std::string_view, VariableOptions, std::source_location);
  friend void add_to_collection(Graph&, std::string_view, CollectionItem);
  friend std::vector<CollectionItem> get_collection(const Graph&, std::string_view, std::string_view);
  friend std::vector<std::string> collection_keys_of(const Graph&);
  friend Variable true_get_variable(Graph&, std::string_view, const VariableOptions&, std::source_location);

  struct NewVariable {
    std::string name;
    bool register_for_get_variable = true;
    DType dtype = DType::kFloat32;
    Shape shape;
    Initializer initializer;
    bool trainable = true;
    MemoryKind memory_kind = MemoryKind::kParameter;
    std::vector<std::string> collections;
    Constraint constraint;
    std::source_location location;
  };
  const VariableInfo* create(NewVariable spec);

  Graph* graph_;
  mutable std::recursive_mutex mutex_;  // variables, names and collections; held across creation
  std::vector<std::unique_ptr<VariableInfo>> variables_;
  absl::flat_hash_map<std::string, const VariableInfo*> by_name_;
  absl::flat_hash_map<const Node*, const VariableInfo*> by_node_;
  std::vector<std::pair<std::string, std::vector<CollectionItem>>> collections_;
};

}  // namespace scopeflow
