#pragma once
// safetensors files (huggingface/safetensors): an 8-byte little-endian header length, a JSON
// header (name -> dtype, shape, data_offsets; "__metadata__" of strings), then the tensor bytes.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "checkpoint/reader.h"

namespace scopeflow::checkpoint {

/// safetensors' own limit on the header length; a longer one is refused before allocating.
inline constexpr uint64_t kSafetensorsMaxHeaderSize = 100'000'000;

/// The file bytes: tensors sorted by alignment (largest element first), then name; header padded
/// with spaces to a multiple of 8 so that every tensor is aligned to its element size.
absl::StatusOr<std::string> encode_safetensors(const std::vector<NamedTensor>& tensors,
                                               const std::map<std::string, std::string>& metadata);

/// The same bytes, streamed to a file durably (temporary name, fsync, rename, folder fsync).
absl::Status write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                               const std::map<std::string, std::string>& metadata);

/// Opens a safetensors file and validates its header as the reference reader does: offsets
/// contiguous from 0, sizes matching shapes, the file exactly covered.
absl::StatusOr<std::unique_ptr<CheckpointReader>> open_safetensors(const std::string& path);

}  // namespace scopeflow::checkpoint
