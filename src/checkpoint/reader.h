#pragma once
// What the checkpoint formats share: the tensors a writer takes and the reader interface.

#include <map>
#include <optional>
#include <span>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "scopeflow/tensor.h"

namespace scopeflow::checkpoint {

/// What a checkpoint says of one tensor (scopeflow::CheckpointTensorInfo without the public
/// header, which the fuzz targets cannot include).
struct StoredTensor {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape{};
};

/// A host tensor and the key it is stored under.
struct NamedTensor {
  std::string name;
  Tensor value;
};

/// An opened checkpoint: its table of contents is validated on open, each tensor's bytes (and
/// checksum) when read.
class CheckpointReader {
 public:
  virtual ~CheckpointReader() = default;
  /// Every tensor, sorted by name.
  virtual const std::vector<StoredTensor>& tensors() const = 0;
  /// The tensor's values; NotFound for an unknown name, DataLoss for damaged bytes.
  virtual absl::StatusOr<Tensor> read(absl::string_view name) const = 0;
  /// String metadata (safetensors' __metadata__; empty for TensorFlow checkpoints).
  virtual const std::map<std::string, std::string>& metadata() const = 0;
};

/// The DType of TensorFlow DataType `tf_type`, or nullopt when no variable can hold it.
std::optional<DType> dtype_from_tf(int tf_type);

/// Element count of `dims` with overflow and sign checks, as a status for file contents.
absl::StatusOr<Shape> checked_shape(std::span<const int64_t> dims, absl::string_view what);

/// Opens the checkpoint at `path`: TensorFlow when "<path>.index" exists, else a safetensors file.
absl::StatusOr<std::unique_ptr<CheckpointReader>> open_checkpoint(const std::string& path);

}  // namespace scopeflow::checkpoint
