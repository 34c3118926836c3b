#include "scopeflow/layers.h"

#include "absl/strings/str_cat.h"
#include "scopeflow/error.h"
#include "scopeflow/ops.h"

namespace scopeflow {

namespace {

// True when a variable is named `scope` or lives below "scope/" (an exact prefix, unlike the
// regular-expression filter of get_collection).
bool has_variables_under(const Graph& graph, const std::string& scope) {
  for (const Variable& v : all_variables(graph)) {
    const std::string& name = v.name();
    if (name == scope || (name.size() > scope.size() && name.compare(0, scope.size(), scope) == 0 &&
                          name[scope.size()] == '/')) {
      return true;
    }
  }
  return false;
}

}  // namespace

Layer::Layer(std::string name, std::string default_name)
    : name_(std::move(name)), default_name_(std::move(default_name)) {}

const std::string& Layer::scope_name() const {
  if (!scope_) throw_error(absl::StatusCode::kFailedPrecondition, "layer", "layer '", name_.empty() ? default_name_ : name_, "' is not built yet");
  return scope_->name;
}

Output Layer::operator()(Output input) {
  if (input.node == nullptr) throw_invalid("layer", "input is a null output");
  Graph& graph = *input.graph();
  if (!scope_) {
    std::string name = name_;
    if (name.empty()) {
      // Keras-style unique default names: dense, dense_1, ... within the parent scope.
      const std::string& parent = graph.variable_store().current_scope().name;
      name = default_name_;
      for (int i = 1;; ++i) {
        const std::string full = parent.empty() ? name : absl::StrCat(parent, "/", name);
        if (!has_variables_under(graph, full)) break;
        name = absl::StrCat(default_name_, "_", i);
      }
    }
    VariableScopeGuard guard(graph, name);
    VariableScope scope = guard.scope();
    weights_.clear();
    build(graph, input.shape());
    // Built only once build() succeeded (as Keras' built flag), so a failed build can be retried.
    scope_ = std::move(scope);
    return call(input);
  }
  VariableScopeGuard guard(graph, *scope_, {.reuse = Reuse::kReuse});
  return call(input);
}

Variable Layer::add_weight(Graph& graph, std::string_view name, Shape shape,
                           Initializer initializer, bool trainable,
                           std::source_location location) {
  Variable v = get_variable(graph, name,
                            {.shape = std::move(shape), .initializer = std::move(initializer),
                             .trainable = trainable},
                            location);
  weights_.push_back(v);
  return v;
}

Output apply_activation(Output x, Activation activation) {
  switch (activation) {
    case Activation::kNone: return x;
    case Activation::kRelu: return ops::relu(x);
    case Activation::kSigmoid: return ops::sigmoid(x);
    case Activation::kTanh: return ops::tanh(x);
    case Activation::kSoftmax: return ops::softmax(x);
  }
  return x;
}

Dense::Dense(int64_t units, DenseOptions options)
    : Layer(options.name, "dense"), units_(units), options_(std::move(options)) {
  if (units_ <= 0) throw_invalid("dense", "units must be positive, got ", units_);
}

void Dense::build(Graph& graph, const Shape& input_shape) {
  if (input_shape.rank() != 2) {
    throw_invalid("dense", "input must be rank 2 (batch, features), got ", input_shape.to_string());
  }
  kernel_ = add_weight(graph, options_.kernel_name, Shape{input_shape.dim(1), units_}, options_.kernel_initializer);
  if (options_.use_bias) bias_ = add_weight(graph, options_.bias_name, Shape{units_}, options_.bias_initializer);
}

Output Dense::call(Output input) {
  Output y = ops::matmul(input, kernel_);
  if (options_.use_bias) y = ops::bias_add(y, bias_);
  return apply_activation(y, options_.activation);
}

Output linear(Output x, int64_t units, std::string_view scope, LinearOptions options,
              std::source_location location) {
  if (x.node == nullptr) throw_invalid("linear", "input is a null output");
  if (x.shape().rank() != 2) throw_invalid("linear", "input must be rank 2, got ", x.shape().to_string());
  Graph& graph = *x.graph();
  VariableScopeGuard guard(graph, scope, {.reuse = options.reuse});
  Variable w = get_variable(graph, "weights",
                            {.shape = Shape{x.shape().dim(1), units},
                             .initializer = options.weights_initializer},
                            location);
  Variable b = get_variable(graph, "biases",
                            {.shape = Shape{units}, .initializer = options.biases_initializer},
                            location);
  return ops::add(ops::matmul(x, w), b);
}

}  // namespace scopeflow
