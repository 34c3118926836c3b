// The NCCL communicator on one rank (a one-GPU machine cannot run two NCCL ranks): collectives
// and a data-parallel CUDA training run end to end. Without a usable device every test skips.

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dist/dist_test_util.h"
#include "scopeflow/device.h"
#include "scopeflow/dist.h"
#include "cuda/gpu_test_util.h"
#include "scopeflow/scopeflow.h"

namespace scopeflow {
namespace {

std::string why_no_nccl() {
  if (cuda_backend_built() && !dist::nccl_available()) return "scopeflow was built without NCCL";
  return test::why_no_gpu();
}

TEST(NcclCommunicatorTest, OneRankAveragesBroadcastsAndTrainsEndToEnd) {
  if (const std::string why = why_no_nccl(); !why.empty()) GTEST_SKIP() << why;
  absl::StatusOr<dist::Environment> env = dist::init();
  ASSERT_TRUE(env.ok()) << env.status();
  if (env->world_size != 1) GTEST_SKIP() << "runs as one rank, without mpirun";
  absl::StatusOr<std::unique_ptr<dist::Communicator>> bootstrap = dist::make_communicator(*env);
  ASSERT_TRUE(bootstrap.ok()) << bootstrap.status();
  absl::StatusOr<std::unique_ptr<dist::Communicator>> nccl =
      dist::make_nccl_communicator(**bootstrap, env->local_rank, {.timeout = std::chrono::seconds(60)});
  ASSERT_TRUE(nccl.ok()) << nccl.status();
  dist::Communicator& comm = **nccl;
  EXPECT_EQ(comm.backend(), "nccl");
  EXPECT_EQ(comm.world_size(), 1);

  std::vector<float> values = {1.5f, -2.0f, 3.25f};
  ASSERT_TRUE(comm.allreduce_average(values).ok());
  EXPECT_EQ(values, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  std::vector<std::byte> bytes = {std::byte{7}, std::byte{9}};
  ASSERT_TRUE(comm.broadcast(bytes, 0).ok());
  EXPECT_EQ(bytes[1], std::byte{9});
  EXPECT_EQ(comm.broadcast(bytes, 1).code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<bool> same = comm.all_equal(42);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_TRUE(*same);

  // DataParallel on a CUDA session: the same losses as the plain optimizer on the CPU.
  constexpr int64_t kBatch = 4;
  Graph graph;
  dist_test::Mlp model = dist_test::build_mlp(graph, kBatch);
  train::GradientDescent optimizer(0.1f);
  dist::DataParallel dp(optimizer, comm);
  dp.minimize(model.loss);
  ASSERT_TRUE(dp.check_layout().ok());
  SessionOptions gpu_options;
  gpu_options.device = Device::cuda(0);
  Session session(graph, gpu_options);
  session.initialize_variables();
  ASSERT_TRUE(dist::broadcast_variables(session, comm).ok());

  Graph ref_graph;
  dist_test::Mlp ref_model = dist_test::build_mlp(ref_graph, kBatch);
  train::GradientDescent ref_optimizer(0.1f);
  Node* ref_train = ref_optimizer.minimize(ref_model.loss);
  SessionOptions cpu_options;
  cpu_options.device = Device::cpu();
  Session ref_session(ref_graph, cpu_options);
  ref_session.initialize_variables();
  const std::vector<Variable> vars = trainable_variables(graph);
  const std::vector<Variable> ref_vars = trainable_variables(ref_graph);
  ASSERT_EQ(vars.size(), ref_vars.size());
  for (size_t i = 0; i < vars.size(); ++i) {
    ref_session.assign_variable(ref_vars[i], session.to_host(session.variable_value(vars[i])));
  }
  for (int step = 0; step < 10; ++step) {
    auto [x, t] = dist_test::batch_rows(0, kBatch, step);
    const Output fetch[] = {model.loss};
    absl::StatusOr<std::vector<Tensor>> out = dp.step(session, {{model.x, x}, {model.target, t}}, fetch);
    ASSERT_TRUE(out.ok()) << out.status();
    const float loss = session.to_host(out->at(0)).to_vector<float>()[0];
    const Output ref_fetch[] = {ref_model.loss};
    Node* const targets[] = {ref_train};
    const float ref_loss =
        ref_session.run({{ref_model.x, x}, {ref_model.target, t}}, ref_fetch, targets)[0].to_vector<float>()[0];
    EXPECT_NEAR(loss, ref_loss, 1e-4) << "step " << step;
  }

  // The buckets are all-reduced where they are: in device memory, on the communicator's stream.
  auto [x, t] = dist_test::batch_rows(0, kBatch, 10);
  const Output fetch[] = {model.loss};
  RunStats stats;
  ASSERT_TRUE(dp.step(session, {{model.x, x}, {model.target, t}}, fetch, RunOptions{.trace = true}, &stats).ok());
  int on_stream = 0;
  for (const NodeRunStats& node : stats.nodes) {
    const bool all_reduced = node.fused_kernel.find("on the communicator's stream") != std::string::npos;
    if (node.node->op() == "CollectiveReduceV2" && all_reduced) ++on_stream;
  }
  EXPECT_EQ(on_stream, dp.allreduce_calls_per_step());
  EXPECT_EQ(comm.device(), 0);
  const Tensor weights = session.variable_value(vars[0]);
  const std::vector<float> before = session.to_host(weights).to_vector<float>();
  ASSERT_TRUE(comm.allreduce_average_on_stream(static_cast<float*>(weights.raw_data()),
                                               static_cast<size_t>(weights.num_elements()), nullptr)
                  .ok());
  ASSERT_TRUE(comm.join_stream(nullptr).ok());
  ASSERT_TRUE(comm.wait_enqueued().ok());
  EXPECT_EQ(session.to_host(weights).to_vector<float>(), before);  // the mean over one rank
}

}  // namespace
}  // namespace scopeflow
