// CRC32C: a byte-wise table for any CPU and the SSE4.2 crc32 instruction on x86-64.
#include "export/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define SCOPEFLOW_CRC32C_X86 1
#endif

namespace scopeflow::io {
namespace {

constexpr uint32_t kReflectedPoly = 0x82F63B78u;

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? kReflectedPoly : 0u);
    table[i] = crc;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = make_table();
static_assert(kTable[1] == 0xF26B8303u && kTable[128] == 0x82F63B78u);

#ifdef SCOPEFLOW_CRC32C_X86
// Compiled for SSE4.2 regardless of the global -march; only called after the runtime check.
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(const unsigned char* p, size_t n,
                                                       uint32_t crc) {
  uint64_t c = crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof word);  // unaligned load
    c = _mm_crc32_u64(c, word);
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  for (; n > 0; ++p, --n) c32 = _mm_crc32_u8(c32, *p);
  return c32;
}

bool detect_sse42() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") != 0;
}
#endif

}  // namespace

bool crc32c_hardware_available() {
#ifdef SCOPEFLOW_CRC32C_X86
  static const bool available = detect_sse42();
  return available;
#else
  return false;
#endif
}

uint32_t crc32c_software(const void* data, size_t n, uint32_t init) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t crc = init ^ 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) crc = kTable[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t crc32c_hardware(const void* data, size_t n, uint32_t init) {
#ifdef SCOPEFLOW_CRC32C_X86
  if (crc32c_hardware_available()) {
    return crc32c_sse42(static_cast<const unsigned char*>(data), n, init ^ 0xFFFFFFFFu) ^
           0xFFFFFFFFu;
  }
#endif
  return crc32c_software(data, n, init);
}

uint32_t crc32c(const void* data, size_t n, uint32_t init) {
  return crc32c_hardware(data, n, init);
}

}  // namespace scopeflow::io
