// CPU array family: BroadcastTo and Transpose, which move elements of any dtype through the
// broadcasting kernels' row walk; and their rows of the CPU kernel table.

#include <vector>

#include "cpu/broadcast.h"
#include "cpu/kernel_rows.h"

namespace scopeflow::cpu {

namespace {

template <typename T>
void broadcast_typed(const Tensor& in, Tensor& out) {
  const T* src = in.data<T>();
  broadcast_binary(src, in.shape(), src, in.shape(), out.data<T>(), out.shape(), [](T x, T) { return x; });
}

// out (perm applied to in's dims) = in read with permuted strides, through the broadcasting
// kernels' row walk (no heap use up to kMaxIndexRank).
template <typename T>
void transpose_typed(const Tensor& in, Tensor& out, const std::vector<int64_t>& perm) {
  const int64_t n = out.num_elements();
  if (n == 0) return;
  const T* src = in.data<T>();
  T* dst = out.data<T>();
  const int rank = in.shape().rank();
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  DimArrays<2> arrays(rank);
  int64_t* in_strides = arrays[0];
  int64_t* strides = arrays[1];  // input stride of each output dimension
  const int64_t* in_dims = in.shape().dims().data();
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    in_strides[d] = stride;
    stride *= in_dims[d];
  }
  for (int d = 0; d < rank; ++d) strides[d] = in_strides[perm[static_cast<size_t>(d)]];
  const int64_t inner = out.shape().dims()[static_cast<size_t>(rank - 1)];
  const int64_t step = strides[rank - 1];
  for_each_row<1>(out.shape().dims().data(), rank, n, {strides}, [&](int64_t base, const std::array<int64_t, 1>& at) {
    for (int64_t j = 0; j < inner; ++j) dst[base + j] = src[at[0] + j * step];
  });
}

void broadcast_to(KernelContext& ctx) {
  const Tensor& in = ctx.inputs[0];
  Tensor& out = ctx.outputs[0];
  dispatch_dtype(in.dtype(), [&]<class T>() { broadcast_typed<T>(in, out); });
}

void transpose(KernelContext& ctx) {
  const Tensor& in = ctx.inputs[0];
  Tensor& out = ctx.outputs[0];
  const std::vector<int64_t>& perm = ctx.attr<PermAttrs>().perm;
  dispatch_dtype(in.dtype(), [&]<class T>() { transpose_typed<T>(in, out, perm); });
}

constexpr CpuKernelRow kRows[] = {
    {OpId::kBroadcastTo, broadcast_to},
    {OpId::kTranspose, transpose},
};
static_assert(no_op_twice(kRows));

}  // namespace

std::span<const CpuKernelRow> array_rows() { return kRows; }

}  // namespace scopeflow::cpu
