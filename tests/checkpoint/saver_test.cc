// Saver: TensorFlow's key names, every dtype in both formats, restore checks, max_to_keep and
// the state file, and exact resume for SGD, Momentum and Adam.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "checkpoint/checkpoint_test_util.h"
#include "scopeflow/checkpoint.h"
#include "scopeflow/scope.h"
#include "test_util.h"

namespace scopeflow {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using test::OptimizerKind;
using test::TinyModel;

std::vector<std::string> names_of(const std::vector<CheckpointTensorInfo>& infos) {
  std::vector<std::string> names;
  for (const auto& info : infos) names.push_back(info.name);
  return names;
}

class SaverFormatTest : public ::testing::TestWithParam<CheckpointFormat> {};

TEST_P(SaverFormatTest, AdamKeysAreTensorFlowNames) {
  TinyModel model(OptimizerKind::kAdam);
  Session session(model.graph);
  session.initialize_variables();
  model.step(session);
  Saver saver(model.graph, {.var_list = {}, .max_to_keep = 5, .keep_checkpoint_every_n_hours = 10000.0, .format = GetParam()});
  const std::string folder = test::fresh_folder();
  absl::StatusOr<std::string> path = saver.save(session, folder + "/model.ckpt", 1);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, folder + "/model.ckpt-1" + (GetParam() == CheckpointFormat::kSafetensors ? ".safetensors" : ""));
  absl::StatusOr<std::vector<CheckpointTensorInfo>> listed = list_variables(*path);
  ASSERT_TRUE(listed.ok()) << listed.status();
  const std::string random_key = std::string(kRandomStateKeyPrefix) + "random_normal/RandomStandardNormal";
  EXPECT_THAT(names_of(*listed),
              ::testing::ElementsAre(random_key, "beta1_power", "beta2_power", "global_step", "layer/biases",
                                     "layer/biases/Adam", "layer/biases/Adam_1", "layer/weights", "layer/weights/Adam",
                                     "layer/weights/Adam_1"));
  absl::StatusOr<Tensor> step = load_variable(*path, "global_step");
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(step->to_vector<int64_t>(), std::vector<int64_t>{1});
  for (const Variable& v : all_variables(model.graph)) {
    absl::StatusOr<Tensor> value = load_variable(*path, v.name());
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_TRUE(test::same_bits(*value, session.variable_value(v))) << v.name();
  }
  absl::StatusOr<Tensor> random_state = load_variable(*path, random_key);
  ASSERT_TRUE(random_state.ok()) << random_state.status();
  EXPECT_EQ(random_state->to_vector<int64_t>()[2], 1);  // one step drew once
}

TEST_P(SaverFormatTest, MomentumSlotName) {
  TinyModel model(OptimizerKind::kMomentum);
  Session session(model.graph);
  session.initialize_variables();
  Saver saver(model.graph, {.var_list = {}, .max_to_keep = 5, .keep_checkpoint_every_n_hours = 10000.0, .format = GetParam()});
  absl::StatusOr<std::string> path = saver.save(session, test::fresh_folder() + "/m");
  ASSERT_TRUE(path.ok()) << path.status();
  absl::StatusOr<std::vector<CheckpointTensorInfo>> listed = list_variables(*path);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(names_of(*listed), ::testing::IsSupersetOf({"layer/weights/Momentum", "layer/biases/Momentum"}));
  EXPECT_THAT(names_of(*listed), ::testing::Not(::testing::Contains("global_step")));  // no step given
}

// Values with every bit pattern class: negative, NaN payloads for floats, extremes for ints.
Tensor pattern_tensor(DType dtype, const Shape& shape) {
  Tensor t(dtype, shape);
  auto* bytes = static_cast<uint8_t*>(t.raw_data());
  for (size_t i = 0; i < t.byte_size(); ++i) bytes[i] = static_cast<uint8_t>(i * 151 + 7);
  if (dtype == DType::kBool) {
    for (size_t i = 0; i < t.byte_size(); ++i) bytes[i] &= 1;
  }
  return t;
}

TEST_P(SaverFormatTest, EveryDtypeRoundTripsBitForBit) {
  Graph graph;
  std::vector<Variable> vars;
  for (DType dtype : kAllDTypes) {
    vars.push_back(get_variable(graph, std::string("v_") + dtype_name(dtype),
                                {.shape = Shape{2, 3}, .dtype = dtype, .initializer = init::zeros(), .trainable = false}));
  }
  vars.push_back(get_variable(graph, "scalar", {.shape = Shape{}, .initializer = init::zeros()}));
  vars.push_back(get_variable(graph, "empty", {.shape = Shape{0, 4}, .initializer = init::zeros()}));
  Session session(graph);
  session.initialize_variables();
  for (const Variable& v : vars) session.assign_variable(v, pattern_tensor(v.dtype(), v.shape()));
  Saver saver(graph, {.var_list = {}, .max_to_keep = 5, .keep_checkpoint_every_n_hours = 10000.0, .format = GetParam()});
  absl::StatusOr<std::string> path = saver.save(session, test::fresh_folder() + "/all", 12);
  ASSERT_TRUE(path.ok()) << path.status();

  Session restored_session(graph);
  absl::StatusOr<RestoredCheckpoint> restored = saver.restore(restored_session, *path);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->global_step, 12);
  for (const Variable& v : vars) {
    EXPECT_TRUE(test::same_bits(restored_session.variable_value(v), pattern_tensor(v.dtype(), v.shape()))) << v.name();
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, SaverFormatTest,
                         ::testing::Values(CheckpointFormat::kTensorFlow, CheckpointFormat::kSafetensors),
                         [](const auto& param_info) {
                           return param_info.param == CheckpointFormat::kTensorFlow ? std::string("tf") : std::string("safetensors");
                         });

TEST(SaverTest, RestoreNamesMissingExtraAndMismatched) {
  const std::string folder = test::fresh_folder();
  std::string path;
  {
    Graph graph;
    get_variable(graph, "a", {.shape = Shape{2}, .initializer = init::zeros()});
    get_variable(graph, "b", {.shape = Shape{2}, .initializer = init::zeros()});
    get_variable(graph, "c", {.shape = Shape{2}, .initializer = init::zeros()});
    Session session(graph);
    session.initialize_variables();
    absl::StatusOr<std::string> saved = Saver(graph).save(session, folder + "/ckpt");
    ASSERT_TRUE(saved.ok()) << saved.status();
    path = *saved;
  }
  Graph graph;
  Variable a = get_variable(graph, "a", {.shape = Shape{2}, .initializer = init::ones()});
  get_variable(graph, "b", {.shape = Shape{3}, .initializer = init::zeros()});
  get_variable(graph, "d", {.shape = Shape{2}, .initializer = init::zeros()});
  Session session(graph);
  session.initialize_variables();
  absl::StatusOr<RestoredCheckpoint> restored = Saver(graph).restore(session, path);
  ASSERT_FALSE(restored.ok());
  EXPECT_EQ(restored.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(restored.status().message()),
              AllOf(HasSubstr("missing from the checkpoint: d (float32 (2,))"),
                    HasSubstr("in the checkpoint but not the graph: c (float32 (2,))"),
                    HasSubstr("b: checkpoint float32 (2,), graph float32 (3,)")));
  // Nothing was assigned.
  EXPECT_EQ(session.variable_value(a).to_vector<float>(), (std::vector<float>{1, 1}));
}

TEST(SaverTest, RestoreIntoGraphThatSharesDifferentlyNamesBoth) {
  const std::string folder = test::fresh_folder();
  TinyModel unshared(OptimizerKind::kSgd, /*share=*/false);
  Session session(unshared.graph);
  session.initialize_variables();
  absl::StatusOr<std::string> path = Saver(unshared.graph).save(session, folder + "/unshared");
  ASSERT_TRUE(path.ok()) << path.status();

  TinyModel shared(OptimizerKind::kSgd, /*share=*/true);
  Session shared_session(shared.graph);
  absl::StatusOr<RestoredCheckpoint> restored = Saver(shared.graph).restore(shared_session, *path);
  ASSERT_FALSE(restored.ok());
  EXPECT_THAT(std::string(restored.status().message()),
              HasSubstr("the checkpoint holds both layer/weights and layer_1/weights where this graph shares one "
                        "variable layer/weights"));

  // And the other way round: saved shared, restored into the unshared graph.
  shared_session.initialize_variables();
  absl::StatusOr<std::string> shared_path = Saver(shared.graph).save(shared_session, folder + "/shared");
  ASSERT_TRUE(shared_path.ok()) << shared_path.status();
  restored = Saver(unshared.graph).restore(session, *shared_path);
  ASSERT_FALSE(restored.ok());
  EXPECT_THAT(std::string(restored.status().message()),
              AllOf(HasSubstr("missing from the checkpoint: layer_1/biases"),
                    HasSubstr("this graph has both layer/weights and layer_1/weights where the checkpoint holds one "
                              "shared variable layer/weights")));
}

TEST(SaverTest, MaxToKeepDeletesOldestAndStateFileNamesNewest) {
  TinyModel model(OptimizerKind::kSgd);
  Session session(model.graph);
  session.initialize_variables();
  const std::string folder = test::fresh_folder();
  Saver saver(model.graph, {.var_list = {}, .max_to_keep = 3, .keep_checkpoint_every_n_hours = 10000.0,
                            .format = CheckpointFormat::kTensorFlow});
  for (int step = 1; step <= 6; ++step) {
    model.step(session);
    ASSERT_TRUE(saver.save(session, folder + "/model.ckpt", step).ok());
  }
  EXPECT_THAT(saver.last_checkpoints(), ::testing::ElementsAre(folder + "/model.ckpt-4", folder + "/model.ckpt-5",
                                                               folder + "/model.ckpt-6"));
  for (int step = 1; step <= 6; ++step) {
    const std::string prefix = folder + "/model.ckpt-" + std::to_string(step);
    EXPECT_EQ(fs::exists(prefix + ".index"), step >= 4) << prefix;
    EXPECT_EQ(fs::exists(prefix + ".data-00000-of-00001"), step >= 4) << prefix;
  }
  absl::StatusOr<std::string> latest = latest_checkpoint(folder);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, folder + "/model.ckpt-6");
  std::ifstream state(folder + "/checkpoint");
  const std::string text((std::istreambuf_iterator<char>(state)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, AllOf(HasSubstr("model_checkpoint_path: \"model.ckpt-6\""),
                          HasSubstr("all_model_checkpoint_paths: \"model.ckpt-4\""),
                          ::testing::Not(HasSubstr("model.ckpt-3"))));

  // A new Saver (a resumed program) adopts the recorded checkpoints for max_to_keep.
  Saver resumed(model.graph, {.var_list = {}, .max_to_keep = 3, .keep_checkpoint_every_n_hours = 10000.0,
                              .format = CheckpointFormat::kTensorFlow});
  ASSERT_TRUE(resumed.save(session, folder + "/model.ckpt", 7).ok());
  EXPECT_FALSE(fs::exists(folder + "/model.ckpt-4.index"));
  EXPECT_TRUE(fs::exists(folder + "/model.ckpt-5.index"));
}

TEST(SaverTest, KeepEveryNHoursPreservesOldCheckpointsOnDisk) {
  TinyModel model(OptimizerKind::kSgd);
  Session session(model.graph);
  session.initialize_variables();
  const std::string folder = test::fresh_folder();
  // 3.6 microseconds: every save takes longer, so each checkpoint that leaves the list after
  // the first is kept on disk.
  Saver saver(model.graph, {.var_list = {}, .max_to_keep = 1, .keep_checkpoint_every_n_hours = 1e-9,
                            .format = CheckpointFormat::kTensorFlow});
  for (int step = 1; step <= 3; ++step) ASSERT_TRUE(saver.save(session, folder + "/model.ckpt", step).ok());
  EXPECT_THAT(saver.last_checkpoints(), ::testing::ElementsAre(folder + "/model.ckpt-3"));
  EXPECT_TRUE(fs::exists(folder + "/model.ckpt-2.index"));
  EXPECT_TRUE(fs::exists(folder + "/model.ckpt-3.index"));
}

TEST(SaverTest, LatestCheckpointWithoutStateIsNotFound) {
  EXPECT_EQ(latest_checkpoint(test::fresh_folder()).status().code(), absl::StatusCode::kNotFound);
}

TEST(SaverTest, InitFromCheckpointLoadsMatchingNamesOnly) {
  const std::string folder = test::fresh_folder();
  std::string path;
  {
    Graph graph;
    Variable w = get_variable(graph, "w", {.shape = Shape{2}, .initializer = init::constant(3.0)});
    Session session(graph);
    session.initialize_variables();
    path = *Saver(graph).save(session, folder + "/init");
  }
  Graph graph;
  Variable w = get_variable(graph, "w", {.shape = Shape{2}, .initializer = init::zeros()});
  Variable other = get_variable(graph, "other", {.shape = Shape{2}, .initializer = init::ones()});
  Session session(graph);
  session.initialize_variables();
  absl::StatusOr<std::vector<std::string>> loaded = init_from_checkpoint(session, path, all_variables(graph));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT(*loaded, ::testing::ElementsAre("w"));
  EXPECT_EQ(session.variable_value(w).to_vector<float>(), (std::vector<float>{3, 3}));
  EXPECT_EQ(session.variable_value(other).to_vector<float>(), (std::vector<float>{1, 1}));

  Graph wrong;
  Variable w3 = get_variable(wrong, "w", {.shape = Shape{3}, .initializer = init::zeros()});
  Session wrong_session(wrong);
  wrong_session.initialize_variables();
  absl::StatusOr<std::vector<std::string>> refused = init_from_checkpoint(wrong_session, path, all_variables(wrong));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("w: checkpoint float32 (2,), graph float32 (3,)"));
}

struct ResumeCase {
  OptimizerKind optimizer;
  CheckpointFormat format;
};

class ResumeTest : public ::testing::TestWithParam<ResumeCase> {};

// A run interrupted after `k` steps and resumed from its checkpoint in a new graph and session
// gives the same losses and final variables, bit for bit, as the uninterrupted run.
TEST_P(ResumeTest, MatchesUninterruptedRunBitForBit) {
  constexpr int kSteps = 6;
  constexpr int kInterruptAt = 3;
  std::vector<float> losses;
  std::vector<Tensor> final_values;
  {
    TinyModel model(GetParam().optimizer);
    Session session(model.graph);
    session.initialize_variables();
    for (int s = 0; s < kSteps; ++s) losses.push_back(model.step(session));
    for (const Variable& v : all_variables(model.graph)) final_values.push_back(session.variable_value(v).clone());
  }
  const std::string folder = test::fresh_folder();
  const SaverOptions options{.var_list = {}, .max_to_keep = 2, .keep_checkpoint_every_n_hours = 10000.0,
                             .format = GetParam().format};
  std::vector<float> resumed_losses;
  {
    TinyModel model(GetParam().optimizer);
    Session session(model.graph);
    session.initialize_variables();
    Saver saver(model.graph, options);
    for (int s = 0; s < kInterruptAt; ++s) {
      resumed_losses.push_back(model.step(session));
      ASSERT_TRUE(saver.save(session, folder + "/model.ckpt", s + 1).ok());
    }
    model.step(session);  // a step whose checkpoint never happened
  }
  TinyModel model(GetParam().optimizer);
  Session session(model.graph);
  Saver saver(model.graph, options);
  absl::StatusOr<std::string> latest = latest_checkpoint(folder);
  ASSERT_TRUE(latest.ok()) << latest.status();
  absl::StatusOr<RestoredCheckpoint> restored = saver.restore(session, *latest);
  ASSERT_TRUE(restored.ok()) << restored.status();
  ASSERT_EQ(restored->global_step, kInterruptAt);
  for (int s = kInterruptAt; s < kSteps; ++s) resumed_losses.push_back(model.step(session));
  ASSERT_EQ(resumed_losses.size(), losses.size());
  for (size_t i = 0; i < losses.size(); ++i) {
    EXPECT_EQ(std::memcmp(&losses[i], &resumed_losses[i], sizeof(float)), 0)
        << "step " << i << ": " << losses[i] << " vs " << resumed_losses[i];
  }
  const std::vector<Variable> vars = all_variables(model.graph);
  ASSERT_EQ(vars.size(), final_values.size());
  for (size_t i = 0; i < vars.size(); ++i) {
    EXPECT_TRUE(test::same_bits(session.variable_value(vars[i]), final_values[i])) << vars[i].name();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Optimizers, ResumeTest,
    ::testing::Values(ResumeCase{OptimizerKind::kSgd, CheckpointFormat::kTensorFlow},
                      ResumeCase{OptimizerKind::kMomentum, CheckpointFormat::kTensorFlow},
                      ResumeCase{OptimizerKind::kAdam, CheckpointFormat::kTensorFlow},
                      ResumeCase{OptimizerKind::kSgd, CheckpointFormat::kSafetensors},
                      ResumeCase{OptimizerKind::kMomentum, CheckpointFormat::kSafetensors},
                      ResumeCase{OptimizerKind::kAdam, CheckpointFormat::kSafetensors}),
    [](const auto& param_info) {
      const char* optimizer = param_info.param.optimizer == OptimizerKind::kSgd        ? "sgd"
                              : param_info.param.optimizer == OptimizerKind::kMomentum ? "momentum"
                                                                                 : "adam";
      return std::string(optimizer) + (param_info.param.format == CheckpointFormat::kTensorFlow ? "_tf" : "_safetensors");
    });

TEST(ResumeTest, RestoringWithoutRandomStateWouldDiverge) {
  // The random op's counter matters: a resumed session that skipped it draws other noise.
  TinyModel model(OptimizerKind::kSgd);
  Session session(model.graph);
  session.initialize_variables();
  model.step(session);
  const std::string folder = test::fresh_folder();
  Saver saver(model.graph);
  absl::StatusOr<std::string> path = saver.save(session, folder + "/model.ckpt", 1);
  ASSERT_TRUE(path.ok());
  const float next = model.step(session);

  TinyModel again(OptimizerKind::kSgd);
  Session restored(again.graph);
  ASSERT_TRUE(Saver(again.graph).restore(restored, *path).ok());
  const Node* random = again.graph.find_node("random_normal/RandomStandardNormal");
  ASSERT_NE(random, nullptr);
  EXPECT_EQ(restored.node_executions(*random), 1u);
  restored.set_node_executions(*random, 0);
  EXPECT_NE(again.step(restored), next);
}

}  // namespace
}  // namespace scopeflow
