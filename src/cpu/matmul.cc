#include <cblas.h>

#include <cstring>

#include "cpu/cpu_kernels.h"
#include "kernels/gemm_args.h"

namespace scopeflow::cpu {

void matmul(KernelContext& ctx) {
  const Tensor& a = ctx.inputs[0];  // (m, k), or (k, m) when transpose_a
  const Tensor& b = ctx.inputs[1];  // (k, n), or (n, k) when transpose_b
  Tensor& c = ctx.outputs[0];       // (m, n)
  const bool transpose_a = ctx.node.attr<bool>("transpose_a");
  const bool transpose_b = ctx.node.attr<bool>("transpose_b");
  const int64_t m = c.shape().dim(0);
  const int64_t n = c.shape().dim(1);
  const int64_t k = transpose_a ? a.shape().dim(0) : a.shape().dim(1);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::memset(c.raw_data(), 0, c.byte_size());
    return;
  }
  const ColumnMajorGemm g = column_major_gemm_for_row_major(m, n, k, transpose_a, transpose_b);
  cblas_sgemm(CblasColMajor, g.transpose_first ? CblasTrans : CblasNoTrans,
              g.transpose_second ? CblasTrans : CblasNoTrans, static_cast<blasint>(g.m),
              static_cast<blasint>(g.n), static_cast<blasint>(g.k), 1.0f, b.data<float>(),
              static_cast<blasint>(g.ld_first), a.data<float>(),
              static_cast<blasint>(g.ld_second), 0.0f, c.data<float>(),
              static_cast<blasint>(g.ld_result));
}

}  // namespace scopeflow::cpu
