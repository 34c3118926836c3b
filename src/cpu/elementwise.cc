#include <cstring>
#include <vector>

#include "cpu/broadcast.h"
#include "cpu/cpu_kernels.h"
#include "kernels/broadcast_index.h"
#include "kernels/elementwise_functors.h"

namespace scopeflow::cpu {

namespace {

template <typename F>
void binary_kernel(KernelContext& ctx, F f) {
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  Tensor& out = ctx.outputs[0];
  dispatch_dtype(out.dtype(), [&]<class T>() {
    if constexpr (functors::is_arithmetic_v<T>) {  // as inferred
      broadcast_binary(a.data<T>(), a.shape(), b.data<T>(), b.shape(), out.data<T>(), out.shape(), f);
    }
  });
}

template <typename F>
void float_binary_kernel(KernelContext& ctx, F f) {
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  Tensor& out = ctx.outputs[0];
  broadcast_binary(a.data<float>(), a.shape(), b.data<float>(), b.shape(), out.data<float>(), out.shape(), f);
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
void maximum(KernelContext& ctx) { binary_kernel(ctx, functors::Maximum{}); }
void minimum(KernelContext& ctx) { binary_kernel(ctx, functors::Minimum{}); }
void pow(KernelContext& ctx) { float_binary_kernel(ctx, functors::Pow{}); }

void bias_add(KernelContext& ctx) {
  // value (rows, c) + bias (c,): the row-broadcast case of broadcast_binary, kept direct.
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
void exp(KernelContext& ctx) { unary_kernel(ctx, functors::Exp{}); }
void log(KernelContext& ctx) { unary_kernel(ctx, functors::Log{}); }
void sqrt(KernelContext& ctx) { unary_kernel(ctx, functors::Sqrt{}); }
void rsqrt(KernelContext& ctx) { unary_kernel(ctx, functors::Rsqrt{}); }

}  // namespace scopeflow::cpu
