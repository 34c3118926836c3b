#include "checkpoint/tensor_bundle.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "checkpoint/file_io.h"
#include "checkpoint/table.h"
#include "export/crc32c.h"
#include "proto/tensor_bundle.pb.h"

namespace scopeflow::checkpoint {

namespace {

// BundleHeaderProto.version.producer as TensorFlow writes it (kTensorBundleVersion); readers
// accept bundles whose min_consumer is at most this.
constexpr int kTensorBundleVersion = 1;
// Index files hold one short entry per tensor; a bigger one is not a checkpoint of ours.
constexpr uint64_t kMaxIndexBytes = uint64_t{1} << 30;

absl::Status data_loss(const std::string& path, absl::string_view problem) {
  return absl::DataLossError(absl::StrCat("[checkpoint] ", path, ": ", problem));
}

struct TensorBundleEntry {
  StoredTensor info;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint32_t masked_crc = 0;
};

class TensorBundleReader final : public IndexedCheckpointReader<TensorBundleEntry> {
 public:
  using Entry = TensorBundleEntry;
  TensorBundleReader(std::string data_path, std::vector<Entry> entries)
      : IndexedCheckpointReader(std::move(data_path), std::move(entries), {}) {}

  absl::StatusOr<Tensor> read(absl::string_view name) const override {
    absl::StatusOr<const Entry*> found = find(name);
    if (!found.ok()) return found.status();
    const Entry& entry = **found;
    absl::StatusOr<std::string> bytes = read_file_range(path(), entry.offset, entry.size);
    if (!bytes.ok()) return bytes.status();
    const uint32_t crc = io::mask_crc32c(io::crc32c(bytes->data(), bytes->size()));
    if (crc != entry.masked_crc) {
      return data_loss(path(), absl::StrCat("checksum of tensor '", entry.info.name, "' does not match: stored ",
                                            entry.masked_crc, ", computed ", crc));
    }
    return tensor_of(entry.info, *bytes);
  }
};

}  // namespace

std::string bundle_index_path(const std::string& prefix) { return prefix + ".index"; }
std::string bundle_data_path(const std::string& prefix) { return prefix + ".data-00000-of-00001"; }

absl::Status write_tensor_bundle(const std::string& prefix, const std::vector<NamedTensor>& tensors) {
  std::vector<const NamedTensor*> sorted;
  for (const NamedTensor& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](const NamedTensor* a, const NamedTensor* b) { return a->name < b->name; });
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i]->name.empty()) return absl::InvalidArgumentError("[checkpoint] a tensor name is empty");
    if (i > 0 && sorted[i]->name == sorted[i - 1]->name) {
      return absl::InvalidArgumentError(absl::StrCat("[checkpoint] tensor name '", sorted[i]->name, "' appears twice"));
    }
  }

  // Data first, in key order as TensorFlow writes it, with no padding (data_alignment 1).
  absl::StatusOr<AtomicFile> data = AtomicFile::create(bundle_data_path(prefix));
  if (!data.ok()) return data.status();
  std::vector<TableEntry> entries;
  tfproto::BundleHeaderProto header;
  header.set_num_shards(1);
  header.set_endianness(tfproto::BundleHeaderProto::LITTLE);
  header.mutable_version()->set_producer(kTensorBundleVersion);
  entries.emplace_back("", header.SerializeAsString());
  int64_t offset = 0;
  for (const NamedTensor* t : sorted) {
    const absl::string_view bytes(static_cast<const char*>(t->value.raw_data()), t->value.byte_size());
    if (absl::Status s = data->append(bytes); !s.ok()) return s;
    tfproto::BundleEntryProto entry;
    entry.set_dtype(static_cast<tfproto::DataType>(tf_data_type(t->value.dtype())));
    tfproto::TensorShapeProto* shape = entry.mutable_shape();
    for (int64_t dim : t->value.shape().dims()) shape->add_dim()->set_size(dim);
    entry.set_offset(offset);
    entry.set_size(static_cast<int64_t>(bytes.size()));
    entry.set_crc32c(io::mask_crc32c(io::crc32c(bytes.data(), bytes.size())));
    entries.emplace_back(t->name, entry.SerializeAsString());
    offset += static_cast<int64_t>(bytes.size());
  }
  if (absl::Status s = data->commit(); !s.ok()) return s;
  return write_file_atomically(bundle_index_path(prefix), build_table(entries));
}

absl::StatusOr<std::unique_ptr<CheckpointReader>> open_tensor_bundle(const std::string& prefix) {
  const std::string index_path = bundle_index_path(prefix);
  absl::StatusOr<uint64_t> index_size = file_size(index_path);
  if (!index_size.ok()) return index_size.status();
  if (*index_size > kMaxIndexBytes) return data_loss(index_path, "index file larger than 1 GiB");
  absl::StatusOr<std::string> index_bytes = read_file(index_path);
  if (!index_bytes.ok()) return index_bytes.status();
  absl::StatusOr<std::vector<TableEntry>> table = parse_table(*index_bytes, index_path);
  if (!table.ok()) return table.status();
  if (table->empty() || !table->front().first.empty()) return data_loss(index_path, "the bundle header entry is missing");
  tfproto::BundleHeaderProto header;
  if (!header.ParseFromString(table->front().second)) return data_loss(index_path, "the bundle header is malformed");
  if (header.num_shards() != 1) {
    return absl::UnimplementedError(absl::StrCat("[checkpoint] ", index_path, ": ", header.num_shards(),
                                                 " data shards; only single-shard checkpoints are supported"));
  }
  if (header.endianness() != tfproto::BundleHeaderProto::LITTLE) {
    return absl::UnimplementedError(absl::StrCat("[checkpoint] ", index_path, ": big-endian checkpoints are not supported"));
  }
  if (header.version().min_consumer() > kTensorBundleVersion) {
    return absl::UnimplementedError(absl::StrCat("[checkpoint] ", index_path, ": needs a reader of version ",
                                                 header.version().min_consumer(), " or newer"));
  }
  const std::string data_path = bundle_data_path(prefix);
  absl::StatusOr<uint64_t> data_size = file_size(data_path);
  if (!data_size.ok()) {
    return absl::Status(data_size.status().code(),
                        absl::StrCat("[checkpoint] the data file of ", index_path, " is missing or unreadable: ",
                                     data_size.status().message()));
  }
  std::vector<TensorBundleReader::Entry> entries;
  for (size_t i = 1; i < table->size(); ++i) {
    const auto& [name, value] = (*table)[i];
    tfproto::BundleEntryProto proto;
    if (!proto.ParseFromString(value)) return data_loss(index_path, absl::StrCat("the entry of '", name, "' is malformed"));
    const std::string what = absl::StrCat(index_path, ": tensor '", name, "'");
    if (proto.slices_size() > 0) return absl::UnimplementedError(absl::StrCat("[checkpoint] ", what, " is partitioned"));
    const std::optional<DType> dtype = dtype_from_tf(proto.dtype());
    if (!dtype) {
      return absl::UnimplementedError(absl::StrCat("[checkpoint] ", what, " has TensorFlow dtype ", proto.dtype(),
                                                   ", which no scopeflow variable holds"));
    }
    if (proto.shard_id() != 0) return data_loss(index_path, absl::StrCat("tensor '", name, "' names shard ", proto.shard_id()));
    std::vector<int64_t> dims;
    for (const auto& dim : proto.shape().dim()) dims.push_back(dim.size());
    absl::StatusOr<Shape> shape = checked_shape(dims, what);
    if (!shape.ok()) return shape.status();
    const auto expected = static_cast<uint64_t>(shape->num_elements()) * dtype_size(*dtype);
    if (shape->num_elements() > 0 && expected / static_cast<uint64_t>(shape->num_elements()) != dtype_size(*dtype)) {
      return data_loss(index_path, absl::StrCat("tensor '", name, "' is too large"));
    }
    if (proto.size() < 0 || static_cast<uint64_t>(proto.size()) != expected) {
      return data_loss(index_path, absl::StrCat("tensor '", name, "' has ", proto.size(), " bytes, but its shape ",
                                                 shape->to_string(), " of ", dtype_name(*dtype), " needs ", expected));
    }
    if (proto.offset() < 0 || static_cast<uint64_t>(proto.offset()) > *data_size ||
        expected > *data_size - static_cast<uint64_t>(proto.offset())) {
      return data_loss(data_path, absl::StrCat("cut short: tensor '", name, "' needs bytes up to ",
                                               static_cast<uint64_t>(proto.offset()) + expected, " of ", *data_size));
    }
    entries.push_back({StoredTensor{name, *dtype, *shape}, static_cast<uint64_t>(proto.offset()), expected,
                       proto.crc32c()});
  }
  return std::make_unique<TensorBundleReader>(data_path, std::move(entries));
}

}  // namespace scopeflow::checkpoint
