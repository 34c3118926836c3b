// dist::init, the one-process communicator, layout hashes and the variable broadcast.

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "dist/mpi_backend.h"
#include "scopeflow/dist.h"

namespace scopeflow::dist {

namespace {

// The world of one process: every collective is the identity (the average of one value).
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string_view backend() const override { return "local"; }
  absl::Status allreduce_average(std::span<float>) override { return absl::OkStatus(); }
  absl::Status broadcast(std::span<std::byte>, int root) override {
    if (root != 0) return absl::InvalidArgumentError(absl::StrCat("[dist] broadcast root ", root, " is not a rank of 1"));
    return absl::OkStatus();
  }
  absl::Status barrier() override { return absl::OkStatus(); }
  absl::StatusOr<bool> all_equal(uint64_t) override { return true; }
};

std::mutex g_init_mutex;
std::optional<absl::StatusOr<Environment>> g_environment;

}  // namespace

bool mpi_available() { return SCOPEFLOW_WITH_MPI != 0; }

absl::Status Communicator::allreduce_average_on_stream(float*, size_t, void*) {
  return absl::UnimplementedError(absl::StrCat("[dist] the ", to_absl(backend()),
                                               " communicator all-reduces host memory only, not device memory"));
}

absl::Status Communicator::join_stream(void*) { return absl::OkStatus(); }

absl::Status Communicator::wait_enqueued() { return absl::OkStatus(); }

absl::StatusOr<Environment> init() {
  std::lock_guard<std::mutex> lock(g_init_mutex);
  if (!g_environment) {
    if (internal::launched_by_mpi()) {
      g_environment = internal::mpi_init();
    } else {
      g_environment = Environment{};
    }
  }
  return *g_environment;
}

absl::Status finalize() { return internal::mpi_finalize(); }

void abort_world(int exit_code) {
  internal::mpi_abort(exit_code);
  std::_Exit(exit_code);
}

absl::StatusOr<std::unique_ptr<Communicator>> make_communicator(const Environment& env, CommunicatorOptions options) {
  if (env.mpi) return internal::make_mpi_communicator(options);
  if (env.world_size != 1 || env.rank != 0) {
    return absl::InvalidArgumentError(absl::StrCat("[dist] rank ", env.rank, " of ", env.world_size,
                                                   " without MPI: only a world of one process runs without mpirun"));
  }
  return std::unique_ptr<Communicator>(new LocalCommunicator());
}

#if !SCOPEFLOW_WITH_NCCL
// Without NCCL (CPU builds): the GPU backend is refused, saying why.
bool nccl_available() { return false; }

absl::StatusOr<std::unique_ptr<Communicator>> make_nccl_communicator(Communicator&, int, CommunicatorOptions) {
  return absl::UnimplementedError(
      "[dist] this scopeflow was built without NCCL (it comes with the CUDA backend when CMake finds nccl.h and "
      "libnccl); use the MPI communicator");
}
#endif

uint64_t layout_hash(std::string_view bytes, uint64_t seed) {
  // FNV-1a by hand: absl::Hash is seeded per process, so its values differ between ranks.
  uint64_t hash = seed;
  for (char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ull;
  }
  return hash;
}

absl::Status broadcast_variables(Session& session, Communicator& communicator) {
  std::vector<Variable> variables;
  for (const Variable& v : all_variables(session.graph())) {
    if (session.is_initialized(v)) variables.push_back(v);
  }
  std::sort(variables.begin(), variables.end(),
            [](const Variable& a, const Variable& b) { return a.name() < b.name(); });
  uint64_t hash = layout_hash("variables");
  for (const Variable& v : variables) {
    hash = layout_hash(absl::StrCat(to_absl(v.name()), "|", dtype_name(v.dtype()), "|", v.shape().to_string(), "\n"),
                       hash);
  }
  absl::StatusOr<bool> same = communicator.all_equal(hash);
  if (!same.ok()) return same.status();
  if (!*same) {
    return absl::FailedPreconditionError(absl::StrCat(
        "[dist] broadcast_variables: the ranks' initialized variables differ (names, dtypes or shapes); rank ",
        communicator.rank(), " has ", variables.size(), ": every rank must build the same graph"));
  }
  for (const Variable& v : variables) {
    const Tensor value = session.variable_value(v);
    const Tensor host = session.to_host(value);
    auto* bytes = static_cast<std::byte*>(host.raw_data());
    if (absl::Status status = communicator.broadcast(std::span<std::byte>(bytes, host.byte_size()), 0);
        !status.ok()) {
      return status;
    }
    // A CUDA session's value went through a host copy: write it back.
    if (!host.shares_buffer_with(value)) session.assign_variable(v, host);
  }
  return absl::OkStatus();
}

}  // namespace scopeflow::dist
