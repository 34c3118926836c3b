#include "runtime/backend.h"

namespace scopeflow {

Tensor Backend::upload(const Tensor& host, MemoryKind kind) {
  Tensor result(host.dtype(), host.shape(), allocator(), kind);
  upload_into(host, result);
  return result;
}

#if !SCOPEFLOW_WITH_CUDA
absl::StatusOr<std::unique_ptr<Backend>> make_cuda_backend(int /*index*/, bool /*allow_tf32*/) {
  return absl::FailedPreconditionError(
      "scopeflow was built without the CUDA backend (configure with -DSCOPEFLOW_CUDA=AUTO or ON "
      "where nvcc is installed)");
}

std::optional<KernelSupportInfo> cuda_kernel_support(OpId /*op*/) { return std::nullopt; }
#endif

}  // namespace scopeflow
