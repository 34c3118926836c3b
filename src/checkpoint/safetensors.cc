#include "checkpoint/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "checkpoint/file_io.h"

namespace scopeflow::checkpoint {

namespace {

constexpr absl::string_view kMetadataKey = "__metadata__";

// safetensors' dtype names of the dtypes a variable can hold.
const char* safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "F32";
    case DType::kInt32: return "I32";
    case DType::kInt64: return "I64";
    case DType::kBool: return "BOOL";
    case DType::kFloat64: return "F64";
    case DType::kFloat16: return "F16";
    case DType::kBFloat16: return "BF16";
    case DType::kInt8: return "I8";
    case DType::kUInt8: return "U8";
    case DType::kInt16: return "I16";
    case DType::kUInt16: return "U16";
  }
  return "";
}

std::optional<DType> dtype_from_safetensors(absl::string_view name) {
  for (DType dtype : kAllDTypes) {
    if (name == safetensors_dtype(dtype)) return dtype;
  }
  return std::nullopt;
}

absl::Status bad_file(const std::string& path, absl::string_view problem) {
  return absl::DataLossError(absl::StrCat("[checkpoint] ", path, " is not a valid safetensors file: ", problem));
}

struct SafetensorsEntry {
  StoredTensor info;
  uint64_t begin = 0;  // file offsets
  uint64_t end = 0;
};

class SafetensorsReader final : public IndexedCheckpointReader<SafetensorsEntry> {
 public:
  using Entry = SafetensorsEntry;
  using IndexedCheckpointReader::IndexedCheckpointReader;

  absl::StatusOr<Tensor> read(absl::string_view name) const override {
    absl::StatusOr<const Entry*> entry = find(name);
    if (!entry.ok()) return entry.status();
    absl::StatusOr<std::string> bytes = read_file_range(path(), (*entry)->begin, (*entry)->end - (*entry)->begin);
    if (!bytes.ok()) return bytes.status();
    return tensor_of((*entry)->info, *bytes);
  }
};

}  // namespace

namespace {

// The length and header bytes, and the order in which the tensors' bytes follow them.
struct SafetensorsLayout {
  std::string length_and_header;
  std::vector<const NamedTensor*> order;
};

absl::StatusOr<SafetensorsLayout> layout_safetensors(const std::vector<NamedTensor>& tensors,
                                                     const std::map<std::string, std::string>& metadata) {
  SafetensorsLayout layout;
  for (const NamedTensor& t : tensors) layout.order.push_back(&t);
  // As the reference writer: larger elements first, so each tensor stays aligned to its size.
  std::sort(layout.order.begin(), layout.order.end(), [](const NamedTensor* a, const NamedTensor* b) {
    const size_t size_a = dtype_size(a->value.dtype()), size_b = dtype_size(b->value.dtype());
    return size_a != size_b ? size_a > size_b : a->name < b->name;
  });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header[std::string(kMetadataKey)] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const NamedTensor* t : layout.order) {
    if (t->name.empty() || t->name == kMetadataKey) {
      return absl::InvalidArgumentError(absl::StrCat("[checkpoint] '", t->name, "' cannot name a safetensors tensor"));
    }
    if (header.contains(t->name)) {
      return absl::InvalidArgumentError(absl::StrCat("[checkpoint] tensor name '", t->name, "' appears twice"));
    }
    const uint64_t end = offset + t->value.byte_size();
    header[t->name] = {{"dtype", safetensors_dtype(t->value.dtype())},
                       {"shape", t->value.shape().dims()},
                       {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string json = header.dump();
  json.resize((json.size() + 7) / 8 * 8, ' ');
  const uint64_t header_size = json.size();
  layout.length_and_header.assign(8, '\0');
  for (int i = 0; i < 8; ++i) {
    layout.length_and_header[static_cast<size_t>(i)] = static_cast<char>((header_size >> (8 * i)) & 0xff);
  }
  layout.length_and_header += json;
  return layout;
}

absl::string_view bytes_of(const Tensor& t) {
  return absl::string_view(static_cast<const char*>(t.raw_data()), t.byte_size());
}

}  // namespace

absl::StatusOr<std::string> encode_safetensors(const std::vector<NamedTensor>& tensors,
                                               const std::map<std::string, std::string>& metadata) {
  absl::StatusOr<SafetensorsLayout> layout = layout_safetensors(tensors, metadata);
  if (!layout.ok()) return layout.status();
  std::string file = std::move(layout->length_and_header);
  for (const NamedTensor* t : layout->order) file.append(bytes_of(t->value).data(), t->value.byte_size());
  return file;
}

absl::Status write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  absl::StatusOr<SafetensorsLayout> layout = layout_safetensors(tensors, metadata);
  if (!layout.ok()) return layout.status();
  // Streamed tensor by tensor: no second copy of the variables in memory.
  absl::StatusOr<AtomicFile> file = AtomicFile::create(path);
  if (!file.ok()) return file.status();
  if (absl::Status s = file->append(layout->length_and_header); !s.ok()) return s;
  for (const NamedTensor* t : layout->order) {
    if (absl::Status s = file->append(bytes_of(t->value)); !s.ok()) return s;
  }
  return file->commit();
}

absl::StatusOr<std::unique_ptr<CheckpointReader>> open_safetensors(const std::string& path) {
  absl::StatusOr<uint64_t> size = file_size(path);
  if (!size.ok()) return size.status();
  if (*size < 8) return bad_file(path, absl::StrCat("only ", *size, " bytes, shorter than the header length"));
  absl::StatusOr<std::string> length_bytes = read_file_range(path, 0, 8);
  if (!length_bytes.ok()) return length_bytes.status();
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<uint8_t>((*length_bytes)[static_cast<size_t>(i)]);
  if (header_size > kSafetensorsMaxHeaderSize) {
    return bad_file(path, absl::StrCat("header length ", header_size, " exceeds the limit of ", kSafetensorsMaxHeaderSize));
  }
  if (header_size > *size - 8) {
    return bad_file(path, absl::StrCat("the header claims ", header_size, " bytes, but the file holds only ", *size - 8,
                                       " after the length"));
  }
  absl::StatusOr<std::string> header_bytes = read_file_range(path, 8, header_size);
  if (!header_bytes.ok()) return header_bytes.status();
  // nlohmann keeps the last of duplicate keys; safetensors refuses them, and so do we.
  std::set<std::string> top_level_keys;
  std::string duplicate;
  const auto note_duplicates = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string() &&
        !top_level_keys.insert(parsed.get<std::string>()).second && duplicate.empty()) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  const nlohmann::json header = nlohmann::json::parse(*header_bytes, note_duplicates, /*allow_exceptions=*/false);
  if (header.is_discarded()) return bad_file(path, "the header is not valid JSON");
  if (!duplicate.empty()) return bad_file(path, absl::StrCat("the header names '", duplicate, "' twice"));
  if (!header.is_object()) return bad_file(path, "the header is not a JSON object");

  const uint64_t data_start = 8 + header_size;
  const uint64_t data_size = *size - data_start;
  std::map<std::string, std::string> metadata;
  std::vector<SafetensorsReader::Entry> entries;
  for (const auto& [name, info] : header.items()) {
    if (name == kMetadataKey) {
      if (!info.is_object()) return bad_file(path, "__metadata__ is not an object");
      for (const auto& [key, value] : info.items()) {
        if (!value.is_string()) return bad_file(path, absl::StrCat("metadata '", key, "' is not a string"));
        metadata.emplace(key, value.get<std::string>());
      }
      continue;
    }
    const std::string what = absl::StrCat("tensor '", name, "'");
    if (!info.is_object() || !info.contains("dtype") || !info["dtype"].is_string() || !info.contains("shape") ||
        !info["shape"].is_array() || !info.contains("data_offsets") || !info["data_offsets"].is_array() ||
        info["data_offsets"].size() != 2) {
      return bad_file(path, absl::StrCat(what, " lacks a string dtype, a shape list or two data_offsets"));
    }
    const std::string dtype_string = info["dtype"].get<std::string>();
    const std::optional<DType> dtype = dtype_from_safetensors(dtype_string);
    if (!dtype) {
      return absl::UnimplementedError(absl::StrCat("[checkpoint] ", path, ": ", what, " has dtype ", dtype_string,
                                                   ", which no scopeflow variable holds"));
    }
    std::vector<int64_t> dims;
    for (const auto& dim : info["shape"]) {
      if (!dim.is_number_unsigned()) return bad_file(path, absl::StrCat(what, " has a shape entry that is not a size"));
      const auto value = dim.get<uint64_t>();
      if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return bad_file(path, absl::StrCat(what, " is too large"));
      dims.push_back(static_cast<int64_t>(value));
    }
    absl::StatusOr<Shape> shape = checked_shape(dims, absl::StrCat(path, ": ", what));
    if (!shape.ok()) return shape.status();
    const auto& offsets = info["data_offsets"];
    if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned()) {
      return bad_file(path, absl::StrCat(what, " has data_offsets that are not sizes"));
    }
    const auto begin = offsets[0].get<uint64_t>();
    const auto end = offsets[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      return bad_file(path, absl::StrCat(what, " claims bytes [", begin, ", ", end, ") but the file holds ", data_size,
                                         " bytes of tensor data"));
    }
    const uint64_t numel = static_cast<uint64_t>(shape->num_elements());
    const uint64_t element = dtype_size(*dtype);
    if ((numel != 0 && element > std::numeric_limits<uint64_t>::max() / numel) || end - begin != numel * element) {
      return bad_file(path, absl::StrCat(what, " has ", end - begin, " bytes, but its shape ", shape->to_string(),
                                         " of ", dtype_name(*dtype), " needs ", numel * element));
    }
    entries.push_back({StoredTensor{name, *dtype, *shape}, data_start + begin, data_start + end});
  }
  // As the reference reader: tensors cover the data exactly, without holes or overlaps.
  std::vector<const SafetensorsReader::Entry*> by_offset;
  for (const auto& entry : entries) by_offset.push_back(&entry);
  std::sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t expected = data_start;
  for (const auto* entry : by_offset) {
    if (entry->begin != expected) {
      return bad_file(path, absl::StrCat("tensor '", entry->info.name, "' starts at data offset ", entry->begin - data_start,
                                         ", not where the previous one ends (", expected - data_start, ")"));
    }
    expected = entry->end;
  }
  if (expected != *size) {
    return bad_file(path, absl::StrCat("the tensors cover ", expected - data_start, " of ", data_size,
                                       " data bytes (the file is not fully covered)"));
  }
  return std::make_unique<SafetensorsReader>(path, std::move(entries), std::move(metadata));
}

}  // namespace scopeflow::checkpoint
