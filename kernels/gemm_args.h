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

/// Arguments of a column-major GEMV  y = alpha * op(A) * ones  that sums the rows or the
/// columns of a row-major (rows, cols) matrix. Reductions (Sum, Mean, BiasAddGrad) run as this
/// GEMV on cuBLAS; the CPU tests run the same arguments through cblas_sgemv.
struct ColumnMajorGemv {
  bool transpose = false;
  int64_t m = 0;    // rows of the column-major matrix as stored
  int64_t n = 0;    // its columns
  int64_t lda = 1;
  int64_t x_length = 0;  // length of the ones vector
  int64_t y_length = 0;  // length of the result
};

/// Row-major (rows, cols) read column-major is its transpose (cols, rows) with lda = cols.
/// sum_rows: y(rows) = sum over each row; otherwise y(cols) = sum over each column.
inline ColumnMajorGemv column_major_gemv_for_row_major_sums(int64_t rows, int64_t cols,
                                                            bool sum_rows) {
  ColumnMajorGemv g;
  g.transpose = sum_rows;  // (cols, rows)^T * ones(cols) = row sums
  g.m = cols;
  g.n = rows;
  g.lda = std::max<int64_t>(1, cols);
  g.x_length = sum_rows ? cols : rows;
  g.y_length = sum_rows ? rows : cols;
  return g;
}

}  // namespace scopeflow
