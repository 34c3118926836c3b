#pragma once
// Why a GPU test cannot run here, for its GTEST_SKIP message (empty: it can).

#include <string>

#include "absl/strings/str_cat.h"
#include "scopeflow/device.h"
#include "scopeflow/session.h"

namespace scopeflow::test {

/// Empty when a CUDA device can run this build's kernels, else why not.
inline std::string why_no_gpu() {
  if (!cuda_backend_built()) return "scopeflow was built without the CUDA backend";
  absl::StatusOr<int> count = cuda_device_count();
  if (!count.ok()) return absl::StrCat("no CUDA device answered: ", count.status().message());
  if (*count == 0) return "no CUDA device answered (0 devices)";
  return "";
}

}  // namespace scopeflow::test
