#include "scopeflow/device.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

#if SCOPEFLOW_WITH_CUDA
#include "kernels/cuda/device_query.h"
#endif

namespace scopeflow {

namespace {

void print_notice_once(const std::string& message) {
  static std::once_flag once;
  std::call_once(once, [&] { std::fprintf(stderr, "scopeflow: %s\n", message.c_str()); });
}

// CUDA when a device answers and runs this build's kernels, else the CPU with a one-line
// notice. Decided once per process: the probe launches a kernel.
Device automatic_device() {
  static const Device chosen = [] {
    absl::StatusOr<int> count = cuda_device_count();
    if (!count.ok() || *count == 0) {
      print_notice_once(absl::StrCat(
          "no CUDA device answered (",
          count.ok() ? std::string("0 devices") : std::string(count.status().message()),
          "); running on the CPU"));
      return Device::cpu();
    }
#if SCOPEFLOW_WITH_CUDA
    // A device that answers may still lack code for its architecture in this binary.
    if (absl::Status probe = cuda::run_probe_kernel(); !probe.ok()) {
      print_notice_once(absl::StrCat("a CUDA device answered but cannot run this build's kernels (",
                                     probe.message(), "); running on the CPU"));
      return Device::cpu();
    }
#endif
    return Device::cuda(0);
  }();
  return chosen;
}

}  // namespace

std::string Device::to_string() const {
  return absl::StrCat("/device:", type == DeviceType::kCpu ? "CPU" : "GPU", ":", index);
}

bool cuda_backend_built() {
#if SCOPEFLOW_WITH_CUDA
  return true;
#else
  return false;
#endif
}

absl::StatusOr<int> cuda_device_count() {
#if SCOPEFLOW_WITH_CUDA
  return cuda::query_device_count();
#else
  return absl::FailedPreconditionError("scopeflow was built without the CUDA backend");
#endif
}

absl::StatusOr<Device> default_device() {
  const char* env = std::getenv("SCOPEFLOW_DEVICE");
  const std::string requested = env ? absl::AsciiStrToLower(env) : "";
  if (requested == "cpu") return Device::cpu();
  if (!requested.empty() && requested != "auto") {
    absl::string_view rest = requested;
    int index = 0;
    if (!absl::ConsumePrefix(&rest, "cuda") && !absl::ConsumePrefix(&rest, "gpu")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "[device] SCOPEFLOW_DEVICE='", env, "' is not one of cpu, cuda, cuda:N, auto"));
    }
    if (absl::ConsumePrefix(&rest, ":") && !absl::SimpleAtoi(rest, &index)) {
      return absl::InvalidArgumentError(absl::StrCat("[device] bad device index in SCOPEFLOW_DEVICE='", env, "'"));
    }
    absl::StatusOr<int> count = cuda_device_count();
    if (!count.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "[device] SCOPEFLOW_DEVICE asks for CUDA, but no device is usable: ", count.status().message()));
    }
    if (index < 0 || index >= *count) {
      return absl::FailedPreconditionError(absl::StrCat(
          "[device] SCOPEFLOW_DEVICE asks for CUDA device ", index, " but ", *count, " answer"));
    }
    return Device::cuda(index);
  }
  return automatic_device();
}

}  // namespace scopeflow
