#pragma once
// The one mapping from our row-major MatMul onto column-major BLAS arguments. cblas_sgemm
// (CblasColMajor) on the CPU and cublasSgemm on the GPU receive exactly these values, so the
// CPU tests exercise what cuBLAS gets. Device-safe: includes nothing from src/.

#include <algorithm>
#include <cstdint>

namespace scopeflow {

/// Arguments of a column-major GEMM  C = op(first) * op(second), with first = B, second = A.
struct ColumnMajorGemm {
  bool transpose_first = false;   // op on B
  bool transpose_second = false;  // op on A
  int64_t m = 0;                  // rows of column-major C = columns N of row-major C
  int64_t n = 0;                  // columns of column-major C = rows M of row-major C
  int64_t k = 0;
  int64_t ld_first = 1;           // leading dimension of B as stored
  int64_t ld_second = 1;          // leading dimension of A as stored
  int64_t ld_result = 1;
};

/// Row-major C(M, N) = op(A) op(B) equals column-major C^T(N, M) = op(B)^T op(A)^T; a
/// row-major matrix read column-major is its transpose, so the operands swap and no data moves.
/// A is stored (M, K), or (K, M) when transpose_a; B is stored (K, N), or (N, K) when transpose_b.
inline ColumnMajorGemm column_major_gemm_for_row_major(int64_t rows_m, int64_t cols_n,
                                                       int64_t inner_k, bool transpose_a,
                                                       bool transpose_b) {
  ColumnMajorGemm g;
  g.transpose_first = transpose_b;
  g.transpose_second = transpose_a;
  g.m = cols_n;
  g.n = rows_m;
  g.k = inner_k;
  // BLAS requires leading dimensions >= 1 even for empty matrices.
  g.ld_first = std::max<int64_t>(1, transpose_b ? inner_k : cols_n);
  g.ld_second = std::max<int64_t>(1, transpose_a ? rows_m : inner_k);
  g.ld_result = std::max<int64_t>(1, cols_n);
  return g;
}

}  // namespace scopeflow
