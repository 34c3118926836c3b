#include "scopeflow/scope.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "scopeflow/error.h"

namespace scopeflow {

namespace {

std::string location_text(const std::source_location& loc) {
  return absl::StrCat(loc.file_name(), ":", loc.line(), " (", loc.function_name(), ")");
}

bool in_scope(std::string_view name, std::string_view scope) {
  if (scope.empty()) return true;
  return name == scope || (absl::StartsWith(to_absl(name), to_absl(scope)) && name.size() > scope.size() &&
                           name[scope.size()] == '/');
}

bool is_random(InitializerKind kind) {
  return kind != InitializerKind::kZeros && kind != InitializerKind::kOnes &&
         kind != InitializerKind::kConstant;
}

void check_initializer_fits(std::string_view where, std::string_view name,
                            const Initializer& init, DType dtype) {
  if (!is_floating(dtype) && is_random(init.kind)) {
    throw_invalid(where, "initializer ", init.name(), " of variable '", name,
                  "' needs a floating dtype, but the variable is ", dtype_name(dtype));
  }
}

// Reuse of a scope entered below `parent`: inherited when not given, never switched off.
Reuse resolve_reuse(const VariableScope& parent, std::optional<Reuse> requested,
                    Reuse own_default, std::string_view scope_name) {
  const Reuse wanted = requested.value_or(own_default);
  if (parent.reuse == Reuse::kNone) return wanted;
  if (requested.has_value() && *requested == Reuse::kNone) {
    throw_invalid("variable_scope", "cannot switch reuse off for scope '", scope_name,
                  "' inside scope '", parent.name, "' whose reuse is ", reuse_name(parent.reuse));
  }
  return wanted == Reuse::kNone ? parent.reuse : wanted;
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
  return *info_;
}

VariableStore::VariableStore(Graph* graph) : graph_(graph) { scopes_.emplace_back(); }
VariableStore::~VariableStore() = default;

const VariableInfo* VariableStore::find(std::string_view name) const {
  auto it = by_name_.find(to_absl(name));
  return it == by_name_.end() ? nullptr : it->second;
}

const VariableInfo* VariableStore::find_by_node(const Node* node) const {
  auto it = by_node_.find(node);
  return it == by_node_.end() ? nullptr : it->second;
}

const VariableInfo* VariableStore::create(std::string name, bool register_for_get_variable,
                                          DType dtype, Shape shape, Initializer initializer,
                                          bool trainable, bool from_get_variable,
                                          MemoryKind memory_kind, std::source_location location) {
  // Node names follow TensorFlow: the variable op takes the uniquified full name, and its
  // read Identity sits below it as "<name>/read".
  const std::string node_name = graph_->unique_name(name);
  NodeSpec var_spec;
  var_spec.op = "VariableV2";
  var_spec.name = node_name;
  var_spec.exact_name = true;
  var_spec.attrs = {{"shape", shape}, {"dtype", dtype},
                    {"container", std::string()}, {"shared_name", std::string()}};
  Node* var_node = graph_->add_node(std::move(var_spec));

  NodeSpec read_spec;
  read_spec.op = "Identity";
  read_spec.name = graph_->unique_name(absl::StrCat(node_name, "/read"));
  read_spec.exact_name = true;
  read_spec.inputs = {var_node->output(0)};
  read_spec.attrs = {{"T", dtype}};
  Node* read_node = graph_->add_node(std::move(read_spec));

  auto info = std::make_unique<VariableInfo>();
  info->initializer_scope = graph_->unique_name(absl::StrCat(node_name, "/Initializer"));
  info->assign_name = graph_->unique_name(absl::StrCat(node_name, "/Assign"));
  info->name = from_get_variable ? std::move(name) : node_name;
  info->node = var_node;
  info->read = read_node;
  info->dtype = dtype;
  info->shape = std::move(shape);
  info->initializer = std::move(initializer);
  info->trainable = trainable;
  info->from_get_variable = from_get_variable;
  info->memory_kind = memory_kind;
  info->defined_at = location;
  const VariableInfo* raw = info.get();
  if (register_for_get_variable) by_name_.emplace(raw->name, raw);
  by_node_.emplace(var_node, raw);
  variables_.push_back(std::move(info));
  return raw;
}

VariableScopeGuard::VariableScopeGuard(Graph& graph, std::string_view name,
                                       VariableScopeOptions options)
    : graph_(graph) {
  if (name.empty()) throw_invalid("variable_scope", "scope name must not be empty");
  if (name.front() == '/' || name.back() == '/') {
    throw_invalid("variable_scope", "scope name '", name, "' must not start or end with '/'");
  }
  const VariableScope& parent = graph.variable_store().current_scope();
  VariableScope scope;
  scope.name = parent.name.empty() ? std::string(name) : absl::StrCat(parent.name, "/", to_absl(name));
  scope.reuse = resolve_reuse(parent, options.reuse, Reuse::kNone, scope.name);
  scope.initializer = options.initializer ? options.initializer : parent.initializer;
  scope.dtype = options.dtype ? options.dtype : parent.dtype;
  enter(std::move(scope), name);
}

VariableScopeGuard::VariableScopeGuard(Graph& graph, const VariableScope& object,
                                       VariableScopeOptions options)
    : graph_(graph) {
  if (object.name.empty()) {
    throw_invalid("variable_scope", "cannot re-enter the root variable scope by object");
  }
  const VariableScope& parent = graph.variable_store().current_scope();
  VariableScope scope = object;
  scope.reuse = resolve_reuse(parent, options.reuse, object.reuse, object.name);
  if (options.initializer) scope.initializer = options.initializer;
  if (options.dtype) scope.dtype = options.dtype;
  const size_t slash = object.name.rfind('/');
  const std::string_view base =
      slash == std::string::npos ? std::string_view(object.name)
                                 : std::string_view(object.name).substr(slash + 1);
  enter(std::move(scope), base);
}

void VariableScopeGuard::enter(VariableScope scope, std::string_view name_scope_base) {
  // Ops go to a fresh, uniquified name scope; variable names keep the scope's own prefix.
  previous_name_scope_ = graph_.enter_name_scope(name_scope_base);
  if (scope.original_name_scope.empty()) scope.original_name_scope = graph_.current_name_scope();
  auto& scopes = graph_.variable_store().scopes_;
  scopes.push_back(std::move(scope));
  depth_ = scopes.size();
}

VariableScopeGuard::~VariableScopeGuard() {
  auto& scopes = graph_.variable_store().scopes_;
  if (depth_ > 0 && scopes.size() >= depth_) scopes.resize(depth_ - 1);
  graph_.restore_name_scope(std::move(previous_name_scope_));
}

const VariableScope& VariableScopeGuard::scope() const {
  return graph_.variable_store().scopes_.at(depth_ - 1);
}

Variable get_variable(Graph& graph, std::string_view name, VariableOptions options,
                      std::source_location location) {
  if (name.empty()) throw_invalid("get_variable", "variable name must not be empty");
  VariableStore& store = graph.variable_store();
  const VariableScope& scope = store.current_scope();
  const std::string full = scope.name.empty() ? std::string(name)
                                              : absl::StrCat(scope.name, "/", to_absl(name));

  if (const VariableInfo* found = store.find(full)) {
    if (scope.reuse == Reuse::kNone) {
      throw_error(absl::StatusCode::kAlreadyExists, "get_variable", "variable ", full,
                  " already exists, disallowed. Did you mean to set reuse=kReuse or "
                  "reuse=kAutoReuse in the variable scope? Originally defined at ",
                  location_text(found->defined_at));
    }
    if (options.shape && *options.shape != found->shape) {
      throw_invalid("get_variable", "trying to share variable ", full,
                    ", but specified shape ", options.shape->to_string(), " and found shape ",
                    found->shape.to_string(), ". Originally defined at ",
                    location_text(found->defined_at));
    }
    if (options.dtype && *options.dtype != found->dtype) {
      throw_invalid("get_variable", "trying to share variable ", full,
                    ", but specified dtype ", dtype_name(*options.dtype), " and found dtype ",
                    dtype_name(found->dtype), ". Originally defined at ",
                    location_text(found->defined_at));
    }
    return Variable(found);
  }

  if (scope.reuse == Reuse::kReuse) {
    throw_error(absl::StatusCode::kNotFound, "get_variable", "variable ", full,
                " does not exist, or was not created with get_variable(). Did you mean to set "
                "reuse=kAutoReuse in the variable scope?");
  }
  if (!options.shape) {
    throw_invalid("get_variable", "shape of a new variable (", full,
                  ") must be given, but none was");
  }
  const DType dtype = options.dtype.value_or(scope.dtype.value_or(DType::kFloat32));
  Initializer initializer = options.initializer
                                ? *options.initializer
                                : scope.initializer.value_or(default_initializer(dtype));
  check_initializer_fits("get_variable", full, initializer, dtype);
  return Variable(store.create(full, /*register_for_get_variable=*/true, dtype,
                               std::move(*options.shape), std::move(initializer),
                               options.trainable, /*from_get_variable=*/true, options.memory_kind, location));
}

Variable variable(Graph& graph, std::string_view name, VariableOptions options,
                  std::source_location location) {
  if (name.empty()) throw_invalid("variable", "variable name must not be empty");
  if (!options.shape) throw_invalid("variable", "variable '", name, "' needs a shape");
  const DType dtype = options.dtype.value_or(DType::kFloat32);
  Initializer initializer = options.initializer.value_or(default_initializer(dtype));
  check_initializer_fits("variable", name, initializer, dtype);
  // Like tf.Variable: named by the current name scope, never by the variable scope.
  std::string full = absl::StrCat(graph.current_name_scope(), to_absl(name));
  return Variable(graph.variable_store().create(
      std::move(full), /*register_for_get_variable=*/false, dtype, std::move(*options.shape),
      std::move(initializer), options.trainable, /*from_get_variable=*/false, options.memory_kind,
      location));
}

std::vector<Variable> global_variables(const Graph& graph, std::string_view scope) {
  std::vector<Variable> out;
  for (const auto& info : graph.variable_store().variables()) {
    if (in_scope(info->name, scope)) out.emplace_back(info.get());
  }
  return out;
}

std::vector<Variable> trainable_variables(const Graph& graph, std::string_view scope) {
  std::vector<Variable> out;
  for (const auto& info : graph.variable_store().variables()) {
    if (info->trainable && in_scope(info->name, scope)) out.emplace_back(info.get());
  }
  return out;
}

Variable variable_for_node(const Graph& graph, const Node* node) {
  return Variable(graph.variable_store().find_by_node(node));
}

}  // namespace scopeflow
