// Elementwise kernels added for training: Neg, Square, Abs, Sign, AddN, Cast, Equal, BroadcastTo,
// Transpose and the activation gradients.

#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/broadcast.h"
#include "cpu/cpu_kernels.h"
#include "kernels/elementwise_functors.h"

namespace scopeflow::cpu {

namespace {

// Same-shape float binary op (the activation gradients).
template <typename F>
void float_binary_same_shape(KernelContext& ctx, F f) {
  const float* a = ctx.inputs[0].data<float>();
  const float* b = ctx.inputs[1].data<float>();
  float* out = ctx.outputs[0].data<float>();
  const int64_t n = ctx.outputs[0].num_elements();
  for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
}

template <typename T>
void typed_unary(KernelContext& ctx, auto f) {
  const T* in = ctx.inputs[0].data<T>();
  T* out = ctx.outputs[0].data<T>();
  const int64_t n = ctx.outputs[0].num_elements();
  for (int64_t i = 0; i < n; ++i) out[i] = f(in[i]);
}

template <typename F>
void numeric_unary(KernelContext& ctx, F f) {
  dispatch_dtype(ctx.inputs[0].dtype(), [&]<class T>() {
    if constexpr (functors::is_arithmetic_v<T>) typed_unary<T>(ctx, f);  // others are rejected by shape inference
  });
}

template <typename From, typename To>
void cast_typed(const Tensor& in, Tensor& out) {
  const From* src = in.data<From>();
  To* dst = out.data<To>();
  const int64_t n = in.num_elements();
  const functors::CastTo<To> cast_fn;
  for (int64_t i = 0; i < n; ++i) dst[i] = cast_fn(src[i]);
}

template <typename T>
void equal_typed(KernelContext& ctx) {
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  Tensor& out = ctx.outputs[0];
  broadcast_binary(a.data<T>(), a.shape(), b.data<T>(), b.shape(), out.data<bool>(), out.shape(),
                   functors::Equal{});
}

template <typename T>
void broadcast_typed(const Tensor& in, Tensor& out) {
  const T* src = in.data<T>();
  broadcast_binary(src, in.shape(), src, in.shape(), out.data<T>(), out.shape(), [](T x, T) { return x; });
}

// out (perm applied to in's dims) = in read with permuted strides, through the broadcasting
// kernels' row walk (no heap use up to kMaxIndexRank).
template <typename T>
void transpose_typed(const Tensor& in, Tensor& out, const std::vector<int64_t>& perm) {
  const int64_t n = out.num_elements();
  if (n == 0) return;
  const T* src = in.data<T>();
  T* dst = out.data<T>();
  const int rank = in.shape().rank();
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  DimArrays<2> arrays(rank);
  int64_t* in_strides = arrays[0];
  int64_t* strides = arrays[1];  // input stride of each output dimension
  const int64_t* in_dims = in.shape().dims().data();
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    in_strides[d] = stride;
    stride *= in_dims[d];
  }
  for (int d = 0; d < rank; ++d) strides[d] = in_strides[perm[static_cast<size_t>(d)]];
  const int64_t inner = out.shape().dims()[static_cast<size_t>(rank - 1)];
  const int64_t step = strides[rank - 1];
  for_each_row<1>(out.shape().dims().data(), rank, n, {strides}, [&](int64_t base, const std::array<int64_t, 1>& at) {
    for (int64_t j = 0; j < inner; ++j) dst[base + j] = src[at[0] + j * step];
  });
}

}  // namespace

void neg(KernelContext& ctx) { numeric_unary(ctx, [](auto x) { return functors::Neg{}(x); }); }
void square(KernelContext& ctx) { numeric_unary(ctx, [](auto x) { return functors::Square{}(x); }); }
void abs(KernelContext& ctx) { typed_unary<float>(ctx, functors::Abs{}); }
void sign(KernelContext& ctx) { typed_unary<float>(ctx, functors::Sign{}); }

void add_n(KernelContext& ctx) {
  Tensor& out = ctx.outputs[0];
  const int64_t n = out.num_elements();
  float* dst = out.data<float>();
  std::memcpy(dst, ctx.inputs[0].data<float>(), static_cast<size_t>(n) * sizeof(float));
  const functors::Add add_fn;
  for (size_t k = 1; k < ctx.inputs.size(); ++k) {
    const float* src = ctx.inputs[k].data<float>();
    for (int64_t i = 0; i < n; ++i) dst[i] = add_fn(dst[i], src[i]);
  }
}

void cast(KernelContext& ctx) {
  const Tensor& in = ctx.inputs[0];
  Tensor& out = ctx.outputs[0];
  dispatch_dtype(in.dtype(), [&]<class From>() {
    dispatch_dtype(out.dtype(), [&]<class To>() { cast_typed<From, To>(in, out); });
  });
}

void equal(KernelContext& ctx) {
  dispatch_dtype(ctx.inputs[0].dtype(), [&]<class T>() {
    if constexpr (functors::is_arithmetic_v<T> || std::is_same_v<T, bool>) equal_typed<T>(ctx);  // as inferred
  });
}

void broadcast_to(KernelContext& ctx) {
  const Tensor& in = ctx.inputs[0];
  Tensor& out = ctx.outputs[0];
  dispatch_dtype(in.dtype(), [&]<class T>() { broadcast_typed<T>(in, out); });
}

void transpose(KernelContext& ctx) {
  const Tensor& in = ctx.inputs[0];
  Tensor& out = ctx.outputs[0];
  const std::vector<int64_t>& perm = ctx.attr<PermAttrs>().perm;
  dispatch_dtype(in.dtype(), [&]<class T>() { transpose_typed<T>(in, out, perm); });
}

void relu_grad(KernelContext& ctx) { float_binary_same_shape(ctx, functors::ReluGrad{}); }
void sigmoid_grad(KernelContext& ctx) { float_binary_same_shape(ctx, functors::SigmoidGrad{}); }
void tanh_grad(KernelContext& ctx) { float_binary_same_shape(ctx, functors::TanhGrad{}); }

}  // namespace scopeflow::cpu
