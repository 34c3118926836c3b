#pragma once
// Devices a tensor can live on and the run-time choice between CUDA and the CPU.

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace scopeflow {

enum class DeviceType { kCpu, kCuda };

/// A device: type and ordinal. Prints as TensorFlow device strings ("/device:CPU:0").
struct Device {
  DeviceType type = DeviceType::kCpu;
  int index = 0;

  static Device cpu() { return Device{DeviceType::kCpu, 0}; }
  static Device cuda(int index = 0) { return Device{DeviceType::kCuda, index}; }

  /// "/device:CPU:0" or "/device:GPU:0", the form TensorFlow uses in NodeDef.device.
  std::string to_string() const;

  friend bool operator==(const Device&, const Device&) = default;
};

/// True when the library was built with the CUDA backend.
bool cuda_backend_built();

/// Number of CUDA devices that answer, or an error status saying why none does.
absl::StatusOr<int> cuda_device_count();

/// Parses a device name, case-insensitively: "cpu", "cuda" or "gpu" (device 0), "cuda:N" or
/// "gpu:N" (N a non-negative decimal integer), or "auto", which gives nullopt (chosen at run
/// time). Anything else is kInvalidArgument naming the string and the valid forms. Does not
/// check that the device exists.
absl::StatusOr<std::optional<Device>> parse_device(std::string_view name);

/// The device sessions use when none is named: the SCOPEFLOW_DEVICE environment variable
/// (any form parse_device takes) if set, else CUDA when a device answers and its backend can
/// run, else the CPU. Prints a one-line notice on stderr (once per process) when it falls back.
absl::StatusOr<Device> default_device();

}  // namespace scopeflow
