#pragma once
// The broadcasting loop of the CPU kernels: index arithmetic over the output, with no table of
// offsets and, up to kMaxIndexRank dimensions, no heap allocation per run.

#include <cstdint>
#include <vector>

#include "kernels/broadcast_index.h"
#include "scopeflow/shape.h"

namespace scopeflow::cpu {

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
  // Strides of a and b and the odometer over the output: on the stack up to kMaxIndexRank.
  int64_t fixed[3][kMaxIndexRank];
  std::vector<int64_t> large;
  int64_t* sa = fixed[0];
  int64_t* sb = fixed[1];
  int64_t* index = fixed[2];
  if (rank > kMaxIndexRank) {
    large.resize(3 * static_cast<size_t>(rank));
    sa = large.data();
    sb = sa + rank;
    index = sb + rank;
  }
  broadcast_strides_into(a_shape.dims().data(), a_shape.rank(), rank, sa);
  broadcast_strides_into(b_shape.dims().data(), b_shape.rank(), rank, sb);
  for (int d = 0; d < rank; ++d) index[d] = 0;
  // An odometer over the outer dimensions, a strided loop over the last one.
  const int64_t* dims = out_shape.dims().data();
  const int64_t inner = dims[rank - 1];
  const int64_t ia = sa[rank - 1];
  const int64_t ib = sb[rank - 1];
  int64_t offset_a = 0;
  int64_t offset_b = 0;
  for (int64_t base = 0; base < n; base += inner) {
    for (int64_t j = 0; j < inner; ++j) out[base + j] = f(a[offset_a + j * ia], b[offset_b + j * ib]);
    for (int d = rank - 2; d >= 0; --d) {
      ++index[d];
      offset_a += sa[d];
      offset_b += sb[d];
      if (index[d] < dims[d]) break;
      offset_a -= sa[d] * index[d];
      offset_b -= sb[d] * index[d];
      index[d] = 0;
    }
  }
}

}  // namespace scopeflow::cpu
