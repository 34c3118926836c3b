// The broadcast and reduction index math that the CUDA kernels use, checked on the CPU against
// the CPU kernels' own broadcasting and reductions.

#include "kernels/broadcast_index.h"

#include <cblas.h>
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "cpu/broadcast.h"
#include "kernels/gemm_args.h"
#include "scopeflow/ops.h"
#include "scopeflow/session.h"

namespace scopeflow {
namespace {

std::vector<float> iota_values(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 1.0f);
  return v;
}

struct BroadcastCase {
  Shape out, a, b;
};

TEST(StridedIndexTest, MatchesTheCpuBroadcastStrides) {
  const BroadcastCase cases[] = {
      {Shape{2, 3}, Shape{2, 3}, Shape{3}},          {Shape{3, 4}, Shape{3, 1}, Shape{1, 4}},
      {Shape{2, 3, 4}, Shape{4}, Shape{2, 1, 4}},    {Shape{5}, Shape{}, Shape{5}},
      {Shape{2, 1, 3, 1, 2}, Shape{1, 3, 1, 2}, Shape{2, 1, 1, 1, 1}},
  };
  for (const BroadcastCase& c : cases) {
    StridedIndex index;
    ASSERT_TRUE(make_broadcast_index(c.out.dims().data(), c.out.rank(), c.a.dims().data(),
                                     c.a.rank(), c.b.dims().data(), c.b.rank(), index));
    const std::vector<int64_t> sa = cpu::broadcast_strides(c.a, c.out);
    const std::vector<int64_t> sb = cpu::broadcast_strides(c.b, c.out);
    for (int d = 0; d < c.out.rank(); ++d) {
      EXPECT_EQ(index.strides[0][d], sa[static_cast<size_t>(d)]) << c.out.to_string() << " dim " << d;
      EXPECT_EQ(index.strides[1][d], sb[static_cast<size_t>(d)]) << c.out.to_string() << " dim " << d;
    }
  }
}

TEST(StridedIndexTest, GathersWhatTheCpuAddComputes) {
  // out = a + b computed through StridedIndex offsets equals the CPU AddV2 kernel's result.
  const Shape out{2, 3, 4};
  const Shape a_shape{3, 1};
  const Shape b_shape{2, 1, 4};
  const std::vector<float> a = iota_values(a_shape.num_elements());
  const std::vector<float> b = iota_values(b_shape.num_elements());
  StridedIndex index;
  ASSERT_TRUE(make_broadcast_index(out.dims().data(), out.rank(), a_shape.dims().data(),
                                   a_shape.rank(), b_shape.dims().data(), b_shape.rank(), index));
  std::vector<float> gathered(static_cast<size_t>(out.num_elements()));
  for (int64_t i = 0; i < out.num_elements(); ++i) {
    gathered[static_cast<size_t>(i)] = a[static_cast<size_t>(index.offset(0, i))] +
                                       b[static_cast<size_t>(index.offset(1, i))];
  }
  Graph g;
  Output sum = ops::add(ops::constant(g, Tensor::from_vector<float>(a_shape, a)),
                        ops::constant(g, Tensor::from_vector<float>(b_shape, b)));
  Session session(g, SessionOptions{.device = Device::cpu()});
  EXPECT_EQ(session.run(sum).to_vector<float>(), gathered);
}

TEST(StridedIndexTest, RefusesRanksBeyondTheLimit) {
  const std::vector<int64_t> dims(kMaxIndexRank + 1, 1);
  StridedIndex index;
  EXPECT_FALSE(make_broadcast_index(dims.data(), kMaxIndexRank + 1, dims.data(), 1, dims.data(), 1, index));
  ReductionLayout layout;
  const bool reduced[kMaxIndexRank + 1] = {};
  EXPECT_FALSE(make_reduction_layout(dims.data(), kMaxIndexRank + 1, reduced, layout));
}

struct ReductionCase {
  Shape shape;
  std::vector<int64_t> axes;
  bool needs_transpose;
};

// Sums through the layout the CUDA reduction uses (gather, then a row-sum GEMV with the same
// arguments cuBLAS gets) and compares with the CPU Sum kernel.
TEST(ReductionLayoutTest, GatherAndGemvMatchTheCpuSum) {
  const ReductionCase cases[] = {
      {Shape{4, 5}, {1}, false},        {Shape{4, 5}, {0}, true},
      {Shape{2, 3, 4}, {1}, true},      {Shape{2, 3, 4}, {0, 2}, true},
      {Shape{2, 3, 4}, {1, 2}, false},  {Shape{2, 3, 4}, {0, 1, 2}, false},
      {Shape{1, 3, 4}, {0}, false},     {Shape{3, 1, 4}, {0}, true},
      {Shape{3, 4, 1}, {0, 2}, true},   {Shape{6}, {0}, false},
  };
  for (const ReductionCase& c : cases) {
    SCOPED_TRACE(c.shape.to_string());
    bool reduced[kMaxIndexRank] = {};
    for (int64_t axis : c.axes) reduced[axis] = true;
    ReductionLayout layout;
    ASSERT_TRUE(make_reduction_layout(c.shape.dims().data(), c.shape.rank(), reduced, layout));
    EXPECT_EQ(layout.needs_transpose, c.needs_transpose);
    EXPECT_EQ(layout.outer * layout.inner, c.shape.num_elements());

    const std::vector<float> x = iota_values(c.shape.num_elements());
    std::vector<float> permuted(x.size());
    for (int64_t i = 0; i < c.shape.num_elements(); ++i) {
      permuted[static_cast<size_t>(i)] = x[static_cast<size_t>(layout.permute.offset(0, i))];
    }
    if (!layout.needs_transpose) {
      EXPECT_EQ(permuted, x) << "the gather would be a no-op";
    }
    const ColumnMajorGemv gv = column_major_gemv_for_row_major_sums(layout.outer, layout.inner, true);
    const std::vector<float> ones(static_cast<size_t>(gv.x_length), 1.0f);
    std::vector<float> sums(static_cast<size_t>(gv.y_length), -1.0f);
    cblas_sgemv(CblasColMajor, gv.transpose ? CblasTrans : CblasNoTrans, static_cast<blasint>(gv.m),
                static_cast<blasint>(gv.n), 1.0f, permuted.data(), static_cast<blasint>(gv.lda),
                ones.data(), 1, 0.0f, sums.data(), 1);

    Graph g;
    Output total = ops::reduce_sum(ops::constant(g, Tensor::from_vector<float>(c.shape, x)), c.axes);
    Session session(g, SessionOptions{.device = Device::cpu()});
    EXPECT_EQ(session.run(total).to_vector<float>(), sums);
  }
}

TEST(StridedIndexTest, TransposeIndexMatchesTheCpuTranspose) {
  Graph graph;
  const Shape in_shape{2, 3, 4, 5};
  const std::vector<int64_t> perm = {3, 1, 0, 2};
  const std::vector<float> values = iota_values(in_shape.num_elements());
  Output t = ops::transpose(ops::constant(graph, Tensor::from_vector<float>(in_shape, values)), perm);
  Session session(graph, SessionOptions{.device = Device::cpu()});
  const std::vector<float> expected = session.run(t).to_vector<float>();
  StridedIndex index;
  ASSERT_TRUE(make_transpose_index(in_shape.dims().data(), in_shape.rank(), perm.data(), index));
  EXPECT_EQ(index.rank, 4);
  EXPECT_EQ(index.out_dims[0], 5);
  EXPECT_EQ(index.out_dims[3], 4);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(values[static_cast<size_t>(index.offset(0, static_cast<int64_t>(i)))], expected[i]) << i;
  }
  const int64_t dims9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  const int64_t perm9[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_FALSE(make_transpose_index(dims9, 9, perm9, index));
}

}  // namespace
}  // namespace scopeflow
