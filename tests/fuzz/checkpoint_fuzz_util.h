#pragma once
// Shared by the checkpoint fuzz targets: the input goes to files (the readers read files), in
// a folder of this process, and every tensor the reader lists is read back.

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "checkpoint/reader.h"

namespace scopeflow::fuzz {

inline const std::string& scratch_folder() {
  static const std::string folder = [] {
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("scopeflow_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
    return path.string();
  }();
  return folder;
}

inline void write_input(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Reads every listed tensor; a reader that lists a tensor and then returns a value of another
/// dtype, shape or size, or errors other than statuses, is a finding.
inline void read_everything(const absl::StatusOr<std::unique_ptr<checkpoint::CheckpointReader>>& reader) {
  if (!reader.ok()) {
    if (reader.status().message().empty()) __builtin_trap();  // errors must say what is wrong
    return;
  }
  for (const checkpoint::StoredTensor& info : (*reader)->tensors()) {
    absl::StatusOr<Tensor> value = (*reader)->read(info.name);
    if (value.ok() && (value->dtype() != info.dtype || value->shape() != info.shape)) __builtin_trap();
  }
}

}  // namespace scopeflow::fuzz
