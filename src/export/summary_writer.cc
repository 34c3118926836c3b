// SummaryWriter: builds Event messages and hands them, serialized, to an EventsWriter.
#include "scopeflow/summary.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "export/events_writer.h"
#include "proto/event.pb.h"
#include "proto/summary.pb.h"
#include "scopeflow/error.h"

namespace scopeflow {
namespace {

// TensorFlow's default histogram bucket limits (histogram.cc, InitDefaultBuckets): positive
// limits from 1e-12 growing by 10% while below 1e20, then DBL_MAX; the negatives mirrored;
// 0 in the middle. 1551 limits, ascending.
const std::vector<double>& default_bucket_limits() {
  static const std::vector<double> limits = [] {
    std::vector<double> positive;
    for (double v = 1.0e-12; v < 1.0e20; v *= 1.1) positive.push_back(v);
    positive.push_back(DBL_MAX);
    std::vector<double> all;
    all.reserve(2 * positive.size() + 1);
    for (auto it = positive.rbegin(); it != positive.rend(); ++it) all.push_back(-*it);
    all.push_back(0.0);
    all.insert(all.end(), positive.begin(), positive.end());
    return all;
  }();
  return limits;
}

// Fills `out` as TensorFlow's Histogram::Add + EncodeToProto(preserve_zero_buckets=false):
// a value goes to the first bucket whose limit is greater than it, and each run of empty
// buckets becomes one empty bucket ending at the run's last limit (so the bucket before a
// non-empty one keeps the left edge). An empty input gives min = max = 0 and one empty bucket.
void fill_histogram(std::span<const float> values, tfproto::HistogramProto* out) {
  const std::vector<double>& limits = default_bucket_limits();
  std::vector<double> counts(limits.size(), 0.0);
  double min = DBL_MAX, max = -DBL_MAX, sum = 0.0, sum_squares = 0.0;
  for (float f : values) {
    const double v = f;
    auto b = static_cast<size_t>(std::upper_bound(limits.begin(), limits.end(), v) - limits.begin());
    counts[std::min(b, limits.size() - 1)] += 1.0;  // v == DBL_MAX would fall past the end
    min = std::min(min, v);
    max = std::max(max, v);
    sum += v;
    sum_squares += v * v;
  }
  if (values.empty()) min = max = 0.0;
  out->set_min(min);
  out->set_max(max);
  out->set_num(static_cast<double>(values.size()));
  out->set_sum(sum);
  out->set_sum_squares(sum_squares);
  for (size_t i = 0; i < counts.size();) {
    double end = limits[i];
    const double count = counts[i];
    ++i;
    if (count <= 0.0) {
      while (i < counts.size() && counts[i] <= 0.0) end = limits[i++];
    }
    out->add_bucket_limit(end);
    out->add_bucket(count);
  }
}

std::string to_string(std::string_view s) { return std::string(s.data(), s.size()); }

}  // namespace

SummaryWriter::SummaryWriter(std::unique_ptr<io::EventsWriter> events) : events_(std::move(events)) {}

SummaryWriter::~SummaryWriter() = default;  // ~EventsWriter closes and never throws

absl::StatusOr<std::unique_ptr<SummaryWriter>> SummaryWriter::create(std::string logdir,
                                                                     SummaryWriterOptions options) {
  if (options.max_queue < 0) {
    throw_invalid("SummaryWriter", "max_queue must be >= 0, got ", options.max_queue);
  }
  if (!(options.flush_secs >= 0.0)) {
    throw_invalid("SummaryWriter", "flush_secs must be >= 0, got ", options.flush_secs);
  }
  io::EventsWriterOptions events_options;
  events_options.max_queue = options.max_queue;
  events_options.flush_secs = options.flush_secs;
  events_options.filename_suffix = std::move(options.filename_suffix);
  absl::StatusOr<std::unique_ptr<io::EventsWriter>> events =
      io::EventsWriter::create(logdir, std::move(events_options));
  if (!events.ok()) return events.status();
  return std::unique_ptr<SummaryWriter>(new SummaryWriter(*std::move(events)));
}

absl::Status SummaryWriter::write(std::string serialized_event) {
  return events_->write_event(std::move(serialized_event));
}

absl::Status SummaryWriter::add_graph(const Graph& graph, const GraphDefOptions& options) {
  return add_graph_def(graph_def_bytes(graph, options));
}

absl::Status SummaryWriter::add_graph_def(std::string serialized_graph_def) {
  tfproto::Event event;
  event.set_wall_time(io::wall_time_now());
  event.set_step(0);
  event.set_graph_def(std::move(serialized_graph_def));
  return write(event.SerializeAsString());
}

absl::Status SummaryWriter::add_scalar(std::string_view tag, double value, int64_t step) {
  tfproto::Event event;
  event.set_wall_time(io::wall_time_now());
  event.set_step(step);
  tfproto::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(to_string(tag));
  v->set_simple_value(static_cast<float>(value));
  return write(event.SerializeAsString());
}

absl::Status SummaryWriter::add_histogram(std::string_view tag, std::span<const float> values,
                                          int64_t step) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("[SummaryWriter::add_histogram] non-finite value ", values[i],
                       " at index ", i, " in histogram '", to_absl(tag), "'"));
    }
  }
  tfproto::Event event;
  event.set_wall_time(io::wall_time_now());
  event.set_step(step);
  tfproto::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(to_string(tag));
  fill_histogram(values, v->mutable_histo());
  return write(event.SerializeAsString());
}

absl::Status SummaryWriter::add_histogram(std::string_view tag, const Tensor& values, int64_t step) {
  if (!values.defined()) throw_invalid("SummaryWriter::add_histogram", "tensor is undefined");
  if (values.dtype() != DType::kFloat32) {
    throw_invalid("SummaryWriter::add_histogram", "needs a float32 tensor, got ",
                  values.description());
  }
  if (values.device().type != DeviceType::kCpu) {
    throw_invalid("SummaryWriter::add_histogram", "needs a host tensor, got one on ",
                  values.device().to_string());
  }
  const float* data = values.data<float>();
  return add_histogram(tag, std::span<const float>(data, static_cast<size_t>(values.num_elements())),
                       step);
}

absl::Status SummaryWriter::add_text(std::string_view tag, std::string_view text, int64_t step) {
  tfproto::Event event;
  event.set_wall_time(io::wall_time_now());
  event.set_step(step);
  tfproto::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(to_string(tag));
  tfproto::SummaryMetadata* metadata = v->mutable_metadata();
  metadata->mutable_plugin_data()->set_plugin_name("text");
  metadata->set_data_class(tfproto::DATA_CLASS_TENSOR);
  tfproto::TensorProto* tensor = v->mutable_tensor();
  tensor->set_dtype(tfproto::DT_STRING);
  tensor->mutable_tensor_shape();  // rank 0: present, no dims
  tensor->add_string_val(to_string(text));
  return write(event.SerializeAsString());
}

absl::Status SummaryWriter::add_run_metadata(std::string_view tag, const RunStats& stats,
                                             int64_t step) {
  tfproto::Event event;
  event.set_wall_time(io::wall_time_now());
  event.set_step(step);
  tfproto::TaggedRunMetadata* tagged = event.mutable_tagged_run_metadata();
  tagged->set_tag(to_string(tag));
  tagged->set_run_metadata(run_metadata_bytes(stats));
  return write(event.SerializeAsString());
}

absl::Status SummaryWriter::flush() { return events_->flush(); }

absl::Status SummaryWriter::close() { return events_->close(); }

const std::string& SummaryWriter::path() const { return events_->path(); }

}  // namespace scopeflow
