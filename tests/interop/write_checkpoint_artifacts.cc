// Checkpoint interop with TensorFlow and safetensors.
//
//   write_checkpoint_artifacts write OUT
//     OUT/checkpoints/OPT/graph_def.pb         a shared layer trained with OPT (sgd, momentum, adam)
//     OUT/checkpoints/OPT/tf/model.ckpt-2.*    our TensorFlow checkpoint after two steps
//     OUT/checkpoints/OPT/model.ckpt-2.safetensors
//     OUT/checkpoints/OPT/expected.json        every saved tensor (raw bytes as hex), the loss of
//                                              the next step and the variables after it
//     OUT/checkpoints/dtypes/...               a variable of every dtype, both formats
//   write_checkpoint_artifacts check PATH EXPECTED_JSON
//     reads the checkpoint at PATH (written by TensorFlow or the safetensors package) and
//     compares every tensor with EXPECTED_JSON ({"name": {"dtype", "shape", "hex"}}); exit 1
//     naming the first difference.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
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

nlohmann::json describe(const Tensor& t) {
  return {{"dtype", dtype_name(t.dtype())}, {"shape", t.shape().dims()}, {"hex", to_hex(t)}};
}


template <typename T>
T checked(absl::StatusOr<T> value) {
  if (!value.ok()) throw std::runtime_error(std::string(value.status().message()));
  return *std::move(value);
}

void save_both_formats(const Graph& graph, Session& session, const fs::path& dir, int64_t step) {
  Saver tf_saver(graph);
  checked(tf_saver.save(session, (dir / "tf" / "model.ckpt").string(), step));
  Saver st_saver(graph, {.var_list = {}, .max_to_keep = 5, .keep_checkpoint_every_n_hours = 10000.0,
                         .format = CheckpointFormat::kSafetensors});
  checked(st_saver.save(session, (dir / "model.ckpt").string(), step));
}

void write_training_case(const fs::path& out, const std::string& optimizer_name) {
  const fs::path dir = out / "checkpoints" / optimizer_name;
  fs::create_directories(dir);
  Graph graph;
  std::vector<float> x_values, target_values;
  for (int i = 0; i < 32; ++i) {
    x_values.push_back(static_cast<float>((i * 37) % 11) / 11.0f - 0.5f);
    target_values.push_back(static_cast<float>((i * 13) % 7) / 7.0f);
  }
  Output x = ops::constant(graph, Tensor::from_vector<float>(Shape{8, 4}, x_values));
  Output target = ops::constant(graph, Tensor::from_vector<float>(Shape{8, 4}, target_values));
  Output h = ops::relu(linear(x, 4, "layer"));
  Output loss = losses::mean_squared_error(target, linear(h, 4, "layer"));
  std::unique_ptr<train::Optimizer> optimizer;
  if (optimizer_name == "sgd") optimizer = std::make_unique<train::GradientDescent>(0.1f);
  if (optimizer_name == "momentum") optimizer = std::make_unique<train::Momentum>(0.1f, 0.9f);
  if (optimizer_name == "adam") optimizer = std::make_unique<train::Adam>(train::AdamOptions{.learning_rate = 0.01f});
  Node* train_op = optimizer->minimize(loss);
  Session session(graph);
  session.initialize_variables();
  for (int s = 0; s < 2; ++s) session.run({}, {}, {train_op});
  save_both_formats(graph, session, dir, 2);
  write_file(dir / "graph_def.pb", graph_def_bytes(graph));

  nlohmann::json expected;
  expected["loss"] = loss.node->name() + ":" + std::to_string(loss.index);
  expected["train_op"] = train_op->name();
  expected["global_step"] = 2;
  for (const Variable& v : all_variables(graph)) expected["variables"][v.name()] = describe(session.variable_value(v));
  expected["next_loss"] = session.run({}, {loss}, {train_op}).at(0).data<float>()[0];
  for (const Variable& v : all_variables(graph)) {
    expected["after_next_step"][v.name()] = session.variable_value(v).to_vector<float>();
  }
  write_file(dir / "expected.json", expected.dump(1));
}

void write_dtypes_case(const fs::path& out) {
  const fs::path dir = out / "checkpoints" / "dtypes";
  fs::create_directories(dir);
  Graph graph;
  std::vector<Variable> vars;
  for (DType dtype : kAllDTypes) {
    vars.push_back(get_variable(graph, std::string("dtypes/") + dtype_name(dtype),
                                {.shape = Shape{2, 3}, .dtype = dtype, .initializer = init::zeros(), .trainable = false}));
  }
  Session session(graph);
  session.initialize_variables();
  nlohmann::json expected;
  for (const Variable& v : vars) {
    Tensor value(v.dtype(), v.shape());
    auto* bytes = static_cast<uint8_t*>(value.raw_data());
    for (size_t i = 0; i < value.byte_size(); ++i) {
      bytes[i] = static_cast<uint8_t>(i * 29 + 3);
      if (v.dtype() == DType::kBool) bytes[i] &= 1;
    }
    if (is_floating(v.dtype())) {  // finite values: no NaN payloads, whose bits numpy may change
      for (int64_t i = 0; i < value.num_elements(); ++i) {
        dispatch_dtype(v.dtype(), [&]<class T>() {
          if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
            value.data<T>()[i] = static_cast<T>(i) * T(-1.25);
          } else if constexpr (is_half_type_v<T>) {
            value.data<T>()[i] = T(static_cast<float>(i) * -1.25f);
          }
        });
      }
    }
    session.assign_variable(v, value);
    expected["variables"][v.name()] = describe(value);
  }
  save_both_formats(graph, session, dir, 5);
  write_file(dir / "expected.json", expected.dump(1));
}

int check(const std::string& path, const std::string& expected_path) {
  std::ifstream in(expected_path);
  const nlohmann::json expected = nlohmann::json::parse(in);
  const std::vector<CheckpointTensorInfo> listed = checked(list_variables(path));
  if (listed.size() != expected.size()) {
    std::cerr << "check: " << listed.size() << " tensors in " << path << ", expected " << expected.size() << "\n";
    return 1;
  }
  for (const auto& [name, spec] : expected.items()) {
    const Tensor value = checked(load_variable(path, name));
    if (spec["dtype"].get<std::string>() != dtype_name(value.dtype()) ||
        spec["shape"].get<std::vector<int64_t>>() != value.shape().dims() || spec["hex"].get<std::string>() != to_hex(value)) {
      std::cerr << "check: " << name << " is " << describe(value).dump() << ", expected " << spec.dump() << "\n";
      return 1;
    }
  }
  std::cout << "check: " << expected.size() << " tensors of " << path << " match\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 2 && args[0] == "write") {
      fs::remove_all(fs::path(args[1]) / "checkpoints");
      for (const char* name : {"sgd", "momentum", "adam"}) write_training_case(args[1], name);
      write_dtypes_case(args[1]);
      return 0;
    }
    if (args.size() == 3 && args[0] == "check") return check(args[1], args[2]);
    std::cerr << "usage: write_checkpoint_artifacts write OUT | check PATH EXPECTED_JSON\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "write_checkpoint_artifacts: " << e.what() << "\n";
    return 1;
  }
}
