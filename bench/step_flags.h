#pragma once
// The flags that both step benches (step_time_vs_tensorflow, step_time_vs_libtorch) take,
// defined and validated once here; each bench adds its own after these.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlp_step.h"
#include "util/blas.h"
#include "util/flags.h"

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

/// Registers the shared flags; `peer_optimizer` and `peer_threads` say what the peer side does
/// with --optimizer and --threads.
inline void add_step_flags(Flags& flags, std::string_view peer_optimizer, std::string_view peer_threads) {
  flags.add_string("configs", "32x64x4,256x1024x8",
                   "comma-separated BATCHxWIDTHxDEPTH: DEPTH relu layers of WIDTH units, then 10 classes");
  flags.add_string("optimizer", "sgd", std::string(peer_optimizer));
  flags.add_int("threads", 1, std::string(peer_threads), 1, 1024);
  flags.add_string("cpu-gemm", "default", "our CPU GEMM library: default, onednn or openblas");
  flags.add_double("min-seconds", 1.0, "minimum timed seconds per side and configuration", 0, 3600);
  flags.add_int("warmup", 3, "untimed steps before timing, per side", 0, 1000000);
  flags.add_int("min-iters", 5, "minimum timed steps per side and configuration", 1, 100000000);
  flags.add_int("seed", 1, "graph seed and seed of the fed values", 0, 4294967295);
  flags.add_bool("fuse", true, "on our side, run MatMul -> BiasAdd -> Relu chains and SGD updates of weight gradients as single GEMMs (--no-fuse: separate ops)");
  flags.add_bool("json", false, "print one JSON document instead of the table");
}

/// Reads the shared flags after flags.parse(); on a bad value returns the usage error's exit code.
inline std::optional<int> read_step_flags(const Flags& flags, StepFlagValues* out) {
  std::string error;
  if (!parse_mlp_configs(flags.get_string("configs"), &out->configs, &error)) return flags.usage_error(error);
  out->optimizer = flags.get_string("optimizer");
  if (out->optimizer != "sgd" && out->optimizer != "adam") {
    return flags.usage_error("--optimizer: expected sgd or adam, got '" + out->optimizer + "'");
  }
  out->threads = static_cast<int>(flags.get_int("threads"));
  const std::optional<CpuGemm> gemm = cpu_gemm_from_flag(flags.get_string("cpu-gemm"));
  if (!gemm) {
    return flags.usage_error("--cpu-gemm: expected default, onednn or openblas, got '" +
                             flags.get_string("cpu-gemm") + "'");
  }
  out->cpu_gemm = *gemm;
  out->min_seconds = flags.get_double("min-seconds");
  out->warmup = static_cast<int>(flags.get_int("warmup"));
  out->min_iters = static_cast<int>(flags.get_int("min-iters"));
  out->seed = static_cast<uint32_t>(flags.get_int("seed"));
  out->fuse = flags.get_bool("fuse");
  out->json = flags.get_bool("json");
  return std::nullopt;
}

}  // namespace scopeflow::bench
