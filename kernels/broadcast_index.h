#pragma once
// Index arithmetic of broadcasting and axis permutation, shared by the CPU kernels and the CUDA
// grid-stride kernels (one definition, tested on the CPU). Device-safe: includes nothing from src/.

#include <cstdint>

#include "kernels/elementwise_functors.h"

namespace scopeflow {

/// Ranks up to this many dimensions fit in the fixed-size index passed to device kernels.
inline constexpr int kMaxIndexRank = 8;

/// Maps a linear (row-major) index over an output shape to offsets into up to two inputs that
/// are read with the given strides (0 along broadcast dimensions). Trivially copyable, so it
/// travels to kernels by value.
struct StridedIndex {
  int rank = 0;
  int64_t out_dims[kMaxIndexRank] = {};
  int64_t strides[2][kMaxIndexRank] = {};

  /// Offset into input `which` (0 or 1) of output element `linear`.
  SCOPEFLOW_HOST_DEVICE int64_t offset(int which, int64_t linear) const {
    int64_t result = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t i = linear % out_dims[d];
      linear /= out_dims[d];
      result += i * strides[which][d];
    }
    return result;
  }
};

/// NumPy broadcasting strides of an input (in_rank dims, right-aligned) read over out_rank
/// output dims: writes out_rank strides, 0 along broadcast dimensions. cpu::broadcast_strides
/// and the device index both use it.
inline void broadcast_strides_into(const int64_t* in_dims, int in_rank, int out_rank,
                                   int64_t* strides) {
  int64_t stride = 1;
  for (int d = 0; d < out_rank; ++d) strides[d] = 0;
  for (int i = in_rank - 1; i >= 0; --i) {
    strides[out_rank - in_rank + i] = in_dims[i] == 1 ? 0 : stride;
    stride *= in_dims[i];
  }
}

/// An index over out_dims for reading inputs a and b broadcast to it. Returns false (and leaves
/// `index` unusable) when the rank exceeds kMaxIndexRank.
inline bool make_broadcast_index(const int64_t* out_dims, int out_rank, const int64_t* a_dims,
                                 int a_rank, const int64_t* b_dims, int b_rank,
                                 StridedIndex& index) {
  if (out_rank > kMaxIndexRank || a_rank > out_rank || b_rank > out_rank) return false;
  index.rank = out_rank;
  for (int d = 0; d < out_rank; ++d) index.out_dims[d] = out_dims[d];
  broadcast_strides_into(a_dims, a_rank, out_rank, index.strides[0]);
  broadcast_strides_into(b_dims, b_rank, out_rank, index.strides[1]);
  return true;
}

/// An index that reads an input of `in_dims` transposed by `perm` (a permutation of 0..rank-1):
/// output dimension d is input dimension perm[d], so out[i] = in[index.offset(0, i)]. Returns
/// false when the rank exceeds kMaxIndexRank.
inline bool make_transpose_index(const int64_t* in_dims, int rank, const int64_t* perm,
                                 StridedIndex& index) {
  if (rank > kMaxIndexRank) return false;
  int64_t strides[kMaxIndexRank] = {};
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= in_dims[d];
  }
  index = StridedIndex{};
  index.rank = rank;
  for (int d = 0; d < rank; ++d) {
    index.out_dims[d] = in_dims[perm[d]];
    index.strides[0][d] = strides[perm[d]];
  }
  return true;
}

/// How a reduction over some axes is laid out: the kept axes, then the reduced ones, so that
/// the reduction becomes a row sum of an (outer, inner) matrix. `needs_transpose` is false when
/// the input already has that order (the reduced axes are the trailing ones).
struct ReductionLayout {
  int64_t outer = 1;  // product of the kept dimensions
  int64_t inner = 1;  // product of the reduced dimensions
  bool needs_transpose = false;
  /// Reads the input in (kept..., reduced...) order: out_dims are the permuted dims,
  /// strides[0] the input strides permuted the same way.
  StridedIndex permute{};
};

/// Layout of reducing `dims` (rank <= kMaxIndexRank) over the axes flagged in `reduced`.
/// Returns false when the rank exceeds kMaxIndexRank.
inline bool make_reduction_layout(const int64_t* dims, int rank, const bool* reduced,
                                  ReductionLayout& layout) {
  if (rank > kMaxIndexRank) return false;
  int64_t strides[kMaxIndexRank] = {};
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= dims[d];
  }
  layout = ReductionLayout{};
  layout.permute.rank = rank;
  int next = 0;
  for (int pass = 0; pass < 2; ++pass) {  // kept axes first, then the reduced ones
    for (int d = 0; d < rank; ++d) {
      if (reduced[d] != (pass == 1)) continue;
      (pass == 0 ? layout.outer : layout.inner) *= dims[d];
      layout.permute.out_dims[next] = dims[d];
      layout.permute.strides[0][next] = strides[d];
      ++next;
    }
  }
  // Axes of extent 1 never move data: the order only breaks when a reduced axis of extent > 1
  // comes before a kept axis of extent > 1.
  bool reduced_before = false;
  for (int d = 0; d < rank; ++d) {
    if (dims[d] == 1) continue;
    if (reduced[d]) {
      reduced_before = true;
    } else if (reduced_before) {
      layout.needs_transpose = true;
    }
  }
  return true;
}

}  // namespace scopeflow
