#include <cstring>
#include <vector>

#include "cpu/cpu_kernels.h"
#include "kernels/broadcast_index.h"
#include "kernels/elementwise_functors.h"

namespace scopeflow::cpu {

namespace {

template <typename T, typename F>
void binary_broadcast(const Tensor& a, const Tensor& b, Tensor& out, F f) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  const int64_t n = out.num_elements();
  if (n == 0) return;
  if (a.shape() == out.shape() && b.shape() == out.shape()) {
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    return;
  }
  if (a.shape() == out.shape() && b.num_elements() == 1) {
    const T vb = pb[0];
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], vb);
    return;
  }
  if (b.shape() == out.shape() && a.num_elements() == 1) {
    const T va = pa[0];
    for (int64_t i = 0; i < n; ++i) po[i] = f(va, pb[i]);
    return;
  }
  // General case: an odometer over the outer dimensions, a strided loop over the last one.
  const int rank = out.shape().rank();
  const std::vector<int64_t> sa = broadcast_strides(a.shape(), out.shape());
  const std::vector<int64_t> sb = broadcast_strides(b.shape(), out.shape());
  const int64_t inner = out.shape().dims().back();
  const int64_t ia = sa.back();
  const int64_t ib = sb.back();
  std::vector<int64_t> index(static_cast<size_t>(rank), 0);
  int64_t offset_a = 0;
  int64_t offset_b = 0;
  for (int64_t base = 0; base < n; base += inner) {
    for (int64_t j = 0; j < inner; ++j) po[base + j] = f(pa[offset_a + j * ia], pb[offset_b + j * ib]);
    for (int d = rank - 2; d >= 0; --d) {
      const size_t du = static_cast<size_t>(d);
      ++index[du];
      offset_a += sa[du];
      offset_b += sb[du];
      if (index[du] < out.shape().dims()[du]) break;
      offset_a -= sa[du] * index[du];
      offset_b -= sb[du] * index[du];
      index[du] = 0;
    }
  }
}

template <typename F>
void binary_kernel(KernelContext& ctx, F f) {
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  Tensor& out = ctx.outputs[0];
  dispatch_dtype(out.dtype(), [&]<class T>() {
    if constexpr (functors::is_arithmetic_v<T>) binary_broadcast<T>(a, b, out, f);  // as inferred
  });
}

template <typename F>
void unary_kernel(KernelContext& ctx, F f) {
  const float* in = ctx.inputs[0].data<float>();
  float* out = ctx.outputs[0].data<float>();
  const int64_t n = ctx.outputs[0].num_elements();
  for (int64_t i = 0; i < n; ++i) out[i] = f(in[i]);
}

}  // namespace

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(static_cast<size_t>(out.rank()), 0);
  broadcast_strides_into(in.dims().data(), in.rank(), out.rank(), strides.data());
  return strides;
}

void add(KernelContext& ctx) { binary_kernel(ctx, functors::Add{}); }
void sub(KernelContext& ctx) { binary_kernel(ctx, functors::Sub{}); }
void mul(KernelContext& ctx) { binary_kernel(ctx, functors::Mul{}); }

void bias_add(KernelContext& ctx) {
  // value (rows, c) + bias (c,): the row-broadcast case of binary_broadcast, kept direct.
  const Tensor& value = ctx.inputs[0];
  const float* v = value.data<float>();
  const float* bias = ctx.inputs[1].data<float>();
  float* out = ctx.outputs[0].data<float>();
  const int64_t channels = value.shape().dims().back();
  if (channels == 0) return;
  const int64_t rows = value.num_elements() / channels;
  const functors::Add add_fn;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) out[r * channels + c] = add_fn(v[r * channels + c], bias[c]);
  }
}

void relu(KernelContext& ctx) { unary_kernel(ctx, functors::Relu{}); }
void sigmoid(KernelContext& ctx) { unary_kernel(ctx, functors::Sigmoid{}); }
void tanh(KernelContext& ctx) { unary_kernel(ctx, functors::Tanh{}); }

}  // namespace scopeflow::cpu
