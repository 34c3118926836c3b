#pragma once
// An append-only TensorBoard events file: a sequence of TFRecord-framed Event messages whose
// first record names the file format version. Used by SummaryWriter.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace scopeflow::io {

struct EventsWriterOptions {
  /// Queued records are written once this many are waiting (0 or 1: write each at once).
  int max_queue = 10;
  /// ... or when this many seconds have passed since the last flush (checked on each write).
  double flush_secs = 120.0;
  /// Appended to the file name.
  std::string filename_suffix{};
  /// Monotonic seconds for the flush_secs policy; empty = std::chrono::steady_clock (tests
  /// inject a fake clock).
  std::function<double()> clock{};
};

/// The value of Event.file_version in the first record.
inline constexpr std::string_view kEventsFileVersion = "brain.Event:2";

/// Seconds since the Unix epoch, with sub-second precision (Event.wall_time).
double wall_time_now();

class EventsWriter {
 public:
  /// Creates `logdir` (like mkdir -p) and a new file in it named
  /// events.out.tfevents.<10-digit seconds>.<hostname>.<pid>.<per-process counter><suffix>,
  /// created exclusively (never an existing file), then writes and syncs the first record
  /// Event{wall_time, file_version: "brain.Event:2"}. Failures name the path and the reason.
  static absl::StatusOr<std::unique_ptr<EventsWriter>> create(const std::string& logdir,
                                                              EventsWriterOptions options = {});

  /// For tests: appends to an existing file or device (e.g. /dev/full) without creating it,
  /// starting with the first record as create() does.
  static absl::StatusOr<std::unique_ptr<EventsWriter>> open_existing(
      const std::string& path, EventsWriterOptions options = {});

  ~EventsWriter();  // closes; never throws
  EventsWriter(const EventsWriter&) = delete;
  EventsWriter& operator=(const EventsWriter&) = delete;

  /// Queues one serialized Event; writes the queue when the flush policy says so.
  absl::Status write_event(std::string serialized_event);
  /// Writes every queued record and fsyncs the file.
  absl::Status flush();
  /// Flushes and closes the file. Idempotent: later calls return the first call's status.
  absl::Status close();

  const std::string& path() const { return path_; }
  /// Records queued and not yet written.
  size_t queued() const;
  /// Records written to the file so far (including the first one).
  int64_t records_written() const;

 private:
  EventsWriter(int fd, std::string path, EventsWriterOptions options);
  static absl::StatusOr<std::unique_ptr<EventsWriter>> start(int fd, std::string path,
                                                             EventsWriterOptions options);
  double now() const;
  absl::Status flush_locked();
  absl::Status fail_locked(absl::Status status);

  mutable std::mutex mu_;
  int fd_;
  std::string path_;
  EventsWriterOptions options_;
  std::vector<std::string> queue_;  // serialized Events, not yet framed
  double last_flush_ = 0.0;
  int64_t records_written_ = 0;
  absl::Status error_;   // sticky: after a failed write nothing more is appended
  bool closed_ = false;
  absl::Status close_status_;
};

}  // namespace scopeflow::io
