// Events file output with POSIX calls, so that every failure (open, short write, ENOSPC,
// fsync) is seen and returned as a status naming the file.
#include "export/events_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/strings.h"
#include "export/record_writer.h"
#include "proto/event.pb.h"

namespace scopeflow::io {
namespace {

// Per-process part of the file name: two writers created in the same second differ in it.
std::atomic<uint64_t> g_file_counter{0};

absl::Status errno_status(int err, std::string_view what, std::string_view path) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat(to_absl(what), " ", to_absl(path), ": ", std::strerror(err)));
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return std::string(buf);
}

absl::Status make_directories(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::Status(absl::ErrnoToStatusCode(ec.value()),
                        absl::StrCat("cannot create directory ", dir, ": ", ec.message()));
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create directory ", dir, ": not a directory"));
  }
  return absl::OkStatus();
}

// Writes all n bytes, continuing after partial writes and EINTR.
absl::Status write_all(int fd, const char* p, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno_status(errno, "cannot write to", path);
    }
    if (w == 0) return absl::InternalError(absl::StrCat("cannot write to ", path, ": wrote 0 bytes"));
    p += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

std::string serialized_file_version_event(double wall_time) {
  tfproto::Event event;
  event.set_wall_time(wall_time);
  event.set_file_version(std::string(kEventsFileVersion));
  return event.SerializeAsString();
}

}  // namespace

double wall_time_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

EventsWriter::EventsWriter(int fd, std::string path, EventsWriterOptions options)
    : fd_(fd), path_(std::move(path)), options_(std::move(options)) {
  last_flush_ = now();
}

EventsWriter::~EventsWriter() {
  bool had_error = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    had_error = !error_.ok();
  }
  const absl::Status status = close();
  // A failure first seen here cannot be returned; say so rather than lose data silently.
  if (!status.ok() && !had_error) {
    std::fprintf(stderr, "scopeflow: closing events file failed: %s\n", status.ToString().c_str());
  }
}

double EventsWriter::now() const {
  if (options_.clock) return options_.clock();
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

absl::StatusOr<std::unique_ptr<EventsWriter>> EventsWriter::create(const std::string& logdir,
                                                                   EventsWriterOptions options) {
  const std::string dir = logdir.empty() ? std::string(".") : logdir;
  if (absl::Status s = make_directories(dir); !s.ok()) return s;
  const double wall_time = wall_time_now();
  const auto seconds = static_cast<long long>(std::floor(wall_time));
  const std::string host = host_name();
  const long long pid = static_cast<long long>(::getpid());
  // A name can only be taken by another writer that chose it first (other process, same pid
  // namespace collision, copied directory): O_EXCL detects that and the next counter is tried.
  constexpr int kMaxAttempts = 1000;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    const uint64_t counter = g_file_counter.fetch_add(1);
    std::string path = absl::StrFormat("%s/events.out.tfevents.%010lld.%s.%lld.%llu%s", dir,
                                       seconds, host, pid, static_cast<unsigned long long>(counter),
                                       options.filename_suffix);
    int fd;
    do {
      fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0666);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      return errno_status(errno, "cannot create events file", path);
    }
    auto writer = std::unique_ptr<EventsWriter>(new EventsWriter(fd, std::move(path), std::move(options)));
    if (absl::Status s = writer->write_event(serialized_file_version_event(wall_time)); !s.ok()) return s;
    if (absl::Status s = writer->flush(); !s.ok()) return s;
    return writer;
  }
  return absl::AlreadyExistsError(absl::StrCat("cannot create an events file in ", dir, ": ",
                                               kMaxAttempts, " candidate names already exist"));
}

absl::StatusOr<std::unique_ptr<EventsWriter>> EventsWriter::open_existing(
    const std::string& path, EventsWriterOptions options) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno_status(errno, "cannot open events file", path);
  auto writer = std::unique_ptr<EventsWriter>(new EventsWriter(fd, path, std::move(options)));
  if (absl::Status s = writer->write_event(serialized_file_version_event(wall_time_now())); !s.ok()) {
    return s;
  }
  if (absl::Status s = writer->flush(); !s.ok()) return s;
  return writer;
}

absl::Status EventsWriter::write_event(std::string serialized_event) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return absl::FailedPreconditionError(absl::StrCat("events file ", path_, " is closed"));
  if (!error_.ok()) return error_;
  queue_.push_back(std::move(serialized_event));
  const size_t max_queue = static_cast<size_t>(std::max(options_.max_queue, 1));
  if (queue_.size() >= max_queue || now() - last_flush_ >= options_.flush_secs) return flush_locked();
  return absl::OkStatus();
}

absl::Status EventsWriter::flush() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return close_status_;
  return flush_locked();
}

absl::Status EventsWriter::fail_locked(absl::Status status) {
  error_ = status;
  queue_.clear();
  return status;
}

absl::Status EventsWriter::flush_locked() {
  if (!error_.ok()) return error_;
  std::string buffer;
  for (const std::string& event : queue_) append_record(&buffer, event);
  // Whole records in one buffer; after a failure nothing more is appended (sticky error_), so
  // the records before it stay readable and no record follows a torn one.
  if (absl::Status s = write_all(fd_, buffer.data(), buffer.size(), path_); !s.ok()) {
    return fail_locked(std::move(s));
  }
  records_written_ += static_cast<int64_t>(queue_.size());
  queue_.clear();
  last_flush_ = now();
  int rc;
  do {
    rc = ::fsync(fd_);
  } while (rc != 0 && errno == EINTR);
  // EINVAL: the file (a pipe or device) does not support syncing; nothing is lost by skipping it.
  if (rc != 0 && errno != EINVAL) return fail_locked(errno_status(errno, "cannot sync", path_));
  return absl::OkStatus();
}

absl::Status EventsWriter::close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return close_status_;
  absl::Status status = flush_locked();
  // On Linux the descriptor is released even when close reports EINTR, so it is not retried.
  if (::close(fd_) != 0 && errno != EINTR && status.ok()) {
    status = errno_status(errno, "cannot close", path_);
  }
  fd_ = -1;
  closed_ = true;
  close_status_ = status;
  return status;
}

size_t EventsWriter::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

int64_t EventsWriter::records_written() const {
  std::lock_guard<std::mutex> lock(mu_);
  return records_written_;
}

}  // namespace scopeflow::io
