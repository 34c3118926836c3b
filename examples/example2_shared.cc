// Reference article, Example 2: linear_layer_shared called twice under variable scope
// "shared_layer" with auto-reuse. Both calls read shared_layer/weights and shared_layer/biases;
// the second call's ops land in name scope shared_layer_1/, as in TensorFlow.

#include <exception>

#include "example_common.h"

namespace sf = scopeflow;

namespace {

sf::Output linear_layer_shared(sf::Graph& graph, sf::Output input, int64_t units,
                               const char* scope) {
  sf::VariableScopeGuard guard(graph, scope, {.reuse = sf::Reuse::kAutoReuse});
  sf::Variable w = sf::get_variable(graph, "weights",
                                    {.shape = sf::Shape{input.shape().dim(-1), units},
                                     .initializer = sf::init::random_normal()});
  sf::Variable b = sf::get_variable(graph, "biases",
                                    {.shape = sf::Shape{units}, .initializer = sf::init::zeros()});
  return sf::ops::matmul(input, w) + b;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    sf::Graph graph;
    sf::Output input_data = sf::ops::random_normal(graph, sf::Shape{10, 5});
    sf::Output layer1_output_shared = linear_layer_shared(graph, input_data, 8, "shared_layer");
    sf::Output layer2_output_shared = linear_layer_shared(graph, input_data, 8, "shared_layer");

    sf::Session session(graph);
    session.initialize_variables();
    session.run({}, {layer1_output_shared, layer2_output_shared});
    sf::examples::print_report("example 2: shared variables (auto-reuse)", session, argc, argv);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "example2_shared: %s\n", e.what());
    return 1;
  }
}
