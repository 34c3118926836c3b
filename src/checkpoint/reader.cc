// The format-independent parts of reading a checkpoint.

#include "checkpoint/reader.h"

#include <filesystem>
#include <limits>

#include "absl/strings/str_cat.h"
#include "checkpoint/safetensors.h"
#include "checkpoint/tensor_bundle.h"

namespace scopeflow {

namespace checkpoint {

std::optional<DType> dtype_from_tf(int tf_type) {
  for (DType dtype : kAllDTypes) {
    if (tf_data_type(dtype) == tf_type) return dtype;
  }
  return std::nullopt;
}

absl::StatusOr<Shape> checked_shape(std::span<const int64_t> dims, absl::string_view what) {
  int64_t elements = 1;
  for (int64_t dim : dims) {
    if (dim < 0) return absl::DataLossError(absl::StrCat("[checkpoint] ", what, " has a negative dimension ", dim));
    if (dim != 0 && elements > std::numeric_limits<int64_t>::max() / dim) {
      return absl::DataLossError(absl::StrCat("[checkpoint] ", what, " has more elements than int64 counts"));
    }
    elements *= dim;
  }
  if (dims.size() > 64) return absl::DataLossError(absl::StrCat("[checkpoint] ", what, " has rank ", dims.size()));
  return Shape(dims);
}

absl::StatusOr<std::unique_ptr<CheckpointReader>> open_checkpoint(const std::string& path) {
  std::error_code error;
  if (std::filesystem::exists(bundle_index_path(path), error)) return open_tensor_bundle(path);
  if (std::filesystem::is_regular_file(path, error)) return open_safetensors(path);
  return absl::NotFoundError(absl::StrCat("[checkpoint] no checkpoint at ", path, " (neither ", bundle_index_path(path),
                                          " nor a safetensors file)"));
}

}  // namespace checkpoint

}  // namespace scopeflow
