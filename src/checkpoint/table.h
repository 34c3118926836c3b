#pragma once
// LevelDB-format tables (leveldb doc/table_format.md), the `.index` file of a TensorFlow V2
// checkpoint: sorted string keys to string values, blocks with masked CRC32C trailers, no
// compression (TensorFlow's BundleWriter never compresses either).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace scopeflow::checkpoint {

/// Footer magic of a LevelDB table.
inline constexpr uint64_t kTableMagic = 0xdb4775248b80fb57ull;
/// Footer size: two block handles padded to 40 bytes, then the magic.
inline constexpr size_t kTableFooterSize = 48;

using TableEntry = std::pair<std::string, std::string>;

/// The table bytes for `entries`, which must be sorted by key (bytewise) without duplicates.
std::string build_table(const std::vector<TableEntry>& entries);

/// Every entry of the table in `bytes` (named `what` in errors). Checks the magic, every block
/// checksum and handle, and that keys strictly increase; never reads outside `bytes`.
absl::StatusOr<std::vector<TableEntry>> parse_table(absl::string_view bytes, absl::string_view what);

}  // namespace scopeflow::checkpoint
