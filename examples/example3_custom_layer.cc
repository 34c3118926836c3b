// Reference article, Example 3: one custom layer object applied twice under variable scope
// "model". The layer builds weights and biases on its first call and reuses them on the second.
// The article applies a 5 -> 8 layer to its own 8-wide output, which cannot work; here the
// layer maps 8 -> 8 so that it fits (the literal version fails with a [matmul] shape error).

#include <exception>

#include "example_common.h"

namespace sf = scopeflow;

namespace {

class SharedLinearLayer : public sf::Layer {
 public:
  explicit SharedLinearLayer(int64_t units) : sf::Layer("", "shared_linear_layer"), units_(units) {}

 protected:
  void build(sf::Graph& graph, const sf::Shape& input_shape) override {
    w_ = add_weight(graph, "weights", sf::Shape{input_shape.dim(-1), units_}, sf::init::random_normal());
    b_ = add_weight(graph, "biases", sf::Shape{units_}, sf::init::zeros());
  }
  sf::Output call(sf::Output input) override { return sf::ops::matmul(input, w_) + b_; }

 private:
  int64_t units_;
  sf::Variable w_;
  sf::Variable b_;
};

sf::Output complex_model(sf::Graph& graph, sf::Output input, int64_t units, const char* scope) {
  sf::VariableScopeGuard guard(graph, scope, {.reuse = sf::Reuse::kAutoReuse});
  SharedLinearLayer layer_shared(units);
  sf::Output output1 = layer_shared(input);
  return layer_shared(output1);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    sf::Graph graph;
    sf::Output input_data = sf::ops::random_normal(graph, sf::Shape{10, 8});
    sf::Output model_output = complex_model(graph, input_data, 8, "model");

    sf::Session session(graph);
    session.initialize_variables();
    session.run({}, {model_output});
    sf::examples::print_report("example 3: one custom layer applied twice", session, argc, argv);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "example3_custom_layer: %s\n", e.what());
    return 1;
  }
}
