#include "scopeflow/scope.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "graph/build_context.h"
#include "scope/scope_filter.h"
#include "scopeflow/error.h"

namespace scopeflow {

namespace {

std::string location_text(const std::source_location& loc) {
  return absl::StrCat(loc.file_name(), ":", loc.line(), " (", loc.function_name(), ")");
}

void check_initializer_fits(std::string_view where, std::string_view name,
                            const Initializer& init, DType dtype) {
  if (!is_floating(dtype) && is_random_initializer(init.kind)) {
    throw_invalid(where, "initializer ", init.name(), " of variable '", name,
                  "' needs a floating dtype, but the variable is ", dtype_name(dtype));
  }
}

std::string join_scope(std::string_view parent, std::string_view name) {
  return parent.empty() ? std::string(name) : absl::StrCat(to_absl(parent), "/", to_absl(name));
}

// A scope or variable name given by model code: TensorFlow's name rules, and no empty parts.
void check_name(std::string_view where, std::string_view what, std::string_view name,
                std::string_view full_name) {
  if (name.empty()) throw_invalid(where, what, " name must not be empty");
  if (name.front() == '/' || name.back() == '/' || absl::StrContains(to_absl(name), "//")) {
    throw_invalid(where, what, " name '", name, "' must not start or end with '/' or hold '//'");
  }
  if (!is_valid_nested_scope_name(name) || !is_valid_node_name(full_name)) {
    throw_invalid(where, "'", name, "' is not a valid ", what,
                  " name: names match [A-Za-z0-9.][A-Za-z0-9_.\\\\/>-]* (TensorFlow's rule)");
  }
}

void reject_partitioner(std::string_view where, const Partitioner& partitioner) {
  if (partitioner) {
    throw_error(absl::StatusCode::kUnimplemented, where,
                "partitioned variables are not supported: a variable is one buffer here "
                "(remove the partitioner)");
  }
}

// TensorFlow's _maybe_wrap_custom_getter: the inner getter runs first and calls the outer one.
CustomGetter wrap_custom_getter(CustomGetter inner, CustomGetter outer) {
  if (!outer) return inner;
  if (!inner) return outer;
  return [inner = std::move(inner), outer = std::move(outer)](
             const VariableGetter& getter, std::string_view name, const VariableOptions& options) {
    VariableGetter through_outer = [&outer, &getter](std::string_view n, const VariableOptions& o) {
      return outer(getter, n, o);
    };
    return inner(through_outer, name, options);
  };
}

BuildContext& context_of(Graph& graph) { return graph.build_context(); }

// TensorFlow's _get_unique_variable_scope: `prefix`, else prefix_1, prefix_2, ... by how many
// times each full scope name was entered on this thread.
std::string unique_variable_scope(const BuildContext& context, const std::string& parent,
                                  const std::string& prefix) {
  auto count = [&](const std::string& name) {
    auto it = context.variable_scope_counts.find(name);
    return it == context.variable_scope_counts.end() ? 0 : it->second;
  };
  const std::string name = join_scope(parent, prefix);
  if (count(name) == 0) return prefix;
  int index = 1;
  while (count(absl::StrCat(name, "_", index)) > 0) ++index;
  return absl::StrCat(prefix, "_", index);
}

// What tf.Variable's constructor does with trainable and collections: GLOBAL_VARIABLES unless a
// list is given, and TRAINABLE_VARIABLES added for a trainable variable.
template <typename NewVariable>
void set_variable_options(NewVariable& spec, const VariableOptions& options, std::source_location location) {
  spec.trainable = options.trainable;
  spec.memory_kind = options.memory_kind;
  spec.collections = options.collections.value_or(
      std::vector<std::string>{std::string(collection_keys::kGlobalVariables)});
  if (options.trainable &&
      std::find(spec.collections.begin(), spec.collections.end(), collection_keys::kTrainableVariables) ==
          spec.collections.end()) {
    spec.collections.emplace_back(collection_keys::kTrainableVariables);
  }
  spec.constraint = options.constraint;
  spec.location = location;
}

}  // namespace

const char* reuse_name(Reuse reuse) {
  switch (reuse) {
    case Reuse::kNone: return "none";
    case Reuse::kReuse: return "reuse";
    case Reuse::kAutoReuse: return "auto_reuse";
  }
  return "unknown";
}

const VariableInfo& Variable::info() const {
  if (info_ == nullptr) throw_invalid("variable", "use of an invalid (default-constructed) variable");
  if (!lifetime_->alive.load(std::memory_order_acquire)) {
    throw_error(absl::StatusCode::kFailedPrecondition, "variable",
                "use of a variable whose graph was destroyed; keep the Graph alive while its "
                "variables are used");
  }
  return *info_;
}

Variable Variable::with_value(Output value) const {
  const VariableInfo& var = info();
  if (!value.valid()) throw_invalid("variable", "with_value: the value for '", var.name, "' is a null output");
  if (value.graph() != var.node->graph()) {
    throw_invalid("variable", "with_value: the value for '", var.name, "' belongs to another graph");
  }
  Variable result = *this;
  result.value_ = value;
  return result;
}

// --- Scope handles ----------------------------------------------------------------------------

void VariableScopeHandle::set_partitioner(Partitioner partitioner) {
  if (!partitioner) partitioner = [](const Shape&, DType) { return std::vector<int64_t>{}; };
  reject_partitioner("variable_scope", partitioner);
}

std::vector<Variable> VariableScopeHandle::global_variables() const {
  const std::string& name = scope_->name;
  return get_collection_variables(*graph_, collection_keys::kGlobalVariables, name.empty() ? "" : name + "/");
}
std::vector<Variable> VariableScopeHandle::trainable_variables() const {
  const std::string& name = scope_->name;
  return get_collection_variables(*graph_, collection_keys::kTrainableVariables, name.empty() ? "" : name + "/");
}
std::vector<Variable> VariableScopeHandle::local_variables() const {
  const std::string& name = scope_->name;
  return get_collection_variables(*graph_, collection_keys::kLocalVariables, name.empty() ? "" : name + "/");
}

VariableScopeHandle get_variable_scope(Graph& graph) {
  return VariableScopeHandle(&graph, context_of(graph).variable_scopes.back());
}

// --- Store ------------------------------------------------------------------------------------

VariableStore::VariableStore(Graph* graph) : graph_(graph) {}
VariableStore::~VariableStore() = default;

const VariableScope& VariableStore::current_scope() const {
  return *graph_->build_context().variable_scopes.back();
}

const VariableInfo* VariableStore::find(std::string_view name) const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  auto it = by_name_.find(to_absl(name));
  return it == by_name_.end() ? nullptr : it->second;
}

const VariableInfo* VariableStore::find_by_node(const Node* node) const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  auto it = by_node_.find(node);
  return it == by_node_.end() ? nullptr : it->second;
}

const VariableInfo* VariableStore::create(NewVariable spec) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  // Checked before anything is made, so a bad key leaves no half-made variable.
  for (const std::string& key : spec.collections) {
    if (key.empty()) throw_invalid("get_variable", "variable ", spec.name, ": a collection key is empty");
  }
  // Variables ignore enclosing control_dependencies blocks, as TensorFlow's init_scope does.
  ControlDependencies no_control_dependencies = graph_->control_dependencies(std::nullopt);
  // Node names follow TensorFlow: the variable op takes the uniquified full name, and its
  // read Identity sits below it as "<name>/read".
  const std::string node_name = graph_->unique_name(spec.name);
  NodeSpec var_spec;
  var_spec.op = "VariableV2";
  var_spec.name = node_name;
  var_spec.exact_name = true;
  var_spec.attrs = {{"shape", spec.shape}, {"dtype", spec.dtype},
                    {"container", std::string()}, {"shared_name", std::string()}};
  Node* var_node = graph_->add_node(std::move(var_spec));

  NodeSpec read_spec;
  read_spec.op = "Identity";
  read_spec.name = graph_->unique_name(absl::StrCat(node_name, "/read"));
  read_spec.exact_name = true;
  read_spec.inputs = {var_node->output(0)};
  read_spec.attrs = {{"T", spec.dtype}};
  Node* read_node = graph_->add_node(std::move(read_spec));

  auto info = std::make_unique<VariableInfo>();
  info->initializer_scope = graph_->unique_name(absl::StrCat(node_name, "/Initializer"));
  info->assign_name = graph_->unique_name(absl::StrCat(node_name, "/Assign"));
  info->name = spec.register_for_get_variable ? std::move(spec.name) : node_name;
  info->node = var_node;
  info->read = read_node;
  info->dtype = spec.dtype;
  info->shape = std::move(spec.shape);
  info->initializer = std::move(spec.initializer);
  info->trainable = spec.trainable;
  info->from_get_variable = spec.register_for_get_variable;
  info->memory_kind = spec.memory_kind;
  info->collections = std::move(spec.collections);
  info->constraint = std::move(spec.constraint);
  info->defined_at = spec.location;
  const VariableInfo* raw = info.get();
  if (spec.register_for_get_variable) by_name_.emplace(raw->name, raw);
  by_node_.emplace(var_node, raw);
  variables_.push_back(std::move(info));
  for (const std::string& key : raw->collections) add_to_collection(*graph_, key, Variable(raw));
  return raw;
}

// --- Scope guards -----------------------------------------------------------------------------

VariableScopeGuard::VariableScopeGuard(Graph& graph, std::string_view name,
                                       VariableScopeOptions options)
    : graph_(graph) {
  graph.check_guards("variable_scope");
  BuildContext& context = context_of(graph);
  const VariableScope& parent = *context.variable_scopes.back();
  const bool reusing = options.reuse && *options.reuse != Reuse::kNone;
  std::string relative;
  if (name.empty()) {
    if (options.default_name.empty()) {
      throw_invalid("variable_scope", "a scope name or a default_name is required (TensorFlow: "
                    "if default_name is None then name_or_scope is required)");
    }
    if (reusing) {
      throw_invalid("variable_scope", "reuse=", reuse_name(*options.reuse),
                    " cannot be used without a name_or_scope (default_name '",
                    options.default_name, "')");
    }
    check_name("variable_scope", "scope", options.default_name,
               join_scope(parent.name, options.default_name));
    relative = unique_variable_scope(context, parent.name, options.default_name);
  } else {
    check_name("variable_scope", "scope", name, join_scope(parent.name, name));
    relative = std::string(name);
  }
  VariableScope scope;
  scope.name = join_scope(parent.name, relative);
  // Reuse is inherited unless switched on here (TensorFlow: reuse or parent.reuse).
  scope.reuse = reusing ? *options.reuse : parent.reuse;
  scope.initializer = options.initializer ? options.initializer : parent.initializer;
  scope.dtype = options.dtype ? options.dtype : parent.dtype;
  scope.regularizer = options.regularizer ? options.regularizer : parent.regularizer;
  scope.custom_getter = wrap_custom_getter(options.custom_getter, parent.custom_getter);
  // As TensorFlow's _pure_variable_scope: a scope's constraint is its own, never inherited.
  scope.constraint = options.constraint;
  // The op name scope is the given name (or the default name), uniquified as a name scope.
  enter(std::move(scope), /*by_object=*/false, name.empty() ? std::string_view(options.default_name) : name,
        options);
}

VariableScopeGuard::VariableScopeGuard(Graph& graph, const VariableScope& object,
                                       VariableScopeOptions options)
    : graph_(graph) {
  graph.check_guards("variable_scope");
  // A default_name is ignored when a scope is given, as TensorFlow's
  // variable_scope(scope, "dense", [inputs]) idiom relies on.
  VariableScope scope = object;
  // Entry by object: the object's reuse unless switched on here (TensorFlow's
  // `name_or_scope.reuse if not reuse else reuse`); the parent's does not apply.
  if (options.reuse && *options.reuse != Reuse::kNone) scope.reuse = *options.reuse;
  if (options.initializer) scope.initializer = options.initializer;
  if (options.dtype) scope.dtype = options.dtype;
  if (options.regularizer) scope.regularizer = options.regularizer;
  scope.custom_getter = wrap_custom_getter(options.custom_getter, object.custom_getter);
  scope.constraint = options.constraint;
  const size_t slash = object.name.rfind('/');
  const std::string base = slash == std::string::npos ? object.name : object.name.substr(slash + 1);
  enter(std::move(scope), /*by_object=*/true, base, options);
}

void VariableScopeGuard::enter(VariableScope scope, bool by_object, std::string_view name_scope_base,
                               const VariableScopeOptions& options) {
  reject_partitioner("variable_scope", options.partitioner);
  for (const Output& value : options.values) {
    if (!value.valid() || value.graph() != &graph_) {
      throw_invalid("variable_scope", "a value passed to scope '", scope.name,
                    "' is null or belongs to another graph");
    }
  }
  BuildContext& context = context_of(graph_);
  GuardFrame frame;
  frame.kind = GuardKind::kVariableScope;
  frame.description = absl::StrCat("variable_scope '", scope.name, "'");
  frame.previous_name_scope = context.name_scope;
  frame.entered_by_object = by_object;
  frame.variable_scope_name = scope.name;
  // Ops go to a fresh, uniquified name scope; variable names keep the scope's own prefix. The
  // root scope object and auxiliary_name_scope = false open none.
  std::string name_scope = context.name_scope;
  if (options.auxiliary_name_scope && !name_scope_base.empty()) {
    name_scope = absl::StrCat(graph_.unique_name(absl::StrCat(context.name_scope, to_absl(name_scope_base))), "/");
  }
  if (!by_object) scope.original_name_scope = name_scope;
  // TensorFlow's open_variable_scope, then (entry by object) the snapshot restored on exit.
  ++context.variable_scope_counts[scope.name];
  if (by_object) frame.saved_scope_counts = context.variable_scope_counts;
  scope_ = std::make_shared<VariableScope>(std::move(scope));
  guard_id_ = graph_.open_guard(std::move(frame));
  context.name_scope = std::move(name_scope);
  context.variable_scopes.push_back(scope_);
}

VariableScopeGuard::~VariableScopeGuard() { graph_.close_guard(guard_id_); }

// --- get_variable -----------------------------------------------------------------------------

// The getter at the end of every custom-getter chain (TensorFlow's _true_getter and
// _get_single_variable): gets `full` or creates it, with every check TensorFlow makes.
Variable true_get_variable(Graph& graph, std::string_view full, const VariableOptions& options,
                           std::source_location location) {
  constexpr std::string_view kWhere = "get_variable";
  VariableStore& store = graph.variable_store();
  std::lock_guard<std::recursive_mutex> lock(store.mutex_);
  if (!is_valid_node_name(full)) {
    throw_invalid(kWhere, "'", full, "' is not a valid variable name: names match "
                  "[A-Za-z0-9.][A-Za-z0-9_.\\\\/>-]* (TensorFlow's rule)");
  }
  reject_partitioner(kWhere, options.partitioner);
  const Reuse reuse = options.reuse.value_or(Reuse::kNone);
  const DType requested_dtype = options.dtype.value_or(DType::kFloat32);
  const Initializer* given = options.initializer ? &*options.initializer : nullptr;
  const bool from_value = given != nullptr && given->kind == InitializerKind::kValue;
  if (from_value && given->tensor == nullptr) {
    throw_invalid(kWhere, "the value initializer of variable ", full, " holds no tensor (use init::value)");
  }
  if (from_value && options.shape && *options.shape != given->tensor->shape()) {
    throw_invalid(kWhere, "variable ", full, ": the initializer is a constant of shape ",
                  given->tensor->shape().to_string(), " but shape ", options.shape->to_string(),
                  " was specified (if initializer is a constant, do not specify shape)");
  }

  if (const VariableInfo* found = store.find(full)) {
    if (reuse == Reuse::kNone) {
      throw_error(absl::StatusCode::kAlreadyExists, kWhere, "Variable ", full,
                  " already exists, disallowed. Did you mean to set reuse=kReuse or "
                  "reuse=kAutoReuse in the variable scope? Originally defined at ",
                  location_text(found->defined_at));
    }
    if (options.shape && *options.shape != found->shape) {
      throw_invalid(kWhere, "Trying to share variable ", full, ", but specified shape ",
                    options.shape->to_string(), " and found shape ", found->shape.to_string(),
                    ". Originally defined at ", location_text(found->defined_at));
    }
    if (requested_dtype != found->dtype) {
      throw_invalid(kWhere, "Trying to share variable ", full, ", but specified dtype ",
                    dtype_name(requested_dtype), " and found dtype ", dtype_name(found->dtype),
                    ". Originally defined at ", location_text(found->defined_at));
    }
    return Variable(found);
  }

  if (reuse == Reuse::kReuse) {
    throw_error(absl::StatusCode::kNotFound, kWhere, "Variable ", full,
                " does not exist, or was not created with get_variable(). Did you mean to set "
                "reuse=kAutoReuse in the variable scope?");
  }

  Initializer initializer = given != nullptr ? *given : default_initializer(requested_dtype);
  Shape shape;
  DType dtype = requested_dtype;
  if (initializer.kind == InitializerKind::kFunction) {
    initializer = call_initializer_function(kWhere, full, initializer, options.shape, dtype);
  }
  if (initializer.kind == InitializerKind::kValue) {
    // The value gives shape and dtype (TensorFlow: variable_dtype = None).
    shape = initializer.tensor->shape();
    dtype = initializer.tensor->dtype();
  } else if (options.shape) {
    shape = *options.shape;
  } else {
    throw_invalid(kWhere, "Shape of a new variable (", full,
                  ") must be fully defined, but instead was unknown (give a shape or a value initializer)");
  }
  check_initializer_fits(kWhere, full, initializer, dtype);

  VariableStore::NewVariable spec;
  spec.name = std::string(full);
  spec.dtype = dtype;
  spec.shape = std::move(shape);
  spec.initializer = std::move(initializer);
  set_variable_options(spec, options, location);
  const VariableInfo* created = store.create(std::move(spec));
  VariableInfo* info = const_cast<VariableInfo*>(created);  // ours: the store owns it

  if (options.regularizer && *options.regularizer) {
    // TensorFlow: under name_scope("<var>/Regularizer/"), outside control dependencies, once.
    NameScope regularizer_scope = graph.name_scope(absl::StrCat(info->name, "/Regularizer/"));
    ControlDependencies no_control_dependencies = graph.control_dependencies(std::nullopt);
    std::optional<Output> loss = (*options.regularizer)(info->read->output(0));
    if (loss.has_value()) {
      if (!loss->valid() || loss->graph() != &graph || loss->shape().rank() != 0 ||
          !is_floating(loss->dtype())) {
        throw_invalid(kWhere, "the regularizer of variable ", full,
                      " must return a floating scalar of this graph, got ",
                      loss->valid() ? absl::StrCat(dtype_name(loss->dtype()), " ", loss->shape().to_string())
                                    : std::string("a null output"));
      }
      info->regularization_loss = *loss;
      add_to_collection(graph, collection_keys::kRegularizationLosses, *loss);
    }
  }
  return Variable(created);
}

namespace {

// VariableScope.get_variable: the call's settings, else the scope's, then the getter chain.
Variable get_variable_in_scope(Graph& graph, std::string_view name, VariableOptions options,
                               std::source_location location) {
  graph.check_guards("get_variable");
  // The scope object is shared: a custom getter that enters scopes cannot invalidate it.
  const std::shared_ptr<VariableScope> scope_object = context_of(graph).variable_scopes.back();
  const VariableScope& scope = *scope_object;
  check_name("get_variable", "variable", name, join_scope(scope.name, name));
  const std::string full = join_scope(scope.name, name);
  reject_partitioner("get_variable", options.partitioner);
  if (options.dtype && options.initializer && options.initializer->kind == InitializerKind::kValue &&
      options.initializer->tensor != nullptr && options.initializer->tensor->dtype() != *options.dtype) {
    throw_invalid("get_variable", "variable ", full, ": Initializer type '",
                  dtype_name(options.initializer->tensor->dtype()), "' and explicit dtype '",
                  dtype_name(*options.dtype), "' don't match");
  }
  if (!options.initializer) options.initializer = scope.initializer;
  if (!options.regularizer) options.regularizer = scope.regularizer;
  if (!options.constraint) options.constraint = scope.constraint;
  if (!options.dtype) options.dtype = scope.dtype.value_or(DType::kFloat32);
  if (!options.reuse) options.reuse = scope.reuse;
  CustomGetter custom_getter = options.custom_getter ? options.custom_getter : scope.custom_getter;
  options.custom_getter = nullptr;
  VariableGetter getter = [&graph, location](std::string_view n, const VariableOptions& o) {
    return true_get_variable(graph, n, o, location);
  };
  // TensorFlow creates variables and runs custom getters at the root name scope.
  NameScope root_name_scope = graph.name_scope("");
  if (!custom_getter) return getter(full, options);
  Variable result = custom_getter(getter, full, options);
  if (!result.valid()) {
    throw_invalid("get_variable", "the custom getter for ", full, " returned an invalid variable");
  }
  return result;
}

}  // namespace

Variable get_variable(Graph& graph, std::string_view name, VariableOptions options,
                      std::source_location location) {
  return get_variable_in_scope(graph, name, std::move(options), location);
}

Variable get_local_variable(Graph& graph, std::string_view name, VariableOptions options,
                            std::source_location location) {
  std::vector<std::string> collections = options.collections.value_or(std::vector<std::string>{});
  collections.emplace_back(collection_keys::kLocalVariables);
  options.collections = std::move(collections);
  options.trainable = false;
  return get_variable_in_scope(graph, name, std::move(options), location);
}

Variable variable(Graph& graph, std::string_view name, VariableOptions options,
                  std::source_location location) {
  graph.check_guards("variable");
  // Like tf.Variable: named by the current name scope, never by the variable scope.
  const std::string full = absl::StrCat(graph.current_name_scope(), to_absl(name));
  check_name("variable", "variable", name, full);
  reject_partitioner("variable", options.partitioner);
  if (options.custom_getter) throw_invalid("variable", "variable '", name, "': custom getters apply to get_variable only");
  Initializer initializer = options.initializer.value_or(default_initializer(options.dtype.value_or(DType::kFloat32)));
  Shape shape;
  DType dtype = options.dtype.value_or(DType::kFloat32);
  if (initializer.kind == InitializerKind::kFunction) {
    initializer = call_initializer_function("variable", name, initializer, options.shape, dtype);
  }
  if (initializer.kind == InitializerKind::kValue) {
    if (initializer.tensor == nullptr) throw_invalid("variable", "variable '", name, "': the value initializer holds no tensor");
    const Tensor& values = *initializer.tensor;
    if (options.dtype && *options.dtype != values.dtype()) {
      throw_invalid("variable", "variable '", name, "': Initializer type '", dtype_name(values.dtype()),
                    "' and explicit dtype '", dtype_name(*options.dtype), "' don't match");
    }
    if (options.shape && *options.shape != values.shape()) {
      throw_invalid("variable", "variable '", name, "': the initializer is a constant of shape ",
                    values.shape().to_string(), " but shape ", options.shape->to_string(), " was specified");
    }
    shape = values.shape();
    dtype = values.dtype();
  } else if (options.shape) {
    shape = *options.shape;
  } else {
    throw_invalid("variable", "variable '", name, "' needs a shape or a value initializer");
  }
  check_initializer_fits("variable", name, initializer, dtype);
  VariableStore::NewVariable spec;
  spec.name = full;
  spec.register_for_get_variable = false;
  spec.dtype = dtype;
  spec.shape = std::move(shape);
  spec.initializer = std::move(initializer);
  set_variable_options(spec, options, location);
  return Variable(graph.variable_store().create(std::move(spec)));
}

// --- Collections ------------------------------------------------------------------------------

std::string collection_item_name(const CollectionItem& item) {
  if (const Variable* v = std::get_if<Variable>(&item)) return absl::StrCat(v->node()->name(), ":0");
  if (const Output* o = std::get_if<Output>(&item)) return absl::StrCat(o->node->name(), ":", o->index);
  const Node* node = std::get<Node*>(item);
  return node == nullptr ? std::string() : node->name();
}

void add_to_collection(Graph& graph, std::string_view key, CollectionItem item) {
  if (key.empty()) throw_invalid("add_to_collection", "the collection key must not be empty");
  const bool valid = std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Variable>) return x.valid() && x.node()->graph() == &graph;
        else if constexpr (std::is_same_v<T, Output>) return x.valid() && x.graph() == &graph;
        else return x != nullptr && x->graph() == &graph;
      },
      item);
  if (!valid) {
    throw_invalid("add_to_collection", "an item for collection '", key, "' is invalid or belongs to another graph");
  }
  VariableStore& store = graph.variable_store();
  std::lock_guard<std::recursive_mutex> lock(store.mutex_);
  for (auto& [name, items] : store.collections_) {
    if (name == key) {
      items.push_back(std::move(item));
      return;
    }
  }
  store.collections_.emplace_back(std::string(key), std::vector<CollectionItem>{std::move(item)});
}

std::vector<CollectionItem> get_collection(const Graph& graph, std::string_view key, std::string_view scope) {
  const ScopeFilter filter("get_collection", scope);
  const VariableStore& store = graph.variable_store();
  std::lock_guard<std::recursive_mutex> lock(store.mutex_);
  std::vector<CollectionItem> out;
  for (const auto& [name, items] : store.collections_) {
    if (name != key) continue;
    for (const CollectionItem& item : items) {
      if (filter.matches(collection_item_name(item))) out.push_back(item);
    }
  }
  return out;
}

std::vector<Variable> get_collection_variables(const Graph& graph, std::string_view key, std::string_view scope) {
  std::vector<Variable> out;
  for (const CollectionItem& item : get_collection(graph, key, scope)) {
    if (const Variable* v = std::get_if<Variable>(&item)) out.push_back(*v);
  }
  return out;
}

std::vector<Output> get_collection_outputs(const Graph& graph, std::string_view key, std::string_view scope) {
  std::vector<Output> out;
  for (const CollectionItem& item : get_collection(graph, key, scope)) {
    if (const Output* o = std::get_if<Output>(&item)) out.push_back(*o);
  }
  return out;
}

std::vector<std::string> collection_keys_of(const Graph& graph) {
  const VariableStore& store = graph.variable_store();
  std::lock_guard<std::recursive_mutex> lock(store.mutex_);
  std::vector<std::string> keys;
  for (const auto& [name, items] : store.collections_) {
    if (!items.empty()) keys.push_back(name);
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<Variable> global_variables(const Graph& graph, std::string_view scope) {
  return get_collection_variables(graph, collection_keys::kGlobalVariables, scope);
}

std::vector<Variable> trainable_variables(const Graph& graph, std::string_view scope) {
  return get_collection_variables(graph, collection_keys::kTrainableVariables, scope);
}

std::vector<Variable> local_variables(const Graph& graph, std::string_view scope) {
  return get_collection_variables(graph, collection_keys::kLocalVariables, scope);
}

std::vector<Variable> model_variables(const Graph& graph, std::string_view scope) {
  return get_collection_variables(graph, collection_keys::kModelVariables, scope);
}

std::vector<Variable> all_variables(const Graph& graph) {
  std::vector<Variable> out;
  for (const auto& info : graph.variable_store().variables()) out.emplace_back(info.get());
  return out;
}

Variable variable_for_node(const Graph& graph, const Node* node) {
  return Variable(graph.variable_store().find_by_node(node));
}

}  // namespace scopeflow
