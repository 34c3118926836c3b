#pragma once
// Test helper: reads a TFRecord file back, checking both masked CRC32Cs of every record with
// an independent bit-by-bit CRC (not the code under test).

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "proto/event.pb.h"

namespace scopeflow::test {

/// CRC32C computed one bit at a time, straight from the definition.
inline uint32_t reference_crc32c(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : bytes) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ ((crc & 1u) ? 0x82F63B78u : 0u);
  }
  return crc ^ 0xFFFFFFFFu;
}

inline uint32_t reference_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

/// What read_records found.
struct RecordFile {
  std::vector<std::string> payloads;  // complete records with both CRCs correct
  bool crc_error = false;             // a record had a wrong CRC (reading stopped there)
  size_t trailing_bytes = 0;          // bytes after the last complete record (a torn write)
};

inline uint64_t read_le(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

inline RecordFile read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  RecordFile out;
  size_t at = 0;
  while (data.size() - at >= 12) {
    const uint64_t len = read_le(data, at, 8);
    if (read_le(data, at + 8, 4) != reference_mask(reference_crc32c(data.substr(at, 8)))) {
      out.crc_error = true;
      return out;
    }
    if (data.size() - at - 12 < len + 4) break;
    std::string payload = data.substr(at + 12, len);
    if (read_le(data, at + 12 + len, 4) != reference_mask(reference_crc32c(payload))) {
      out.crc_error = true;
      return out;
    }
    out.payloads.push_back(std::move(payload));
    at += 16 + len;
  }
  out.trailing_bytes = data.size() - at;
  return out;
}

/// The events of a file; records a test failure for a CRC error, a torn record or a payload
/// that does not parse as an Event.
inline std::vector<tfproto::Event> read_events(const std::string& path) {
  const RecordFile file = read_records(path);
  EXPECT_FALSE(file.crc_error) << path;
  EXPECT_EQ(file.trailing_bytes, 0u) << path;
  std::vector<tfproto::Event> events;
  for (const std::string& payload : file.payloads) {
    tfproto::Event event;
    EXPECT_TRUE(event.ParseFromString(payload)) << path;
    events.push_back(std::move(event));
  }
  return events;
}

}  // namespace scopeflow::test
