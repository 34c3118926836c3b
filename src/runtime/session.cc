#include "scopeflow/session.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <mutex>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "ops/op_registry.h"
#include "runtime/backend.h"
#include "runtime/collective_runner.h"
#include "runtime/plan.h"
#include "scopeflow/dist.h"
#include "scopeflow/initializers.h"

namespace scopeflow {

namespace {

constexpr std::string_view kRun = "session.run";

void check_in_graph(const Graph& graph, const Output& output, std::string_view role) {
  if (output.node == nullptr) throw_invalid(kRun, role, " is a null output");
  output.check_graph_alive(kRun);
  if (output.node->graph() != &graph) {
    throw_invalid(kRun, role, " '", output.name(), "' belongs to another graph than the session's");
  }
  if (output.index < 0 || output.index >= output.node->num_outputs()) {
    throw_invalid(kRun, role, " '", output.node->name(), ":", output.index,
                  "' does not exist; the node has ", output.node->num_outputs(), " outputs");
  }
}

}  // namespace

// A plan bound to this session's backend: per step, the kernel, decoded attributes, output
// specs and constant values, so that the executor loop does no lookup by name or hash.
struct Session::Plan {
  struct OutputSpec {
    DType dtype;
    Shape shape;
    MemoryKind kind;
    int64_t arena_offset = -1;  // in the run's activation arena; -1: allocated on its own
    size_t bytes = 0;
  };
  struct Step {
    const PlanStep* planned = nullptr;
    size_t node_id = 0;
    DecodedAttrs attrs;
    std::unique_ptr<PreparedKernel> kernel;  // kKernel and kInPlace steps
    Device device{};                         // where its work runs, for traces
    std::vector<OutputSpec> outputs;
    Tensor constant;                         // kConstant: the value on the session's device
    int bucket = -1;                         // kCollective: its bucket in `buckets`
    int64_t bucket_offset = 0;               // and its offset there, in elements
  };
  // The buffers that collectives average, one per bucket: each value of the bucket is copied
  // in at its offset (its mean is a view there), and the last one starts the all-reduce.
  struct Bucket {
    int64_t key = 0;
    int64_t elements = 0;
    int members = 0;
    MemoryKind kind = MemoryKind::kGradient;
  };
  scopeflow::Plan plan;
  std::vector<Step> steps;
  std::vector<Bucket> buckets;
  std::vector<bool> fetch_is_snapshot;  // a private copy: handed out as it is
};

namespace {

// A communicator's failure (a rank died or stalled) ends the run as an Error of its code.
void throw_if_failed(const absl::Status& status) {
  if (!status.ok()) throw Error(status.code(), std::string(status.message()));
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
  // Indexed by node id (grown as the graph grows): a variable's one buffer (undefined until
  // initialized), executions per node, and Const values copied to the device.
  std::vector<Tensor> variables;
  std::vector<uint64_t> invocations;
  std::vector<Tensor> device_constants;
  // All-reduces of CPU runs over a communicator of more than one rank (created on first use).
  std::unique_ptr<CollectiveRunner> collectives;

  void grow_to(size_t num_nodes) {
    if (variables.size() < num_nodes) variables.resize(num_nodes);
    if (invocations.size() < num_nodes) invocations.resize(num_nodes, 0);
    if (device_constants.size() < num_nodes) device_constants.resize(num_nodes);
  }
  Tensor* variable(const Node* node) {
    const auto id = static_cast<size_t>(node->id());
    return id < variables.size() && variables[id].defined() ? &variables[id] : nullptr;
  }
};

namespace {

bool tf32_from_environment() {
  const char* env = std::getenv("SCOPEFLOW_ALLOW_TF32");
  return env != nullptr && std::string_view(env) == "1";
}

}  // namespace

namespace {

// The default limit of a device session: 90% of the device memory free when it starts (cuBLAS
// workspaces and other processes take the rest).
int64_t device_memory_share(int64_t free_bytes) { return free_bytes / 10 * 9; }

}  // namespace

Session::Session(const Graph& graph, SessionOptions options)
    : graph_(graph), graph_lifetime_(graph.lifetime()), fuse_gemm_epilogues_(options.fuse_gemm_epilogues),
      accumulate_sums_in_place_(options.accumulate_sums_in_place),
      plan_activation_arena_(options.plan_activation_arena), communicator_(options.communicator),
      state_(std::make_unique<State>()) {
  if (options.intra_op_threads < 0) {
    throw_invalid("session", "intra_op_threads is ", options.intra_op_threads,
                  "; give a positive thread count, or 0 for the libraries' defaults");
  }
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
    backend_ = make_cpu_backend(options.cpu_gemm, options.intra_op_threads);
  }
  allocator_ = backend_->allocator();
  if (options.memory_limit.has_value() && *options.memory_limit < 0) {
    throw_invalid("session", "memory_limit is ", *options.memory_limit,
                  "; give a byte count, 0 for no limit, or leave it unset for the default");
  }
  int64_t limit = 0;
  if (options.memory_limit.has_value()) {
    limit = *options.memory_limit;
  } else if (device_.type == DeviceType::kCpu) {
    limit = default_memory_limit(device_);
  } else if (const absl::StatusOr<DeviceMemoryInfo> info = allocator_->device_memory_info(); info.ok()) {
    limit = device_memory_share(info->free_bytes);  // as default_memory_limit, from this session's device
  }
  allocator_->set_byte_limit(limit);
}

namespace {

// The smaller of the cgroup v2 memory.max (containers) and the physical memory; 0 if unknown.
int64_t host_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  int64_t bytes = pages > 0 && page_size > 0 ? static_cast<int64_t>(pages) * page_size : 0;
  if (std::FILE* f = std::fopen("/sys/fs/cgroup/memory.max", "r")) {
    long long cap = 0;
    if (std::fscanf(f, "%lld", &cap) == 1 && cap > 0 && (bytes == 0 || cap < bytes)) bytes = cap;
    std::fclose(f);
  }
  return bytes;
}

}  // namespace

int64_t default_memory_limit(Device device) {
  if (device.type == DeviceType::kCpu) return host_memory_bytes() / 5 * 4;
  try {
    const auto backend = make_cuda_backend(device.index, false);
    if (!backend.ok()) return 0;
    const absl::StatusOr<DeviceMemoryInfo> info = (*backend)->allocator()->device_memory_info();
    return info.ok() ? device_memory_share(info->free_bytes) : 0;
  } catch (const Error&) {
    return 0;
  }
}

void Session::check_graph_alive(std::string_view where) const {
  if (!graph_lifetime_->alive.load(std::memory_order_acquire)) {
    throw_error(absl::StatusCode::kFailedPrecondition, where,
                "the session's graph was destroyed; a session must not outlive its graph");
  }
}

Session::~Session() {
  // Queued device work may still read buffers the state owns.
  try {
    backend_->synchronize();
  } catch (...) {  // destructors never throw
  }
}

Tensor Session::to_host(const Tensor& value) const {
  check_graph_alive("session.to_host");
  if (!value.defined() || value.device().type == DeviceType::kCpu) return value;
  if (value.device() != device_) {
    throw_invalid("session.to_host", "the tensor lives on ", value.device().to_string(),
                  ", the session runs on ", device_.to_string());
  }
  std::lock_guard<std::mutex> lock(state_->mutex);
  return backend_->download(value);
}

Device Session::node_device(const Node& node) const {
  if (node.op_def().execution == ExecutionKind::kKernel) return backend_->kernel_device(node.op_def().id);
  return device_;
}

int Session::num_compiled_plans() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return static_cast<int>(state_->plans.size());
}

Session::ArenaSize Session::largest_activation_arena() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  ArenaSize largest;
  for (const auto& [signature, plan] : state_->plans) {
    if (plan->plan.arena_bytes > largest.bytes) {
      largest = {plan->plan.arena_bytes, plan->plan.arena_lower_bound_bytes};
    }
  }
  return largest;
}

Tensor& Session::variable_slot(const VariableInfo& info) {
  state_->grow_to(static_cast<size_t>(graph_.num_nodes()));
  return state_->variables[static_cast<size_t>(info.node->id())];
}

void Session::initialize_variables() {
  check_graph_alive("session.initialize_variables");
  std::vector<Variable> pending;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    for (const auto& info : graph_.variable_store().variables()) {
      if (state_->variable(info->node) == nullptr) pending.emplace_back(info.get());
    }
  }
  initialize_variables(pending);
}

void Session::initialize_variables(std::span<const Variable> variables) {
  check_graph_alive("session.initialize_variables");
  std::lock_guard<std::mutex> lock(state_->mutex);
  try {
    initialize_locked(variables);
  } catch (const std::bad_alloc&) {
    throw_error(absl::StatusCode::kResourceExhausted, "session.initialize_variables",
                "out of host memory (std::bad_alloc)");
  }
}

void Session::initialize_locked(std::span<const Variable> variables) {
  for (const Variable& v : variables) check_own_variable("session.initialize_variables", v);
  for (const Variable& v : variables) {
    const VariableInfo& info = v.info();
    // Filled on the host from a counter-based generator, so every device gets the same values.
    // A new buffer joins the session only once allocated and filled: a failure on the way
    // (allocation, initializer, upload) leaves the variable uninitialized, never half-made.
    Tensor& slot = variable_slot(info);
    const bool fresh = !slot.defined();
    Tensor value = fresh ? Tensor(info.dtype, info.shape, allocator_, info.memory_kind) : slot;
    if (device_.type == DeviceType::kCpu && fresh) {
      fill_initial_values(info.initializer, info.dtype, info.shape, graph_.seed(),
                          static_cast<uint64_t>(info.node->id()), value.raw_data());
    } else {
      // Re-initialization in place: readers share the buffer, so it is overwritten only once
      // the new values are complete.
      Tensor host(info.dtype, info.shape);
      fill_initial_values(info.initializer, info.dtype, info.shape, graph_.seed(),
                          static_cast<uint64_t>(info.node->id()), host.raw_data());
      backend_->upload_into(host, value);
    }
    if (fresh) slot = std::move(value);
  }
}

bool Session::is_initialized(const Variable& variable) const {
  check_own_variable("session.is_initialized", variable);
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->variable(variable.node()) != nullptr;
}

void Session::check_own_variable(std::string_view where, const Variable& variable) const {
  check_graph_alive(where);
  const VariableInfo& info = variable.info();
  if (info.node->graph() != &graph_) {
    throw_invalid(where, "variable '", info.name, "' belongs to another graph than the session's");
  }
}

uint64_t Session::node_executions(const Node& node) const {
  check_graph_alive("session.node_executions");
  if (node.graph() != &graph_) throw_invalid("session.node_executions", "node '", node.name(), "' belongs to another graph");
  std::lock_guard<std::mutex> lock(state_->mutex);
  const auto id = static_cast<size_t>(node.id());
  return id < state_->invocations.size() ? state_->invocations[id] : 0;
}

void Session::set_node_executions(const Node& node, uint64_t executions) {
  check_graph_alive("session.set_node_executions");
  if (node.graph() != &graph_) throw_invalid("session.set_node_executions", "node '", node.name(), "' belongs to another graph");
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->grow_to(static_cast<size_t>(graph_.num_nodes()));
  state_->invocations[static_cast<size_t>(node.id())] = executions;
}

Tensor Session::variable_value(const Variable& variable) const {
  check_own_variable("session.variable_value", variable);
  std::lock_guard<std::mutex> lock(state_->mutex);
  const Tensor* value = state_->variable(variable.node());
  if (value == nullptr) {
    throw_error(absl::StatusCode::kFailedPrecondition, "session.variable_value", "variable '",
                variable.name(), "' is not initialized; call initialize_variables() first");
  }
  return *value;
}

void Session::assign_variable(const Variable& variable, const Tensor& value) {
  check_own_variable("session.assign_variable", variable);
  const VariableInfo& info = variable.info();
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
  if (slot.shares_buffer_with(value)) return;
  // As in initialize_variables: a new buffer joins the session only once it holds the value.
  const bool fresh = !slot.defined();
  Tensor target = fresh ? Tensor(info.dtype, info.shape, allocator_, info.memory_kind) : slot;
  if (value.byte_size() > 0) {
    if (value.device() == device_ && device_.type != DeviceType::kCpu) {
      // A value already on the device goes through the host: rare (tests, restores), and it
      // keeps the backend interface to two copy directions.
      backend_->upload_into(backend_->download(value), target);
    } else {
      backend_->upload_into(value, target);
    }
  }
  if (fresh) slot = std::move(target);
}

void Session::set_communicator(dist::Communicator* communicator) {
  check_graph_alive("session.set_communicator");
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->plans.clear();
  state_->collectives.reset();
  communicator_ = communicator;
}

void Session::bind_collective(Plan& plan, size_t step_index) const {
  Plan::Step& step = plan.steps[step_index];
  const CollectiveAttrs& attrs = std::get<CollectiveAttrs>(step.attrs);
  const Node& node = *step.planned->node;
  const int ranks = communicator_ != nullptr ? communicator_->world_size() : 1;
  if (attrs.group_size != ranks) {
    throw_error(absl::StatusCode::kFailedPrecondition, kRun, "'", node.name(), "' averages over group_size ",
                attrs.group_size, " ranks, but the session's communicator has ", ranks,
                communicator_ != nullptr ? "" : " (there is none: a world of one)",
                "; build the graph for the communicator the session runs with");
  }
  auto bucket = std::find_if(plan.buckets.begin(), plan.buckets.end(),
                             [&](const Plan::Bucket& b) { return b.key == attrs.bucket_key; });
  if (bucket == plan.buckets.end()) {
    plan.buckets.push_back({.key = attrs.bucket_key, .elements = attrs.bucket_elements, .members = 0,
                            .kind = node.output_memory_kind(0)});
    bucket = plan.buckets.end() - 1;
  }
  if (bucket->elements != attrs.bucket_elements) {
    throw_invalid(kRun, "'", node.name(), "' says its bucket ", attrs.bucket_key, " holds ", attrs.bucket_elements,
                  " elements; another value of it says ", bucket->elements);
  }
  ++bucket->members;
  step.bucket = static_cast<int>(bucket - plan.buckets.begin());
  step.bucket_offset = attrs.bucket_offset;
}

void Session::check_buckets(const Plan& plan) {
  for (size_t b = 0; b < plan.buckets.size(); ++b) {
    const Plan::Bucket& bucket = plan.buckets[b];
    std::vector<std::pair<int64_t, int64_t>> ranges;  // (offset, elements) of its values
    int64_t expected_members = 0;
    for (const Plan::Step& step : plan.steps) {
      if (step.bucket != static_cast<int>(b)) continue;
      ranges.emplace_back(step.bucket_offset, step.planned->node->input(0).shape().num_elements());
      expected_members = std::get<CollectiveAttrs>(step.attrs).bucket_members;
    }
    std::sort(ranges.begin(), ranges.end());
    int64_t covered = 0;
    for (const auto& [offset, elements] : ranges) {
      if (offset != covered) {
        throw_invalid(kRun, "the values of all-reduce bucket ", bucket.key, " overlap or leave a gap at element ",
                      covered);
      }
      covered += elements;
    }
    // Every rank all-reduces the whole bucket: a run with part of it would wait forever.
    if (static_cast<int64_t>(ranges.size()) != expected_members || covered != bucket.elements) {
      throw_invalid(kRun, "this run computes ", ranges.size(), " of the ", expected_members,
                    " values of all-reduce bucket ", bucket.key, " (", covered, " of ", bucket.elements,
                    " elements); a run must compute every value of a bucket it all-reduces");
    }
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

  // Feeds in key order, so that plans of one signature agree on their feed slots.
  std::vector<Output> fed;
  for (const auto& [output, value] : feeds) fed.push_back(output);
  std::sort(fed.begin(), fed.end(), [](const Output& x, const Output& y) {
    return value_key(x.node, x.index) < value_key(y.node, y.index);
  });
  auto plan = std::make_unique<Plan>();
  plan->plan = make_plan({.feeds = fed, .fetches = fetches, .targets = targets,
                          .fuse_gemm_epilogues = fuse_gemm_epilogues_,
                          .accumulate_sums = accumulate_sums_in_place_,
                          .plan_arena = plan_activation_arena_});
  plan->fetch_is_snapshot.assign(plan->plan.fetch_slots.size(), false);
  for (const PlanStep& planned : plan->plan.steps) {
    for (const Snapshot& snapshot : planned.snapshots) {
      for (size_t f = 0; f < plan->plan.fetch_slots.size(); ++f) {
        if (plan->plan.fetch_slots[f] == snapshot.slot) plan->fetch_is_snapshot[f] = true;
      }
    }
  }
  state_->grow_to(static_cast<size_t>(graph_.num_nodes()));
  const bool on_host = device_.type == DeviceType::kCpu;
  plan->steps.reserve(plan->plan.steps.size());
  for (const PlanStep& planned : plan->plan.steps) {
    const Node& node = *planned.node;
    Plan::Step& step = plan->steps.emplace_back();
    step.planned = &planned;
    step.node_id = static_cast<size_t>(node.id());
    step.device = device_;
    for (int i = 0; i < node.num_outputs(); ++i) {
      step.outputs.push_back({node.output_dtype(i), node.output_shape(i), node.output_memory_kind(i)});
    }
    // The first contribution to a sum summed in place allocates the sum's buffer, as its kind.
    if (planned.sum != nullptr && planned.accumulator_input < 0) {
      step.outputs[0].kind = planned.sum->output_memory_kind(0);
    }
    for (size_t i = 0; i < planned.arena_offsets.size(); ++i) {
      Plan::OutputSpec& out = step.outputs[i];
      out.arena_offset = planned.arena_offsets[i];
      out.bytes = static_cast<size_t>(out.shape.num_elements()) * dtype_size(out.dtype);
    }
    const OpDef& kernel_op = planned.kernel_node().op_def();
    if (kernel_op.decode_attrs != nullptr) step.attrs = kernel_op.decode_attrs(planned.kernel_node());
    switch (planned.kind) {
      case ExecutionKind::kKernel:
      case ExecutionKind::kInPlace:
        step.kernel = backend_->prepare(planned, step.attrs);
        step.device = step.kernel->device;
        break;
      case ExecutionKind::kConstant: {
        const Tensor& value = node.attr<Tensor>("value");
        Tensor& on_device = state_->device_constants[step.node_id];
        // Copied to the device once per session, then shared by every plan and run.
        if (!on_host && !on_device.defined()) on_device = backend_->upload(value, MemoryKind::kOther);
        step.constant = on_host ? value : on_device;
        break;
      }
      case ExecutionKind::kCollective:
        bind_collective(*plan, plan->steps.size() - 1);
        break;
      default:
        break;
    }
  }
  check_buckets(*plan);
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
  check_graph_alive(kRun);
  try {
    return run_locked(feeds, fetches, targets, options, stats);
  } catch (const std::bad_alloc&) {
    throw_error(absl::StatusCode::kResourceExhausted, kRun, "out of host memory (std::bad_alloc)");
  }
}

std::vector<Tensor> Session::run_locked(const FeedList& feeds, std::span<const Output> fetches,
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
    // Not dereferenced before the graph says it is its own: it may point into a destroyed graph.
    if (!graph_.owns(t)) throw_invalid(kRun, "a target node belongs to another graph than the session's");
  }

  std::lock_guard<std::mutex> lock(state_->mutex);
  const Plan& plan = plan_for(feeds, fetches, targets);
  const scopeflow::Plan& planned = plan.plan;
  std::vector<Tensor> slots(static_cast<size_t>(planned.num_slots));
  const bool on_host = device_.type == DeviceType::kCpu;
  // Feeds sorted by key, as the plan's feed slots are.
  {
    std::vector<const std::pair<Output, Tensor>*> sorted;
    for (const auto& feed : feeds) sorted.push_back(&feed);
    std::sort(sorted.begin(), sorted.end(), [](const auto* x, const auto* y) {
      return value_key(x->first.node, x->first.index) < value_key(y->first.node, y->first.index);
    });
    for (size_t i = 0; i < sorted.size(); ++i) {
      const Tensor& value = sorted[i]->second;
      slots[static_cast<size_t>(planned.feed_slots[i])] =
          value.device() == device_ ? value : backend_->upload(value, MemoryKind::kOther);
    }
  }

  const bool trace = options.trace && stats != nullptr;
  if (trace) {
    *stats = RunStats{};
    stats->device = device_;
    stats->nodes.reserve(planned.steps.size());
    allocator_->reset_peaks();
  }
  // The run's activations, placed by the planner: one allocation instead of one per tensor.
  std::shared_ptr<Buffer> arena;
  if (planned.arena_bytes > 0) {
    arena = std::make_shared<Buffer>(allocator_, static_cast<size_t>(planned.arena_bytes), MemoryKind::kActivation);
  }
  if (stats != nullptr) {
    stats->arena_bytes = planned.arena_bytes;
    stats->arena_lower_bound_bytes = planned.arena_lower_bound_bytes;
  }
  backend_->begin_run();
  struct EndRun {
    Backend& backend;
    ~EndRun() { backend.end_run(); }
  } end_run{*backend_};
  // All-reduces: over a communicator of several ranks, in the background on the CPU.
  const bool collective_ranks = communicator_ != nullptr && communicator_->world_size() > 1;
  CollectiveRunner* runner = nullptr;
  if (collective_ranks && on_host && !plan.buckets.empty()) {
    if (state_->collectives == nullptr) state_->collectives = std::make_unique<CollectiveRunner>(*communicator_);
    runner = state_->collectives.get();
  }
  // On a device whose memory the communicator takes (NCCL on the session's GPU), a bucket is
  // all-reduced where it is, on the communicator's queue beside the device's kernels; the
  // device's queue joins it before the first reader of a mean. It runs also in a world of one
  // rank, so one GPU tests the path of many.
  dist::Communicator* on_queue = nullptr;
  if (communicator_ != nullptr && !plan.buckets.empty() && !on_host && backend_->work_queue() != nullptr &&
      communicator_->device() == backend_->device().index) {
    on_queue = communicator_;
  }
  std::vector<std::shared_ptr<Buffer>> bucket_buffers(plan.buckets.size());
  std::vector<int> bucket_values(plan.buckets.size(), 0);
  // Collectives in flight finish before the run returns, also when a step throws (the next
  // user of the communicator must find it idle).
  struct WaitForCollectives {
    CollectiveRunner* runner;
    dist::Communicator* on_queue;
    ~WaitForCollectives() {
      if (runner != nullptr) runner->wait_all().IgnoreError();
      if (on_queue != nullptr) on_queue->wait_enqueued().IgnoreError();
    }
  } wait_for_collectives{runner, on_queue};
  auto check_collectives = [&] {
    if (on_queue != nullptr) throw_if_failed(on_queue->join_stream(backend_->work_queue()));  // a device-side wait
    if (runner != nullptr) throw_if_failed(runner->wait_all());
  };
  // Polled against the communicator's timeout: a device synchronize would wait forever on an
  // all-reduce a dead rank never joins.
  auto check_queued_collectives = [&] {
    if (on_queue != nullptr) throw_if_failed(on_queue->wait_enqueued());
  };
  std::string collective_description;
  std::vector<Tensor> inputs;
  inputs.reserve(planned.max_inputs);
  std::vector<Tensor> outputs;
  for (const Plan::Step& step : plan.steps) {
    const PlanStep& s = *step.planned;
    std::string_view kernel_description;  // set by GEMM and fused steps, for traces
    const auto wall_start = trace ? std::chrono::system_clock::now() : std::chrono::system_clock::time_point{};
    const auto steady_start = trace ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    if (s.waits_for_collectives) check_collectives();
    inputs.clear();
    for (int slot : s.input_slots) inputs.push_back(slots[static_cast<size_t>(slot)]);
    outputs.clear();
    switch (s.kind) {
      case ExecutionKind::kKernel: {
        if (s.accumulator_input >= 0) {  // adds into a sum's buffer: its output is that input
          outputs.push_back(inputs[static_cast<size_t>(s.accumulator_input)]);
        } else {
          for (const Plan::OutputSpec& out : step.outputs) {
            if (out.arena_offset >= 0) {
              outputs.emplace_back(out.dtype, out.shape,
                                   std::make_shared<Buffer>(arena, static_cast<size_t>(out.arena_offset), out.bytes));
            } else {
              outputs.emplace_back(out.dtype, out.shape, allocator_, out.kind);
            }
          }
        }
        KernelContext ctx{*s.node, inputs, outputs, state_->invocations[step.node_id]++, &step.attrs};
        kernel_description = backend_->run(*step.kernel, ctx);
        break;
      }
      case ExecutionKind::kInPlace: {
        // The kernel writes into the variable buffers among its inputs; output 0 is input 0.
        outputs.push_back(inputs[0]);
        KernelContext ctx{*s.node, inputs, std::span<Tensor>(), state_->invocations[step.node_id]++, &step.attrs};
        kernel_description = backend_->run(*step.kernel, ctx);
        break;
      }
      case ExecutionKind::kForwardInput:
        outputs.push_back(inputs[0].reshaped(step.outputs[0].shape));
        break;
      case ExecutionKind::kConstant:
        outputs.push_back(step.constant);
        break;
      case ExecutionKind::kVariable: {
        const Tensor& value = state_->variables[step.node_id];
        if (!value.defined()) {
          throw_error(absl::StatusCode::kFailedPrecondition, kRun, "variable '",
                      s.node->name(), "' is not initialized; call initialize_variables() first");
        }
        outputs.push_back(value);
        break;
      }
      case ExecutionKind::kCollective: {
        // The value goes into its bucket's buffer; its mean is a view there, complete once the
        // bucket's all-reduce is.
        const Plan::Bucket& bucket = plan.buckets[static_cast<size_t>(step.bucket)];
        std::shared_ptr<Buffer>& buffer = bucket_buffers[static_cast<size_t>(step.bucket)];
        const size_t bucket_bytes = static_cast<size_t>(bucket.elements) * sizeof(float);
        if (buffer == nullptr) buffer = std::make_shared<Buffer>(allocator_, bucket_bytes, bucket.kind);
        const Plan::OutputSpec& out = step.outputs[0];
        const size_t bytes = static_cast<size_t>(out.shape.num_elements()) * sizeof(float);
        Tensor mean(out.dtype, out.shape,
                    std::make_shared<Buffer>(buffer, static_cast<size_t>(step.bucket_offset) * sizeof(float), bytes));
        backend_->copy_into(inputs[0], mean);
        outputs.push_back(std::move(mean));
        const bool starts = ++bucket_values[static_cast<size_t>(step.bucket)] == bucket.members;
        if (starts && (collective_ranks || on_queue != nullptr) && bucket.elements > 0) {
          if (runner != nullptr) {
            runner->start(std::span<float>(static_cast<float*>(buffer->data()), static_cast<size_t>(bucket.elements)),
                          buffer);
          } else if (on_queue != nullptr) {
            throw_if_failed(on_queue->allreduce_average_on_stream(
                static_cast<float*>(buffer->data()), static_cast<size_t>(bucket.elements), backend_->work_queue()));
          } else {  // another device's bucket goes through the host, in the run's thread
            const Tensor whole(DType::kFloat32, Shape{bucket.elements}, buffer);
            Tensor host = backend_->download(whole);
            throw_if_failed(communicator_->allreduce_average(
                std::span<float>(host.data<float>(), static_cast<size_t>(bucket.elements))));
            backend_->upload_into(host, whole);
          }
        }
        if (trace) {
          collective_description =
              starts ? absl::StrCat("all-reduce (mean) of bucket ", bucket.key, ": ", bucket.members, " values, ",
                                    bucket_bytes, " bytes, over ",
                                    communicator_ != nullptr ? communicator_->world_size() : 1, " ranks (",
                                    communicator_ != nullptr ? std::string(communicator_->backend()) : "local", ")",
                                    runner != nullptr     ? ", on the communication thread"
                                    : on_queue != nullptr ? ", on the communicator's stream"
                                    : collective_ranks    ? ", through the host"
                                                          : "")
                     : absl::StrCat("copied into all-reduce bucket ", bucket.key);
        }
        break;
      }
      case ExecutionKind::kNoOutput:
        break;
      case ExecutionKind::kFeed:
        throw_error(absl::StatusCode::kInternal, kRun, "placeholder '", s.node->name(),
                    "' reached execution unfed");
    }
    for (const Snapshot& snapshot : s.snapshots) {
      slots[static_cast<size_t>(snapshot.slot)] =
          backend_->copy(outputs[static_cast<size_t>(snapshot.output_index)], MemoryKind::kOther);
    }
    if (trace) {
      // Device work is asynchronous: wait for it so the node's time is its own.
      if (s.kind == ExecutionKind::kCollective) check_queued_collectives();
      if (!on_host) backend_->synchronize();
      if (s.fused()) {  // the chain's earlier nodes ran inside this step
        record_fused_node_stats(*s.fused_matmul, step.device, wall_start, *stats);
        if (s.fused_relu) record_fused_node_stats(*s.fused_bias_add, step.device, wall_start, *stats);
      }
      if (s.update_matmul != nullptr) {  // the delta's product and its forwarding ran inside this step
        record_fused_node_stats(*s.update_matmul, step.device, wall_start, *stats);
        for (const Node* forwarded : s.update_forwarded) record_fused_node_stats(*forwarded, step.device, wall_start, *stats);
      }
      if (s.sum != nullptr) {  // a contribution summed in place: its gates ran inside this step
        for (const Node* forwarded : s.sum_forwarded) record_fused_node_stats(*forwarded, step.device, wall_start, *stats);
      }
      record_node_stats(*s.node, step.device, s.kind, outputs, wall_start, steady_start, *stats);
      if (s.fused() || s.update_matmul != nullptr || !kernel_description.empty()) {
        stats->nodes.back().fused_kernel = std::string(kernel_description);
      }
      if (s.kind == ExecutionKind::kCollective) stats->nodes.back().fused_kernel = collective_description;
      if (s.sum != nullptr) {
        NodeRunStats& entry = stats->nodes.back();
        if (s.accumulator_input >= 0) entry.allocated_bytes = 0;
        entry.fused_kernel = absl::StrCat(kernel_description.empty() ? std::string("kernel") : std::string(kernel_description),
                                          s.accumulator_input >= 0 ? ", adding into the sum '" : ", writing the sum '",
                                          s.sum->name(), "' in place");
        if (s.completes_sum && s.node != s.sum) record_fused_node_stats(*s.sum, step.device, wall_start, *stats);
      }
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      const int slot = s.output_slots[i];
      if (slot >= 0) slots[static_cast<size_t>(slot)] = std::move(outputs[i]);
    }
    for (int slot : s.release_after) slots[static_cast<size_t>(slot)] = Tensor();
  }

  // run() returns when the step is done, as TensorFlow's does, also when nothing is fetched.
  check_collectives();
  check_queued_collectives();
  if (!on_host) backend_->synchronize();
  if (trace) stats->peak_bytes = allocator_->stats().peak_bytes;
  std::vector<Tensor> results;
  results.reserve(planned.fetch_slots.size());
  for (size_t f = 0; f < planned.fetch_slots.size(); ++f) {
    const Tensor& value = slots[static_cast<size_t>(planned.fetch_slots[f])];
    if (!on_host) {  // fetched values come back to the host, as from TensorFlow's session
      results.push_back(backend_->download(value));
      continue;
    }
    // Hand out activations and snapshots as they are; copy anything the session or caller
    // keeps mutating (variables, constants, feeds).
    const bool owned_activation =
        value.buffer() && (value.buffer()->kind() == MemoryKind::kActivation ||
                           value.buffer()->kind() == MemoryKind::kGradient);
    results.push_back(owned_activation || plan.fetch_is_snapshot[f] ? value
                                                                     : value.clone(allocator_, MemoryKind::kOther));
  }
  return results;
}

}  // namespace scopeflow
