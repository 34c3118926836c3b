// CRC32C: the facts-sheet vectors on both the table and the SSE4.2 paths, masking, extension.
#include "export/crc32c.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace scopeflow::io {
namespace {

struct Vector {
  const char* name;
  std::vector<uint8_t> bytes;
  uint32_t crc;
  uint32_t masked;
};

std::vector<Vector> facts_sheet_vectors() {
  std::vector<uint8_t> ascending(32), descending(32);
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<uint8_t>(i);
    descending[i] = static_cast<uint8_t>(31 - i);
  }
  const std::string digits = "123456789";
  return {
      {"123456789", std::vector<uint8_t>(digits.begin(), digits.end()), 0xE3069283u, 0xC78AB0E5u},
      {"32 zeros", std::vector<uint8_t>(32, 0x00), 0x8A9136AAu, 0x0FD7FFFAu},
      {"32 0xFF", std::vector<uint8_t>(32, 0xFF), 0x62A8AB43u, 0xF909B029u},
      {"0..31", ascending, 0x46DD794Eu, 0x951F7892u},
      {"31..0", descending, 0x113FDB5Cu, 0x593B0D57u},
      {"empty", {}, 0x00000000u, 0xA282EAD8u},
  };
}

using CrcFn = uint32_t (*)(const void*, size_t, uint32_t);

void check_vectors(CrcFn fn) {
  for (const Vector& v : facts_sheet_vectors()) {
    SCOPED_TRACE(v.name);
    EXPECT_EQ(fn(v.bytes.data(), v.bytes.size(), 0), v.crc);
    EXPECT_EQ(mask_crc32c(fn(v.bytes.data(), v.bytes.size(), 0)), v.masked);
  }
}

TEST(Crc32c, FactsSheetVectorsSoftware) { check_vectors(&crc32c_software); }

TEST(Crc32c, FactsSheetVectorsHardware) {
  if (!crc32c_hardware_available()) GTEST_SKIP() << "CPU without SSE4.2: hardware path not testable";
  check_vectors(&crc32c_hardware);
}

TEST(Crc32c, FactsSheetVectorsDispatch) { check_vectors(&crc32c); }

TEST(Crc32c, MaskAndUnmask) {
  EXPECT_EQ(mask_crc32c(0x4a65bfe4u), 0x224b7fa3u);  // worked example A, length CRC
  EXPECT_EQ(mask_crc32c(0x818a7d86u), 0x9d8fedecu);  // worked example A, payload CRC
  std::mt19937 rng(7);
  for (uint32_t x : {0u, 1u, 0xFFFFFFFFu, 0x80000000u, 0xa282ead8u}) {
    EXPECT_EQ(unmask_crc32c(mask_crc32c(x)), x);
    EXPECT_EQ(mask_crc32c(unmask_crc32c(x)), x);
  }
  for (int i = 0; i < 1000; ++i) {
    const uint32_t x = rng();
    EXPECT_EQ(unmask_crc32c(mask_crc32c(x)), x);
  }
  static_assert(unmask_crc32c(mask_crc32c(0xE3069283u)) == 0xE3069283u);
}

TEST(Crc32c, ExtendInPiecesEqualsWhole) {
  std::mt19937 rng(42);
  std::vector<uint8_t> data(1000);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (CrcFn fn : {&crc32c_software, &crc32c_hardware, &crc32c}) {
    const uint32_t whole = fn(data.data(), data.size(), 0);
    for (size_t cut : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{500}, size_t{999},
                       size_t{1000}}) {
      const uint32_t first = fn(data.data(), cut, 0);
      EXPECT_EQ(fn(data.data() + cut, data.size() - cut, first), whole) << "cut at " << cut;
    }
    // Many small, unevenly sized pieces.
    uint32_t crc = 0;
    size_t at = 0;
    for (size_t piece = 1; at < data.size(); piece = piece % 13 + 1) {
      const size_t n = std::min(piece, data.size() - at);
      crc = fn(data.data() + at, n, crc);
      at += n;
    }
    EXPECT_EQ(crc, whole);
  }
}

TEST(Crc32c, HardwareMatchesSoftwareOnAllLengthsAndAlignments) {
  std::mt19937 rng(3);
  std::vector<uint8_t> data(300);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t n = 0; n + offset <= data.size(); n += 7) {
      ASSERT_EQ(crc32c_hardware(data.data() + offset, n, 0x12345678u),
                crc32c_software(data.data() + offset, n, 0x12345678u))
          << "offset " << offset << " length " << n;
    }
  }
}

}  // namespace
}  // namespace scopeflow::io
