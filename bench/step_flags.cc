#include "step_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, configs, "32x64x4,256x1024x8",
          "comma-separated BATCHxWIDTHxDEPTH: DEPTH relu layers of WIDTH units, then 10 classes");
ABSL_FLAG(std::string, optimizer, "sgd", "sgd (GradientDescent(0.01) on both sides) or adam");
ABSL_FLAG(int64_t, threads, 1,
          "our session's intra_op_threads (GEMM threads) and the peer's intra-op threads "
          "(TensorFlow's intra_op_parallelism_threads, libtorch's torch::set_num_threads)");
ABSL_FLAG(std::string, cpu_gemm, "default", "our CPU GEMM library: default, onednn or openblas");
ABSL_FLAG(double, min_seconds, 1.0, "minimum timed seconds per side and configuration");
ABSL_FLAG(int64_t, warmup, 3, "untimed steps before timing, per side");
ABSL_FLAG(int64_t, min_iters, 5, "minimum timed steps per side and configuration");
ABSL_FLAG(int64_t, seed, 1, "graph seed and seed of the fed values");
ABSL_FLAG(bool, fuse, true,
          "on our side, run MatMul -> BiasAdd -> Relu chains and SGD updates of weight gradients as single "
          "GEMMs (--no-fuse: separate ops)");
ABSL_FLAG(bool, json, false, "print one JSON document instead of the table");

namespace scopeflow::bench {

std::vector<cli::FlagRange> step_flag_ranges() {
  return {{"threads", 1, 1024}, {"min_seconds", 0, 3600}, {"warmup", 0, 1000000},
          {"min_iters", 1, 100000000}, {"seed", 0, 4294967295.0}};
}

std::optional<int> read_step_flags(const std::string& program, StepFlagValues* out) {
  std::string error;
  if (!parse_mlp_configs(absl::GetFlag(FLAGS_configs), &out->configs, &error)) return cli::usage_error(program, error);
  out->optimizer = absl::GetFlag(FLAGS_optimizer);
  if (out->optimizer != "sgd" && out->optimizer != "adam") {
    return cli::usage_error(program, "--optimizer: expected sgd or adam, got '" + out->optimizer + "'");
  }
  out->threads = static_cast<int>(absl::GetFlag(FLAGS_threads));
  const std::string cpu_gemm = absl::GetFlag(FLAGS_cpu_gemm);
  const std::optional<CpuGemm> gemm = cpu_gemm_from_flag(cpu_gemm);
  if (!gemm) {
    return cli::usage_error(program, "--cpu-gemm: expected default, onednn or openblas, got '" + cpu_gemm + "'");
  }
  out->cpu_gemm = *gemm;
  out->min_seconds = absl::GetFlag(FLAGS_min_seconds);
  out->warmup = static_cast<int>(absl::GetFlag(FLAGS_warmup));
  out->min_iters = static_cast<int>(absl::GetFlag(FLAGS_min_iters));
  out->seed = static_cast<uint32_t>(absl::GetFlag(FLAGS_seed));
  out->fuse = absl::GetFlag(FLAGS_fuse);
  out->json = absl::GetFlag(FLAGS_json);
  return std::nullopt;
}

}  // namespace scopeflow::bench
