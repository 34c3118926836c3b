#pragma once
// What a Session needs from a device: its allocator, kernel dispatch and host <-> device copies.
// The CPU backend is always built; the CUDA one (src/cuda) only with the CUDA backend.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ops/op_registry.h"
#include "scopeflow/allocator.h"
#include "scopeflow/tensor.h"

namespace scopeflow {

class Backend {
 public:
  virtual ~Backend() = default;
  Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  virtual Device device() const = 0;
  /// Allocator of this device's memory (variables, activations, slots).
  virtual const std::shared_ptr<Allocator>& allocator() const = 0;
  /// Where `op`'s kernel runs: this device, or the CPU for ops with a CPU-fallback mark.
  virtual Device kernel_device(const OpDef& op) const = 0;
  /// Runs the node's kernel; inputs and outputs live on this device.
  virtual void run_kernel(KernelContext& ctx) = 0;
  /// Runs a MatMul -> BiasAdd [-> Relu] chain as one GEMM with the bias (and ReLU) in its
  /// epilogue: inputs (a, b, bias), output 0 of the chain's last node (ctx.node). `matmul` is
  /// the chain's MatMul node (its transpose attrs). Returns which kernels ran, for traces.
  virtual std::string_view run_fused_gemm(KernelContext& ctx, const Node& matmul, bool relu) = 0;
  /// Copies a host tensor into `device_tensor` (same dtype and shape) on this device.
  virtual void upload_into(const Tensor& host, const Tensor& device_tensor) = 0;
  /// A new tensor of `kind` on this device holding the host tensor's values.
  Tensor upload(const Tensor& host, MemoryKind kind);
  /// A host copy of a tensor on this device.
  virtual Tensor download(const Tensor& device_tensor) = 0;
  /// Waits until all queued work on this device is done.
  virtual void synchronize() = 0;
};

/// The CPU backend: kernels from the op table, copies are memcpy.
std::unique_ptr<Backend> make_cpu_backend();

/// The CUDA backend on device `index`; an error status when the library was built without it or
/// when the device does not answer (the status says why). allow_tf32 lets cuBLAS use TF32
/// tensor cores for float32 GEMMs (faster, ~10-bit mantissa products).
absl::StatusOr<std::unique_ptr<Backend>> make_cuda_backend(int index, bool allow_tf32);

/// TensorFlow names of the ops the CUDA backend has kernels for (empty without the backend).
std::vector<std::string> cuda_kernel_op_names();

}  // namespace scopeflow
