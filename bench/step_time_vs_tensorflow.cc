// Training step time of an MLP in our Session against TensorFlow 1 running the GraphDef we
// export for the very same graph, with the same thread count on both sides.
//
//   step_time_vs_tensorflow [--configs 32x64x4,256x1024x8] [--optimizer=sgd|adam]
//                           [--threads N] [--min-seconds S] [--python PATH]
//                           [--require-tensorflow] [--json]
//
// Per configuration BATCHxWIDTHxDEPTH the graph is: placeholders x (batch, width) float32 and
// labels (batch,) int32; DEPTH dense layers relu(x @ kernel + bias) of WIDTH units, each in its
// own variable scope dense_<i>; a 10-class output layer (scope logits);
// losses::sparse_softmax_cross_entropy; and the train op of
// train::GradientDescent(0.01).minimize(loss) (NoOp "GradientDescent") or train::Adam
// (NoOp "Adam"). Our side times session.run(feeds, {}, {train_op}); the graph is then exported
// with graph_def_bytes (whose "init" NoOp initializes every variable) and timed by
// bench/tf_time_graph.py in the interop Python: same feeds shapes, same target, TensorFlow's
// intra_op_parallelism_threads = --threads = our OpenBLAS threads.
//
// Without a Python (--python, else the interop venv configured at build time) the program says
// so and reports our side only, exiting 0; --require-tensorflow makes that exit code 1. When
// TensorFlow runs but fails on our graph, its error is printed and the exit code is 1.

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/flags/flag.h"
#include "bench_util.h"
#include "cli/command_line.h"
#include "mlp_step.h"
#include "scopeflow/allocator.h"
#include "scopeflow/device.h"
#include "scopeflow/graph.h"
#include "scopeflow/graph_def.h"
#include "scopeflow/initializers.h"
#include "scopeflow/losses.h"
#include "scopeflow/ops.h"
#include "scopeflow/scope.h"
#include "scopeflow/session.h"
#include "scopeflow/train.h"
#include "step_flags.h"

#ifndef SCOPEFLOW_BENCH_DIR
#define SCOPEFLOW_BENCH_DIR ""
#endif
#ifndef SCOPEFLOW_INTEROP_PYTHON_DEFAULT
#define SCOPEFLOW_INTEROP_PYTHON_DEFAULT ""
#endif

ABSL_FLAG(bool, fetch_loss, false, "fetch the loss with every step, on both sides");
ABSL_FLAG(bool, gpu, true, "also time our step on the GPU when a CUDA device answers (TensorFlow stays on the CPU)");
ABSL_FLAG(std::string, python, "",
          "Python with TensorFlow ('' = the interop venv configured at build time: '" SCOPEFLOW_INTEROP_PYTHON_DEFAULT
          "')");
ABSL_FLAG(bool, tensorflow, true, "run the TensorFlow side (--no-tensorflow: ours only, no note)");
ABSL_FLAG(bool, require_tensorflow, false, "exit 1 when TensorFlow cannot be run (default: ours only, exit 0)");
ABSL_FLAG(bool, keep_files, false, "keep the temporary GraphDef and spec.json (path on stderr)");
ABSL_FLAG(bool, verbose, false, "print the TensorFlow command line on stderr");

namespace scopeflow::bench {
namespace {

namespace fs = std::filesystem;

struct TfSide {
  bool attempted = false;   // a Python was found and the script run
  bool ok = false;
  bool unavailable = false;  // the Python has no TensorFlow (or numpy)
  std::string error;
  double median_seconds = 0;
  double mean_seconds = 0;
  int64_t iterations = 0;
  std::string version;
  int64_t peak_rss_bytes = -1;
  std::optional<double> fetch_value;
};

struct Result {
  MlpConfig config;
  int64_t parameters = 0;  // float32 parameters of the model
  int64_t graph_def_bytes = 0;
  int64_t graph_nodes = 0;
  TimingResult ours;
  std::optional<double> ours_loss;  // with --fetch-loss: the loss of the last timed run
  TfSide tf;
  // Our step on the GPU, when one answers (--gpu): time, allocator peak and cudaMemGetInfo.
  std::optional<TimingResult> ours_gpu;
  int64_t gpu_allocator_peak_bytes = 0;
  std::optional<DeviceMemoryInfo> gpu_memory;
};

// A fresh temporary directory, removed when this object goes away (unless kept).
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "step_time_vs_tensorflow.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
    }
    path_ = pattern;
  }
  ~TempDir() {
    if (keep_) return;
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  void keep() { keep_ = true; }

 private:
  fs::path path_;
  bool keep_ = false;
};

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The last `max_lines` non-empty lines of `text`.
std::string tail_lines(const std::string& text, int max_lines) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  std::string out;
  const size_t first = lines.size() > static_cast<size_t>(max_lines) ? lines.size() - static_cast<size_t>(max_lines) : 0;
  for (size_t i = first; i < lines.size(); ++i) out += "  " + lines[i] + "\n";
  return out;
}

std::string tensor_name(const Output& output) {
  std::string name = output.name();
  if (name.find(':') == std::string::npos) name += ":0";
  return name;
}

struct Options {
  StepFlagValues step;  // the flags both step benches take
  bool fetch_loss = false;
  bool gpu = true;  // also time our step on the GPU when a CUDA device answers
  std::string python;  // "" = no TensorFlow side
  std::string script;
  bool keep_files = false;
  bool verbose = false;
};

TfSide run_tensorflow(const Options& options, const std::string& graph_def, const Output& loss,
                      const std::string& train_op_name, const MlpConfig& config,
                      const std::string& x_name, const std::string& labels_name,
                      const std::string& program) {
  TfSide tf;
  tf.attempted = true;
  TempDir dir;
  if (options.keep_files) dir.keep();
  const fs::path graph_path = dir.path() / "graph.pb";
  const fs::path spec_path = dir.path() / "spec.json";
  const fs::path stderr_path = dir.path() / "stderr.txt";
  std::string error;
  if (!write_file(graph_path.string(), graph_def, &error)) {
    tf.error = "could not write the GraphDef: " + error;
    return tf;
  }
  JsonWriter spec;
  spec.begin_object();
  spec.field("init", "init");
  spec.key("feeds").begin_array();
  spec.begin_object();
  spec.field("name", x_name).field("dtype", "float32");
  spec.key("shape").begin_array().value(config.batch).value(config.width).end_array();
  spec.field("kind", "normal");
  spec.end_object();
  spec.begin_object();
  spec.field("name", labels_name).field("dtype", "int32");
  spec.key("shape").begin_array().value(config.batch).end_array();
  spec.field("kind", "labels").field("num_classes", kMlpClasses);
  spec.end_object();
  spec.end_array();
  spec.field("target", train_op_name);
  if (options.fetch_loss) spec.field("fetch", tensor_name(loss));
  spec.end_object();
  if (!write_file(spec_path.string(), spec.str(), &error)) {
    tf.error = "could not write the spec: " + error;
    return tf;
  }
  const std::string command =
      shell_quote(options.python) + " " + shell_quote(options.script) + " --graph " +
      shell_quote(graph_path.string()) + " --spec " + shell_quote(spec_path.string()) + " --threads " +
      std::to_string(options.step.threads) + " --min-seconds " + format_fixed(options.step.min_seconds, 6) +
      " --warmup " + std::to_string(options.step.warmup) + " --min-iters " + std::to_string(options.step.min_iters) +
      " --seed " + std::to_string(options.step.seed) + " 2>" + shell_quote(stderr_path.string());
  if (options.verbose) std::fprintf(stderr, "%s: running %s\n", program.c_str(), command.c_str());
  const CommandResult run = run_command(command);
  const std::string stderr_text = read_text_file(stderr_path);
  if (!run.started) {
    tf.error = "could not run " + options.python + ": " + run.error;
    return tf;
  }
  // The script prints exactly one JSON line; anything else on stdout comes before it.
  std::string json_line;
  {
    std::istringstream in(run.output);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.front() == '{') json_line = line;
    }
  }
  JsonFlatObject reply;
  if (json_line.empty() || !parse_json_object(json_line, &reply, &error)) {
    tf.error = "tf_time_graph.py exited with code " + std::to_string(run.exit_code) +
               " without a JSON result" + (json_line.empty() ? "" : " (" + error + ")");
    if (!run.output.empty()) tf.error += "\nstdout:\n" + tail_lines(run.output, 20);
    if (!stderr_text.empty()) tf.error += "\nstderr:\n" + tail_lines(stderr_text, 20);
    tf.unavailable = stderr_text.find("No module named") != std::string::npos;
    return tf;
  }
  if (reply.get<bool>("ok") != true) {
    tf.error = reply.get<std::string>("error").value_or("tf_time_graph.py failed without an error message");
    tf.unavailable = tf.error.starts_with("ModuleNotFoundError") &&
                     (tf.error.find("'tensorflow'") != std::string::npos ||
                      tf.error.find("'numpy'") != std::string::npos);
    if (!tf.unavailable && !stderr_text.empty()) tf.error += "\nstderr:\n" + tail_lines(stderr_text, 20);
    return tf;
  }
  const std::optional<double> median = reply.get<double>("median_seconds");
  if (!median || !(*median > 0)) {
    tf.error = "tf_time_graph.py reported no median_seconds: " + json_line;
    return tf;
  }
  tf.ok = true;
  tf.median_seconds = *median;
  tf.mean_seconds = reply.get<double>("mean_seconds").value_or(0);
  tf.iterations = static_cast<int64_t>(reply.get<double>("iterations").value_or(0));
  tf.version = reply.get<std::string>("tensorflow_version").value_or("");
  tf.peak_rss_bytes = static_cast<int64_t>(reply.get<double>("peak_rss_bytes").value_or(-1));
  tf.fetch_value = reply.get<double>("fetch_value");
  return tf;
}

Result run_config(const MlpConfig& config, const Options& options, const std::string& program) {
  Result result;
  result.config = config;
  const int64_t batch = config.batch, width = config.width;

  Graph graph;
  graph.set_seed(options.step.seed);
  const MlpStep step = build_mlp_step(graph, config, options.step.optimizer);
  result.parameters = step.parameters;
  const Output& x = step.x;
  const Output& labels = step.labels;
  const Output& loss = step.loss;
  Node* const train_op = step.train_op;

  // Feeds: seeded normal inputs and uniform labels (TensorFlow gets its own seeded ones of the
  // same shapes and distributions; step time does not depend on the values).
  const MlpFeedValues values = mlp_feed_values(config, options.step.seed);
  const FeedList feeds = {{x, Tensor::from_vector<float>(Shape{batch, width}, values.x)},
                          {labels, Tensor::from_vector<int32_t>(Shape{batch}, values.labels)}};

  Session session(graph, SessionOptions{.device = Device::cpu(),
                                        .fuse_gemm_epilogues = options.step.fuse,
                                        .cpu_gemm = options.step.cpu_gemm,
                                        .intra_op_threads = options.step.threads});
  session.initialize_variables();
  Node* const targets[] = {train_op};
  if (options.fetch_loss) {
    const Output fetches[] = {loss};
    Tensor last;
    result.ours = time_it([&] { last = session.run(feeds, fetches, targets).at(0); }, options.step.warmup,
                          options.step.min_iters, options.step.min_seconds);
    result.ours_loss = last.data<float>()[0];
  } else {
    result.ours = time_it([&] { session.run(feeds, std::span<const Output>(), targets); }, options.step.warmup,
                          options.step.min_iters, options.step.min_seconds);
  }

  if (options.gpu) {
    absl::StatusOr<int> devices = cuda_device_count();
    if (devices.ok() && *devices > 0) {
      Session gpu(graph, SessionOptions{.device = Device::cuda(),
                                        .fuse_gemm_epilogues = options.step.fuse});
      gpu.initialize_variables();
      gpu.allocator().reset_peaks();
      result.ours_gpu = time_it([&] { gpu.run(feeds, std::span<const Output>(), targets); },
                                options.step.warmup, options.step.min_iters, options.step.min_seconds);
      result.gpu_allocator_peak_bytes = gpu.allocator().stats().peak_bytes;
      if (absl::StatusOr<DeviceMemoryInfo> info = gpu.allocator().device_memory_info(); info.ok()) {
        result.gpu_memory = *info;
      }
    }
  }

  const std::string graph_def = graph_def_bytes(graph);
  result.graph_def_bytes = static_cast<int64_t>(graph_def.size());
  result.graph_nodes = graph.num_nodes();
  if (!options.python.empty()) {
    result.tf = run_tensorflow(options, graph_def, loss, train_op->name(), config, tensor_name(x),
                               tensor_name(labels), program);
  }
  return result;
}

bool is_executable(const std::string& path) { return !path.empty() && ::access(path.c_str(), X_OK) == 0; }

int run(int argc, char** argv) {
  const std::string program = program_name(argv[0]);
  const cli::CommandLineSpec spec{
      .program = program,
      .description = "Training step time of an MLP in our Session against TensorFlow 1 running our exported\n"
                     "GraphDef (bench/tf_time_graph.py), with the same thread count on both sides.",
      .ranges = step_flag_ranges(),
  };
  if (const std::optional<int> exit_code = cli::parse_command_line(argc, argv, spec)) return *exit_code;

  Options options;
  if (const std::optional<int> exit_code = read_step_flags(program, &options.step)) return *exit_code;
  const std::vector<MlpConfig>& configs = options.step.configs;
  options.fetch_loss = absl::GetFlag(FLAGS_fetch_loss);
  options.gpu = absl::GetFlag(FLAGS_gpu);
  options.keep_files = absl::GetFlag(FLAGS_keep_files);
  options.verbose = absl::GetFlag(FLAGS_verbose) || options.keep_files;
  options.script = (fs::path(SCOPEFLOW_BENCH_DIR) / "tf_time_graph.py").string();
  const bool require_tf = absl::GetFlag(FLAGS_require_tensorflow);
  const bool json = options.step.json;

  // Which Python runs TensorFlow, or why none does.
  std::string python_note;
  const std::string python_flag = absl::GetFlag(FLAGS_python);
  const std::string python_default = SCOPEFLOW_INTEROP_PYTHON_DEFAULT;
  if (!absl::GetFlag(FLAGS_tensorflow)) {
    python_note = "--no-tensorflow";
  } else if (!python_flag.empty()) {
    if (is_executable(python_flag)) {
      options.python = python_flag;
    } else {
      python_note = "--python '" + python_flag + "' is not an executable file";
    }
  } else if (python_default.empty()) {
    python_note = "no interop Python configured (build with -DSCOPEFLOW_INTEROP_PYTHON=... or pass --python)";
  } else if (is_executable(python_default)) {
    options.python = python_default;
  } else {
    python_note = "the interop Python '" + python_default + "' does not exist (pass --python)";
  }
  if (!options.python.empty() && !fs::is_regular_file(options.script)) {
    python_note = "the TensorFlow timing script '" + options.script + "' is missing";
    options.python.clear();
  }
  if (!python_note.empty()) {
    if (absl::GetFlag(FLAGS_tensorflow)) {
      std::fprintf(stderr, "%s: note: TensorFlow comparison skipped: %s; reporting our side only\n",
                   program.c_str(), python_note.c_str());
    }
    if (require_tf) {
      std::fprintf(stderr, "%s: --require-tensorflow: failing\n", program.c_str());
      return 1;
    }
  }

  set_blas_threads(options.step.threads);
  const int actual_threads = blas_threads();
  if (actual_threads != options.step.threads) {
    std::fprintf(stderr, "%s: warning: OpenBLAS uses %d threads, not the %d requested\n", program.c_str(),
                 actual_threads, options.step.threads);
  }

  const std::string python_path = options.python;
  const Timer wall;
  std::vector<Result> results;
  for (const MlpConfig& config : configs) {
    results.push_back(run_config(config, options, program));
    // A Python without TensorFlow stays without it: time the other configurations on our side only.
    if (results.back().tf.unavailable) {
      python_note = "'" + options.python + "' cannot import TensorFlow";
      options.python.clear();
    }
  }
  const double elapsed = wall.seconds();

  // TensorFlow missing from the Python counts like a missing Python; any other failure is one.
  bool tf_failed = false;
  bool tf_unavailable = false;
  for (const Result& r : results) {
    if (!r.tf.attempted || r.tf.ok) continue;
    (r.tf.unavailable ? tf_unavailable : tf_failed) = true;
  }
  std::string tf_version;
  for (const Result& r : results) {
    if (r.tf.ok) tf_version = r.tf.version;
  }
  const std::string train_op_name = options.step.optimizer == "adam" ? "Adam" : "GradientDescent";

  if (json) {
    JsonWriter w;
    w.begin_object();
    w.field("benchmark", "step_time_vs_tensorflow");
    w.field("optimizer", options.step.optimizer);
    w.field("train_op", train_op_name);
    w.field("threads", options.step.threads);
    w.field("cpu_gemm", cpu_gemm_name(options.step.cpu_gemm));
    w.field("blas_threads", actual_threads);
    w.field("blas_config", blas_config());
    w.field("min_seconds", options.step.min_seconds);
    w.field("fetch_loss", options.fetch_loss);
    w.field("fuse_gemm_epilogues", options.step.fuse);
    if (python_path.empty()) {
      w.key("python").null();
    } else {
      w.field("python", python_path);
    }
    if (!python_note.empty()) w.field("tensorflow_skipped", python_note);
    w.field("tensorflow_version", tf_version);
    w.key("results").begin_array();
    for (const Result& r : results) {
      w.begin_object();
      w.field("config", r.config.text());
      w.field("batch", r.config.batch).field("width", r.config.width).field("depth", r.config.depth);
      w.field("parameters", r.parameters);
      w.field("graph_nodes", r.graph_nodes);
      w.field("graph_def_bytes", r.graph_def_bytes);
      w.key("ours").begin_object();
      w.field("median_seconds", r.ours.median_seconds);
      w.field("mean_seconds", r.ours.mean_seconds);
      w.field("min_seconds", r.ours.min_seconds);
      w.field("iterations", r.ours.iterations);
      if (r.ours_loss) w.field("loss", *r.ours_loss);
      w.end_object();
      w.key("ours_gpu");
      if (!r.ours_gpu) {
        w.null();
      } else {
        w.begin_object();
        w.field("median_seconds", r.ours_gpu->median_seconds);
        w.field("mean_seconds", r.ours_gpu->mean_seconds);
        w.field("iterations", r.ours_gpu->iterations);
        w.field("allocator_peak_bytes", r.gpu_allocator_peak_bytes);
        if (r.gpu_memory) {
          w.field("device_free_bytes", r.gpu_memory->free_bytes);
          w.field("device_total_bytes", r.gpu_memory->total_bytes);
        }
        w.end_object();
      }
      w.key("tensorflow");
      if (!r.tf.attempted) {
        w.null();
      } else {
        w.begin_object();
        w.field("ok", r.tf.ok);
        if (r.tf.ok) {
          w.field("median_seconds", r.tf.median_seconds);
          w.field("mean_seconds", r.tf.mean_seconds);
          w.field("iterations", r.tf.iterations);
          w.field("peak_rss_bytes", r.tf.peak_rss_bytes);
          if (r.tf.fetch_value) w.field("loss", *r.tf.fetch_value);
        } else {
          w.field("error", r.tf.error);
        }
        w.end_object();
      }
      if (r.tf.ok) {
        w.field("ratio", r.ours.median_seconds / r.tf.median_seconds);
      } else {
        w.key("ratio").null();
      }
      w.end_object();
    }
    w.end_array();
    w.field("elapsed_seconds", elapsed);
    w.field("peak_rss_bytes", peak_rss_bytes());
    w.end_object();
    std::printf("%s\n", w.str().c_str());
  } else {
    Table table({"batch x width x depth", "params", "ours median", "TF median", "ours/TF", "ours steps",
                 "TF steps", "ours GPU median", "GPU alloc peak"});
    for (const Result& r : results) {
      const bool have_tf = r.tf.ok;
      table.add_row({r.config.text(), std::to_string(r.parameters), format_duration(r.ours.median_seconds),
                     have_tf                 ? format_duration(r.tf.median_seconds)
                     : r.tf.unavailable      ? "unavailable"
                     : r.tf.attempted        ? "FAILED"
                                             : "-",
                     have_tf ? format_fixed(r.ours.median_seconds / r.tf.median_seconds, 3) : "-",
                     std::to_string(r.ours.iterations), have_tf ? std::to_string(r.tf.iterations) : "-",
                     r.ours_gpu ? format_duration(r.ours_gpu->median_seconds) : "-",
                     r.ours_gpu ? format_bytes(r.gpu_allocator_peak_bytes) : "-"});
    }
    std::printf("MLP training step (%s, train op '%s'), %d thread%s on both sides; ours: Session::run, "
                "TensorFlow %s: our exported GraphDef\n\n%s",
                options.step.optimizer == "adam" ? "Adam" : "GradientDescent(0.01)", train_op_name.c_str(),
                actual_threads, actual_threads == 1 ? "" : "s",
                tf_version.empty() ? "(not run)" : tf_version.c_str(), table.to_string().c_str());
    if (!python_note.empty()) std::printf("\nTensorFlow not run: %s\n", python_note.c_str());
    std::printf("\nmedian of single training steps (session.run of the train op with x and labels fed, "
                "no fetch%s); ratio < 1: ours is faster\nelapsed %s, our peak RSS %s\n",
                options.fetch_loss ? " but the loss" : "", format_duration(elapsed).c_str(),
                format_bytes(peak_rss_bytes()).c_str());
  }
  for (const Result& r : results) {
    if (r.tf.attempted && !r.tf.ok) {
      std::fprintf(stderr, "%s: %s: TensorFlow %s:\n%s\n", program.c_str(), r.config.text().c_str(),
                   r.tf.unavailable ? "is not available" : "failed on our GraphDef", r.tf.error.c_str());
    }
  }
  if (tf_failed) return 1;
  if (tf_unavailable && require_tf) return 1;
  return 0;
}

}  // namespace
}  // namespace scopeflow::bench

int main(int argc, char** argv) { return scopeflow::bench::guarded_main(scopeflow::bench::run, argc, argv); }
