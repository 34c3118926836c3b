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
};

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
};

/// Key of one value in the graph: node id and output index (feed order and run signatures).
inline uint64_t value_key(const Node* node, int index) {
  return (static_cast<uint64_t>(node->id()) << 16) | static_cast<uint64_t>(index);
}

/// Plans one run. Throws Error(kInvalidArgument) when a placeholder the fetches need is unfed.
Plan make_plan(const PlanRequest& request);

}  // namespace scopeflow
