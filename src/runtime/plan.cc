#include "runtime/plan.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <cstdint>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "scopeflow/error.h"

namespace scopeflow {

namespace {

constexpr std::string_view kRun = "session.run";

OpId op_of(const Node* node) { return node->op_def().id; }

// Post-order DFS from fetches and targets (iterative: deep unrolled graphs must not overflow
// the stack), stopping at fully fed nodes. Inputs always precede consumers in a Graph, so there
// are no cycles to detect.
std::vector<const Node*> reachable_in_topological_order(const PlanRequest& request,
                                                        const absl::flat_hash_set<uint64_t>& fed) {
  auto fully_fed = [&](const Node* node) {
    if (node->num_outputs() == 0) return false;
    for (int i = 0; i < node->num_outputs(); ++i) {
      if (!fed.contains(value_key(node, i))) return false;
    }
    return true;
  };
  std::vector<const Node*> order;
  absl::flat_hash_set<const Node*> visited;
  std::vector<std::pair<const Node*, size_t>> stack;
  auto visit = [&](const Node* root) {
    if (fully_fed(root) || !visited.insert(root).second) return;
    stack.emplace_back(root, 0);
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      const size_t num_deps = node->inputs().size() + node->control_inputs().size();
      if (next < num_deps) {
        const Node* dep = next < node->inputs().size()
                              ? node->inputs()[next].node
                              : node->control_inputs()[next - node->inputs().size()];
        ++next;
        if (!fully_fed(dep) && visited.insert(dep).second) stack.emplace_back(dep, 0);
      } else {
        order.push_back(node);
        stack.pop_back();
      }
    }
  };
  for (const Output& f : request.fetches) visit(f.node);
  for (const Node* t : request.targets) visit(t);
  return order;
}

// A collective's mean is complete only once its whole bucket is all-reduced, which starts when
// the bucket's last value is computed. So every reader of a mean (by data or control) runs after
// all values of the mean's bucket: a stable topological sort (ties keep the given order) with
// those extra edges. A value of a bucket that depends on the mean of another of its values can
// never be all-reduced: an error.
std::vector<const Node*> collective_readers_after_their_buckets(const std::vector<const Node*>& order) {
  absl::flat_hash_map<const Node*, int64_t> bucket_of;
  absl::flat_hash_map<int64_t, std::vector<const Node*>> members;
  bool shared_buckets = false;
  for (const Node* node : order) {
    if (node->op_def().execution != ExecutionKind::kCollective) continue;
    const int64_t key = std::get<CollectiveAttrs>(node->op_def().decode_attrs(*node)).bucket_key;
    bucket_of.emplace(node, key);
    std::vector<const Node*>& values = members[key];
    values.push_back(node);
    shared_buckets = shared_buckets || values.size() > 1;
  }
  if (!shared_buckets) return order;  // a bucket of one value: its readers follow it anyway

  absl::flat_hash_map<const Node*, size_t> position;
  for (size_t i = 0; i < order.size(); ++i) position.emplace(order[i], i);
  std::vector<std::vector<size_t>> successors(order.size());
  std::vector<int> waiting_on(order.size(), 0);
  for (size_t i = 0; i < order.size(); ++i) {
    absl::flat_hash_set<size_t> predecessors;
    auto depend_on = [&](const Node* input) {
      auto it = position.find(input);
      if (it == position.end()) return;
      predecessors.insert(it->second);
      if (auto bucket = bucket_of.find(input); bucket != bucket_of.end()) {
        for (const Node* member : members[bucket->second]) predecessors.insert(position.at(member));
      }
    };
    for (const Output& in : order[i]->inputs()) depend_on(in.node);
    for (const Node* control : order[i]->control_inputs()) depend_on(control);
    predecessors.erase(i);
    for (size_t p : predecessors) successors[p].push_back(i);
    waiting_on[i] = static_cast<int>(predecessors.size());
  }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < order.size(); ++i) {
    if (waiting_on[i] == 0) ready.push(i);
  }
  std::vector<const Node*> sorted;
  sorted.reserve(order.size());
  while (!ready.empty()) {
    const size_t i = ready.top();
    ready.pop();
    sorted.push_back(order[i]);
    for (size_t next : successors[i]) {
      if (--waiting_on[next] == 0) ready.push(next);
    }
  }
  if (sorted.size() != order.size()) {
    for (const auto& [key, values] : members) {
      for (const Node* value : values) {
        if (waiting_on[position.at(value)] > 0) {
          throw_invalid(kRun, "all-reduce '", value->name(), "' of bucket ", key,
                        " depends on the mean of another value of its bucket; the bucket can never be complete");
        }
      }
    }
    throw_error(absl::StatusCode::kInternal, kRun, "ordering the readers of all-reduced means left a cycle");
  }
  return sorted;
}

// Variables are read through forwarded buffers, so an in-place update (Apply*, Assign) must run
// after every reader of the old value: in-place writers and everything that depends on them
// move to the end of the plan, keeping their relative (topological) order.
std::vector<const Node*> in_place_updates_last(const std::vector<const Node*>& order) {
  absl::flat_hash_set<const Node*> late;
  std::vector<const Node*> early_nodes;
  std::vector<const Node*> late_nodes;
  for (const Node* node : order) {
    bool is_late = node->op_def().execution == ExecutionKind::kInPlace;
    for (const Output& in : node->inputs()) is_late = is_late || late.contains(in.node);
    for (const Node* control : node->control_inputs()) is_late = is_late || late.contains(control);
    if (is_late) {
      late.insert(node);
      late_nodes.push_back(node);
    } else {
      early_nodes.push_back(node);
    }
  }
  early_nodes.insert(early_nodes.end(), late_nodes.begin(), late_nodes.end());
  return early_nodes;
}

// A value that holds no activation memory of the run: fed, a Const, a variable's buffer, or a
// view of one of those.
bool is_persistent_value(const Output& value, const absl::flat_hash_set<uint64_t>& fed) {
  const Node* node = value.node;
  while (true) {
    if (fed.contains(value_key(node, value.index))) return true;
    switch (node->op_def().execution) {
      case ExecutionKind::kConstant:
      case ExecutionKind::kVariable: return true;
      case ExecutionKind::kForwardInput:
        if (node->inputs().empty()) return false;
        node = node->inputs()[0].node;
        continue;
      default: return false;
    }
  }
}

// A depth-first order computes a kernel whose inputs are all persistent values as soon as the
// search passes it, which may be long before its reader: an unrolled RNN would compute every
// step's x_t * W first and hold all of them. Such a kernel moves down to just before its first
// reader (data or control), never past an in-place update (it may read the variable the update
// changes). Stateful kernels keep their place; fetched values live to the end anyway.
std::vector<const Node*> sources_just_in_time(const std::vector<const Node*>& order,
                                              const absl::flat_hash_set<uint64_t>& fed) {
  absl::flat_hash_map<const Node*, size_t> position;
  for (size_t i = 0; i < order.size(); ++i) position.emplace(order[i], i);
  std::vector<size_t> target(order.size(), 0);  // 0 for a node that keeps its place
  for (size_t i = 0; i < order.size(); ++i) {
    for (const Output& in : order[i]->inputs()) {
      auto it = position.find(in.node);
      if (it != position.end() && (target[it->second] == 0 || target[it->second] > i)) target[it->second] = i;
    }
    for (const Node* control : order[i]->control_inputs()) {
      auto it = position.find(control);
      if (it != position.end() && (target[it->second] == 0 || target[it->second] > i)) target[it->second] = i;
    }
  }
  std::vector<bool> candidate(order.size(), false);
  size_t next_in_place = order.size();
  for (size_t i = order.size(); i-- > 0;) {
    const Node* node = order[i];
    const OpDef& op = node->op_def();
    if (op.execution == ExecutionKind::kInPlace) next_in_place = i;
    if (op.execution != ExecutionKind::kKernel || op.stateful || target[i] <= i) continue;
    candidate[i] = std::all_of(node->inputs().begin(), node->inputs().end(),
                               [&](const Output& in) { return is_persistent_value(in, fed); });
    target[i] = std::min(target[i], next_in_place);
  }
  // Only a move past another kernel shortens a lifetime; the rest keep their place.
  std::vector<size_t> kernels_before(order.size() + 1, 0);
  for (size_t i = 0; i < order.size(); ++i) {
    const ExecutionKind kind = order[i]->op_def().execution;
    const bool anchor = !candidate[i] && (kind == ExecutionKind::kKernel || kind == ExecutionKind::kInPlace);
    kernels_before[i + 1] = kernels_before[i] + (anchor ? 1 : 0);
  }
  std::vector<bool> moves(order.size(), false);
  for (size_t i = 0; i < order.size(); ++i) {
    moves[i] = candidate[i] && target[i] > i && kernels_before[target[i]] > kernels_before[i + 1];
  }
  std::vector<std::vector<const Node*>> moved_before(order.size() + 1);
  for (size_t i = 0; i < order.size(); ++i) {
    if (moves[i]) moved_before[target[i]].push_back(order[i]);
  }
  std::vector<const Node*> result;
  result.reserve(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    result.insert(result.end(), moved_before[i].begin(), moved_before[i].end());
    if (!moves[i]) result.push_back(order[i]);
  }
  return result;
}

struct GemmChain {
  const Node* matmul = nullptr;
  const Node* bias_add = nullptr;
  const Node* relu = nullptr;
};

// MatMul -> BiasAdd [-> Relu] chains of a plan that can run as one GEMM with an epilogue (an
// AddV2 of a bias vector counts as a BiasAdd): the MatMul's (and, with a Relu, the BiasAdd's)
// value has no reader but the next node of the chain in this plan, is neither fetched nor fed,
// no node of the plan waits on it by a control dependency (it would run before the chain's
// last step), and no in-place update runs in between (it could change the GEMM's operands).
// Returns the chains keyed by their last node.
absl::flat_hash_map<const Node*, GemmChain> find_gemm_chains(
    const std::vector<const Node*>& order, const absl::flat_hash_set<uint64_t>& fed,
    const absl::flat_hash_set<uint64_t>& fetched) {
  absl::flat_hash_map<const Node*, size_t> position;
  for (size_t i = 0; i < order.size(); ++i) position.emplace(order[i], i);
  absl::flat_hash_set<const Node*> control_inputs;
  for (const Node* node : order) control_inputs.insert(node->control_inputs().begin(), node->control_inputs().end());
  // True when `consumer` (at input 0) is the only reader of output 0 of `producer` in the plan.
  auto sole_reader = [&](const Node* producer, const Node* consumer) {
    const uint64_t key = value_key(producer, 0);
    if (fed.contains(key) || fetched.contains(key) || control_inputs.contains(producer)) return false;
    if (consumer->input(0).node != producer || consumer->input(0).index != 0) return false;
    int readers = 0;
    for (const auto& [reader, input_index] : producer->consumers()) {
      if (position.contains(reader) && reader->input(input_index).index == 0) ++readers;
    }
    if (readers != 1) return false;
    for (size_t i = position.at(producer) + 1; i < position.at(consumer); ++i) {
      if (order[i]->op_def().execution == ExecutionKind::kInPlace) return false;
    }
    return true;
  };
  // BiasAdd(product, bias), or AddV2(product, bias) with a (n,) bias: the article's x @ w + b.
  auto adds_a_bias = [](const Node* node) {
    if (op_of(node) != OpId::kBiasAdd && op_of(node) != OpId::kAddV2) return false;
    if (node->output_dtype(0) != DType::kFloat32) return false;
    if (op_of(node) == OpId::kBiasAdd) return true;
    const Shape& product = node->input(0).shape();
    return product.rank() == 2 && node->output_shape(0) == product &&
           node->input(1).shape() == Shape{product.dim(1)};
  };
  absl::flat_hash_map<const Node*, GemmChain> chains;
  for (const Node* node : order) {
    if (!adds_a_bias(node)) continue;
    const Node* matmul = node->input(0).node;
    if (op_of(matmul) != OpId::kMatMul || !position.contains(matmul) || !sole_reader(matmul, node)) continue;
    GemmChain chain{matmul, node, nullptr};
    // A Relu is fused when it alone reads the BiasAdd (its gradient reads the Relu's output).
    for (const auto& [reader, input_index] : node->consumers()) {
      if (op_of(reader) == OpId::kRelu && input_index == 0 && position.contains(reader) &&
          sole_reader(node, reader)) {
        chain.relu = reader;
      }
    }
    chains.emplace(chain.relu != nullptr ? chain.relu : node, chain);
  }
  return chains;
}

// The variable whose buffer output `index` of `node` is (through forwarding ops), or null.
const Node* aliased_variable(const Node* node, int index) {
  while (true) {
    const ExecutionKind kind = node->op_def().execution;
    if (kind == ExecutionKind::kVariable) return node;
    if (kind != ExecutionKind::kForwardInput || index != 0) return nullptr;
    index = node->input(0).index;
    node = node->input(0).node;
  }
}

// The product that an ApplyGradientDescent can compute inside itself, and the Identity nodes
// between it and the update (the gates of TensorFlow's gradient tuples).
struct GemmUpdate {
  const Node* matmul = nullptr;
  std::vector<const Node*> forwarded;
};

// ApplyGradientDescent steps whose delta can be computed where the update runs (after every
// reader of the variable): the delta is output 0 of a MatMul of the plan, possibly through
// Identity nodes, and each of these values is read by the next node alone (not fetched, not
// fed). Neither operand of the MatMul is a variable's buffer, so no in-place update can change
// them and the later product has the same value. For the same reason a NoOp that waits on the
// MatMul or an Identity (a gradient tuple's gate) orders nothing observable and does not stop
// the fusion; any other waiter does.
absl::flat_hash_map<const Node*, GemmUpdate> find_gemm_updates(
    const std::vector<const Node*>& order, const absl::flat_hash_set<uint64_t>& fed,
    const absl::flat_hash_set<uint64_t>& fetched, const absl::flat_hash_set<const Node*>& fused_away) {
  absl::flat_hash_set<const Node*> planned(order.begin(), order.end());
  absl::flat_hash_set<const Node*> awaited_by_more_than_a_noop;
  for (const Node* node : order) {
    if (node->op_def().execution == ExecutionKind::kNoOutput) continue;
    awaited_by_more_than_a_noop.insert(node->control_inputs().begin(), node->control_inputs().end());
  }
  // True when (producer, index) is output 0 of a node of the plan that runs as its own step, is
  // neither fed nor fetched, has one reader in the plan and no waiter other than NoOps.
  auto movable_value = [&](const Node* producer, int index) {
    const uint64_t key = value_key(producer, 0);
    if (index != 0 || !planned.contains(producer) || fused_away.contains(producer) ||
        awaited_by_more_than_a_noop.contains(producer) || fed.contains(key) || fetched.contains(key)) {
      return false;
    }
    int readers = 0;
    for (const auto& [reader, input_index] : producer->consumers()) {
      if (planned.contains(reader)) ++readers;
    }
    return readers == 1;
  };
  absl::flat_hash_map<const Node*, GemmUpdate> updates;
  for (const Node* node : order) {
    if (op_of(node) != OpId::kApplyGradientDescent) continue;
    GemmUpdate update;
    Output delta = node->input(2);
    while (op_of(delta.node) == OpId::kIdentity && movable_value(delta.node, delta.index)) {
      update.forwarded.push_back(delta.node);
      delta = delta.node->input(0);
    }
    if (op_of(delta.node) != OpId::kMatMul || !movable_value(delta.node, delta.index)) continue;
    bool reads_a_variable = false;
    for (const Output& in : delta.node->inputs()) {
      reads_a_variable = reads_a_variable || aliased_variable(in.node, in.index) != nullptr;
    }
    if (reads_a_variable) continue;
    update.matmul = delta.node;
    updates.emplace(node, std::move(update));
  }
  return updates;
}

// Readers in the plan of output `index` of `producer`.
int readers_in_plan(const Node* producer, int index, const absl::flat_hash_set<const Node*>& planned) {
  int readers = 0;
  for (const auto& [reader, input_index] : producer->consumers()) {
    if (planned.contains(reader) && reader->input(input_index).index == index) ++readers;
  }
  return readers;
}

// One value an AddN sums, and the Identity nodes between it and the AddN.
struct SumContribution {
  const Node* producer = nullptr;  // its output 0 is the contribution
  std::vector<const Node*> forwarded;
};

// An AddN of the plan whose contributions it sums in place, in plan order.
struct SumAccumulation {
  const Node* add_n = nullptr;
  std::vector<SumContribution> contributions;  // in plan order
};

// AddN nodes whose every input is output 0 of a kernel step of the plan (possibly through
// Identity nodes) that nothing else reads, fetches or feeds. Their contributions can be summed
// into the AddN's buffer as each is produced, so no two of them are alive at once. Nothing
// moves: each contribution is computed where it was, only written elsewhere, so waiters and
// in-place updates see what they saw before; the Identity values, read by the AddN alone,
// are never observed.
absl::flat_hash_map<const Node*, SumAccumulation> find_sum_accumulations(
    const std::vector<const Node*>& order, const absl::flat_hash_set<uint64_t>& fed,
    const absl::flat_hash_set<uint64_t>& fetched, const absl::flat_hash_set<const Node*>& fused_away) {
  absl::flat_hash_set<const Node*> planned(order.begin(), order.end());
  absl::flat_hash_map<const Node*, size_t> position;
  for (size_t i = 0; i < order.size(); ++i) position.emplace(order[i], i);
  auto private_value = [&](const Output& value) {
    const uint64_t key = value_key(value.node, value.index);
    return planned.contains(value.node) && !fused_away.contains(value.node) && !fed.contains(key) &&
           !fetched.contains(key) && readers_in_plan(value.node, value.index, planned) == 1;
  };
  absl::flat_hash_map<const Node*, SumAccumulation> sums;
  absl::flat_hash_set<const Node*> contributing;
  for (const Node* node : order) {
    if (op_of(node) != OpId::kAddN || node->num_inputs() < 2 || fused_away.contains(node)) continue;
    SumAccumulation sum{node, {}};
    bool eligible = true;
    for (const Output& in : node->inputs()) {
      SumContribution contribution;
      Output value = in;
      while (eligible && op_of(value.node) == OpId::kIdentity && private_value(value)) {
        contribution.forwarded.push_back(value.node);
        value = value.node->input(0);
      }
      // A sum summed in place has no step of its own to write into another sum.
      eligible = eligible && value.index == 0 && value.node->op_def().execution == ExecutionKind::kKernel &&
                 !sums.contains(value.node) &&
                 value.node->output_shape(0) == node->output_shape(0) &&
                 value.node->output_dtype(0) == node->output_dtype(0) && private_value(value) &&
                 !contributing.contains(value.node);
      if (!eligible) break;
      contribution.producer = value.node;
      sum.contributions.push_back(std::move(contribution));
    }
    if (!eligible) continue;
    std::sort(sum.contributions.begin(), sum.contributions.end(),
              [&](const SumContribution& x, const SumContribution& y) {
                return position.at(x.producer) < position.at(y.producer);
              });
    for (const SumContribution& c : sum.contributions) contributing.insert(c.producer);
    sums.emplace(node, std::move(sum));
  }
  return sums;
}

// A collective step's mean is written in the background: each step that reads one, or waits on
// a collective node by a control dependency, waits for the collectives first.
void mark_collective_waits(Plan& plan) {
  absl::flat_hash_set<int> means;
  absl::flat_hash_set<const Node*> collectives;
  for (PlanStep& step : plan.steps) {
    for (int slot : step.input_slots) step.waits_for_collectives |= means.contains(slot);
    // A forwarded mean (Identity, Reshape) is the mean's buffer: its readers wait too.
    if (step.kind == ExecutionKind::kForwardInput && step.waits_for_collectives) {
      step.waits_for_collectives = false;  // forwarding reads no values
      for (int slot : step.output_slots) {
        if (slot >= 0) means.insert(slot);
      }
    }
    for (const Node* node : {step.node, step.fused_matmul, step.fused_bias_add, step.update_matmul}) {
      if (node == nullptr) continue;
      for (const Node* control : node->control_inputs()) step.waits_for_collectives |= collectives.contains(control);
    }
    if (step.kind != ExecutionKind::kCollective) continue;
    collectives.insert(step.node);
    for (int slot : step.output_slots) {
      if (slot >= 0) means.insert(slot);
    }
  }
}

// Places the activations that kernels write in one arena (PlanRequest::plan_arena). A block is
// one buffer: a kernel output with the values that forward it (Identity, Reshape) and, for a
// sum summed in place, the steps that add into it; it lives from the step that writes it to
// the last step that reads any of them. Greedy by size, best fit: the largest block first, each
// at the smallest gap between the blocks already placed whose lifetimes overlap its own.
void plan_activation_arena(Plan& plan, const std::vector<bool>& kept) {
  struct Block {
    int64_t bytes = 0;
    size_t first = 0;  // step that writes it
    size_t last = 0;   // last step that reads or writes it
    bool eligible = true;
    int64_t offset = -1;
    size_t step = 0;  // the writer and its output index
    size_t output = 0;
  };
  std::vector<int> block_of(static_cast<size_t>(plan.num_slots), -1);
  std::vector<Block> blocks;
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    const PlanStep& step = plan.steps[s];
    auto touch = [&](int slot) {
      if (slot >= 0 && block_of[static_cast<size_t>(slot)] >= 0) {
        Block& block = blocks[static_cast<size_t>(block_of[static_cast<size_t>(slot)])];
        block.last = std::max(block.last, s);
      }
    };
    for (int slot : step.input_slots) touch(slot);
    if (step.kind == ExecutionKind::kForwardInput) {
      const int in = step.input_slots.at(0);
      const int out = step.output_slots.at(0);
      if (out >= 0) block_of[static_cast<size_t>(out)] = block_of[static_cast<size_t>(in)];
      touch(out);
    } else if (step.kind == ExecutionKind::kKernel && step.accumulator_input < 0) {
      for (size_t i = 0; i < step.output_slots.size(); ++i) {
        const int slot = step.output_slots[i];
        if (slot < 0) continue;
        const int index = static_cast<int>(i);
        const MemoryKind kind = i == 0 && step.sum != nullptr ? step.sum->output_memory_kind(0)
                                                              : step.node->output_memory_kind(index);
        const int64_t bytes = step.node->output_shape(index).num_elements() *
                              static_cast<int64_t>(dtype_size(step.node->output_dtype(index)));
        Block block;
        block.bytes = (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
        block.first = block.last = s;
        block.eligible = kind == MemoryKind::kActivation && bytes > 0;
        block.step = s;
        block.output = i;
        block_of[static_cast<size_t>(slot)] = static_cast<int>(blocks.size());
        blocks.push_back(block);
      }
    } else {
      for (int slot : step.output_slots) touch(slot);
    }
  }
  // A fetched value (or one forwarding it) leaves the run: it keeps a buffer of its own.
  for (int slot = 0; slot < plan.num_slots; ++slot) {
    if (kept[static_cast<size_t>(slot)] && block_of[static_cast<size_t>(slot)] >= 0) {
      blocks[static_cast<size_t>(block_of[static_cast<size_t>(slot)])].eligible = false;
    }
  }

  std::vector<size_t> by_size;
  for (size_t b = 0; b < blocks.size(); ++b) {
    if (blocks[b].eligible) by_size.push_back(b);
  }
  std::stable_sort(by_size.begin(), by_size.end(), [&](size_t x, size_t y) {
    if (blocks[x].bytes != blocks[y].bytes) return blocks[x].bytes > blocks[y].bytes;
    return blocks[x].first < blocks[y].first;
  });
  std::vector<size_t> placed;  // by offset
  for (size_t b : by_size) {
    Block& block = blocks[b];
    int64_t best = -1;
    int64_t best_gap = 0;
    int64_t end = 0;  // of the overlapping blocks before the gap looked at
    for (size_t p : placed) {
      const Block& other = blocks[p];
      if (other.last < block.first || block.last < other.first) continue;
      const int64_t gap = other.offset - end;
      if (gap >= block.bytes && (best < 0 || gap < best_gap)) {
        best = end;
        best_gap = gap;
      }
      end = std::max(end, other.offset + other.bytes);
    }
    block.offset = best >= 0 ? best : end;
    const auto at = std::lower_bound(placed.begin(), placed.end(), block.offset,
                                     [&](size_t p, int64_t offset) { return blocks[p].offset < offset; });
    placed.insert(at, b);
    plan.arena_bytes = std::max(plan.arena_bytes, block.offset + block.bytes);
  }

  std::vector<int64_t> live_change(plan.steps.size() + 1, 0);
  for (size_t b : by_size) {
    PlanStep& step = plan.steps[blocks[b].step];
    if (step.arena_offsets.empty()) step.arena_offsets.assign(step.output_slots.size(), -1);
    step.arena_offsets[blocks[b].output] = blocks[b].offset;
    live_change[blocks[b].first] += blocks[b].bytes;
    live_change[blocks[b].last + 1] -= blocks[b].bytes;
  }
  int64_t live = 0;
  for (int64_t change : live_change) {
    live += change;
    plan.arena_lower_bound_bytes = std::max(plan.arena_lower_bound_bytes, live);
  }
}

}  // namespace

Plan make_plan(const PlanRequest& request) {
  Plan plan;
  absl::flat_hash_set<uint64_t> fed;
  for (const Output& output : request.feeds) fed.insert(value_key(output.node, output.index));
  const std::vector<const Node*> order =
      sources_just_in_time(in_place_updates_last(collective_readers_after_their_buckets(
                               reachable_in_topological_order(request, fed))),
                           fed);

  absl::flat_hash_map<const Node*, GemmChain> chains;
  absl::flat_hash_map<const Node*, GemmUpdate> gemm_updates;  // keyed by the update
  absl::flat_hash_set<const Node*> fused_away;  // nodes that run inside a later step
  if (request.fuse_gemm_epilogues) {
    absl::flat_hash_set<uint64_t> fetched;
    for (const Output& f : request.fetches) fetched.insert(value_key(f.node, f.index));
    chains = find_gemm_chains(order, fed, fetched);
    for (const auto& [last, chain] : chains) {
      fused_away.insert(chain.matmul);
      if (chain.relu != nullptr) fused_away.insert(chain.bias_add);
    }
    gemm_updates = find_gemm_updates(order, fed, fetched, fused_away);
    for (const auto& [update, fused] : gemm_updates) {
      fused_away.insert(fused.matmul);
      fused_away.insert(fused.forwarded.begin(), fused.forwarded.end());
    }
  }
  // Each contribution's step, keyed by its producer: the sum it adds to and its place there.
  struct ContributionStep {
    const SumAccumulation* sum = nullptr;
    size_t rank = 0;  // 0: the first in plan order, which writes the sum's buffer
  };
  absl::flat_hash_map<const Node*, SumAccumulation> sums;
  absl::flat_hash_map<const Node*, ContributionStep> contribution_steps;
  if (request.accumulate_sums) {
    absl::flat_hash_set<uint64_t> fetched;
    for (const Output& f : request.fetches) fetched.insert(value_key(f.node, f.index));
    sums = find_sum_accumulations(order, fed, fetched, fused_away);
    for (const auto& [add_n, sum] : sums) {
      fused_away.insert(add_n);
      for (size_t rank = 0; rank < sum.contributions.size(); ++rank) {
        const SumContribution& c = sum.contributions[rank];
        fused_away.insert(c.forwarded.begin(), c.forwarded.end());
        contribution_steps.emplace(c.producer, ContributionStep{&sum, rank});
      }
    }
  }

  absl::flat_hash_map<uint64_t, int> slot_of;
  auto slot_for = [&](uint64_t key) {
    auto [it, inserted] = slot_of.try_emplace(key, plan.num_slots);
    if (inserted) ++plan.num_slots;
    return it->second;
  };
  for (const Output& output : request.feeds) plan.feed_slots.push_back(slot_for(value_key(output.node, output.index)));
  absl::flat_hash_map<const Node*, size_t> step_of;  // producing step of each planned node
  size_t contributions_planned = 0;
  for (const Node* node : order) {
    const OpDef& op = node->op_def();
    if (op.execution == ExecutionKind::kFeed) {
      throw_invalid(kRun, "placeholder '", node->name(), "' must be fed a ",
                    dtype_name(node->output_dtype(0)), " tensor of shape ",
                    node->output_shape(0).to_string());
    }
    if (fused_away.contains(node)) continue;
    PlanStep step;
    step.node = node;
    step.kind = op.execution;
    if (auto chain = chains.find(node); chain != chains.end()) {
      step.fused_matmul = chain->second.matmul;
      step.fused_bias_add = chain->second.bias_add;
      step.fused_relu = chain->second.relu != nullptr;
      for (const Output& in : {step.fused_matmul->input(0), step.fused_matmul->input(1),
                               step.fused_bias_add->input(1)}) {
        step.input_slots.push_back(slot_for(value_key(in.node, in.index)));
      }
    } else if (auto update = gemm_updates.find(node); update != gemm_updates.end()) {
      step.update_matmul = update->second.matmul;
      step.update_forwarded = update->second.forwarded;
      for (const Output& in : {node->input(0), node->input(1), step.update_matmul->input(0),
                               step.update_matmul->input(1)}) {
        step.input_slots.push_back(slot_for(value_key(in.node, in.index)));
      }
    } else {
      for (const Output& in : node->inputs()) step.input_slots.push_back(slot_for(value_key(in.node, in.index)));
    }
    for (int i = 0; i < node->num_outputs(); ++i) {
      const uint64_t key = value_key(node, i);
      step.output_slots.push_back(fed.contains(key) ? -1 : slot_for(key));
    }
    std::optional<PlanStep> add_after;  // the AddN adding this contribution to its sum
    if (auto contribution = contribution_steps.find(node); contribution != contribution_steps.end()) {
      ++contributions_planned;
      const SumAccumulation& sum = *contribution->second.sum;
      const size_t rank = contribution->second.rank;
      const int sum_slot = slot_for(value_key(sum.add_n, 0));
      const bool last = rank + 1 == sum.contributions.size();
      step.sum_forwarded = sum.contributions[rank].forwarded;
      // MatMul and BiasAddGrad add into the sum themselves (GEMM beta = 1, accumulating
      // reduction); any other later contribution is added by the AddN's kernel right after.
      const bool adds_itself = rank > 0 && !step.fused() && step.update_matmul == nullptr &&
                               (op_of(node) == OpId::kMatMul || op_of(node) == OpId::kBiasAddGrad);
      if (rank == 0 || adds_itself) {
        step.sum = sum.add_n;
        step.output_slots[0] = sum_slot;
        step.completes_sum = last;
        if (adds_itself) {
          step.accumulator_input = static_cast<int>(step.input_slots.size());
          step.input_slots.push_back(sum_slot);
        }
      } else {
        PlanStep add;
        add.node = sum.add_n;
        add.kind = ExecutionKind::kKernel;
        add.input_slots = {sum_slot, step.output_slots[0]};
        add.output_slots = {sum_slot};
        add.sum = sum.add_n;
        add.accumulator_input = 0;
        add.completes_sum = last;
        add_after = std::move(add);
      }
    }
    plan.max_inputs = std::max(plan.max_inputs, step.input_slots.size());
    step_of.emplace(node, plan.steps.size());
    plan.steps.push_back(std::move(step));
    if (add_after.has_value()) plan.steps.push_back(std::move(*add_after));
  }

  if (contributions_planned != contribution_steps.size()) {
    throw_error(absl::StatusCode::kInternal, kRun, "planned ", contributions_planned, " of ",
                contribution_steps.size(), " contributions to sums summed in place");
  }
  // The last step that updates each variable in place (input 0 and slot inputs are variables).
  absl::flat_hash_map<const Node*, size_t> last_update;
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    if (plan.steps[s].kind != ExecutionKind::kInPlace) continue;
    for (const Output& in : plan.steps[s].node->inputs()) {
      if (in.node->op_def().execution == ExecutionKind::kVariable) last_update[in.node] = s;
    }
  }
  for (const Output& f : request.fetches) {
    const int slot = slot_for(value_key(f.node, f.index));
    const Node* variable = fed.contains(value_key(f.node, f.index)) ? nullptr : aliased_variable(f.node, f.index);
    auto producer = step_of.find(f.node);
    auto update = variable != nullptr ? last_update.find(variable) : last_update.end();
    if (update != last_update.end() && producer != step_of.end() && producer->second < update->second) {
      const int copy = plan.num_slots++;
      plan.steps[producer->second].snapshots.push_back({f.index, copy});
      plan.fetch_slots.push_back(copy);
    } else {
      plan.fetch_slots.push_back(slot);
    }
  }

  // Liveness: free each intermediate after its last reader (or right away if nobody reads it).
  std::vector<int> last_use(static_cast<size_t>(plan.num_slots), -1);
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    for (int slot : plan.steps[s].output_slots) {
      if (slot >= 0) last_use[static_cast<size_t>(slot)] = static_cast<int>(s);
    }
    for (int slot : plan.steps[s].input_slots) last_use[static_cast<size_t>(slot)] = static_cast<int>(s);
  }
  std::vector<bool> kept(static_cast<size_t>(plan.num_slots), false);
  for (int slot : plan.fetch_slots) kept[static_cast<size_t>(slot)] = true;
  for (int slot : plan.feed_slots) kept[static_cast<size_t>(slot)] = true;
  for (int slot = 0; slot < plan.num_slots; ++slot) {
    const int last = last_use[static_cast<size_t>(slot)];
    if (last >= 0 && !kept[static_cast<size_t>(slot)]) {
      plan.steps[static_cast<size_t>(last)].release_after.push_back(slot);
    }
  }
  if (request.plan_arena) plan_activation_arena(plan, kept);
  mark_collective_waits(plan);
  return plan;
}

}  // namespace scopeflow
