#pragma once
// tf.make_template: wraps a function so that its first call creates variables and every later
// call reuses them, each call with a name scope of its own.

#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "scopeflow/graph.h"
#include "scopeflow/scope.h"

namespace scopeflow {

/// make_template's options (TensorFlow's create_scope_now_, unique_name_, custom_getter_).
struct TemplateOptions {
  /// Opens the template's variable scope now (in the scope in force here) instead of at the
  /// first call.
  bool create_scope_now = false;
  /// Use this variable-scope name as it is instead of making `name` unique.
  std::string unique_name{};
  /// A custom getter for every get_variable inside the template.
  CustomGetter custom_getter{};
};

/// The state of one template, shared by its copies; Template<Fn> calls through it.
class TemplateState {
 public:
  TemplateState(Graph& graph, std::string name, TemplateOptions options, std::source_location defined_at);

  /// Runs `body` inside the template's variable scope: the first successful call creates,
  /// later calls reuse (and creating a trainable variable then is an error).
  void call(const std::function<void()>& body);

  const std::string& name() const { return name_; }
  /// The template's variable scope, once it exists (after create_scope_now or a first call).
  std::optional<VariableScope> variable_scope() const;
  /// "<scope>/", or "" before the scope exists.
  std::string variable_scope_name() const;
  /// Whether a call completed and so created the variables.
  bool variables_created() const { return variables_created_; }
  /// The collections' variables below the template's scope; empty until variables_created().
  std::vector<Variable> global_variables() const;
  std::vector<Variable> trainable_variables() const;
  std::vector<Variable> non_trainable_variables() const;
  std::vector<Variable> local_variables() const;
  /// global_variables() then local_variables().
  std::vector<Variable> variables() const;

 private:
  void run(const std::function<void()>& body);

  Graph& graph_;
  std::string name_;
  TemplateOptions options_;
  std::source_location defined_at_;
  std::optional<VariableScopeHandle> scope_;
  bool first_call_ = true;
  bool variables_created_ = false;
};

/// A function wrapped by make_template. Copies share the variables.
template <typename Fn>
class Template {
 public:
  Template(std::shared_ptr<TemplateState> state, Fn fn) : state_(std::move(state)), fn_(std::move(fn)) {}

  /// Calls the function inside the template's scope and returns what it returns.
  template <typename... Args>
  decltype(auto) operator()(Args&&... args) {
    using Result = std::invoke_result_t<Fn&, Args&&...>;
    if constexpr (std::is_void_v<Result>) {
      state_->call([&] { std::invoke(fn_, std::forward<Args>(args)...); });
    } else {
      std::optional<Result> result;
      state_->call([&] { result.emplace(std::invoke(fn_, std::forward<Args>(args)...)); });
      return Result(std::move(*result));
    }
  }

  const std::string& name() const { return state_->name(); }
  std::optional<VariableScope> variable_scope() const { return state_->variable_scope(); }
  std::string variable_scope_name() const { return state_->variable_scope_name(); }
  bool variables_created() const { return state_->variables_created(); }
  std::vector<Variable> global_variables() const { return state_->global_variables(); }
  std::vector<Variable> trainable_variables() const { return state_->trainable_variables(); }
  std::vector<Variable> non_trainable_variables() const { return state_->non_trainable_variables(); }
  std::vector<Variable> local_variables() const { return state_->local_variables(); }
  std::vector<Variable> variables() const { return state_->variables(); }

 private:
  std::shared_ptr<TemplateState> state_;
  Fn fn_;
};

/// tf.make_template(name, fn, ...): `name` names the template's variable scope (made unique
/// unless options.unique_name is set); each call gets a name scope of its own.
template <typename Fn>
Template<Fn> make_template(Graph& graph, std::string_view name, Fn fn, TemplateOptions options = {},
                           std::source_location location = std::source_location::current()) {
  auto state = std::make_shared<TemplateState>(graph, std::string(name), std::move(options), location);
  return Template<Fn>(std::move(state), std::move(fn));
}

}  // namespace scopeflow
