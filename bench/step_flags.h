#pragma once
// The flags that both step benches (step_time_vs_tensorflow, step_time_vs_libtorch) take,
// defined once in step_flags.cc (compiled into each of them) and read here; each bench defines
// its own after these.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "cli/command_line.h"
#include "mlp_step.h"
#include "util/blas.h"

ABSL_DECLARE_FLAG(std::string, configs);
ABSL_DECLARE_FLAG(std::string, optimizer);
ABSL_DECLARE_FLAG(int64_t, threads);
ABSL_DECLARE_FLAG(std::string, cpu_gemm);
ABSL_DECLARE_FLAG(double, min_seconds);
ABSL_DECLARE_FLAG(int64_t, warmup);
ABSL_DECLARE_FLAG(int64_t, min_iters);
ABSL_DECLARE_FLAG(int64_t, seed);
ABSL_DECLARE_FLAG(bool, fuse);
ABSL_DECLARE_FLAG(bool, json);

namespace scopeflow::bench {

/// The values of the shared step flags, checked.
struct StepFlagValues {
  std::vector<MlpConfig> configs;
  std::string optimizer;  // "sgd" or "adam"
  int threads = 1;
  CpuGemm cpu_gemm = CpuGemm::kDefault;
  double min_seconds = 1.0;
  int warmup = 3;
  int min_iters = 5;
  uint32_t seed = 1;
  bool fuse = true;
  bool json = false;
};

/// The bounds of the shared flags, for the bench's cli::CommandLineSpec.
std::vector<cli::FlagRange> step_flag_ranges();

/// Reads the shared flags after cli::parse_command_line; on a bad value returns the usage
/// error's exit code.
std::optional<int> read_step_flags(const std::string& program, StepFlagValues* out);

}  // namespace scopeflow::bench
