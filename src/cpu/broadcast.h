#pragma once
// The broadcasting loop of the CPU kernels: index arithmetic over the output, with no table of
// offsets and, up to kMaxIndexRank dimensions, no heap allocation per run.

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/broadcast_index.h"
#include "scopeflow/shape.h"

namespace scopeflow::cpu {

/// Strides of `in` seen from the index space of `out` (NumPy broadcasting): 0 along broadcast
/// dimensions.
inline std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(static_cast<size_t>(out.rank()), 0);
  broadcast_strides_into(in.dims().data(), in.rank(), out.rank(), strides.data());
  return strides;
}

/// Per-dimension int64 arrays of one kernel call: on the stack up to kMaxIndexRank dimensions,
/// on the heap beyond.
template <size_t K>
class DimArrays {
 public:
  explicit DimArrays(int rank) {
    if (rank > kMaxIndexRank) large_.resize(K * static_cast<size_t>(rank));
    for (size_t k = 0; k < K; ++k) {
      arrays_[k] = rank > kMaxIndexRank ? large_.data() + k * static_cast<size_t>(rank) : fixed_[k];
    }
  }
  int64_t* operator[](size_t k) { return arrays_[k]; }

 private:
  int64_t fixed_[K][kMaxIndexRank];
  std::vector<int64_t> large_;
  std::array<int64_t*, K> arrays_{};
};

/// Walks the row-major index space `dims` (rank >= 1, n > 0 elements) one last-dimension row at
/// a time: row(base, offsets), where base is the flat index of the row's first element and
/// offsets[k] that element's offset in operand k, read with per-dimension `strides[k]`. An
/// odometer over the outer dimensions; the row itself is the caller's strided loop.
template <size_t K, typename Row>
void for_each_row(const int64_t* dims, int rank, int64_t n, const std::array<const int64_t*, K>& strides, Row row) {
  DimArrays<1> index_array(rank);
  int64_t* index = index_array[0];
  for (int d = 0; d < rank; ++d) index[d] = 0;
  std::array<int64_t, K> offsets{};
  const int64_t inner = dims[rank - 1];
  for (int64_t base = 0; base < n; base += inner) {
    row(base, offsets);
    for (int d = rank - 2; d >= 0; --d) {
      ++index[d];
      for (size_t k = 0; k < K; ++k) offsets[k] += strides[k][d];
      if (index[d] < dims[d]) break;
      for (size_t k = 0; k < K; ++k) offsets[k] -= strides[k][d] * index[d];
      index[d] = 0;
    }
  }
}

/// out[i] = f(a[...], b[...]) over every element of out_shape, reading a and b with NumPy
/// broadcasting (right-aligned, size-1 dimensions repeated). Shapes are as inference left them.
template <typename A, typename B, typename Out, typename F>
void broadcast_binary(const A* a, const Shape& a_shape, const B* b, const Shape& b_shape, Out* out,
                      const Shape& out_shape, F f) {
  const int64_t n = out_shape.num_elements();
  if (n == 0) return;
  if (a_shape == out_shape && b_shape == out_shape) {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
    return;
  }
  if (a_shape == out_shape && b_shape.num_elements() == 1) {
    const B vb = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], vb);
    return;
  }
  if (b_shape == out_shape && a_shape.num_elements() == 1) {
    const A va = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = f(va, b[i]);
    return;
  }
  const int rank = out_shape.rank();
  if (rank == 0) {  // one element; inputs of a scalar output are scalars
    out[0] = f(a[0], b[0]);
    return;
  }
  DimArrays<2> strides(rank);
  int64_t* sa = strides[0];
  int64_t* sb = strides[1];
  broadcast_strides_into(a_shape.dims().data(), a_shape.rank(), rank, sa);
  broadcast_strides_into(b_shape.dims().data(), b_shape.rank(), rank, sb);
  const int64_t inner = out_shape.dims()[static_cast<size_t>(rank - 1)];
  const int64_t ia = sa[rank - 1];
  const int64_t ib = sb[rank - 1];
  for_each_row<2>(out_shape.dims().data(), rank, n, {sa, sb}, [&](int64_t base, const std::array<int64_t, 2>& at) {
    for (int64_t j = 0; j < inner; ++j) out[base + j] = f(a[at[0] + j * ia], b[at[1] + j * ib]);
  });
}

}  // namespace scopeflow::cpu
