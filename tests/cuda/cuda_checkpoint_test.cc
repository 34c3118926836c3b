// GPU tests (CTest label gpu) of checkpoints: a CUDA session's variables are saved through its
// host copies and restored into CUDA and CPU sessions with the same bits. Skip without a device.

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "checkpoint/checkpoint_test_util.h"
#include "scopeflow/checkpoint.h"
#include "scopeflow/session.h"
#include "cuda/gpu_test_util.h"

namespace scopeflow {
namespace {

using test::OptimizerKind;
using test::TinyModel;

using test::why_no_gpu;

class GpuCheckpointTest : public ::testing::TestWithParam<CheckpointFormat> {};

TEST_P(GpuCheckpointTest, SavesDeviceVariablesAndRestoresThemOnGpuAndCpu) {
  if (const std::string why = why_no_gpu(); !why.empty()) GTEST_SKIP() << why;
  TinyModel model(OptimizerKind::kAdam);
  Session gpu(model.graph, {.device = Device::cuda(0)});
  gpu.initialize_variables();
  for (int s = 0; s < 2; ++s) model.step(gpu);
  Saver saver(model.graph, {.var_list = {}, .max_to_keep = 5, .keep_checkpoint_every_n_hours = 10000.0, .format = GetParam()});
  absl::StatusOr<std::string> path = saver.save(gpu, test::fresh_folder() + "/model.ckpt", 2);
  ASSERT_TRUE(path.ok()) << path.status();
  for (const Device device : {Device::cuda(0), Device::cpu()}) {
    TinyModel again(OptimizerKind::kAdam);
    Session restored(again.graph, {.device = device});
    absl::StatusOr<RestoredCheckpoint> result = Saver(again.graph).restore(restored, *path);
    ASSERT_TRUE(result.ok()) << result.status();
    const std::vector<Variable> saved_vars = all_variables(model.graph);
    const std::vector<Variable> restored_vars = all_variables(again.graph);
    for (size_t i = 0; i < saved_vars.size(); ++i) {
      const Tensor saved = gpu.to_host(gpu.variable_value(saved_vars[i]));
      EXPECT_TRUE(test::same_bits(restored.to_host(restored.variable_value(restored_vars[i])), saved))
          << restored_vars[i].name() << " on " << device.to_string();
      absl::StatusOr<Tensor> stored = load_variable(*path, saved_vars[i].name());
      ASSERT_TRUE(stored.ok()) << stored.status();
      EXPECT_TRUE(test::same_bits(*stored, saved)) << saved_vars[i].name();
    }
    // A step after the restore runs on the restored buffers.
    EXPECT_TRUE(std::isfinite(again.step(restored)));
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, GpuCheckpointTest,
                         ::testing::Values(CheckpointFormat::kTensorFlow, CheckpointFormat::kSafetensors),
                         [](const auto& param_info) {
                           return param_info.param == CheckpointFormat::kTensorFlow ? std::string("tf")
                                                                                    : std::string("safetensors");
                         });

}  // namespace
}  // namespace scopeflow
