#pragma once
// A oneDNN primitive with one source and one destination of the same (rows, columns) float
// layout, created when the plan is made and run through the C API (no argument map per call).
// Softmax, Tanh, Sigmoid and Sqrt run on it.

namespace scopeflow::cpu {
/// The elementwise algorithms our ops map to (declared in every build, for the kernel rows).
enum class OneDnnEltwise { kTanh, kLogistic, kSqrt };
}  // namespace scopeflow::cpu

#if SCOPEFLOW_WITH_ONEDNN

#include <cstdint>
#include <string_view>

#include <oneapi/dnnl/dnnl.hpp>

#include "cpu/kernel_rows.h"

namespace scopeflow::cpu {

/// oneDNN's CPU engine, made once per process (the engine is what primitives are created for;
/// in-order streams on one engine are independent).
const dnnl::engine& onednn_cpu_engine();

/// Tensors of at most this many elements run on one thread (a team costs more than it saves).
inline constexpr int64_t kSingleThreadOneDnnElements = 32768;

class OneDnnUnaryKernel final : public PreparedCpuKernel {
 public:
  /// Softmax over the last dimension of (rows, columns).
  static OneDnnUnaryKernel softmax(int64_t rows, int64_t columns, int threads);
  /// One elementwise algorithm over `elements` floats; `op` names the op in errors.
  static OneDnnUnaryKernel eltwise(OneDnnEltwise algorithm, int64_t elements, int threads, std::string_view op);

  std::string_view run(KernelContext& ctx) const override;

 private:
  OneDnnUnaryKernel(std::string_view op, std::string_view trace, int64_t elements, int threads);
  void finish(dnnl::primitive primitive, const dnnl::memory::desc& md);

  std::string_view op_;     // for errors: "softmax", "tanh"
  std::string_view trace_;  // for traces: which primitive ran
  int threads_;
  dnnl::stream stream_;
  dnnl::primitive primitive_;
  dnnl::memory src_, dst_;
  dnnl_exec_arg_t args_[2] = {};
};

}  // namespace scopeflow::cpu

#endif
