#include "scopeflow/initializers.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/philox.h"
#include "kernels/elementwise_functors.h"
#include "scopeflow/error.h"

namespace scopeflow {

namespace {

// Keras divides the truncated-normal stddev by the stddev of N(0, 1) truncated to [-2, 2] so
// that the values keep the intended variance.
constexpr double kTruncatedStddev = 0.87962566103423978;

// splitmix64 (Steele et al.): a bijection of uint64, so distinct inputs stay distinct.
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The Philox key mixes both seeds; the stream is the op seed itself. The key is a bijection of
// graph_seed for a fixed op seed, so distinct (graph_seed, op_seed) pairs never share a
// (key, stream) pair and never see the same random numbers.
uint64_t philox_key(uint64_t graph_seed, uint64_t op_seed) {
  return splitmix64(splitmix64(graph_seed) ^ splitmix64(op_seed ^ 0x5C0FE1F0A11D5EEDull));
}

void check_finite(const Initializer& init, const char* what, double v) {
  if (!std::isfinite(v)) {
    throw_invalid("initializer", init.name(), ": ", what, " must be finite, got ", v);
  }
}

// Checks the parameters that the kind uses; dtype-independent.
void validate(const Initializer& init) {
  switch (init.kind) {
    case InitializerKind::kZeros:
    case InitializerKind::kOnes:
    case InitializerKind::kGlorotUniform:
    case InitializerKind::kGlorotNormal:
    case InitializerKind::kHeNormal:
    case InitializerKind::kValue:
    case InitializerKind::kFunction:
      return;
    case InitializerKind::kConstant:
      check_finite(init, "value", init.value);
      return;
    case InitializerKind::kRandomNormal:
    case InitializerKind::kTruncatedNormal:
      check_finite(init, "mean", init.mean);
      check_finite(init, "stddev", init.stddev);
      if (init.stddev < 0) {
        throw_invalid("initializer", init.name(), ": stddev must be >= 0, got ", init.stddev);
      }
      return;
    case InitializerKind::kRandomUniform:
      check_finite(init, "minval", init.minval);
      check_finite(init, "maxval", init.maxval);
      if (init.minval > init.maxval) {
        throw_invalid("initializer", init.name(), ": minval (", init.minval,
                      ") must be <= maxval (", init.maxval, ")");
      }
      // A finite pair can still have an infinite width, e.g. (-1e308, 1e308).
      check_finite(init, "maxval - minval", init.maxval - init.minval);
      return;
  }
  throw_invalid("initializer", "unknown initializer kind ", static_cast<int>(init.kind));
}

// Largest finite value of a floating dtype.
double max_finite(DType dtype) {
  switch (dtype) {
    case DType::kFloat16: return 65504.0;
    case DType::kBFloat16: return 3.3895313892515355e38;
    case DType::kFloat64: return std::numeric_limits<double>::max();
    default: return std::numeric_limits<float>::max();
  }
}

// Parameters beyond the dtype's range would silently become infinities.
void check_float_range(const Initializer& init, DType dtype) {
  const double max = max_finite(dtype);
  auto check = [&](const char* what, double v) {
    if (std::abs(v) > max) {
      throw_invalid("initializer", init.name(), ": ", what, " ", v, " is outside the ",
                    std::string(dtype_name(dtype)), " range");
    }
  };
  switch (init.kind) {
    case InitializerKind::kConstant: check("value", init.value); break;
    case InitializerKind::kRandomNormal:
    case InitializerKind::kTruncatedNormal:
      check("mean", init.mean);
      check("stddev", init.stddev);
      break;
    case InitializerKind::kRandomUniform:
      check("minval", init.minval);
      check("maxval", init.maxval);
      break;
    default: break;
  }
}

// The value of a zeros, ones or constant initializer.
double constant_value(const Initializer& init) {
  if (init.kind == InitializerKind::kOnes) return 1;
  if (init.kind == InitializerKind::kConstant) return init.value;
  return 0;
}

template <typename T>
void fill_integer(const Initializer& init, DType dtype, T* out, int64_t n) {
  const double v = constant_value(init);
  if (init.kind == InitializerKind::kConstant) {
    // Both bounds are exact in double (2^63 included), so the test is exact.
    const double lo = static_cast<double>(std::numeric_limits<T>::min());
    const double hi_exclusive = static_cast<double>(std::numeric_limits<T>::max()) + 1.0;
    if (v != std::trunc(v) || v < lo || v >= hi_exclusive) {
      throw_invalid("initializer", "constant: value ", v, " is not exactly representable as ",
                    std::string(dtype_name(dtype)));
    }
  }
  std::fill(out, out + n, static_cast<T>(v));
}

// Floating values of any width come from the float32 Philox draws (so float32 values are those
// of the float32 stream), mapped by offset + scale * draw in double and then converted to T.
template <typename T>
void fill_floating(const Initializer& init, const Shape& shape, uint64_t key, uint64_t stream,
                   T* out) {
  const int64_t n = shape.num_elements();
  const functors::CastTo<T> convert;
  switch (init.kind) {
    case InitializerKind::kZeros:
    case InitializerKind::kOnes:
    case InitializerKind::kConstant:
      std::fill(out, out + n, convert(constant_value(init)));
      return;
    default: break;
  }
  std::vector<float> scratch;
  float* draws = nullptr;
  if constexpr (std::is_same_v<T, float>) {
    draws = out;  // drawn in place, then mapped
  } else {
    scratch.resize(static_cast<size_t>(n));
    draws = scratch.data();
  }
  double offset = 0;
  double scale = 1;
  switch (init.kind) {
    case InitializerKind::kRandomNormal:
      random::fill_normal(key, stream, draws, n);
      offset = init.mean;
      scale = init.stddev;
      break;
    case InitializerKind::kTruncatedNormal:
      random::fill_truncated_normal(key, stream, draws, n);
      offset = init.mean;
      scale = init.stddev;
      break;
    case InitializerKind::kRandomUniform:
      random::fill_uniform(key, stream, draws, n);
      offset = init.minval;
      scale = init.maxval - init.minval;
      break;
    default: {
      // Variance-scaling kinds. n > 0 here, so every dim is positive and the fans are too.
      const Fans fans = compute_fans(shape);
      const double fan_avg_x2 = static_cast<double>(fans.fan_in) + static_cast<double>(fans.fan_out);
      if (init.kind == InitializerKind::kGlorotUniform) {
        const double limit = std::sqrt(6.0 / fan_avg_x2);
        random::fill_uniform(key, stream, draws, n);
        offset = -limit;
        scale = 2.0 * limit;
      } else {
        random::fill_truncated_normal(key, stream, draws, n);
        const double variance = init.kind == InitializerKind::kGlorotNormal
                                    ? 2.0 / fan_avg_x2
                                    : 2.0 / static_cast<double>(fans.fan_in);
        scale = std::sqrt(variance) / kTruncatedStddev;
      }
      break;
    }
  }
  for (int64_t i = 0; i < n; ++i) out[i] = convert(offset + scale * static_cast<double>(draws[i]));
}

Initializer make(InitializerKind kind, std::optional<int64_t> seed) {
  Initializer result;
  result.kind = kind;
  result.seed = seed;
  return result;
}

}  // namespace

std::string Initializer::name() const {
  switch (kind) {
    case InitializerKind::kZeros: return "zeros";
    case InitializerKind::kOnes: return "ones";
    case InitializerKind::kConstant: return "constant";
    case InitializerKind::kRandomNormal: return "random_normal";
    case InitializerKind::kTruncatedNormal: return "truncated_normal";
    case InitializerKind::kRandomUniform: return "random_uniform";
    case InitializerKind::kGlorotUniform: return "glorot_uniform";
    case InitializerKind::kGlorotNormal: return "glorot_normal";
    case InitializerKind::kHeNormal: return "he_normal";
    case InitializerKind::kValue: return "value";
    case InitializerKind::kFunction: return "function";
  }
  return "unknown";
}

Fans compute_fans(const Shape& shape) {
  const int rank = shape.rank();
  if (rank == 0) return {1, 1};
  if (rank == 1) return {shape.dim(0), shape.dim(0)};
  if (rank == 2) return {shape.dim(0), shape.dim(1)};
  // No overflow: each fan is at most num_elements(), which Shape keeps within int64.
  int64_t receptive_field = 1;
  for (int i = 0; i < rank - 2; ++i) receptive_field *= shape.dim(i);
  return {shape.dim(-2) * receptive_field, shape.dim(-1) * receptive_field};
}

namespace init {

Initializer zeros() { return make(InitializerKind::kZeros, {}); }

Initializer ones() { return make(InitializerKind::kOnes, {}); }

Initializer constant(double value) {
  Initializer result = make(InitializerKind::kConstant, {});
  result.value = value;
  validate(result);
  return result;
}

Initializer random_normal(double mean, double stddev, std::optional<int64_t> seed) {
  Initializer result = make(InitializerKind::kRandomNormal, seed);
  result.mean = mean;
  result.stddev = stddev;
  validate(result);
  return result;
}

Initializer truncated_normal(double mean, double stddev, std::optional<int64_t> seed) {
  Initializer result = make(InitializerKind::kTruncatedNormal, seed);
  result.mean = mean;
  result.stddev = stddev;
  validate(result);
  return result;
}

Initializer random_uniform(double minval, double maxval, std::optional<int64_t> seed) {
  Initializer result = make(InitializerKind::kRandomUniform, seed);
  result.minval = minval;
  result.maxval = maxval;
  validate(result);
  return result;
}

Initializer glorot_uniform(std::optional<int64_t> seed) {
  return make(InitializerKind::kGlorotUniform, seed);
}

Initializer glorot_normal(std::optional<int64_t> seed) {
  return make(InitializerKind::kGlorotNormal, seed);
}

Initializer he_normal(std::optional<int64_t> seed) {
  return make(InitializerKind::kHeNormal, seed);
}

}  // namespace init

bool is_random_initializer(InitializerKind kind) {
  switch (kind) {
    case InitializerKind::kZeros:
    case InitializerKind::kOnes:
    case InitializerKind::kConstant:
    case InitializerKind::kValue:
    case InitializerKind::kFunction:
      return false;
    default:
      return true;
  }
}

Initializer default_initializer(DType dtype) {
  return is_floating(dtype) ? init::glorot_uniform() : init::zeros();
}

void fill_initial_values(const Initializer& init, DType dtype, const Shape& shape,
                         uint64_t graph_seed, uint64_t op_seed, void* out) {
  if (init.kind == InitializerKind::kValue) return fill_from_value(init, dtype, shape, out);
  if (init.kind == InitializerKind::kFunction) {
    // get_variable turns a callable into values when the variable is created.
    throw_invalid("initializer", "function: call it to get the values (get_variable does)");
  }
  // The struct may be filled in by hand, so check it again here.
  validate(init);
  if (!is_floating(dtype) && is_random_initializer(init.kind)) {
    throw_invalid("initializer", init.name(), " cannot initialize ",
                  std::string(dtype_name(dtype)),
                  " values; use zeros, ones or constant for integer and bool variables");
  }
  if (is_floating(dtype)) check_float_range(init, dtype);
  const int64_t n = shape.num_elements();
  if (n > 0 && out == nullptr) {
    throw_invalid("initializer", init.name(), ": output pointer is null for shape ",
                  shape.to_string());
  }
  dispatch_dtype(dtype, [&]<class T>() {
    T* typed = static_cast<T*>(out);
    if constexpr (std::is_same_v<T, bool>) {
      std::fill(typed, typed + n, constant_value(init) != 0.0);  // as a cast to bool
    } else if constexpr (std::is_integral_v<T>) {
      fill_integer(init, dtype, typed, n);
    } else {
      if (n == 0) return;
      const uint64_t op = init.seed ? static_cast<uint64_t>(*init.seed) : op_seed;
      fill_floating(init, shape, philox_key(graph_seed, op), op, typed);
    }
  });
}

}  // namespace scopeflow
