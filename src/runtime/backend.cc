#include "runtime/backend.h"

#include <cstring>

#include "cpu/cpu_kernels.h"

namespace scopeflow {

Tensor Backend::upload(const Tensor& host, MemoryKind kind) {
  Tensor result(host.dtype(), host.shape(), allocator(), kind);
  upload_into(host, result);
  return result;
}

namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend() : allocator_(std::make_shared<CpuAllocator>()) {}

  Device device() const override { return Device::cpu(); }
  const std::shared_ptr<Allocator>& allocator() const override { return allocator_; }
  Device kernel_device(const OpDef& /*op*/) const override { return Device::cpu(); }
  void run_kernel(KernelContext& ctx) override { ctx.node.op_def().cpu_kernel(ctx); }
  std::string_view run_fused_gemm(KernelContext& ctx, const Node& matmul, bool relu) override {
    cpu::matmul_bias(ctx, matmul, relu);
    return relu ? "sgemm onto the bias, then ReLU" : "sgemm onto the bias";
  }
  void upload_into(const Tensor& host, const Tensor& device_tensor) override {
    if (host.byte_size() > 0 && !host.shares_buffer_with(device_tensor)) {
      std::memcpy(device_tensor.raw_data(), host.raw_data(), host.byte_size());
    }
  }
  Tensor download(const Tensor& device_tensor) override { return device_tensor.clone(); }
  void synchronize() override {}

 private:
  std::shared_ptr<Allocator> allocator_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

#if !SCOPEFLOW_WITH_CUDA
absl::StatusOr<std::unique_ptr<Backend>> make_cuda_backend(int /*index*/, bool /*allow_tf32*/) {
  return absl::FailedPreconditionError(
      "scopeflow was built without the CUDA backend (configure with -DSCOPEFLOW_CUDA=AUTO or ON "
      "where nvcc is installed)");
}

std::vector<std::string> cuda_kernel_op_names() { return {}; }
#endif

}  // namespace scopeflow
