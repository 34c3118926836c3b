#pragma once
// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) and the masking TFRecord files use.
//
// Hand-written because no small Debian dependency offers it: Abseil 20220623 (Debian 12) has no
// absl/crc (added in a later release), and protobuf and zlib only provide other CRCs.

#include <cstddef>
#include <cstdint>

namespace scopeflow::io {

/// CRC32C of n bytes, extending `init` (the CRC of the bytes before them; 0 to start).
/// Uses the SSE4.2 crc32 instruction when the CPU has it, else a table.
uint32_t crc32c(const void* data, size_t n, uint32_t init = 0);

/// The same, always with the table-driven code (the reference for tests).
uint32_t crc32c_software(const void* data, size_t n, uint32_t init = 0);

/// The same with the SSE4.2 instruction; falls back to crc32c_software when the CPU lacks it.
uint32_t crc32c_hardware(const void* data, size_t n, uint32_t init = 0);

/// True when crc32c_hardware (and crc32c) use the SSE4.2 instruction on this CPU.
bool crc32c_hardware_available();

/// TFRecord masking: rotate right by 15 bits, then add 0xa282ead8 (mod 2^32).
constexpr uint32_t mask_crc32c(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

/// Inverse of mask_crc32c.
constexpr uint32_t unmask_crc32c(uint32_t masked) {
  const uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace scopeflow::io
