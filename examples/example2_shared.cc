// Reference article, Example 2: linear_layer_shared called twice under variable scope
// "shared_layer" with auto-reuse. Both calls read shared_layer/weights and shared_layer/biases;
// the second call's ops land in name scope shared_layer_1/, as in TensorFlow.
// The model is examples::linear_layer_shared in article_models.h.

#include "example_common.h"

int main(int argc, char** argv) {
  return scopeflow::examples::run_article_example(2, "example 2: shared variables (auto-reuse)", argc, argv);
}
