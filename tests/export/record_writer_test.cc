// TFRecord framing: the facts sheet's worked examples A and B, byte for byte.
#include "export/record_writer.h"

#include <gtest/gtest.h>

#include <string>

#include "export/crc32c.h"
#include "proto/event.pb.h"

namespace scopeflow::io {
namespace {

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string to_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

TEST(RecordWriter, WorkedExampleAFileVersion) {
  tfproto::Event event;
  event.set_wall_time(1700000000.0);
  event.set_file_version("brain.Event:2");
  const std::string payload = event.SerializeAsString();
  EXPECT_EQ(to_hex(payload), "0900000040fc54d9411a0d627261696e2e4576656e743a32");
  EXPECT_EQ(crc32c(payload.data(), payload.size()), 0x818a7d86u);
  const std::string expected =
      "1800000000000000" "a37f4b22" "0900000040fc54d9411a0d627261696e2e4576656e743a32" "eced8f9d";
  const std::string framed = frame_record(payload);
  EXPECT_EQ(framed.size(), 40u);
  EXPECT_EQ(to_hex(framed), expected);
  EXPECT_EQ(framed, from_hex(expected));
}

TEST(RecordWriter, WorkedExampleBLegacyScalar) {
  tfproto::Event event;
  event.set_wall_time(1700000000.5);
  event.set_step(1);
  tfproto::Summary::Value* value = event.mutable_summary()->add_value();
  value->set_tag("loss");
  value->set_simple_value(0.5f);
  const std::string payload = event.SerializeAsString();
  const std::string payload_hex =
      "0900002040fc54d941" "1001" "2a0d" "0a0b" "0a046c6f7373" "150000003f";
  EXPECT_EQ(to_hex(payload), payload_hex);
  EXPECT_EQ(payload.size(), 26u);
  EXPECT_EQ(to_hex(frame_record(payload)), "1a00000000000000" "129bd82d" + payload_hex + "34c2793e");
}

TEST(RecordWriter, EmptyPayloadAndAppend) {
  // Length 0: 8 zero bytes, their masked CRC, no payload, masked CRC of nothing (0xa282ead8).
  const std::string zeros(8, '\0');
  const uint32_t length_crc = mask_crc32c(crc32c(zeros.data(), zeros.size()));
  std::string expected = zeros;
  for (int i = 0; i < 4; ++i) expected.push_back(static_cast<char>((length_crc >> (8 * i)) & 0xFF));
  expected += from_hex("d8ea82a2");
  EXPECT_EQ(frame_record(""), expected);

  std::string both;
  append_record(&both, "a");
  append_record(&both, "");
  EXPECT_EQ(both, frame_record("a") + frame_record(""));
}

}  // namespace
}  // namespace scopeflow::io
