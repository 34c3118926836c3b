#include "scopeflow/template.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "scopeflow/error.h"

namespace scopeflow {

namespace {

std::string location_text(const std::source_location& loc) {
  return absl::StrCat(loc.file_name(), ":", loc.line(), " (", loc.function_name(), ")");
}

}  // namespace

TemplateState::TemplateState(Graph& graph, std::string name, TemplateOptions options,
                             std::source_location defined_at)
    : graph_(graph), name_(std::move(name)), options_(std::move(options)), defined_at_(defined_at) {
  if (name_.empty()) throw_invalid("make_template", "the template name must not be empty");
  if (options_.create_scope_now) {
    // TensorFlow opens a pure variable scope here: no name scope, dtype float32, the scope's
    // name made unique among its siblings unless unique_name is given.
    VariableScopeGuard scope(graph_, options_.unique_name,
                             {.default_name = name_, .dtype = DType::kFloat32,
                              .custom_getter = options_.custom_getter, .auxiliary_name_scope = false});
    scope_ = scope.handle();
  }
}

void TemplateState::call(const std::function<void()>& body) {
  try {
    if (scope_.has_value()) {
      // Later calls (and the first call of a scope made now) re-enter the scope by object;
      // after the first call they reuse.
      std::optional<Reuse> reuse;
      if (!first_call_) reuse = Reuse::kReuse;
      VariableScopeGuard scope(graph_, scope_->scope(), {.reuse = reuse});
      run(body);
    } else {
      VariableScopeGuard scope(graph_, options_.unique_name,
                               {.default_name = name_, .custom_getter = options_.custom_getter});
      // Kept even when the call fails, as TensorFlow keeps it: a retry uses the same scope.
      scope_ = scope.handle();
      run(body);
    }
  } catch (const Error& e) {
    throw Error(e.code(), absl::StrCat(e.what(), "\n\ntemplate '", name_, "' originally defined at ",
                                       location_text(defined_at_)));
  }
}

void TemplateState::run(const std::function<void()>& body) {
  if (variables_created_) {
    const std::vector<Variable> before = scopeflow::trainable_variables(graph_);
    body();
    const std::vector<Variable> after = scopeflow::trainable_variables(graph_);
    if (after.size() != before.size()) {
      std::vector<std::string> created;
      for (size_t i = before.size(); i < after.size(); ++i) created.push_back(after[i].name());
      throw_invalid("make_template",
                    "Trainable variable created when calling a template after the first time, "
                    "perhaps you used variable() when you meant get_variable(): ",
                    absl::StrJoin(created, ", "));
    }
  } else if (first_call_) {
    first_call_ = false;
    try {
      body();
    } catch (...) {
      // A failed first call leaves the template as if it had not been called.
      first_call_ = true;
      throw;
    }
    variables_created_ = true;
  } else {
    // Called again from inside its own first call.
    body();
  }
}

std::optional<VariableScope> TemplateState::variable_scope() const {
  if (!scope_.has_value()) return std::nullopt;
  return scope_->scope();
}

std::string TemplateState::variable_scope_name() const {
  if (!scope_.has_value()) return "";
  const std::string& name = scope_->name();
  if (name.empty() || name.back() == '/') return name;
  return name + "/";
}

std::vector<Variable> TemplateState::global_variables() const {
  if (!variables_created_) return {};
  return get_collection_variables(graph_, collection_keys::kGlobalVariables, variable_scope_name());
}

std::vector<Variable> TemplateState::trainable_variables() const {
  if (!variables_created_) return {};
  return get_collection_variables(graph_, collection_keys::kTrainableVariables, variable_scope_name());
}

std::vector<Variable> TemplateState::non_trainable_variables() const {
  std::vector<Variable> out;
  const std::vector<Variable> trainable = trainable_variables();
  for (const Variable& v : global_variables()) {
    if (std::find(trainable.begin(), trainable.end(), v) == trainable.end()) out.push_back(v);
  }
  return out;
}

std::vector<Variable> TemplateState::local_variables() const {
  if (!variables_created_) return {};
  return get_collection_variables(graph_, collection_keys::kLocalVariables, variable_scope_name());
}

std::vector<Variable> TemplateState::variables() const {
  std::vector<Variable> out = global_variables();
  for (const Variable& v : local_variables()) out.push_back(v);
  return out;
}

}  // namespace scopeflow
