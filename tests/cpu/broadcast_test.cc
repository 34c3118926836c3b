// The CPU broadcasting loop (cpu/broadcast.h) behind AddV2, Sub, Mul, Equal and BroadcastTo:
// results against a coordinate-by-coordinate reference, and no heap allocation per run.

#include "cpu/broadcast.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <span>
#include <vector>

#include "runtime/backend.h"
#include "scopeflow/ops.h"
#include "scopeflow/session.h"

// Counts operator new calls made by the counting thread while `counting` is set. Replacing the
// global (unaligned) forms is the only way to see what a kernel allocates; everything else in
// the test binary goes through them unchanged, to malloc and free.
namespace {
thread_local bool counting = false;
std::atomic<int64_t> counted_allocations{0};

void* counted_new(std::size_t size) {
  if (counting) counted_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* counted_new_nothrow(std::size_t size) noexcept {
  if (counting) counted_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

void* operator new(std::size_t size) { return counted_new(size); }
void* operator new[](std::size_t size) { return counted_new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted_new_nothrow(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return counted_new_nothrow(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace scopeflow {
namespace {

// Heap allocations `f` makes on this thread.
template <typename F>
int64_t allocations_of(F&& f) {
  counted_allocations = 0;
  counting = true;
  f();
  counting = false;
  return counted_allocations.load();
}

// The offset into `in`, NumPy-broadcast to `out`, of output element `linear`, from coordinates.
int64_t reference_offset(const Shape& in, const Shape& out, int64_t linear) {
  std::vector<int64_t> coord(static_cast<size_t>(out.rank()));
  for (int d = out.rank() - 1; d >= 0; --d) {
    coord[static_cast<size_t>(d)] = linear % out.dim(d);
    linear /= out.dim(d);
  }
  const int shift = out.rank() - in.rank();
  int64_t offset = 0;
  for (int d = 0; d < in.rank(); ++d) {
    offset = offset * in.dim(d) + (in.dim(d) == 1 ? 0 : coord[static_cast<size_t>(d + shift)]);
  }
  return offset;
}

template <typename T>
std::vector<T> values(const Shape& shape, int modulo) {
  std::vector<T> v(static_cast<size_t>(shape.num_elements()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>(static_cast<int>(i) % modulo);
  return v;
}

struct Case {
  Shape a, b, out;
};

// Same shapes, scalars, rank mismatch, size-1 dimensions on either side, empty outputs, and a
// rank beyond kMaxIndexRank (the loop's fallback storage).
const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {Shape{2, 3}, Shape{2, 3}, Shape{2, 3}},
      {Shape{2, 3}, Shape{}, Shape{2, 3}},
      {Shape{}, Shape{4}, Shape{4}},
      {Shape{}, Shape{}, Shape{}},
      {Shape{1}, Shape{5}, Shape{5}},
      {Shape{3, 1}, Shape{1, 4}, Shape{3, 4}},
      {Shape{2, 3, 4}, Shape{4}, Shape{2, 3, 4}},
      {Shape{4}, Shape{2, 3, 4}, Shape{2, 3, 4}},
      {Shape{2, 1, 4}, Shape{3, 1}, Shape{2, 3, 4}},
      {Shape{5, 1, 1}, Shape{1, 1, 3}, Shape{5, 1, 3}},
      {Shape{2, 1, 3, 1, 2}, Shape{1, 3, 1, 2}, Shape{2, 1, 3, 1, 2}},
      {Shape{0, 3}, Shape{3}, Shape{0, 3}},
      {Shape{2, 0}, Shape{1}, Shape{2, 0}},
      {Shape{1, 0}, Shape{3, 1}, Shape{3, 0}},
      {Shape{2, 1, 2, 1, 2, 1, 2, 1, 2}, Shape{1, 2, 1, 2, 1, 2, 1, 2, 1}, Shape{2, 2, 2, 2, 2, 2, 2, 2, 2}},
  };
  return all;
}

TEST(CpuBroadcastTest, EqualMatchesTheReference) {
  for (const Case& c : cases()) {
    const std::vector<int32_t> a = values<int32_t>(c.a, 3);
    const std::vector<int32_t> b = values<int32_t>(c.b, 2);
    Graph g;
    Output eq = ops::equal(ops::constant(g, Tensor::from_vector<int32_t>(c.a, a)),
                           ops::constant(g, Tensor::from_vector<int32_t>(c.b, b)));
    Session session(g, SessionOptions{.device = Device::cpu()});
    const Tensor result = session.run(eq);
    ASSERT_EQ(result.shape(), c.out) << c.a.to_string() << " == " << c.b.to_string();
    const std::vector<bool> got = result.to_vector<bool>();
    for (int64_t i = 0; i < c.out.num_elements(); ++i) {
      const bool expected = a[static_cast<size_t>(reference_offset(c.a, c.out, i))] ==
                            b[static_cast<size_t>(reference_offset(c.b, c.out, i))];
      ASSERT_EQ(got[static_cast<size_t>(i)], expected)
          << c.a.to_string() << " == " << c.b.to_string() << " at " << i;
    }
  }
}

TEST(CpuBroadcastTest, AddMatchesTheReference) {
  for (const Case& c : cases()) {
    const std::vector<float> a = values<float>(c.a, 7);
    const std::vector<float> b = values<float>(c.b, 5);
    Graph g;
    Output sum = ops::add(ops::constant(g, Tensor::from_vector<float>(c.a, a)),
                          ops::constant(g, Tensor::from_vector<float>(c.b, b)));
    Session session(g, SessionOptions{.device = Device::cpu()});
    const Tensor result = session.run(sum);
    ASSERT_EQ(result.shape(), c.out) << c.a.to_string() << " + " << c.b.to_string();
    const std::vector<float> got = result.to_vector<float>();
    for (int64_t i = 0; i < c.out.num_elements(); ++i) {
      ASSERT_EQ(got[static_cast<size_t>(i)], a[static_cast<size_t>(reference_offset(c.a, c.out, i))] +
                                                 b[static_cast<size_t>(reference_offset(c.b, c.out, i))])
          << c.a.to_string() << " + " << c.b.to_string() << " at " << i;
    }
  }
}

TEST(CpuBroadcastTest, BroadcastToMatchesTheReference) {
  for (const Case& c : cases()) {
    for (const Shape& in : {c.a, c.b}) {
      const std::vector<int64_t> x = values<int64_t>(in, 11);
      Graph g;
      Output y = ops::broadcast_to(ops::constant(g, Tensor::from_vector<int64_t>(in, x)), c.out);
      Session session(g, SessionOptions{.device = Device::cpu()});
      const Tensor result = session.run(y);
      ASSERT_EQ(result.shape(), c.out) << in.to_string() << " -> " << c.out.to_string();
      const std::vector<int64_t> got = result.to_vector<int64_t>();
      for (int64_t i = 0; i < c.out.num_elements(); ++i) {
        ASSERT_EQ(got[static_cast<size_t>(i)], x[static_cast<size_t>(reference_offset(in, c.out, i))])
            << in.to_string() << " -> " << c.out.to_string() << " at " << i;
      }
    }
  }
  // A bool input goes through the same loop.
  Graph g;
  Output y = ops::broadcast_to(ops::constant(g, Tensor::from_vector<bool>(Shape{2, 1}, {true, false})),
                               Shape{2, 3});
  Session session(g, SessionOptions{.device = Device::cpu()});
  EXPECT_EQ(session.run(y).to_vector<bool>(), (std::vector<bool>{true, true, true, false, false, false}));
}

TEST(CpuBroadcastTest, EqualAndBroadcastToAllocateNothingPerRun) {
  // Before, each run built a table of one offset per output element (per input, for Equal).
  Graph g;
  Output x = ops::placeholder(g, DType::kInt32, Shape{3, 1}, "x");
  Output y = ops::placeholder(g, DType::kInt32, Shape{1, 4}, "y");
  Output eq = ops::equal(x, y);
  Output wide = ops::broadcast_to(x, Shape{2, 3, 4});

  const std::vector<Tensor> inputs = {Tensor::from_vector<int32_t>(Shape{3, 1}, {0, 1, 2}),
                                      Tensor::from_vector<int32_t>(Shape{1, 4}, {2, 1, 0, 1})};
  std::vector<Tensor> eq_out = {Tensor(DType::kBool, Shape{3, 4})};
  KernelContext eq_ctx{*eq.node, std::span<const Tensor>(inputs), std::span<Tensor>(eq_out), 0};
  EXPECT_EQ(allocations_of([&] { cpu_kernel_function(OpId::kEqual)(eq_ctx); }), 0);
  EXPECT_EQ(eq_out[0].to_vector<bool>(),
            (std::vector<bool>{false, false, true, false, false, true, false, true, true, false, false, false}));

  std::vector<Tensor> wide_out = {Tensor(DType::kInt32, Shape{2, 3, 4})};
  KernelContext wide_ctx{*wide.node, std::span<const Tensor>(inputs).first(1), std::span<Tensor>(wide_out), 0};
  EXPECT_EQ(allocations_of([&] { cpu_kernel_function(OpId::kBroadcastTo)(wide_ctx); }), 0);
  const std::vector<int32_t> expected = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2};
  EXPECT_EQ(wide_out[0].to_vector<int32_t>(), expected);

  // The counter does see allocations (into a global, so that none is optimized away).
  static std::vector<int64_t> table;
  EXPECT_GE(allocations_of([] { table.assign(16, 0); }), 1);
  table = {};
}

}  // namespace
}  // namespace scopeflow
