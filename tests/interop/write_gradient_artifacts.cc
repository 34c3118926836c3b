// Gradient interop: shared variables' gradients as the session sums them in place, and with
// gradient checkpointing, against TensorFlow running the GraphDef we export.
//
//   write_gradient_artifacts OUT
//     OUT/gradients/CASE/graph_def.pb   the graph: a layer shared by 6 uses, its gradients
//     OUT/gradients/CASE/expected.json  the fed values and variables (raw float32 bytes as hex),
//                                       and per gradient the node name and our values
//   CASE: summed_in_place (the AddN of the GraphDef, summed in place by the session) and
//   recomputed (checkpoints every 2 uses: the copies under gradients/recompute/ are plain ops
//   in the GraphDef that TensorFlow runs).

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "artifact_files.h"
#include "scopeflow/graph_def.h"
#include "scopeflow/scopeflow.h"

namespace {

using namespace scopeflow;  // NOLINT: a test program
namespace fs = std::filesystem;

using interop::to_hex;
using interop::write_file;

nlohmann::json describe(const Tensor& t) { return {{"shape", t.shape().dims()}, {"hex", to_hex(t)}}; }

void write_case(const fs::path& out, const std::string& name, bool recompute) {
  Graph graph;
  graph.set_seed(21);
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{8, 16}, "x");
  Variable w, b;
  Output h = x;
  std::vector<Output> checkpoints;
  for (int i = 0; i < 6; ++i) {
    VariableScopeGuard scope = variable_scope(graph, "shared_layer", {.reuse = Reuse::kAutoReuse});
    w = get_variable(graph, "weights", {.shape = Shape{16, 16}, .initializer = init::glorot_uniform()});
    b = get_variable(graph, "biases", {.shape = Shape{16}, .initializer = init::random_normal(0, 0.1)});
    h = ops::tanh(ops::bias_add(ops::matmul(h, w), b));
    if (i % 2 == 1) checkpoints.push_back(h);
  }
  Output loss = ops::reduce_sum(ops::square(h), {}, false, "loss");
  GradientOptions options;
  if (recompute) options.checkpoints = checkpoints;
  const Output ys[] = {loss};
  const Output xs[] = {w.value(), b.value()};
  const std::vector<Output> grads = gradients(ys, xs, options);

  Session session(graph, SessionOptions{.device = Device::cpu()});
  session.initialize_variables();
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> values(8 * 16);
  for (float& v : values) v = normal(rng);
  const Tensor fed = Tensor::from_vector<float>(Shape{8, 16}, values);
  const std::vector<Tensor> got = session.run({{x, fed}}, {grads[0], grads[1], loss});

  const fs::path dir = out / "gradients" / name;
  fs::create_directories(dir);
  write_file(dir / "graph_def.pb", graph_def_bytes(graph));
  nlohmann::json expected;
  expected["feed"] = {{"name", x.name()}, {"value", describe(fed)}};
  expected["variables"] = {{w.name(), describe(session.variable_value(w))},
                           {b.name(), describe(session.variable_value(b))}};
  expected["gradients"] = nlohmann::json::array();
  for (size_t i = 0; i < grads.size(); ++i) {
    expected["gradients"].push_back({{"name", grads[i].name()}, {"value", describe(got[i])}});
  }
  expected["loss"] = {{"name", loss.name()}, {"value", describe(got[2])}};
  int copies = 0;
  for (const auto& node : graph.nodes()) copies += node->name().rfind("gradients/recompute/", 0) == 0;
  expected["recomputed_nodes"] = copies;
  write_file(dir / "expected.json", expected.dump(1));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT\n", argv[0]);
    return 2;
  }
  try {
    write_case(argv[1], "summed_in_place", false);
    write_case(argv[1], "recomputed", true);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "write_gradient_artifacts: %s\n", e.what());
    return 1;
  }
  return 0;
}
