// GPU tests (CTest label gpu): every op's CUDA result against the CPU's, training on the GPU
// against training on the CPU, one device allocation per variable, and the device boundary.
// Without a usable CUDA device every test skips and says why.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "scopeflow/gradients.h"
#include "scopeflow/graph_def.h"
#include "scopeflow/layers.h"
#include "scopeflow/losses.h"
#include "scopeflow/ops.h"
#include "scopeflow/scope.h"
#include "scopeflow/session.h"
#include "cuda/gpu_test_util.h"
#include "scopeflow/train.h"
#include "test_util.h"
#include "train/gradient_check.h"
#include "train/op_gradient_cases.h"

namespace scopeflow {
namespace {

using ::testing::HasSubstr;
using test::OpGradientCase;
using test::random_tensor;

using test::why_no_gpu;

#define SCOPEFLOW_REQUIRE_GPU()                                                      \
  do {                                                                               \
    if (const std::string why = why_no_gpu(); !why.empty()) GTEST_SKIP() << why;     \
  } while (0)

SessionOptions on_cpu() { return SessionOptions{.device = Device::cpu()}; }
SessionOptions on_gpu() { return SessionOptions{.device = Device::cuda(0)}; }

// Bit-for-bit equality of two host tensors of any dtype, as casts and copies must give; only
// the payload of a NaN may differ (the conversion instructions choose it).
void expect_identical(const Tensor& gpu, const Tensor& cpu, const std::string& what) {
  ASSERT_EQ(gpu.dtype(), cpu.dtype()) << what;
  ASSERT_EQ(gpu.shape(), cpu.shape()) << what;
  dispatch_dtype(cpu.dtype(), [&]<class T>() {
    const T* g = gpu.data<T>();
    const T* c = cpu.data<T>();
    for (int64_t i = 0; i < cpu.num_elements(); ++i) {
      if constexpr (is_half_type_v<T> || std::is_floating_point_v<T>) {
        using Wide = std::conditional_t<is_half_type_v<T>, float, T>;
        if (std::isnan(static_cast<Wide>(c[i])) && std::isnan(static_cast<Wide>(g[i]))) continue;
      }
      ASSERT_EQ(std::memcmp(&g[i], &c[i], sizeof(T)), 0)
          << what << " (" << cpu.description() << ") [" << i << "]";
    }
  });
}

// Element-wise closeness of two host tensors of the same dtype and shape.
void expect_close(const Tensor& gpu, const Tensor& cpu, const std::string& what,
                  double rtol = 1e-4, double atol = 1e-5) {
  ASSERT_EQ(gpu.dtype(), cpu.dtype()) << what;
  ASSERT_EQ(gpu.shape(), cpu.shape()) << what;
  EXPECT_EQ(gpu.device(), Device::cpu()) << what << ": fetches must come back to the host";
  if (cpu.dtype() != DType::kFloat32) {
    expect_identical(gpu, cpu, what);  // casts and copies
    return;
  }
  const float* g = gpu.data<float>();
  const float* c = cpu.data<float>();
  for (int64_t i = 0; i < cpu.num_elements(); ++i) {
    if (std::isnan(c[i])) {
      EXPECT_TRUE(std::isnan(g[i])) << what << "[" << i << "]";
    } else {
      EXPECT_NEAR(g[i], c[i], atol + rtol * std::fabs(c[i])) << what << "[" << i << "]";
    }
  }
}

// Runs `fetches` on a CPU and on a GPU session of the same graph and compares.
void expect_gpu_matches_cpu(const Graph& graph, const FeedList& feeds,
                            const std::vector<Output>& fetches, const std::string& what) {
  Session cpu(graph, on_cpu());
  Session gpu(graph, on_gpu());
  cpu.initialize_variables();
  gpu.initialize_variables();
  const std::vector<Tensor> expected = cpu.run(feeds, fetches);
  const std::vector<Tensor> got = gpu.run(feeds, fetches);
  for (size_t i = 0; i < fetches.size(); ++i) {
    expect_close(got[i], expected[i], absl::StrCat(what, ": ", fetches[i].name()));
  }
}

// Random bytes of `dtype` (bool: 0 or 1): every float pattern, NaN, Inf and subnormals included.
Tensor random_bits(DType dtype, int64_t n, std::mt19937& rng) {
  Tensor t(dtype, Shape{n});
  auto* bytes = static_cast<uint8_t*>(t.raw_data());
  for (size_t i = 0; i < t.byte_size(); ++i) {
    bytes[i] = static_cast<uint8_t>(dtype == DType::kBool ? rng() % 2 : rng() % 256);
  }
  return t;
}

TEST(GpuDTypeTest, CastsBetweenEveryPairOfDtypesMatchTheCpu) {
  SCOPEFLOW_REQUIRE_GPU();
  std::mt19937 rng(5);
  for (DType from : kAllDTypes) {
    Graph graph;
    Output x = ops::placeholder(graph, from, Shape{4096}, "x");
    std::vector<Output> fetches;
    for (DType to : kAllDTypes) fetches.push_back(ops::cast(x, to));
    const FeedList feeds = {{x, random_bits(from, 4096, rng)}};
    Session cpu(graph, on_cpu());
    Session gpu(graph, on_gpu());
    const std::vector<Tensor> expected = cpu.run(feeds, fetches);
    const std::vector<Tensor> got = gpu.run(feeds, fetches);
    for (size_t i = 0; i < fetches.size(); ++i) {
      expect_identical(got[i], expected[i], absl::StrCat(dtype_name(from), " -> ", dtype_name(kAllDTypes[i])));
    }
  }
}

TEST(GpuDTypeTest, VariablesOfEveryDtypeInitializeAssignAndBroadcastAsOnTheCpu) {
  SCOPEFLOW_REQUIRE_GPU();
  std::mt19937 rng(6);
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(dtype_name(dtype));
    Graph graph;
    Variable initialized = get_variable(graph, "initialized", {.shape = Shape{3, 7}, .dtype = dtype});
    Variable v = get_variable(graph, "v", {.shape = Shape{3, 7}, .dtype = dtype});
    Output fed = ops::placeholder(graph, dtype, Shape{3, 7}, "fed");
    Node* assign = ops::assign(v, fed);
    Output wide = ops::broadcast_to(ops::reshape(v, {3, 1, 7}), Shape{3, 2, 7});
    const Tensor value = random_bits(dtype, 21, rng).reshaped(Shape{3, 7});
    Session cpu(graph, on_cpu());
    Session gpu(graph, on_gpu());
    cpu.initialize_variables();
    gpu.initialize_variables();
    cpu.run({{fed, value}}, {}, {assign});
    gpu.run({{fed, value}}, {}, {assign});
    const std::vector<Tensor> expected = cpu.run({}, {initialized.value(), v.value(), wide});
    const std::vector<Tensor> got = gpu.run({}, {initialized.value(), v.value(), wide});
    for (size_t i = 0; i < got.size(); ++i) expect_identical(got[i], expected[i], absl::StrCat("fetch ", i));
    EXPECT_EQ(std::memcmp(gpu.to_host(gpu.variable_value(v)).raw_data(), value.raw_data(), value.byte_size()), 0);
  }
}

// Every differentiable op: forward value and the gradients of a random functional of it.
class GpuOpTest : public ::testing::TestWithParam<OpGradientCase> {};

TEST_P(GpuOpTest, ForwardAndGradientsMatchTheCpu) {
  SCOPEFLOW_REQUIRE_GPU();
  const OpGradientCase& c = GetParam();
  Graph graph;
  std::mt19937 rng(11);
  const test::OpCaseGraph built = test::build_op_case(graph, c, rng);
  std::vector<Output> fetches = {built.y, built.loss};
  for (const Output& g : gradients(std::span<const Output>(&built.loss, 1), built.inputs)) {
    fetches.push_back(g);
  }
  expect_gpu_matches_cpu(graph, built.feeds, fetches, c.name);
}

INSTANTIATE_TEST_SUITE_P(AllOps, GpuOpTest, ::testing::ValuesIn(test::op_gradient_cases()),
                         [](const ::testing::TestParamInfo<OpGradientCase>& param_info) { return param_info.param.name; });

TEST(GpuOpTest, NonDifferentiableOpsAndReductionLayoutsMatchTheCpu) {
  SCOPEFLOW_REQUIRE_GPU();
  Graph graph;
  std::mt19937 rng(5);
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{4, 3, 5}, "x");
  Output m = ops::placeholder(graph, DType::kFloat32, Shape{6, 7}, "m");
  Output labels = ops::constant(graph, Tensor::from_vector<int64_t>(Shape{6}, {0, 6, 3, 3, 1, 5}));
  const FeedList feeds = {{x, random_tensor(Shape{4, 3, 5}, rng)}, {m, random_tensor(Shape{6, 7}, rng)}};
  const std::vector<Output> fetches = {
      ops::argmax(m, 1), ops::argmax(x, 0), ops::equal(ops::argmax(m, 1), labels),
      ops::cast(m, DType::kInt32), ops::cast(ops::cast(m, DType::kBool), DType::kFloat32),
      ops::reduce_sum(x, std::vector<int64_t>{0}), ops::reduce_sum(x, std::vector<int64_t>{1}),
      ops::reduce_mean(x, std::vector<int64_t>{0, 2}), ops::reduce_sum(x),
      ops::reduce_sum(x, std::vector<int64_t>{2}, true), ops::neg(ops::cast(m, DType::kInt64)),
      ops::broadcast_to(ops::reduce_sum(m, std::vector<int64_t>{1}, true), Shape{2, 6, 7}),
      ops::sparse_softmax_cross_entropy_with_logits(m, labels).backprop,
      ops::random_normal(graph, Shape{3, 4}),  // CPU fallback: identical draws on both devices
  };
  expect_gpu_matches_cpu(graph, feeds, fetches, "non-differentiable");
}

TEST(GpuOpTest, FusedGemmEpiloguesMatchTheUnfusedCpu) {
  SCOPEFLOW_REQUIRE_GPU();
  for (const bool transpose_a : {false, true}) {
    for (const bool transpose_b : {false, true}) {
      Graph graph;
      std::mt19937 rng(21);
      const Shape a_shape = transpose_a ? Shape{33, 17} : Shape{17, 33};
      const Shape b_shape = transpose_b ? Shape{9, 33} : Shape{33, 9};
      Output a = ops::placeholder(graph, DType::kFloat32, a_shape, "a");
      Output w = ops::placeholder(graph, DType::kFloat32, b_shape, "w");
      Output bias = ops::constant(graph, random_tensor(Shape{9}, rng));
      Output biased = ops::bias_add(ops::matmul(a, w, {.transpose_a = transpose_a, .transpose_b = transpose_b}), bias);
      Output activated = ops::relu(biased);
      // Two chains: MatMul + BiasAdd + Relu, and MatMul + BiasAdd whose value is fetched.
      Output second = ops::bias_add(ops::matmul(a, w, {.transpose_a = transpose_a, .transpose_b = transpose_b}), bias);
      const FeedList feeds = {{a, random_tensor(a_shape, rng)}, {w, random_tensor(b_shape, rng)}};
      Session cpu(graph, SessionOptions{.device = Device::cpu(), .fuse_gemm_epilogues = false});
      Session gpu(graph, on_gpu());
      const std::vector<Output> fetches = {activated, second};
      const std::vector<Tensor> want = cpu.run(feeds, fetches);
      const std::vector<Tensor> got = gpu.run(feeds, fetches);
      const std::string what = absl::StrCat("transpose_a=", transpose_a, " transpose_b=", transpose_b);
      expect_close(got[0], want[0], what + " relu(x @ w + b)");
      expect_close(got[1], want[1], what + " x @ w + b");
    }
  }
}

TEST(GpuOpTest, AlignedFusedGemmRunsTheCublasLtEpilogue) {
  SCOPEFLOW_REQUIRE_GPU();
  Graph graph;
  std::mt19937 rng(8);
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{64, 32}, "x");
  Output w = ops::constant(graph, random_tensor(Shape{32, 128}, rng));
  Output b = ops::constant(graph, random_tensor(Shape{128}, rng));
  Output y = ops::relu(ops::bias_add(ops::matmul(x, w), b));
  Output z = ops::add(ops::matmul(x, w), b);  // x @ w + b, fused too
  Output empty = ops::relu(ops::bias_add(
      ops::matmul(ops::constant(graph, Tensor::zeros(DType::kFloat32, Shape{4, 0})),
                  ops::constant(graph, Tensor::zeros(DType::kFloat32, Shape{0, 128}))),
      b));  // k = 0: the bias, rectified
  const FeedList feeds = {{x, random_tensor(Shape{64, 32}, rng)}};
  Session cpu(graph, SessionOptions{.device = Device::cpu(), .fuse_gemm_epilogues = false});
  Session gpu(graph, on_gpu());
  const std::vector<Output> fetches = {y, z, empty};
  RunStats stats;
  const std::vector<Tensor> got = gpu.run(feeds, fetches, {}, RunOptions{.trace = true}, &stats);
  const std::vector<Tensor> want = cpu.run(feeds, fetches);
  for (size_t i = 0; i < fetches.size(); ++i) expect_close(got[i], want[i], fetches[i].name());
  std::vector<std::string> kernels;
  for (const NodeRunStats& n : stats.nodes) {
    if (!n.fused_kernel.empty()) kernels.push_back(n.fused_kernel);
  }
  EXPECT_THAT(kernels, ::testing::Contains(HasSubstr("cublasLt BIAS epilogue, then the ReLU kernel")));
  EXPECT_THAT(kernels, ::testing::Contains(HasSubstr("cublasLt BIAS")));
}

TEST(GpuOpTest, ReluKeepsNaNInThePlainAndFusedPaths) {
  SCOPEFLOW_REQUIRE_GPU();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{4, 4}, "x");
  Output w = ops::constant(graph, Tensor::from_vector<float>(Shape{4, 4}, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}));
  Output b = ops::constant(graph, Tensor::from_vector<float>(Shape{4}, {0, 0, 0, 0}));
  Output fused = ops::relu(ops::bias_add(ops::matmul(x, w), b));
  Output plain = ops::relu(x);
  Output grad = ops::relu_grad(x, ops::neg(ops::abs(x)));  // a NaN gradient where the mask is 0
  std::vector<float> values(16, -1.0f);
  values[0] = nan;
  values[5] = 2.0f;
  const FeedList feeds = {{x, Tensor::from_vector<float>(Shape{4, 4}, values)}};
  Session gpu(graph, on_gpu());
  const std::vector<Tensor> got = gpu.run(feeds, {fused, plain, grad});
  for (size_t i = 0; i < got.size(); ++i) {
    const std::vector<float> v = got[i].to_vector<float>();
    EXPECT_TRUE(std::isnan(v[0])) << "output " << i;
    if (i < 2) {
      EXPECT_EQ(v[5], 2.0f) << "output " << i;
      EXPECT_EQ(v[6], 0.0f) << "output " << i;
    }
  }
}

TEST(GpuOpTest, ReductionsOverOneRowMatchTheCpu) {
  SCOPEFLOW_REQUIRE_GPU();
  // GEMV reductions whose ones vector has length 1 (a session's first reductions here).
  Graph graph;
  std::mt19937 rng(4);
  Output row = ops::placeholder(graph, DType::kFloat32, Shape{1, 6}, "row");
  Output single = ops::placeholder(graph, DType::kFloat32, Shape{1}, "single");
  const FeedList feeds = {{row, random_tensor(Shape{1, 6}, rng)}, {single, random_tensor(Shape{1}, rng)}};
  const std::vector<Output> fetches = {
      ops::bias_add_grad(row), ops::reduce_mean(single), ops::reduce_sum(row, std::vector<int64_t>{0}),
      ops::reduce_sum(row, std::vector<int64_t>{1}), ops::reduce_mean(row)};
  expect_gpu_matches_cpu(graph, feeds, fetches, "one row");
}

// A model whose hidden layer is one shared scope used three times, trained on both devices.
struct SharedModel {
  Graph graph;
  Output x;
  Output labels;
  Output loss;
  Node* train_step = nullptr;
};

std::unique_ptr<SharedModel> shared_model(train::Optimizer& optimizer) {
  auto model = std::make_unique<SharedModel>();
  Graph& g = model->graph;
  g.set_seed(3);
  model->x = ops::placeholder(g, DType::kFloat32, Shape{16, 8}, "x");
  model->labels = ops::placeholder(g, DType::kInt32, Shape{16}, "labels");
  Output h = model->x;
  for (int i = 0; i < 3; ++i) h = ops::tanh(linear(h, 8, "shared", {.weights_initializer = init::glorot_uniform()}));
  Output logits = linear(h, 4, "out", {.weights_initializer = init::glorot_uniform()});
  model->loss = losses::sparse_softmax_cross_entropy(model->labels, logits);
  model->train_step = optimizer.minimize(model->loss);
  return model;
}

FeedList batch_feeds(const SharedModel& model, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> label(0, 3);
  std::vector<int32_t> labels(16);
  for (int32_t& l : labels) l = label(rng);
  return {{model.x, random_tensor(Shape{16, 8}, rng)},
          {model.labels, Tensor::from_vector<int32_t>(Shape{16}, labels)}};
}

void expect_training_matches(train::Optimizer& cpu_optimizer, train::Optimizer& gpu_optimizer,
                             const std::string& what) {
  // Two identical graphs (each optimizer builds into its own), one per device.
  std::unique_ptr<SharedModel> cpu_model = shared_model(cpu_optimizer);
  std::unique_ptr<SharedModel> gpu_model = shared_model(gpu_optimizer);
  Session cpu(cpu_model->graph, on_cpu());
  Session gpu(gpu_model->graph, on_gpu());
  cpu.initialize_variables();
  gpu.initialize_variables();
  std::mt19937 cpu_rng(9);
  std::mt19937 gpu_rng(9);
  for (int step = 0; step < 25; ++step) {
    const float cpu_loss = cpu.run(batch_feeds(*cpu_model, cpu_rng), {cpu_model->loss}, {cpu_model->train_step})
                               .at(0).data<float>()[0];
    const float gpu_loss = gpu.run(batch_feeds(*gpu_model, gpu_rng), {gpu_model->loss}, {gpu_model->train_step})
                               .at(0).data<float>()[0];
    EXPECT_NEAR(gpu_loss, cpu_loss, 1e-4 + 1e-4 * std::fabs(cpu_loss)) << what << " step " << step;
  }
  const auto& cpu_vars = cpu_model->graph.variable_store().variables();
  const auto& gpu_vars = gpu_model->graph.variable_store().variables();
  ASSERT_EQ(cpu_vars.size(), gpu_vars.size());
  for (size_t i = 0; i < cpu_vars.size(); ++i) {
    expect_close(gpu.to_host(gpu.variable_value(Variable(gpu_vars[i].get()))),
                 cpu.variable_value(Variable(cpu_vars[i].get())), absl::StrCat(what, ": ", cpu_vars[i]->name),
                 1e-3, 1e-4);
  }
}

// A layer used 6 times: on the GPU its per-use gradients are summed in place (cuBLAS beta = 1,
// GEMV beta = 1 for the biases); the sums match the CPU's AddN path and repeat bit for bit.
TEST(GpuTrainingTest, SharedGradientsSummedInPlaceMatchTheCpuAddNPathAndRepeat) {
  SCOPEFLOW_REQUIRE_GPU();
  Graph graph;
  graph.set_seed(8);
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{8, 32}, "x");
  Output h = x;
  Variable w, b;
  for (int i = 0; i < 6; ++i) {
    VariableScopeGuard scope = variable_scope(graph, "layer", {.reuse = Reuse::kAutoReuse});
    w = get_variable(graph, "weights", {.shape = Shape{32, 32}, .initializer = init::glorot_uniform()});
    b = get_variable(graph, "biases", {.shape = Shape{32}, .initializer = init::random_normal(0, 0.1)});
    h = ops::tanh(ops::bias_add(ops::matmul(h, w), b));
  }
  Output loss = ops::reduce_sum(ops::square(h));
  const std::vector<Output> grads = gradients(loss, {w.value(), b.value()});
  std::mt19937 rng(2);
  const FeedList feeds = {{x, random_tensor(Shape{8, 32}, rng)}};
  Session cpu(graph, SessionOptions{.device = Device::cpu(), .accumulate_sums_in_place = false});
  Session gpu(graph, on_gpu());
  cpu.initialize_variables();
  gpu.initialize_variables();
  const std::vector<Tensor> expected = cpu.run(feeds, grads);
  RunStats stats;
  const std::vector<Tensor> first = gpu.run(feeds, grads, {}, RunOptions{.trace = true}, &stats);
  const std::vector<Tensor> second = gpu.run(feeds, grads);
  int accumulating = 0;
  for (const NodeRunStats& node : stats.nodes) {
    if (node.fused_kernel.find("adding into the sum") != std::string::npos) ++accumulating;
  }
  EXPECT_EQ(accumulating, 10) << "5 later uses each for the weights and the biases";
  for (size_t i = 0; i < grads.size(); ++i) {
    expect_close(first[i], expected[i], grads[i].name(), 1e-4, 1e-5);
    expect_identical(second[i], first[i], grads[i].name() + " run to run");
  }
}

TEST(GpuTrainingTest, SgdMomentumAndAdamTrainAsOnTheCpu) {
  SCOPEFLOW_REQUIRE_GPU();
  {
    train::GradientDescent a(0.1f), b(0.1f);
    expect_training_matches(a, b, "sgd");
  }
  {
    train::Momentum a(0.05f, 0.9f, true), b(0.05f, 0.9f, true);
    expect_training_matches(a, b, "nesterov");
  }
  {
    train::Adam a({.learning_rate = 0.01f, .weight_decay = 0.1f}), b({.learning_rate = 0.01f, .weight_decay = 0.1f});
    expect_training_matches(a, b, "adamw");
  }
}

TEST(GpuMemoryTest, OneDeviceAllocationPerVariableAndPerSlot) {
  SCOPEFLOW_REQUIRE_GPU();
  train::Adam adam({.learning_rate = 0.01f});
  std::unique_ptr<SharedModel> model = shared_model(adam);
  Session gpu(model->graph, on_gpu());
  gpu.initialize_variables();
  EXPECT_EQ(gpu.allocator().device(), Device::cuda(0));
  // shared/{weights,biases} and out/{weights,biases}: four parameters although "shared" is
  // used three times; Adam adds m and v per parameter.
  EXPECT_EQ(gpu.allocator().stats(MemoryKind::kParameter).live_allocations, 4);
  EXPECT_EQ(gpu.allocator().stats(MemoryKind::kOptimizerSlot).live_allocations, 8);
  std::mt19937 rng(1);
  const FeedList feeds = batch_feeds(*model, rng);
  for (int step = 0; step < 3; ++step) gpu.run(feeds, {}, {model->train_step});
  EXPECT_EQ(gpu.allocator().stats(MemoryKind::kParameter).live_allocations, 4) << "nothing copied per use";
  EXPECT_EQ(gpu.allocator().stats(MemoryKind::kOptimizerSlot).live_allocations, 8);
  const Tensor weights = gpu.variable_value(Variable(model->graph.variable_store().variables().front().get()));
  EXPECT_EQ(weights.device(), Device::cuda(0));
  EXPECT_THROW(weights.to_vector<float>(), Error) << "device memory is not readable on the host";

  absl::StatusOr<DeviceMemoryInfo> info = gpu.allocator().device_memory_info();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_GT(info->total_bytes, 0);
  EXPECT_LE(info->free_bytes, info->total_bytes);
}

// A fetched read of a variable is its value before the in-place update of the same run, as on
// the CPU (the plan copies it on the device).
TEST(GpuMemoryTest, AFetchedReadSeesTheValueBeforeTheUpdateOfTheSameRun) {
  SCOPEFLOW_REQUIRE_GPU();
  Graph g;
  Variable w = get_variable(g, "w", {.shape = Shape{2}, .initializer = init::ones()});
  Node* update = ops::assign_sub(w, ops::constant(g, Tensor::from_vector<float>(Shape{2}, {0.25f, 0.5f})), "update");
  Session gpu(g, on_gpu());
  gpu.initialize_variables();
  const Output fetches[] = {w.value()};
  Node* const targets[] = {update};
  EXPECT_EQ(gpu.run({}, fetches, targets).at(0).to_vector<float>(), (std::vector<float>{1.0f, 1.0f}));
  EXPECT_EQ(gpu.run({}, fetches, targets).at(0).to_vector<float>(), (std::vector<float>{0.75f, 0.5f}));
  EXPECT_EQ(gpu.to_host(gpu.variable_value(w)).to_vector<float>(), (std::vector<float>{0.5f, 0.0f}));
}

TEST(GpuBoundaryTest, OutOfDeviceMemoryIsAnErrorAndTheSessionStaysUsable) {
  SCOPEFLOW_REQUIRE_GPU();
  Graph g;
  Output x = ops::placeholder(g, DType::kFloat32, Shape{512, 512}, "x");
  Output y = ops::matmul(x, x);
  Session gpu(g, on_gpu());
  const Tensor input = Tensor::zeros(DType::kFloat32, Shape{512, 512});
  gpu.allocator().set_byte_limit(512 * 1024);  // less than the feed and the product together
  const test::ThrownError e = test::error_of([&] { gpu.run({{x, input}}, {y}); });
  EXPECT_EQ(e.code, absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(e.message, HasSubstr("out of memory on /device:GPU:0"));
  EXPECT_EQ(gpu.allocator().stats().bytes_in_use, 0);
  gpu.allocator().set_byte_limit(0);
  EXPECT_EQ(gpu.run({{x, input}}, {y}).at(0).shape(), (Shape{512, 512}));
}

TEST(GpuBoundaryTest, TheMemoryLimitCountsTheCachedBlocks) {
  SCOPEFLOW_REQUIRE_GPU();
  Graph g;
  Session gpu(g, on_gpu());
  Allocator& allocator = gpu.allocator();
  constexpr size_t kSmall = 1 << 20;  // 1 MiB, a multiple of every rounding granularity
  void* blocks[3];
  for (void*& p : blocks) p = allocator.allocate(kSmall, MemoryKind::kActivation);
  for (void* p : blocks) allocator.deallocate(p, kSmall, MemoryKind::kActivation);
  ASSERT_EQ(allocator.cached_bytes(), static_cast<int64_t>(3 * kSmall));
  // In use it is far under the limit; with the 3 MiB cache the device would hold 5 MiB.
  allocator.set_byte_limit(static_cast<int64_t>(4 * kSmall));
  void* large = allocator.allocate(2 * kSmall, MemoryKind::kActivation);
  EXPECT_EQ(allocator.cached_bytes(), 0);
  allocator.deallocate(large, 2 * kSmall, MemoryKind::kActivation);
  EXPECT_EQ(allocator.cached_bytes(), static_cast<int64_t>(2 * kSmall));
  // Past the limit, the message names what is cached.
  void* used = allocator.allocate(2 * kSmall, MemoryKind::kParameter);
  const test::ThrownError e = test::error_of([&] { (void)allocator.allocate(3 * kSmall, MemoryKind::kActivation); });
  EXPECT_EQ(e.code, absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(e.message, HasSubstr("bytes in use and"));
  EXPECT_THAT(e.message, HasSubstr("bytes cached"));
  allocator.deallocate(used, 2 * kSmall, MemoryKind::kParameter);
  allocator.set_byte_limit(0);
}

TEST(GpuBoundaryTest, BadLabelIsReportedAsOnTheCpu) {
  SCOPEFLOW_REQUIRE_GPU();
  Graph g;
  Output logits = ops::placeholder(g, DType::kFloat32, Shape{3, 4}, "logits");
  Output labels = ops::placeholder(g, DType::kInt32, Shape{3}, "labels");
  Output loss = ops::sparse_softmax_cross_entropy_with_logits(logits, labels).loss;
  Session gpu(g, on_gpu());
  const Tensor values = Tensor::zeros(DType::kFloat32, Shape{3, 4});
  const test::ThrownError e = test::error_of(
      [&] { gpu.run({{logits, values}, {labels, Tensor::from_vector<int32_t>(Shape{3}, {1, 7, 2})}}, {loss}); });
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.message, HasSubstr("received a label value of 7 (example 1)"));
  const Tensor ok = gpu.run({{logits, values}, {labels, Tensor::from_vector<int32_t>(Shape{3}, {1, 3, 2})}}, {loss}).at(0);
  EXPECT_NEAR(ok.data<float>()[0], std::log(4.0f), 1e-5);
}

TEST(GpuPlacementTest, GraphDefAndRunMetadataShowTheDevices) {
  SCOPEFLOW_REQUIRE_GPU();
  Graph g;
  Output r = ops::random_normal(g, Shape{4});
  Output y = ops::relu(r);
  Session gpu(g, on_gpu());
  EXPECT_EQ(gpu.node_device(*y.node), Device::cuda(0));
  const Node* draw = g.find_node("random_normal/RandomStandardNormal");
  ASSERT_NE(draw, nullptr);
  EXPECT_EQ(gpu.node_device(*draw), Device::cpu()) << "RandomStandardNormal falls back to the CPU";
  EXPECT_EQ(gpu.node_device(*r.node), Device::cuda(0)) << "its scaling runs on the GPU";
  const std::string text = graph_def_text(g, {.placement = &gpu});
  EXPECT_THAT(text, HasSubstr("device: \"/device:GPU:0\""));
  EXPECT_THAT(text, HasSubstr("device: \"/device:CPU:0\""));
  RunStats stats;
  gpu.run({}, std::vector<Output>{y}, {}, RunOptions{.trace = true}, &stats);
  bool saw_cpu = false;
  bool saw_gpu = false;
  for (const NodeRunStats& n : stats.nodes) {
    saw_cpu = saw_cpu || n.device == Device::cpu();
    saw_gpu = saw_gpu || n.device == Device::cuda(0);
  }
  EXPECT_TRUE(saw_cpu && saw_gpu);
  EXPECT_FALSE(run_metadata_bytes(stats).empty());
}

}  // namespace
}  // namespace scopeflow
