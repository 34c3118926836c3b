#include "scopeflow/dtype.h"

#include "scopeflow/error.h"

namespace scopeflow {

void throw_invalid_dtype(DType dtype) {
  throw_invalid("dtype", "invalid dtype value ", static_cast<int>(dtype));
}

}  // namespace scopeflow
