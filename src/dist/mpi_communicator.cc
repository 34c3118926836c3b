// The MPI backend: collectives on host buffers over a duplicate of MPI_COMM_WORLD with
// MPI_ERRORS_RETURN. Each collective is nonblocking (MPI_Iallreduce, ...) and polled with
// MPI_Test until it completes or the timeout passes, so a dead or stalled rank becomes a
// kDeadlineExceeded status instead of a hang (blocking MPI calls cannot be interrupted).

#include "dist/mpi_backend.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"

#include "core/strings.h"

#if SCOPEFLOW_WITH_MPI
// The C API only: Open MPI's deprecated C++ bindings do not compile cleanly with our warnings.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace scopeflow::dist::internal {

bool launched_by_mpi() {
  // Open MPI, MPICH/Hydra and PMIx-based launchers export one of these to every process.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

#if SCOPEFLOW_WITH_MPI

namespace {

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return absl::StrCat("MPI error ", code);
  return std::string(text, static_cast<size_t>(length));
}

absl::Status mpi_status(int code, std::string_view call) {
  if (code == MPI_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("[dist] ", to_absl(call), " failed: ", mpi_error_text(code)));
}

#define SCOPEFLOW_MPI_RETURN_IF_ERROR(call)                          \
  do {                                                               \
    if (absl::Status _mpi_status = mpi_status((call), #call);        \
        !_mpi_status.ok()) {                                         \
      return _mpi_status;                                            \
    }                                                                \
  } while (false)

bool g_initialized_here = false;

// How long a collective is polled without pause before the poll backs off.
constexpr auto kSpinTime = std::chrono::milliseconds(50);

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, int rank, int size, CommunicatorOptions options)
      : comm_(comm), rank_(rank), size_(size), options_(options) {}
  ~MpiCommunicator() override {
    // A collective left pending by a timeout cannot be completed or freed safely; the
    // communicator is then left to MPI_Finalize or the job's end.
    if (!failed_) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  std::string_view backend() const override { return "mpi"; }

  absl::Status allreduce_average(std::span<float> values) override {
    // MPI 3.1 counts are int: chunks of at most INT_MAX elements.
    for (size_t offset = 0; offset < values.size();) {
      const size_t count = std::min<size_t>(values.size() - offset, INT_MAX);
      absl::Status status = run("MPI_Iallreduce", absl::StrCat(count, " float32 values"), [&](MPI_Request* req) {
        return MPI_Iallreduce(MPI_IN_PLACE, values.data() + offset, static_cast<int>(count), MPI_FLOAT, MPI_SUM,
                              comm_, req);
      });
      if (!status.ok()) return status;
      offset += count;
    }
    const float scale = 1.0f / static_cast<float>(size_);
    for (float& v : values) v *= scale;
    return absl::OkStatus();
  }

  absl::Status broadcast(std::span<std::byte> bytes, int root) override {
    if (root < 0 || root >= size_) {
      return absl::InvalidArgumentError(absl::StrCat("[dist] broadcast root ", root, " is not a rank of ", size_));
    }
    for (size_t offset = 0; offset < bytes.size();) {
      const size_t count = std::min<size_t>(bytes.size() - offset, INT_MAX);
      absl::Status status = run("MPI_Ibcast", absl::StrCat(count, " bytes"), [&](MPI_Request* req) {
        return MPI_Ibcast(bytes.data() + offset, static_cast<int>(count), MPI_BYTE, root, comm_, req);
      });
      if (!status.ok()) return status;
      offset += count;
    }
    return absl::OkStatus();
  }

  absl::Status barrier() override {
    return run("MPI_Ibarrier", "a barrier", [&](MPI_Request* req) { return MPI_Ibarrier(comm_, req); });
  }

  absl::StatusOr<bool> all_equal(uint64_t value) override {
    // max(v) and max(~v) = ~min(v): equal on every rank iff max == min.
    uint64_t values[2] = {value, ~value};
    absl::Status status = run("MPI_Iallreduce", "a layout check", [&](MPI_Request* req) {
      return MPI_Iallreduce(MPI_IN_PLACE, values, 2, MPI_UINT64_T, MPI_MAX, comm_, req);
    });
    if (!status.ok()) return status;
    return values[0] == ~values[1];
  }

 private:
  // Starts a nonblocking collective and polls it to completion or the deadline.
  template <typename Start>
  absl::Status run(std::string_view call, std::string_view what, Start start) {
    if (failed_) {
      return absl::FailedPreconditionError(
          absl::StrCat("[dist] the MPI communicator failed earlier (", last_error_, "); it cannot run ", to_absl(call)));
    }
    MPI_Request request = MPI_REQUEST_NULL;
    if (absl::Status status = mpi_status(start(&request), call); !status.ok()) return fail(status);
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    // Open MPI does not progress in the background: each MPI_Test drives the collective one
    // round further, and a large all-reduce takes many rounds. So spin while the collective is
    // young (a sleep between rounds would stretch it), then back off so that a rank waiting for a
    // slow or dead peer leaves the core to the others.
    const auto spin_until = std::chrono::steady_clock::now() + kSpinTime;
    auto pause = std::chrono::microseconds(0);
    for (;;) {
      int done = 0;
      if (absl::Status status = mpi_status(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
          !status.ok()) {
        return fail(status);
      }
      if (done) return absl::OkStatus();
      if (std::chrono::steady_clock::now() >= deadline) {
        return fail(absl::DeadlineExceededError(absl::StrCat(
            "[dist] ", to_absl(call), " of ", to_absl(what), " did not complete within ", options_.timeout.count(),
            " ms on rank ", rank_, " of ", size_, ": another rank died or stalled")));
      }
      if (std::chrono::steady_clock::now() < spin_until) continue;
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
      pause = std::min(pause + std::chrono::microseconds(10), std::chrono::microseconds(500));
    }
  }

  absl::Status fail(absl::Status status) {
    failed_ = true;
    last_error_ = std::string(status.message());
    return status;
  }

  MPI_Comm comm_;
  int rank_;
  int size_;
  CommunicatorOptions options_;
  bool failed_ = false;
  std::string last_error_;
};

}  // namespace

absl::StatusOr<Environment> mpi_init() {
  int initialized = 0;
  SCOPEFLOW_MPI_RETURN_IF_ERROR(MPI_Initialized(&initialized));
  if (!initialized) {
    // Open MPI's nonblocking all-reduce (libnbc) picks by default an algorithm that takes twice
    // the blocking call's time on large buffers (16.8 MB between 2 ranks: 8.9 ms against 4.2);
    // Rabenseifner's reduce-scatter + allgather takes 3.0 ms. Gradients are large buffers. An
    // explicit choice of the user (the same MCA variable, or mpirun --mca) wins.
    if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr) {
      setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3", /*overwrite=*/0);
    }
    int provided = 0;
    // Serialized: the session's threads never call MPI; one thread at a time does.
    SCOPEFLOW_MPI_RETURN_IF_ERROR(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided));
    g_initialized_here = true;
  }
  // Errors of calls on MPI_COMM_WORLD are returned, not fatal (the default handler aborts).
  SCOPEFLOW_MPI_RETURN_IF_ERROR(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  Environment env;
  env.mpi = true;
  SCOPEFLOW_MPI_RETURN_IF_ERROR(MPI_Comm_rank(MPI_COMM_WORLD, &env.rank));
  SCOPEFLOW_MPI_RETURN_IF_ERROR(MPI_Comm_size(MPI_COMM_WORLD, &env.world_size));
  MPI_Comm local = MPI_COMM_NULL;
  SCOPEFLOW_MPI_RETURN_IF_ERROR(
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, env.rank, MPI_INFO_NULL, &local));
  const int rank_status = MPI_Comm_rank(local, &env.local_rank);
  MPI_Comm_free(&local);
  SCOPEFLOW_MPI_RETURN_IF_ERROR(rank_status);
  return env;
}

absl::Status mpi_finalize() {
  if (!g_initialized_here) return absl::OkStatus();
  int finalized = 0;
  SCOPEFLOW_MPI_RETURN_IF_ERROR(MPI_Finalized(&finalized));
  if (finalized) return absl::OkStatus();
  SCOPEFLOW_MPI_RETURN_IF_ERROR(MPI_Finalize());
  return absl::OkStatus();
}

void mpi_abort(int exit_code) {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, exit_code);
}

absl::StatusOr<std::unique_ptr<Communicator>> make_mpi_communicator(CommunicatorOptions options) {
  int initialized = 0;
  SCOPEFLOW_MPI_RETURN_IF_ERROR(MPI_Initialized(&initialized));
  if (!initialized) return absl::FailedPreconditionError("[dist] MPI is not initialized: call dist::init() first");
  if (options.timeout.count() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("[dist] the communicator timeout must be positive, got ", options.timeout.count(), " ms"));
  }
  MPI_Comm comm = MPI_COMM_NULL;
  // A duplicate: our collectives never match a user's on MPI_COMM_WORLD.
  SCOPEFLOW_MPI_RETURN_IF_ERROR(MPI_Comm_dup(MPI_COMM_WORLD, &comm));
  int rank = 0;
  int size = 0;
  if (absl::Status status = [&]() -> absl::Status {
        SCOPEFLOW_MPI_RETURN_IF_ERROR(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
        SCOPEFLOW_MPI_RETURN_IF_ERROR(MPI_Comm_rank(comm, &rank));
        SCOPEFLOW_MPI_RETURN_IF_ERROR(MPI_Comm_size(comm, &size));
        return absl::OkStatus();
      }();
      !status.ok()) {
    MPI_Comm_free(&comm);
    return status;
  }
  return std::unique_ptr<Communicator>(new MpiCommunicator(comm, rank, size, options));
}

#else  // !SCOPEFLOW_WITH_MPI

namespace {
absl::Status no_mpi() {
  return absl::UnimplementedError(
      "[dist] this scopeflow was built without MPI (SCOPEFLOW_MPI=OFF or MPI not found): install "
      "libopenmpi-dev and rebuild to run under mpirun");
}
}  // namespace

absl::StatusOr<Environment> mpi_init() { return no_mpi(); }
absl::Status mpi_finalize() { return absl::OkStatus(); }
void mpi_abort(int) {}
absl::StatusOr<std::unique_ptr<Communicator>> make_mpi_communicator(CommunicatorOptions) { return no_mpi(); }

#endif  // SCOPEFLOW_WITH_MPI

}  // namespace scopeflow::dist::internal
