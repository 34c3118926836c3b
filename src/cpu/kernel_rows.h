#pragma once
// The CPU backend's kernel rows. Each op family's file holds its kernels, adapters and rows
// (elementwise.cc, array.cc, reductions.cc, softmax_losses.cc, gemm.cc, training.cc,
// random.cc); cpu_backend.cc merges them into one table. Kernels assume input validated by
// their op's shape inference (house style).

#include <memory>
#include <span>
#include <string_view>

#include "cpu/gemm.h"
#include "ops/op_registry.h"
#include "runtime/backend.h"
#include "runtime/kernel_table.h"

namespace scopeflow::cpu {

/// What a family's prepare function may use of its session's backend.
struct KernelSetup {
  GemmLibrary gemm_library = GemmLibrary::kOneDnn;
  int threads = 0;  // the session's thread count; 0: the libraries' defaults
  GemmCache& gemms;
};

/// A kernel set up for one plan step when the plan is made (a GEMM primitive, a oneDNN softmax).
class PreparedCpuKernel {
 public:
  virtual ~PreparedCpuKernel() = default;
  /// Runs the step; returns which library calls ran it, for traces (empty: the plain kernel).
  virtual std::string_view run(KernelContext& ctx) const = 0;
};

/// Sets up a step's kernel; null: the row's plain kernel runs instead.
using CpuPrepareFn = std::unique_ptr<PreparedCpuKernel> (*)(const PlanStep& step, const DecodedAttrs& attrs,
                                                            KernelSetup& setup);

struct CpuKernelRow {
  OpId op{};
  CpuKernelFn kernel = nullptr;   // null with no prepare: the executor produces the value
  CpuPrepareFn prepare = nullptr;  // plan-time setup (GEMM, oneDNN), tried before `kernel`
  DTypeSet dtypes = DTypeSet::all();  // of kernel_dtype(node) the kernel is built for
};

// Each family's rows, defined in its file.
std::span<const CpuKernelRow> elementwise_rows();
std::span<const CpuKernelRow> array_rows();
std::span<const CpuKernelRow> reduction_rows();
std::span<const CpuKernelRow> softmax_loss_rows();
std::span<const CpuKernelRow> gemm_rows();
std::span<const CpuKernelRow> training_rows();
std::span<const CpuKernelRow> random_rows();

}  // namespace scopeflow::cpu
