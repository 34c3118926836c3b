// Reference article, Example 1: two linear layers, each with its own variables (tf.Variable
// under tf.name_scope), so layer1/weights and layer2/weights are separate buffers.

#include <exception>

#include "example_common.h"

namespace sf = scopeflow;

namespace {

sf::Output linear_layer(sf::Graph& graph, sf::Output input, int64_t units, const char* name) {
  sf::NameScope scope = graph.name_scope(name);
  sf::Variable w = sf::variable(graph, "weights",
                                {.shape = sf::Shape{input.shape().dim(-1), units},
                                 .initializer = sf::init::random_normal()});
  sf::Variable b = sf::variable(graph, "biases",
                                {.shape = sf::Shape{units}, .initializer = sf::init::zeros()});
  return sf::ops::matmul(input, w) + b;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    sf::Graph graph;
    sf::Output input_data = sf::ops::random_normal(graph, sf::Shape{10, 5});
    sf::Output layer1_output = linear_layer(graph, input_data, 8, "layer1");
    sf::Output layer2_output = linear_layer(graph, input_data, 8, "layer2");

    sf::Session session(graph);
    session.initialize_variables();
    session.run({}, {layer1_output, layer2_output});
    sf::examples::print_report("example 1: naive variables", session, argc, argv);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "example1_naive: %s\n", e.what());
    return 1;
  }
}
