// The row-major -> column-major GEMM argument mapping that cblas_sgemm and cuBLAS receive.

#include "kernels/gemm_args.h"

#include <cblas.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace scopeflow {
namespace {

TEST(GemmArgsTest, NoTranspose) {
  // A (3, 4) x B (4, 5) -> C (3, 5).
  const ColumnMajorGemm g = column_major_gemm_for_row_major(3, 5, 4, false, false);
  EXPECT_FALSE(g.transpose_first);
  EXPECT_FALSE(g.transpose_second);
  EXPECT_EQ(g.m, 5);
  EXPECT_EQ(g.n, 3);
  EXPECT_EQ(g.k, 4);
  EXPECT_EQ(g.ld_first, 5);   // B stored (4, 5)
  EXPECT_EQ(g.ld_second, 4);  // A stored (3, 4)
  EXPECT_EQ(g.ld_result, 5);
}

TEST(GemmArgsTest, TransposeA) {
  // A stored (4, 3), used as (3, 4); B (4, 5).
  const ColumnMajorGemm g = column_major_gemm_for_row_major(3, 5, 4, true, false);
  EXPECT_FALSE(g.transpose_first);
  EXPECT_TRUE(g.transpose_second);
  EXPECT_EQ(g.m, 5);
  EXPECT_EQ(g.n, 3);
  EXPECT_EQ(g.k, 4);
  EXPECT_EQ(g.ld_first, 5);
  EXPECT_EQ(g.ld_second, 3);
  EXPECT_EQ(g.ld_result, 5);
}

TEST(GemmArgsTest, TransposeB) {
  // A (3, 4); B stored (5, 4), used as (4, 5).
  const ColumnMajorGemm g = column_major_gemm_for_row_major(3, 5, 4, false, true);
  EXPECT_TRUE(g.transpose_first);
  EXPECT_FALSE(g.transpose_second);
  EXPECT_EQ(g.m, 5);
  EXPECT_EQ(g.n, 3);
  EXPECT_EQ(g.k, 4);
  EXPECT_EQ(g.ld_first, 4);
  EXPECT_EQ(g.ld_second, 4);
  EXPECT_EQ(g.ld_result, 5);
}

TEST(GemmArgsTest, TransposeBoth) {
  // A stored (4, 3); B stored (5, 4).
  const ColumnMajorGemm g = column_major_gemm_for_row_major(3, 5, 4, true, true);
  EXPECT_TRUE(g.transpose_first);
  EXPECT_TRUE(g.transpose_second);
  EXPECT_EQ(g.m, 5);
  EXPECT_EQ(g.n, 3);
  EXPECT_EQ(g.k, 4);
  EXPECT_EQ(g.ld_first, 4);
  EXPECT_EQ(g.ld_second, 3);
  EXPECT_EQ(g.ld_result, 5);
}

TEST(GemmArgsTest, LeadingDimensionsAreAtLeastOneForEmptyMatrices) {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{0, 0, 0},
                                    {0, 5, 4}, {3, 0, 4}, {3, 5, 0}, {0, 0, 7}}) {
        const ColumnMajorGemm g = column_major_gemm_for_row_major(m, n, k, ta, tb);
        EXPECT_GE(g.ld_first, 1) << m << " " << n << " " << k << " " << ta << tb;
        EXPECT_GE(g.ld_second, 1) << m << " " << n << " " << k << " " << ta << tb;
        EXPECT_GE(g.ld_result, 1) << m << " " << n << " " << k << " " << ta << tb;
        // BLAS also requires ld >= rows of the column-major operand as stored.
        EXPECT_GE(g.ld_result, g.m);
        EXPECT_GE(g.ld_first, g.transpose_first ? g.k : g.m);
        EXPECT_GE(g.ld_second, g.transpose_second ? g.n : g.k);
        EXPECT_EQ(g.m, n);
        EXPECT_EQ(g.n, m);
        EXPECT_EQ(g.k, k);
      }
    }
  }
}

// Deterministic small values, exact in float so that products sum without rounding.
std::vector<float> small_ints(int64_t n, int seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>((i * 7 + seed * 3) % 11 - 5);
  return v;
}

struct GemmCase {
  int64_t m, n, k;
  bool ta, tb;
};

void PrintTo(const GemmCase& c, std::ostream* os) {
  *os << "m=" << c.m << " n=" << c.n << " k=" << c.k << (c.ta ? " transpose_a" : "")
      << (c.tb ? " transpose_b" : "");
}

std::string gemm_case_name(const testing::TestParamInfo<GemmCase>& param_info) {
  const GemmCase& c = param_info.param;
  std::ostringstream name;
  name << "m" << c.m << "n" << c.n << "k" << c.k << (c.ta ? "_ta" : "") << (c.tb ? "_tb" : "");
  return name.str();
}

class GemmArgsCblasTest : public testing::TestWithParam<GemmCase> {};

TEST_P(GemmArgsCblasTest, CblasWithTheMappedArgumentsGivesTheRowMajorProduct) {
  const GemmCase c = GetParam();
  const std::vector<float> a = small_ints(c.m * c.k, 1);  // (m, k), or (k, m) when ta
  const std::vector<float> b = small_ints(c.k * c.n, 2);  // (k, n), or (n, k) when tb
  std::vector<float> result(static_cast<size_t>(c.m * c.n), -999.0f);

  const ColumnMajorGemm g = column_major_gemm_for_row_major(c.m, c.n, c.k, c.ta, c.tb);
  cblas_sgemm(CblasColMajor, g.transpose_first ? CblasTrans : CblasNoTrans,
              g.transpose_second ? CblasTrans : CblasNoTrans, static_cast<blasint>(g.m),
              static_cast<blasint>(g.n), static_cast<blasint>(g.k), 1.0f, b.data(),
              static_cast<blasint>(g.ld_first), a.data(), static_cast<blasint>(g.ld_second), 0.0f,
              result.data(), static_cast<blasint>(g.ld_result));

  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      float expected = 0;
      for (int64_t p = 0; p < c.k; ++p) {
        const float av = c.ta ? a[static_cast<size_t>(p * c.m + i)] : a[static_cast<size_t>(i * c.k + p)];
        const float bv = c.tb ? b[static_cast<size_t>(j * c.k + p)] : b[static_cast<size_t>(p * c.n + j)];
        expected += av * bv;
      }
      EXPECT_EQ(result[static_cast<size_t>(i * c.n + j)], expected) << "C[" << i << "][" << j << "]";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GemmArgsCblasTest,
    testing::Values(GemmCase{3, 5, 4, false, false}, GemmCase{3, 5, 4, true, false},
                    GemmCase{3, 5, 4, false, true}, GemmCase{3, 5, 4, true, true},
                    GemmCase{1, 7, 2, false, true}, GemmCase{6, 1, 3, true, false},
                    GemmCase{2, 3, 1, true, true}, GemmCase{9, 8, 13, true, true}),
    gemm_case_name);

// Row and column sums through the GEMV mapping that Sum, Mean and BiasAddGrad give cuBLAS.
TEST(GemvArgsTest, CblasWithTheMappedArgumentsSumsRowsAndColumns) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{3, 5}, {1, 4}, {6, 1}, {7, 9}}) {
    const std::vector<float> matrix = small_ints(rows * cols, 3);  // row-major (rows, cols)
    for (const bool sum_rows : {true, false}) {
      const ColumnMajorGemv g = column_major_gemv_for_row_major_sums(rows, cols, sum_rows);
      const std::vector<float> ones(static_cast<size_t>(g.x_length), 1.0f);
      std::vector<float> y(static_cast<size_t>(g.y_length), -999.0f);
      cblas_sgemv(CblasColMajor, g.transpose ? CblasTrans : CblasNoTrans, static_cast<blasint>(g.m),
                  static_cast<blasint>(g.n), 1.0f, matrix.data(), static_cast<blasint>(g.lda),
                  ones.data(), 1, 0.0f, y.data(), 1);
      ASSERT_EQ(static_cast<int64_t>(y.size()), sum_rows ? rows : cols);
      for (int64_t i = 0; i < static_cast<int64_t>(y.size()); ++i) {
        float expected = 0;
        const int64_t count = sum_rows ? cols : rows;
        for (int64_t j = 0; j < count; ++j) {
          expected += sum_rows ? matrix[static_cast<size_t>(i * cols + j)]
                               : matrix[static_cast<size_t>(j * cols + i)];
        }
        EXPECT_EQ(y[static_cast<size_t>(i)], expected)
            << rows << "x" << cols << (sum_rows ? " row " : " column ") << i;
      }
    }
  }
}

}  // namespace
}  // namespace scopeflow
