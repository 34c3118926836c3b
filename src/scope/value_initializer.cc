// Value and callable initializers: a variable initialized from a host tensor (pretrained
// embeddings, tf.get_variable(initializer=<tensor>)) or from a function of (shape, dtype).

#include <cstring>

#include "scopeflow/error.h"
#include "scopeflow/initializers.h"

namespace scopeflow {

namespace init {

Initializer value(Tensor values) {
  if (!values.defined()) throw_invalid("initializer", "value: the tensor is empty (default-constructed)");
  if (values.device().type != DeviceType::kCpu) {
    throw_invalid("initializer", "value: the tensor lives on ", values.device().to_string(),
                  "; a value initializer takes a host tensor");
  }
  Initializer result;
  result.kind = InitializerKind::kValue;
  // A private copy: later writes to the caller's tensor must not change the initial value.
  result.tensor = std::make_shared<const Tensor>(values.clone());
  return result;
}

Initializer from_function(std::function<Tensor(const Shape& shape, DType dtype)> fn) {
  if (!fn) throw_invalid("initializer", "from_function: the function is empty");
  Initializer result;
  result.kind = InitializerKind::kFunction;
  result.function = std::move(fn);
  return result;
}

Initializer from_function(std::function<Tensor()> fn) {
  if (!fn) throw_invalid("initializer", "from_function: the function is empty");
  Initializer result;
  result.kind = InitializerKind::kFunction;
  result.value_function = std::move(fn);
  return result;
}

}  // namespace init

Initializer call_initializer_function(std::string_view where, std::string_view variable_name,
                                      const Initializer& init, const std::optional<Shape>& shape, DType dtype) {
  if (init.value_function) {
    if (shape) {
      throw_invalid(where, "the initializer of variable ", variable_name,
                    " is a function without arguments, which gives the shape: do not specify shape (got ",
                    shape->to_string(), ")");
    }
    Tensor values = init.value_function();
    if (!values.defined()) throw_invalid(where, "the initializer function of variable ", variable_name, " returned an empty tensor");
    return init::value(std::move(values));
  }
  if (!init.function) throw_invalid(where, "the function initializer of variable ", variable_name, " holds no function");
  if (!shape) {
    throw_invalid(where, "the initializer of new variable ", variable_name,
                  " is a function of (shape, dtype), so the shape must be given");
  }
  Tensor values = init.function(*shape, dtype);
  if (!values.defined() || values.dtype() != dtype || values.shape() != *shape) {
    throw_invalid(where, "the initializer function of variable ", variable_name, " returned ",
                  values.defined() ? values.description() : std::string("an empty tensor"), " for a ",
                  dtype_name(dtype), " ", shape->to_string(), " variable");
  }
  return init::value(std::move(values));
}

void fill_from_value(const Initializer& init, DType dtype, const Shape& shape, void* out) {
  if (init.kind != InitializerKind::kValue || init.tensor == nullptr) {
    throw_invalid("initializer", init.name(), ": no values to copy (build it with init::value)");
  }
  const Tensor& values = *init.tensor;
  if (values.dtype() != dtype || values.shape() != shape) {
    throw_invalid("initializer", "value: the values are ", values.description(), " but the variable is ",
                  dtype_name(dtype), " ", shape.to_string());
  }
  if (values.byte_size() > 0) std::memcpy(out, values.raw_data(), values.byte_size());
}

}  // namespace scopeflow
