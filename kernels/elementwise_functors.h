#pragma once
// Elementwise math written once for the CPU loops and the CUDA grid-stride kernels.
// Device-safe: includes nothing from src/.

#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "scopeflow/dtype.h"

#if defined(__CUDACC__)
#define SCOPEFLOW_HOST_DEVICE __host__ __device__
#else
#define SCOPEFLOW_HOST_DEVICE
#endif

namespace scopeflow::functors {

/// The element types the arithmetic ops (Add, Sub, Mul, Neg, Square) take; the others are
/// rejected at graph-build time.
template <typename T>
inline constexpr bool is_arithmetic_v =
    std::is_same_v<T, float> || std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>;

struct Add {
  template <typename T>
  SCOPEFLOW_HOST_DEVICE T operator()(T a, T b) const { return a + b; }
};
struct Sub {
  template <typename T>
  SCOPEFLOW_HOST_DEVICE T operator()(T a, T b) const { return a - b; }
};
struct Mul {
  template <typename T>
  SCOPEFLOW_HOST_DEVICE T operator()(T a, T b) const { return a * b; }
};

struct Relu {  // max(x, 0) as TensorFlow computes it: NaN stays NaN, -0 stays -0
  SCOPEFLOW_HOST_DEVICE float operator()(float x) const { return x < 0.0f ? 0.0f : x; }
};
struct Sigmoid {
  // Split by sign so exp never overflows for large |x|.
  SCOPEFLOW_HOST_DEVICE float operator()(float x) const {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
  }
};
struct Tanh {
  SCOPEFLOW_HOST_DEVICE float operator()(float x) const { return tanhf(x); }
};

// Comparison and conversion, as TensorFlow's Equal and Cast define them.
struct Equal {
  template <typename T>
  SCOPEFLOW_HOST_DEVICE bool operator()(T a, T b) const { return a == b; }
};
// float16 and bfloat16 convert through float, as Eigen (and so TensorFlow) does: a double
// rounds to float first, then to the half type.
template <typename To>
struct CastTo {
  template <typename From>
  SCOPEFLOW_HOST_DEVICE To operator()(From x) const {
    if constexpr (is_half_type_v<From>) {
      return (*this)(static_cast<float>(x));
    } else if constexpr (std::is_same_v<To, bool>) {
      return x != From{};  // nonzero -> true
    } else if constexpr (is_half_type_v<To>) {
      return To(static_cast<float>(x));
    } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
      // Truncates toward zero. NaN gives 0 and out-of-range values saturate, as the GPU's
      // conversion instructions do; a plain static_cast would be undefined behaviour there.
      // The limits by bit arithmetic: std::numeric_limits is host-only under nvcc.
      using Unsigned = std::make_unsigned_t<To>;
      constexpr Unsigned kAllOnes = static_cast<Unsigned>(~Unsigned{0});
      constexpr To kHigh = std::is_signed_v<To> ? static_cast<To>(kAllOnes >> 1) : static_cast<To>(kAllOnes);
      constexpr To kLow = std::is_signed_v<To> ? static_cast<To>(-kHigh - 1) : To{0};
      if (!(x == x)) return To{0};
      if (x <= static_cast<From>(kLow)) return kLow;
      if (x >= static_cast<From>(kHigh)) return kHigh;
      return static_cast<To>(x);
    } else {
      return static_cast<To>(x);  // integers wrap modulo 2^bits, as TensorFlow's casts do
    }
  }
};

struct Neg {
  template <typename T>
  SCOPEFLOW_HOST_DEVICE T operator()(T x) const { return -x; }
};
struct Square {
  template <typename T>
  SCOPEFLOW_HOST_DEVICE T operator()(T x) const { return x * x; }
};
// TensorFlow's Abs and Sign: abs(-0) = +0, sign(+-0) = +0, and NaN stays NaN in both.
struct Abs {
  SCOPEFLOW_HOST_DEVICE float operator()(float x) const { return fabsf(x); }
};
struct Sign {
  // Comparisons are false for NaN, so it falls through to `x` itself.
  SCOPEFLOW_HOST_DEVICE float operator()(float x) const {
    if (x > 0.0f) return 1.0f;
    if (x < 0.0f) return -1.0f;
    return x == 0.0f ? 0.0f : x;
  }
};

// Exp, Log, Sqrt and Rsqrt as TensorFlow defines them on float32: log(0) = -inf, log(x < 0) and
// sqrt(x < 0) are NaN, rsqrt(0) = inf. Rsqrt is 1 / sqrt(x), the same on the CPU and the GPU.
struct Exp {
  SCOPEFLOW_HOST_DEVICE float operator()(float x) const { return expf(x); }
};
struct Log {
  SCOPEFLOW_HOST_DEVICE float operator()(float x) const { return logf(x); }
};
struct Sqrt {
  SCOPEFLOW_HOST_DEVICE float operator()(float x) const { return sqrtf(x); }
};
struct Rsqrt {
  SCOPEFLOW_HOST_DEVICE float operator()(float x) const { return 1.0f / sqrtf(x); }
};

// TensorFlow's Maximum and Minimum propagate NaN from either side (a plain comparison would
// drop a NaN on one side).
struct Maximum {
  template <typename T>
  SCOPEFLOW_HOST_DEVICE T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (a != a) return a;
      if (b != b) return b;
    }
    return a >= b ? a : b;
  }
};
struct Minimum {
  template <typename T>
  SCOPEFLOW_HOST_DEVICE T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (a != a) return a;
      if (b != b) return b;
    }
    return a <= b ? a : b;
  }
};
// C's powf, as TensorFlow's float32 Pow: pow(0, 0) = 1, pow(x < 0, non-integer) = NaN.
struct Pow {
  SCOPEFLOW_HOST_DEVICE float operator()(float a, float b) const { return powf(a, b); }
};

// Gradients of the activations, as TensorFlow's ReluGrad, SigmoidGrad and TanhGrad define them.
struct ReluGrad {  // (gradients, features) -> TensorFlow's gradients * (features > 0)
  // dy where features > 0; elsewhere 0, or NaN for a NaN or infinite dy (as dy * 0 gives).
  // Selected without a multiplication or a branch: dy * 0 on a subnormal dy takes a slow
  // microcode path on x86, and a branch on the sign of x mispredicts half the time (each
  // measured at about a quarter of the 32x64x4 training step).
  SCOPEFLOW_HOST_DEVICE float operator()(float dy, float x) const {
    const float zero_or_nan = fabsf(dy) <= 3.40282347e38f ? 0.0f : quiet_nan();
    return x > 0.0f ? dy : zero_or_nan;
  }

 private:
  SCOPEFLOW_HOST_DEVICE static float quiet_nan() {
#ifdef __CUDA_ARCH__
    return __int_as_float(0x7fc00000);
#else
    return std::bit_cast<float>(uint32_t{0x7fc00000});  // std::numeric_limits is host-only under nvcc
#endif
  }
};
struct SigmoidGrad {  // (y, dy) -> dy * y * (1 - y)
  SCOPEFLOW_HOST_DEVICE float operator()(float y, float dy) const { return dy * y * (1.0f - y); }
};
struct TanhGrad {  // (y, dy) -> dy * (1 - y^2)
  SCOPEFLOW_HOST_DEVICE float operator()(float y, float dy) const { return dy * (1.0f - y * y); }
};

// Optimizer updates of one element, in place, as TensorFlow's Apply* ops define them.
struct ApplyGradientDescent {
  float alpha;
  SCOPEFLOW_HOST_DEVICE void operator()(float& var, float grad) const { var -= alpha * grad; }
};
struct ApplyMomentum {
  float lr;
  float momentum;
  bool use_nesterov;
  SCOPEFLOW_HOST_DEVICE void operator()(float& var, float& accum, float grad) const {
    accum = accum * momentum + grad;
    if (use_nesterov) {
      var -= grad * lr + accum * momentum * lr;
    } else {
      var -= lr * accum;
    }
  }
};
/// Adam's step size at step t from the running powers beta1^t and beta2^t.
SCOPEFLOW_HOST_DEVICE inline float adam_step_size(float lr, float beta1_power, float beta2_power) {
  return lr * sqrtf(1.0f - beta2_power) / (1.0f - beta1_power);
}

struct ApplyAdam {
  float lr_t;  // lr * sqrt(1 - beta2^t) / (1 - beta1^t), computed once per step
  float beta1;
  float beta2;
  float epsilon;
  bool use_nesterov;
  SCOPEFLOW_HOST_DEVICE void operator()(float& var, float& m, float& v, float grad) const {
    m += (grad - m) * (1.0f - beta1);
    v += (grad * grad - v) * (1.0f - beta2);
    const float direction = use_nesterov ? m * beta1 + (1.0f - beta1) * grad : m;
    var -= lr_t * direction / (sqrtf(v) + epsilon);
  }
};

}  // namespace scopeflow::functors
