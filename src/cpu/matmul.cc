#include <cblas.h>

#include <cstring>

#include "cpu/cpu_kernels.h"
#include "kernels/elementwise_functors.h"
#include "kernels/gemm_args.h"
#include "ops/op_util.h"

namespace scopeflow::cpu {

namespace {

// C = op(a) op(b) + beta * C through the shared column-major argument mapping.
void sgemm(const op_util::MatMulDims& d, const float* a, const float* b, float beta, float* c) {
  const ColumnMajorGemm g = column_major_gemm_for_row_major(d.m, d.n, d.k, d.transpose_a, d.transpose_b);
  cblas_sgemm(CblasColMajor, g.transpose_first ? CblasTrans : CblasNoTrans,
              g.transpose_second ? CblasTrans : CblasNoTrans, static_cast<blasint>(g.m),
              static_cast<blasint>(g.n), static_cast<blasint>(g.k), 1.0f, b,
              static_cast<blasint>(g.ld_first), a, static_cast<blasint>(g.ld_second), beta, c,
              static_cast<blasint>(g.ld_result));
}

}  // namespace

void matmul(KernelContext& ctx) {
  const Tensor& a = ctx.inputs[0];  // (m, k), or (k, m) when transpose_a
  const Tensor& b = ctx.inputs[1];  // (k, n), or (n, k) when transpose_b
  Tensor& c = ctx.outputs[0];       // (m, n)
  const op_util::MatMulDims d = op_util::matmul_dims(ctx);
  if (d.m == 0 || d.n == 0) return;
  if (d.k == 0) {
    std::memset(c.raw_data(), 0, c.byte_size());
    return;
  }
  sgemm(d, a.data<float>(), b.data<float>(), 0.0f, c.data<float>());
}

void matmul_bias(const KernelContext& ctx, const Node& matmul, bool relu) {
  const Tensor& a = ctx.inputs[0];     // (m, k), or (k, m) when transpose_a
  const Tensor& b = ctx.inputs[1];     // (k, n), or (n, k) when transpose_b
  const float* bias = ctx.inputs[2].data<float>();  // (n,)
  Tensor& c = ctx.outputs[0];          // (m, n)
  const op_util::MatMulDims d = op_util::matmul_dims(matmul, a.shape(), c.shape());
  if (d.m == 0 || d.n == 0) return;
  float* out = c.data<float>();
  for (int64_t r = 0; r < d.m; ++r) std::memcpy(out + r * d.n, bias, static_cast<size_t>(d.n) * sizeof(float));
  if (d.k > 0) sgemm(d, a.data<float>(), b.data<float>(), 1.0f, out);
  if (relu) {
    const functors::Relu relu_fn;
    const int64_t count = d.m * d.n;
    for (int64_t i = 0; i < count; ++i) out[i] = relu_fn(out[i]);
  }
}

}  // namespace scopeflow::cpu
