// Events files: naming, first record, flush policy, and failures returned as statuses.
#include "export/events_writer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "export/events_reader.h"
#include "proto/event.pb.h"

namespace scopeflow::io {
namespace {

using scopeflow::test::read_events;
using scopeflow::test::read_records;

std::string event_with_step(int64_t step, size_t padding = 0) {
  tfproto::Event event;
  event.set_wall_time(wall_time_now());
  event.set_step(step);
  if (padding > 0) event.set_graph_def(std::string(padding, 'x'));
  return event.SerializeAsString();
}

class EventsWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "scopeflow_events_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST_F(EventsWriterTest, FirstRecordIsFileVersionAndNameFollowsThePattern) {
  const double before = wall_time_now();
  auto writer = EventsWriter::create(dir_ + "/run/a", {.filename_suffix = ".v2"});
  ASSERT_TRUE(writer.ok()) << writer.status();
  const std::string path = (*writer)->path();
  EXPECT_EQ(std::filesystem::path(path).parent_path(), std::filesystem::path(dir_ + "/run/a"));
  // events.out.tfevents.<10 digits>.<host>.<pid>.<counter>.v2 (the host may contain dots).
  const std::string name = std::filesystem::path(path).filename().string();
  const std::string prefix = "events.out.tfevents.";
  ASSERT_EQ(name.rfind(prefix, 0), 0u) << name;
  ASSERT_GE(name.size(), prefix.size() + 11) << name;
  const std::string seconds = name.substr(prefix.size(), 10);
  EXPECT_EQ(seconds.find_first_not_of("0123456789"), std::string::npos) << name;
  EXPECT_EQ(name[prefix.size() + 10], '.') << name;
  ASSERT_TRUE(name.ends_with(".v2")) << name;
  const std::string rest = name.substr(prefix.size() + 11, name.size() - prefix.size() - 11 - 3);
  const size_t counter_dot = rest.rfind('.');
  ASSERT_NE(counter_dot, std::string::npos) << name;
  const size_t pid_dot = rest.rfind('.', counter_dot - 1);
  ASSERT_NE(pid_dot, std::string::npos) << name;
  EXPECT_GT(pid_dot, 0u) << "empty host name in " << name;
  const std::string pid = rest.substr(pid_dot + 1, counter_dot - pid_dot - 1);
  const std::string counter = rest.substr(counter_dot + 1);
  ASSERT_FALSE(counter.empty()) << name;
  EXPECT_EQ(counter.find_first_not_of("0123456789"), std::string::npos) << name;
  EXPECT_EQ(pid, std::to_string(::getpid())) << name;

  // Written and synced at creation, before any flush.
  const std::vector<tfproto::Event> events = read_events(path);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  EXPECT_EQ(events[0].what_case(), tfproto::Event::kFileVersion);
  EXPECT_EQ(events[0].step(), 0);
  EXPECT_GE(events[0].wall_time(), before);
  EXPECT_LE(events[0].wall_time(), wall_time_now());
  EXPECT_EQ(std::stoll(seconds), static_cast<long long>(std::floor(events[0].wall_time())));
  EXPECT_EQ((*writer)->records_written(), 1);
  EXPECT_TRUE((*writer)->close().ok());
}

TEST_F(EventsWriterTest, NamesNeverCollideWithinOneProcess) {
  constexpr int kThreads = 4, kPerThread = 50;
  std::vector<std::vector<std::string>> paths(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto writer = EventsWriter::create(dir_);
        if (!writer.ok()) return;
        paths[t].push_back((*writer)->path());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> unique;
  for (const auto& list : paths) {
    EXPECT_EQ(list.size(), static_cast<size_t>(kPerThread));
    unique.insert(list.begin(), list.end());
  }
  EXPECT_EQ(unique.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const std::string& path : unique) EXPECT_EQ(read_events(path).size(), 1u) << path;
}

TEST_F(EventsWriterTest, ExistingFileIsNeverReused) {
  // Occupy the names the next few counters would produce (same second): create() skips them.
  auto first = EventsWriter::create(dir_);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string name = std::filesystem::path((*first)->path()).filename().string();
  const size_t dot = name.rfind('.');
  const long long counter = std::stoll(name.substr(dot + 1));
  std::vector<std::string> squatted;
  for (long long c = counter + 1; c <= counter + 3; ++c) {
    squatted.push_back(dir_ + "/" + name.substr(0, dot + 1) + std::to_string(c));
    std::ofstream(squatted.back()) << "not ours";
  }
  auto second = EventsWriter::create(dir_);
  ASSERT_TRUE(second.ok()) << second.status();
  for (const std::string& path : squatted) {
    EXPECT_NE((*second)->path(), path);
    std::ifstream in(path);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(content, "not ours");
  }
}

TEST_F(EventsWriterTest, FlushesWhenTheQueueIsFull) {
  auto writer = EventsWriter::create(dir_, {.max_queue = 3, .flush_secs = 1e9});
  ASSERT_TRUE(writer.ok()) << writer.status();
  EventsWriter& w = **writer;
  ASSERT_TRUE(w.write_event(event_with_step(1)).ok());
  ASSERT_TRUE(w.write_event(event_with_step(2)).ok());
  EXPECT_EQ(w.queued(), 2u);
  EXPECT_EQ(read_events(w.path()).size(), 1u);
  ASSERT_TRUE(w.write_event(event_with_step(3)).ok());
  EXPECT_EQ(w.queued(), 0u);
  std::vector<tfproto::Event> events = read_events(w.path());
  ASSERT_EQ(events.size(), 4u);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(events[i].step(), i);

  ASSERT_TRUE(w.write_event(event_with_step(4)).ok());
  EXPECT_EQ(read_events(w.path()).size(), 4u);
  ASSERT_TRUE(w.flush().ok());
  EXPECT_EQ(read_events(w.path()).size(), 5u);
  EXPECT_EQ(w.records_written(), 5);
}

TEST_F(EventsWriterTest, MaxQueueZeroOrOneWritesEveryRecord) {
  for (int max_queue : {0, 1}) {
    auto writer = EventsWriter::create(dir_, {.max_queue = max_queue, .flush_secs = 1e9});
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->write_event(event_with_step(7)).ok());
    EXPECT_EQ(read_events((*writer)->path()).size(), 2u);
  }
}

TEST_F(EventsWriterTest, FlushesWhenFlushSecsHavePassed) {
  double fake_now = 1000.0;
  EventsWriterOptions options{.max_queue = 100, .flush_secs = 5.0};
  options.clock = [&fake_now] { return fake_now; };
  auto writer = EventsWriter::create(dir_, options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  EventsWriter& w = **writer;
  fake_now += 1.0;
  ASSERT_TRUE(w.write_event(event_with_step(1)).ok());
  fake_now += 3.9;  // 4.9 s since the flush at creation
  ASSERT_TRUE(w.write_event(event_with_step(2)).ok());
  EXPECT_EQ(w.queued(), 2u);
  EXPECT_EQ(read_events(w.path()).size(), 1u);
  fake_now += 0.1;  // 5 s
  ASSERT_TRUE(w.write_event(event_with_step(3)).ok());
  EXPECT_EQ(w.queued(), 0u);
  EXPECT_EQ(read_events(w.path()).size(), 4u);
  // The interval restarts at each flush.
  fake_now += 4.0;
  ASSERT_TRUE(w.write_event(event_with_step(4)).ok());
  EXPECT_EQ(w.queued(), 1u);
  fake_now += 1.0;
  ASSERT_TRUE(w.write_event(event_with_step(5)).ok());
  EXPECT_EQ(read_events(w.path()).size(), 6u);
}

TEST_F(EventsWriterTest, CloseFlushesIsIdempotentAndLaterWritesFail) {
  auto writer = EventsWriter::create(dir_);
  ASSERT_TRUE(writer.ok()) << writer.status();
  EventsWriter& w = **writer;
  ASSERT_TRUE(w.write_event(event_with_step(1)).ok());
  EXPECT_TRUE(w.close().ok());
  EXPECT_TRUE(w.close().ok());
  EXPECT_TRUE(w.flush().ok());
  EXPECT_EQ(read_events(w.path()).size(), 2u);
  const absl::Status late = w.write_event(event_with_step(2));
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(late.message().find(w.path()), absl::string_view::npos) << late;
}

TEST_F(EventsWriterTest, DestructorWritesQueuedRecords) {
  std::string path;
  {
    auto writer = EventsWriter::create(dir_);
    ASSERT_TRUE(writer.ok()) << writer.status();
    path = (*writer)->path();
    ASSERT_TRUE((*writer)->write_event(event_with_step(9)).ok());
  }
  const std::vector<tfproto::Event> events = read_events(path);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].step(), 9);
}

TEST_F(EventsWriterTest, LogdirBelowARegularFileIsAnError) {
  const std::string file = dir_ + "/plain_file";
  std::ofstream(file) << "x";
  const std::string logdir = file + "/sub/run";
  auto writer = EventsWriter::create(logdir);
  ASSERT_FALSE(writer.ok());
  EXPECT_NE(writer.status().message().find(logdir), absl::string_view::npos) << writer.status();
  EXPECT_NE(writer.status().message().find("cannot create directory"), absl::string_view::npos)
      << writer.status();
}

TEST_F(EventsWriterTest, LogdirThatIsAFileIsAnError) {
  const std::string file = dir_ + "/plain_file";
  std::ofstream(file) << "x";
  auto writer = EventsWriter::create(file);
  ASSERT_FALSE(writer.ok());
  EXPECT_NE(writer.status().message().find(file), absl::string_view::npos) << writer.status();
}

TEST_F(EventsWriterTest, DiskFullIsResourceExhaustedNamingThePath) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "/dev/full is not writable here";
  auto writer = EventsWriter::open_existing("/dev/full");
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kResourceExhausted) << writer.status();
  EXPECT_NE(writer.status().message().find("/dev/full"), absl::string_view::npos) << writer.status();
}

TEST_F(EventsWriterTest, OpenExistingOfAMissingFileIsNotFound) {
  auto writer = EventsWriter::open_existing(dir_ + "/missing");
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kNotFound) << writer.status();
}

// A file size limit (RLIMIT_FSIZE) makes the kernel accept part of a record and then fail
// with EFBIG: the records written before stay parseable and nothing is appended afterwards.
TEST_F(EventsWriterTest, RecordsWrittenBeforeAFailedWriteStayReadable) {
  auto writer = EventsWriter::create(dir_, {.max_queue = 1});
  ASSERT_TRUE(writer.ok()) << writer.status();
  EventsWriter& w = **writer;
  for (int step = 1; step <= 3; ++step) ASSERT_TRUE(w.write_event(event_with_step(step)).ok());
  const auto size_before = static_cast<rlim_t>(std::filesystem::file_size(w.path()));

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct sigaction ignore {}, saved_action {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &saved_action), 0);
  rlimit limited = saved;
  limited.rlim_cur = size_before + 50;  // room for part of the next record only
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  const absl::Status failed = w.write_event(event_with_step(4, 1000));
  const absl::Status after = w.write_event(event_with_step(5));
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::sigaction(SIGXFSZ, &saved_action, nullptr);

  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find(w.path()), absl::string_view::npos) << failed;
  EXPECT_EQ(after, failed);  // sticky: nothing is appended after a torn record
  EXPECT_EQ(w.close(), failed);

  const scopeflow::test::RecordFile file = read_records(w.path());
  EXPECT_FALSE(file.crc_error);
  ASSERT_EQ(file.payloads.size(), 4u);
  EXPECT_EQ(file.trailing_bytes, 50u);  // the torn record stays; readers stop before it
  for (int i = 1; i <= 3; ++i) {
    tfproto::Event event;
    ASSERT_TRUE(event.ParseFromString(file.payloads[i]));
    EXPECT_EQ(event.step(), i);
  }
}

}  // namespace
}  // namespace scopeflow::io
