#pragma once
// Durable file writes for checkpoints: a temporary name in the target's folder, fsync, rename,
// fsync of the folder. Neither TensorFlow's Saver nor safetensors fsyncs; without it a power
// loss can leave a renamed file that is empty or short.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace scopeflow::checkpoint {

/// The marker in temporary file names: "<final name>.scopeflow-tmp-<pid>-<n>".
inline constexpr char kTempMarker[] = ".scopeflow-tmp-";

/// A file written under a temporary name and published by commit(); destroyed uncommitted, the
/// temporary file is removed (so a failed save leaves nothing behind).
class AtomicFile {
 public:
  /// Opens "<path>.scopeflow-tmp-..." for writing.
  static absl::StatusOr<AtomicFile> create(const std::string& path);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  ~AtomicFile();

  /// Appends bytes; a short write (disk full) is an error naming the file.
  absl::Status append(absl::string_view bytes);
  /// fsync, rename over the final path, fsync of the folder.
  absl::Status commit();
  const std::string& path() const { return path_; }

 private:
  AtomicFile(std::string path, std::string temp_path, int fd)
      : path_(std::move(path)), temp_path_(std::move(temp_path)), fd_(fd) {}
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  int64_t written_ = 0;
};

/// Writes `bytes` to `path` through an AtomicFile.
absl::Status write_file_atomically(const std::string& path, absl::string_view bytes);

/// The whole file; NotFound when it does not exist.
absl::StatusOr<std::string> read_file(const std::string& path);

/// Reads `size` bytes at `offset`; an error when the file is shorter.
absl::StatusOr<std::string> read_file_range(const std::string& path, uint64_t offset, uint64_t size);

/// Size of a regular file, NotFound when it does not exist.
absl::StatusOr<uint64_t> file_size(const std::string& path);

/// fsync of a folder, so that renames and deletions in it survive a power loss.
absl::Status sync_directory(const std::string& directory);

/// Test hook: when set, AtomicFile::append asks it before each write and fails with the errno
/// it returns (non-zero), as a full disk (ENOSPC) or an I/O error would. Not thread-safe.
void set_write_failure_for_testing(std::function<int(const std::string& path, int64_t offset)> hook);

}  // namespace scopeflow::checkpoint
