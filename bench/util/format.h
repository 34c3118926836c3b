#pragma once
// Number, byte and duration formatting for tables and messages.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace scopeflow::bench {

// ---------------------------------------------------------------------------------------------
// Formatting

/// printf-style "%.*f".
inline std::string format_fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

/// 1536 -> "1.5 KiB", 16777216 -> "16 MiB", 100 -> "100 B" (binary units, at most 2 decimals).
inline std::string format_bytes(int64_t bytes) {
  if (bytes < 0) {
    // Negate as unsigned: -INT64_MIN does not fit.
    const uint64_t magnitude = 0 - static_cast<uint64_t>(bytes);
    if (magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return "-8 EiB";
    std::string text = format_bytes(static_cast<int64_t>(magnitude));
    text.insert(text.begin(), '-');  // not "-" + text: GCC 12 warns (-Wrestrict) on the inlined copy
    return text;
  }
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 6) {
    value /= 1024.0;
    ++unit;
  }
  if (unit == 0) return std::to_string(bytes) + " B";
  std::string text = format_fixed(value, 2);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text + " " + kUnits[unit];
}

/// 0.00123 -> "1.23 ms"; picks s, ms, us or ns.
inline std::string format_duration(double seconds) {
  const double magnitude = std::fabs(seconds);
  if (magnitude >= 1.0) return format_fixed(seconds, 3) + " s";
  if (magnitude >= 1e-3) return format_fixed(seconds * 1e3, 3) + " ms";
  if (magnitude >= 1e-6) return format_fixed(seconds * 1e6, 3) + " us";
  return format_fixed(seconds * 1e9, 1) + " ns";
}


/// `text` cut at every `separator` (empty pieces kept).
inline std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t at = text.find(separator, start);
    parts.push_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

}  // namespace scopeflow::bench
