#pragma once
// Elementwise math written once for the CPU loops and the CUDA grid-stride kernels.
// Device-safe: includes nothing from src/.

#include <cmath>

#if defined(__CUDACC__)
#define SCOPEFLOW_HOST_DEVICE __host__ __device__
#else
#define SCOPEFLOW_HOST_DEVICE
#endif

namespace scopeflow::functors {

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

struct Relu {
  SCOPEFLOW_HOST_DEVICE float operator()(float x) const { return x > 0.0f ? x : 0.0f; }
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

}  // namespace scopeflow::functors
