// Memory and step time of one model built twice: with every layer (or RNN time step) sharing
// ONE variable scope entered with Reuse::kAutoReuse, and with one scope per layer. Measured from
// the session's allocator, trained with Adam.
//
//   shared_vs_duplicated [--model=mlp|rnn] [--depths 1,2,4] [--widths 64,256] [--batch B]
//                        [--steps S] [--threads N] [--no-accumulate] [--no-arena]
//                        [--no-compare-add-n] [--chart FILE] [--json]
//
// The model's only variables are those of its N layers (the input is fed at the layer width and
// the loss is a mean squared error against a fed target), so the shared model holds one layer's
// parameters and the duplicated one N layers'. Per (width, depth) the program checks the
// acceptance criterion of shared variables: parameter + gradient + optimizer-state bytes of the
// shared model equal one layer's (parameters 1x, gradient 1x, Adam's m and v 2x), exactly 1/N of
// the duplicated model's. With the per-use gradients of shared variables summed in place (the
// default), the shared model's activation and allocator peaks must also be at most the
// duplicated model's, and each activation arena within 5% of its lower bound. A third variant,
// the shared model with its gradients summed by AddN, gives the step time and peaks without
// in-place sums. It exits with code 1 when a row misses a criterion.
//
//   mlp: h = relu(h @ weights + biases), N times; weights (width, width), biases (width,).
//   rnn: h_t = tanh(x_t @ input_weights + h_{t-1} @ recurrent_weights + biases) over N time
//        steps with fed x_t and h_0; one cell = both (width, width) matrices and the biases.
//
// Each variant builds a fresh Graph and Session and, by default, runs in a child process
// (fork) so that the peak RSS reported is that variant's own (the child's VmHWM, which starts at
// the few MiB of RSS it has right after fork, also reported); --no-fork runs everything in this process, where peak RSS is
// process-wide and monotone.

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "bench_util.h"
#include "cli/command_line.h"
#include "scopeflow/allocator.h"
#include "scopeflow/graph.h"
#include "scopeflow/initializers.h"
#include "scopeflow/losses.h"
#include "scopeflow/ops.h"
#include "scopeflow/scope.h"
#include "scopeflow/session.h"
#include "scopeflow/train.h"

ABSL_FLAG(std::string, model, "mlp", "mlp (N dense layers) or rnn (one cell over N time steps)");
ABSL_FLAG(scopeflow::cli::IntList, depths, (scopeflow::cli::IntList{{1, 2, 4, 8, 16, 32, 64}}),
          "layers (mlp) or time steps (rnn)");
ABSL_FLAG(scopeflow::cli::IntList, widths, (scopeflow::cli::IntList{{64, 256}}),
          "layer width (input, hidden and output size)");
ABSL_FLAG(int64_t, batch, 32, "batch size");
ABSL_FLAG(int64_t, steps, 5, "timed training steps per variant (median reported)");
ABSL_FLAG(int64_t, warmup, 1, "untimed training steps before timing");
ABSL_FLAG(int64_t, rounds, 1,
          "times each row's variants are run, in turn; the step time reported is the lowest of the rounds' "
          "medians (rounds in turn cancel drift of the machine between variants)");
ABSL_FLAG(int64_t, threads, 1, "the session's intra_op_threads (GEMM threads) and OpenBLAS's");
ABSL_FLAG(int64_t, seed, 1, "graph seed and seed of the fed values");
ABSL_FLAG(bool, fork, true, "run each variant in a child process (per-variant peak RSS)");
ABSL_FLAG(std::string, chart, "shared_vs_duplicated.svg", "SVG chart to write ('' = none)");
ABSL_FLAG(bool, json, false, "print one JSON document instead of the tables");
ABSL_FLAG(std::string, device, "auto", "auto (the GPU when one answers, else the CPU), cpu or cuda");
ABSL_FLAG(bool, accumulate, true, "sum each shared variable's per-use gradients in place (--no-accumulate: by AddN)");
ABSL_FLAG(bool, arena, true, "place each step's activations in one planned arena");
ABSL_FLAG(bool, compare_add_n, true,
          "also run the shared model with AddN sums, for the step time and peaks with and without");
ABSL_FLAG(bool, recompute, false,
          "also run the shared model with gradient checkpoints, recomputing the other activations");
ABSL_FLAG(int64_t, recompute_every, 0,
          "layers (time steps) per checkpoint with --recompute; 0: balanced segments of c, c-1, ..., 1 layers "
          "(c about sqrt(2 depth))");

namespace scopeflow::bench {
namespace {

enum class Model { kMlp, kRnn };

const char* model_name(Model model) { return model == Model::kMlp ? "mlp" : "rnn"; }

struct Config {
  Model model = Model::kMlp;
  int64_t width = 0;
  int64_t depth = 0;
  int64_t batch = 0;
  int64_t steps = 0;
  int64_t warmup = 0;
  int threads = 1;
  uint32_t seed = 0;
  bool shared = false;
  bool accumulate = true;  // SessionOptions::accumulate_sums_in_place
  bool arena = true;       // SessionOptions::plan_activation_arena
  // Gradient checkpoints: every this many layers; -1 balanced segments (see
  // balanced_checkpoints); 0 none.
  int64_t recompute_every = 0;
  char device[8] = "auto";  // auto, cpu or cuda (plain data: copied into forked children)
};

// What one variant measured. Plain data: a forked child writes it into a pipe as raw bytes.
struct VariantResult {
  bool ok = false;
  char error[1024] = {};
  int64_t trainable_variables = 0;
  int64_t parameter_bytes = 0;        // kParameter bytes in use
  int64_t parameter_allocations = 0;  // live kParameter allocations
  int64_t gradient_peak_bytes = 0;    // kGradient peak during a training step
  int64_t slot_bytes = 0;             // kOptimizerSlot bytes in use (Adam m and v)
  int64_t slot_allocations = 0;
  int64_t other_bytes = 0;            // kOther bytes in use (Adam's beta powers)
  int64_t activation_peak_bytes = 0;  // kActivation peak during a training step
  int64_t arena_bytes = 0;            // the training step's activation arena (0: none)
  int64_t arena_lower_bound_bytes = 0;  // most bytes of its blocks alive at once
  int64_t total_peak_bytes = 0;       // allocator peak over all kinds during a training step
  int64_t peak_rss_bytes = -1;        // VmHWM of the process that ran the variant
  int64_t start_rss_bytes = -1;       // RSS of the child right after fork (fork mode), else -1
  double median_step_seconds = 0;
  double mean_step_seconds = 0;
  double min_step_seconds = 0;
  int64_t timed_steps = 0;
  double loss_first = 0;  // before the first step
  double loss_last = 0;   // after the last step
  char device[32] = {};           // where the session ran ("/device:GPU:0")
  int64_t allocator_cached_bytes = 0;  // freed blocks the (CUDA) allocator keeps for reuse
  int64_t device_free_bytes = -1;      // cudaMemGetInfo after the last step (-1: not a GPU)
  int64_t device_total_bytes = -1;

  int64_t stateful_bytes() const { return parameter_bytes + gradient_peak_bytes + slot_bytes; }
};
static_assert(std::is_trivially_copyable_v<VariantResult>);

void set_error(VariantResult* result, const std::string& message) {
  result->ok = false;
  std::snprintf(result->error, sizeof result->error, "%s", message.c_str());
}

// Layers after which a balanced schedule keeps its checkpoints: segments of c, c - 1, ..., 1
// layers from the input on (the first cut short so that they cover `depth`). Backward reaches
// the last segment first, with every checkpoint still alive: the segments shrink by one as the
// checkpoints before them grow by one, so each segment's backward holds about c layers'
// activations, c ≈ sqrt(2 depth), where equal segments of sqrt(depth) layers hold about
// 2 sqrt(depth).
std::vector<int64_t> balanced_checkpoints(int64_t depth) {
  int64_t c = 1;
  while (c * (c + 1) / 2 < depth) ++c;
  std::vector<int64_t> after;  // 1-based layer indices
  int64_t covered = c * (c + 1) / 2 - depth;  // layers the first segment gives up
  int64_t layer = 0;
  for (int64_t size = c; size >= 1; --size) {
    const int64_t length = std::max<int64_t>(0, size - covered);
    covered = std::max<int64_t>(0, covered - size);
    if (length == 0) continue;
    layer += length;
    if (layer < depth) after.push_back(layer);
  }
  return after;
}

// Bytes of one layer (mlp) or one cell (rnn): what the shared model's parameters must be.
int64_t layer_bytes(Model model, int64_t width) {
  const int64_t floats = (model == Model::kMlp ? 1 : 2) * width * width + width;
  return floats * static_cast<int64_t>(sizeof(float));
}

Tensor random_tensor(const Shape& shape, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(shape.num_elements()));
  for (float& v : values) v = dist(rng);
  return Tensor::from_vector<float>(shape, values);
}

// The layer's variables, in the current variable scope.
struct LayerVariables {
  Variable input_weights;      // mlp: the weights
  Variable recurrent_weights;  // rnn only
  Variable biases;
};

LayerVariables layer_variables(Graph& graph, Model model, int64_t width) {
  LayerVariables v;
  v.input_weights = get_variable(graph, model == Model::kMlp ? "weights" : "input_weights",
                                 {.shape = Shape{width, width}, .initializer = init::glorot_uniform()});
  if (model == Model::kRnn) {
    v.recurrent_weights = get_variable(graph, "recurrent_weights",
                                       {.shape = Shape{width, width}, .initializer = init::glorot_uniform()});
  }
  v.biases = get_variable(graph, "biases", {.shape = Shape{width}, .initializer = init::zeros()});
  return v;
}

void run_variant_in_process(const Config& config, VariantResult* result) {
  set_blas_threads(config.threads);
  const int64_t width = config.width;
  const Shape activation_shape{config.batch, width};
  std::mt19937 rng(config.seed);

  Graph graph;
  graph.set_seed(config.seed);
  FeedList feeds;
  Output h;
  if (config.model == Model::kMlp) {
    const Output x = ops::placeholder(graph, DType::kFloat32, activation_shape, "x");
    feeds.emplace_back(x, random_tensor(activation_shape, rng));
    h = x;
  } else {
    const Output h0 = ops::placeholder(graph, DType::kFloat32, activation_shape, "h0");
    feeds.emplace_back(h0, random_tensor(activation_shape, rng));
    h = h0;
  }
  std::vector<Output> checkpoints;
  std::vector<int64_t> checkpoint_after;  // 1-based layer indices
  if (config.recompute_every < 0) checkpoint_after = balanced_checkpoints(config.depth);
  for (int64_t k = config.recompute_every; k > 0 && k < config.depth; k += config.recompute_every) {
    checkpoint_after.push_back(k);
  }
  for (int64_t i = 0; i < config.depth; ++i) {
    Output x_t;
    if (config.model == Model::kRnn) {
      x_t = ops::placeholder(graph, DType::kFloat32, activation_shape, "x_" + std::to_string(i));
      feeds.emplace_back(x_t, random_tensor(activation_shape, rng));
    }
    const std::string prefix = config.model == Model::kMlp ? "layer" : "cell";
    // Shared: one scope, entered N times with auto-reuse. Duplicated: N scopes.
    VariableScopeGuard scope =
        config.shared ? variable_scope(graph, prefix, {.reuse = Reuse::kAutoReuse})
                      : variable_scope(graph, prefix + "_" + std::to_string(i));
    const LayerVariables v = layer_variables(graph, config.model, width);
    if (config.model == Model::kMlp) {
      h = ops::relu(ops::bias_add(ops::matmul(h, v.input_weights), v.biases));
    } else {
      const Output pre = ops::add(ops::matmul(x_t, v.input_weights), ops::matmul(h, v.recurrent_weights));
      h = ops::tanh(ops::bias_add(pre, v.biases));
    }
    if (std::find(checkpoint_after.begin(), checkpoint_after.end(), i + 1) != checkpoint_after.end()) {
      checkpoints.push_back(h);
    }
  }
  const Output target = ops::placeholder(graph, DType::kFloat32, activation_shape, "target");
  feeds.emplace_back(target, random_tensor(activation_shape, rng));
  const Output loss = losses::mean_squared_error(target, h);
  train::Adam adam;
  if (config.recompute_every != 0) adam.set_gradient_checkpoints(checkpoints);
  Node* train_op = adam.minimize(loss);
  result->trainable_variables = static_cast<int64_t>(trainable_variables(graph).size());

  SessionOptions options;  // "auto": the GPU when one answers, else the CPU
  options.intra_op_threads = config.threads;
  options.accumulate_sums_in_place = config.accumulate;
  options.plan_activation_arena = config.arena;
  if (std::string_view(config.device) == "cpu") options.device = Device::cpu();
  if (std::string_view(config.device) == "cuda") options.device = Device::cuda();
  Session session(graph, options);
  session.initialize_variables();
  Allocator& allocator = session.allocator();
  std::snprintf(result->device, sizeof result->device, "%s", session.device().to_string().c_str());
  result->loss_first = session.run(feeds, {loss}).at(0).data<float>()[0];
  for (int64_t i = 0; i < config.warmup; ++i) session.run(feeds, {}, {train_op});

  std::vector<double> samples;
  for (int64_t i = 0; i < config.steps; ++i) {
    allocator.reset_peaks();
    RunStats stats;
    const Timer timer;
    session.run(feeds, {}, std::span<Node* const>(&train_op, 1), RunOptions{}, &stats);
    samples.push_back(timer.seconds());
    result->arena_bytes = stats.arena_bytes;
    result->arena_lower_bound_bytes = stats.arena_lower_bound_bytes;
    result->gradient_peak_bytes =
        std::max(result->gradient_peak_bytes, allocator.stats(MemoryKind::kGradient).peak_bytes);
    result->activation_peak_bytes =
        std::max(result->activation_peak_bytes, allocator.stats(MemoryKind::kActivation).peak_bytes);
    result->total_peak_bytes = std::max(result->total_peak_bytes, allocator.stats().peak_bytes);
  }
  const AllocationStats parameters = allocator.stats(MemoryKind::kParameter);
  const AllocationStats slots = allocator.stats(MemoryKind::kOptimizerSlot);
  result->parameter_bytes = parameters.bytes_in_use;
  result->parameter_allocations = parameters.live_allocations;
  result->slot_bytes = slots.bytes_in_use;
  result->slot_allocations = slots.live_allocations;
  result->other_bytes = allocator.stats(MemoryKind::kOther).bytes_in_use;
  result->loss_last = session.run(feeds, {loss}).at(0).data<float>()[0];
  result->allocator_cached_bytes = allocator.cached_bytes();
  if (absl::StatusOr<DeviceMemoryInfo> info = allocator.device_memory_info(); info.ok()) {
    result->device_free_bytes = info->free_bytes;
    result->device_total_bytes = info->total_bytes;
  }

  result->timed_steps = static_cast<int64_t>(samples.size());
  double total = 0;
  for (double s : samples) total += s;
  result->mean_step_seconds = total / static_cast<double>(samples.size());
  result->min_step_seconds = *std::min_element(samples.begin(), samples.end());
  std::sort(samples.begin(), samples.end());
  const size_t middle = samples.size() / 2;
  result->median_step_seconds =
      samples.size() % 2 == 1 ? samples[middle] : (samples[middle - 1] + samples[middle]) / 2;
  result->peak_rss_bytes = peak_rss_bytes();
  result->ok = true;
}

// Keeps the first round's memory figures (every round runs the same plan) and the lowest median
// step time of the rounds; a failed round fails the variant.
void merge_round(const VariantResult& round_result, bool first_round, VariantResult* kept) {
  if (first_round || !round_result.ok) {
    *kept = round_result;
    return;
  }
  if (!kept->ok || round_result.median_step_seconds >= kept->median_step_seconds) return;
  kept->median_step_seconds = round_result.median_step_seconds;
  kept->mean_step_seconds = round_result.mean_step_seconds;
  kept->min_step_seconds = round_result.min_step_seconds;
}

void run_variant_guarded(const Config& config, VariantResult* result) {
  try {
    run_variant_in_process(config, result);
  } catch (const std::exception& e) {
    set_error(result, e.what());
  }
}

bool write_all(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

size_t read_all(int fd, void* data, size_t size) {
  char* p = static_cast<char*>(data);
  size_t got = 0;
  while (got < size) {
    const ssize_t n = ::read(fd, p + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

// Runs the variant in a forked child so that its peak RSS is its own.
VariantResult run_variant_forked(const Config& config) {
  VariantResult result;
  int fds[2];
  if (::pipe(fds) != 0) {
    set_error(&result, std::string("pipe: ") + std::strerror(errno));
    return result;
  }
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    set_error(&result, std::string("fork: ") + std::strerror(errno));
    ::close(fds[0]);
    ::close(fds[1]);
    return result;
  }
  if (pid == 0) {
    ::close(fds[0]);
    VariantResult child;
    child.start_rss_bytes = current_rss_bytes();
    run_variant_guarded(config, &child);
    const bool written = write_all(fds[1], &child, sizeof child);
    ::close(fds[1]);
    std::fflush(nullptr);
    ::_exit(written ? 0 : 3);
  }
  ::close(fds[1]);
  const size_t got = read_all(fds[0], &result, sizeof result);
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (got != sizeof result) {
    std::string why = "the child process ended without a result";
    if (WIFSIGNALED(status)) why += " (killed by signal " + std::to_string(WTERMSIG(status)) + ")";
    if (WIFEXITED(status)) why += " (exit code " + std::to_string(WEXITSTATUS(status)) + ")";
    result = VariantResult{};
    set_error(&result, why);
  }
  return result;
}

// The arena may exceed its lower bound (the most bytes alive at once) by at most 5%.
constexpr double kArenaSlack = 1.05;

struct Row {
  int64_t width = 0;
  int64_t depth = 0;
  int64_t layer = 0;  // bytes of one layer / cell
  VariantResult shared;
  VariantResult shared_add_n;  // the shared model with its per-use gradients summed by AddN
  bool has_add_n = false;
  VariantResult shared_recompute;  // the shared model with gradient checkpoints (--recompute)
  int64_t recompute_every = 0;
  VariantResult duplicated;
  double ratio = 0;  // duplicated / shared stateful bytes
  bool accumulate = true;
  bool ok = false;
  std::string problem;
};

void check_row(Row& row) {
  const VariantResult& s = row.shared;
  const VariantResult& d = row.duplicated;
  if (!s.ok || !d.ok) {
    row.problem = std::string("variant failed: ") + (!s.ok ? s.error : d.error);
    return;
  }
  row.ratio = s.stateful_bytes() > 0
                  ? static_cast<double>(d.stateful_bytes()) / static_cast<double>(s.stateful_bytes())
                  : 0.0;
  const int64_t n = row.depth;
  std::string problem;
  auto expect = [&](const char* what, int64_t got, int64_t want) {
    if (got != want && problem.empty()) {
      problem = std::string(what) + " is " + std::to_string(got) + " bytes, expected " + std::to_string(want);
    }
  };
  // The shared model holds exactly one layer: parameters 1x, gradient 1x, Adam m and v 2x.
  expect("shared parameters", s.parameter_bytes, row.layer);
  expect("shared gradient peak", s.gradient_peak_bytes, row.layer);
  expect("shared optimizer slots", s.slot_bytes, 2 * row.layer);
  // ... and exactly 1/N of the duplicated model's.
  expect("duplicated parameter+gradient+slot", d.stateful_bytes(), n * s.stateful_bytes());
  auto expect_at_most = [&](const std::string& what, int64_t got, int64_t bound) {
    if (got > bound && problem.empty()) {
      problem = what + " is " + std::to_string(got) + " bytes, more than " + std::to_string(bound);
    }
  };
  // With the per-use gradients summed in place, sharing costs no memory anywhere.
  if (row.accumulate) {
    expect_at_most("the shared activation peak", s.activation_peak_bytes, d.activation_peak_bytes);
    expect_at_most("the shared allocator peak", s.total_peak_bytes, d.total_peak_bytes);
  }
  for (const auto& [name, v] : {std::pair{"shared", &s}, std::pair{"duplicated", &d}}) {
    if (v->arena_bytes > 0) {
      expect_at_most(std::string(name) + " arena", v->arena_bytes,
                     static_cast<int64_t>(kArenaSlack * static_cast<double>(v->arena_lower_bound_bytes)));
    }
  }
  if (row.has_add_n && !row.shared_add_n.ok && problem.empty()) {
    problem = std::string("the shared AddN variant failed: ") + row.shared_add_n.error;
  }
  if (row.recompute_every != 0 && !row.shared_recompute.ok && problem.empty()) {
    problem = std::string("the recomputing variant failed: ") + row.shared_recompute.error;
  }
  row.ok = problem.empty();
  row.problem = problem;
}

std::string ratio_text(const Row& row) {
  if (!row.shared.ok || !row.duplicated.ok) return "-";
  if (row.ratio == std::floor(row.ratio)) return format_fixed(row.ratio, 0);
  return format_fixed(row.ratio, 4);
}

void write_variant_json(JsonWriter& w, const VariantResult& v) {
  w.begin_object();
  w.field("ok", v.ok);
  if (!v.ok) w.field("error", std::string(v.error));
  w.field("trainable_variables", v.trainable_variables);
  w.field("parameter_bytes", v.parameter_bytes);
  w.field("parameter_allocations", v.parameter_allocations);
  w.field("gradient_peak_bytes", v.gradient_peak_bytes);
  w.field("optimizer_slot_bytes", v.slot_bytes);
  w.field("optimizer_slot_allocations", v.slot_allocations);
  w.field("parameter_gradient_slot_bytes", v.stateful_bytes());
  w.field("other_bytes", v.other_bytes);
  w.field("activation_peak_bytes", v.activation_peak_bytes);
  w.field("arena_bytes", v.arena_bytes);
  w.field("arena_lower_bound_bytes", v.arena_lower_bound_bytes);
  w.field("allocator_peak_bytes", v.total_peak_bytes);
  w.field("peak_rss_bytes", v.peak_rss_bytes);
  w.field("start_rss_bytes", v.start_rss_bytes);
  w.field("median_step_seconds", v.median_step_seconds);
  w.field("mean_step_seconds", v.mean_step_seconds);
  w.field("min_step_seconds", v.min_step_seconds);
  w.field("timed_steps", v.timed_steps);
  w.field("loss_first", v.loss_first);
  w.field("loss_last", v.loss_last);
  w.field("device", std::string(v.device));
  w.field("allocator_cached_bytes", v.allocator_cached_bytes);
  if (v.device_total_bytes >= 0) {
    w.field("device_free_bytes", v.device_free_bytes);
    w.field("device_total_bytes", v.device_total_bytes);
  } else {
    w.key("device_free_bytes").null();
    w.key("device_total_bytes").null();
  }
  w.end_object();
}

int run(int argc, char** argv) {
  const std::string program = program_name(argv[0]);
  const cli::CommandLineSpec spec{
      .program = program,
      .description =
          "Memory (from the session's allocator) and step time of a model whose N layers share\n"
          "one variable scope (auto-reuse) against the same model with one scope per layer,\n"
          "trained with Adam. Checks that the shared model's parameter+gradient+optimizer-state\n"
          "bytes are one layer's, exactly 1/N of the duplicated model's (exit code 1 if not).",
      .ranges = {{"depths", 1, 4096}, {"widths", 1, 16384}, {"batch", 1, 1 << 20}, {"steps", 1, 1000000},
                 {"warmup", 0, 1000000}, {"rounds", 1, 1000}, {"threads", 1, 1024}, {"seed", 0, 4294967295.0},
                 {"recompute_every", 0, 4096}},
  };
  if (const std::optional<int> exit_code = cli::parse_command_line(argc, argv, spec)) return *exit_code;
  const std::string device_flag = absl::GetFlag(FLAGS_device);
  if (device_flag != "auto" && device_flag != "cpu" && device_flag != "cuda") {
    return cli::usage_error(program, "--device: expected auto, cpu or cuda, got '" + device_flag + "'");
  }

  Model model = Model::kMlp;
  const std::string model_flag = absl::GetFlag(FLAGS_model);
  if (model_flag == "rnn") {
    model = Model::kRnn;
  } else if (model_flag != "mlp") {
    return cli::usage_error(program, "--model: expected mlp or rnn, got '" + model_flag + "'");
  }
  const std::vector<int64_t> depths = absl::GetFlag(FLAGS_depths).values;
  const std::vector<int64_t> widths = absl::GetFlag(FLAGS_widths).values;
  const bool use_fork = absl::GetFlag(FLAGS_fork);
  const bool json = absl::GetFlag(FLAGS_json);
  const std::string chart_path = absl::GetFlag(FLAGS_chart);
  Config base;
  base.model = model;
  base.batch = absl::GetFlag(FLAGS_batch);
  base.steps = absl::GetFlag(FLAGS_steps);
  base.warmup = absl::GetFlag(FLAGS_warmup);
  const int64_t rounds = absl::GetFlag(FLAGS_rounds);
  base.threads = static_cast<int>(absl::GetFlag(FLAGS_threads));
  base.seed = static_cast<uint32_t>(absl::GetFlag(FLAGS_seed));
  base.accumulate = absl::GetFlag(FLAGS_accumulate);
  base.arena = absl::GetFlag(FLAGS_arena);
  const bool compare_add_n = base.accumulate && absl::GetFlag(FLAGS_compare_add_n);
  const bool recompute = absl::GetFlag(FLAGS_recompute);
  const int64_t recompute_every_flag = absl::GetFlag(FLAGS_recompute_every);
  std::snprintf(base.device, sizeof base.device, "%s", device_flag.c_str());

  const Timer wall;
  std::vector<Row> rows;
  for (int64_t width : widths) {
    for (int64_t depth : depths) {
      Row row;
      row.width = width;
      row.depth = depth;
      row.layer = layer_bytes(model, width);
      row.accumulate = base.accumulate;
      row.has_add_n = compare_add_n;
      if (recompute) row.recompute_every = recompute_every_flag > 0 ? recompute_every_flag : -1;
      enum class Variant { kShared, kSharedAddN, kSharedRecompute, kDuplicated };
      for (int64_t round = 0; round < rounds; ++round) {
        for (const Variant variant :
             {Variant::kShared, Variant::kSharedAddN, Variant::kSharedRecompute, Variant::kDuplicated}) {
          if (variant == Variant::kSharedAddN && !compare_add_n) continue;
          if (variant == Variant::kSharedRecompute && !recompute) continue;
          Config config = base;
          config.width = width;
          config.depth = depth;
          config.shared = variant != Variant::kDuplicated;
          if (variant == Variant::kSharedAddN) config.accumulate = false;
          if (variant == Variant::kSharedRecompute) config.recompute_every = row.recompute_every;
          VariantResult result;
          if (use_fork) {
            result = run_variant_forked(config);
          } else {
            run_variant_guarded(config, &result);
          }
          VariantResult* kept = nullptr;
          switch (variant) {
            case Variant::kShared: kept = &row.shared; break;
            case Variant::kSharedAddN: kept = &row.shared_add_n; break;
            case Variant::kSharedRecompute: kept = &row.shared_recompute; break;
            case Variant::kDuplicated: kept = &row.duplicated; break;
          }
          merge_round(result, round == 0, kept);
        }
      }
      check_row(row);
      rows.push_back(row);
    }
  }
  const double elapsed = wall.seconds();
  const bool all_ok = std::all_of(rows.begin(), rows.end(), [](const Row& r) { return r.ok; });

  std::string chart_error;
  bool chart_written = false;
  if (!chart_path.empty()) {
    ChartSpec chart;
    chart.title = std::string("Shared vs duplicated variables (") + model_name(model) + ", Adam, batch " +
                  std::to_string(base.batch) + ")";
    chart.x_label = model == Model::kMlp ? "depth (layers)" : "time steps";
    chart.y_label = "bytes (session allocator)";
    chart.log2_x = true;
    chart.log10_y = true;
    chart.y_is_bytes = true;
    chart.width = 900;
    chart.height = 520;
    for (int64_t width : widths) {
      const std::string suffix = widths.size() > 1 ? " w=" + std::to_string(width) : "";
      ChartSeries shared_state{"shared param+grad+slot" + suffix, {}};
      ChartSeries dup_state{"duplicated param+grad+slot" + suffix, {}};
      ChartSeries shared_act{"shared peak activations" + suffix, {}};
      ChartSeries dup_act{"duplicated peak activations" + suffix, {}};
      ChartSeries add_n_act{"shared, AddN, peak activations" + suffix, {}};
      ChartSeries bound{"shared arena lower bound" + suffix, {}};
      ChartSeries shared_total{"shared allocator peak" + suffix, {}};
      ChartSeries dup_total{"duplicated allocator peak" + suffix, {}};
      for (const Row& r : rows) {
        if (r.width != width || !r.shared.ok || !r.duplicated.ok) continue;
        const double x = static_cast<double>(r.depth);
        shared_state.points.emplace_back(x, static_cast<double>(r.shared.stateful_bytes()));
        dup_state.points.emplace_back(x, static_cast<double>(r.duplicated.stateful_bytes()));
        shared_act.points.emplace_back(x, static_cast<double>(r.shared.activation_peak_bytes));
        dup_act.points.emplace_back(x, static_cast<double>(r.duplicated.activation_peak_bytes));
        if (r.has_add_n && r.shared_add_n.ok) {
          add_n_act.points.emplace_back(x, static_cast<double>(r.shared_add_n.activation_peak_bytes));
        }
        if (r.shared.arena_lower_bound_bytes > 0) {
          bound.points.emplace_back(x, static_cast<double>(r.shared.arena_lower_bound_bytes));
        }
        shared_total.points.emplace_back(x, static_cast<double>(r.shared.total_peak_bytes));
        dup_total.points.emplace_back(x, static_cast<double>(r.duplicated.total_peak_bytes));
      }
      for (ChartSeries* series : {&shared_state, &dup_state, &shared_act, &dup_act, &add_n_act, &bound,
                                  &shared_total, &dup_total}) {
        if (!series->points.empty()) chart.series.push_back(*series);
      }
    }
    chart_written = write_file(chart_path, svg_line_chart(chart), &chart_error);
  }

  const std::string rss_mode = use_fork ? "per_variant_child_process" : "process_wide_monotone";
  if (json) {
    JsonWriter w;
    w.begin_object();
    w.field("benchmark", "shared_vs_duplicated");
    w.field("model", model_name(model));
    w.field("optimizer", "adam");
    w.field("batch", base.batch);
    w.field("steps", base.steps);
    w.field("warmup", base.warmup);
    w.field("rounds", rounds);
    w.field("threads", base.threads);
    w.field("rss_mode", rss_mode);
    w.field("device_flag", device_flag);
    w.field("accumulate", base.accumulate);
    w.field("arena", base.arena);
    w.key("results").begin_array();
    for (const Row& r : rows) {
      w.begin_object();
      w.field("width", r.width).field("depth", r.depth);
      w.field("layer_bytes", r.layer);
      w.key("shared");
      write_variant_json(w, r.shared);
      w.key("duplicated");
      write_variant_json(w, r.duplicated);
      if (r.has_add_n) {
        w.key("shared_add_n");
        write_variant_json(w, r.shared_add_n);
      } else {
        w.key("shared_add_n").null();
      }
      if (r.recompute_every != 0) {
        if (r.recompute_every > 0) {
          w.field("recompute_every", r.recompute_every);
        } else {
          w.field("recompute_every", "balanced");
        }
        w.key("shared_recompute");
        write_variant_json(w, r.shared_recompute);
      } else {
        w.key("shared_recompute").null();
      }
      w.field("ratio", r.ratio);
      w.field("expected_ratio", r.depth);
      w.field("ok", r.ok);
      if (!r.ok) w.field("problem", r.problem);
      w.end_object();
    }
    w.end_array();
    w.field("all_ok", all_ok);
    if (chart_written) {
      w.field("chart", chart_path);
    } else {
      w.key("chart").null();
    }
    w.field("elapsed_seconds", elapsed);
    w.field("peak_rss_bytes", peak_rss_bytes());
    w.end_object();
    std::printf("%s\n", w.str().c_str());
  } else {
    const char* unit = model == Model::kMlp ? "depth" : "steps";
    Table variants({"width", unit, "variant", "vars", "params", "grad peak", "Adam slots",
                    "param+grad+slot", "act peak", "arena", "lower bound", "alloc peak", "peak RSS",
                    "median step"});
    for (const Row& r : rows) {
      std::vector<std::pair<const char*, const VariantResult*>> shown = {{"shared", &r.shared}};
      if (r.has_add_n) shown.emplace_back("shared, AddN", &r.shared_add_n);
      if (r.recompute_every != 0) shown.emplace_back("shared, recompute", &r.shared_recompute);
      shown.emplace_back("duplicated", &r.duplicated);
      for (const auto& [name, v] : shown) {
        if (!v->ok) {
          variants.add_row({std::to_string(r.width), std::to_string(r.depth), name, "-", "-", "-", "-",
                            "-", "-", "-", "-", "-", "-", std::string("FAILED: ") + v->error});
          continue;
        }
        variants.add_row({std::to_string(r.width), std::to_string(r.depth), name,
                          std::to_string(v->trainable_variables), format_bytes(v->parameter_bytes),
                          format_bytes(v->gradient_peak_bytes), format_bytes(v->slot_bytes),
                          format_bytes(v->stateful_bytes()), format_bytes(v->activation_peak_bytes),
                          v->arena_bytes > 0 ? format_bytes(v->arena_bytes) : "-",
                          v->arena_bytes > 0 ? format_bytes(v->arena_lower_bound_bytes) : "-",
                          format_bytes(v->total_peak_bytes), format_bytes(v->peak_rss_bytes),
                          format_duration(v->median_step_seconds)});
      }
    }
    Table summary({"width", unit, "one layer", "shared p+g+s", "duplicated p+g+s", "ratio", "expected",
                   "shared act peak", "dup act peak", "shared alloc peak", "dup alloc peak",
                   "arena/bound", "step shared/dup", "step shared/AddN", "check"});
    for (const Row& r : rows) {
      const bool both = r.shared.ok && r.duplicated.ok;
      const bool add_n = both && r.has_add_n && r.shared_add_n.ok;
      const double arena_slack =
          both && r.shared.arena_lower_bound_bytes > 0 && r.duplicated.arena_lower_bound_bytes > 0
              ? std::max(static_cast<double>(r.shared.arena_bytes) / static_cast<double>(r.shared.arena_lower_bound_bytes),
                         static_cast<double>(r.duplicated.arena_bytes) /
                             static_cast<double>(r.duplicated.arena_lower_bound_bytes))
              : 0.0;
      summary.add_row({std::to_string(r.width), std::to_string(r.depth), format_bytes(r.layer),
                       both ? std::to_string(r.shared.stateful_bytes()) : "-",
                       both ? std::to_string(r.duplicated.stateful_bytes()) : "-", ratio_text(r),
                       std::to_string(r.depth),
                       both ? format_bytes(r.shared.activation_peak_bytes) : "-",
                       both ? format_bytes(r.duplicated.activation_peak_bytes) : "-",
                       both ? format_bytes(r.shared.total_peak_bytes) : "-",
                       both ? format_bytes(r.duplicated.total_peak_bytes) : "-",
                       arena_slack > 0 ? format_fixed(arena_slack, 3) : "-",
                       both ? format_fixed(r.shared.median_step_seconds / r.duplicated.median_step_seconds, 3) : "-",
                       add_n ? format_fixed(r.shared.median_step_seconds / r.shared_add_n.median_step_seconds, 3) : "-",
                       r.ok ? "ok" : "FAIL"});
    }
    const std::string rounds_text =
        rounds == 1 ? std::string("one round") : absl::StrCat(rounds, " rounds in turn (lowest median kept)");
    std::printf("Shared (one variable scope, auto-reuse) vs duplicated (one scope per %s): %s, Adam,\n"
                "batch %lld, %lld timed step%s per variant, %s, %d OpenBLAS thread%s; bytes from the session's "
                "allocator.\n\n%s\n",
                model == Model::kMlp ? "layer" : "time step", model_name(model),
                static_cast<long long>(base.batch), static_cast<long long>(base.steps),
                base.steps == 1 ? "" : "s", rounds_text.c_str(), base.threads, base.threads == 1 ? "" : "s",
                variants.to_string().c_str());
    std::printf("%s\n", summary.to_string().c_str());
    if (recompute) {
      Table trade({"width", unit, "checkpoint every", "act peak kept", "act peak recomputed", "peak kept/recomputed",
                   "step recomputed/kept"});
      for (const Row& r : rows) {
        const bool both = r.shared.ok && r.shared_recompute.ok;
        trade.add_row({std::to_string(r.width), std::to_string(r.depth),
                       r.recompute_every > 0 ? std::to_string(r.recompute_every) : "balanced",
                       both ? format_bytes(r.shared.activation_peak_bytes) : "-",
                       both ? format_bytes(r.shared_recompute.activation_peak_bytes) : "-",
                       both && r.shared_recompute.activation_peak_bytes > 0
                           ? format_fixed(static_cast<double>(r.shared.activation_peak_bytes) /
                                              static_cast<double>(r.shared_recompute.activation_peak_bytes), 2)
                           : "-",
                       both ? format_fixed(r.shared_recompute.median_step_seconds / r.shared.median_step_seconds, 3)
                            : "-"});
      }
      std::printf("Recomputation (gradient checkpoints of the shared model, the other activations recomputed\n"
                  "in backward):\n\n%s\n", trade.to_string().c_str());
    }
    const VariantResult& first = rows.empty() ? VariantResult{} : rows.front().shared;
    std::printf("device: %s", first.device[0] != 0 ? first.device : "-");
    if (first.device_total_bytes >= 0) {
      std::printf(" (driver: %s free of %s after the first variant; allocator cache %s)",
                  format_bytes(first.device_free_bytes).c_str(),
                  format_bytes(first.device_total_bytes).c_str(),
                  format_bytes(first.allocator_cached_bytes).c_str());
    }
    std::printf("\n");
    std::printf("act peak: activation memory (MemoryKind::kActivation) at its peak during one step: the\n"
                "arena when one is planned (%s), whose lower bound is the most bytes of its blocks alive\n"
                "at once; arena/bound: the larger of the two variants' ratios (at most %.2f). Per-use\n"
                "gradients of shared variables: %s. step shared/AddN: the shared step against the same\n"
                "model with its gradients summed by AddN (TensorFlow's default).\n",
                base.arena ? "on" : "off, --no-arena", kArenaSlack,
                base.accumulate ? "summed in place into one buffer" : "summed by AddN (--no-accumulate)");
    std::printf("grad peak: gradient buffers (MemoryKind::kGradient) at their peak during one step; Adam\n"
                "slots: m and v (its two scalar beta powers are 'other' memory, %lld bytes). ratio =\n"
                "duplicated / shared (param + grad + slot), required to equal N exactly.\n",
                rows.empty() ? 0LL : static_cast<long long>(rows.front().shared.other_bytes));
    if (use_fork) {
      const int64_t start = rows.empty() ? -1 : rows.front().shared.start_rss_bytes;
      std::printf("peak RSS: per variant, the VmHWM of a forked child that ran only that variant (the child\n"
                  "starts at %s RSS: program, libraries and what it shares with the parent).\n",
                  format_bytes(start).c_str());
    } else {
      std::printf("peak RSS: process-wide and monotone (--no-fork): each row shows the peak so far.\n");
    }
    if (chart_written) std::printf("chart: %s\n", chart_path.c_str());
    std::printf("elapsed %s\n", format_duration(elapsed).c_str());
  }
  if (!chart_path.empty() && !chart_written) {
    std::fprintf(stderr, "%s: could not write the chart: %s\n", program.c_str(), chart_error.c_str());
  }
  if (!all_ok) {
    for (const Row& r : rows) {
      if (r.ok) continue;
      std::fprintf(stderr, "%s: width %lld, depth %lld: %s\n", program.c_str(),
                   static_cast<long long>(r.width), static_cast<long long>(r.depth), r.problem.c_str());
    }
    std::fprintf(stderr, "%s: FAILED: the shared model's parameter+gradient+optimizer-state bytes must be "
                 "one layer's, 1/N of the duplicated model's; with in-place sums its activation and allocator "
                 "peaks at most the duplicated model's; each arena within %.2fx its lower bound\n",
                 program.c_str(), kArenaSlack);
    return 1;
  }
  if (!chart_path.empty() && !chart_written) return 1;
  return 0;
}

}  // namespace
}  // namespace scopeflow::bench

int main(int argc, char** argv) { return scopeflow::bench::guarded_main(scopeflow::bench::run, argc, argv); }
