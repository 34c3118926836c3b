// A data-parallel training run in which rank 1 fails at a given step, for the failure tests
// (tests/dist/run_failure_test.sh runs it under mpirun):
//
//   data_parallel_failure --mode=kill|stall|none --step=K --timeout-ms=T
//
// kill: rank 1 raises SIGKILL on itself; stall: rank 1 sleeps far past the timeout. The other
// ranks must stop with an error (non-zero exit) instead of waiting forever.

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>

#include "dist/dist_test_util.h"
#include "scopeflow/dist.h"
#include "scopeflow/scopeflow.h"

namespace {

int run(std::string_view mode, int fail_step, int timeout_ms) {
  using namespace scopeflow;
  absl::StatusOr<dist::Environment> env = dist::init();
  if (!env.ok()) {
    std::cerr << "error: " << env.status() << "\n";
    return 2;
  }
  absl::StatusOr<std::unique_ptr<dist::Communicator>> comm =
      dist::make_communicator(*env, {.timeout = std::chrono::milliseconds(timeout_ms)});
  if (!comm.ok()) {
    std::cerr << "error: " << comm.status() << "\n";
    return 2;
  }
  constexpr int64_t kBatch = 4;
  Graph graph;
  dist_test::Mlp model = dist_test::build_mlp(graph, kBatch);
  train::GradientDescent optimizer(0.1f);
  dist::DataParallel dp(optimizer, **comm);
  dp.minimize(model.loss);
  SessionOptions options;
  options.device = Device::cpu();
  options.intra_op_threads = 1;
  Session session(graph, options);
  session.initialize_variables();
  absl::Status status = dp.check_layout();
  if (status.ok()) status = dist::broadcast_variables(session, **comm);
  for (int step = 0; status.ok() && step < fail_step + 20; ++step) {
    if (env->rank == 1 && step == fail_step) {
      if (mode == "kill") std::raise(SIGKILL);
      if (mode == "stall") std::this_thread::sleep_for(std::chrono::seconds(600));
    }
    auto [x, t] = dist_test::batch_rows(env->rank * kBatch, kBatch, step);
    const Output fetch[] = {model.loss};
    absl::StatusOr<std::vector<Tensor>> out = dp.step(session, {{model.x, x}, {model.target, t}}, fetch);
    status = out.status();
  }
  if (!status.ok()) {
    std::cerr << "rank " << env->rank << ": error: " << status << "\n";
    // The failed rank cannot finalize MPI with a collective pending: end the whole job.
    dist::abort_world(3);
  }
  comm->reset();
  if (absl::Status done = dist::finalize(); !done.ok()) {
    std::cerr << "error: " << done << "\n";
    return 2;
  }
  if (env->rank == 0) std::cout << "finished without failure\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "none";
  int step = 5;
  int timeout_ms = 3000;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--mode=")) {
      mode = std::string(arg.substr(7));
    } else if (arg.starts_with("--step=")) {
      step = std::atoi(argv[i] + 7);
    } else if (arg.starts_with("--timeout-ms=")) {
      timeout_ms = std::atoi(argv[i] + 13);
    } else {
      std::cerr << "usage: data_parallel_failure --mode=kill|stall|none --step=K --timeout-ms=T\n";
      return 2;
    }
  }
  if (mode != "kill" && mode != "stall" && mode != "none") {
    std::cerr << "error: --mode must be kill, stall or none, got '" << mode << "'\n";
    return 2;
  }
  return run(mode, step, timeout_ms);
}
