#pragma once
// TFRecord framing, the container format of TensorBoard events files.

#include <string>
#include <string_view>

namespace scopeflow::io {

/// One record: payload length (uint64 LE), masked CRC32C of those 8 bytes (uint32 LE), the
/// payload, masked CRC32C of the payload (uint32 LE). Its size is payload.size() + 16.
std::string frame_record(std::string_view payload);

/// Appends frame_record(payload) to *out.
void append_record(std::string* out, std::string_view payload);

}  // namespace scopeflow::io
