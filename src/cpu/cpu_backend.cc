// The CPU backend: its kernel table (the rows of each op family's file, merged and checked
// once), plan-time kernel setup, and memcpy copies.

#include <cstring>
#include <optional>

#include "cpu/gemm.h"
#include "cpu/kernel_rows.h"
#include "runtime/backend.h"

namespace scopeflow {

namespace {

using cpu::CpuKernelRow;

// Values the executor produces itself: no kernel (a collective's all-reduce is the session's
// communicator's work).
constexpr CpuKernelRow kExecutorRows[] = {
    {OpId::kPlaceholder}, {OpId::kConst},      {OpId::kIdentity}, {OpId::kReshape},
    {OpId::kNoOp},        {OpId::kVariableV2}, {OpId::kCollectiveReduceV2},
};

const std::array<CpuKernelRow, kNumOps>& cpu_kernel_table() {
  static const std::array<CpuKernelRow, kNumOps> table = merge_kernel_rows<CpuKernelRow>(
      "cpu backend", {kExecutorRows, cpu::elementwise_rows(), cpu::array_rows(), cpu::reduction_rows(),
                      cpu::softmax_loss_rows(), cpu::gemm_rows(), cpu::training_rows(), cpu::random_rows()});
  return table;
}

struct CpuPreparedKernel final : PreparedKernel {
  CpuKernelFn kernel = nullptr;                      // the row's plain kernel, or
  std::unique_ptr<cpu::PreparedCpuKernel> prepared;  // what its prepare function set up
};

class CpuBackend final : public Backend {
 public:
  CpuBackend(cpu::GemmLibrary gemm_library, int threads)
      : allocator_(std::make_shared<CpuAllocator>()), gemm_library_(gemm_library), threads_(threads),
        gemms_(threads) {}

  Device device() const override { return Device::cpu(); }
  const std::shared_ptr<Allocator>& allocator() const override { return allocator_; }
  KernelSupportInfo support(OpId op) const override { return cpu_kernel_support(op); }

  std::unique_ptr<PreparedKernel> prepare(const PlanStep& step, const DecodedAttrs& attrs) override {
    const Node& node = step.kernel_node();
    const OpDef& op = node.op_def();
    const CpuKernelRow& row = cpu_kernel_table()[op_index(op.id)];
    check_kernel_dtype("CPU", row.dtypes, node);
    auto prepared = std::make_unique<CpuPreparedKernel>();
    prepared->device = Device::cpu();
    if (row.prepare != nullptr) {
      cpu::KernelSetup setup{.gemm_library = gemm_library_, .threads = threads_, .gemms = gemms_};
      prepared->prepared = row.prepare(step, attrs, setup);
    }
    if (prepared->prepared == nullptr) {
      if (row.kernel == nullptr || step.fused() || step.update_matmul != nullptr) {
        throw_error(absl::StatusCode::kInternal, op.builder_name, "op ", op.tf_name,
                    " has no CPU kernel to run node '", node.name(), "'");
      }
      prepared->kernel = row.kernel;
    }
    return prepared;
  }

  std::string_view run(const PreparedKernel& kernel, KernelContext& ctx) override {
    const auto& prepared = static_cast<const CpuPreparedKernel&>(kernel);
    if (prepared.kernel != nullptr) {
      prepared.kernel(ctx);
      return {};
    }
    return prepared.prepared->run(ctx);
  }

  void begin_run() override { thread_scope_.emplace(threads_); }
  void end_run() noexcept override { thread_scope_.reset(); }

  void upload_into(const Tensor& host, const Tensor& device_tensor) override {
    if (host.byte_size() > 0 && !host.shares_buffer_with(device_tensor)) {
      std::memcpy(device_tensor.raw_data(), host.raw_data(), host.byte_size());
    }
  }
  Tensor copy(const Tensor& device_tensor, MemoryKind kind) override { return device_tensor.clone(allocator_, kind); }
  void copy_into(const Tensor& from, const Tensor& to) override {
    if (from.byte_size() > 0) std::memcpy(to.raw_data(), from.raw_data(), from.byte_size());
  }
  Tensor download(const Tensor& device_tensor) override { return device_tensor.clone(); }
  void synchronize() override {}

 private:
  std::shared_ptr<Allocator> allocator_;
  cpu::GemmLibrary gemm_library_;
  int threads_;
  cpu::GemmCache gemms_;
  std::optional<cpu::GemmThreadScope> thread_scope_;
};

}  // namespace

bool cpu_gemm_onednn_built() { return cpu::onednn_built(); }

CpuKernelFn cpu_kernel_function(OpId op) { return cpu_kernel_table()[op_index(op)].kernel; }

KernelSupportInfo cpu_kernel_support(OpId op) {
  const CpuKernelRow& row = cpu_kernel_table()[op_index(op)];
  const bool runs = row.kernel != nullptr || row.prepare != nullptr;
  return {.support = runs ? KernelSupport::kKernel : KernelSupport::kNoKernel, .dtypes = row.dtypes};
}

std::unique_ptr<Backend> make_cpu_backend(CpuGemm gemm, int threads) {
  cpu::GemmLibrary library = cpu::onednn_built() ? cpu::GemmLibrary::kOneDnn : cpu::GemmLibrary::kOpenBlas;
  if (gemm == CpuGemm::kOpenBlas) library = cpu::GemmLibrary::kOpenBlas;
  if (gemm == CpuGemm::kOneDnn) {
    if (!cpu::onednn_built()) {
      throw_error(absl::StatusCode::kFailedPrecondition, "session",
                  "the oneDNN CPU GEMM was asked for, but scopeflow was built without oneDNN "
                  "(configure with -DSCOPEFLOW_CPU_GEMM=onednn)");
    }
    library = cpu::GemmLibrary::kOneDnn;
  }
  return std::make_unique<CpuBackend>(library, threads);
}

}  // namespace scopeflow
