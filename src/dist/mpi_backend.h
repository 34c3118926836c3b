#pragma once
// The MPI side of scopeflow::dist (mpi_communicator.cc), built with SCOPEFLOW_MPI; without it
// these return kUnimplemented, so that a process under mpirun never silently trains alone.

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scopeflow/dist.h"

namespace scopeflow::dist::internal {

/// True when the environment says this process was started by an MPI launcher.
bool launched_by_mpi();
/// MPI_Init_thread (when not yet initialized) and the ranks of MPI_COMM_WORLD.
absl::StatusOr<Environment> mpi_init();
absl::Status mpi_finalize();
void mpi_abort(int exit_code);
absl::StatusOr<std::unique_ptr<Communicator>> make_mpi_communicator(CommunicatorOptions options);

}  // namespace scopeflow::dist::internal
