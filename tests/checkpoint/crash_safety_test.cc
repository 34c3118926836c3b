// Crash safety: a failed or interrupted save (disk full, unwritable folder, a crash leaving a
// partial temporary file at any byte) leaves the previous checkpoint newest and restorable, and
// the next save cleans up what the interrupted one left.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <random>
#include <thread>
#include <filesystem>
#include <fstream>

#include "checkpoint/checkpoint_test_util.h"
#include "checkpoint/file_io.h"
#include "checkpoint/tensor_bundle.h"

namespace scopeflow {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using test::OptimizerKind;
using test::TinyModel;

struct HookReset {
  ~HookReset() { checkpoint::set_write_failure_for_testing(nullptr); }
};

std::vector<std::string> temp_files(const std::string& folder) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.path().string().find(checkpoint::kTempMarker) != std::string::npos) found.push_back(entry.path().string());
  }
  return found;
}

// The newest checkpoint restores completely into a fresh session of the same model.
void expect_latest_restores(const std::string& folder, const std::string& expected_path) {
  absl::StatusOr<std::string> latest = latest_checkpoint(folder);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, expected_path);
  TinyModel model(OptimizerKind::kAdam);
  Session session(model.graph);
  absl::StatusOr<RestoredCheckpoint> restored = Saver(model.graph).restore(session, *latest);
  ASSERT_TRUE(restored.ok()) << restored.status();
  for (const Variable& v : all_variables(model.graph)) EXPECT_TRUE(session.is_initialized(v)) << v.name();
}

class WriteFailureTest : public ::testing::TestWithParam<std::string> {};

// A full disk while writing the data file, the index or the state file.
TEST_P(WriteFailureTest, DiskFullKeepsPreviousCheckpoint) {
  HookReset reset;
  const std::string failing_suffix = GetParam();
  TinyModel model(OptimizerKind::kAdam);
  Session session(model.graph);
  session.initialize_variables();
  const std::string folder = test::fresh_folder();
  Saver saver(model.graph, {.var_list = {}, .max_to_keep = 1, .keep_checkpoint_every_n_hours = 10000.0,
                            .format = CheckpointFormat::kTensorFlow});
  absl::StatusOr<std::string> first = saver.save(session, folder + "/model.ckpt", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  model.step(session);
  checkpoint::set_write_failure_for_testing([&](const std::string& path, int64_t) {
    return path.ends_with(failing_suffix) ? ENOSPC : 0;
  });
  absl::StatusOr<std::string> second = saver.save(session, folder + "/model.ckpt", 2);
  checkpoint::set_write_failure_for_testing(nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("No space left on device"));
  EXPECT_THAT(temp_files(folder), ::testing::IsEmpty());
  // max_to_keep is 1, yet the first checkpoint stays: the second never completed.
  expect_latest_restores(folder, *first);
  EXPECT_TRUE(fs::exists(*first + ".index"));
  // Once space is back, the next save completes and only then replaces the first.
  absl::StatusOr<std::string> third = saver.save(session, folder + "/model.ckpt", 3);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_FALSE(fs::exists(*first + ".index"));
  EXPECT_THAT(saver.last_checkpoints(), ::testing::ElementsAre(*third));
  expect_latest_restores(folder, *third);
}

INSTANTIATE_TEST_SUITE_P(Files, WriteFailureTest, ::testing::Values(".data-00000-of-00001", ".index", "checkpoint"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           name.erase(std::remove_if(name.begin(), name.end(), [](char c) { return !std::isalnum(c); }),
                                      name.end());
                           return name;
                         });

TEST(CrashSafetyTest, DiskFullMidwaySafetensorsKeepsPreviousCheckpoint) {
  HookReset reset;
  TinyModel model(OptimizerKind::kMomentum);
  Session session(model.graph);
  session.initialize_variables();
  const std::string folder = test::fresh_folder();
  Saver saver(model.graph, {.var_list = {}, .max_to_keep = 1, .keep_checkpoint_every_n_hours = 10000.0,
                            .format = CheckpointFormat::kSafetensors});
  absl::StatusOr<std::string> first = saver.save(session, folder + "/model.ckpt", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  // The header and the first tensors go out, then the disk is full.
  checkpoint::set_write_failure_for_testing([](const std::string& path, int64_t offset) {
    return path.ends_with(".safetensors") && offset > 100 ? ENOSPC : 0;
  });
  absl::StatusOr<std::string> second = saver.save(session, folder + "/model.ckpt", 2);
  checkpoint::set_write_failure_for_testing(nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(temp_files(folder), ::testing::IsEmpty());
  EXPECT_FALSE(fs::exists(folder + "/model.ckpt-2.safetensors"));
  absl::StatusOr<std::string> latest = latest_checkpoint(folder);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, *first);
  TinyModel fresh(OptimizerKind::kMomentum);
  Session fresh_session(fresh.graph);
  EXPECT_TRUE(Saver(fresh.graph).restore(fresh_session, *latest).ok());
}

// Saving the same step again (e.g. a final save after a periodic one) that fails midway: the
// replaced checkpoint is invisible, and the one before it is newest.
TEST(CrashSafetyTest, FailedSaveOverTheSameStepFallsBackToTheOlderCheckpoint) {
  HookReset reset;
  TinyModel model(OptimizerKind::kAdam);
  Session session(model.graph);
  session.initialize_variables();
  const std::string folder = test::fresh_folder();
  Saver saver(model.graph);
  absl::StatusOr<std::string> first = saver.save(session, folder + "/model.ckpt", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  model.step(session);
  ASSERT_TRUE(saver.save(session, folder + "/model.ckpt", 2).ok());
  model.step(session);
  checkpoint::set_write_failure_for_testing([](const std::string& path, int64_t) {
    return path.ends_with(".data-00000-of-00001") ? EIO : 0;
  });
  absl::StatusOr<std::string> again = saver.save(session, folder + "/model.ckpt", 2);
  checkpoint::set_write_failure_for_testing(nullptr);
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("Input/output error"));
  expect_latest_restores(folder, *first);
}

TEST(CrashSafetyTest, UnwritableFolderIsAClearError) {
  TinyModel model(OptimizerKind::kSgd);
  Session session(model.graph);
  session.initialize_variables();
  const std::string folder = test::fresh_folder();
  std::ofstream(folder + "/a_file") << "not a folder";
  absl::StatusOr<std::string> saved = Saver(model.graph).save(session, folder + "/a_file/model.ckpt", 1);
  ASSERT_FALSE(saved.ok());
  EXPECT_THAT(std::string(saved.status().message()), HasSubstr("a_file"));
}

// A crash while writing any file of a save, at any byte: what it leaves is a temporary file
// with that many bytes (renames are atomic). The previous checkpoint stays newest and
// restorable, and the next save removes the leftover.
TEST(CrashSafetyTest, InterruptedSaveAtEveryByteLeavesPreviousCheckpoint) {
  TinyModel model(OptimizerKind::kAdam);
  Session session(model.graph);
  session.initialize_variables();
  const std::string folder = test::fresh_folder();
  Saver saver(model.graph);
  absl::StatusOr<std::string> first = saver.save(session, folder + "/model.ckpt", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  // The bytes the next save would write, from a save of the same state elsewhere.
  const std::string scratch = folder + "_scratch";
  fs::remove_all(scratch);
  fs::create_directories(scratch);
  ASSERT_TRUE(Saver(model.graph).save(session, scratch + "/model.ckpt", 2).ok());
  for (const std::string suffix : {".data-00000-of-00001", ".index"}) {
    const std::string full = *checkpoint::read_file(scratch + "/model.ckpt-2" + suffix);
    const size_t last_block_start = suffix == std::string(".index") ? 0 : full.size() > 64 ? full.size() - 64 : 0;
    for (size_t cut = last_block_start; cut < full.size(); ++cut) {
      const std::string leftover = folder + "/model.ckpt-2" + suffix + std::string(checkpoint::kTempMarker) + "1-0";
      std::ofstream(leftover, std::ios::binary).write(full.data(), static_cast<std::streamsize>(cut));
      absl::StatusOr<std::string> latest = latest_checkpoint(folder);
      ASSERT_TRUE(latest.ok()) << latest.status();
      ASSERT_EQ(*latest, *first) << suffix << " cut at " << cut;
    }
  }
  // A crash between the data file's rename and the index's: a data file without its index.
  fs::copy_file(scratch + "/model.ckpt-2.data-00000-of-00001", folder + "/model.ckpt-2.data-00000-of-00001");
  expect_latest_restores(folder, *first);
  EXPECT_FALSE(temp_files(folder).empty());
  model.step(session);
  absl::StatusOr<std::string> third = saver.save(session, folder + "/model.ckpt", 3);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_THAT(temp_files(folder), ::testing::IsEmpty());
  EXPECT_FALSE(fs::exists(folder + "/model.ckpt-2.data-00000-of-00001"));
  expect_latest_restores(folder, *third);
}

// A process killed (SIGKILL) at random moments while it saves checkpoint after checkpoint:
// every time, latest_checkpoint names one that restores completely with the saved values.
TEST(CrashSafetyTest, SaverKilledAtRandomMomentsLeavesARestorableCheckpoint) {
  TinyModel model(OptimizerKind::kAdam);
  Session session(model.graph);
  session.initialize_variables();
  model.step(session);
  const std::string folder = test::fresh_folder();
  std::mt19937 rng(13);
  std::uniform_int_distribution<int> delay_us(0, 40000);
  int restored_count = 0;
  for (int trial = 0; trial < 25; ++trial) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      // The child only writes files (no kernels run, so no thread pools are needed after fork).
      Saver saver(model.graph, {.var_list = {}, .max_to_keep = 2, .keep_checkpoint_every_n_hours = 10000.0,
                                .format = trial % 2 == 0 ? CheckpointFormat::kTensorFlow : CheckpointFormat::kSafetensors});
      for (int64_t step = int64_t{trial} * 1000;; ++step) {
        if (!saver.save(session, folder + "/model.ckpt", step).ok()) ::_exit(3);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the saving child exited by itself with " << WEXITSTATUS(status);
    absl::StatusOr<std::string> latest = latest_checkpoint(folder);
    if (!fs::exists(folder + "/checkpoint")) continue;  // killed before its first save completed
    ASSERT_TRUE(latest.ok()) << "trial " << trial << ": " << latest.status();
    TinyModel fresh(OptimizerKind::kAdam);
    Session fresh_session(fresh.graph);
    absl::StatusOr<RestoredCheckpoint> restored = Saver(fresh.graph).restore(fresh_session, *latest);
    ASSERT_TRUE(restored.ok()) << "trial " << trial << ": " << restored.status();
    const std::vector<Variable> saved_vars = all_variables(model.graph);
    const std::vector<Variable> fresh_vars = all_variables(fresh.graph);
    for (size_t i = 0; i < saved_vars.size(); ++i) {
      ASSERT_TRUE(test::same_bits(fresh_session.variable_value(fresh_vars[i]), session.variable_value(saved_vars[i])))
          << fresh_vars[i].name();
    }
    ++restored_count;
  }
  EXPECT_GT(restored_count, 10);
  // What the killed saves left is gone after the next complete save.
  ASSERT_TRUE(Saver(model.graph).save(session, folder + "/model.ckpt", 99999).ok());
  EXPECT_THAT(temp_files(folder), ::testing::IsEmpty());
}

// A checkpoint file cut short after publication (another program truncated it): reading it is
// a clear error at every offset of its last block, never a crash or a partial restore.
TEST(CrashSafetyTest, RestoreOfCutFilesFailsCleanlyAndLeavesVariables) {
  TinyModel model(OptimizerKind::kAdam);
  Session session(model.graph);
  session.initialize_variables();
  const std::string folder = test::fresh_folder();
  absl::StatusOr<std::string> path = Saver(model.graph).save(session, folder + "/model.ckpt", 1);
  ASSERT_TRUE(path.ok());
  for (const std::string suffix : {".data-00000-of-00001", ".index"}) {
    const std::string file = *path + suffix;
    const std::string full = *checkpoint::read_file(file);
    const size_t last_block_start = suffix == std::string(".index") ? 0 : full.size() > 64 ? full.size() - 64 : 0;
    for (size_t cut = last_block_start; cut < full.size(); ++cut) {
      std::ofstream(file, std::ios::binary | std::ios::trunc).write(full.data(), static_cast<std::streamsize>(cut));
      TinyModel fresh(OptimizerKind::kAdam);
      Session fresh_session(fresh.graph);
      absl::StatusOr<RestoredCheckpoint> restored = Saver(fresh.graph).restore(fresh_session, *path);
      ASSERT_FALSE(restored.ok()) << suffix << " cut at " << cut;
      EXPECT_EQ(restored.status().code(), absl::StatusCode::kDataLoss) << restored.status();
      for (const Variable& v : all_variables(fresh.graph)) ASSERT_FALSE(fresh_session.is_initialized(v));
    }
    std::ofstream(file, std::ios::binary | std::ios::trunc).write(full.data(), static_cast<std::streamsize>(full.size()));
  }
}

}  // namespace
}  // namespace scopeflow
