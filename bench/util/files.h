#pragma once
// Writing a report file, with the reason when it fails.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace scopeflow::bench {

// ---------------------------------------------------------------------------------------------
// Files

/// Writes `contents` to `path` (replacing it). On failure returns false and sets *error.
inline bool write_file(const std::string& path, std::string_view contents, std::string* error) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    if (error != nullptr) *error = path + ": " + std::strerror(errno);
    return false;
  }
  const size_t written = std::fwrite(contents.data(), 1, contents.size(), file);
  const int write_errno = errno;
  const bool closed = std::fclose(file) == 0;
  if (written != contents.size() || !closed) {
    if (error != nullptr) {
      *error = path + ": " + std::strerror(written != contents.size() ? write_errno : errno);
    }
    return false;
  }
  return true;
}

}  // namespace scopeflow::bench
