#pragma once
// CPU GEMM: one row-major product C = [alpha] op(A) op(B) [+ bias] [+ C] [ReLU], set up once per
// shape when a plan is made and run many times. oneDNN matmul primitives by default (bias,
// output scale and sum post-ops; the ReLU after, in place, since oneDNN's maps NaN to 0);
// OpenBLAS's cblas_sgemm when chosen (CMake SCOPEFLOW_CPU_GEMM or SessionOptions::cpu_gemm),
// through the column-major mapping cuBLAS also receives.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "cpu/omp_threads.h"

namespace scopeflow::cpu {

enum class GemmLibrary { kOneDnn, kOpenBlas };

/// True when the library was built with oneDNN (SCOPEFLOW_CPU_GEMM=onednn).
bool onednn_built();

struct GemmShape {
  int64_t m = 0;  // rows of C
  int64_t n = 0;  // columns of C
  int64_t k = 0;
  bool transpose_a = false;  // A is stored (k, m)
  bool transpose_b = false;  // B is stored (n, k)
  bool bias = false;         // add a (n,) bias to every row
  bool relu = false;         // then max(0, x) (NaN stays NaN)
  bool accumulate = false;   // add the product to C's values (BLAS beta = 1)
  bool scaled = false;       // multiply the product by an alpha given at each run (BLAS alpha)

  friend bool operator==(const GemmShape&, const GemmShape&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const GemmShape& s) {
    return H::combine(std::move(h), s.m, s.n, s.k, s.transpose_a, s.transpose_b, s.bias, s.relu,
                      s.accumulate, s.scaled);
  }
};

/// One prepared product. run() is not reentrant (it rebinds its buffers); a session's runs are
/// serialised, and each session has its own cache.
class Gemm {
 public:
  virtual ~Gemm() = default;
  /// a, b: the operands as stored; bias: (n,) when shape.bias; c: (m, n).
  void run(const float* a, const float* b, const float* bias, float* c) { run_scaled(1.0f, a, b, bias, c); }
  /// C = alpha op(A) op(B) [+ C]: alpha is used only by a shape.scaled product (which applies no
  /// bias or ReLU), as the optimizer's -learning_rate of a fused SGD update.
  virtual void run_scaled(float alpha, const float* a, const float* b, const float* bias, float* c) = 0;
  /// Which library calls run the product, for traces ("oneDNN matmul (...) with bias, then ReLU").
  virtual std::string_view description() const = 0;
};

/// Products of at most this many flops (2·m·n·k) run on one thread on oneDNN: waking a team
/// costs more than it saves (measured, 2 threads: 64x64x64 5.1 us on one against 3.9 us on two
/// with spinning workers, 49.7 us with OMP_WAIT_POLICY=PASSIVE; 256x256x256 292 us against 149).
inline constexpr double kSingleThreadGemmFlops = 4194304;

/// Prepares a product; throws Error(kInvalidArgument) for dimensions the library cannot index
/// and Error(kFailedPrecondition) for oneDNN when the library was built without it. `threads`:
/// the session's thread count (0: the library's default), which oneDNN primitives are created
/// and run with (one thread for small products).
std::unique_ptr<Gemm> make_gemm(GemmLibrary library, const GemmShape& shape, int threads = 0);

/// Prepared products of one backend (one thread count), keyed by library and shape.
class GemmCache {
 public:
  explicit GemmCache(int threads = 0) : threads_(threads) {}
  Gemm& get(GemmLibrary library, const GemmShape& shape);

 private:
  std::mutex mutex_;
  int threads_;
  absl::flat_hash_map<std::pair<GemmLibrary, GemmShape>, std::unique_ptr<Gemm>> gemms_;
};

/// Threads the CPU GEMM uses in the calling thread: `threads` > 0 sets oneDNN's (OpenMP) and
/// OpenBLAS's counts for the scope and restores OpenMP's after; 0 leaves the libraries'
/// defaults (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, else every core).
class GemmThreadScope {
 public:
  explicit GemmThreadScope(int threads);
  ~GemmThreadScope();
  GemmThreadScope(const GemmThreadScope&) = delete;
  GemmThreadScope& operator=(const GemmThreadScope&) = delete;

 private:
  OmpThreadScope omp_;
};

}  // namespace scopeflow::cpu
