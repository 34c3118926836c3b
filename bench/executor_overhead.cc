// What the executor costs per node: Session::run of a chain of N cheap ops on a 1x1 tensor
// (Neg, or Relu, or Identity), minus nothing: a 1x1 kernel's own work is a few nanoseconds, so
// the time per node is the executor's (input gathering, output allocation, kernel dispatch,
// release of dead values) plus the run's fixed cost spread over N.
//
//   executor_overhead [--nodes 2000] [--ops neg,relu,identity] [--min-seconds S] [--json]
//
// Compiling the plan happens in the first (untimed) run.

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/flag.h"
#include "bench_util.h"
#include "cli/command_line.h"
#include "scopeflow/graph.h"
#include "scopeflow/ops.h"
#include "scopeflow/session.h"

ABSL_FLAG(int64_t, nodes, 2000, "ops in the chain");
ABSL_FLAG(std::string, ops, "neg,relu,identity", "comma-separated chain ops: neg, relu (kernels), identity (forwarded)");
ABSL_FLAG(double, min_seconds, 1.0, "minimum timed seconds per chain");
ABSL_FLAG(int64_t, warmup, 3, "untimed runs before timing (the first compiles the plan)");
ABSL_FLAG(int64_t, min_iters, 20, "minimum timed runs per chain");
ABSL_FLAG(bool, json, false, "print one JSON document instead of the table");

namespace scopeflow::bench {
namespace {

struct Result {
  std::string op;
  int64_t nodes = 0;
  TimingResult timing;
  double micros_per_node = 0;
};

Result run_chain(std::string_view op, int64_t nodes, int warmup, int min_iters, double min_seconds) {
  Graph graph;
  const Output x = ops::placeholder(graph, DType::kFloat32, Shape{1, 1}, "x");
  Output y = x;
  for (int64_t i = 0; i < nodes; ++i) {
    if (op == "neg") {
      y = ops::neg(y);
    } else if (op == "relu") {
      y = ops::relu(y);
    } else {
      y = ops::identity(y);
    }
  }
  Session session(graph, SessionOptions{.device = Device::cpu(), .intra_op_threads = 1});
  const FeedList feeds = {{x, Tensor::from_vector<float>(Shape{1, 1}, {0.5f})}};
  Tensor last;
  Result result;
  result.op = std::string(op);
  result.nodes = nodes;
  result.timing = time_it([&] { last = session.run(y, feeds); }, warmup, min_iters, min_seconds);
  const float want = op == "neg" && nodes % 2 == 1 ? -0.5f : 0.5f;
  if (last.data<float>()[0] != want) {
    throw std::runtime_error("the " + result.op + " chain computed " + std::to_string(last.data<float>()[0]) +
                             ", not " + std::to_string(want));
  }
  result.micros_per_node = result.timing.median_seconds * 1e6 / static_cast<double>(nodes);
  return result;
}

int run(int argc, char** argv) {
  const std::string program = program_name(argv[0]);
  const cli::CommandLineSpec spec{
      .program = program,
      .description = "Executor overhead: Session::run of a chain of cheap 1x1 ops, in microseconds per node.",
      .ranges = {{"nodes", 1, 1000000}, {"min_seconds", 0, 3600}, {"warmup", 1, 1000000}, {"min_iters", 1, 100000000}},
  };
  if (const std::optional<int> exit_code = cli::parse_command_line(argc, argv, spec)) return *exit_code;

  std::vector<std::string> chain_ops;
  const std::string list = absl::GetFlag(FLAGS_ops);
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, end - start);
    if (item != "neg" && item != "relu" && item != "identity") {
      return cli::usage_error(program, "--ops: '" + item + "' is not one of neg, relu, identity");
    }
    chain_ops.push_back(item);
    start = end + 1;
  }
  const int64_t nodes = absl::GetFlag(FLAGS_nodes);
  std::vector<Result> results;
  for (const std::string& op : chain_ops) {
    results.push_back(run_chain(op, nodes, static_cast<int>(absl::GetFlag(FLAGS_warmup)),
                                static_cast<int>(absl::GetFlag(FLAGS_min_iters)), absl::GetFlag(FLAGS_min_seconds)));
  }

  if (absl::GetFlag(FLAGS_json)) {
    JsonWriter w;
    w.begin_object();
    w.field("benchmark", "executor_overhead");
    w.field("nodes", nodes);
    w.key("results").begin_array();
    for (const Result& r : results) {
      w.begin_object();
      w.field("op", r.op);
      w.field("median_seconds_per_run", r.timing.median_seconds);
      w.field("min_seconds_per_run", r.timing.min_seconds);
      w.field("iterations", r.timing.iterations);
      w.field("micros_per_node", r.micros_per_node);
      w.end_object();
    }
    w.end_array();
    w.end_object();
    std::printf("%s\n", w.str().c_str());
  } else {
    Table table({"chain op", "nodes", "median per run", "fastest run", "per node"});
    for (const Result& r : results) {
      table.add_row({r.op, std::to_string(r.nodes), format_duration(r.timing.median_seconds),
                     format_duration(r.timing.min_seconds), format_fixed(r.micros_per_node, 3) + " us"});
    }
    std::printf("Session::run of a chain of 1x1 ops, one thread\n\n%s", table.to_string().c_str());
  }
  return 0;
}

}  // namespace
}  // namespace scopeflow::bench

int main(int argc, char** argv) { return scopeflow::bench::guarded_main(scopeflow::bench::run, argc, argv); }
