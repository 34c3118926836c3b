#pragma once
// Variable initializers with TensorFlow / Keras semantics, computed on the host.

#include <cstdint>
#include <optional>
#include <string>

#include "scopeflow/dtype.h"
#include "scopeflow/shape.h"

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
  kHeNormal
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

}  // namespace init

/// glorot_uniform for floating types (as tf.get_variable), zeros for integer types.
Initializer default_initializer(DType dtype);

/// Writes shape.num_elements() values of `dtype` into host memory `out`. Random values depend
/// only on (graph_seed, op seed, element index), where the op seed is init.seed when set and
/// `op_seed` otherwise. Throws Error("[initializer] ...") for invalid parameters or a random
/// initializer on an integer dtype.
void fill_initial_values(const Initializer& init, DType dtype, const Shape& shape,
                         uint64_t graph_seed, uint64_t op_seed, void* out);

}  // namespace scopeflow
