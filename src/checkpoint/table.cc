#include "checkpoint/table.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "export/crc32c.h"

namespace scopeflow::checkpoint {

namespace {

using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;
using google::protobuf::io::StringOutputStream;

// TensorFlow's table options: 256 KiB blocks, a restart point every 16 keys.
constexpr size_t kBlockSize = 262144;
constexpr int kRestartInterval = 16;
constexpr uint8_t kNoCompression = 0;
constexpr size_t kBlockTrailerSize = 5;  // type byte + masked crc32c

struct BlockHandle {
  uint64_t offset = 0;
  uint64_t size = 0;
};

// Builds one block: prefix-compressed entries, then the restart offsets and their count.
class BlockBuilder {
 public:
  explicit BlockBuilder(int restart_interval) : restart_interval_(restart_interval) {}

  void add(absl::string_view key, absl::string_view value) {
    size_t shared = 0;
    if (entries_since_restart_ < restart_interval_) {
      while (shared < key.size() && shared < last_key_.size() && key[shared] == last_key_[shared]) ++shared;
    } else {
      restarts_.push_back(static_cast<uint32_t>(buffer_.size()));
      entries_since_restart_ = 0;
    }
    {
      StringOutputStream raw(&buffer_);
      CodedOutputStream out(&raw);
      out.WriteVarint32(static_cast<uint32_t>(shared));
      out.WriteVarint32(static_cast<uint32_t>(key.size() - shared));
      out.WriteVarint32(static_cast<uint32_t>(value.size()));
      out.WriteRaw(key.data() + shared, static_cast<int>(key.size() - shared));
      out.WriteRaw(value.data(), static_cast<int>(value.size()));
    }
    last_key_.assign(key.data(), key.size());
    ++entries_since_restart_;
    ++num_entries_;
  }

  size_t estimated_size() const { return buffer_.size() + 4 * (restarts_.size() + 1); }
  bool empty() const { return num_entries_ == 0; }
  const std::string& last_key() const { return last_key_; }

  // The finished contents; the builder starts over.
  std::string finish() {
    std::string contents = std::move(buffer_);
    {
      StringOutputStream raw(&contents);
      CodedOutputStream out(&raw);
      for (uint32_t restart : restarts_) out.WriteLittleEndian32(restart);
      out.WriteLittleEndian32(static_cast<uint32_t>(restarts_.size()));
    }
    buffer_.clear();
    restarts_.assign(1, 0);
    entries_since_restart_ = 0;
    num_entries_ = 0;
    last_key_.clear();
    return contents;
  }

 private:
  int restart_interval_;
  std::string buffer_;
  std::vector<uint32_t> restarts_{0};
  int entries_since_restart_ = 0;
  int num_entries_ = 0;
  std::string last_key_;
};

uint32_t block_checksum(absl::string_view contents, uint8_t type) {
  uint32_t crc = io::crc32c(contents.data(), contents.size());
  crc = io::crc32c(&type, 1, crc);
  return io::mask_crc32c(crc);
}

// Appends contents + trailer to `file` and returns the block's handle.
BlockHandle append_block(std::string& file, const std::string& contents) {
  const BlockHandle handle{file.size(), contents.size()};
  file += contents;
  file.push_back(static_cast<char>(kNoCompression));
  const uint32_t crc = block_checksum(contents, kNoCompression);
  for (int i = 0; i < 4; ++i) file.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return handle;
}

std::string encode_handle(const BlockHandle& handle) {
  std::string bytes;
  {
    StringOutputStream raw(&bytes);
    CodedOutputStream out(&raw);
    out.WriteVarint64(handle.offset);
    out.WriteVarint64(handle.size);
  }
  return bytes;
}

absl::Status corrupt(absl::string_view what, absl::string_view problem) {
  return absl::DataLossError(absl::StrCat("[checkpoint] ", what, " is not a valid table: ", problem));
}

bool decode_handle(CodedInputStream& in, BlockHandle& handle) {
  return in.ReadVarint64(&handle.offset) && in.ReadVarint64(&handle.size);
}

// The verified contents of the block at `handle`.
absl::StatusOr<absl::string_view> read_block(absl::string_view file, const BlockHandle& handle, absl::string_view what) {
  if (handle.offset > file.size() || handle.size > file.size() - handle.offset ||
      kBlockTrailerSize > file.size() - handle.offset - handle.size) {
    return corrupt(what, absl::StrCat("a block (offset ", handle.offset, ", ", handle.size,
                                      " bytes) lies outside the file of ", file.size(), " bytes"));
  }
  const absl::string_view contents = file.substr(handle.offset, handle.size);
  const auto type = static_cast<uint8_t>(file[handle.offset + handle.size]);
  uint32_t stored = 0;
  std::memcpy(&stored, file.data() + handle.offset + handle.size + 1, 4);  // little-endian hosts only
  if (stored != block_checksum(contents, type)) {
    return corrupt(what, absl::StrCat("block checksum mismatch at offset ", handle.offset));
  }
  if (type != kNoCompression) {
    return corrupt(what, absl::StrCat("block at offset ", handle.offset, " is compressed (type ", type,
                                      "); only uncompressed tables are supported"));
  }
  return contents;
}

// Appends the entries of one block, checking that keys increase after `previous_key`.
absl::Status parse_block(absl::string_view block, absl::string_view what, std::vector<TableEntry>& entries) {
  if (block.size() < 4) return corrupt(what, "a block is shorter than its restart count");
  uint32_t num_restarts = 0;
  std::memcpy(&num_restarts, block.data() + block.size() - 4, 4);
  if (num_restarts == 0 || num_restarts > (block.size() - 4) / 4) {
    return corrupt(what, absl::StrCat("a block claims ", num_restarts, " restart points"));
  }
  const size_t data_end = block.size() - 4 - 4 * static_cast<size_t>(num_restarts);
  CodedInputStream in(reinterpret_cast<const uint8_t*>(block.data()), static_cast<int>(data_end));
  std::string key;
  while (in.CurrentPosition() < static_cast<int>(data_end)) {
    uint32_t shared = 0, non_shared = 0, value_size = 0;
    if (!in.ReadVarint32(&shared) || !in.ReadVarint32(&non_shared) || !in.ReadVarint32(&value_size)) {
      return corrupt(what, "an entry header is cut short");
    }
    if (shared > key.size()) return corrupt(what, "an entry shares more of the previous key than it has");
    const size_t left = data_end - static_cast<size_t>(in.CurrentPosition());
    if (non_shared > left || value_size > left - non_shared) return corrupt(what, "an entry runs past its block");
    key.resize(shared);
    std::string suffix, value;
    in.ReadString(&suffix, static_cast<int>(non_shared));
    in.ReadString(&value, static_cast<int>(value_size));
    key += suffix;
    if (!entries.empty() && !(entries.back().first < key)) {
      return corrupt(what, absl::StrCat("keys are not in increasing order at '", key, "'"));
    }
    entries.emplace_back(key, std::move(value));
  }
  return absl::OkStatus();
}

}  // namespace

std::string build_table(const std::vector<TableEntry>& entries) {
  std::string file;
  BlockBuilder data(kRestartInterval);
  BlockBuilder index(1);
  auto flush = [&] {
    const std::string last_key = data.last_key();
    const BlockHandle handle = append_block(file, data.finish());
    index.add(last_key, encode_handle(handle));  // the block's last key separates it from the next
  };
  for (const auto& [key, value] : entries) {
    data.add(key, value);
    if (data.estimated_size() >= kBlockSize) flush();
  }
  if (!data.empty()) flush();
  BlockBuilder metaindex(1);
  const BlockHandle metaindex_handle = append_block(file, metaindex.finish());
  const BlockHandle index_handle = append_block(file, index.finish());
  std::string footer = encode_handle(metaindex_handle) + encode_handle(index_handle);
  footer.resize(kTableFooterSize - 8, '\0');
  for (int i = 0; i < 8; ++i) footer.push_back(static_cast<char>((kTableMagic >> (8 * i)) & 0xff));
  return file + footer;
}

absl::StatusOr<std::vector<TableEntry>> parse_table(absl::string_view bytes, absl::string_view what) {
  if (bytes.size() < kTableFooterSize) {
    return corrupt(what, absl::StrCat("only ", bytes.size(), " bytes, shorter than the 48-byte footer"));
  }
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return corrupt(what, "larger than 2 GiB");
  }
  const absl::string_view footer = bytes.substr(bytes.size() - kTableFooterSize);
  uint64_t magic = 0;
  std::memcpy(&magic, footer.data() + kTableFooterSize - 8, 8);
  if (magic != kTableMagic) return corrupt(what, "bad magic number (not an sstable)");
  CodedInputStream footer_in(reinterpret_cast<const uint8_t*>(footer.data()), kTableFooterSize - 8);
  BlockHandle metaindex_handle, index_handle;
  if (!decode_handle(footer_in, metaindex_handle) || !decode_handle(footer_in, index_handle)) {
    return corrupt(what, "the footer's block handles are malformed");
  }
  const absl::string_view body = bytes.substr(0, bytes.size() - kTableFooterSize);
  // The metaindex is empty in checkpoints, but damage to it is damage to the file.
  absl::StatusOr<absl::string_view> metaindex_block = read_block(body, metaindex_handle, what);
  if (!metaindex_block.ok()) return metaindex_block.status();
  absl::StatusOr<absl::string_view> index_block = read_block(body, index_handle, what);
  if (!index_block.ok()) return index_block.status();
  std::vector<TableEntry> index_entries;
  if (absl::Status s = parse_block(*index_block, what, index_entries); !s.ok()) return s;
  std::vector<TableEntry> entries;
  for (const auto& [separator, handle_bytes] : index_entries) {
    CodedInputStream in(reinterpret_cast<const uint8_t*>(handle_bytes.data()), static_cast<int>(handle_bytes.size()));
    BlockHandle handle;
    if (!decode_handle(in, handle)) return corrupt(what, "an index entry's block handle is malformed");
    absl::StatusOr<absl::string_view> block = read_block(body, handle, what);
    if (!block.ok()) return block.status();
    const size_t before = entries.size();
    if (absl::Status s = parse_block(*block, what, entries); !s.ok()) return s;
    if (entries.size() > before && entries.back().first > separator) {
      return corrupt(what, "a data block holds keys beyond its index entry");
    }
  }
  return entries;
}

}  // namespace scopeflow::checkpoint
