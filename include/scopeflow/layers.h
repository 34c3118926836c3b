#pragma once
// Keras-like layers that build their variables on the first call and share them afterwards,
// and the functional linear() helper of the reference article.

#include <optional>
#include <source_location>
#include <string>
#include <vector>

#include "scopeflow/graph.h"
#include "scopeflow/initializers.h"
#include "scopeflow/scope.h"

namespace scopeflow {

/// Base of layer objects: the first call opens the layer's variable scope and runs build();
/// every call (first and later) re-enters that scope by object with reuse on and runs call().
class Layer {
 public:
  /// `name` is the layer's scope name; empty = `default_name` made unique in its parent scope.
  explicit Layer(std::string name, std::string default_name = "layer");
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  /// Applies the layer; builds it first when this is the first call.
  Output operator()(Output input);

  bool built() const { return scope_.has_value(); }
  /// Full variable-scope name, known once built ("model/shared_linear_layer").
  const std::string& scope_name() const;
  /// Variables created by add_weight, in creation order.
  const std::vector<Variable>& weights() const { return weights_; }

 protected:
  /// Creates the layer's variables for an input of `input_shape` (called once).
  virtual void build(Graph& graph, const Shape& input_shape) = 0;
  /// Computes the output from the input with the built variables.
  virtual Output call(Output input) = 0;
  /// get_variable inside the layer's scope; use from build().
  Variable add_weight(Graph& graph, std::string_view name, Shape shape, Initializer initializer,
                      bool trainable = true,
                      std::source_location location = std::source_location::current());

 private:
  std::string name_;
  std::string default_name_;
  std::optional<VariableScope> scope_;
  std::vector<Variable> weights_;
};

enum class Activation { kNone, kRelu, kSigmoid, kTanh, kSoftmax };

/// Applies an activation op (kNone returns x).
Output apply_activation(Output x, Activation activation);

struct DenseOptions {
  Activation activation = Activation::kNone;
  bool use_bias = true;
  Initializer kernel_initializer = init::glorot_uniform();
  Initializer bias_initializer = init::zeros();
  std::string kernel_name = "kernel";
  std::string bias_name = "bias";
  std::string name;  // scope name; empty = "dense", "dense_1", ...
};

/// tf.keras.layers.Dense for rank-2 inputs: activation(x @ kernel + bias).
class Dense : public Layer {
 public:
  explicit Dense(int64_t units, DenseOptions options = {});

  int64_t units() const { return units_; }
  /// The kernel (in, units) and bias (units,) variables; invalid before the first call.
  const Variable& kernel() const { return kernel_; }
  const Variable& bias() const { return bias_; }

 protected:
  void build(Graph& graph, const Shape& input_shape) override;
  Output call(Output input) override;

 private:
  int64_t units_;
  DenseOptions options_;
  Variable kernel_;
  Variable bias_;
};

struct LinearOptions {
  Initializer weights_initializer = init::random_normal();
  Initializer biases_initializer = init::zeros();
  Reuse reuse = Reuse::kAutoReuse;
};

/// The article's linear_layer_shared: under variable_scope(scope, reuse), get_variable
/// "weights" (in, units) and "biases" (units,), then x @ weights + biases.
Output linear(Output x, int64_t units, std::string_view scope, LinearOptions options = {},
              std::source_location location = std::source_location::current());

}  // namespace scopeflow
