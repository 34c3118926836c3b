// The CUDA backend's kernel table (the rows of each op family's file, merged and checked
// once), plan-time binding of steps, CPU fallbacks on host copies, and its factory.

#include "cuda/cuda_backend.h"

#include <climits>
#include <vector>

#include "kernels/cuda/elementwise.h"

namespace scopeflow {

namespace cuda {

int blas_int(int64_t value, std::string_view op) {
  if (value > INT_MAX) {
    throw_error(absl::StatusCode::kUnimplemented, op, "dimension ", value,
                " exceeds what one cuBLAS call takes (", INT_MAX, ")");
  }
  return static_cast<int>(value);
}

StridedIndex broadcast_index(const Shape& out, const Shape& a, const Shape& b, std::string_view op) {
  StridedIndex index;
  if (!make_broadcast_index(out.dims().data(), out.rank(), a.dims().data(), a.rank(),
                            b.dims().data(), b.rank(), index)) {
    throw_error(absl::StatusCode::kUnimplemented, op, "rank ", out.rank(),
                " exceeds the ", kMaxIndexRank, " dimensions CUDA kernels index");
  }
  return index;
}

namespace {

// Values the executor produces itself: no kernel (a collective's all-reduce is the session's
// communicator's work).
constexpr CudaKernelRow kExecutorRows[] = {
    {OpId::kPlaceholder}, {OpId::kConst},      {OpId::kIdentity}, {OpId::kReshape},
    {OpId::kNoOp},        {OpId::kVariableV2}, {OpId::kCollectiveReduceV2},
};

const std::array<CudaKernelRow, kNumOps>& cuda_kernel_table() {
  static const std::array<CudaKernelRow, kNumOps> table = merge_kernel_rows<CudaKernelRow>(
      "cuda backend", {kExecutorRows, elementwise_rows(), array_rows(), reduction_rows(), softmax_loss_rows(),
                       gemm_rows(), training_rows(), random_rows()});
  return table;
}

struct CudaPreparedKernel final : PreparedKernel {
  CudaKernelFn kernel = nullptr;                  // the row's adapter, or
  std::unique_ptr<PreparedCudaKernel> prepared;   // what its prepare function set up, or
  CpuKernelFn cpu_kernel = nullptr;               // the CPU kernel on host copies (fallback mark)
};

}  // namespace

const float* CudaBackend::ones(int64_t n) {
  if (!ones_.defined() || ones_.num_elements() < n) {
    Tensor grown(DType::kFloat32, Shape{n}, allocator_, MemoryKind::kOther);
    check(cuda::launch_fill(grown.data<float>(), 1.0f, n, stream_), "launch_fill");
    ones_ = std::move(grown);  // only once filled, so a failure leaves the old vector
  }
  return ones_.data<float>();
}
void CudaBackend::run_on_host(KernelContext& ctx, CpuKernelFn cpu_kernel) {
  std::vector<Tensor> host_inputs;
  host_inputs.reserve(ctx.inputs.size());
  for (const Tensor& in : ctx.inputs) host_inputs.push_back(download(in));
  std::vector<Tensor> host_outputs;
  host_outputs.reserve(ctx.outputs.size());
  for (const Tensor& out : ctx.outputs) host_outputs.emplace_back(out.dtype(), out.shape());
  KernelContext host_ctx{ctx.node, host_inputs, host_outputs, ctx.invocation, ctx.attrs};
  cpu_kernel(host_ctx);
  for (size_t i = 0; i < host_outputs.size(); ++i) upload_into(host_outputs[i], ctx.outputs[i]);
}

std::unique_ptr<PreparedKernel> CudaBackend::prepare(const PlanStep& step, const DecodedAttrs& attrs) {
  const Node& node = step.kernel_node();
  const OpDef& op = node.op_def();
  const CudaKernelRow& row = cuda_kernel_table()[op_index(op.id)];
  check_kernel_dtype("CUDA", row.dtypes, node);
  auto prepared = std::make_unique<CudaPreparedKernel>();
  prepared->device = device();
  if (row.prepare != nullptr) prepared->prepared = row.prepare(step, attrs);
  if (prepared->prepared != nullptr) return prepared;
  if (step.fused() || step.update_matmul != nullptr) {
    throw_error(absl::StatusCode::kInternal, op.builder_name, "op ", op.tf_name,
                " cannot run the fused step ending at node '", step.node->name(), "'");
  }
  if (row.kernel != nullptr) {
    prepared->kernel = row.kernel;
  } else if (row.cpu_fallback != nullptr) {
    if (op.execution == ExecutionKind::kInPlace) {
      throw_error(absl::StatusCode::kInternal, op.builder_name,
                  "in-place ops need a CUDA kernel; '", op.tf_name, "' has a CPU-fallback mark");
    }
    prepared->device = Device::cpu();
    prepared->cpu_kernel = cpu_kernel_function(op.id);
  } else {
    throw_error(absl::StatusCode::kInternal, op.builder_name, "op ", op.tf_name,
                " has no CUDA kernel to run node '", node.name(), "'");
  }
  return prepared;
}

std::string_view CudaBackend::run(const PreparedKernel& kernel, KernelContext& ctx) {
  const auto& prepared = static_cast<const CudaPreparedKernel&>(kernel);
  if (prepared.cpu_kernel != nullptr) {
    run_on_host(ctx, prepared.cpu_kernel);
    return {};
  }
  DeviceGuard guard(index_);
  if (prepared.kernel != nullptr) {
    prepared.kernel(*this, ctx);
    return {};
  }
  // Which kernels run a fused chain depends on cuBLASLt's answer for its buffers.
  return prepared.prepared->run(*this, ctx);
}

}  // namespace cuda

absl::StatusOr<std::unique_ptr<Backend>> make_cuda_backend(int index, bool allow_tf32) {
  absl::StatusOr<std::shared_ptr<cuda::CudaAllocator>> allocator = cuda::CudaAllocator::create(index);
  if (!allocator.ok()) return allocator.status();
  try {
    auto backend = std::make_unique<cuda::CudaBackend>(index, *std::move(allocator), allow_tf32);
    backend->init();
    return backend;
  } catch (const Error& e) {
    return e.status();
  }
}

std::optional<KernelSupportInfo> cuda_kernel_support(OpId op) {
  const cuda::CudaKernelRow& row = cuda::cuda_kernel_table()[op_index(op)];
  if (row.kernel != nullptr || row.prepare != nullptr) {
    return KernelSupportInfo{.support = KernelSupport::kKernel, .dtypes = row.dtypes};
  }
  if (row.cpu_fallback != nullptr) {
    return KernelSupportInfo{.support = KernelSupport::kCpuFallback, .note = row.cpu_fallback, .dtypes = row.dtypes};
  }
  return KernelSupportInfo{.support = KernelSupport::kNoKernel, .dtypes = row.dtypes};
}

}  // namespace scopeflow
