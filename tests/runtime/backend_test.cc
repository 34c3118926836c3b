// Device selection, the CUDA kernel table's coverage of the op table, and the device boundary
// (no device, out of memory) as a machine without a GPU sees it.

#include "runtime/backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/elementwise_functors.h"
#include "ops/op_registry.h"
#include "scopeflow/graph_def.h"
#include "scopeflow/ops.h"
#include "scopeflow/session.h"
#include "test_util.h"

namespace scopeflow {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using test::error_of;

bool cuda_device_answers() {
  absl::StatusOr<int> count = cuda_device_count();
  return count.ok() && *count > 0;
}

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_.has_value()) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(CudaKernelTableTest, OnlyTheRandomOpFallsBackToTheCpu) {
  std::vector<std::string> fallbacks;
  bool built = false;
  for (const OpDef* op : all_ops()) {
    const std::optional<KernelSupportInfo> cuda = cuda_kernel_support(op->id);
    built = built || cuda.has_value();
    if (cuda.has_value() && cuda->support == KernelSupport::kCpuFallback) fallbacks.push_back(op->tf_name);
  }
  EXPECT_EQ(built, cuda_backend_built());
  if (!built) GTEST_SKIP() << "built without the CUDA backend: its kernel table is not linked in";
  EXPECT_THAT(fallbacks, ::testing::ElementsAre("RandomStandardNormal"));
}

TEST(DeviceSelectionTest, ExplicitCudaWithoutADeviceIsAClearError) {
  if (cuda_device_answers()) GTEST_SKIP() << "a CUDA device answers on this machine";
  Graph g;
  Output x = ops::constant(g, Tensor::from_vector<float>(Shape{2}, {1, 2}));
  const test::ThrownError e = error_of([&] { Session s(g, SessionOptions{.device = Device::cuda()}); });
  EXPECT_EQ(e.code, absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(e.message, StartsWith("[session] cannot run on /device:GPU:0: "));
  // The graph is untouched and a CPU session still runs it.
  Session cpu(g, SessionOptions{.device = Device::cpu()});
  EXPECT_EQ(cpu.run(ops::square(x)).to_vector<float>(), (std::vector<float>{1, 4}));
}

TEST(DeviceSelectionTest, EnvironmentVariableChoosesTheDevice) {
  {
    ScopedEnv env("SCOPEFLOW_DEVICE", "cpu");
    ASSERT_TRUE(default_device().ok());
    EXPECT_EQ(*default_device(), Device::cpu());
  }
  {
    ScopedEnv env("SCOPEFLOW_DEVICE", "tpu");
    EXPECT_EQ(default_device().status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(default_device().status().message()),
                HasSubstr("cpu, cuda, cuda:N, gpu, gpu:N, auto"));
  }
  // Malformed CUDA names are refused before any device is asked, never read as device 0.
  for (const char* bad : {"cuda:x", "cuda1", "gpu7", "cudafoo", "cuda:", "cuda:-1", "gpu:1x"}) {
    ScopedEnv env("SCOPEFLOW_DEVICE", bad);
    EXPECT_EQ(default_device().status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(default_device().status().message()),
                HasSubstr(absl::StrCat("SCOPEFLOW_DEVICE '", bad, "'")));
  }
  {
    ScopedEnv env("SCOPEFLOW_DEVICE", "CPU");
    ASSERT_TRUE(default_device().ok());
    EXPECT_EQ(*default_device(), Device::cpu());
  }
  if (!cuda_device_answers()) {
    ScopedEnv env("SCOPEFLOW_DEVICE", "cuda");
    EXPECT_EQ(default_device().status().code(), absl::StatusCode::kFailedPrecondition);
    // A session that picks its device from the environment reports the same error.
    Graph g;
    const test::ThrownError e = error_of([&] { Session s(g); });
    EXPECT_EQ(e.code, absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(e.message, HasSubstr("SCOPEFLOW_DEVICE asks for CUDA"));
  }
  {
    ScopedEnv env("SCOPEFLOW_DEVICE", "auto");
    ASSERT_TRUE(default_device().ok());
    EXPECT_EQ(default_device()->type, cuda_device_answers() ? DeviceType::kCuda : DeviceType::kCpu);
  }
}

TEST(DeviceBoundaryTest, OutOfMemoryUnderACapIsAnErrorAndTheSessionStaysUsable) {
  Graph g;
  Output x = ops::placeholder(g, DType::kFloat32, Shape{256, 256}, "x");
  Output y = ops::matmul(x, x);
  Session session(g, SessionOptions{.device = Device::cpu()});
  const Tensor input = Tensor::zeros(DType::kFloat32, Shape{256, 256});
  session.allocator().set_byte_limit(64 * 1024);  // less than one (256, 256) float32 output
  const test::ThrownError e = error_of([&] { session.run({{x, input}}, {y}); });
  EXPECT_EQ(e.code, absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(e.message, HasSubstr("out of memory on /device:CPU:0"));
  EXPECT_EQ(session.allocator().stats().bytes_in_use, 0) << "the failed run leaked";
  session.allocator().set_byte_limit(0);
  EXPECT_EQ(session.run({{x, input}}, {y}).at(0).shape(), (Shape{256, 256}));
}

TEST(DeviceBoundaryTest, HostAllocatorReportsNoDeviceMemory) {
  CpuAllocator allocator;
  EXPECT_EQ(allocator.device_memory_info().status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(allocator.cached_bytes(), 0);
}

TEST(PlacementTest, CpuSessionPlacesEveryNodeOnTheCpu) {
  Graph g;
  Output r = ops::random_normal(g, Shape{3});
  Output y = ops::relu(r);
  Session session(g, SessionOptions{.device = Device::cpu()});
  const Node* draw = g.find_node("random_normal/RandomStandardNormal");
  ASSERT_NE(draw, nullptr);
  EXPECT_EQ(session.node_device(*draw), Device::cpu());
  EXPECT_EQ(session.node_device(*r.node), Device::cpu());
  EXPECT_EQ(session.node_device(*y.node), Device::cpu());
  const std::string text = graph_def_text(g, {.placement = &session});
  EXPECT_THAT(text, HasSubstr("device: \"/device:CPU:0\""));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("GPU")));
}

TEST(FunctorsTest, CastAndAdamStepSizeFollowTensorFlow) {
  EXPECT_EQ(functors::CastTo<int32_t>{}(-2.7f), -2);  // truncates toward zero
  EXPECT_EQ(functors::CastTo<int64_t>{}(3.9f), 3);
  EXPECT_TRUE(functors::CastTo<bool>{}(0.5f));
  EXPECT_FALSE(functors::CastTo<bool>{}(int64_t{0}));
  EXPECT_EQ(functors::CastTo<float>{}(true), 1.0f);
  // Defined where static_cast is not: NaN -> 0, out-of-range saturates (as on the GPU).
  EXPECT_EQ(functors::CastTo<int32_t>{}(std::numeric_limits<float>::quiet_NaN()), 0);
  EXPECT_EQ(functors::CastTo<int32_t>{}(3e9f), std::numeric_limits<int32_t>::max());
  EXPECT_EQ(functors::CastTo<int32_t>{}(-3e9f), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(functors::CastTo<int64_t>{}(-std::numeric_limits<float>::infinity()),
            std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(functors::Equal{}(3, 3));
  EXPECT_FALSE(functors::Equal{}(1.0f, 2.0f));
  // Step 1 with beta1 = 0.9, beta2 = 0.999: lr * sqrt(1 - beta2) / (1 - beta1).
  EXPECT_FLOAT_EQ(functors::adam_step_size(0.01f, 0.9f, 0.999f), 0.01f * std::sqrt(1.0f - 0.999f) / (1.0f - 0.9f));
}

}  // namespace
}  // namespace scopeflow
