// Reference article, Example 1: two linear layers, each with its own variables (tf.Variable
// under tf.name_scope), so layer1/weights and layer2/weights are separate buffers.
// The model is examples::linear_layer in article_models.h.

#include "example_common.h"

int main(int argc, char** argv) {
  return scopeflow::examples::run_article_example(1, "example 1: naive variables", argc, argv);
}
