#pragma once
// CUDA device discovery and a smoke-test kernel. Compiled only when the CUDA backend is built
// (SCOPEFLOW_WITH_CUDA=1); callers must guard their use with `#if SCOPEFLOW_WITH_CUDA`.
// Nothing here aborts: every CUDA runtime error comes back as a status naming the failing call.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace scopeflow::cuda {

/// Number of CUDA devices visible to this process (cudaGetDeviceCount), or an error status
/// ("cudaGetDeviceCount failed: <cudaGetErrorString>") when the driver or runtime is unusable,
/// e.g. on a machine without a GPU.
absl::StatusOr<int> query_device_count();

/// Allocates 4 bytes on the current device, launches a one-thread probe kernel that writes a
/// known value, synchronises, copies the value back and checks it, then frees the memory.
/// Proves that device code for this GPU's architecture is in the binary and can run.
absl::Status run_probe_kernel();

}  // namespace scopeflow::cuda
