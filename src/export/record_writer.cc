// TFRecord framing with explicit little-endian encoding (independent of the host byte order).
#include "export/record_writer.h"

#include <cstdint>

#include "export/crc32c.h"

namespace scopeflow::io {
namespace {

void put_fixed32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

}  // namespace

void append_record(std::string* out, std::string_view payload) {
  const uint64_t length = payload.size();
  char length_bytes[8];
  for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<char>((length >> (8 * i)) & 0xFFu);
  out->reserve(out->size() + payload.size() + 16);
  out->append(length_bytes, sizeof length_bytes);
  put_fixed32(out, mask_crc32c(crc32c(length_bytes, sizeof length_bytes)));
  out->append(payload.data(), payload.size());
  put_fixed32(out, mask_crc32c(crc32c(payload.data(), payload.size())));
}

std::string frame_record(std::string_view payload) {
  std::string out;
  append_record(&out, payload);
  return out;
}

}  // namespace scopeflow::io
