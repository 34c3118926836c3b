#pragma once
// Every CUDA runtime and cuBLAS call goes through these checks: a failure becomes a
// scopeflow::Error (or a status) naming the call, never an abort.

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string_view>

#include "absl/status/status.h"
#include "scopeflow/error.h"

namespace scopeflow::cuda {

/// OK, or a status naming `call` (kResourceExhausted for out-of-memory). Clears the
/// runtime's last error so one failure does not poison later calls.
inline absl::Status status_of(cudaError_t err, std::string_view call) {
  if (err == cudaSuccess) return absl::OkStatus();
  (void)cudaGetLastError();
  const absl::StatusCode code = err == cudaErrorMemoryAllocation
                                    ? absl::StatusCode::kResourceExhausted
                                    : absl::StatusCode::kInternal;
  return absl::Status(code, absl::StrCat("[cuda] ", detail::to_str_cat_arg(call), " failed: ",
                                         cudaGetErrorString(err), " (", cudaGetErrorName(err), ")"));
}

/// Throws Error when `err` is not cudaSuccess.
inline void check(cudaError_t err, std::string_view call) {
  if (absl::Status s = status_of(err, call); !s.ok()) throw Error(s.code(), std::string(s.message()));
}

/// Throws Error when a cuBLAS call failed.
inline void check_cublas(cublasStatus_t status, std::string_view call) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  const absl::StatusCode code = status == CUBLAS_STATUS_ALLOC_FAILED
                                    ? absl::StatusCode::kResourceExhausted
                                    : absl::StatusCode::kInternal;
  throw_error(code, "cublas", call, " failed: ", cublasGetStatusString(status), " (",
              cublasGetStatusName(status), ")");
}

/// Makes `index` the calling thread's current device for its lifetime, restoring the previous.
class DeviceGuard {
 public:
  explicit DeviceGuard(int index) {
    check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != index) check(cudaSetDevice(index), "cudaSetDevice");
  }
  ~DeviceGuard() { (void)cudaSetDevice(previous_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

/// DeviceGuard for destructors and noexcept paths: switches when it can, never throws, and
/// clears any error it caused.
class BestEffortDeviceGuard {
 public:
  explicit BestEffortDeviceGuard(int index) noexcept {
    switched_ = cudaGetDevice(&previous_) == cudaSuccess && previous_ != index &&
                cudaSetDevice(index) == cudaSuccess;
  }
  ~BestEffortDeviceGuard() {
    if (switched_) (void)cudaSetDevice(previous_);
    (void)cudaGetLastError();
  }
  BestEffortDeviceGuard(const BestEffortDeviceGuard&) = delete;
  BestEffortDeviceGuard& operator=(const BestEffortDeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};

}  // namespace scopeflow::cuda
