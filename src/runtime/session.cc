#include "scopeflow/session.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "ops/op_registry.h"
#include "runtime/backend.h"
#include "scopeflow/initializers.h"

namespace scopeflow {

namespace {

constexpr std::string_view kRun = "session.run";

// Key of one value in the graph: node id and output index.
uint64_t value_key(const Node* node, int index) {
  return (static_cast<uint64_t>(node->id()) << 16) | static_cast<uint64_t>(index);
}

void check_in_graph(const Graph& graph, const Output& output, std::string_view role) {
  if (output.node == nullptr) throw_invalid(kRun, role, " is a null output");
  if (output.node->graph() != &graph) {
    throw_invalid(kRun, role, " '", output.name(), "' belongs to another graph than the session's");
  }
  if (output.index < 0 || output.index >= output.node->num_outputs()) {
    throw_invalid(kRun, role, " '", output.node->name(), ":", output.index,
                  "' does not exist; the node has ", output.node->num_outputs(), " outputs");
  }
}

}  // namespace

struct Session::Plan {
  struct Step {
    const Node* node = nullptr;
    ExecutionKind kind = ExecutionKind::kKernel;
    std::vector<int> input_slots;
    std::vector<int> output_slots;  // -1: output not needed (or overridden by a feed)
    std::vector<int> release_after;  // slots whose last reader is this step
    // A fused MatMul -> BiasAdd [-> Relu] chain ending at `node`: inputs (a, b, bias).
    const Node* fused_matmul = nullptr;
    const Node* fused_bias_add = nullptr;
    bool fused_relu = false;
  };
  std::vector<Step> steps;
  int num_slots = 0;
  absl::flat_hash_map<Output, int> feed_slots;
  std::vector<int> fetch_slots;
  size_t max_inputs = 0;
};

namespace {

// MatMul -> BiasAdd [-> Relu] chains of a plan that can run as one GEMM with an epilogue (an
// AddV2 of a bias vector counts as a BiasAdd): the MatMul's (and, with a Relu, the BiasAdd's)
// value has no reader but the next node of the chain in this plan, is neither fetched nor fed,
// and no in-place update runs in between (it could change the GEMM's operands). Returns the
// chains keyed by their last node.
struct GemmChain {
  const Node* matmul = nullptr;
  const Node* bias_add = nullptr;
  const Node* relu = nullptr;
};

absl::flat_hash_map<const Node*, GemmChain> find_gemm_chains(
    const std::vector<const Node*>& order, const absl::flat_hash_set<uint64_t>& fed,
    const absl::flat_hash_set<uint64_t>& fetched) {
  absl::flat_hash_map<const Node*, size_t> position;
  for (size_t i = 0; i < order.size(); ++i) position.emplace(order[i], i);
  // True when `consumer` (at input 0) is the only reader of output 0 of `producer` in the plan.
  auto sole_reader = [&](const Node* producer, const Node* consumer) {
    const uint64_t key = value_key(producer, 0);
    if (fed.contains(key) || fetched.contains(key)) return false;
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
  absl::flat_hash_map<const Node*, GemmChain> chains;
  // BiasAdd(product, bias), or AddV2(product, bias) with a (n,) bias: the article's x @ w + b.
  auto adds_a_bias = [](const Node* node) {
    if (node->op() != "BiasAdd" && node->op() != "AddV2") return false;
    if (node->output_dtype(0) != DType::kFloat32) return false;
    if (node->op() == "BiasAdd") return true;
    const Shape& product = node->input(0).shape();
    return product.rank() == 2 && node->output_shape(0) == product &&
           node->input(1).shape() == Shape{product.dim(1)};
  };
  for (const Node* node : order) {
    if (!adds_a_bias(node)) continue;
    const Node* matmul = node->input(0).node;
    if (matmul->op() != "MatMul" || !position.contains(matmul) || !sole_reader(matmul, node)) continue;
    GemmChain chain{matmul, node, nullptr};
    // A Relu is fused when it alone reads the BiasAdd (its gradient reads the Relu's output).
    for (const auto& [reader, input_index] : node->consumers()) {
      if (reader->op() == "Relu" && input_index == 0 && position.contains(reader) &&
          sole_reader(node, reader)) {
        chain.relu = reader;
      }
    }
    chains.emplace(chain.relu != nullptr ? chain.relu : node, chain);
  }
  return chains;
}

// A trace entry for `node` that started at `wall_start`, without time, memory or outputs yet.
NodeRunStats started_entry(const Node& node, Device device,
                           std::chrono::system_clock::time_point wall_start) {
  NodeRunStats entry;
  entry.node = &node;
  entry.device = device;
  const auto since_epoch = wall_start.time_since_epoch();
  entry.start_micros = std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count();
  entry.start_nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count();
  return entry;
}

void record_node_stats(const Node& node, Device device, ExecutionKind kind, const std::vector<Tensor>& outputs,
                       std::chrono::system_clock::time_point wall_start,
                       std::chrono::steady_clock::time_point steady_start, RunStats& stats) {
  NodeRunStats entry = started_entry(node, device, wall_start);
  entry.duration_nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now() - steady_start).count();
  for (const Tensor& out : outputs) {
    entry.output_shapes.push_back(out.shape());
    entry.output_dtypes.push_back(out.dtype());
    // Only kernels allocate; forwarded, constant and variable outputs reuse existing buffers.
    if (kind == ExecutionKind::kKernel) entry.allocated_bytes += static_cast<int64_t>(out.byte_size());
  }
  stats.nodes.push_back(std::move(entry));
}

// A node that ran inside a fused step: no time or memory of its own, its output described.
void record_fused_node_stats(const Node& node, Device device,
                             std::chrono::system_clock::time_point wall_start, RunStats& stats) {
  NodeRunStats entry = started_entry(node, device, wall_start);
  entry.output_shapes.push_back(node.output_shape(0));
  entry.output_dtypes.push_back(node.output_dtype(0));
  stats.nodes.push_back(std::move(entry));
}

}  // namespace

struct Session::State {
  std::mutex mutex;
  absl::flat_hash_map<std::string, std::unique_ptr<Plan>> plans;
  absl::flat_hash_map<const Node*, Tensor> variables;  // VariableV2 node -> its one buffer
  absl::flat_hash_map<const Node*, uint64_t> invocations;
  absl::flat_hash_map<const Node*, Tensor> device_constants;  // Const values copied to the device
};

namespace {

bool tf32_from_environment() {
  const char* env = std::getenv("SCOPEFLOW_ALLOW_TF32");
  return env != nullptr && std::string_view(env) == "1";
}

}  // namespace

Session::Session(const Graph& graph, SessionOptions options)
    : graph_(graph), fuse_gemm_epilogues_(options.fuse_gemm_epilogues),
      state_(std::make_unique<State>()) {
  if (options.device.has_value()) {
    device_ = *options.device;
  } else {
    absl::StatusOr<Device> chosen = default_device();
    if (!chosen.ok()) throw Error(chosen.status().code(), std::string(chosen.status().message()));
    device_ = *chosen;
  }
  if (device_.type == DeviceType::kCuda) {
    absl::StatusOr<std::unique_ptr<Backend>> backend =
        make_cuda_backend(device_.index, options.allow_tf32 || tf32_from_environment());
    if (!backend.ok()) {
      throw_error(absl::StatusCode::kFailedPrecondition, "session", "cannot run on ",
                  device_.to_string(), ": ", backend.status().message());
    }
    backend_ = *std::move(backend);
  } else {
    if (device_.index != 0) {
      throw_invalid("session", "there is one CPU device, ", device_.to_string(), " does not exist");
    }
    backend_ = make_cpu_backend();
  }
  allocator_ = backend_->allocator();
}

Session::~Session() {
  // Queued device work may still read buffers the state owns.
  try {
    backend_->synchronize();
  } catch (...) {  // destructors never throw
  }
}

Tensor Session::to_host(const Tensor& value) const {
  if (!value.defined() || value.device().type == DeviceType::kCpu) return value;
  if (value.device() != device_) {
    throw_invalid("session.to_host", "the tensor lives on ", value.device().to_string(),
                  ", the session runs on ", device_.to_string());
  }
  std::lock_guard<std::mutex> lock(state_->mutex);
  return backend_->download(value);
}

Device Session::node_device(const Node& node) const {
  if (node.op_def().execution == ExecutionKind::kKernel) return backend_->kernel_device(node.op_def());
  return device_;
}

int Session::num_compiled_plans() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return static_cast<int>(state_->plans.size());
}

Tensor& Session::variable_slot(const VariableInfo& info) {
  auto [it, inserted] = state_->variables.try_emplace(info.node);
  if (inserted) it->second = Tensor(info.dtype, info.shape, allocator_, info.memory_kind);
  return it->second;
}

void Session::initialize_variables() {
  std::vector<Variable> pending;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    for (const auto& info : graph_.variable_store().variables()) {
      if (!state_->variables.contains(info->node)) pending.emplace_back(info.get());
    }
  }
  initialize_variables(pending);
}

void Session::initialize_variables(std::span<const Variable> variables) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  for (const Variable& v : variables) {
    const VariableInfo& info = v.info();
    if (info.node->graph() != &graph_) {
      throw_invalid("session.initialize_variables", "variable '", info.name,
                    "' belongs to another graph than the session's");
    }
  }
  for (const Variable& v : variables) {
    const VariableInfo& info = v.info();
    // Filled on the host from a counter-based generator, so every device gets the same values.
    Tensor& value = variable_slot(info);
    if (device_.type == DeviceType::kCpu) {
      fill_initial_values(info.initializer, info.dtype, info.shape, graph_.seed(),
                          static_cast<uint64_t>(info.node->id()), value.raw_data());
    } else {
      Tensor host(info.dtype, info.shape);
      fill_initial_values(info.initializer, info.dtype, info.shape, graph_.seed(),
                          static_cast<uint64_t>(info.node->id()), host.raw_data());
      backend_->upload_into(host, value);
    }
  }
}

bool Session::is_initialized(const Variable& variable) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->variables.contains(variable.node());
}

Tensor Session::variable_value(const Variable& variable) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->variables.find(variable.node());
  if (it == state_->variables.end()) {
    throw_error(absl::StatusCode::kFailedPrecondition, "session.variable_value", "variable '",
                variable.name(), "' is not initialized; call initialize_variables() first");
  }
  return it->second;
}

void Session::assign_variable(const Variable& variable, const Tensor& value) {
  const VariableInfo& info = variable.info();
  if (info.node->graph() != &graph_) {
    throw_invalid("session.assign_variable", "variable '", info.name, "' belongs to another graph");
  }
  if (!value.defined() || value.dtype() != info.dtype || value.shape() != info.shape) {
    throw_invalid("session.assign_variable", "variable '", info.name, "' is ",
                  dtype_name(info.dtype), " ", info.shape.to_string(), " but the value is ",
                  value.defined() ? value.description() : std::string("empty"));
  }
  if (value.device() != device_ && value.device().type != DeviceType::kCpu) {
    throw_invalid("session.assign_variable", "the value for '", info.name, "' lives on ",
                  value.device().to_string(), ", the session runs on ", device_.to_string());
  }
  std::lock_guard<std::mutex> lock(state_->mutex);
  Tensor& slot = variable_slot(info);
  if (value.byte_size() == 0 || slot.shares_buffer_with(value)) return;
  if (value.device() == device_ && device_.type != DeviceType::kCpu) {
    // A value already on the device goes through the host: rare (tests, restores), and it
    // keeps the backend interface to two copy directions.
    backend_->upload_into(backend_->download(value), slot);
  } else {
    backend_->upload_into(value, slot);
  }
}

const Session::Plan& Session::plan_for(const FeedList& feeds, std::span<const Output> fetches,
                                       std::span<Node* const> targets) {
  // Signature: sorted feed keys, then fetches and targets in order.
  std::vector<uint64_t> feed_keys;
  for (const auto& [output, value] : feeds) feed_keys.push_back(value_key(output.node, output.index));
  std::sort(feed_keys.begin(), feed_keys.end());
  std::string signature;
  for (uint64_t k : feed_keys) absl::StrAppend(&signature, k, ",");
  absl::StrAppend(&signature, "|");
  for (const Output& f : fetches) absl::StrAppend(&signature, value_key(f.node, f.index), ",");
  absl::StrAppend(&signature, "|");
  for (const Node* t : targets) absl::StrAppend(&signature, t->id(), ",");
  if (auto it = state_->plans.find(signature); it != state_->plans.end()) return *it->second;

  auto plan = std::make_unique<Plan>();
  absl::flat_hash_set<uint64_t> fed;
  for (const auto& [output, value] : feeds) fed.insert(value_key(output.node, output.index));
  auto fully_fed = [&](const Node* node) {
    if (node->num_outputs() == 0) return false;
    for (int i = 0; i < node->num_outputs(); ++i) {
      if (!fed.contains(value_key(node, i))) return false;
    }
    return true;
  };

  // Post-order DFS from fetches and targets (iterative: deep unrolled graphs must not overflow
  // the stack), stopping at fed nodes. Inputs always precede consumers in a Graph, so there are
  // no cycles to detect.
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
  for (const Output& f : fetches) visit(f.node);
  for (const Node* t : targets) visit(t);

  // Variables are read through forwarded buffers, so an in-place update (Apply*, Assign) must
  // run after every reader of the old value: in-place writers and everything that depends on
  // them move to the end of the plan, keeping their relative (topological) order.
  {
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
    order = std::move(early_nodes);
    order.insert(order.end(), late_nodes.begin(), late_nodes.end());
  }

  absl::flat_hash_map<const Node*, GemmChain> chains;
  absl::flat_hash_set<const Node*> fused_away;  // nodes that run inside a chain's last step
  if (fuse_gemm_epilogues_) {
    absl::flat_hash_set<uint64_t> fetched;
    for (const Output& f : fetches) fetched.insert(value_key(f.node, f.index));
    chains = find_gemm_chains(order, fed, fetched);
    for (const auto& [last, chain] : chains) {
      fused_away.insert(chain.matmul);
      if (chain.relu != nullptr) fused_away.insert(chain.bias_add);
    }
  }

  absl::flat_hash_map<uint64_t, int> slot_of;
  auto slot_for = [&](uint64_t key) {
    auto [it, inserted] = slot_of.try_emplace(key, plan->num_slots);
    if (inserted) ++plan->num_slots;
    return it->second;
  };
  for (const auto& [output, value] : feeds) {
    plan->feed_slots.emplace(output, slot_for(value_key(output.node, output.index)));
  }
  for (const Node* node : order) {
    const OpDef& op = node->op_def();
    if (op.execution == ExecutionKind::kFeed) {
      throw_invalid(kRun, "placeholder '", node->name(), "' must be fed a ",
                    dtype_name(node->output_dtype(0)), " tensor of shape ",
                    node->output_shape(0).to_string());
    }
    if (fused_away.contains(node)) continue;
    Plan::Step step;
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
    } else {
      for (const Output& in : node->inputs()) step.input_slots.push_back(slot_for(value_key(in.node, in.index)));
    }
    for (int i = 0; i < node->num_outputs(); ++i) {
      const uint64_t key = value_key(node, i);
      step.output_slots.push_back(fed.contains(key) ? -1 : slot_for(key));
    }
    plan->max_inputs = std::max(plan->max_inputs, step.input_slots.size());
    plan->steps.push_back(std::move(step));
  }
  for (const Output& f : fetches) plan->fetch_slots.push_back(slot_for(value_key(f.node, f.index)));

  // Liveness: free each intermediate after its last reader (or right away if nobody reads it).
  std::vector<int> last_use(static_cast<size_t>(plan->num_slots), -1);
  for (size_t s = 0; s < plan->steps.size(); ++s) {
    for (int slot : plan->steps[s].output_slots) {
      if (slot >= 0) last_use[static_cast<size_t>(slot)] = static_cast<int>(s);
    }
    for (int slot : plan->steps[s].input_slots) last_use[static_cast<size_t>(slot)] = static_cast<int>(s);
  }
  absl::flat_hash_set<int> kept(plan->fetch_slots.begin(), plan->fetch_slots.end());
  for (const auto& [output, slot] : plan->feed_slots) kept.insert(slot);
  for (int slot = 0; slot < plan->num_slots; ++slot) {
    const int last = last_use[static_cast<size_t>(slot)];
    if (last >= 0 && !kept.contains(slot)) plan->steps[static_cast<size_t>(last)].release_after.push_back(slot);
  }

  const Plan& result = *plan;
  state_->plans.emplace(std::move(signature), std::move(plan));
  return result;
}

std::vector<Tensor> Session::run(const FeedList& feeds, std::span<const Output> fetches,
                                 std::span<Node* const> targets) {
  return run(feeds, fetches, targets, RunOptions{}, nullptr);
}

std::vector<Tensor> Session::run(const FeedList& feeds, std::span<const Output> fetches,
                                 std::span<Node* const> targets, const RunOptions& options,
                                 RunStats* stats) {
  absl::flat_hash_set<Output> seen_feeds;
  for (const auto& [output, value] : feeds) {
    check_in_graph(graph_, output, "feed");
    if (!seen_feeds.insert(output).second) throw_invalid(kRun, "'", output.name(), "' is fed twice");
    if (output.node->op_def().execution == ExecutionKind::kVariable) {
      throw_invalid(kRun, "cannot feed variable '", output.node->name(),
                    "'; feed its read value or use assign_variable()");
    }
    if (!value.defined()) throw_invalid(kRun, "feed for '", output.name(), "' is an empty tensor");
    if (value.dtype() != output.dtype() || value.shape() != output.shape()) {
      throw_invalid(kRun, "feed for '", output.name(), "' is ", value.description(), " but '",
                    output.name(), "' is ", dtype_name(output.dtype()), " ", output.shape().to_string());
    }
    // Host feeds are copied to the session's device; tensors on another device are refused.
    if (value.device() != device_ && value.device().type != DeviceType::kCpu) {
      throw_invalid(kRun, "feed for '", output.name(), "' lives on ", value.device().to_string(),
                    ", the session runs on ", device_.to_string());
    }
  }
  for (const Output& f : fetches) check_in_graph(graph_, f, "fetch");
  for (const Node* t : targets) {
    if (t == nullptr) throw_invalid(kRun, "target is null");
    if (t->graph() != &graph_) throw_invalid(kRun, "target '", t->name(), "' belongs to another graph");
  }

  std::lock_guard<std::mutex> lock(state_->mutex);
  const Plan& plan = plan_for(feeds, fetches, targets);
  std::vector<Tensor> slots(static_cast<size_t>(plan.num_slots));
  const bool on_host = device_.type == DeviceType::kCpu;
  for (const auto& [output, value] : feeds) {
    slots[static_cast<size_t>(plan.feed_slots.at(output))] =
        value.device() == device_ ? value : backend_->upload(value, MemoryKind::kOther);
  }

  const bool trace = options.trace && stats != nullptr;
  if (trace) {
    *stats = RunStats{};
    stats->device = device_;
    stats->nodes.reserve(plan.steps.size());
    allocator_->reset_peaks();
  }
  std::vector<Tensor> inputs;
  inputs.reserve(plan.max_inputs);
  std::vector<Tensor> outputs;
  for (const Plan::Step& step : plan.steps) {
    std::string_view fused_kernel;  // set by fused steps, for traces
    const auto wall_start = trace ? std::chrono::system_clock::now() : std::chrono::system_clock::time_point{};
    const auto steady_start = trace ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    inputs.clear();
    for (int slot : step.input_slots) inputs.push_back(slots[static_cast<size_t>(slot)]);
    outputs.clear();
    switch (step.kind) {
      case ExecutionKind::kKernel: {
        const Node& node = *step.node;
        for (int i = 0; i < node.num_outputs(); ++i) {
          outputs.emplace_back(node.output_dtype(i), node.output_shape(i), allocator_,
                               node.output_memory_kind(i));
        }
        KernelContext ctx{node, inputs, outputs, state_->invocations[step.node]++};
        if (step.fused_matmul != nullptr) {
          fused_kernel = backend_->run_fused_gemm(ctx, *step.fused_matmul, step.fused_relu);
        } else {
          backend_->run_kernel(ctx);
        }
        break;
      }
      case ExecutionKind::kInPlace: {
        // The kernel writes into the variable buffers among its inputs; output 0 is input 0.
        outputs.push_back(inputs[0]);
        KernelContext ctx{*step.node, inputs, std::span<Tensor>(), state_->invocations[step.node]++};
        backend_->run_kernel(ctx);
        break;
      }
      case ExecutionKind::kForwardInput:
        outputs.push_back(inputs[0].reshaped(step.node->output_shape(0)));
        break;
      case ExecutionKind::kConstant: {
        const Tensor& value = step.node->attr<Tensor>("value");
        if (on_host) {
          outputs.push_back(value);
        } else {
          // Copied to the device once per session, then reused by every run.
          auto [it, inserted] = state_->device_constants.try_emplace(step.node);
          if (inserted) {
            try {
              it->second = backend_->upload(value, MemoryKind::kOther);
            } catch (...) {
              state_->device_constants.erase(step.node);
              throw;
            }
          }
          outputs.push_back(it->second);
        }
        break;
      }
      case ExecutionKind::kVariable: {
        auto it = state_->variables.find(step.node);
        if (it == state_->variables.end()) {
          throw_error(absl::StatusCode::kFailedPrecondition, kRun, "variable '",
                      step.node->name(), "' is not initialized; call initialize_variables() first");
        }
        outputs.push_back(it->second);
        break;
      }
      case ExecutionKind::kNoOutput:
        break;
      case ExecutionKind::kFeed:
        throw_error(absl::StatusCode::kInternal, kRun, "placeholder '", step.node->name(),
                    "' reached execution unfed");
    }
    if (trace) {
      // Device work is asynchronous: wait for it so the node's time is its own.
      if (!on_host) backend_->synchronize();
      if (step.fused_matmul != nullptr) {  // the chain's earlier nodes ran inside this step
        record_fused_node_stats(*step.fused_matmul, node_device(*step.node), wall_start, *stats);
        if (step.fused_relu) {
          record_fused_node_stats(*step.fused_bias_add, node_device(*step.node), wall_start, *stats);
        }
      }
      record_node_stats(*step.node, node_device(*step.node), step.kind, outputs, wall_start,
                        steady_start, *stats);
      stats->nodes.back().fused_kernel = std::string(fused_kernel);
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      const int slot = step.output_slots[i];
      if (slot >= 0) slots[static_cast<size_t>(slot)] = std::move(outputs[i]);
    }
    for (int slot : step.release_after) slots[static_cast<size_t>(slot)] = Tensor();
  }

  // run() returns when the step is done, as TensorFlow's does, also when nothing is fetched.
  if (!on_host) backend_->synchronize();
  if (trace) stats->peak_bytes = allocator_->stats().peak_bytes;
  std::vector<Tensor> results;
  results.reserve(plan.fetch_slots.size());
  for (int slot : plan.fetch_slots) {
    const Tensor& value = slots[static_cast<size_t>(slot)];
    if (!on_host) {  // fetched values come back to the host, as from TensorFlow's session
      results.push_back(backend_->download(value));
      continue;
    }
    // Hand out activations as they are; copy anything the session or caller keeps mutating.
    const bool owned_activation =
        value.buffer() && (value.buffer()->kind() == MemoryKind::kActivation ||
                           value.buffer()->kind() == MemoryKind::kGradient);
    results.push_back(owned_activation ? value : value.clone(allocator_, MemoryKind::kOther));
  }
  return results;
}

}  // namespace scopeflow
