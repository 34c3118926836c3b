#pragma once
// Data-parallel training: every rank runs the same graph on its share of the global batch and
// the ranks average each variable's one gradient buffer before the update, so that N ranks on
// batch B train like one process on batch N*B. Ranks come from the MPI environment (mpirun);
// one process without mpirun is a world of size 1.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scopeflow/graph.h"
#include "scopeflow/scope.h"
#include "scopeflow/session.h"
#include "scopeflow/tensor.h"
#include "scopeflow/train.h"

namespace scopeflow::dist {

/// This process's place among the ranks.
struct Environment {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;  // rank among the processes of this host (one GPU each)
  bool mpi = false;    // MPI was initialized (the process runs under mpirun)
};

/// True when this build has the MPI backend (SCOPEFLOW_MPI).
bool mpi_available();

/// Reads the environment once: under mpirun initializes MPI (MPI_THREAD_SERIALIZED) and returns
/// rank, world size and local rank; without mpirun, rank 0 of 1 and MPI stays uninitialized.
/// Later calls return the first result.
absl::StatusOr<Environment> init();
/// MPI_Finalize when init() initialized MPI; nothing otherwise.
absl::Status finalize();
/// For programs that cannot go on after a communication error: ends every rank of the job
/// (MPI_Abort) with `exit_code`; a plain exit where MPI is not in use. The library never calls it.
[[noreturn]] void abort_world(int exit_code);

struct CommunicatorOptions {
  /// How long one collective may wait for the other ranks before it fails with
  /// kDeadlineExceeded (a rank died or stalled), instead of hanging.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
};

/// Collectives over the ranks. Every call is collective: each rank makes the same calls in the
/// same order. A failed or timed-out call leaves the communicator failed: later calls return
/// kFailedPrecondition.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  /// "mpi", "nccl" or "local".
  virtual std::string_view backend() const = 0;

  /// Sums `values` over the ranks, in place, and divides by the world size.
  virtual absl::Status allreduce_average(std::span<float> values) = 0;
  /// Copies `bytes` of rank `root` into `bytes` of every other rank.
  virtual absl::Status broadcast(std::span<std::byte> bytes, int root) = 0;
  virtual absl::Status barrier() = 0;
  /// True when every rank passed the same value (checks of layouts between ranks).
  virtual absl::StatusOr<bool> all_equal(uint64_t value) = 0;

  /// Device-resident collectives (the NCCL backend). The CUDA device whose memory
  /// allreduce_average_on_stream takes; -1 for communicators of host memory only.
  virtual int device() const { return -1; }
  /// Enqueues the mean over the ranks of `count` floats of device() memory at `values`, in
  /// place, after the work already queued on `stream` (a cudaStream_t of device()), and returns
  /// once it is enqueued. It runs on the communicator's own stream, beside later work of
  /// `stream`: that work sees the mean after join_stream(stream). kUnimplemented on
  /// communicators of host memory.
  virtual absl::Status allreduce_average_on_stream(float* values, size_t count, void* stream);
  /// Makes work queued on `stream` after this call wait (on the device, not the host) until every
  /// all-reduce enqueued so far is done. OK at once when nothing is enqueued.
  virtual absl::Status join_stream(void* stream);
  /// Waits until every collective enqueued by allreduce_average_on_stream is done, polling
  /// against the timeout: a rank that died or stalled is kDeadlineExceeded (the communicator is
  /// failed then). OK at once when nothing is enqueued.
  virtual absl::Status wait_enqueued();
};

/// The communicator of `env`: MPI over MPI_COMM_WORLD (a duplicate, with MPI_ERRORS_RETURN) when
/// env.mpi, else the world of one process. kUnimplemented when env.mpi in a build without MPI.
absl::StatusOr<std::unique_ptr<Communicator>> make_communicator(const Environment& env,
                                                                CommunicatorOptions options = {});

/// True when this build has the NCCL backend (CUDA builds where CMake found NCCL).
bool nccl_available();
/// NCCL over one CUDA device per rank (`device`, usually Environment::local_rank): rank 0's
/// ncclUniqueId travels over `bootstrap` (the MPI communicator). A CUDA session's all-reduces
/// run in the session's device memory on the communicator's stream, overlapping the session's
/// later kernels (allreduce_average_on_stream); host spans are staged through a device buffer
/// on the communicator's stream. Every call is polled against the timeout, and an error or a
/// timeout aborts the NCCL communicator (ncclCommAbort). kUnimplemented in a build without
/// NCCL; an error when the device does not exist.
absl::StatusOr<std::unique_ptr<Communicator>> make_nccl_communicator(Communicator& bootstrap, int device,
                                                                     CommunicatorOptions options = {});

/// A stable 64-bit hash (FNV-1a) of bytes, equal in every process, for layout checks.
uint64_t layout_hash(std::string_view bytes, uint64_t seed = 0xcbf29ce484222325ull);

/// Copies rank 0's value of every initialized variable of the session's graph (slots included)
/// into the other ranks, so all ranks start identical; call after initialize_variables and
/// after a restore. kFailedPrecondition (on every rank) when the ranks' variable names, dtypes or
/// shapes differ.
absl::Status broadcast_variables(Session& session, Communicator& communicator);

struct DataParallelOptions {
  /// Gradients are all-reduced in buckets of about this many bytes (PyTorch DDP's default
  /// 25 MiB); a gradient larger than that is a bucket of its own.
  int64_t bucket_bytes = int64_t{25} << 20;
};

/// One bucket: consecutive entries of DataParallel::gradients().
struct GradientBucket {
  size_t first = 0;
  size_t count = 0;
  int64_t elements = 0;
};

/// Wraps an optimizer: between the gradients and the updates the ranks average each variable's
/// one gradient buffer, bucketed, in the same order on every rank. The averages are
/// CollectiveReduceV2 nodes of the graph (ops::all_reduce_mean, in the name scope
/// "all_reduce"), so a step is one session run: a bucket's all-reduce starts as soon as its last
/// gradient is computed (on the CPU on the session's communication thread, on a GPU with NCCL on
/// the communicator's stream) while the rest of backward goes on, and the updates wait for it. The exported GraphDef shows the collectives.
class DataParallel {
 public:
  DataParallel(train::Optimizer& optimizer, Communicator& communicator, DataParallelOptions options = {});

  /// The optimizer's compute_gradients and apply_gradients, with the all-reduces of the buckets
  /// in between; returns the update op (which step() runs). Call once.
  Node* minimize(Output loss, std::vector<Variable> var_list = {}, std::string_view name = "");
  /// Checks that every rank has the same gradients (variable names, dtypes, shapes) in the same
  /// buckets; kFailedPrecondition on every rank when not. Call after minimize, before step.
  absl::Status check_layout();
  /// One training step: returns `fetches` as computed before the update (on this rank's batch).
  /// The session runs with this DataParallel's communicator (set on the first step when it has
  /// none). Communication failures (a rank died or stalled past the timeout) are returned; bad
  /// feeds throw Error as Session::run does.
  absl::StatusOr<std::vector<Tensor>> step(Session& session, const FeedList& feeds,
                                           std::span<const Output> fetches);
  /// The same with run options: `options` and `stats` (as Session::run takes them) apply to the
  /// run that computes the fetches and the gradients.
  absl::StatusOr<std::vector<Tensor>> step(Session& session, const FeedList& feeds, std::span<const Output> fetches,
                                           const RunOptions& options, RunStats* stats);

  /// The (gradient, variable) pairs, one per variable however often it is used.
  const std::vector<train::GradientAndVariable>& gradients() const { return gradients_; }
  const std::vector<GradientBucket>& buckets() const { return buckets_; }
  Node* train_op() const { return train_op_; }
  /// Bytes all-reduced per step: the unique gradient bytes (one buffer per variable).
  int64_t allreduce_bytes_per_step() const;
  /// All-reduce calls per step: one per bucket.
  int allreduce_calls_per_step() const { return static_cast<int>(buckets_.size()); }
  Communicator& communicator() const { return communicator_; }

 private:
  train::Optimizer& optimizer_;
  Communicator& communicator_;
  DataParallelOptions options_;
  std::vector<train::GradientAndVariable> gradients_;
  std::vector<GradientBucket> buckets_;
  Node* train_op_ = nullptr;
};

}  // namespace scopeflow::dist
