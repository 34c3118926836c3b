// Training step time of an MLP in our Session against the same MLP in libtorch's C++ frontend,
// with the same thread count on both sides.
//
//   step_time_vs_libtorch [--configs 32x64x4,256x1024x8] [--optimizer=sgd|adam] [--threads N]
//                         [--min-seconds S] [--json]
//
// The model is step_time_vs_tensorflow's (bench/mlp_step.h): per configuration
// BATCHxWIDTHxDEPTH, DEPTH layers relu(x @ kernel + bias) of WIDTH units, a 10-class output
// layer, the mean sparse softmax cross-entropy and GradientDescent(0.01) (or Adam with
// TensorFlow's defaults). The libtorch side is DEPTH + 1 torch::nn::Linear layers with
// torch::relu, torch::nn::functional::cross_entropy and torch::optim::SGD(0.01) (or
// torch::optim::Adam), starting from our initial weights. A timed libtorch step is zero_grad
// (gradients set to none, PyTorch 2's default; --no-set-to-none zeroes them), forward,
// backward and optimizer step; ours is session.run of the train op with x and labels fed.
//
// Before timing, both sides compute the loss from the same weights and feeds, take one
// training step and compute it again; the program exits 1 when the losses differ by more than
// 1e-3 relative, since times of different computations do not compare.
//
// Threads: OpenBLAS (one library in the process, used by both sides' GEMMs) and
// torch::set_num_threads get --threads, at::set_num_interop_threads 1. Unless OMP_WAIT_POLICY
// is set, the program reruns itself with OMP_WAIT_POLICY=PASSIVE (see main).

#include <torch/torch.h>
#include <torch/version.h>

#include <ATen/Parallel.h>
#include <ATen/Version.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/flags/flag.h"
#include "bench_util.h"
#include "cli/command_line.h"
#include "mlp_step.h"
#include "scopeflow/device.h"
#include "scopeflow/graph.h"
#include "scopeflow/session.h"
#include "scopeflow/tensor.h"
#include "step_flags.h"

ABSL_FLAG(bool, set_to_none, true,
          "libtorch: drop the gradients before each step (PyTorch 2's zero_grad default; "
          "--no-set-to-none: zero them, libtorch 1.13's zero_grad)");

namespace scopeflow::bench {
namespace {

constexpr double kLossTolerance = 1e-3;

struct Options {
  StepFlagValues step;  // the flags both step benches take
  bool set_to_none = true;
};

// The losses of both sides before and after one training step from the same state.
struct LossCheck {
  double ours_before = 0;
  double torch_before = 0;
  double ours_after = 0;
  double torch_after = 0;
  bool agree = false;
};

struct Result {
  MlpConfig config;
  int64_t parameters = 0;
  LossCheck check;
  TimingResult ours;
  TimingResult torch;
};

bool losses_close(double a, double b) {
  return std::isfinite(a) && std::isfinite(b) && std::fabs(a - b) <= kLossTolerance * std::max(1.0, std::fabs(b));
}

// The libtorch model: DEPTH + 1 Linear layers, ReLU after all but the last.
struct TorchMlp {
  std::vector<torch::nn::Linear> layers;

  torch::Tensor forward(torch::Tensor h) {
    for (size_t i = 0; i + 1 < layers.size(); ++i) h = torch::relu(layers[i]->forward(h));
    return layers.back()->forward(h);
  }
  std::vector<torch::Tensor> parameters() const {
    std::vector<torch::Tensor> params;
    for (const torch::nn::Linear& layer : layers) {
      params.push_back(layer->weight);
      params.push_back(layer->bias);
    }
    return params;
  }
};

// Our (in, out) kernels and (out,) biases as Linear layers (weight (out, in) = kernel^T).
TorchMlp torch_mlp_from(Session& session, const MlpStep& step) {
  TorchMlp mlp;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < step.kernels.size(); ++i) {
    const Shape& shape = step.kernels[i].shape();
    const int64_t in = shape.dim(0), out = shape.dim(1);
    torch::nn::Linear layer(torch::nn::LinearOptions(in, out).bias(true));
    std::vector<float> kernel = session.to_host(session.variable_value(step.kernels[i])).to_vector<float>();
    std::vector<float> bias = session.to_host(session.variable_value(step.biases[i])).to_vector<float>();
    layer->weight.copy_(torch::from_blob(kernel.data(), {in, out}, torch::kFloat32).t());
    layer->bias.copy_(torch::from_blob(bias.data(), {out}, torch::kFloat32));
    mlp.layers.push_back(layer);
  }
  return mlp;
}

std::unique_ptr<torch::optim::Optimizer> torch_optimizer(const std::string& name,
                                                         const std::vector<torch::Tensor>& params) {
  if (name == "adam") {
    const train::AdamOptions ours;  // TensorFlow's defaults, as our train::Adam uses them
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(ours.learning_rate)
                    .betas(std::make_tuple(static_cast<double>(ours.beta1), static_cast<double>(ours.beta2)))
                    .eps(ours.epsilon));
  }
  return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(kMlpSgdLearningRate));
}

Result run_config(const MlpConfig& config, const Options& options) {
  Result result;
  result.config = config;

  Graph graph;
  graph.set_seed(options.step.seed);
  const MlpStep step = build_mlp_step(graph, config, options.step.optimizer);
  result.parameters = step.parameters;
  MlpFeedValues values = mlp_feed_values(config, options.step.seed);
  const FeedList feeds = {{step.x, Tensor::from_vector<float>(Shape{config.batch, config.width}, values.x)},
                          {step.labels, Tensor::from_vector<int32_t>(Shape{config.batch}, values.labels)}};
  Session session(graph, SessionOptions{.device = Device::cpu(),
                                        .fuse_gemm_epilogues = options.step.fuse,
                                        .cpu_gemm = options.step.cpu_gemm,
                                        .intra_op_threads = options.step.threads});
  session.initialize_variables();

  TorchMlp mlp = torch_mlp_from(session, step);
  const std::vector<torch::Tensor> params = mlp.parameters();
  std::unique_ptr<torch::optim::Optimizer> optimizer = torch_optimizer(options.step.optimizer, params);
  const torch::Tensor x = torch::from_blob(values.x.data(), {config.batch, config.width}, torch::kFloat32).clone();
  const torch::Tensor labels =
      torch::from_blob(values.labels.data(), {config.batch}, torch::kInt32).to(torch::kLong);

  Node* const targets[] = {step.train_op};
  auto ours_step = [&] { session.run(feeds, std::span<const Output>(), targets); };
  auto torch_step = [&] {
    if (options.set_to_none) {
      for (const torch::Tensor& p : params) p.mutable_grad() = torch::Tensor();
    } else {
      optimizer->zero_grad();
    }
    torch::Tensor loss = torch::nn::functional::cross_entropy(mlp.forward(x), labels);
    loss.backward();
    optimizer->step();
  };
  auto ours_loss = [&] { return static_cast<double>(session.run(step.loss, feeds).data<float>()[0]); };
  auto torch_loss = [&] {
    torch::NoGradGuard no_grad;
    return torch::nn::functional::cross_entropy(mlp.forward(x), labels).item<double>();
  };

  // Same computation on both sides: the loss before and after one step from the same state.
  LossCheck& check = result.check;
  check.ours_before = ours_loss();
  check.torch_before = torch_loss();
  ours_step();
  torch_step();
  check.ours_after = ours_loss();
  check.torch_after = torch_loss();
  check.agree = losses_close(check.ours_before, check.torch_before) && losses_close(check.ours_after, check.torch_after);

  result.ours = time_it(ours_step, options.step.warmup, options.step.min_iters, options.step.min_seconds);
  result.torch = time_it(torch_step, options.step.warmup, options.step.min_iters, options.step.min_seconds);
  return result;
}

// "BLAS_INFO=open" -> "open" from at::show_config(); "" when absent.
std::string config_value(const std::string& config, std::string_view key) {
  const std::string needle = absl::StrCat(std::string(key), "=");
  const size_t at = config.find(needle);
  if (at == std::string::npos) return "";
  const size_t start = at + needle.size();
  const size_t end = config.find_first_of(",\n", start);
  return config.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// The file behind the libblas.so.3 this process mapped (Debian's alternative, e.g. OpenBLAS's
// openblas-pthread/libblas.so.3, which forwards to the same libopenblas ours calls); "" if none.
std::string mapped_blas_library() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash != std::string::npos && line.find("/libblas.so", slash) != std::string::npos) {
      return line.substr(slash);
    }
  }
  return "";
}

// OMP_WAIT_POLICY as libgomp read it at start-up ("default" when empty: libgomp's own).
std::string omp_wait_policy() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  return policy != nullptr && *policy != '\0' ? policy : "default";
}

int run(int argc, char** argv) {
  const std::string program = program_name(argv[0]);
  const cli::CommandLineSpec spec{
      .program = program,
      .description = "Training step time of an MLP in our Session against the same MLP in libtorch's C++\n"
                     "frontend (torch::nn::Linear, cross_entropy, torch::optim), same thread count on both sides.",
      .ranges = step_flag_ranges(),
  };
  if (const std::optional<int> exit_code = cli::parse_command_line(argc, argv, spec)) return *exit_code;

  Options options;
  if (const std::optional<int> exit_code = read_step_flags(program, &options.step)) return *exit_code;
  const std::vector<MlpConfig>& configs = options.step.configs;
  options.set_to_none = absl::GetFlag(FLAGS_set_to_none);
  const bool json = options.step.json;

  // Threads, before any libtorch work: intra-op as ours, inter-op 1 (one op at a time, as our
  // executor runs them). OpenBLAS is one library in this process, so set it last, for both.
  torch::set_num_threads(options.step.threads);
  at::set_num_interop_threads(1);
  set_blas_threads(options.step.threads);
  const int actual_threads = blas_threads();
  const int torch_threads = at::get_num_threads();
  if (actual_threads != options.step.threads || torch_threads != options.step.threads) {
    std::fprintf(stderr, "%s: warning: OpenBLAS uses %d and libtorch %d threads, not the %d requested\n",
                 program.c_str(), actual_threads, torch_threads, options.step.threads);
  }
  torch::manual_seed(options.step.seed);
  const std::string torch_config = at::show_config();
  const std::string torch_version = TORCH_VERSION;

  const Timer wall;
  std::vector<Result> results;
  for (const MlpConfig& config : configs) results.push_back(run_config(config, options));
  const double elapsed = wall.seconds();
  bool all_agree = true;
  for (const Result& r : results) all_agree = all_agree && r.check.agree;
  const std::string train_op_name = options.step.optimizer == "adam" ? "Adam" : "GradientDescent";

  if (json) {
    JsonWriter w;
    w.begin_object();
    w.field("benchmark", "step_time_vs_libtorch");
    w.field("optimizer", options.step.optimizer);
    w.field("train_op", train_op_name);
    w.field("threads", options.step.threads);
    w.field("cpu_gemm", cpu_gemm_name(options.step.cpu_gemm));
    w.field("blas_threads", actual_threads);
    w.field("blas_config", blas_config());
    w.field("torch_version", torch_version);
    w.field("torch_threads", torch_threads);
    w.field("torch_interop_threads", at::get_num_interop_threads());
    w.field("torch_blas", config_value(torch_config, "BLAS_INFO"));
    w.field("torch_blas_library", mapped_blas_library());
    w.field("torch_mkldnn", config_value(torch_config, "USE_MKLDNN"));
    w.field("torch_set_to_none", options.set_to_none);
    w.field("omp_wait_policy", omp_wait_policy());
    w.field("min_seconds", options.step.min_seconds);
    w.field("fuse_gemm_epilogues", options.step.fuse);
    w.key("results").begin_array();
    for (const Result& r : results) {
      w.begin_object();
      w.field("config", r.config.text());
      w.field("batch", r.config.batch).field("width", r.config.width).field("depth", r.config.depth);
      w.field("parameters", r.parameters);
      w.key("loss_check").begin_object();
      w.field("ours_before", r.check.ours_before).field("libtorch_before", r.check.torch_before);
      w.field("ours_after", r.check.ours_after).field("libtorch_after", r.check.torch_after);
      w.field("agree", r.check.agree);
      w.end_object();
      for (const auto& [name, timing] : {std::pair{"ours", &r.ours}, std::pair{"libtorch", &r.torch}}) {
        w.key(name).begin_object();
        w.field("median_seconds", timing->median_seconds);
        w.field("mean_seconds", timing->mean_seconds);
        w.field("min_seconds", timing->min_seconds);
        w.field("iterations", timing->iterations);
        w.end_object();
      }
      w.field("ratio", r.ours.median_seconds / r.torch.median_seconds);
      w.end_object();
    }
    w.end_array();
    w.field("all_agree", all_agree);
    w.field("elapsed_seconds", elapsed);
    w.field("peak_rss_bytes", peak_rss_bytes());
    w.end_object();
    std::printf("%s\n", w.str().c_str());
  } else {
    Table table({"batch x width x depth", "params", "ours median", "libtorch median", "ours/libtorch",
                 "ours steps", "libtorch steps", "loss ours/libtorch (after 1 step)"});
    for (const Result& r : results) {
      table.add_row({r.config.text(), std::to_string(r.parameters), format_duration(r.ours.median_seconds),
                     format_duration(r.torch.median_seconds),
                     format_fixed(r.ours.median_seconds / r.torch.median_seconds, 3),
                     std::to_string(r.ours.iterations), std::to_string(r.torch.iterations),
                     absl::StrCat(format_fixed(r.check.ours_after, 5), " / ", format_fixed(r.check.torch_after, 5),
                                  r.check.agree ? "" : " DIFFER")});
    }
    const std::string blas_library = mapped_blas_library();
    std::printf("MLP training step (%s), %d thread%s on both sides; ours: Session::run, libtorch %s "
                "(BLAS %s%s%s): torch::nn::Linear\n\n%s",
                options.step.optimizer == "adam" ? "Adam" : "GradientDescent(0.01)", actual_threads,
                actual_threads == 1 ? "" : "s", torch_version.c_str(),
                config_value(torch_config, "BLAS_INFO").c_str(), blas_library.empty() ? "" : ", ",
                blas_library.c_str(), table.to_string().c_str());
    std::printf("\nmedian of single training steps (x and labels fed, no fetch); ratio < 1: ours is faster\n"
                "OMP_WAIT_POLICY %s, elapsed %s, peak RSS %s\n",
                omp_wait_policy().c_str(), format_duration(elapsed).c_str(), format_bytes(peak_rss_bytes()).c_str());
  }
  for (const Result& r : results) {
    if (!r.check.agree) {
      std::fprintf(stderr,
                   "%s: %s: the losses differ (before a step: ours %.6g, libtorch %.6g; after one: ours %.6g, "
                   "libtorch %.6g)\n",
                   program.c_str(), r.config.text().c_str(), r.check.ours_before, r.check.torch_before,
                   r.check.ours_after, r.check.torch_after);
    }
  }
  return all_agree ? 0 : 1;
}

}  // namespace
}  // namespace scopeflow::bench

int main(int argc, char** argv) {
  // libtorch's intra-op threads are OpenMP's (libgomp), whose idle workers spin by default and,
  // with 2+ threads, take the cores from OpenBLAS's own threads: Debian's libtorch then runs
  // slower on 2 threads than on 1. libgomp reads OMP_WAIT_POLICY when it loads, before main, so
  // when it is unset we set PASSIVE and run ourselves again; a set value is kept (an empty one
  // gives libgomp's default).
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::execv("/proc/self/exe", argv);
    ::unsetenv("OMP_WAIT_POLICY");  // exec failed: go on with libgomp's default (reported)
    std::fprintf(stderr, "%s: note: could not rerun with OMP_WAIT_POLICY=PASSIVE: %s\n",
                 scopeflow::bench::program_name(argv[0]).c_str(), std::strerror(errno));
  }
  return scopeflow::bench::guarded_main(scopeflow::bench::run, argc, argv);
}
