// CPU elementwise family: unary math and activations, broadcasting binary ops, the activation
// gradients, BiasAdd, AddN, Cast and Equal, over the functors the CUDA kernels share
// (kernels/elementwise_functors.h); and their rows of the CPU kernel table.

#include <cstring>
#include <type_traits>

#include <memory>

#include "cpu/broadcast.h"
#include "cpu/kernel_rows.h"
#include "cpu/onednn_unary.h"
#include "kernels/elementwise_functors.h"
#include "runtime/plan.h"

namespace scopeflow::cpu {

namespace {

template <typename F>
void binary_kernel(KernelContext& ctx, F f) {
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  Tensor& out = ctx.outputs[0];
  dispatch_dtype(out.dtype(), [&]<class T>() {
    if constexpr (functors::is_arithmetic_v<T>) {  // the row's dtypes
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

// Same-shape float binary op (the activation gradients).
template <typename F>
void float_binary_same_shape(KernelContext& ctx, F f) {
  const float* a = ctx.inputs[0].data<float>();
  const float* b = ctx.inputs[1].data<float>();
  float* out = ctx.outputs[0].data<float>();
  const int64_t n = ctx.outputs[0].num_elements();
  for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
}

template <typename T, typename F>
void typed_unary(KernelContext& ctx, F f) {
  const T* in = ctx.inputs[0].data<T>();
  T* out = ctx.outputs[0].data<T>();
  const int64_t n = ctx.outputs[0].num_elements();
  for (int64_t i = 0; i < n; ++i) out[i] = f(in[i]);
}

template <typename F>
void numeric_unary(KernelContext& ctx, F f) {
  dispatch_dtype(ctx.inputs[0].dtype(), [&]<class T>() {
    if constexpr (functors::is_arithmetic_v<T>) typed_unary<T>(ctx, f);  // the row's dtypes
  });
}

template <typename F>
void float_unary(KernelContext& ctx) {
  typed_unary<float>(ctx, F{});
}

template <typename F>
void arithmetic_binary(KernelContext& ctx) {
  binary_kernel(ctx, F{});
}

template <typename F>
void activation_grad(KernelContext& ctx) {
  float_binary_same_shape(ctx, F{});
}

void pow(KernelContext& ctx) { float_binary_kernel(ctx, functors::Pow{}); }
void neg(KernelContext& ctx) { numeric_unary(ctx, [](auto x) { return functors::Neg{}(x); }); }
void square(KernelContext& ctx) { numeric_unary(ctx, [](auto x) { return functors::Square{}(x); }); }

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

void add_n(KernelContext& ctx) {
  Tensor& out = ctx.outputs[0];
  const int64_t n = out.num_elements();
  float* dst = out.data<float>();
  // A plan that sums in place passes the sum as input 0 and as the output.
  if (!out.shares_buffer_with(ctx.inputs[0])) {
    std::memcpy(dst, ctx.inputs[0].data<float>(), static_cast<size_t>(n) * sizeof(float));
  }
  const functors::Add add_fn;
  for (size_t k = 1; k < ctx.inputs.size(); ++k) {
    const float* src = ctx.inputs[k].data<float>();
    for (int64_t i = 0; i < n; ++i) dst[i] = add_fn(dst[i], src[i]);
  }
}

template <typename From, typename To>
void cast_typed(const Tensor& in, Tensor& out) {
  const From* src = in.data<From>();
  To* dst = out.data<To>();
  const int64_t n = in.num_elements();
  const functors::CastTo<To> cast_fn;
  for (int64_t i = 0; i < n; ++i) dst[i] = cast_fn(src[i]);
}

// Any pair of dtypes; float -> int truncates toward zero.
void cast(KernelContext& ctx) {
  const Tensor& in = ctx.inputs[0];
  Tensor& out = ctx.outputs[0];
  dispatch_dtype(in.dtype(), [&]<class From>() {
    dispatch_dtype(out.dtype(), [&]<class To>() { cast_typed<From, To>(in, out); });
  });
}

// Broadcasting x == y -> bool, for the arithmetic dtypes and bool (as inferred).
void equal(KernelContext& ctx) {
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  Tensor& out = ctx.outputs[0];
  dispatch_dtype(a.dtype(), [&]<class T>() {
    if constexpr (functors::is_arithmetic_v<T> || std::is_same_v<T, bool>) {
      broadcast_binary(a.data<T>(), a.shape(), b.data<T>(), b.shape(), out.data<bool>(), out.shape(),
                       functors::Equal{});
    }
  });
}

// Tanh, Sigmoid and Sqrt run on oneDNN's JIT eltwise primitives in oneDNN sessions from this
// many elements on; below it the call costs more than the scalar loop. One thread, against the
// scalar loop: tanh 0.33 us against 2.96 us at 320 elements, 0.92 against 19.2 at 2048, 108
// against 2288 at 256K; logistic 0.92 against 5.1 at 2048. Exp and Log stay hand-written:
// oneDNN 2.6's exp turns NaN into inf, and its log is off by up to 6 ulp. ReLU and the cheap
// ops too: oneDNN's eltwise is no faster at 256x1024 and slower on small tensors (0.26 us
// against 0.06 us at 32x10).
constexpr int64_t kOneDnnEltwiseMinElements = 256;

template <OneDnnEltwise kAlgorithm>
std::unique_ptr<PreparedCpuKernel> prepare_eltwise(const PlanStep& step, const DecodedAttrs& /*attrs*/,
                                                   KernelSetup& setup) {
#if SCOPEFLOW_WITH_ONEDNN
  if (setup.gemm_library != GemmLibrary::kOneDnn) return nullptr;
  const Node& node = step.kernel_node();
  const int64_t elements = node.input(0).shape().num_elements();
  if (elements < kOneDnnEltwiseMinElements) return nullptr;
  return std::make_unique<OneDnnUnaryKernel>(
      OneDnnUnaryKernel::eltwise(kAlgorithm, elements, setup.threads, node.op_def().builder_name));
#else
  (void)step;
  (void)setup;
  return nullptr;
#endif
}

using namespace functors;  // the functors' names, for the table

constexpr CpuKernelRow kRows[] = {
    {OpId::kAddV2, arithmetic_binary<Add>, nullptr, kArithmeticDTypes},
    {OpId::kSub, arithmetic_binary<Sub>, nullptr, kArithmeticDTypes},
    {OpId::kMul, arithmetic_binary<Mul>, nullptr, kArithmeticDTypes},
    {OpId::kMaximum, arithmetic_binary<Maximum>, nullptr, kArithmeticDTypes},
    {OpId::kMinimum, arithmetic_binary<Minimum>, nullptr, kArithmeticDTypes},
    {OpId::kPow, pow, nullptr, kFloat32Only},
    {OpId::kNeg, neg, nullptr, kArithmeticDTypes},
    {OpId::kSquare, square, nullptr, kArithmeticDTypes},
    {OpId::kAbs, float_unary<Abs>, nullptr, kFloat32Only},
    {OpId::kSign, float_unary<Sign>, nullptr, kFloat32Only},
    {OpId::kExp, float_unary<Exp>, nullptr, kFloat32Only},
    {OpId::kLog, float_unary<Log>, nullptr, kFloat32Only},
    {OpId::kSqrt, float_unary<Sqrt>, prepare_eltwise<OneDnnEltwise::kSqrt>, kFloat32Only},
    {OpId::kRsqrt, float_unary<Rsqrt>, nullptr, kFloat32Only},
    {OpId::kRelu, float_unary<Relu>, nullptr, kFloat32Only},
    {OpId::kSigmoid, float_unary<Sigmoid>, prepare_eltwise<OneDnnEltwise::kLogistic>, kFloat32Only},
    {OpId::kTanh, float_unary<Tanh>, prepare_eltwise<OneDnnEltwise::kTanh>, kFloat32Only},
    {OpId::kReluGrad, activation_grad<ReluGrad>, nullptr, kFloat32Only},
    {OpId::kSigmoidGrad, activation_grad<SigmoidGrad>, nullptr, kFloat32Only},
    {OpId::kTanhGrad, activation_grad<TanhGrad>, nullptr, kFloat32Only},
    {OpId::kBiasAdd, bias_add, nullptr, kFloat32Only},
    {OpId::kAddN, add_n, nullptr, kFloat32Only},
    {OpId::kCast, cast},
    {OpId::kEqual, equal, nullptr, {DType::kBool}},
};
static_assert(no_op_twice(kRows));

}  // namespace

std::span<const CpuKernelRow> elementwise_rows() { return kRows; }

}  // namespace scopeflow::cpu
