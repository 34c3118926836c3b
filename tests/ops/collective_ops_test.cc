// CollectiveReduceV2 (ops::all_reduce_mean): shape inference, the executor's buckets, the wait of
// the steps that read a mean, and failures, with a communicator of two ranks whose other rank
// is simulated.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/plan.h"
#include "scopeflow/dist.h"
#include "scopeflow/ops.h"
#include "scopeflow/session.h"
#include "test_util.h"

namespace scopeflow {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Two ranks, the other of which holds `other` in every element: the mean is (v + other) / 2.
// Each call sleeps a little on the runner's thread, so that a step that did not wait for the
// mean would read the value before it.
class SimulatedPeerCommunicator final : public dist::Communicator {
 public:
  explicit SimulatedPeerCommunicator(float other) : other_(other) {}
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  std::string_view backend() const override { return "simulated"; }
  absl::Status allreduce_average(std::span<float> values) override {
    calls_.fetch_add(1);
    elements_.fetch_add(static_cast<int64_t>(values.size()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!failure_.ok()) return failure_;
    for (float& v : values) v = (v + other_) / 2;
    return absl::OkStatus();
  }
  absl::Status broadcast(std::span<std::byte>, int) override { return absl::OkStatus(); }
  absl::Status barrier() override { return absl::OkStatus(); }
  absl::StatusOr<bool> all_equal(uint64_t) override { return true; }

  int calls() const { return calls_.load(); }
  int64_t elements() const { return elements_.load(); }
  void fail_with(absl::Status status) { failure_ = std::move(status); }

 private:
  float other_;
  std::atomic<int> calls_{0};
  std::atomic<int64_t> elements_{0};
  absl::Status failure_;
};

ops::AllReduceOptions in_bucket(int64_t group_size, int64_t instance_key, int64_t bucket_key, int64_t offset,
                                int64_t elements, int64_t members) {
  return {.group_size = group_size, .group_key = 1, .instance_key = instance_key, .timeout_seconds = 0,
          .bucket_key = bucket_key, .bucket_offset = offset, .bucket_elements = elements, .bucket_members = members};
}

TEST(CollectiveOpsTest, AWorldOfOneAveragesToTheValue) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{2, 3}, "x");
  Output mean = ops::all_reduce_mean(x);
  EXPECT_EQ(mean.node->op(), "CollectiveReduceV2");
  EXPECT_EQ(mean.shape(), (Shape{2, 3}));
  Session session(graph, {.device = Device::cpu()});
  const std::vector<float> values = {1, -2, 3.5f, 0, 1e30f, -0.0f};
  const std::vector<Tensor> out = session.run({{x, Tensor::from_vector(Shape{2, 3}, values)}}, {mean});
  EXPECT_EQ(out[0].to_vector<float>(), values);
}

TEST(CollectiveOpsTest, HostCommunicatorsRefuseDeviceMemoryAndHaveNothingToWaitFor) {
  absl::StatusOr<std::unique_ptr<dist::Communicator>> local = dist::make_communicator(dist::Environment{});
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ((*local)->device(), -1);
  float value = 1;
  const absl::Status status = (*local)->allreduce_average_on_stream(&value, 1, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(status.message(), HasSubstr("the local communicator all-reduces host memory only"));
  EXPECT_EQ(value, 1);
  EXPECT_TRUE((*local)->wait_enqueued().ok());
}

TEST(CollectiveOpsTest, ShapeInferenceRefusesWhatItCannotRun) {
  Graph graph;
  Output ints = ops::placeholder(graph, DType::kInt32, Shape{4}, "ints");
  EXPECT_THAT(test::error_of([&] { ops::all_reduce_mean(ints); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("all_reduce_mean")));
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{4}, "x");
  EXPECT_THAT(test::error_of([&] { ops::all_reduce_mean(x, {.group_size = 0}); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("group_size must be at least 1")));
  EXPECT_THAT(test::error_of([&] { ops::all_reduce_mean(x, {.group_size = int64_t{1} << 40}); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("outside int32")));
  // 4 elements at offset 3 of a bucket of 6 do not fit.
  EXPECT_THAT(test::error_of([&] { ops::all_reduce_mean(x, in_bucket(1, 1, 1, 3, 6, 2)); }),
              test::IsError(absl::StatusCode::kInvalidArgument, HasSubstr("cannot hold 4 elements at offset 3")));
}

TEST(CollectiveOpsTest, GraphsBuiltForOtherRanksAreRefusedWhenPlanned) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{3}, "x");
  Output mean = ops::all_reduce_mean(x, {.group_size = 2});
  Session session(graph, {.device = Device::cpu()});
  const FeedList feeds = {{x, Tensor::from_vector<float>(Shape{3}, {1, 2, 3})}};
  EXPECT_THAT(test::error_of([&] { session.run(feeds, {mean}); }),
              test::IsError(absl::StatusCode::kFailedPrecondition,
                            HasSubstr("averages over group_size 2 ranks, but the session's communicator has 1")));
  SimulatedPeerCommunicator peer(0);
  session.set_communicator(&peer);
  EXPECT_EQ(session.run(feeds, {mean})[0].to_vector<float>(), (std::vector<float>{0.5f, 1, 1.5f}));
}

TEST(CollectiveOpsTest, ABucketIsOneAllReduceAndItsReadersWaitForIt) {
  Graph graph;
  Output a = ops::placeholder(graph, DType::kFloat32, Shape{2}, "a");
  Output b = ops::placeholder(graph, DType::kFloat32, Shape{3}, "b");
  Output mean_a = ops::all_reduce_mean(a, in_bucket(2, 1, 1, 0, 5, 2));
  Output mean_b = ops::all_reduce_mean(b, in_bucket(2, 2, 1, 2, 5, 2));
  // Readers of the means: kernels that run right after the collectives are started.
  Output sum_a = ops::reduce_sum(mean_a);
  Output doubled_b = ops::add(mean_b, mean_b);
  SimulatedPeerCommunicator peer(10);
  Session session(graph, {.device = Device::cpu(), .communicator = &peer});
  const FeedList feeds = {{a, Tensor::from_vector<float>(Shape{2}, {2, 4})},
                          {b, Tensor::from_vector<float>(Shape{3}, {0, -10, 30})}};
  RunStats stats;
  const Output fetches[] = {sum_a, doubled_b, mean_a};
  const std::vector<Tensor> out =
      session.run(feeds, fetches, std::span<Node* const>(), RunOptions{.trace = true}, &stats);
  EXPECT_THAT(out[0].to_vector<float>(), ElementsAre(6 + 7));
  EXPECT_THAT(out[1].to_vector<float>(), ElementsAre(10, 0, 40));
  EXPECT_THAT(out[2].to_vector<float>(), ElementsAre(6, 7));
  EXPECT_EQ(peer.calls(), 1);
  EXPECT_EQ(peer.elements(), 5);
  std::vector<std::string> collectives;
  for (const NodeRunStats& node : stats.nodes) {
    if (node.node->op() == "CollectiveReduceV2") collectives.push_back(node.fused_kernel);
  }
  EXPECT_THAT(collectives, ElementsAre(HasSubstr("copied into all-reduce bucket 1"),
                                       HasSubstr("all-reduce (mean) of bucket 1: 2 values, 20 bytes, over 2 ranks "
                                                 "(simulated), on the communication thread")));
  // The same again: the plan is reused and the bucket's buffer is the run's own.
  EXPECT_THAT(session.run(feeds, {sum_a, doubled_b})[0].to_vector<float>(), ElementsAre(13));
  EXPECT_EQ(peer.calls(), 2);
}

TEST(CollectiveOpsTest, ARunMustComputeEveryValueOfABucket) {
  Graph graph;
  Output a = ops::placeholder(graph, DType::kFloat32, Shape{2}, "a");
  Output b = ops::placeholder(graph, DType::kFloat32, Shape{3}, "b");
  Output mean_a = ops::all_reduce_mean(a, in_bucket(2, 1, 1, 0, 5, 2));
  ops::all_reduce_mean(b, in_bucket(2, 2, 1, 2, 5, 2));
  SimulatedPeerCommunicator peer(0);
  Session session(graph, {.device = Device::cpu(), .communicator = &peer});
  EXPECT_THAT(test::error_of([&] { session.run({{a, Tensor::zeros(DType::kFloat32, Shape{2})}}, {mean_a}); }),
              test::IsError(absl::StatusCode::kInvalidArgument,
                            HasSubstr("this run computes 1 of the 2 values of all-reduce bucket 1 (2 of 5 elements)")));
  EXPECT_EQ(peer.calls(), 0);
}

TEST(CollectiveOpsTest, ABucketWhoseValueNeedsAnotherOfItsMeansIsRefused) {
  Graph graph;
  Output a = ops::placeholder(graph, DType::kFloat32, Shape{2}, "a");
  Output mean_a = ops::all_reduce_mean(a, in_bucket(2, 1, 1, 0, 4, 2));
  Output mean_b = ops::all_reduce_mean(ops::neg(mean_a), in_bucket(2, 2, 1, 2, 4, 2), "mean_b");
  SimulatedPeerCommunicator peer(0);
  Session session(graph, {.device = Device::cpu(), .communicator = &peer});
  EXPECT_THAT(test::error_of([&] { session.run({{a, Tensor::zeros(DType::kFloat32, Shape{2})}}, {mean_b}); }),
              test::IsError(absl::StatusCode::kInvalidArgument,
                            HasSubstr("all-reduce 'mean_b' of bucket 1 depends on the mean of another value")));
}

TEST(CollectiveOpsTest, AFailedAllReduceFailsTheRunAndTheSessionStaysUsable) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{2}, "x");
  Output mean = ops::all_reduce_mean(x, {.group_size = 2});
  Output doubled = ops::add(mean, mean);
  SimulatedPeerCommunicator peer(0);
  Session session(graph, {.device = Device::cpu(), .communicator = &peer});
  const FeedList feeds = {{x, Tensor::from_vector<float>(Shape{2}, {2, 4})}};
  peer.fail_with(absl::DeadlineExceededError("[dist] MPI_Iallreduce of 2 float32 values did not complete"));
  EXPECT_THAT(test::error_of([&] { session.run(feeds, {doubled}); }),
              test::IsError(absl::StatusCode::kDeadlineExceeded, HasSubstr("did not complete")));
  peer.fail_with(absl::OkStatus());
  EXPECT_THAT(session.run(feeds, {doubled})[0].to_vector<float>(), ElementsAre(2, 4));
}

TEST(CollectiveOpsTest, ThePlanMakesEveryReaderOfAMeanWait) {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{2}, "x");
  Output before = ops::neg(x, "before");
  Output mean = ops::all_reduce_mean(before, {}, "mean");
  Output other = ops::neg(x, "other");  // needs no mean
  Output reader = ops::add(mean, other, "reader");
  const Output feeds[] = {x};
  const Output fetches[] = {reader};
  const Plan plan = make_plan({.feeds = feeds, .fetches = fetches});
  for (const PlanStep& step : plan.steps) {
    EXPECT_EQ(step.waits_for_collectives, step.node == reader.node) << step.node->name();
  }
  // Through a forwarded mean (Identity): its reader waits, the Identity does not.
  Output forwarded = ops::identity(mean, "forwarded");
  Output late_reader = ops::neg(forwarded, "late_reader");
  const Output late_fetches[] = {late_reader};
  const Plan late = make_plan({.feeds = feeds, .fetches = late_fetches});
  for (const PlanStep& step : late.steps) {
    EXPECT_EQ(step.waits_for_collectives, step.node == late_reader.node) << step.node->name();
  }
}

// A depth-first order would run sum(mean_a) before mean_b is computed, while bucket {a, b} is
// not yet all-reduced: the planner moves the readers of a bucket's means after all its values.
TEST(CollectiveOpsTest, ReadersOfAMeanComeAfterEveryValueOfItsBucket) {
  Graph graph;
  Output a = ops::placeholder(graph, DType::kFloat32, Shape{2}, "a");
  Output b = ops::placeholder(graph, DType::kFloat32, Shape{3}, "b");
  Output mean_a = ops::all_reduce_mean(a, in_bucket(2, 1, 1, 0, 5, 2), "mean_a");
  Output sum_a = ops::reduce_sum(mean_a, std::nullopt, false, "sum_a");
  Output mean_b = ops::all_reduce_mean(b, in_bucket(2, 2, 1, 2, 5, 2), "mean_b");
  Output total = ops::add(sum_a, ops::reduce_sum(mean_b, std::nullopt, false, "sum_b"), "total");
  const Output feeds[] = {a, b};
  const Output fetches[] = {total};
  const Plan plan = make_plan({.feeds = feeds, .fetches = fetches});
  std::vector<std::string> names;
  for (const PlanStep& step : plan.steps) names.push_back(step.node->name());
  const auto at = [&](const std::string& name) { return std::find(names.begin(), names.end(), name) - names.begin(); };
  EXPECT_LT(at("mean_b"), at("sum_a"));
  EXPECT_LT(at("mean_a"), at("sum_b"));
}

}  // namespace
}  // namespace scopeflow
