#pragma once
// Variable initializers with TensorFlow / Keras semantics, computed on the host.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "scopeflow/dtype.h"
#include "scopeflow/shape.h"
#include "scopeflow/tensor.h"

namespace scopeflow {

/// Which distribution (or constant) an Initializer draws from.
enum class InitializerKind {
  kZeros,
  kOnes,
  kConstant,
  kRandomNormal,
  kTruncatedNormal,
  kRandomUniform,
  kGlorotUniform,
  kGlorotNormal,
  kHeNormal,
  kValue,     // the values of a host tensor (init::value), which also give shape and dtype
  kFunction,  // a function of (shape, dtype) returning the values (init::from_function)
};

/// How a variable gets its initial value. Build one with the scopeflow::init factories.
struct Initializer {
  InitializerKind kind = InitializerKind::kZeros;
  double value = 0;   // kConstant
  double mean = 0;    // kRandomNormal, kTruncatedNormal
  double stddev = 1;  // kRandomNormal, kTruncatedNormal
  double minval = 0;  // kRandomUniform
  double maxval = 1;  // kRandomUniform
  std::optional<int64_t> seed{};  // op seed; when unset the op seed of the variable is used
  std::shared_ptr<const Tensor> tensor{};  // kValue: host values, shape and dtype
  /// kFunction: called once on the host when the variable is created.
  std::function<Tensor(const Shape& shape, DType dtype)> function{};
  /// kFunction without arguments: gives the values, and so the shape and dtype, itself.
  std::function<Tensor()> value_function{};

  /// The Keras identifier: "zeros", "ones", "constant", "random_normal", "glorot_uniform", ...
  std::string name() const;
};

/// Fan-in and fan-out of a weight shape, as Keras' _compute_fans defines them.
struct Fans {
  int64_t fan_in = 1;
  int64_t fan_out = 1;
};

/// Rank 0: 1/1; rank 1: dim0/dim0; rank 2: dim0/dim1; rank > 2: dim[-2]*rf/dim[-1]*rf where rf
/// is the product of the leading dims (the receptive field of a convolution kernel).
Fans compute_fans(const Shape& shape);

namespace init {

/// All zeros.
Initializer zeros();
/// All ones.
Initializer ones();
/// Every element equal to `value` (must be finite).
Initializer constant(double value);
/// N(mean, stddev^2); stddev >= 0.
Initializer random_normal(double mean = 0, double stddev = 1, std::optional<int64_t> seed = {});
/// N(mean, stddev^2) with values beyond 2 stddev resampled; stddev >= 0.
Initializer truncated_normal(double mean = 0, double stddev = 1,
                             std::optional<int64_t> seed = {});
/// U[minval, maxval); minval <= maxval. Defaults follow tf.random_uniform_initializer (TF1).
Initializer random_uniform(double minval = 0, double maxval = 1,
                           std::optional<int64_t> seed = {});
/// U[-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)).
Initializer glorot_uniform(std::optional<int64_t> seed = {});
/// Truncated normal with variance 2 / (fan_in + fan_out).
Initializer glorot_normal(std::optional<int64_t> seed = {});
/// Truncated normal with variance 2 / fan_in.
Initializer he_normal(std::optional<int64_t> seed = {});

/// A nested brace list of values for init::value, e.g. {{1, 2}, {3, 4}}; rows must agree.
template <typename T>
class NestedList {
 public:
  NestedList(T value) : scalar_(value), is_scalar_(true) {}  // NOLINT: a leaf of the list
  NestedList(std::initializer_list<NestedList<T>> items) : items_(items) {}

  /// A host tensor of the list's values; a ragged list throws Error("[initializer] ...").
  Tensor to_tensor() const;

 private:
  void collect(size_t depth, std::vector<int64_t>& dims, std::vector<T>& values) const;
  T scalar_{};
  bool is_scalar_ = false;
  std::vector<NestedList<T>> items_;
};

/// The values of a host tensor: the variable takes its shape and dtype from it (a value
/// initializer, as tf.get_variable(initializer=<tensor>) or pretrained embeddings).
Initializer value(Tensor values);
/// A rank-1 value initializer. (The allocator parameter keeps value<T>({...}) unambiguous: a
/// braced list then goes to the NestedList overload.)
template <typename T, typename Allocator>
Initializer value(const std::vector<T, Allocator>& values) {
  return value(Tensor::from_vector<T>(Shape{static_cast<int64_t>(values.size())},
                                      std::vector<T>(values.begin(), values.end())));
}
/// A value initializer from a nested brace list: init::value<float>({{1, 2}, {3, 4}}).
template <typename T>
Initializer value(NestedList<T> values) {
  return value(values.to_tensor());
}
/// A callable initializer: fn(shape, dtype) returns the values; the variable needs a shape.
Initializer from_function(std::function<Tensor(const Shape& shape, DType dtype)> fn);
/// A callable initializer without arguments (tf: initializer=lambda: [2]): its values give the
/// variable's shape and dtype, so no shape may be given.
Initializer from_function(std::function<Tensor()> fn);

}  // namespace init

template <typename T>
Tensor init::NestedList<T>::to_tensor() const {
  std::vector<int64_t> dims;
  std::vector<T> values;
  collect(0, dims, values);
  return Tensor::from_vector<T>(Shape(dims), values);
}

template <typename T>
void init::NestedList<T>::collect(size_t depth, std::vector<int64_t>& dims,
                                  std::vector<T>& values) const {
  if (is_scalar_) {
    if (depth != dims.size() && !values.empty()) {
      throw_invalid("initializer", "ragged nested list: a value at depth ", depth,
                    " where the first value was at depth ", dims.size());
    }
    values.push_back(scalar_);
    return;
  }
  const auto size = static_cast<int64_t>(items_.size());
  if (depth == dims.size() && values.empty()) {
    dims.push_back(size);
  } else if (depth >= dims.size() || dims[depth] != size) {
    throw_invalid("initializer", "ragged nested list: a list of ", size, " at depth ", depth,
                  " where the first list there had ",
                  depth < dims.size() ? dims[depth] : int64_t{0}, " items");
  }
  for (const NestedList<T>& item : items_) item.collect(depth + 1, dims, values);
}

/// True for the kinds that draw random numbers (they need a floating dtype).
bool is_random_initializer(InitializerKind kind);

/// glorot_uniform for floating types (as tf.get_variable), zeros for integer types.
Initializer default_initializer(DType dtype);

/// Writes shape.num_elements() values of `dtype` into host memory `out`. Random values depend
/// only on (graph_seed, op seed, element index), where the op seed is init.seed when set and
/// `op_seed` otherwise. Throws Error("[initializer] ...") for invalid parameters or a random
/// initializer on an integer dtype.
void fill_initial_values(const Initializer& init, DType dtype, const Shape& shape,
                         uint64_t graph_seed, uint64_t op_seed, void* out);

/// Calls a kFunction initializer on the host and returns the value initializer of its result;
/// checks it against `shape` and `dtype` (or, without arguments, that no shape was given).
Initializer call_initializer_function(std::string_view where, std::string_view variable_name,
                                      const Initializer& init, const std::optional<Shape>& shape, DType dtype);

/// Copies a value initializer's values into `out`; its dtype and shape must be `dtype` and
/// `shape`, else Error("[initializer] ...").
void fill_from_value(const Initializer& init, DType dtype, const Shape& shape, void* out);

}  // namespace scopeflow
