// Writes what the interop tests (tests/interop/*.py) check with TensorFlow's and TensorBoard's
// own readers:
//
//   OUT/logs/exampleN/events.out.tfevents.*   one TensorBoard run per article example: graph,
//                                             scalars, histograms, text and run metadata
//   OUT/logs_expected.json                    what those runs must hold, for the readers to match
//   OUT/graphs/NAME/graph_def.pb              GraphDefs: example1..3, random_000..random_NNN,
//                                             abs_sign and train_*
//   OUT/graphs/NAME/case.json                 variable values, feeds, fetches and our outputs
//   OUT/graphs/train_*/training.json          loss, gradient tensors and variables after one step
//   OUT/dtypes/{graph_def.pb,case.json}       variables of every dtype, casts, and our values
//   OUT/graphs/scopes/scopes.json             the scopes case: train op, variables after one
//                                             step, control inputs and constraint assigns
//
//   write_interop_artifacts OUT [--random-graphs N] [--seed S]
//
// JSON is written with nlohmann::json. Float values are kept exactly, NaN, infinities and -0
// included (which JSON numbers cannot hold): a float32 tensor is {"shape", "bits"} with each
// value's IEEE bit pattern as an unsigned integer, decoded by conftest.py's float32_array.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <bit>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "article_models.h"
#include "scopeflow/dist.h"
#include "scopeflow/graph_def.h"
#include "scopeflow/regularizers.h"
#include "scopeflow/scopeflow.h"
#include "scopeflow/summary.h"

namespace fs = std::filesystem;
using namespace scopeflow;  // NOLINT: a test program

namespace {

// ------------------------------------------------------------------------------------------
// JSON output.

using nlohmann::json;

// A float32 value as its IEEE bit pattern: exact for NaN, infinities and -0 as well.
uint32_t float_bits(float v) { return std::bit_cast<uint32_t>(v); }

json json_shape(const Shape& shape) { return json(shape.dims()); }

// {"shape": [...], "bits": [...]} of a float32 host tensor.
json json_tensor(const Tensor& t) {
  if (t.dtype() != DType::kFloat32) throw_invalid("write_interop_artifacts", "expected float32, got ", t.description());
  json bits = json::array();
  for (float v : t.to_vector<float>()) bits.push_back(float_bits(v));
  return {{"shape", json_shape(t.shape())}, {"bits", std::move(bits)}};
}

std::string tensor_name(const Output& o) { return absl::StrCat(o.node->name(), ":", o.index); }

void write_file(const fs::path& path, const std::string& bytes);

void write_json(const fs::path& path, const json& value) { write_file(path, value.dump(1) + "\n"); }

void write_file(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw_error(absl::StatusCode::kInternal, "write_interop_artifacts", "cannot write ", path.string());
}

void check(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    throw_error(absl::StatusCode::kInternal, "write_interop_artifacts", what, ": ", status.ToString());
  }
}

SessionOptions cpu_session() { return SessionOptions{.device = Device::cpu()}; }

// ------------------------------------------------------------------------------------------
// One import case: a graph, the values to give its variables, feeds, fetches and our outputs.

void write_case(const fs::path& dir, const Graph& graph, Session& session, const FeedList& feeds,
                const std::vector<Output>& fetches) {
  const std::vector<Tensor> outputs = session.run(feeds, std::span<const Output>(fetches));
  write_file(dir / "graph_def.pb", graph_def_bytes(graph, {.default_device = session.device()}));

  json variables = json::object();
  for (const Variable& v : global_variables(graph)) variables[v.node()->name()] = json_tensor(session.variable_value(v));
  json feed_values = json::object();
  for (const auto& [output, value] : feeds) feed_values[tensor_name(output)] = json_tensor(value);
  json fetch_names = json::array();
  for (const Output& fetch : fetches) fetch_names.push_back(tensor_name(fetch));
  json output_values = json::array();
  for (const Tensor& output : outputs) output_values.push_back(json_tensor(output));
  write_json(dir / "case.json", {{"variables", std::move(variables)},
                                 {"feeds", std::move(feed_values)},
                                 {"fetches", std::move(fetch_names)},
                                 {"outputs", std::move(output_values)}});
}

// ------------------------------------------------------------------------------------------
// The article's examples: a TensorBoard run each, and an import case each.

struct RunExpectation {
  std::map<std::string, std::vector<std::pair<int64_t, float>>> scalars;
  struct Histogram {
    double num, min, max;
  };
  std::map<std::string, Histogram> histograms;
  std::map<std::string, std::string> texts;
  std::vector<std::string> run_metadata_tags;
  std::vector<std::string> traced_nodes;
};

float mean_of(const Tensor& t) {
  const std::vector<float> v = t.to_vector<float>();
  double sum = 0;
  for (float x : v) sum += x;
  return static_cast<float>(sum / static_cast<double>(v.size()));
}

RunExpectation write_example(const fs::path& out, int number) {
  const std::string name = absl::StrCat("example", number);
  Graph graph;
  examples::ArticleModel model = examples::build_article_example(graph, number);
  Session session(graph, cpu_session());
  session.initialize_variables();

  RunExpectation expect;
  absl::StatusOr<std::unique_ptr<SummaryWriter>> writer = SummaryWriter::create((out / "logs" / name).string());
  check(writer.status(), "SummaryWriter::create");
  SummaryWriter& w = **writer;
  check(w.add_graph(graph, {.default_device = session.device()}), "add_graph");

  // A traced run, then a few untraced steps whose output means become scalars (the
  // random_normal input draws new values each run).
  RunStats stats;
  std::vector<Tensor> traced = session.run({}, std::span<const Output>(model.outputs), {}, RunOptions{.trace = true}, &stats);
  check(w.add_run_metadata("step_0", stats, 0), "add_run_metadata");
  expect.run_metadata_tags.push_back("step_0");
  for (const NodeRunStats& node : stats.nodes) {
    if (node.node != nullptr) expect.traced_nodes.push_back(node.node->name());
  }
  for (int64_t step = 0; step < 5; ++step) {
    std::vector<Tensor> values = step == 0 ? traced : session.run({}, std::span<const Output>(model.outputs));
    for (size_t i = 0; i < values.size(); ++i) {
      const std::string tag = absl::StrCat("output", i, "/mean");
      const float mean = mean_of(values[i]);
      check(w.add_scalar(tag, mean, step), "add_scalar");
      expect.scalars[tag].emplace_back(step, mean);
    }
  }
  for (const Variable& v : global_variables(graph)) {
    const Tensor value = session.variable_value(v);
    check(w.add_histogram(v.name(), value, 0), "add_histogram");
    const std::vector<float> xs = value.to_vector<float>();
    expect.histograms[v.name()] = {static_cast<double>(xs.size()), *std::min_element(xs.begin(), xs.end()),
                                   *std::max_element(xs.begin(), xs.end())};
  }
  const std::string text =
      absl::StrCat("Article example ", number, ": **", global_variables(graph).size(), "** variables");
  check(w.add_text("description", text, 0), "add_text");
  expect.texts["description"] = text;
  check(w.close(), "close");

  // The import case: feed the random_normal output so that TensorFlow does not draw its own.
  const Tensor input = session.run(model.input);
  write_case(out / "graphs" / name, graph, session, {{model.input, input}}, model.outputs);
  return expect;
}

// Scalars as [step, float32 bits] pairs; histograms' min and max as float32 bits.
json expectations_json(const std::map<std::string, RunExpectation>& runs) {
  json out = json::object();
  for (const auto& [run, e] : runs) {
    json scalars = json::object();
    for (const auto& [tag, points] : e.scalars) {
      json list = json::array();
      for (const auto& [step, value] : points) list.push_back({step, float_bits(value)});
      scalars[tag] = std::move(list);
    }
    json histograms = json::object();
    for (const auto& [tag, h] : e.histograms) {
      histograms[tag] = {{"num", static_cast<int64_t>(h.num)},
                        {"min_bits", float_bits(static_cast<float>(h.min))},
                        {"max_bits", float_bits(static_cast<float>(h.max))}};
    }
    out[run] = {{"scalars", std::move(scalars)},
                {"histograms", std::move(histograms)},
                {"texts", e.texts},
                {"run_metadata_tags", e.run_metadata_tags},
                {"traced_nodes", e.traced_nodes}};
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// Random graphs: DAGs of our ops over placeholders and shared variables, every combination
// chosen shape-valid up front (a builder that throws here is a bug of this generator or of the
// builder, and fails the program).

class RandomGraphBuilder {
 public:
  RandomGraphBuilder(Graph& graph, uint64_t seed) : graph_(graph), rng_(seed) {}

  struct Result {
    FeedList feeds;
    std::vector<Output> fetches;
  };

  Result build() {
    Result result;
    const int num_placeholders = uniform(1, 3);
    for (int i = 0; i < num_placeholders; ++i) {
      Shape shape = random_shape(uniform(1, 3));
      Output x = ops::placeholder(graph_, DType::kFloat32, shape, "x");
      pool_.push_back(x);
      result.feeds.emplace_back(x, random_tensor(shape));
    }
    const int num_ops = uniform(5, 14);
    for (int i = 0; i < num_ops; ++i) add_random_op();

    // Fetch every computed output that nothing consumes (plus the last one, always).
    for (const Output& o : pool_) {
      if (o.node->op() != "Placeholder" && consumed_count(o) == 0) result.fetches.push_back(o);
    }
    if (result.fetches.empty()) result.fetches.push_back(pool_.back());
    return result;
  }

 private:
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool coin(double p = 0.5) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v.at(static_cast<size_t>(uniform(0, static_cast<int>(v.size()) - 1))); }

  Shape random_shape(int rank) {
    std::vector<int64_t> dims;
    for (int i = 0; i < rank; ++i) dims.push_back(uniform(1, 6));
    return Shape(dims);
  }

  Tensor random_tensor(const Shape& shape) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> values(static_cast<size_t>(shape.num_elements()));
    for (float& v : values) v = dist(rng_);
    return Tensor::from_vector<float>(shape, values);
  }

  int consumed_count(const Output& o) const {
    int n = 0;
    for (const auto& [consumer, index] : o.node->consumers()) {
      if (consumer->input(index) == o) ++n;
    }
    return n;
  }

  Initializer random_initializer() {
    switch (uniform(0, 5)) {
      case 0: return init::random_normal(0.0, 0.5);
      case 1: return init::truncated_normal(0.0, 0.5);
      case 2: return init::random_uniform(-1.0, 1.0);
      case 3: return init::constant(0.1);
      case 4: return init::zeros();
      default: return init::glorot_uniform();
    }
  }

  // A variable of `shape`, often one used before (so that variables have 2-3 readers): calls
  // `use` with its value. `kind` is the variable's name in its scope.
  template <typename Use>
  Output with_variable(const Shape& shape, const std::string& kind, Use use) {
    std::vector<size_t> candidates;
    for (size_t i = 0; i < vars_.size(); ++i) {
      if (vars_[i].shape == shape && vars_[i].kind == kind && vars_[i].uses < 3) candidates.push_back(i);
    }
    size_t index;
    if (!candidates.empty() && coin(0.6)) {
      index = pick(candidates);
    } else {
      vars_.push_back({absl::StrCat("layer", vars_.size()), kind, shape, 0, random_initializer()});
      index = vars_.size() - 1;
    }
    return use_variable(index, use);
  }

  // Calls `use` with the value of variable vars_[index] inside its variable scope, re-entered
  // with AUTO_REUSE as Example 2 does, so the op lands in that scope's next name scope.
  template <typename Use>
  Output use_variable(size_t index, Use use) {
    VarSlot& slot = vars_[index];
    ++slot.uses;
    VariableScopeGuard guard(graph_, slot.scope, {.reuse = Reuse::kAutoReuse});
    Variable v = get_variable(graph_, slot.kind, {.shape = slot.shape, .initializer = slot.initializer});
    return use(v.value());
  }

  // Applies a variable already used (fewer than 3 times) to some tensor it fits, as a shared
  // layer is applied to several inputs. False when no pair fits.
  bool reuse_existing_variable() {
    std::vector<size_t> order;
    for (size_t i = 0; i < vars_.size(); ++i) {
      if (vars_[i].uses < 3) order.push_back(i);
    }
    std::shuffle(order.begin(), order.end(), rng_);
    std::vector<Output> inputs = pool_;
    std::shuffle(inputs.begin(), inputs.end(), rng_);
    for (size_t index : order) {
      const std::string kind = vars_[index].kind;
      const Shape shape = vars_[index].shape;
      for (const Output& x : inputs) {
        const Shape& s = x.shape();
        Shape broadcast;
        if ((kind == "weights" || kind == "weights_t") && s.rank() == 2) {
          const bool tb = kind == "weights_t";
          const int64_t k = tb ? shape.dim(1) : shape.dim(0);
          for (bool ta : {false, true}) {
            if ((ta ? s.dim(0) : s.dim(1)) != k) continue;
            const ops::MatMulOptions options{.transpose_a = ta, .transpose_b = tb};
            pool_.push_back(use_variable(index, [&](Output w) { return ops::matmul(x, w, options); }));
            return true;
          }
        } else if (kind == "biases" && s.rank() >= 2 && s.dim(-1) == shape.dim(0)) {
          pool_.push_back(use_variable(index, [&](Output b) { return ops::bias_add(x, b); }));
          return true;
        } else if ((kind == "scale" || kind == "offset") && broadcastable(s, shape, &broadcast) && broadcast == s) {
          const bool mul = kind == "scale";
          const bool subtract = coin();
          pool_.push_back(use_variable(index, [&](Output v) {
            return mul ? ops::mul(x, v) : subtract ? ops::sub(x, v) : ops::add(x, v);
          }));
          return true;
        }
      }
    }
    return false;
  }

  static bool broadcastable(const Shape& a, const Shape& b, Shape* result) {
    const int rank = std::max(a.rank(), b.rank());
    std::vector<int64_t> dims(static_cast<size_t>(rank));
    for (int i = 1; i <= rank; ++i) {
      const int64_t da = i <= a.rank() ? a.dim(-i) : 1;
      const int64_t db = i <= b.rank() ? b.dim(-i) : 1;
      if (da != db && da != 1 && db != 1) return false;
      dims[static_cast<size_t>(rank - i)] = std::max(da, db);
    }
    *result = Shape(dims);
    return true;
  }

  void add_random_op() {
    for (int attempt = 0; attempt < 50; ++attempt) {
      const Output x = pick(pool_);
      const Shape& s = x.shape();
      switch (uniform(0, 11)) {
        case 0:  // MatMul with a variable or another pool tensor
        case 1: {
          if (s.rank() != 2) break;
          const bool ta = coin(0.25);
          const bool tb = coin(0.25);
          const int64_t k = ta ? s.dim(0) : s.dim(1);
          ops::MatMulOptions options{.transpose_a = ta, .transpose_b = tb};
          std::vector<Output> partners;
          for (const Output& y : pool_) {
            if (y.shape().rank() == 2 && (tb ? y.shape().dim(1) : y.shape().dim(0)) == k) partners.push_back(y);
          }
          if (!partners.empty() && coin(0.3)) {
            pool_.push_back(ops::matmul(x, pick(partners), options));
          } else {
            const int64_t n = uniform(1, 6);
            const Shape ws = tb ? Shape{n, k} : Shape{k, n};
            pool_.push_back(with_variable(ws, tb ? "weights_t" : "weights",
                                          [&](Output w) { return ops::matmul(x, w, options); }));
          }
          return;
        }
        case 2: {  // AddV2 / Sub / Mul with broadcasting
          const int which = uniform(0, 2);
          auto binary = [which](Output a, Output b) {
            return which == 0 ? ops::add(a, b) : which == 1 ? ops::sub(a, b) : ops::mul(a, b);
          };
          std::vector<Output> partners;
          for (const Output& y : pool_) {
            Shape r;
            if (broadcastable(s, y.shape(), &r) && r.num_elements() <= 512) partners.push_back(y);
          }
          if (!partners.empty() && coin(0.6)) {
            const Output y = pick(partners);
            pool_.push_back(coin() ? binary(x, y) : binary(y, x));
          } else {
            // A variable shaped like a suffix of x, some dimensions 1 (broadcast).
            std::vector<int64_t> dims;
            const int rank = uniform(0, s.rank());
            for (int i = s.rank() - rank; i < s.rank(); ++i) dims.push_back(coin(0.3) ? 1 : s.dims()[static_cast<size_t>(i)]);
            const std::string kind = which == 2 ? "scale" : "offset";
            pool_.push_back(with_variable(Shape(dims), kind, [&](Output v) { return binary(x, v); }));
          }
          return;
        }
        case 3: {  // BiasAdd
          if (s.rank() < 2) break;
          pool_.push_back(with_variable(Shape{s.dim(-1)}, "biases", [&](Output b) { return ops::bias_add(x, b); }));
          return;
        }
        case 4:
          pool_.push_back(ops::relu(x));
          return;
        case 5:
          pool_.push_back(coin() ? ops::sigmoid(x) : ops::tanh(x));
          return;
        case 6:
          if (s.rank() < 1) break;
          pool_.push_back(ops::softmax(x));
          return;
        case 7: {  // Reshape to a random factorization, sometimes with one -1
          const int64_t n = s.num_elements();
          std::vector<int64_t> dims;
          int64_t left = n;
          const int rank = uniform(1, 3);
          for (int i = 0; i + 1 < rank; ++i) {
            std::vector<int64_t> divisors;
            for (int64_t d = 1; d <= left; ++d) {
              if (left % d == 0) divisors.push_back(d);
            }
            const int64_t d = pick(divisors);
            dims.push_back(d);
            left /= d;
          }
          dims.push_back(left);
          if (coin(0.3)) dims[static_cast<size_t>(uniform(0, rank - 1))] = -1;
          pool_.push_back(ops::reshape(x, dims));
          return;
        }
        case 8:
        case 9: {  // Sum / Mean, over some axes or all, keep_dims or not
          if (s.rank() < 1) break;
          std::optional<std::vector<int64_t>> axes;
          if (coin(0.75)) {
            std::vector<int64_t> chosen;
            for (int i = 0; i < s.rank(); ++i) {
              if (coin(0.4)) chosen.push_back(coin(0.3) ? i - s.rank() : i);
            }
            if (chosen.empty()) chosen.push_back(uniform(0, s.rank() - 1));
            axes = chosen;
          }
          const bool keep_dims = coin();
          pool_.push_back(coin() ? ops::reduce_sum(x, axes, keep_dims) : ops::reduce_mean(x, axes, keep_dims));
          return;
        }
        case 10:
        case 11:  // a variable used before, applied again
          if (reuse_existing_variable()) return;
          break;
        default:
          break;
      }
    }
    pool_.push_back(ops::relu(pick(pool_)));
  }

  struct VarSlot {
    std::string scope;
    std::string kind;
    Shape shape;
    int uses;
    Initializer initializer;
  };

  Graph& graph_;
  std::mt19937_64 rng_;
  std::vector<Output> pool_;
  std::vector<VarSlot> vars_;
};

void write_random_graph(const fs::path& out, int index, uint64_t seed) {
  char name[32];
  std::snprintf(name, sizeof name, "random_%03d", index);
  Graph graph;
  graph.set_seed(seed);
  RandomGraphBuilder builder(graph, seed);
  RandomGraphBuilder::Result r = builder.build();
  Session session(graph, cpu_session());
  session.initialize_variables();
  write_case(out / "graphs" / name, graph, session, r.feeds, r.fetches);
}

// ------------------------------------------------------------------------------------------
// Abs and Sign on signed zeros, infinities and NaN (no denormals: TensorFlow's CPU kernels
// flush them to zero), with the gradient of a loss that uses both. Fetches: abs, sign, loss,
// d loss / d x (tests/interop/test_import_graph_def.py differentiates the loss with TensorFlow).

void write_abs_sign_case(const fs::path& out) {
  Graph graph;
  const Shape shape{2, 4};
  const float inf = std::numeric_limits<float>::infinity();
  Output x = ops::placeholder(graph, DType::kFloat32, shape, "x");
  Output abs_x = ops::abs(x);
  Output sign_x = ops::sign(x);
  Output w = ops::constant(graph, Tensor::from_vector<float>(shape, {0.5f, -1.0f, 2.0f, 1.5f, -0.25f, 3.0f, 1.0f, -2.0f}));
  Output loss = ops::add(ops::reduce_sum(ops::mul(abs_x, w)), ops::reduce_sum(ops::mul(sign_x, w)), "loss");
  const Output dx = gradients(loss, {x}).at(0);
  Session session(graph, cpu_session());
  const Tensor x_value = Tensor::from_vector<float>(
      shape, {-2.5f, -0.0f, 0.0f, 3.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(), 0.75f});
  write_case(out / "graphs" / "abs_sign", graph, session, {{x, x_value}}, {abs_x, sign_x, loss, dx});
}

// ------------------------------------------------------------------------------------------
// Exp, Log, Sqrt, Rsqrt, Maximum, Minimum, Pow and Transpose: a loss over all of them on positive
// x and mixed y (fetches: each op, loss, d loss / d x, d loss / d y), then the edge values
// TensorFlow defines (log(0), sqrt(-1), rsqrt(0), pow(0, 0), NaN in maximum and minimum) on a
// second input e. tests/interop/test_import_graph_def.py differentiates the loss with TensorFlow.

void write_math_transpose_case(const fs::path& out) {
  Graph graph;
  const Shape shape{2, 3};
  Output x = ops::placeholder(graph, DType::kFloat32, shape, "x");
  Output y = ops::placeholder(graph, DType::kFloat32, Shape{3}, "y");
  const std::vector<Output> values = {ops::exp(x), ops::log(x), ops::sqrt(x), ops::rsqrt(x),
                                      ops::maximum(x, y), ops::minimum(x, y), ops::pow(x, y)};
  Output t = ops::transpose(x, {1, 0});
  Output w = ops::constant(graph, Tensor::from_vector<float>(shape, {0.5f, -1.0f, 2.0f, 1.5f, -0.25f, 3.0f}));
  std::vector<Output> terms;
  for (const Output& v : values) terms.push_back(ops::reduce_sum(ops::mul(v, w)));
  terms.push_back(ops::reduce_sum(ops::mul(ops::matmul(t, w), ops::matmul(t, w))));
  Output loss = ops::add_n(terms, "loss");
  const std::vector<Output> grads = gradients(loss, {x, y});
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Output e = ops::placeholder(graph, DType::kFloat32, Shape{6}, "e");
  Output e2 = ops::constant(graph, Tensor::from_vector<float>(Shape{6}, {0.0f, 2.0f, nan, 1.0f, 0.5f, -1.0f}));
  std::vector<Output> fetches = values;
  for (Output extra : {t, loss, grads.at(0), grads.at(1), ops::exp(e), ops::log(e), ops::sqrt(e), ops::rsqrt(e),
                       ops::maximum(e, e2), ops::minimum(e, e2), ops::pow(e, e2), ops::transpose(ops::reshape(e, {2, 3}), {1, 0})}) {
    fetches.push_back(extra);
  }
  Session session(graph, cpu_session());
  const Tensor x_value = Tensor::from_vector<float>(shape, {0.25f, 1.0f, 2.5f, 0.75f, 4.0f, 1.5f});
  const Tensor y_value = Tensor::from_vector<float>(Shape{3}, {0.5f, 1.0f, -1.5f});
  const Tensor e_value = Tensor::from_vector<float>(Shape{6}, {0.0f, -1.0f, 3.0f, inf, -inf, 0.0f});
  write_case(out / "graphs" / "math_transpose", graph, session, {{x, x_value}, {y, y_value}, {e, e_value}}, fetches);
}

// ------------------------------------------------------------------------------------------
// NaN, infinities and signed zeros through every float op family: activations and their
// gradients, unary math, broadcasting arithmetic, reductions, softmax, BiasAdd and its
// gradient, AddN and MatMul. The generic import test runs the same fetches in TensorFlow and
// compares (NaN equal to NaN). Not here: a MatMul -> BiasAdd -> Relu chain, which TensorFlow's
// graph optimizer rewrites into _FusedMatMul, whose oneDNN ReLU maps NaN to 0 unlike its own
// Relu kernel; ours keeps NaN in both forms (tests/cpu/elementwise_test.cc).

void write_nan_case(const fs::path& out) {
  Graph graph;
  const Shape shape{2, 4};
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Output x = ops::placeholder(graph, DType::kFloat32, shape, "x");
  Output g = ops::placeholder(graph, DType::kFloat32, shape, "g");
  Output b = ops::constant(graph, Tensor::from_vector<float>(Shape{4}, {0.5f, nan, -1.0f, 0.0f}), "b");
  Output w = ops::constant(graph, Tensor::from_vector<float>(Shape{4, 3}, {1, -1, 0.5f, 2, 0, -2, 0.25f, 1, 1, -1, 3, 0}), "w");
  Output relu_x = ops::relu(x);
  Output sigmoid_x = ops::sigmoid(x);
  Output tanh_x = ops::tanh(x);
  const std::vector<Output> fetches = {
      relu_x, sigmoid_x, tanh_x, ops::neg(x), ops::square(x), ops::abs(x), ops::exp(x), ops::sqrt(ops::abs(x)),
      ops::add(x, g), ops::sub(x, g), ops::mul(x, g), ops::maximum(x, g), ops::minimum(x, g),
      ops::relu_grad(g, x), ops::sigmoid_grad(sigmoid_x, g), ops::tanh_grad(tanh_x, g),
      ops::reduce_sum(x, std::vector<int64_t>{1}), ops::reduce_mean(x, std::vector<int64_t>{0}),
      ops::softmax(x), ops::log_softmax(x), ops::bias_add(x, b), ops::bias_add_grad(g), ops::add_n({x, g, x}),
      ops::matmul(x, w)};
  Session session(graph, cpu_session());
  const Tensor x_value = Tensor::from_vector<float>(shape, {nan, -inf, inf, -0.0f, 0.0f, -1.5f, 2.0f, 0.5f});
  const Tensor g_value = Tensor::from_vector<float>(shape, {1.0f, nan, inf, -inf, 2.0f, nan, -1.0f, 0.5f});
  write_case(out / "graphs" / "nan_semantics", graph, session, {{x, x_value}, {g, g_value}}, fetches);
}

// ------------------------------------------------------------------------------------------
// Training cases: a layer shared three times, a dense-label cross-entropy loss, our gradients
// and one optimizer step. TensorFlow recomputes the gradients with tf.gradients on the imported
// graph and runs the exported update op (tests/interop/test_training.py).

void write_training_case(const fs::path& out, const std::string& name, uint64_t seed) {
  Graph graph;
  graph.set_seed(seed);
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{6, 5}, "x");
  Output labels = ops::placeholder(graph, DType::kFloat32, Shape{6, 4}, "labels");
  Output h = x;
  for (int use = 0; use < 3; ++use) {
    auto scope = variable_scope(graph, "shared_layer", {.reuse = Reuse::kAutoReuse});
    Variable w = get_variable(graph, "weights", {.shape = Shape{5, 5}, .initializer = init::glorot_uniform()});
    Variable b = get_variable(graph, "biases", {.shape = Shape{5}, .initializer = init::random_normal(0, 0.1)});
    Output z = ops::bias_add(ops::matmul(h, w), b);
    h = use == 1 ? ops::sigmoid(z) : ops::tanh(z);
  }
  Output logits;
  {
    auto scope = variable_scope(graph, "output");
    Variable w = get_variable(graph, "weights", {.shape = Shape{5, 4}});
    logits = ops::relu(ops::matmul(h, w));
  }
  Output loss = ops::add(losses::softmax_cross_entropy(labels, logits),
                         ops::mul(ops::scalar(graph, 0.01f), ops::reduce_sum(ops::square(logits))), "loss");
  std::vector<Variable> vars = trainable_variables(graph);
  std::vector<Output> xs;
  for (const Variable& v : vars) xs.push_back(v.value());
  // The data-parallel case takes its gradients from DataParallel::minimize instead.
  std::vector<Output> grads;
  if (name != "train_data_parallel") grads = gradients(loss, std::span<const Output>(xs));

  std::unique_ptr<train::Optimizer> optimizer;
  if (name == "train_sgd") optimizer = std::make_unique<train::GradientDescent>(0.1f);
  if (name == "train_momentum") optimizer = std::make_unique<train::Momentum>(0.1f, 0.9f);
  if (name == "train_nesterov") optimizer = std::make_unique<train::Momentum>(0.1f, 0.9f, true);
  if (name == "train_adam") optimizer = std::make_unique<train::Adam>(train::AdamOptions{.learning_rate = 0.01f});
  if (name == "train_adamw") {
    optimizer = std::make_unique<train::Adam>(train::AdamOptions{.learning_rate = 0.01f, .weight_decay = 0.1f});
  }
  // Data-parallel: the gradient means are CollectiveReduceV2 nodes (group_size 1 here, which
  // TensorFlow's session runs by itself), between the gradients and Adam's updates.
  std::unique_ptr<dist::Communicator> world_of_one;
  std::optional<dist::DataParallel> parallel;
  if (name == "train_data_parallel") {
    optimizer = std::make_unique<train::Adam>(train::AdamOptions{.learning_rate = 0.01f});
    absl::StatusOr<std::unique_ptr<dist::Communicator>> local = dist::make_communicator(dist::Environment{});
    if (!local.ok()) throw Error(local.status().code(), std::string(local.status().message()));
    world_of_one = *std::move(local);
    parallel.emplace(*optimizer, *world_of_one, dist::DataParallelOptions{.bucket_bytes = 256});
  }
  Node* train_op = nullptr;
  if (parallel) {
    train_op = parallel->minimize(loss, vars);
    for (const train::GradientAndVariable& gv : parallel->gradients()) grads.push_back(gv.gradient);
  } else {
    std::vector<train::GradientAndVariable> gvs;
    for (size_t i = 0; i < vars.size(); ++i) gvs.push_back({grads[i], vars[i]});
    train_op = optimizer->apply_gradients(gvs);
  }

  Session session(graph, cpu_session());
  session.initialize_variables();
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor x_value(DType::kFloat32, Shape{6, 5});
  for (int64_t i = 0; i < x_value.num_elements(); ++i) x_value.data<float>()[i] = normal(rng);
  Tensor label_value = Tensor::zeros(DType::kFloat32, Shape{6, 4});
  for (int64_t r = 0; r < 6; ++r) label_value.data<float>()[r * 4 + (r * 7 + 1) % 4] = 1.0f;
  const FeedList feeds = {{x, x_value}, {labels, label_value}};
  std::vector<Output> fetches = {loss};
  fetches.insert(fetches.end(), grads.begin(), grads.end());
  const fs::path dir = out / "graphs" / name;
  write_case(dir, graph, session, feeds, fetches);

  session.run(feeds, {}, {train_op});
  json gradients = json::object();
  for (size_t i = 0; i < vars.size(); ++i) gradients[tensor_name(vars[i].value())] = tensor_name(grads[i]);
  json after_one_step = json::object();
  for (const Variable& v : global_variables(graph)) {
    after_one_step[v.node()->name()] = json_tensor(session.variable_value(v));
  }
  write_json(dir / "training.json", {{"loss", tensor_name(loss)},
                                     {"train_op", train_op->name()},
                                     {"gradients", std::move(gradients)},
                                     {"after_one_step", std::move(after_one_step)}});
}

// ------------------------------------------------------------------------------------------
// The scopes case: the variable-scope API as TF1 model code uses it. Two towers under
// variable_scope(get_variable_scope()) share hidden/ and logits/ through reuse_variables(), with
// a scope-level l2 regularizer (hidden/biases switches it off with regularizers::none());
// variable scopes entered by default_name ("mix", "mix_1") hold value-initialized variables, one
// with an l1 regularizer (Abs) and a non_neg constraint; the towers' regularization_loss; an
// explicit control_dependencies block; one GradientDescent step that applies the constraints
// (Assign under control dependencies on the update). tests/interop/test_scopes.py checks it.

json json_names(const std::vector<Node*>& nodes) {
  json out = json::array();
  for (const Node* n : nodes) out.push_back(n->name());
  return out;
}

void write_scopes_case(const fs::path& out, uint64_t seed) {
  Graph graph;
  graph.set_seed(seed);
  Variable scale;
  Variable offset;
  {
    auto scope = variable_scope(graph, "", {.default_name = "mix"});  // "mix"
    scale = get_variable(graph, "scale", {.initializer = init::value(std::vector<float>{0.5f, -1.5f}),
                                          .regularizer = regularizers::l1(0.05),
                                          .constraint = constraints::non_neg()});
  }
  {
    auto scope = variable_scope(graph, "", {.default_name = "mix"});  // "mix_1"
    offset = get_variable(graph, "offset", {.initializer = init::value(std::vector<float>{0.25f, -0.75f})});
  }
  std::vector<Output> xs;
  std::vector<Output> ys;
  std::vector<Output> tower_outputs;
  std::vector<Output> tower_losses;
  std::vector<Output> tower_regularization;
  {
    VariableScopeGuard model =
        variable_scope(graph, get_variable_scope(graph), {.regularizer = regularizers::l2(0.05)});
    for (int i = 0; i < 2; ++i) {
      NameScope tower = graph.name_scope(absl::StrCat("tower_", i));
      xs.push_back(ops::placeholder(graph, DType::kFloat32, Shape{4, 3}, "x"));
      ys.push_back(ops::placeholder(graph, DType::kFloat32, Shape{4, 2}, "y"));
      Output h;
      {
        auto scope = variable_scope(graph, "hidden");
        Variable w = get_variable(graph, "weights", {.shape = Shape{3, 5}, .initializer = init::glorot_uniform()});
        Variable b = get_variable(graph, "biases", {.initializer = init::value(std::vector<float>{0.1f, -0.2f, 0.3f, -0.4f, 0.05f}),
                                                    .regularizer = regularizers::none(),
                                                    .constraint = constraints::non_neg()});
        h = ops::relu(ops::bias_add(ops::matmul(xs.back(), w), b));
      }
      Output logits;
      {
        auto scope = variable_scope(graph, "logits");
        Variable w = get_variable(graph, "weights", {.shape = Shape{5, 2}, .initializer = init::random_normal(0, 0.5)});
        logits = ops::matmul(h, w);
      }
      Output output = ops::add(ops::mul(logits, scale), offset, "output");
      Output regularization = losses::regularization_loss(graph);
      Output loss = ops::add(ops::reduce_mean(ops::square(ops::sub(output, ys.back()))), regularization, "loss");
      // Reuse variables for the next tower.
      get_variable_scope(graph).reuse_variables();
      tower_outputs.push_back(output);
      tower_regularization.push_back(regularization);
      tower_losses.push_back(loss);
    }
  }
  Output regularization = losses::regularization_loss(graph);
  Output mean_loss = ops::mul(ops::add_n(tower_losses), ops::scalar(graph, 0.5f), "mean_loss");
  Output checked_loss;
  Output doubled_loss;
  Node* two = nullptr;
  {
    ControlDependencies deps = graph.control_dependencies({tower_losses[0].node, tower_losses[1].node});
    checked_loss = ops::identity(mean_loss, "checked_loss");  // input made outside: gets the control inputs
    Output two_value = ops::scalar(graph, 2.0f, "two");       // no inputs: gets them too
    two = two_value.node;
    doubled_loss = ops::mul(checked_loss, two_value, "doubled_loss");  // inputs made inside: none
  }
  train::GradientDescent optimizer(0.1f);
  Node* train_op = optimizer.minimize(checked_loss);

  Session session(graph, cpu_session());
  session.initialize_variables();
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  FeedList feeds;
  for (int i = 0; i < 2; ++i) {
    for (const Output& input : {xs[static_cast<size_t>(i)], ys[static_cast<size_t>(i)]}) {
      Tensor value(DType::kFloat32, input.shape());
      for (int64_t k = 0; k < value.num_elements(); ++k) value.data<float>()[k] = normal(rng);
      feeds.emplace_back(input, value);
    }
  }
  std::vector<Output> fetches = tower_outputs;
  fetches.insert(fetches.end(), tower_losses.begin(), tower_losses.end());
  fetches.insert(fetches.end(), tower_regularization.begin(), tower_regularization.end());
  for (const Output& loss : losses::regularization_losses(graph)) fetches.push_back(loss);
  fetches.insert(fetches.end(), {regularization, mean_loss, checked_loss, doubled_loss});
  const fs::path dir = out / "graphs" / "scopes";
  write_case(dir, graph, session, feeds, fetches);

  session.run(feeds, {}, {train_op});
  json after_one_step = json::object();
  for (const Variable& v : global_variables(graph)) {
    const Tensor value = session.variable_value(v);
    if (v.info().constraint) {
      for (float x : value.to_vector<float>()) {
        if (!(x >= 0.0f)) throw_invalid("write_scopes_case", v.name(), " is negative after the constrained step");
      }
    }
    after_one_step[v.node()->name()] = json_tensor(value);
  }
  json regularization_losses = json::object();
  for (const Variable& v : global_variables(graph)) {
    if (v.info().regularization_loss) regularization_losses[v.name()] = tensor_name(*v.info().regularization_loss);
  }
  // Nodes made inside the control_dependencies block, with our control inputs.
  json control_inputs = json::object();
  for (const Node* n : {checked_loss.node, two, doubled_loss.node}) control_inputs[n->name()] = json_names(n->control_inputs());
  // The constraint assigns: for each constrained variable, the Assign, its value and the
  // optimizer's update it must follow.
  json constraints = json::object();
  for (const Node* assign : train_op->control_inputs()) {
    if (assign->op() != "Assign") continue;
    const Variable v = variable_for_node(graph, assign->input(0).node);
    if (!v.valid()) throw_invalid("write_scopes_case", "constraint Assign ", assign->name(), " assigns no variable");
    const Node* update = nullptr;
    for (const Node* n : train_op->control_inputs()) {
      if (n->op() == "ApplyGradientDescent" && n->input(0).node == v.node()) update = n;
    }
    if (update == nullptr) throw_invalid("write_scopes_case", "no update for ", v.name());
    constraints[v.name()] = {{"assign", assign->name()},
                             {"value", tensor_name(assign->input(1))},
                             {"update", update->name()}};
  }
  write_json(dir / "scopes.json", {{"train_op", train_op->name()},
                                   {"after_one_step", std::move(after_one_step)},
                                   {"regularization_losses", std::move(regularization_losses)},
                                   {"control_inputs", std::move(control_inputs)},
                                   {"constraints", std::move(constraints)}});
}

// ------------------------------------------------------------------------------------------
// Variables of every dtype: OUT/dtypes/graph_def.pb and OUT/dtypes/case.json, whose tensors are
// {"dtype", "shape", "values"} for integers and bool (exact) and {"dtype", "shape", "bits"} for
// floating dtypes: each value widened exactly to float64, as its IEEE bit pattern.

json json_typed_tensor(const Tensor& t) {
  json out = {{"dtype", dtype_name(t.dtype())}, {"shape", json_shape(t.shape())}};
  json values = json::array();
  dispatch_dtype(t.dtype(), [&]<class T>() {
    for (const T& x : t.to_vector<T>()) {
      if constexpr (is_half_type_v<T>) {
        values.push_back(std::bit_cast<uint64_t>(static_cast<double>(static_cast<float>(x))));
      } else if constexpr (std::is_floating_point_v<T>) {
        values.push_back(std::bit_cast<uint64_t>(static_cast<double>(x)));
      } else {
        values.push_back(static_cast<int64_t>(x));
      }
    }
  });
  out[is_floating(t.dtype()) ? "bits" : "values"] = std::move(values);
  return out;
}

void write_dtype_case(const fs::path& out) {
  Graph graph;
  graph.set_seed(7);
  struct Spec {
    const char* name;
    DType dtype;
    Shape shape;
    std::optional<Initializer> initializer;
  };
  const Spec specs[] = {
      {"f64_glorot", DType::kFloat64, Shape{2, 3}, std::nullopt},
      {"f64_const", DType::kFloat64, Shape{2}, init::constant(0.1)},
      {"f16_const", DType::kFloat16, Shape{3}, init::constant(0.1)},
      {"f16_normal", DType::kFloat16, Shape{4}, init::random_normal(0, 2)},
      {"bf16_const", DType::kBFloat16, Shape{2, 2}, init::constant(0.3)},
      {"bf16_ones", DType::kBFloat16, Shape{2}, init::ones()},
      {"i8_const", DType::kInt8, Shape{3}, init::constant(-5)},
      {"u8_const", DType::kUInt8, Shape{3}, init::constant(200)},
      {"i16_zeros", DType::kInt16, Shape{2}, std::nullopt},
      {"u16_const", DType::kUInt16, Shape{2}, init::constant(65535)},
      {"i32_const", DType::kInt32, Shape{2}, init::constant(7)},
      {"i64_const", DType::kInt64, Shape{2}, init::constant(1234567890123.0)},
      {"bool_ones", DType::kBool, Shape{2}, init::ones()},
      {"bool_zeros", DType::kBool, Shape{2}, std::nullopt},
  };
  std::map<std::string, Variable> vars;
  for (const Spec& spec : specs) {
    auto scope = variable_scope(graph, "dtypes");
    vars[spec.name] = get_variable(graph, spec.name,
                                   {.shape = spec.shape, .dtype = spec.dtype, .initializer = spec.initializer});
  }
  Output x = ops::placeholder(graph, DType::kInt16, Shape{3}, "x");
  const std::vector<Output> fetches = {
      ops::cast(vars["f16_const"], DType::kFloat32, "f16_to_f32"),
      ops::cast(vars["f16_normal"], DType::kFloat64, "f16_to_f64"),
      ops::cast(vars["f64_glorot"], DType::kBFloat16, "f64_to_bf16"),
      ops::cast(vars["f64_const"], DType::kFloat16, "f64_to_f16"),
      ops::cast(vars["bf16_const"], DType::kFloat16, "bf16_to_f16"),
      ops::cast(vars["i8_const"], DType::kFloat16, "i8_to_f16"),
      ops::cast(vars["u8_const"], DType::kInt8, "u8_to_i8"),
      ops::cast(vars["u16_const"], DType::kInt16, "u16_to_i16"),
      ops::cast(vars["i64_const"], DType::kInt32, "i64_to_i32"),
      ops::cast(vars["bool_ones"], DType::kFloat64, "bool_to_f64"),
      ops::cast(vars["f64_glorot"], DType::kBool, "f64_to_bool"),
      ops::cast(ops::identity(x), DType::kFloat32, "x_to_f32"),
      ops::identity(vars["i32_const"], "i32_identity"),
  };
  Session session(graph, cpu_session());
  session.initialize_variables();
  const FeedList feeds = {{x, Tensor::from_vector<int16_t>(Shape{3}, {-3, 0, 32767})}};
  const std::vector<Tensor> outputs = session.run(feeds, std::span<const Output>(fetches));
  const fs::path dir = out / "dtypes";
  write_file(dir / "graph_def.pb", graph_def_bytes(graph, {.default_device = session.device()}));

  json variables = json::object();
  for (const Variable& v : global_variables(graph)) {
    const bool random = is_floating(v.dtype()) && v.info().initializer.kind != InitializerKind::kZeros &&
                        v.info().initializer.kind != InitializerKind::kOnes &&
                        v.info().initializer.kind != InitializerKind::kConstant;
    variables[v.node()->name()] = {{"random", random}, {"value", json_typed_tensor(session.variable_value(v))}};
  }
  json feed_values = json::object();
  for (const auto& [output, value] : feeds) feed_values[tensor_name(output)] = json_typed_tensor(value);
  json output_values = json::object();
  for (size_t i = 0; i < fetches.size(); ++i) output_values[tensor_name(fetches[i])] = json_typed_tensor(outputs[i]);
  write_json(dir / "case.json", {{"variables", std::move(variables)},
                                 {"feeds", std::move(feed_values)},
                                 {"outputs", std::move(output_values)}});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT [--random-graphs N] [--seed S]\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  int num_random = 20;
  uint64_t seed = 20240607;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--random-graphs") == 0 && i + 1 < argc) {
      num_random = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s OUT [--random-graphs N] [--seed S]\n", argv[0]);
      return 2;
    }
  }
  try {
    // Start clean: TensorBoard reads every events file in a run directory.
    fs::remove_all(out / "logs");
    fs::remove_all(out / "graphs");
    fs::remove_all(out / "dtypes");
    std::map<std::string, RunExpectation> runs;
    for (int number = 1; number <= 3; ++number) runs[absl::StrCat("example", number)] = write_example(out, number);
    write_json(out / "logs_expected.json", expectations_json(runs));
    for (int i = 0; i < num_random; ++i) write_random_graph(out, i, seed + static_cast<uint64_t>(i));
    write_abs_sign_case(out);
    write_math_transpose_case(out);
    write_nan_case(out);
    const char* training_cases[] = {"train_sgd",  "train_momentum", "train_nesterov",
                                    "train_adam", "train_adamw",    "train_data_parallel"};
    for (const char* name : training_cases) write_training_case(out, name, seed);
    write_dtype_case(out);
    write_scopes_case(out, seed);
    std::printf("wrote 3 TensorBoard runs and %d GraphDefs under %s\n", 3 + num_random + 2 + 6 + 1,
                out.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "write_interop_artifacts: %s\n", e.what());
    return 1;
  }
}
