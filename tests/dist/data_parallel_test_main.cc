// Data-parallel training under mpirun (CTest runs it with -np 2; -np 1 and a plain run work
// too): N ranks x batch B train like one process x batch N*B, the ranks stay bitwise
// identical, the all-reduce moves each variable's one gradient buffer, and layout mismatches
// between ranks are reported.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <vector>

#include "dist/dist_test_util.h"
#include "scopeflow/dist.h"
#include "scopeflow/scopeflow.h"

namespace scopeflow {
namespace {

dist::Communicator* g_comm = nullptr;

SessionOptions one_thread() {
  SessionOptions options;
  options.device = Device::cpu();
  options.intra_op_threads = 1;
  return options;
}

// True on every rank when every rank's bytes equal rank 0's.
bool same_on_every_rank(std::vector<std::byte> bytes) {
  std::vector<std::byte> root = bytes;
  EXPECT_TRUE(g_comm->broadcast(root, 0).ok());
  const bool same = std::memcmp(root.data(), bytes.data(), bytes.size()) == 0;
  absl::StatusOr<bool> all = g_comm->all_equal(same ? 1 : 0);
  EXPECT_TRUE(all.ok());
  return same && all.ok() && *all;
}

// Trains the MLP data-parallel with `make()`'s optimizer and, in this process, one copy on the
// global batch: per-step losses within 1e-5, and every variable bitwise identical on the ranks.
void check_matches_one_process(const std::function<std::unique_ptr<train::Optimizer>()>& make) {
  const int n = g_comm->world_size();
  const int rank = g_comm->rank();
  constexpr int64_t kBatch = 4;
  constexpr int kSteps = 50;

  Graph graph;
  dist_test::Mlp model = dist_test::build_mlp(graph, kBatch);
  std::unique_ptr<train::Optimizer> optimizer = make();
  dist::DataParallel dp(*optimizer, *g_comm);
  dp.minimize(model.loss);
  ASSERT_TRUE(dp.check_layout().ok());
  Session session(graph, one_thread());
  session.initialize_variables();
  ASSERT_TRUE(dist::broadcast_variables(session, *g_comm).ok());

  // The same model on the global batch in one process, from the same initial values.
  Graph ref_graph;
  dist_test::Mlp ref_model = dist_test::build_mlp(ref_graph, kBatch * n);
  std::unique_ptr<train::Optimizer> ref_optimizer = make();
  Node* ref_train = ref_optimizer->minimize(ref_model.loss);
  Session ref_session(ref_graph, one_thread());
  ref_session.initialize_variables();
  const std::vector<Variable> vars = trainable_variables(graph);
  const std::vector<Variable> ref_vars = trainable_variables(ref_graph);
  ASSERT_EQ(vars.size(), ref_vars.size());
  for (size_t i = 0; i < vars.size(); ++i) ref_session.assign_variable(ref_vars[i], session.variable_value(vars[i]));

  double worst = 0.0;
  for (int step = 0; step < kSteps; ++step) {
    auto [x, t] = dist_test::batch_rows(rank * kBatch, kBatch, step);
    const Output loss_fetch[] = {model.loss};
    absl::StatusOr<std::vector<Tensor>> out = dp.step(session, {{model.x, x}, {model.target, t}}, loss_fetch);
    ASSERT_TRUE(out.ok()) << out.status();
    float loss = out->at(0).to_vector<float>()[0];
    ASSERT_TRUE(g_comm->allreduce_average(std::span<float>(&loss, 1)).ok());

    auto [gx, gt] = dist_test::batch_rows(0, kBatch * n, step);
    const Output fetch[] = {ref_model.loss};
    Node* const targets[] = {ref_train};
    const float ref_loss = ref_session.run({{ref_model.x, gx}, {ref_model.target, gt}}, fetch, targets)[0]
                               .to_vector<float>()[0];
    EXPECT_NEAR(loss, ref_loss, 1e-5) << "step " << step;
    worst = std::max(worst, std::abs(static_cast<double>(loss) - ref_loss));
  }
  if (rank == 0) std::cout << "largest loss difference to one process: " << worst << "\n";

  // Every variable (weights and momentum slots) bitwise identical on every rank.
  for (const Variable& v : all_variables(graph)) {
    const Tensor value = session.variable_value(v);
    const auto* p = static_cast<const std::byte*>(value.raw_data());
    EXPECT_TRUE(same_on_every_rank(std::vector<std::byte>(p, p + value.byte_size()))) << v.name();
  }
}

TEST(DataParallelTest, MomentumLossesMatchOneProcessOnTheGlobalBatch) {
  check_matches_one_process([] { return std::make_unique<train::Momentum>(0.1f, 0.9f); });
}

TEST(DataParallelTest, AdamLossesMatchOneProcessOnTheGlobalBatch) {
  check_matches_one_process([] { return std::make_unique<train::Adam>(train::AdamOptions{.learning_rate = 0.01f}); });
}

// `uses` applications of one Dense(8) layer (shared) or of `uses` layers (duplicated).
std::pair<Output, Output> stacked_model(Graph& graph, int uses, bool shared) {
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{2, 8}, "x");
  Dense one(8, dist_test::tanh_options());
  std::vector<std::unique_ptr<Dense>> many;
  Output h = x;
  for (int i = 0; i < uses; ++i) {
    if (shared) {
      h = one(h);
    } else {
      many.push_back(std::make_unique<Dense>(8, dist_test::tanh_options()));
      h = (*many.back())(h);
    }
  }
  return {x, ops::reduce_mean(ops::square(h))};
}

TEST(DataParallelTest, AllReducedBytesAreTheUniqueGradientBytes) {
  constexpr int kUses = 8;
  constexpr int64_t kLayerBytes = (8 * 8 + 8) * 4;
  int64_t bytes[2] = {0, 0};
  int calls[2] = {0, 0};
  for (bool shared : {true, false}) {
    Graph graph;
    auto [x, loss] = stacked_model(graph, kUses, shared);
    train::GradientDescent optimizer(0.05f);
    // One layer's kernel and bias fit a bucket; two layers' do not.
    dist::DataParallel dp(optimizer, *g_comm, {.bucket_bytes = kLayerBytes + 8});
    dp.minimize(loss);
    ASSERT_TRUE(dp.check_layout().ok());
    Session session(graph, one_thread());
    session.initialize_variables();
    ASSERT_TRUE(dist::broadcast_variables(session, *g_comm).ok());
    std::vector<float> values(16);
    for (size_t i = 0; i < values.size(); ++i) values[i] = 0.1f * static_cast<float>(i) - 0.5f;
    for (int step = 0; step < 3; ++step) {
      const Output loss_fetch[] = {loss};
      absl::StatusOr<std::vector<Tensor>> out =
          dp.step(session, {{x, Tensor::from_vector<float>(Shape{2, 8}, values)}}, loss_fetch);
      ASSERT_TRUE(out.ok()) << out.status();
    }
    int64_t unique = 0;
    for (const Variable& v : trainable_variables(graph)) unique += v.shape().num_elements() * 4;
    EXPECT_EQ(dp.allreduce_bytes_per_step(), unique);
    bytes[shared ? 0 : 1] = dp.allreduce_bytes_per_step();
    calls[shared ? 0 : 1] = dp.allreduce_calls_per_step();
  }
  EXPECT_EQ(bytes[0], kLayerBytes);
  EXPECT_EQ(bytes[1], kUses * kLayerBytes);
  EXPECT_EQ(calls[0], 1);
  EXPECT_EQ(calls[1], kUses);
}

TEST(DataParallelTest, LayoutMismatchBetweenRanksIsReported) {
  if (g_comm->world_size() < 2) GTEST_SKIP() << "needs two ranks (mpirun -np 2)";
  Graph graph;
  // Rank 1's hidden layer is wider than the others'.
  dist_test::Mlp model = dist_test::build_mlp(graph, 4, g_comm->rank() == 1 ? 17 : 16);
  train::GradientDescent optimizer(0.1f);
  dist::DataParallel dp(optimizer, *g_comm);
  dp.minimize(model.loss);
  absl::Status status = dp.check_layout();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("layouts differ"), std::string_view::npos) << status;
  Session session(graph, one_thread());
  session.initialize_variables();
  status = dist::broadcast_variables(session, *g_comm);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
}

TEST(DataParallelTest, BadOptionsAreErrors) {
  train::GradientDescent optimizer(0.1f);
  EXPECT_THROW(dist::DataParallel(optimizer, *g_comm, {.bucket_bytes = 0}), Error);
  dist::DataParallel dp(optimizer, *g_comm);
  EXPECT_EQ(dp.check_layout().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<dist::Environment> env = dist::init();
  ASSERT_TRUE(env.ok());
  if (!dist::nccl_available()) {
    EXPECT_EQ(dist::make_nccl_communicator(*g_comm, 0).status().code(), absl::StatusCode::kUnimplemented);
  }
  if (env->mpi) {
    EXPECT_EQ(dist::make_communicator(*env, {.timeout = std::chrono::milliseconds(0)}).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace scopeflow

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  absl::StatusOr<scopeflow::dist::Environment> env = scopeflow::dist::init();
  if (!env.ok()) {
    std::cerr << env.status() << "\n";
    return 2;
  }
  absl::StatusOr<std::unique_ptr<scopeflow::dist::Communicator>> comm =
      scopeflow::dist::make_communicator(*env, {.timeout = std::chrono::seconds(60)});
  if (!comm.ok()) {
    std::cerr << comm.status() << "\n";
    return 2;
  }
  scopeflow::g_comm = comm->get();
  std::cout << "rank " << env->rank << " of " << env->world_size << " (" << (*comm)->backend() << ")\n";
  int rc = RUN_ALL_TESTS();
  // Every rank fails when one does, so CTest sees the failure whichever rank printed it.
  absl::StatusOr<bool> agree = (*comm)->all_equal(static_cast<uint64_t>(rc));
  if (!agree.ok() || !*agree) rc = 1;
  comm->reset();
  if (absl::Status status = scopeflow::dist::finalize(); !status.ok()) {
    std::cerr << status << "\n";
    return 2;
  }
  return rc;
}
