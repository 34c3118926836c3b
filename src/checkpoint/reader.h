#pragma once
// What the checkpoint formats share: the tensors a writer takes and the reader interface.

#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
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

/// What both formats' readers keep: one file's entries by name (each Entry has a StoredTensor
/// `info`), their table of contents in name order, and the metadata.
template <typename Entry>
class IndexedCheckpointReader : public CheckpointReader {
 public:
  IndexedCheckpointReader(std::string path, std::vector<Entry> entries, std::map<std::string, std::string> metadata)
      : path_(std::move(path)), metadata_(std::move(metadata)) {
    for (Entry& entry : entries) {
      const std::string name = entry.info.name;
      entries_.emplace(name, std::move(entry));
    }
    for (const auto& [name, entry] : entries_) infos_.push_back(entry.info);
  }

  const std::vector<StoredTensor>& tensors() const override { return infos_; }
  const std::map<std::string, std::string>& metadata() const override { return metadata_; }

 protected:
  /// The entry of `name`, or NotFound naming the file.
  absl::StatusOr<const Entry*> find(absl::string_view name) const {
    auto it = entries_.find(std::string(name));
    if (it == entries_.end()) {
      return absl::NotFoundError(absl::StrCat("[checkpoint] no tensor '", std::string(name), "' in ", path_));
    }
    return &it->second;
  }
  /// A host tensor of the entry's dtype and shape holding `bytes` (their size already checked).
  static Tensor tensor_of(const StoredTensor& info, const std::string& bytes) {
    Tensor value(info.dtype, info.shape);
    if (!bytes.empty()) std::memcpy(value.raw_data(), bytes.data(), bytes.size());
    return value;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, Entry> entries_;
  std::vector<StoredTensor> infos_;  // by name, as entries_
  std::map<std::string, std::string> metadata_;
};

/// The DType of TensorFlow DataType `tf_type`, or nullopt when no variable can hold it.
std::optional<DType> dtype_from_tf(int tf_type);

/// Element count of `dims` with overflow and sign checks, as a status for file contents.
absl::StatusOr<Shape> checked_shape(std::span<const int64_t> dims, absl::string_view what);

/// Opens the checkpoint at `path`: TensorFlow when "<path>.index" exists, else a safetensors file.
absl::StatusOr<std::unique_ptr<CheckpointReader>> open_checkpoint(const std::string& path);

}  // namespace scopeflow::checkpoint
