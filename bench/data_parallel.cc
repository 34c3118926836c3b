// Data-parallel training step time under mpirun: the MLP of mlp_step.h (duplicated: DEPTH
// layers of their own) and the same MLP with one hidden layer shared by all DEPTH uses, each
// split over the ranks (global batch BATCH, BATCH / N per rank), against one process on the
// global batch. Reports step time, throughput, speedup and scaling efficiency over that one
// process, and the bytes and calls all-reduced per step.
//
//   mpirun -np 2 data_parallel [--configs 256x1024x8] [--steps 10] [--warmup 2] [--threads 1] [--json]
//
// The one-process baseline runs on rank 0 while the other ranks wait, in the same job, so both
// numbers come from the same machine state. Every rank runs the same fixed number of steps
// (collectives must match), timed on rank 0.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "bench_util.h"
#include "cli/command_line.h"
#include "mlp_step.h"
#include "scopeflow/dist.h"
#include "scopeflow/scopeflow.h"

ABSL_FLAG(std::string, configs, "256x1024x8", "comma-separated BATCHxWIDTHxDEPTH, BATCH the global batch");
ABSL_FLAG(int64_t, steps, 10, "timed steps per measurement (the same on every rank)");
ABSL_FLAG(int64_t, warmup, 2, "untimed steps before timing (the first compiles the plans)");
ABSL_FLAG(int64_t, threads, 1, "GEMM threads per rank");
ABSL_FLAG(int64_t, timeout_seconds, 600, "how long a collective may wait for the other ranks");
ABSL_FLAG(bool, json, false, "print one JSON document instead of the table");

namespace scopeflow::bench {
namespace {

struct Model {
  Output x;
  Output labels;
  Output loss;
};

// The MLP of mlp_step.h; `shared`: one hidden layer (scope dense_shared) used `depth` times.
Model build_model(Graph& graph, const MlpConfig& config, int64_t batch, bool shared) {
  Model m;
  m.x = ops::placeholder(graph, DType::kFloat32, Shape{batch, config.width}, "x");
  m.labels = ops::placeholder(graph, DType::kInt32, Shape{batch}, "labels");
  Output h = m.x;
  auto layer = [&](const std::string& scope_name, int64_t units, bool relu) {
    VariableScopeGuard scope = variable_scope(graph, scope_name, {.reuse = Reuse::kAutoReuse});
    const Variable kernel = get_variable(graph, "kernel", {.shape = Shape{h.shape().dim(1), units},
                                                           .initializer = init::glorot_uniform()});
    const Variable bias = get_variable(graph, "bias", {.shape = Shape{units}, .initializer = init::zeros()});
    const Output out = ops::bias_add(ops::matmul(h, kernel), bias);
    h = relu ? ops::relu(out) : out;
  };
  for (int64_t i = 0; i < config.depth; ++i) {
    layer(shared ? std::string("dense_shared") : absl::StrCat("dense_", i), config.width, true);
  }
  layer("logits", kMlpClasses, false);
  m.loss = losses::sparse_softmax_cross_entropy(m.labels, h);
  return m;
}

FeedList feeds_for(const Model& m, const MlpConfig& config, int64_t first_row, int64_t batch) {
  const MlpFeedValues values = mlp_feed_values(config, 7);
  const auto begin_x = values.x.begin() + first_row * config.width;
  const std::vector<float> x(begin_x, begin_x + batch * config.width);
  const std::vector<int32_t> labels(values.labels.begin() + first_row, values.labels.begin() + first_row + batch);
  return {{m.x, Tensor::from_vector<float>(Shape{batch, config.width}, x)},
          {m.labels, Tensor::from_vector<int32_t>(Shape{batch}, labels)}};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

void check(const absl::Status& status) {
  if (!status.ok()) throw std::runtime_error(std::string(status.message()));
}

struct Result {
  std::string config;
  std::string model;  // "duplicated" or "shared"
  int world_size = 1;
  double baseline_seconds = 0;  // one process, global batch, plain optimizer
  double step_seconds = 0;      // data-parallel, BATCH / N per rank
  double throughput = 0;        // global samples per second, data-parallel
  double baseline_throughput = 0;
  double speedup = 0;
  double efficiency = 0;
  int64_t allreduce_bytes = 0;
  int allreduce_calls = 0;
};

Result measure(dist::Communicator& comm, const MlpConfig& config, bool shared, int steps, int warmup, int threads) {
  const int n = comm.world_size();
  if (config.batch % n != 0) {
    throw std::runtime_error(absl::StrCat("--configs: batch ", config.batch, " does not split over ", n, " ranks"));
  }
  const int64_t local_batch = config.batch / n;
  SessionOptions options;
  options.device = Device::cpu();
  options.intra_op_threads = threads;
  Result r;
  r.config = config.text();
  r.model = shared ? "shared" : "duplicated";
  r.world_size = n;

  // One process on the global batch: rank 0 alone, the others wait at the barrier.
  if (comm.rank() == 0) {
    Graph graph;
    const Model m = build_model(graph, config, config.batch, shared);
    train::GradientDescent optimizer(kMlpSgdLearningRate);
    Node* train_op = optimizer.minimize(m.loss);
    Session session(graph, options);
    session.initialize_variables();
    const FeedList feeds = feeds_for(m, config, 0, config.batch);
    const Output fetch[] = {m.loss};
    Node* const targets[] = {train_op};
    std::vector<double> times;
    for (int i = 0; i < warmup + steps; ++i) {
      const auto start = std::chrono::steady_clock::now();
      session.run(feeds, fetch, targets);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (i >= warmup) times.push_back(seconds);
    }
    r.baseline_seconds = median(times);
  }
  check(comm.barrier());

  Graph graph;
  const Model m = build_model(graph, config, local_batch, shared);
  train::GradientDescent optimizer(kMlpSgdLearningRate);
  dist::DataParallel dp(optimizer, comm);
  dp.minimize(m.loss);
  check(dp.check_layout());
  Session session(graph, options);
  session.initialize_variables();
  check(dist::broadcast_variables(session, comm));
  const FeedList feeds = feeds_for(m, config, comm.rank() * local_batch, local_batch);
  const Output fetch[] = {m.loss};
  std::vector<double> times;
  for (int i = 0; i < warmup + steps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::vector<Tensor>> out = dp.step(session, feeds, fetch);
    check(out.status());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (i >= warmup) times.push_back(seconds);
  }
  r.step_seconds = median(times);
  r.allreduce_bytes = dp.allreduce_bytes_per_step();
  r.allreduce_calls = dp.allreduce_calls_per_step();
  r.throughput = static_cast<double>(config.batch) / r.step_seconds;
  if (r.baseline_seconds > 0) {
    r.baseline_throughput = static_cast<double>(config.batch) / r.baseline_seconds;
    r.speedup = r.baseline_seconds / r.step_seconds;
    r.efficiency = r.speedup / n;
  }
  return r;
}

int run(int argc, char** argv) {
  const std::string program = program_name(argv[0]);
  const cli::CommandLineSpec spec{
      .program = program,
      .description = "Data-parallel training step (run under mpirun -np N): step time, throughput, scaling\n"
                     "efficiency and all-reduced bytes per step of shared and duplicated MLPs.",
      .ranges = {{"steps", 1, 100000}, {"warmup", 1, 1000}, {"threads", 1, 1024}, {"timeout_seconds", 1, 86400}},
  };
  if (const std::optional<int> exit_code = cli::parse_command_line(argc, argv, spec)) return *exit_code;
  std::vector<MlpConfig> configs;
  std::string error;
  if (!parse_mlp_configs(absl::GetFlag(FLAGS_configs), &configs, &error)) return cli::usage_error(program, error);
  const int steps = static_cast<int>(absl::GetFlag(FLAGS_steps));
  const int warmup = static_cast<int>(absl::GetFlag(FLAGS_warmup));
  const int threads = static_cast<int>(absl::GetFlag(FLAGS_threads));

  absl::StatusOr<dist::Environment> env = dist::init();
  check(env.status());
  absl::StatusOr<std::unique_ptr<dist::Communicator>> comm =
      dist::make_communicator(*env, {.timeout = std::chrono::seconds(absl::GetFlag(FLAGS_timeout_seconds))});
  check(comm.status());
  std::vector<Result> results;
  for (const MlpConfig& config : configs) {
    for (bool shared : {false, true}) {
      results.push_back(measure(**comm, config, shared, steps, warmup, threads));
    }
  }
  const int rank = env->rank;
  comm->reset();
  check(dist::finalize());
  if (rank != 0) return 0;  // rank 0 reports

  if (absl::GetFlag(FLAGS_json)) {
    JsonWriter w;
    w.begin_object();
    w.field("benchmark", "data_parallel");
    w.field("threads_per_rank", threads);
    w.key("results").begin_array();
    for (const Result& r : results) {
      w.begin_object();
      w.field("config", r.config);
      w.field("model", r.model);
      w.field("world_size", r.world_size);
      w.field("one_process_step_seconds", r.baseline_seconds);
      w.field("step_seconds", r.step_seconds);
      w.field("one_process_samples_per_second", r.baseline_throughput);
      w.field("samples_per_second", r.throughput);
      w.field("speedup", r.speedup);
      w.field("scaling_efficiency", r.efficiency);
      w.field("allreduce_bytes_per_step", r.allreduce_bytes);
      w.field("allreduce_calls_per_step", r.allreduce_calls);
      w.end_object();
    }
    w.end_array();
    w.end_object();
    std::printf("%s\n", w.str().c_str());
  } else {
    Table table({"config", "model", "ranks", "1 process step", "step", "samples/s", "speedup", "efficiency",
                 "all-reduced/step", "calls/step"});
    for (const Result& r : results) {
      table.add_row({r.config, r.model, std::to_string(r.world_size), format_duration(r.baseline_seconds),
                     format_duration(r.step_seconds), format_fixed(r.throughput, 1), format_fixed(r.speedup, 2) + "x",
                     format_fixed(r.efficiency * 100, 1) + " %", format_bytes(r.allreduce_bytes),
                     std::to_string(r.allreduce_calls)});
    }
    std::printf("Data-parallel SGD step, global batch split over the ranks, %d GEMM thread(s) per rank\n\n%s",
                threads, table.to_string().c_str());
  }
  return 0;
}

}  // namespace
}  // namespace scopeflow::bench

int main(int argc, char** argv) { return scopeflow::bench::guarded_main(scopeflow::bench::run, argc, argv); }
