#pragma once
// BLAS thread control and the --cpu-gemm choice, shared by every bench that times GEMMs.

#include <cblas.h>

#include <optional>
#include <string>
#include <string_view>

#include "scopeflow/session.h"

// Debian's cblas.h is an alternative that may point at another BLAS; the library links
// OpenBLAS, so its thread controls are always there.
#ifndef OPENBLAS_VERSION
extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char* openblas_get_config(void);
}
#endif

namespace scopeflow::bench {

// ---------------------------------------------------------------------------------------------
// BLAS threads

/// Sets OpenBLAS's thread count; our CPU kernels call the same OpenBLAS, so this governs both
/// sides of a comparison. Use the same n as TensorFlow's intra_op_parallelism_threads.
inline void set_blas_threads(int n) { openblas_set_num_threads(n); }


/// The --cpu-gemm flag: "default", "onednn" or "openblas"; nullopt for anything else.
inline std::optional<CpuGemm> cpu_gemm_from_flag(std::string_view value) {
  if (value == "default") return CpuGemm::kDefault;
  if (value == "onednn") return CpuGemm::kOneDnn;
  if (value == "openblas") return CpuGemm::kOpenBlas;
  return std::nullopt;
}

/// The library a session with `gemm` uses for its CPU GEMM, as reports name it.
inline const char* cpu_gemm_name(CpuGemm gemm) {
  if (gemm == CpuGemm::kOpenBlas || (gemm == CpuGemm::kDefault && !cpu_gemm_onednn_built())) return "openblas";
  return "onednn";
}
/// The thread count OpenBLAS will use (it caps requests at its build-time maximum).
inline int blas_threads() { return openblas_get_num_threads(); }
/// OpenBLAS's build description ("OpenBLAS 0.3.21 DYNAMIC_ARCH ... MAX_THREADS=64"), for reports.
inline std::string blas_config() {
  const char* config = openblas_get_config();
  return config != nullptr ? config : "";
}

}  // namespace scopeflow::bench
