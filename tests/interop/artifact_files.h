#pragma once
// What the interop artifact writers share: tensors as the hex of their raw bytes (exact for
// every dtype, NaN payloads included) and whole-file writes that fail loudly.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "scopeflow/tensor.h"

namespace scopeflow::interop {

inline std::string to_hex(const Tensor& t) {
  static const char* digits = "0123456789abcdef";
  std::string hex;
  const auto* bytes = static_cast<const uint8_t*>(t.raw_data());
  for (size_t i = 0; i < t.byte_size(); ++i) {
    hex.push_back(digits[bytes[i] >> 4]);
    hex.push_back(digits[bytes[i] & 15]);
  }
  return hex;
}

inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace scopeflow::interop
