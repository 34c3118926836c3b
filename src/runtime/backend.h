#pragma once
// What a Session needs from a device: its allocator, kernel dispatch and host <-> device copies.
// The CPU backend is always built; the CUDA one (src/cuda) only with the CUDA backend.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ops/op_registry.h"
#include "runtime/kernel_table.h"
#include "runtime/plan.h"
#include "scopeflow/allocator.h"
#include "scopeflow/session.h"
#include "scopeflow/tensor.h"

namespace scopeflow {

/// What a backend's kernel table says of an op.
enum class KernelSupport {
  kKernel,       // a kernel of this backend runs it
  kCpuFallback,  // its CPU kernel runs on host copies (an explicit, explained mark)
  kNoKernel,     // the executor produces its value (Const, VariableV2, Identity, NoOp, ...)
};
struct KernelSupportInfo {
  KernelSupport support = KernelSupport::kKernel;
  std::string_view note{};  // why it falls back, when it does
  DTypeSet dtypes = DTypeSet::all();  // of kernel_dtype(node) its kernel is built for
};

/// A plan step bound to a backend's kernel once, when the plan is made; each backend keeps its
/// own data in a subclass (kernel function, prepared GEMM).
struct PreparedKernel {
  virtual ~PreparedKernel() = default;
  Device device{};  // where its work runs
};

class Backend {
 public:
  virtual ~Backend() = default;
  Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  virtual Device device() const = 0;
  /// Allocator of this device's memory (variables, activations, slots).
  virtual const std::shared_ptr<Allocator>& allocator() const = 0;
  /// This backend's kernel-table row for `op`.
  virtual KernelSupportInfo support(OpId op) const = 0;
  /// Where `op`'s work runs: this device, or the CPU for ops with a CPU-fallback mark.
  Device kernel_device(OpId op) const {
    return support(op).support == KernelSupport::kCpuFallback ? Device::cpu() : device();
  }
  /// Binds a kernel step (ExecutionKind kKernel or kInPlace) to its kernel: a fused chain
  /// (inputs a, b, bias) as one GEMM with its epilogue. `attrs` are the step's decoded ones.
  virtual std::unique_ptr<PreparedKernel> prepare(const PlanStep& step, const DecodedAttrs& attrs) = 0;
  /// Runs a prepared step; inputs and outputs live on this device. Returns which library calls
  /// ran a fused or GEMM step, for traces (empty for other kernels).
  virtual std::string_view run(const PreparedKernel& kernel, KernelContext& ctx) = 0;
  /// Copies a host tensor into `device_tensor` (same dtype and shape) on this device.
  virtual void upload_into(const Tensor& host, const Tensor& device_tensor) = 0;
  /// A new tensor of `kind` on this device holding the host tensor's values.
  Tensor upload(const Tensor& host, MemoryKind kind);
  /// A new tensor of `kind` on this device with the values of `device_tensor` (also on it).
  virtual Tensor copy(const Tensor& device_tensor, MemoryKind kind) = 0;
  /// Copies `from` into `to` (same byte size), both on this device.
  virtual void copy_into(const Tensor& from, const Tensor& to) = 0;
  /// A host copy of a tensor on this device.
  virtual Tensor download(const Tensor& device_tensor) = 0;
  /// Called around each run (a CPU backend sets its thread count for the run's thread).
  virtual void begin_run() {}
  virtual void end_run() noexcept {}
  /// Waits until all queued work on this device is done.
  virtual void synchronize() = 0;
  /// The queue this device's work runs on in order (a cudaStream_t on CUDA), for collectives
  /// enqueued between kernels; null on the CPU.
  virtual void* work_queue() const { return nullptr; }
};

/// The CPU backend (src/cpu/cpu_backend.cc): its kernel table, copies are memcpy. `threads`
/// > 0 is the GEMM's thread count; 0 leaves the libraries' defaults.
std::unique_ptr<Backend> make_cpu_backend(CpuGemm gemm, int threads);
/// The CPU backend's kernel-table row for `op`.
KernelSupportInfo cpu_kernel_support(OpId op);
/// The CPU kernel of `op`; null for MatMul (a prepared GEMM) and ops without a kernel. Another
/// backend's CPU fallbacks run it on host copies.
CpuKernelFn cpu_kernel_function(OpId op);

/// The CUDA backend on device `index`; an error status when the library was built without it or
/// when the device does not answer (the status says why). allow_tf32 lets cuBLAS use TF32
/// tensor cores for float32 GEMMs (faster, ~10-bit mantissa products).
absl::StatusOr<std::unique_ptr<Backend>> make_cuda_backend(int index, bool allow_tf32);

/// The CUDA backend's kernel-table row for `op`; nullopt when built without the backend.
std::optional<KernelSupportInfo> cuda_kernel_support(OpId op);

}  // namespace scopeflow
