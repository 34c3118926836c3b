#pragma once
// Resident memory of this process, from /proc/self/status.

#include <charconv>
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>

namespace scopeflow::bench {

// ---------------------------------------------------------------------------------------------
// Memory

namespace detail {
// A "Name:   1234 kB" line of /proc/self/status in bytes, or -1.
inline int64_t proc_status_kib_field(std::string_view field) {
  std::ifstream status("/proc/self/status");
  if (!status) return -1;
  std::string line;
  while (std::getline(status, line)) {
    if (line.size() <= field.size() || !line.starts_with(field) || line[field.size()] != ':') continue;
    const char* begin = line.c_str() + field.size() + 1;
    while (*begin == ' ' || *begin == '\t') ++begin;
    int64_t kib = 0;
    const auto [end, error] = std::from_chars(begin, line.c_str() + line.size(), kib);
    if (error != std::errc() || end == begin) return -1;
    return kib * 1024;
  }
  return -1;
}
}  // namespace detail

/// Peak resident set size of this process (VmHWM), or -1 where /proc is not available.
inline int64_t peak_rss_bytes() { return detail::proc_status_kib_field("VmHWM"); }
/// Current resident set size (VmRSS), or -1 where /proc is not available.
inline int64_t current_rss_bytes() { return detail::proc_status_kib_field("VmRSS"); }

}  // namespace scopeflow::bench
