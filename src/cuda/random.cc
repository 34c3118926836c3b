// CUDA random family: RandomStandardNormal runs its CPU kernel (an explicit fallback mark).

#include "cuda/cuda_backend.h"

namespace scopeflow::cuda {

namespace {

constexpr CudaKernelRow kRows[] = {
    {OpId::kRandomStandardNormal, nullptr, nullptr,
     "drawn on the host from the counter-based Philox stream, so CPU and GPU sessions of one graph "
     "see identical values; then copied to the device",
     kFloat32Only},
};
static_assert(no_op_twice(kRows));

}  // namespace

std::span<const CudaKernelRow> random_rows() { return kRows; }

}  // namespace scopeflow::cuda
