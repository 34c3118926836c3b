// Throughput of our MatMul op, run through a Session, against raw cblas_sgemm and (when the
// library is built with oneDNN) a raw oneDNN matmul primitive, on the same row-major shapes
// and thread count; also checks that all agree.
//
//   gemm_vs_openblas [--threads N] [--cpu-gemm default|onednn|openblas]
//                    [--shapes "m,k,n;m,k,n"] [--variants nn,tn,nt,tt]
//                    [--min-seconds S] [--warmup W] [--min-iters I] [--json]
//
// Our side is what a model pays for one MatMul: Session::run looks up the compiled plan for
// the feed/fetch signature, checks the feeds and allocates the output tensor on every run
// before the kernel calls its GEMM. That per-run overhead is the honest cost of the op, so
// it is timed, not subtracted; it shows as a ratio below 1 on small shapes and vanishes on
// large ones. The OpenBLAS and oneDNN sides write into one preallocated buffer; the oneDNN
// primitive is created before timing, as our plan creates its own.

#include <cblas.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#if SCOPEFLOW_BENCH_ONEDNN
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#endif

#include "absl/flags/flag.h"
#include "bench_util.h"
#include "cli/command_line.h"
#include "scopeflow/device.h"
#include "scopeflow/graph.h"
#include "scopeflow/ops.h"
#include "scopeflow/scope.h"
#include "scopeflow/session.h"

ABSL_FLAG(int64_t, threads, 1, "threads of every side (our session's intra_op_threads, OpenBLAS, OpenMP)");
ABSL_FLAG(std::string, cpu_gemm, "default", "our CPU GEMM library: default, onednn or openblas");
ABSL_FLAG(std::string, shapes, "32,64,64;256,1024,1024;1024,1024,1024;512,4096,1024",
          "semicolon-separated m,k,n: C(m,n) = A(m,k) B(k,n)");
ABSL_FLAG(std::string, variants, "nn,tn,nt,tt", "transposes per shape: n/t for A, then for B");
ABSL_FLAG(double, min_seconds, 0.3, "minimum timed seconds per side and shape");
ABSL_FLAG(int64_t, warmup, 2, "untimed runs before timing");
ABSL_FLAG(int64_t, min_iters, 5, "minimum timed runs per side and shape");
ABSL_FLAG(int64_t, seed, 1, "seed of the random operands");
ABSL_FLAG(bool, json, false, "print one JSON document instead of the table");
ABSL_FLAG(bool, gpu, true, "also time our MatMul on the GPU (cuBLAS) when a CUDA device answers");

namespace scopeflow::bench {
namespace {

constexpr double kMaxRelativeDiff = 1e-3;
// Each operand must stay addressable by BLAS's 32-bit leading dimensions and fit in memory.
constexpr int64_t kMaxDim = 65536;
constexpr int64_t kMaxElements = int64_t{1} << 28;

struct GemmCase {
  int64_t m = 0, k = 0, n = 0;
  bool transpose_a = false;
  bool transpose_b = false;

  std::string shape_text() const {
    return std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n);
  }
  std::string op_text() const {
    return std::string(transpose_a ? "A^T" : "A") + "*" + (transpose_b ? "B^T" : "B");
  }
  double flops() const { return 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n); }
};

struct Side {
  TimingResult timing;
  double gflops = 0;
};

struct CaseResult {
  GemmCase gemm;
  Side ours;
  Side openblas;
  std::optional<Side> onednn;  // raw oneDNN, when built with it
  double onednn_relative_diff = 0;
  // Our MatMul on the GPU (cuBLAS), when a device answers: operands resident in device
  // variables, the product computed as a run target (no copies in the timed loop).
  std::optional<Side> ours_gpu;
  double gpu_relative_diff = 0;
  double max_abs_diff = 0;
  double relative_diff = 0;
  bool agree = false;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// "m,k,n;m,k,n" (x also separates dimensions) -> (m, k, n) triples; false with *error set.
bool parse_shapes(std::string_view text, std::vector<std::array<int64_t, 3>>* shapes, std::string* error) {
  for (std::string_view item : split(text, ';')) {
    item = trim(item);
    if (item.empty()) continue;  // tolerate a trailing ';'
    std::string normalized(item);
    std::replace(normalized.begin(), normalized.end(), 'x', ',');
    const std::vector<std::string_view> dims = split(normalized, ',');
    std::array<int64_t, 3> shape{};
    bool ok = dims.size() == 3;
    for (size_t i = 0; ok && i < 3; ++i) {
      const std::string_view d = trim(dims[i]);
      const auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), shape[i]);
      ok = !d.empty() && ec == std::errc() && end == d.data() + d.size() && shape[i] >= 1 &&
           shape[i] <= kMaxDim;
    }
    if (!ok) {
      *error = "--shapes: '" + std::string(item) + "' is not m,k,n with each dimension in [1, " +
               std::to_string(kMaxDim) + "]";
      return false;
    }
    const auto [m, k, n] = shape;
    if (m * k > kMaxElements || k * n > kMaxElements || m * n > kMaxElements) {
      *error = "--shapes: '" + std::string(item) + "' has an operand above " +
               std::to_string(kMaxElements) + " elements";
      return false;
    }
    shapes->push_back(shape);
  }
  if (shapes->empty()) {
    *error = "--shapes: no shapes given";
    return false;
  }
  return true;
}

// "nn,tn,nt,tt": first letter transposes A, second B.
bool parse_variants(std::string_view text, std::vector<std::pair<bool, bool>>* variants, std::string* error) {
  for (std::string_view item : split(text, ',')) {
    item = trim(item);
    if (item.size() != 2 || (item[0] != 'n' && item[0] != 't') || (item[1] != 'n' && item[1] != 't')) {
      *error = "--variants: '" + std::string(item) + "' is not one of nn, tn, nt, tt";
      return false;
    }
    variants->emplace_back(item[0] == 't', item[1] == 't');
  }
  return true;
}

std::vector<float> random_matrix(int64_t elements, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(elements));
  for (float& v : values) v = dist(rng);
  return values;
}

// Largest |x - reference| relative to the largest |reference| (NaN counts as infinite).
double relative_difference(const float* x, const std::vector<float>& reference, double* max_abs = nullptr) {
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(x[i]) - reference[i]);
    max_diff = std::isnan(diff) ? std::numeric_limits<double>::infinity() : std::max(max_diff, diff);
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(reference[i])));
  }
  if (max_abs != nullptr) *max_abs = max_diff;
  return max_diff / std::max(max_ref, 1e-30);
}

#if SCOPEFLOW_BENCH_ONEDNN
// A raw oneDNN matmul on the row-major operands as stored (transposes as swapped strides).
void run_onednn_side(const GemmCase& gemm, const std::vector<float>& a_values, const std::vector<float>& b_values,
                     const std::vector<float>& reference, int warmup, int min_iters, double min_seconds,
                     CaseResult& result) {
  using dt = dnnl::memory::data_type;
  using dims = dnnl::memory::dims;
  const int64_t m = gemm.m, k = gemm.k, n = gemm.n;
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const dnnl::memory::desc a_md(dims{m, k}, dt::f32, gemm.transpose_a ? dims{1, m} : dims{k, 1});
  const dnnl::memory::desc b_md(dims{k, n}, dt::f32, gemm.transpose_b ? dims{1, k} : dims{n, 1});
  const dnnl::memory::desc c_md(dims{m, n}, dt::f32, dims{n, 1});
  const dnnl::matmul primitive(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), engine));
  std::vector<float> c(static_cast<size_t>(m * n));
  dnnl::memory a_mem(a_md, engine, const_cast<float*>(a_values.data()));
  dnnl::memory b_mem(b_md, engine, const_cast<float*>(b_values.data()));
  dnnl::memory c_mem(c_md, engine, c.data());
  const std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}};
  Side side;
  side.timing = time_it([&] { primitive.execute(stream, args); }, warmup, min_iters, min_seconds);
  side.gflops = gemm.flops() / side.timing.median_seconds / 1e9;
  result.onednn = side;
  result.onednn_relative_diff = relative_difference(c.data(), reference);
}
#endif

// Times the MatMul on the GPU; its product is checked against `reference` like ours on the CPU.
void run_gpu_side(const GemmCase& gemm, const Shape& a_shape, const Shape& b_shape,
                  const std::vector<float>& a_values, const std::vector<float>& b_values,
                  const std::vector<float>& reference, int warmup, int min_iters, double min_seconds,
                  CaseResult& result) {
  Graph graph;
  const Variable a = get_variable(graph, "a", {.shape = a_shape});
  const Variable b = get_variable(graph, "b", {.shape = b_shape});
  const Output c = ops::matmul(a.value(), b.value(), ops::MatMulOptions{.transpose_a = gemm.transpose_a,
                                                                        .transpose_b = gemm.transpose_b});
  Session session(graph, SessionOptions{.device = Device::cuda()});
  session.assign_variable(a, Tensor::from_vector<float>(a_shape, a_values));
  session.assign_variable(b, Tensor::from_vector<float>(b_shape, b_values));
  Node* const targets[] = {c.node};
  Side side;
  side.timing = time_it([&] { session.run({}, std::span<const Output>(), targets); }, warmup, min_iters,
                        min_seconds);
  side.gflops = gemm.flops() / side.timing.median_seconds / 1e9;
  const std::vector<float> product = session.run(c).to_vector<float>();
  double max_abs = 0;
  double max_ref = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(product[i]) - reference[i]);
    max_abs = std::isnan(diff) ? std::numeric_limits<double>::infinity() : std::max(max_abs, diff);
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(reference[i])));
  }
  result.gpu_relative_diff = max_abs / std::max(max_ref, 1e-30);
  result.ours_gpu = side;
}

CaseResult run_case(const GemmCase& gemm, int warmup, int min_iters, double min_seconds, uint32_t seed,
                    bool gpu, const SessionOptions& cpu_options) {
  const int64_t m = gemm.m, k = gemm.k, n = gemm.n;
  // Stored shapes: A is (m, k) or (k, m) when transposed; B is (k, n) or (n, k).
  const Shape a_shape = gemm.transpose_a ? Shape{k, m} : Shape{m, k};
  const Shape b_shape = gemm.transpose_b ? Shape{n, k} : Shape{k, n};
  std::mt19937 rng(seed);
  const std::vector<float> a_values = random_matrix(m * k, rng);
  const std::vector<float> b_values = random_matrix(k * n, rng);

  Graph graph;
  const Output a = ops::placeholder(graph, DType::kFloat32, a_shape, "a");
  const Output b = ops::placeholder(graph, DType::kFloat32, b_shape, "b");
  const Output c = ops::matmul(a, b, ops::MatMulOptions{.transpose_a = gemm.transpose_a,
                                                        .transpose_b = gemm.transpose_b});
  Session session(graph, cpu_options);
  const FeedList feeds = {{a, Tensor::from_vector<float>(a_shape, a_values)},
                          {b, Tensor::from_vector<float>(b_shape, b_values)}};

  CaseResult result;
  result.gemm = gemm;
  Tensor ours_out;
  result.ours.timing = time_it([&] { ours_out = session.run(c, feeds); }, warmup, min_iters, min_seconds);

  // Row-major directly: an independent path from the op's column-major mapping (gemm_args.h).
  std::vector<float> reference(static_cast<size_t>(m * n));
  const auto lda = static_cast<blasint>(gemm.transpose_a ? m : k);
  const auto ldb = static_cast<blasint>(gemm.transpose_b ? k : n);
  auto sgemm = [&] {
    cblas_sgemm(CblasRowMajor, gemm.transpose_a ? CblasTrans : CblasNoTrans,
                gemm.transpose_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m),
                static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, a_values.data(), lda,
                b_values.data(), ldb, 0.0f, reference.data(), static_cast<blasint>(n));
  };
  result.openblas.timing = time_it(sgemm, warmup, min_iters, min_seconds);

  for (Side* side : {&result.ours, &result.openblas}) {
    side->gflops = gemm.flops() / side->timing.median_seconds / 1e9;
  }

  if (ours_out.shape() != Shape{m, n}) {
    throw std::runtime_error("MatMul " + gemm.shape_text() + " " + gemm.op_text() + " returned shape " +
                             ours_out.shape().to_string());
  }
  result.relative_diff = relative_difference(ours_out.data<float>(), reference, &result.max_abs_diff);
  result.agree = result.relative_diff <= kMaxRelativeDiff;
#if SCOPEFLOW_BENCH_ONEDNN
  run_onednn_side(gemm, a_values, b_values, reference, warmup, min_iters, min_seconds, result);
  result.agree = result.agree && result.onednn_relative_diff <= kMaxRelativeDiff;
#endif
  if (gpu) {
    run_gpu_side(gemm, a_shape, b_shape, a_values, b_values, reference, warmup, min_iters, min_seconds, result);
    result.agree = result.agree && result.gpu_relative_diff <= kMaxRelativeDiff;
  }
  return result;
}

int run(int argc, char** argv) {
  const std::string program = program_name(argv[0]);
  const cli::CommandLineSpec spec{
      .program = program,
      .description = "Our MatMul op (through Session::run) against raw cblas_sgemm and raw oneDNN, in GFLOP/s.",
      .ranges = {{"threads", 1, 1024}, {"min_seconds", 0, 3600}, {"warmup", 0, 1000000},
                 {"min_iters", 1, 100000000}, {"seed", 0, 4294967295.0}},
  };
  if (const std::optional<int> exit_code = cli::parse_command_line(argc, argv, spec)) return *exit_code;
  const absl::StatusOr<int> cuda_devices = cuda_device_count();
  const bool gpu = absl::GetFlag(FLAGS_gpu) && cuda_devices.ok() && *cuda_devices > 0;

  std::vector<std::array<int64_t, 3>> shapes;
  std::vector<std::pair<bool, bool>> variants;
  std::string error;
  if (!parse_shapes(absl::GetFlag(FLAGS_shapes), &shapes, &error) ||
      !parse_variants(absl::GetFlag(FLAGS_variants), &variants, &error)) {
    return cli::usage_error(program, error);
  }
  const int threads = static_cast<int>(absl::GetFlag(FLAGS_threads));
  const bool json = absl::GetFlag(FLAGS_json);
  const std::string cpu_gemm_flag = absl::GetFlag(FLAGS_cpu_gemm);
  const std::optional<CpuGemm> cpu_gemm = cpu_gemm_from_flag(cpu_gemm_flag);
  if (!cpu_gemm) {
    return cli::usage_error(program, "--cpu-gemm: expected default, onednn or openblas, got '" + cpu_gemm_flag + "'");
  }
  const SessionOptions cpu_options{.device = Device::cpu(), .cpu_gemm = *cpu_gemm, .intra_op_threads = threads};
#if SCOPEFLOW_BENCH_ONEDNN
  omp_set_num_threads(threads);  // the raw oneDNN side's OpenMP team
#endif

  set_blas_threads(threads);
  const int actual_threads = blas_threads();
  if (actual_threads != threads) {
    std::fprintf(stderr, "%s: warning: OpenBLAS uses %d threads, not the %d requested\n",
                 program.c_str(), actual_threads, threads);
  }

  std::vector<CaseResult> results;
  for (const auto& [m, k, n] : shapes) {
    for (const auto& [ta, tb] : variants) {
      const GemmCase gemm{m, k, n, ta, tb};
      results.push_back(run_case(gemm, static_cast<int>(absl::GetFlag(FLAGS_warmup)),
                                 static_cast<int>(absl::GetFlag(FLAGS_min_iters)),
                                 absl::GetFlag(FLAGS_min_seconds),
                                 static_cast<uint32_t>(absl::GetFlag(FLAGS_seed)), gpu, cpu_options));
    }
  }
  const bool all_agree = std::all_of(results.begin(), results.end(), [](const CaseResult& r) { return r.agree; });

  if (json) {
    JsonWriter w;
    w.begin_object();
    w.field("benchmark", "gemm_vs_openblas");
    w.field("threads", threads);
    w.field("cpu_gemm", cpu_gemm_name(*cpu_gemm));
    w.field("blas_threads", actual_threads);
    w.field("blas_config", blas_config());
    w.field("min_seconds", absl::GetFlag(FLAGS_min_seconds));
    w.field("max_relative_diff_allowed", kMaxRelativeDiff);
    w.key("results").begin_array();
    for (const CaseResult& r : results) {
      w.begin_object();
      w.field("m", r.gemm.m).field("k", r.gemm.k).field("n", r.gemm.n);
      w.field("transpose_a", r.gemm.transpose_a).field("transpose_b", r.gemm.transpose_b);
      for (const auto& [name, side] : {std::pair{"ours", &r.ours}, std::pair{"openblas", &r.openblas}}) {
        w.key(name).begin_object();
        w.field("gflops", side->gflops);
        w.field("median_seconds", side->timing.median_seconds);
        w.field("mean_seconds", side->timing.mean_seconds);
        w.field("iterations", side->timing.iterations);
        w.end_object();
      }
      w.field("ratio", r.ours.gflops / r.openblas.gflops);
      w.key("onednn");
      if (r.onednn) {
        w.begin_object();
        w.field("gflops", r.onednn->gflops);
        w.field("median_seconds", r.onednn->timing.median_seconds);
        w.field("iterations", r.onednn->timing.iterations);
        w.field("relative_diff", r.onednn_relative_diff);
        w.end_object();
        w.field("ratio_to_onednn", r.ours.gflops / r.onednn->gflops);
      } else {
        w.null();
      }
      w.key("ours_gpu");
      if (r.ours_gpu) {
        w.begin_object();
        w.field("gflops", r.ours_gpu->gflops);
        w.field("median_seconds", r.ours_gpu->timing.median_seconds);
        w.field("iterations", r.ours_gpu->timing.iterations);
        w.field("relative_diff", r.gpu_relative_diff);
        w.end_object();
      } else {
        w.null();
      }
      w.field("max_abs_diff", r.max_abs_diff);
      w.field("relative_diff", r.relative_diff);
      w.field("agree", r.agree);
      w.end_object();
    }
    w.end_array();
    w.field("all_agree", all_agree);
    w.field("peak_rss_bytes", peak_rss_bytes());
    w.end_object();
    std::printf("%s\n", w.str().c_str());
  } else {
    Table table({"shape m x k x n", "op", "ours GFLOP/s", "OpenBLAS GFLOP/s", "oneDNN GFLOP/s",
                 "ours/OpenBLAS", "ours/oneDNN", "ours median", "max abs diff", "rel diff",
                 "ours GPU GFLOP/s"});
    for (const CaseResult& r : results) {
      char abs_diff[32], rel_diff[32];
      std::snprintf(abs_diff, sizeof abs_diff, "%.2e", r.max_abs_diff);
      std::snprintf(rel_diff, sizeof rel_diff, "%.2e", r.relative_diff);
      table.add_row({r.gemm.shape_text(), r.gemm.op_text(), format_fixed(r.ours.gflops, 2),
                     format_fixed(r.openblas.gflops, 2), r.onednn ? format_fixed(r.onednn->gflops, 2) : "-",
                     format_fixed(r.ours.gflops / r.openblas.gflops, 3),
                     r.onednn ? format_fixed(r.ours.gflops / r.onednn->gflops, 3) : "-",
                     format_duration(r.ours.timing.median_seconds), abs_diff, rel_diff,
                     r.ours_gpu ? format_fixed(r.ours_gpu->gflops, 1) : "-"});
    }
    std::printf("MatMul through Session::run (CPU GEMM: %s) vs cblas_sgemm and oneDNN, %d thread%s (%s)\n\n%s",
                cpu_gemm_name(*cpu_gemm), threads, threads == 1 ? "" : "s", blas_config().c_str(),
                table.to_string().c_str());
    std::printf("\npeak RSS %s\n", format_bytes(peak_rss_bytes()).c_str());
  }
  if (!all_agree) {
    for (const CaseResult& r : results) {
      if (r.agree) continue;
      std::fprintf(stderr, "%s: %s %s: results differ (relative %.3g > %.0e)\n",
                   program.c_str(), r.gemm.shape_text().c_str(), r.gemm.op_text().c_str(),
                   r.relative_diff, kMaxRelativeDiff);
    }
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace scopeflow::bench

int main(int argc, char** argv) { return scopeflow::bench::guarded_main(scopeflow::bench::run, argc, argv); }
