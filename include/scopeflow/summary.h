#pragma once
// SummaryWriter: writes a graph, scalars, histograms, text and run metadata to a TensorBoard
// events file, in the spirit of tf.summary.FileWriter and torch.utils.tensorboard.SummaryWriter.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scopeflow/graph.h"
#include "scopeflow/graph_def.h"
#include "scopeflow/session.h"
#include "scopeflow/tensor.h"

namespace scopeflow {

namespace io {
class EventsWriter;
}  // namespace io

struct SummaryWriterOptions {
  /// Pending records are written once this many are queued (0 or 1: every record at once).
  int max_queue = 10;
  /// ... or when this many seconds have passed since the last write (checked on each add).
  double flush_secs = 120.0;
  /// Appended to the events file name.
  std::string filename_suffix{};
};

/// Appends events to a new file events.out.tfevents.<secs>.<host>.<pid>.<n><suffix> in a log
/// directory (one TensorBoard run). Environment failures (directory, open, write, disk full,
/// fsync) come back as statuses naming the file; after a failed write the writer stops
/// appending, and the records written before stay readable. Thread-safe.
class SummaryWriter {
 public:
  /// Creates `logdir` (and parents) and the events file; writes its first record.
  /// Throws Error for invalid options (negative max_queue or flush_secs).
  static absl::StatusOr<std::unique_ptr<SummaryWriter>> create(std::string logdir,
                                                               SummaryWriterOptions options = {});

  ~SummaryWriter();  // closes; never throws
  SummaryWriter(const SummaryWriter&) = delete;
  SummaryWriter& operator=(const SummaryWriter&) = delete;

  /// The graph as Event.graph_def = graph_def_bytes(graph, options), at step 0.
  absl::Status add_graph(const Graph& graph, const GraphDefOptions& options = {});
  /// A serialized tensorflow.GraphDef as Event.graph_def, at step 0.
  absl::Status add_graph_def(std::string serialized_graph_def);
  /// A scalar as a legacy Summary.Value.simple_value (a float32, as TensorBoard stores it).
  absl::Status add_scalar(std::string_view tag, double value, int64_t step);
  /// A histogram with TensorFlow's default buckets (bucket i counts values v with
  /// limit[i-1] <= v < limit[i]; empty runs of buckets merged as TensorFlow does).
  /// Returns InvalidArgument and writes nothing when a value is NaN or infinite, as
  /// TensorFlow's HistogramSummary op does.
  absl::Status add_histogram(std::string_view tag, std::span<const float> values, int64_t step);
  /// The same for the elements of a float32 host tensor (throws Error for another dtype or a
  /// device tensor).
  absl::Status add_histogram(std::string_view tag, const Tensor& values, int64_t step);
  /// Text for TensorBoard's text plugin (a scalar DT_STRING tensor summary, Markdown allowed).
  absl::Status add_text(std::string_view tag, std::string_view text, int64_t step);
  /// Per-node time and memory of a traced run as Event.tagged_run_metadata{tag,
  /// run_metadata_bytes(stats)}; use one tag per profiled step (e.g. "step_100").
  absl::Status add_run_metadata(std::string_view tag, const RunStats& stats, int64_t step);

  /// Writes every pending record and fsyncs the file.
  absl::Status flush();
  /// Flushes and closes the file; later adds fail. Idempotent (returns the first result).
  absl::Status close();

  /// The events file.
  const std::string& path() const;

 private:
  explicit SummaryWriter(std::unique_ptr<io::EventsWriter> events);
  absl::Status write(std::string serialized_event);

  std::unique_ptr<io::EventsWriter> events_;
};

}  // namespace scopeflow
