// The CPU GEMM (cpu/gemm.h) on both libraries: every combination of transposes, bias, ReLU and
// accumulation (the sum post-op / beta = 1 that gradient accumulation uses) against a plain
// triple loop in double; empty and k = 0 products; dimensions a GEMM call cannot index.

#include "cpu/gemm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "test_util.h"

namespace scopeflow::cpu {
namespace {

std::vector<GemmLibrary> libraries() {
  std::vector<GemmLibrary> all = {GemmLibrary::kOpenBlas};
  if (onednn_built()) all.push_back(GemmLibrary::kOneDnn);
  return all;
}

const char* name_of(GemmLibrary library) { return library == GemmLibrary::kOneDnn ? "oneDNN" : "OpenBLAS"; }

std::vector<float> values(int64_t count, int salt) {
  std::vector<float> v(static_cast<size_t>(count));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(static_cast<int>((i * 7 + salt * 3) % 11) - 5) / 4.0f;
  return v;
}

// C = [C +] op(A) op(B) [+ bias], then [ReLU], in double.
std::vector<float> reference(const GemmShape& s, const std::vector<float>& a, const std::vector<float>& b,
                             const std::vector<float>& bias, const std::vector<float>& c_before) {
  std::vector<float> c(static_cast<size_t>(s.m * s.n));
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < s.k; ++p) {
        const float x = s.transpose_a ? a[static_cast<size_t>(p * s.m + i)] : a[static_cast<size_t>(i * s.k + p)];
        const float y = s.transpose_b ? b[static_cast<size_t>(j * s.k + p)] : b[static_cast<size_t>(p * s.n + j)];
        acc += static_cast<double>(x) * y;
      }
      if (s.bias) acc += bias[static_cast<size_t>(j)];
      if (s.accumulate) acc += c_before[static_cast<size_t>(i * s.n + j)];
      if (s.relu) acc = std::max(acc, 0.0);
      c[static_cast<size_t>(i * s.n + j)] = static_cast<float>(acc);
    }
  }
  return c;
}

TEST(CpuGemmTest, EveryEpilogueAndTransposeMatchesTheReference) {
  for (const GemmLibrary library : libraries()) {
    for (const auto [m, n, k] : {std::array<int64_t, 3>{5, 7, 3}, {1, 1, 1}, {33, 17, 65}, {4, 6, 0}}) {
      for (int flags = 0; flags < 32; ++flags) {
        const GemmShape shape{.m = m, .n = n, .k = k, .transpose_a = (flags & 1) != 0,
                              .transpose_b = (flags & 2) != 0, .bias = (flags & 4) != 0,
                              .relu = (flags & 8) != 0, .accumulate = (flags & 16) != 0};
        const std::vector<float> a = values(m * k, 1), b = values(k * n, 2), bias = values(n, 3);
        const std::vector<float> before = values(m * n, 4);
        std::vector<float> c = before;
        std::unique_ptr<Gemm> gemm = make_gemm(library, shape);
        gemm->run(a.data(), b.data(), shape.bias ? bias.data() : nullptr, c.data());
        const std::vector<float> want = reference(shape, a, b, bias, before);
        for (size_t i = 0; i < c.size(); ++i) {
          ASSERT_NEAR(c[i], want[i], 1e-4) << name_of(library) << " " << m << "x" << n << "x" << k
                                            << " flags " << flags << " [" << i << "]";
        }
        // Run twice: a prepared product binds new buffers on every run.
        std::vector<float> again = before;
        gemm->run(a.data(), b.data(), shape.bias ? bias.data() : nullptr, again.data());
        EXPECT_EQ(again, c) << name_of(library) << " flags " << flags;
      }
    }
  }
}

// The first contribution to a sum summed in place writes into a fresh, uninitialised buffer:
// without accumulate, C is write-only (BLAS beta = 0 must not read it), so NaN there is lost.
TEST(CpuGemmTest, AProductThatDoesNotAccumulateNeverReadsC) {
  for (const GemmLibrary library : libraries()) {
    for (const bool transpose_a : {false, true}) {
      const GemmShape shape{.m = 6, .n = 5, .k = 4, .transpose_a = transpose_a};
      const std::vector<float> a = values(24, 1), b = values(20, 2);
      std::vector<float> c(30, std::numeric_limits<float>::quiet_NaN());
      make_gemm(library, shape)->run(a.data(), b.data(), nullptr, c.data());
      const std::vector<float> want = reference(shape, a, b, {}, std::vector<float>(30, 0.0f));
      for (size_t i = 0; i < c.size(); ++i) ASSERT_NEAR(c[i], want[i], 1e-4) << name_of(library) << " [" << i << "]";
    }
  }
}

// C += alpha op(A) op(B), alpha given per run: the SGD update with its product inside.
TEST(CpuGemmTest, AScaledProductAccumulatesAlphaTimesTheProduct) {
  for (const GemmLibrary library : libraries()) {
    for (int flags = 0; flags < 4; ++flags) {
      const GemmShape shape{.m = 17, .n = 9, .k = 33, .transpose_a = (flags & 1) != 0,
                            .transpose_b = (flags & 2) != 0, .accumulate = true, .scaled = true};
      const std::vector<float> a = values(shape.m * shape.k, 1), b = values(shape.k * shape.n, 2);
      const std::vector<float> before = values(shape.m * shape.n, 4);
      std::unique_ptr<Gemm> gemm = make_gemm(library, shape);
      const GemmShape unscaled{.m = shape.m, .n = shape.n, .k = shape.k, .transpose_a = shape.transpose_a,
                               .transpose_b = shape.transpose_b};
      std::vector<float> zeros(before.size(), 0.0f);
      const std::vector<float> product = reference(unscaled, a, b, {}, zeros);
      for (const float alpha : {-0.25f, 3.0f}) {
        std::vector<float> c = before;
        gemm->run_scaled(alpha, a.data(), b.data(), nullptr, c.data());
        for (size_t i = 0; i < c.size(); ++i) {
          ASSERT_NEAR(c[i], before[i] + alpha * product[i], 1e-3) << name_of(library) << " flags " << flags
                                                                   << " alpha " << alpha << " [" << i << "]";
        }
      }
    }
    const test::ThrownError e = test::error_of(
        [&] { (void)make_gemm(library, {.m = 1, .n = 1, .k = 1, .bias = true, .scaled = true}); });
    EXPECT_EQ(e.code, absl::StatusCode::kInternal) << name_of(library);
  }
}

TEST(CpuGemmTest, AnEmptyProductWritesNothing) {
  for (const GemmLibrary library : libraries()) {
    std::unique_ptr<Gemm> gemm = make_gemm(library, {.m = 0, .n = 4, .k = 3});
    gemm->run(nullptr, nullptr, nullptr, nullptr);  // no element to read or write
    SUCCEED() << name_of(library);
  }
}

TEST(CpuGemmTest, NaNPropagatesThroughTheProduct) {
  for (const GemmLibrary library : libraries()) {
    const std::vector<float> a = {std::numeric_limits<float>::quiet_NaN(), 1.0f};
    const std::vector<float> b = {1.0f, 1.0f};
    std::vector<float> c(1);
    make_gemm(library, {.m = 1, .n = 1, .k = 2})->run(a.data(), b.data(), nullptr, c.data());
    EXPECT_TRUE(std::isnan(c[0])) << name_of(library);
  }
}

TEST(CpuGemmTest, DimensionsBeyondWhatOneCallIndexesAreRefused) {
  for (const GemmLibrary library : libraries()) {
    const test::ThrownError e = test::error_of(
        [&] { (void)make_gemm(library, {.m = 1, .n = 1, .k = int64_t{INT_MAX} + 2}); });
    EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument) << name_of(library);
    EXPECT_THAT(e.message, ::testing::HasSubstr("dimension k = 2147483649 is outside what one CPU GEMM call takes"));
  }
}

TEST(CpuGemmTest, TheCacheSharesOneProductPerShapeAndLibrary) {
  GemmCache cache;
  const GemmShape shape{.m = 2, .n = 3, .k = 4};
  Gemm& first = cache.get(GemmLibrary::kOpenBlas, shape);
  EXPECT_EQ(&cache.get(GemmLibrary::kOpenBlas, shape), &first);
  GemmShape other = shape;
  other.relu = true;
  EXPECT_NE(&cache.get(GemmLibrary::kOpenBlas, other), &first);
  if (onednn_built()) {
    EXPECT_NE(&cache.get(GemmLibrary::kOneDnn, shape), &first);
  }
}

}  // namespace
}  // namespace scopeflow::cpu
