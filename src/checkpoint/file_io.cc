#include "checkpoint/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"

namespace scopeflow::checkpoint {

namespace {

std::function<int(const std::string&, int64_t)>& write_failure_hook() {
  static std::function<int(const std::string&, int64_t)> hook;
  return hook;
}

absl::Status errno_status(int error, absl::string_view what, const std::string& path) {
  const absl::StatusCode code = error == ENOENT ? absl::StatusCode::kNotFound
                                : error == ENOSPC || error == EDQUOT ? absl::StatusCode::kResourceExhausted
                                : error == EACCES || error == EPERM || error == EROFS
                                    ? absl::StatusCode::kPermissionDenied
                                    : absl::StatusCode::kInternal;
  return absl::Status(code, absl::StrCat("[checkpoint] ", what, " ", path, ": ", std::strerror(error)));
}

std::string parent_directory(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? std::string(".") : parent;
}

}  // namespace

void set_write_failure_for_testing(std::function<int(const std::string&, int64_t)> hook) {
  write_failure_hook() = std::move(hook);
}

absl::StatusOr<AtomicFile> AtomicFile::create(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  const std::string temp_path = absl::StrCat(path, kTempMarker, ::getpid(), "-", counter.fetch_add(1));
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status(errno, "cannot create", temp_path);
  return AtomicFile(path, temp_path, fd);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)), temp_path_(std::move(other.temp_path_)), fd_(std::exchange(other.fd_, -1)),
      written_(other.written_) {
  other.temp_path_.clear();
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
}

absl::Status AtomicFile::append(absl::string_view bytes) {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat("[checkpoint] ", path_, " is closed"));
  while (!bytes.empty()) {
    if (const auto& hook = write_failure_hook(); hook) {
      if (const int error = hook(path_, written_); error != 0) return errno_status(error, "cannot write", temp_path_);
    }
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status(errno, "cannot write", temp_path_);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    written_ += n;
  }
  return absl::OkStatus();
}

absl::Status AtomicFile::commit() {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat("[checkpoint] ", path_, " is closed"));
  if (::fsync(fd_) != 0) return errno_status(errno, "cannot fsync", temp_path_);
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return errno_status(errno, "cannot close", temp_path_);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) return errno_status(errno, "cannot rename to", path_);
  temp_path_.clear();
  return sync_directory(parent_directory(path_));
}

absl::Status write_file_atomically(const std::string& path, absl::string_view bytes) {
  absl::StatusOr<AtomicFile> file = AtomicFile::create(path);
  if (!file.ok()) return file.status();
  if (absl::Status s = file->append(bytes); !s.ok()) return s;
  return file->commit();
}

absl::Status sync_directory(const std::string& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_status(errno, "cannot open folder", directory);
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (result != 0) return errno_status(error, "cannot fsync folder", directory);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> file_size(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return errno_status(errno, "cannot open", path);
  if (!S_ISREG(info.st_mode)) return absl::InvalidArgumentError(absl::StrCat("[checkpoint] ", path, " is not a file"));
  return static_cast<uint64_t>(info.st_size);
}

absl::StatusOr<std::string> read_file_range(const std::string& path, uint64_t offset, uint64_t size) {
  absl::StatusOr<uint64_t> total = file_size(path);
  if (!total.ok()) return total.status();
  if (offset > *total || size > *total - offset) {
    return absl::DataLossError(absl::StrCat("[checkpoint] ", path, " is cut short: ", *total, " bytes, but ",
                                            size, " are needed at offset ", offset));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status(errno, "cannot open", path);
  std::string bytes(static_cast<size_t>(size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : 0;
      ::close(fd);
      if (error != 0) return errno_status(error, "cannot read", path);
      return absl::DataLossError(absl::StrCat("[checkpoint] ", path, " ended while reading"));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return bytes;
}

absl::StatusOr<std::string> read_file(const std::string& path) {
  absl::StatusOr<uint64_t> total = file_size(path);
  if (!total.ok()) return total.status();
  return read_file_range(path, 0, *total);
}

}  // namespace scopeflow::checkpoint
