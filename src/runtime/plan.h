#pragma once
// The planner: from a run's feeds, fetches and targets to an ordered list of steps over value
// slots, with in-place updates ordered after every reader, MatMul -> BiasAdd [-> Relu] chains
// fused, and each intermediate released after its last reader. It knows nothing of devices or
// kernels; the session binds each step to its backend's kernel once (runtime/session.cc).

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "ops/op_registry.h"
#include "scopeflow/graph.h"

namespace scopeflow {

struct PlanRequest {
  std::span<const Output> feeds{};  // fed values, in the order the run passes them
  std::span<const Output> fetches{};
  std::span<Node* const> targets{};
  bool fuse_gemm_epilogues = true;
  /// Contributions to an AddN that only it reads are summed in place (see PlanStep::sum).
  bool accumulate_sums = true;
  /// Activations get offsets in one arena per run (see Plan::arena_bytes).
  bool plan_arena = true;
};

/// Offsets in the activation arena are multiples of this (the allocators' alignment).
inline constexpr int64_t kArenaAlignment = 64;

/// A copy of output `output_index` into `slot`, made as soon as the step has run: a fetched
/// variable value that a later in-place step of the plan updates (fetches see the value as of
/// their read, as in the graph).
struct Snapshot {
  int output_index = 0;
  int slot = -1;
};

struct PlanStep {
  /// The node whose outputs this step produces (the last node of a fused chain).
  const Node* node = nullptr;
  ExecutionKind kind = ExecutionKind::kKernel;
  std::vector<int> input_slots;
  std::vector<int> output_slots;   // -1: output not needed (or overridden by a feed)
  std::vector<int> release_after;  // slots whose last reader is this step
  std::vector<Snapshot> snapshots;
  // A fused MatMul -> BiasAdd [-> Relu] chain ending at `node`: inputs (a, b, bias).
  const Node* fused_matmul = nullptr;
  const Node* fused_bias_add = nullptr;
  bool fused_relu = false;
  // An ApplyGradientDescent(var, alpha, delta) whose delta is this MatMul's product (through the
  // Identity nodes of update_forwarded), read by nothing else: var -= alpha * product as one
  // GEMM accumulating into var, run where the update runs; inputs (var, alpha, a, b).
  const Node* update_matmul = nullptr;
  std::vector<const Node*> update_forwarded;
  // A contribution to an AddN (`sum`) that the plan sums in place, in plan order: the first
  // contribution writes the sum's slot; each later one adds to it. With accumulator_input >= 0
  // this step adds into the buffer of that input, which is also its output 0: a MatMul with
  // inputs (a, b, sum) as a GEMM with beta = 1, a BiasAddGrad with inputs (gradient, sum) as an
  // accumulating reduction, or the AddN itself with inputs (sum, contribution) right after a
  // contribution that no kernel can add by itself. sum_forwarded are the Identity nodes (the
  // gates of TensorFlow's gradient tuples) between the contribution and the AddN;
  // completes_sum is set on the step of the last contribution.
  const Node* sum = nullptr;
  int accumulator_input = -1;
  std::vector<const Node*> sum_forwarded;
  bool completes_sum = false;
  /// Per output: its offset in the run's activation arena, or -1 when it is allocated on its
  /// own (not an activation, fetched, empty, or written into another buffer). Empty: none.
  std::vector<int64_t> arena_offsets;
  /// The step reads (or waits by a control dependency on) the mean of a collective step: the
  /// executor waits for the collectives started so far before it runs the step.
  bool waits_for_collectives = false;

  bool fused() const { return fused_matmul != nullptr; }
  /// The node whose attributes the step's kernel reads (the MatMul of a fused chain or update).
  const Node& kernel_node() const {
    if (fused()) return *fused_matmul;
    return update_matmul != nullptr ? *update_matmul : *node;
  }
};

struct Plan {
  std::vector<PlanStep> steps;
  int num_slots = 0;
  std::vector<int> feed_slots;   // one per request feed, in its order
  std::vector<int> fetch_slots;  // one per request fetch, in its order
  size_t max_inputs = 0;
  /// Bytes of the one activation buffer a run allocates and places its activations in: each
  /// activation a kernel writes (MemoryKind::kActivation, not fetched, in no other buffer) gets
  /// an offset from its lifetime, greedy by size with best fit (TFLite's arena planner, XLA's
  /// heap simulator), its block rounded up to kArenaAlignment.
  int64_t arena_bytes = 0;
  /// The most bytes of those blocks alive at once: no placement can use fewer.
  int64_t arena_lower_bound_bytes = 0;
};

/// Key of one value in the graph: node id and output index (feed order and run signatures).
inline uint64_t value_key(const Node* node, int index) {
  return (static_cast<uint64_t>(node->id()) << 16) | static_cast<uint64_t>(index);
}

/// Plans one run. Throws Error(kInvalidArgument) when a placeholder the fetches need is unfed.
Plan make_plan(const PlanRequest& request);

}  // namespace scopeflow
