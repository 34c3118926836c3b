// The CPU backend: its kernel table (one row per op of the list, checked when this file
// compiles), MatMul through prepared GEMMs, and memcpy copies.

#include <cstring>
#include <optional>

#include "cpu/cpu_kernels.h"
#include "cpu/gemm.h"
#include "cpu/softmax_onednn.h"
#include "ops/op_util.h"
#include "runtime/backend.h"

namespace scopeflow {

namespace {

struct CpuKernelRow {
  OpId op{};
  CpuKernelFn kernel = nullptr;  // null: no kernel (the executor produces the value), or GEMM
  bool gemm = false;             // runs through a GEMM prepared at plan time
};

using namespace cpu;  // the kernels' names, for the table

constexpr CpuKernelRow kCpuKernelRows[] = {
    // Values the executor produces itself.
    {OpId::kPlaceholder},
    {OpId::kConst},
    {OpId::kIdentity},
    {OpId::kReshape},
    {OpId::kNoOp},
    {OpId::kVariableV2},
    // Kernels.
    {OpId::kMatMul, nullptr, true},
    {OpId::kBroadcastTo, broadcast_to},
    {OpId::kAddV2, add},
    {OpId::kSub, sub},
    {OpId::kMul, mul},
    {OpId::kSum, sum},
    {OpId::kMean, mean},
    {OpId::kAddN, add_n},
    {OpId::kNeg, neg},
    {OpId::kSquare, square},
    {OpId::kAbs, cpu::abs},
    {OpId::kSign, sign},
    {OpId::kExp, cpu::exp},
    {OpId::kLog, cpu::log},
    {OpId::kSqrt, cpu::sqrt},
    {OpId::kRsqrt, rsqrt},
    {OpId::kMaximum, maximum},
    {OpId::kMinimum, minimum},
    {OpId::kPow, cpu::pow},
    {OpId::kTranspose, transpose},
    {OpId::kCast, cast},
    {OpId::kEqual, equal},
    {OpId::kArgMax, arg_max},
    {OpId::kBiasAdd, bias_add},
    {OpId::kRelu, relu},
    {OpId::kSigmoid, sigmoid},
    {OpId::kTanh, cpu::tanh},
    {OpId::kSoftmax, softmax},
    {OpId::kLogSoftmax, log_softmax},
    {OpId::kBiasAddGrad, bias_add_grad},
    {OpId::kReluGrad, relu_grad},
    {OpId::kSigmoidGrad, sigmoid_grad},
    {OpId::kTanhGrad, tanh_grad},
    {OpId::kSoftmaxCrossEntropyWithLogits, softmax_cross_entropy},
    {OpId::kSparseSoftmaxCrossEntropyWithLogits, sparse_softmax_cross_entropy},
    {OpId::kRandomStandardNormal, random_standard_normal},
    {OpId::kAssign, assign},
    {OpId::kAssignSub, assign_sub},
    {OpId::kApplyGradientDescent, apply_gradient_descent},
    {OpId::kApplyMomentum, apply_momentum},
    {OpId::kApplyAdam, apply_adam},
};
static_assert(each_op_once(kCpuKernelRows), "the CPU kernel table needs exactly one row per op");
constexpr auto kCpuKernels = index_by_op(kCpuKernelRows);

struct CpuPreparedKernel final : PreparedKernel {
  CpuKernelFn kernel = nullptr;
  cpu::Gemm* gemm = nullptr;  // owned by the backend's cache
  bool bias = false;
  std::unique_ptr<cpu::RowSoftmax> softmax;  // Softmax, LogSoftmax on oneDNN sessions
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
    const CpuKernelRow& row = kCpuKernels[op_index(node.op_def().id)];
    auto prepared = std::make_unique<CpuPreparedKernel>();
    prepared->device = Device::cpu();
    if (row.gemm) {
      const auto* matmul = std::get_if<MatMulAttrs>(&attrs);
      if (matmul == nullptr) {
        throw_error(absl::StatusCode::kInternal, node.op_def().builder_name, "node '", node.name(),
                    "' has no decoded transpose attributes");
      }
      const op_util::MatMulDims d =
          op_util::matmul_dims(*matmul, node.input(0).shape(), node.output_shape(0));
      const cpu::GemmShape shape{.m = d.m, .n = d.n, .k = d.k, .transpose_a = d.transpose_a,
                                 .transpose_b = d.transpose_b, .bias = step.fused(),
                                 .relu = step.fused_relu};
      prepared->gemm = &gemms_.get(gemm_library_, shape);
      prepared->bias = step.fused();
    } else if (row.kernel != nullptr && !step.fused()) {
      prepared->kernel = row.kernel;
      const OpId op = node.op_def().id;
      if ((op == OpId::kSoftmax || op == OpId::kLogSoftmax) && gemm_library_ == cpu::GemmLibrary::kOneDnn) {
        const Shape& shape = node.input(0).shape();
        const int64_t classes = shape.rank() == 0 ? 1 : shape.dims().back();
        const int64_t rows = classes == 0 ? 0 : shape.num_elements() / classes;
        prepared->softmax = cpu::make_onednn_softmax(rows, classes, op == OpId::kLogSoftmax, threads_);
      }
    } else {
      throw_error(absl::StatusCode::kInternal, node.op_def().builder_name, "op ", node.op(),
                  " has no CPU kernel to run node '", node.name(), "'");
    }
    return prepared;
  }

  std::string_view run(const PreparedKernel& kernel, KernelContext& ctx) override {
    const auto& prepared = static_cast<const CpuPreparedKernel&>(kernel);
    if (prepared.softmax != nullptr) {
      prepared.softmax->run(ctx.inputs[0].data<float>(), ctx.outputs[0].data<float>());
      return {};
    }
    if (prepared.gemm == nullptr) {
      prepared.kernel(ctx);
      return {};
    }
    prepared.gemm->run(ctx.inputs[0].data<float>(), ctx.inputs[1].data<float>(),
                       prepared.bias ? ctx.inputs[2].data<float>() : nullptr, ctx.outputs[0].data<float>());
    return prepared.gemm->description();
  }

  void begin_run() override { thread_scope_.emplace(threads_); }
  void end_run() noexcept override { thread_scope_.reset(); }

  void upload_into(const Tensor& host, const Tensor& device_tensor) override {
    if (host.byte_size() > 0 && !host.shares_buffer_with(device_tensor)) {
      std::memcpy(device_tensor.raw_data(), host.raw_data(), host.byte_size());
    }
  }
  Tensor copy(const Tensor& device_tensor, MemoryKind kind) override { return device_tensor.clone(allocator_, kind); }
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

CpuKernelFn cpu_kernel_function(OpId op) { return kCpuKernels[op_index(op)].kernel; }

KernelSupportInfo cpu_kernel_support(OpId op) {
  const CpuKernelRow& row = kCpuKernels[op_index(op)];
  return {row.kernel != nullptr || row.gemm ? KernelSupport::kKernel : KernelSupport::kNoKernel, {}};
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
