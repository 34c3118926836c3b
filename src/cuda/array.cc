// CUDA array family: BroadcastTo and Transpose as strided gathers; and their rows of the CUDA
// kernel table.

#include "cuda/cuda_backend.h"
#include "kernels/cuda/array.h"

namespace scopeflow::cuda {

namespace {

void broadcast_to(CudaBackend& b, KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  Tensor& out = ctx.outputs[0];
  const StridedIndex index = broadcast_index(out.shape(), x.shape(), x.shape(), "broadcast_to");
  check(cuda::launch_gather(dtype_size(x.dtype()), x.raw_data(), out.raw_data(), index,
                            out.num_elements(), b.stream()),
        "launch_gather");
}

void transpose(CudaBackend& b, KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  Tensor& out = ctx.outputs[0];
  StridedIndex index;
  if (!make_transpose_index(x.shape().dims().data(), x.shape().rank(), ctx.attr<PermAttrs>().perm.data(), index)) {
    throw_error(absl::StatusCode::kUnimplemented, "transpose", "rank ", x.shape().rank(), " exceeds the ",
                kMaxIndexRank, " dimensions CUDA kernels index");
  }
  check(cuda::launch_gather(dtype_size(x.dtype()), x.raw_data(), out.raw_data(), index,
                            out.num_elements(), b.stream()),
        "launch_gather");
}

constexpr CudaKernelRow kRows[] = {
    {OpId::kBroadcastTo, broadcast_to},
    {OpId::kTranspose, transpose},
};
static_assert(no_op_twice(kRows));

}  // namespace

std::span<const CudaKernelRow> array_rows() { return kRows; }

}  // namespace scopeflow::cuda
