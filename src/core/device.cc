#include "scopeflow/device.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

#if SCOPEFLOW_WITH_CUDA
#include "kernels/cuda/device_query.h"
#endif

namespace scopeflow {

namespace {

constexpr std::string_view kDeviceForms =
    "cpu, cuda, cuda:N, gpu, gpu:N, auto (N a non-negative decimal integer)";

absl::string_view av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// A device index: decimal digits only (no sign, space or suffix) that fit an int.
std::optional<int> parse_index(std::string_view text) {
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  int index = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), index);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return index;
}

// parse_device, with `what` naming where the string came from in the error message.
absl::StatusOr<std::optional<Device>> parse_device_from(std::string_view name, std::string_view what) {
  const std::string lower = absl::AsciiStrToLower(av(name));
  if (lower == "auto") return std::optional<Device>();
  if (lower == "cpu") return std::optional<Device>(Device::cpu());
  std::string_view rest = lower;
  for (std::string_view type : {std::string_view("cuda"), std::string_view("gpu")}) {
    if (!rest.starts_with(type)) continue;
    rest.remove_prefix(type.size());
    if (rest.empty()) return std::optional<Device>(Device::cuda(0));
    if (rest.front() != ':') break;  // "cuda1", "gpux": no separator
    rest.remove_prefix(1);
    if (const std::optional<int> index = parse_index(rest)) return std::optional<Device>(Device::cuda(*index));
    break;
  }
  return absl::InvalidArgumentError(absl::StrCat("[device] ", av(what), what.empty() ? "" : " ", "'", av(name),
                                                 "' is not a device; valid forms are ", av(kDeviceForms)));
}

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

absl::StatusOr<std::optional<Device>> parse_device(std::string_view name) {
  return parse_device_from(name, "");
}

absl::StatusOr<Device> default_device() {
  const char* env = std::getenv("SCOPEFLOW_DEVICE");
  if (env == nullptr || *env == '\0') return automatic_device();
  absl::StatusOr<std::optional<Device>> requested = parse_device_from(env, "SCOPEFLOW_DEVICE");
  if (!requested.ok()) return requested.status();
  if (!requested->has_value()) return automatic_device();
  const Device device = **requested;
  if (device.type == DeviceType::kCpu) return device;
  absl::StatusOr<int> count = cuda_device_count();
  if (!count.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "[device] SCOPEFLOW_DEVICE asks for CUDA, but no device is usable: ", count.status().message()));
  }
  if (device.index >= *count) {
    return absl::FailedPreconditionError(absl::StrCat(
        "[device] SCOPEFLOW_DEVICE asks for CUDA device ", device.index, " but ", *count, " answer"));
  }
  return device;
}

}  // namespace scopeflow
