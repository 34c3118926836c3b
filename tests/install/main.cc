// Uses the installed headers and library: a 2x3 float tensor of zeros has six elements.
#include <cstdio>

#include "scopeflow/shape.h"
#include "scopeflow/tensor.h"

int main() {
  const scopeflow::Shape shape{2, 3};
  const scopeflow::Tensor t = scopeflow::Tensor::zeros(scopeflow::DType::kFloat32, shape);
  std::printf("scopeflow consumer: %lld elements\n", static_cast<long long>(t.num_elements()));
  return t.num_elements() == 6 ? 0 : 1;
}
