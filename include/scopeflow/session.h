#pragma once
// Session: runs a graph on one device. Variables get exactly one buffer each; plans are
// compiled once per (feeds, fetches, targets) signature and reused.

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "scopeflow/allocator.h"
#include "scopeflow/graph.h"
#include "scopeflow/scope.h"
#include "scopeflow/tensor.h"

namespace scopeflow {

namespace dist {
class Communicator;
}  // namespace dist

/// Values fed to a run, keyed by the output they replace (usually a placeholder).
using FeedList = std::vector<std::pair<Output, Tensor>>;

/// Per-run options.
struct RunOptions {
  /// Record per-node start/end times and bytes allocated into the RunStats argument of run().
  bool trace = false;
};

/// What tracing recorded for one executed node.
struct NodeRunStats {
  const Node* node = nullptr;
  Device device{};                // where the node ran (the CPU for ops that fall back to it)
  int64_t start_micros = 0;       // wall clock, microseconds since the Unix epoch
  int64_t start_nanos = 0;        // the same start, in nanoseconds
  int64_t duration_nanos = 0;
  int64_t allocated_bytes = 0;    // bytes this node allocated for its outputs
  std::vector<Shape> output_shapes{};
  std::vector<DType> output_dtypes{};
  /// For the last node of a fused MatMul -> BiasAdd [-> Relu] chain, for an update that ran
  /// its delta's MatMul inside it, for a step summing into a gradient in place, and for a step
  /// that ran on a library primitive ("oneDNN eltwise tanh", "oneDNN softmax"): which kernels
  /// ran it. Empty for the plain kernels.
  std::string fused_kernel{};
};

/// Statistics of one traced run.
struct RunStats {
  Device device{};
  std::vector<NodeRunStats> nodes{};
  int64_t peak_bytes = 0;  // allocator peak during the run
  /// The run's activation arena (SessionOptions::plan_activation_arena; 0 when off) and the
  /// most bytes of its blocks alive at once, below which no placement can go.
  int64_t arena_bytes = 0;
  int64_t arena_lower_bound_bytes = 0;
};

/// Which library runs MatMul on the CPU: oneDNN when the library was built with it (the
/// default, SCOPEFLOW_CPU_GEMM=onednn), else OpenBLAS. Asking for oneDNN in a build without it
/// is an error.
enum class CpuGemm { kDefault, kOneDnn, kOpenBlas };

/// True when this build has the oneDNN CPU GEMM (SCOPEFLOW_CPU_GEMM=onednn).
bool cpu_gemm_onednn_built();

struct SessionOptions {
  /// Device to run on; unset = default_device() (SCOPEFLOW_DEVICE, else CUDA if usable, else CPU).
  /// Naming CUDA where no device answers is an error, never a silent fallback.
  std::optional<Device> device{};
  /// Let cuBLAS use TF32 tensor cores for float32 GEMMs on CUDA (faster; products keep a
  /// 10-bit mantissa). Off by default; SCOPEFLOW_ALLOW_TF32=1 also turns it on.
  bool allow_tf32 = false;
  /// Run MatMul -> BiasAdd [-> Relu] chains (AddV2 of a (n,) bias counts as BiasAdd) whose
  /// intermediate values nothing else reads (not fetched, not fed, no other reader) as one GEMM
  /// with the bias and ReLU applied in its epilogue: cuBLASLt epilogues on CUDA, a
  /// bias-initialised sgemm on the CPU. Saves a pass over the activations and their buffers;
  /// traced runs report the chain's earlier nodes with zero duration and name the kernels
  /// that ran the chain (NodeRunStats::fused_kernel). Likewise an ApplyGradientDescent whose
  /// delta is a MatMul's product that nothing else reads (the weight gradient of a layer used
  /// once) runs as one GEMM accumulating -learning_rate * product into the variable (oneDNN
  /// output scale and sum post-op, or BLAS alpha and beta = 1), where the update runs.
  bool fuse_gemm_epilogues = true;
  /// Sum the contributions of an AddN that nothing else reads (the per-use gradients of a
  /// shared variable, which the graph and its GraphDef sum with AddN, as TensorFlow does) in
  /// place, into the AddN's one buffer, as each is produced: the first contribution in plan
  /// order writes it, each later one adds to it (a weight-gradient MatMul as a GEMM with
  /// beta = 1, a BiasAddGrad as an accumulating reduction, anything else added right after it
  /// is produced and freed at once). A variable used N times then costs one gradient buffer
  /// in backward instead of N. The order is the plan's, so results repeat bit for bit run to
  /// run; they equal the AddN's within float rounding. Traced runs name the accumulating
  /// kernels (NodeRunStats::fused_kernel).
  bool accumulate_sums_in_place = true;
  /// Place each run's activations (values kernels write that are not fetched, counted as
  /// MemoryKind::kActivation) in one buffer, at offsets the plan assigns from their lifetimes
  /// (greedy by size with best fit), instead of one allocation per tensor: one allocation per
  /// run, close to the fewest bytes those lifetimes allow (RunStats::arena_bytes and
  /// arena_lower_bound_bytes). Off: each activation is its own allocation, freed after its
  /// last reader.
  bool plan_activation_arena = true;
  /// CPU sessions: the GEMM library (see CpuGemm).
  CpuGemm cpu_gemm = CpuGemm::kDefault;
  /// CPU sessions: threads of the GEMM during each run (oneDNN's OpenMP team on the calling
  /// thread, restored after the run; OpenBLAS's global count). 0: the libraries' defaults
  /// (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, else every core).
  int intra_op_threads = 0;
  /// Cap on the bytes this session's allocator holds (variables, activations, results);
  /// an allocation past it is Error(kResourceExhausted) naming the request, the limit, the
  /// bytes in use and cached, before the operating system runs out. A caching (CUDA) allocator
  /// counts its cached blocks too: it returns them to the device before it would hold more than
  /// the limit, and when the device is full. Unset: default_memory_limit(device). 0: none.
  std::optional<int64_t> memory_limit{};
  /// The ranks whose mean the graph's all-reduces (ops::all_reduce_mean, CollectiveReduceV2)
  /// take; not owned, it must outlive the session. On the CPU they run on a background thread
  /// while the run goes on, and a step that reads a mean waits for it; no other thread may use
  /// the communicator during a run. Null: a world of one (graphs built for group_size 1 only).
  dist::Communicator* communicator = nullptr;
};

/// The memory limit sessions on `device` get by default: on the CPU 80% of the physical memory
/// (or of the cgroup's memory.max when lower), a fixed figure, unlike MemAvailable, that leaves
/// the rest to the process's other allocations and the system; on CUDA 90% of the device memory
/// free when asked (cuBLAS workspaces and other processes take the rest). 0 when unknown.
int64_t default_memory_limit(Device device);

class Backend;

/// Thread safety: run(), initialize_variables(), assign_variable() and the other members may be
/// called from several threads; they are serialised (one runs at a time). variable_value()
/// returns the live buffer of the variable (no copy): reading it while another thread runs a
/// step that updates the variable is a data race; clone() it under your own ordering, or read
/// between runs. Lifetime: the session must not outlive its graph; a session whose graph was
/// destroyed throws kFailedPrecondition from every member instead of touching freed memory.
/// Out of memory (the session's memory limit, the device, or std::bad_alloc) is
/// Error(kResourceExhausted) and leaves the session usable.
class Session {
 public:
  /// Throws Error when the requested device cannot run graphs.
  explicit Session(const Graph& graph, SessionOptions options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// tf.global_variables_initializer: gives every not-yet-initialized variable of the graph its
  /// one buffer and fills it from its initializer.
  void initialize_variables();
  /// Initializes (or re-initializes, in place) the given variables.
  void initialize_variables(std::span<const Variable> variables);

  /// Runs the graph: computes `fetches` and runs `targets`, feeding `feeds`.
  /// Throws Error for bad feeds, missing feeds, foreign nodes or uninitialized variables;
  /// the session stays usable afterwards.
  std::vector<Tensor> run(const FeedList& feeds, std::span<const Output> fetches,
                          std::span<Node* const> targets = {});
  /// The same, with options; when options.trace is set, `stats` (if not null) receives the
  /// per-node timings and allocations of this run.
  std::vector<Tensor> run(const FeedList& feeds, std::span<const Output> fetches,
                          std::span<Node* const> targets, const RunOptions& options,
                          RunStats* stats);
  std::vector<Tensor> run(const FeedList& feeds, std::initializer_list<Output> fetches,
                          std::initializer_list<Node*> targets = {}) {
    return run(feeds, std::span<const Output>(fetches.begin(), fetches.size()),
               std::span<Node* const>(targets.begin(), targets.size()));
  }
  /// Fetches one output.
  Tensor run(Output fetch, const FeedList& feeds = {}) { return run(feeds, {fetch}).at(0); }

  /// The variable's buffer on the session's device (shared, not copied); throws Error when not
  /// initialized. Use to_host() to read a CUDA session's values.
  Tensor variable_value(const Variable& variable) const;
  /// A host tensor with the values of `value` (a tensor of this session); host tensors are
  /// returned as they are.
  Tensor to_host(const Tensor& value) const;
  /// The device `node`'s work runs on in this session: the session's device, or the CPU for
  /// ops with a CPU-fallback mark in a CUDA session.
  Device node_device(const Node& node) const;
  bool is_initialized(const Variable& variable) const;
  /// Copies `value` (a host tensor, or one on the session's device) into the variable's one
  /// buffer (allocating it on first use).
  void assign_variable(const Variable& variable, const Tensor& value);

  /// How often `node` ran in this session. For a random op it is the Philox counter of its next
  /// draw, so a checkpoint saves it for an exact resume.
  uint64_t node_executions(const Node& node) const;
  /// Sets the count (restoring a checkpoint); throws Error for a node of another graph.
  void set_node_executions(const Node& node, uint64_t executions);

  /// The session's graph; throws kFailedPrecondition when it was destroyed.
  const Graph& graph() const {
    check_graph_alive("session");
    return graph_;
  }
  Device device() const { return device_; }
  /// Sets SessionOptions::communicator (null: a world of one) for later runs; plans compiled
  /// so far are dropped (their all-reduces were checked against the old one).
  void set_communicator(dist::Communicator* communicator);
  dist::Communicator* communicator() const { return communicator_; }
  /// The allocator of this session's device memory: variables, activations, fetched results.
  Allocator& allocator() const { return *allocator_; }
  /// Number of distinct plans compiled so far (one per run signature).
  int num_compiled_plans() const;
  /// The largest activation arena among the plans compiled so far (SessionOptions::
  /// plan_activation_arena) and that plan's lower bound; zeros before any or when off.
  struct ArenaSize {
    int64_t bytes = 0;
    int64_t lower_bound_bytes = 0;
  };
  ArenaSize largest_activation_arena() const;
  /// The memory limit in force (SessionOptions::memory_limit resolved; 0: none).
  int64_t memory_limit() const { return allocator_->byte_limit(); }

 private:
  struct Plan;
  struct State;
  const Plan& plan_for(const FeedList& feeds, std::span<const Output> fetches,
                       std::span<Node* const> targets);
  // Checks collective step `step` of a plan being bound against the communicator and gives it
  // its bucket; then, once every step is bound, that each bucket is whole.
  void bind_collective(Plan& plan, size_t step) const;
  static void check_buckets(const Plan& plan);
  Tensor& variable_slot(const VariableInfo& info);
  // Throws kInvalidArgument naming the variable when it belongs to another graph.
  void check_own_variable(std::string_view where, const Variable& variable) const;
  // Throws kFailedPrecondition when the graph was destroyed.
  void check_graph_alive(std::string_view where) const;
  std::vector<Tensor> run_locked(const FeedList& feeds, std::span<const Output> fetches,
                                 std::span<Node* const> targets, const RunOptions& options,
                                 RunStats* stats);
  void initialize_locked(std::span<const Variable> variables);

  const Graph& graph_;
  std::shared_ptr<const GraphLifetime> graph_lifetime_;
  Device device_;
  std::unique_ptr<Backend> backend_;
  std::shared_ptr<Allocator> allocator_;
  bool fuse_gemm_epilogues_ = true;
  bool accumulate_sums_in_place_ = true;
  bool plan_activation_arena_ = true;
  dist::Communicator* communicator_ = nullptr;
  std::unique_ptr<State> state_;
};

}  // namespace scopeflow
