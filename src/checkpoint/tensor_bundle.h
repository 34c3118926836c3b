#pragma once
// TensorFlow V2 checkpoints ("tensor bundles", tensorflow/core/util/tensor_bundle): a LevelDB
// table "<prefix>.index" of BundleEntryProto per tensor and one data shard
// "<prefix>.data-00000-of-00001" of raw little-endian tensor bytes.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "checkpoint/reader.h"

namespace scopeflow::checkpoint {

/// "<prefix>.index".
std::string bundle_index_path(const std::string& prefix);
/// "<prefix>.data-00000-of-00001" (the only shard we write).
std::string bundle_data_path(const std::string& prefix);

/// Writes the bundle durably: the data file is complete and renamed into place before the
/// index, so a visible index always has its data. Names must be unique.
absl::Status write_tensor_bundle(const std::string& prefix, const std::vector<NamedTensor>& tensors);

/// Opens "<prefix>.index" and checks every entry against the data file's size.
absl::StatusOr<std::unique_ptr<CheckpointReader>> open_tensor_bundle(const std::string& prefix);

}  // namespace scopeflow::checkpoint
