// SummaryWriter: scalars, histograms, text, graphs and run metadata read back from the file.
#include "scopeflow/summary.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "export/events_reader.h"
#include "export/events_writer.h"
#include "google/protobuf/util/message_differencer.h"
#include "proto/event.pb.h"
#include "proto/graph.pb.h"
#include "proto/summary.pb.h"
#include "scopeflow/ops.h"
#include "test_util.h"

namespace scopeflow {
namespace {

using scopeflow::test::read_events;

class SummaryWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "scopeflow_summary_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<SummaryWriter> make_writer() {
    auto writer = SummaryWriter::create(dir_, {.max_queue = 1000});
    EXPECT_TRUE(writer.ok()) << writer.status();
    return writer.ok() ? *std::move(writer) : nullptr;
  }

  // Writes one histogram and returns it as read back from the file.
  tfproto::HistogramProto histogram_of(std::vector<float> values) {
    auto writer = make_writer();
    EXPECT_TRUE(writer->add_histogram("h", values, 3).ok());
    EXPECT_TRUE(writer->close().ok());
    const std::vector<tfproto::Event> events = read_events(writer->path());
    if (events.size() != 2u || events[1].summary().value_size() != 1) {
      ADD_FAILURE() << "expected one histogram event";
      return {};
    }
    EXPECT_EQ(events[1].step(), 3);
    EXPECT_EQ(events[1].summary().value(0).tag(), "h");
    return events[1].summary().value(0).histo();
  }

  std::string dir_;
};

// TensorFlow's default limits, rebuilt here independently of the writer.
std::vector<double> tf_default_limits() {
  std::vector<double> pos;
  for (double v = 1e-12; v < 1e20; v *= 1.1) pos.push_back(v);
  pos.push_back(DBL_MAX);
  std::vector<double> all;
  for (auto it = pos.rbegin(); it != pos.rend(); ++it) all.push_back(-*it);
  all.push_back(0.0);
  all.insert(all.end(), pos.begin(), pos.end());
  return all;
}

size_t index_of(const std::vector<double>& limits, double limit) {
  for (size_t i = 0; i < limits.size(); ++i) {
    if (limits[i] == limit) return i;
  }
  ADD_FAILURE() << "limit " << limit << " is not a default bucket limit";
  return 0;
}

TEST_F(SummaryWriterTest, ScalarsAreLegacySimpleValuesWithInt64Steps) {
  auto writer = make_writer();
  const double before = io::wall_time_now();
  const int64_t big_step = int64_t{1} << 40;
  ASSERT_TRUE(writer->add_scalar("loss", 0.5, 1).ok());
  ASSERT_TRUE(writer->add_scalar("train/accuracy", 0.25, big_step).ok());
  ASSERT_TRUE(writer->add_scalar("loss", -3.0, big_step + 1).ok());
  ASSERT_TRUE(writer->close().ok());

  const std::vector<tfproto::Event> events = read_events(writer->path());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  const struct {
    const char* tag;
    float value;
    int64_t step;
  } expected[] = {{"loss", 0.5f, 1}, {"train/accuracy", 0.25f, big_step}, {"loss", -3.0f, big_step + 1}};
  bool fractional = false;  // sub-second wall times (all three integral is practically impossible)
  for (int i = 0; i < 3; ++i) {
    const tfproto::Event& e = events[i + 1];
    fractional = fractional || e.wall_time() != std::floor(e.wall_time());
    EXPECT_EQ(e.step(), expected[i].step);
    EXPECT_GE(e.wall_time(), before);
    ASSERT_EQ(e.summary().value_size(), 1);
    EXPECT_EQ(e.summary().value(0).tag(), expected[i].tag);
    EXPECT_EQ(e.summary().value(0).value_case(), tfproto::Summary::Value::kSimpleValue);
    EXPECT_EQ(e.summary().value(0).simple_value(), expected[i].value);
  }
  EXPECT_TRUE(fractional);
}

TEST_F(SummaryWriterTest, HistogramStatisticsAreExactOnSmallInputs) {
  const tfproto::HistogramProto h = histogram_of({1.0f, 2.0f, -0.5f, 4.0f});
  EXPECT_EQ(h.min(), -0.5);
  EXPECT_EQ(h.max(), 4.0);
  EXPECT_EQ(h.num(), 4.0);
  EXPECT_EQ(h.sum(), 6.5);
  EXPECT_EQ(h.sum_squares(), 1.0 + 4.0 + 0.25 + 16.0);
  ASSERT_EQ(h.bucket_limit_size(), h.bucket_size());
  double total = 0;
  for (double c : h.bucket()) total += c;
  EXPECT_EQ(total, 4.0);
}

TEST_F(SummaryWriterTest, HistogramBucketsFollowTensorFlow) {
  const std::vector<double> limits = tf_default_limits();
  ASSERT_EQ(limits.size(), 1551u);
  // 1.0 lies strictly inside a bucket; 0.0 is a limit itself and (upper_bound, as in
  // TensorFlow) goes to the bucket to its right, [0, 1e-12).
  const tfproto::HistogramProto h = histogram_of({1.0f, 1.0f, 0.0f});
  const size_t one = static_cast<size_t>(std::upper_bound(limits.begin(), limits.end(), 1.0) - limits.begin());
  ASSERT_GT(limits[one], 1.0);
  ASSERT_LE(limits[one - 1], 1.0);
  const size_t zero = index_of(limits, 0.0) + 1;  // limit 1e-12

  // Compacted: [-DBL_MAX..0] empty, [0, 1e-12) has 1, empty run up to limits[one-1], then 2,
  // then the empty run up to DBL_MAX.
  ASSERT_EQ(h.bucket_limit_size(), 5);
  EXPECT_EQ(h.bucket_limit(0), 0.0);
  EXPECT_EQ(h.bucket(0), 0.0);
  EXPECT_EQ(h.bucket_limit(1), limits[zero]);
  EXPECT_EQ(h.bucket(1), 1.0);
  EXPECT_EQ(h.bucket_limit(2), limits[one - 1]);
  EXPECT_EQ(h.bucket(2), 0.0);
  EXPECT_EQ(h.bucket_limit(3), limits[one]);
  EXPECT_EQ(h.bucket(3), 2.0);
  EXPECT_EQ(h.bucket_limit(4), DBL_MAX);
  EXPECT_EQ(h.bucket(4), 0.0);
}

TEST_F(SummaryWriterTest, HistogramNegativeValuesAndExtremes) {
  const std::vector<double> limits = tf_default_limits();
  const float big = std::numeric_limits<float>::max();
  const tfproto::HistogramProto h = histogram_of({-big, -2.0f, big});
  EXPECT_EQ(h.min(), -static_cast<double>(big));
  EXPECT_EQ(h.max(), static_cast<double>(big));
  EXPECT_EQ(h.sum(), (-static_cast<double>(big) - 2.0) + static_cast<double>(big));  // in order, in double
  double total = 0;
  for (int i = 0; i < h.bucket_size(); ++i) {
    total += h.bucket(i);
    if (i > 0) {
      EXPECT_LT(h.bucket_limit(i - 1), h.bucket_limit(i));
    }
    if (h.bucket(i) > 0) {
      EXPECT_GT(i, 0) << "a non-empty bucket is preceded by an empty one";
    }
  }
  EXPECT_EQ(total, 3.0);
  EXPECT_EQ(h.bucket_limit(h.bucket_limit_size() - 1), DBL_MAX);
}

TEST_F(SummaryWriterTest, EmptyHistogramIsValid) {
  const tfproto::HistogramProto h = histogram_of({});
  EXPECT_EQ(h.num(), 0.0);
  EXPECT_EQ(h.min(), 0.0);
  EXPECT_EQ(h.max(), 0.0);
  EXPECT_EQ(h.sum(), 0.0);
  EXPECT_EQ(h.sum_squares(), 0.0);
  ASSERT_EQ(h.bucket_limit_size(), 1);
  EXPECT_EQ(h.bucket_limit(0), DBL_MAX);
  EXPECT_EQ(h.bucket(0), 0.0);
}

TEST_F(SummaryWriterTest, NonFiniteHistogramValuesAreRejected) {
  auto writer = make_writer();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (const std::vector<float>& values : {std::vector<float>{1.0f, nan}, std::vector<float>{-inf},
                                           std::vector<float>{inf, 2.0f}}) {
    const absl::Status s = writer->add_histogram("weights", values, 1);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find("weights"), absl::string_view::npos) << s;
  }
  ASSERT_TRUE(writer->close().ok());
  EXPECT_EQ(read_events(writer->path()).size(), 1u);  // nothing written
}

TEST_F(SummaryWriterTest, HistogramOfATensor) {
  auto writer = make_writer();
  const Tensor t = Tensor::from_vector<float>(Shape{2, 2}, std::vector<float>{1, 2, 3, 4});
  ASSERT_TRUE(writer->add_histogram("t", t, 5).ok());
  const auto thrown = test::error_of([&] {
    (void)writer->add_histogram("i", Tensor::from_vector<int32_t>(Shape{1}, std::vector<int32_t>{1}), 5);
  });
  EXPECT_EQ(thrown.code, absl::StatusCode::kInvalidArgument);
  EXPECT_NE(thrown.message.find("[SummaryWriter::add_histogram]"), std::string::npos) << thrown.message;
  ASSERT_TRUE(writer->close().ok());
  const std::vector<tfproto::Event> events = read_events(writer->path());
  ASSERT_EQ(events.size(), 2u);
  const tfproto::HistogramProto& h = events[1].summary().value(0).histo();
  EXPECT_EQ(h.num(), 4.0);
  EXPECT_EQ(h.sum(), 10.0);
  EXPECT_EQ(h.sum_squares(), 30.0);
  EXPECT_EQ(h.min(), 1.0);
  EXPECT_EQ(h.max(), 4.0);
}

TEST_F(SummaryWriterTest, TextIsAStringTensorForTheTextPlugin) {
  auto writer = make_writer();
  ASSERT_TRUE(writer->add_text("notes", "**hello** world", int64_t{1} << 40).ok());
  ASSERT_TRUE(writer->close().ok());
  const std::vector<tfproto::Event> events = read_events(writer->path());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].step(), int64_t{1} << 40);
  const tfproto::Summary::Value& v = events[1].summary().value(0);
  EXPECT_EQ(v.tag(), "notes");
  EXPECT_EQ(v.metadata().plugin_data().plugin_name(), "text");
  EXPECT_EQ(v.metadata().data_class(), tfproto::DATA_CLASS_TENSOR);
  ASSERT_EQ(v.value_case(), tfproto::Summary::Value::kTensor);
  EXPECT_EQ(v.tensor().dtype(), tfproto::DT_STRING);
  EXPECT_TRUE(v.tensor().has_tensor_shape());
  EXPECT_EQ(v.tensor().tensor_shape().dim_size(), 0);
  ASSERT_EQ(v.tensor().string_val_size(), 1);
  EXPECT_EQ(v.tensor().string_val(0), "**hello** world");
}

TEST_F(SummaryWriterTest, GraphDefEventAtStepZero) {
  auto writer = make_writer();
  ASSERT_TRUE(writer->add_graph_def(std::string("\x0a\x00", 2)).ok());
  Graph graph;
  const Output x = ops::placeholder(graph, DType::kFloat32, Shape{2, 3}, "x");
  (void)x;
  ASSERT_TRUE(writer->add_graph(graph).ok());
  ASSERT_TRUE(writer->close().ok());
  const std::vector<tfproto::Event> events = read_events(writer->path());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].what_case(), tfproto::Event::kGraphDef);
  EXPECT_EQ(events[1].graph_def(), std::string("\x0a\x00", 2));
  EXPECT_EQ(events[1].step(), 0);
  // Map fields (attrs) serialize in no fixed order: compare the parsed messages.
  tfproto::GraphDef written, expected;
  ASSERT_TRUE(written.ParseFromString(events[2].graph_def()));
  ASSERT_TRUE(expected.ParseFromString(graph_def_bytes(graph)));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(written, expected));
  ASSERT_GE(written.node_size(), 1);
  EXPECT_EQ(written.node(0).name(), "x");
}

TEST_F(SummaryWriterTest, RunMetadataIsTagged) {
  auto writer = make_writer();
  RunStats stats;
  ASSERT_TRUE(writer->add_run_metadata("step_100", stats, 100).ok());
  ASSERT_TRUE(writer->close().ok());
  const std::vector<tfproto::Event> events = read_events(writer->path());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].step(), 100);
  ASSERT_EQ(events[1].what_case(), tfproto::Event::kTaggedRunMetadata);
  EXPECT_EQ(events[1].tagged_run_metadata().tag(), "step_100");
  EXPECT_EQ(events[1].tagged_run_metadata().run_metadata(), run_metadata_bytes(stats));
}

TEST_F(SummaryWriterTest, CloseIsIdempotentAndLaterAddsFail) {
  auto writer = make_writer();
  ASSERT_TRUE(writer->add_scalar("a", 1.0, 1).ok());
  EXPECT_TRUE(writer->close().ok());
  EXPECT_TRUE(writer->close().ok());
  EXPECT_EQ(writer->add_scalar("a", 2.0, 2).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(read_events(writer->path()).size(), 2u);
}

TEST_F(SummaryWriterTest, DestructorFlushes) {
  std::string path;
  {
    auto writer = make_writer();
    ASSERT_TRUE(writer->add_scalar("a", 1.0, 1).ok());
    path = writer->path();
  }
  EXPECT_EQ(read_events(path).size(), 2u);
}

TEST_F(SummaryWriterTest, FlushWritesPendingRecords) {
  auto writer = make_writer();  // max_queue 1000: nothing is written before flush()
  ASSERT_TRUE(writer->add_scalar("a", 1.0, 1).ok());
  EXPECT_EQ(read_events(writer->path()).size(), 1u);
  ASSERT_TRUE(writer->flush().ok());
  EXPECT_EQ(read_events(writer->path()).size(), 2u);
}

TEST_F(SummaryWriterTest, CreateFailsBelowARegularFile) {
  const std::string file = dir_ + "/file";
  { std::ofstream(file) << "x"; }
  auto writer = SummaryWriter::create(file + "/logs");
  ASSERT_FALSE(writer.ok());
  EXPECT_NE(writer.status().message().find(file), absl::string_view::npos) << writer.status();
}

TEST_F(SummaryWriterTest, InvalidOptionsThrow) {
  EXPECT_EQ(test::error_of([&] { (void)SummaryWriter::create(dir_, {.max_queue = -1}); }).code,
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(test::error_of([&] { (void)SummaryWriter::create(dir_, {.flush_secs = -1.0}); }).code,
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace scopeflow
