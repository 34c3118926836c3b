// Uses the installed headers and library: a 2x3 float tensor of zeros has six elements, and the
// digits embedded in the library load without the source tree's data/.
#include <cstdio>

#include "scopeflow/data.h"
#include "scopeflow/shape.h"
#include "scopeflow/tensor.h"

int main() {
  const scopeflow::Shape shape{2, 3};
  const scopeflow::Tensor t = scopeflow::Tensor::zeros(scopeflow::DType::kFloat32, shape);
  const scopeflow::data::Dataset digits = scopeflow::data::load_digits();
  std::printf("scopeflow consumer: %lld elements, %lld digits\n", static_cast<long long>(t.num_elements()),
              static_cast<long long>(digits.num_examples));
  return t.num_elements() == 6 && digits.num_examples == 1797 ? 0 : 1;
}
