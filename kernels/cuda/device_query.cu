// CUDA device discovery and a smoke-test kernel (see device_query.h).

#include "kernels/cuda/device_query.h"

#include <cuda_runtime.h>

#include "absl/strings/str_cat.h"

namespace scopeflow::cuda {

namespace {

constexpr int kProbeValue = 0x5f10;

// Turns a CUDA runtime error into a status naming the call; clears the sticky last error.
absl::Status cuda_status(cudaError_t err, const char* call) {
  if (err == cudaSuccess) return absl::OkStatus();
  (void)cudaGetLastError();
  const absl::StatusCode code = (err == cudaErrorMemoryAllocation)
                                    ? absl::StatusCode::kResourceExhausted
                                    : absl::StatusCode::kUnavailable;
  return absl::Status(code, absl::StrCat(call, " failed: ", cudaGetErrorString(err), " (",
                                         cudaGetErrorName(err), ")"));
}

}  // namespace

__global__ void scopeflow_probe_kernel(int* out) {
  if (blockIdx.x == 0 && threadIdx.x == 0) *out = kProbeValue;
}

absl::StatusOr<int> query_device_count() {
  int count = 0;
  if (absl::Status s = cuda_status(cudaGetDeviceCount(&count), "cudaGetDeviceCount"); !s.ok()) {
    return s;
  }
  return count;
}

namespace {

// Clears *device_value, runs the probe kernel on it and checks what it wrote.
absl::Status probe_with(int* device_value) {
  if (absl::Status s = cuda_status(cudaMemset(device_value, 0, sizeof(int)), "cudaMemset");
      !s.ok()) {
    return s;
  }
  scopeflow_probe_kernel<<<1, 1>>>(device_value);
  if (absl::Status s = cuda_status(cudaGetLastError(), "scopeflow_probe_kernel launch"); !s.ok()) {
    return s;
  }
  if (absl::Status s = cuda_status(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); !s.ok()) {
    return s;
  }
  int host_value = 0;
  if (absl::Status s = cuda_status(
          cudaMemcpy(&host_value, device_value, sizeof(int), cudaMemcpyDeviceToHost),
          "cudaMemcpy");
      !s.ok()) {
    return s;
  }
  if (host_value != kProbeValue) {
    return absl::InternalError(absl::StrCat("scopeflow_probe_kernel wrote ", host_value,
                                            " instead of ", kProbeValue));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status run_probe_kernel() {
  int* device_value = nullptr;
  if (absl::Status s = cuda_status(cudaMalloc(&device_value, sizeof(int)), "cudaMalloc");
      !s.ok()) {
    return s;
  }
  const absl::Status probe_status = probe_with(device_value);
  const absl::Status free_status = cuda_status(cudaFree(device_value), "cudaFree");
  return probe_status.ok() ? free_status : probe_status;
}

}  // namespace scopeflow::cuda
