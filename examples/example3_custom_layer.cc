// Reference article, Example 3: one custom layer object applied twice under variable scope
// "model". The layer builds weights and biases on its first call and reuses them on the second.
// The model is examples::complex_model / SharedLinearLayer in article_models.h.

#include "example_common.h"

int main(int argc, char** argv) {
  return scopeflow::examples::run_article_example(3, "example 3: one custom layer applied twice", argc, argv);
}
