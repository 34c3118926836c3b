#pragma once
// One small graph per differentiable op (and per interesting variant), shared by the
// finite-difference gradient tests and the GPU-against-CPU tests.

#include <functional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "scopeflow/ops.h"
#include "scopeflow/session.h"
#include "train/gradient_check.h"
#include "scopeflow/losses.h"

namespace scopeflow::test {

struct OpGradientCase {
  std::string name;   // test label
  std::string op;     // TensorFlow op the case differentiates
  std::vector<Shape> shapes;
  std::function<Output(std::vector<Output>&)> build;
  float min_abs = 0.0f;  // keep inputs away from kinks
  float low = -1.0f;     // inputs are drawn from [low, 1]: positive for Log, Sqrt, Rsqrt
};

inline std::vector<OpGradientCase> op_gradient_cases() {
  using namespace ops;  // NOLINT: test table
  return {
      {"MatMul", "MatMul", {Shape{3, 4}, Shape{4, 5}}, [](auto& in) { return matmul(in[0], in[1]); }},
      {"MatMulTransposeA", "MatMul", {Shape{4, 3}, Shape{4, 5}},
       [](auto& in) { return matmul(in[0], in[1], {.transpose_a = true}); }},
      {"MatMulTransposeB", "MatMul", {Shape{3, 4}, Shape{5, 4}},
       [](auto& in) { return matmul(in[0], in[1], {.transpose_b = true}); }},
      {"MatMulTransposeBoth", "MatMul", {Shape{4, 3}, Shape{5, 4}},
       [](auto& in) { return matmul(in[0], in[1], {.transpose_a = true, .transpose_b = true}); }},
      {"AddBroadcast", "AddV2", {Shape{3, 4}, Shape{4}}, [](auto& in) { return add(in[0], in[1]); }},
      {"AddBroadcastBothSides", "AddV2", {Shape{3, 1}, Shape{1, 4}}, [](auto& in) { return add(in[0], in[1]); }},
      {"SubBroadcast", "Sub", {Shape{2, 3}, Shape{2, 1}}, [](auto& in) { return sub(in[0], in[1]); }},
      {"MulBroadcastScalar", "Mul", {Shape{2, 3}, Shape{}}, [](auto& in) { return mul(in[0], in[1]); }},
      {"Mul", "Mul", {Shape{2, 3}, Shape{2, 3}}, [](auto& in) { return mul(in[0], in[1]); }},
      {"SumAxis", "Sum", {Shape{2, 3, 4}}, [](auto& in) { return reduce_sum(in[0], std::vector<int64_t>{1}); }},
      {"SumKeepDims", "Sum", {Shape{2, 3}}, [](auto& in) { return reduce_sum(in[0], std::vector<int64_t>{-1}, true); }},
      {"SumAll", "Sum", {Shape{2, 3}}, [](auto& in) { return reduce_sum(in[0]); }},
      {"MeanAxes", "Mean", {Shape{2, 3, 4}}, [](auto& in) { return reduce_mean(in[0], std::vector<int64_t>{0, 2}); }},
      {"AddN", "AddN", {Shape{2, 3}, Shape{2, 3}, Shape{2, 3}}, [](auto& in) { return add_n({in[0], in[1], in[2]}); }},
      {"Neg", "Neg", {Shape{5}}, [](auto& in) { return neg(in[0]); }},
      {"Square", "Square", {Shape{5}}, [](auto& in) { return square(in[0]); }},
      // |x| >= 0.05 keeps the central differences (step 0.01) off the kink and the step at 0.
      {"Abs", "Abs", {Shape{3, 4}}, [](auto& in) { return abs(in[0]); }, 0.05f},
      {"Sign", "Sign", {Shape{3, 4}}, [](auto& in) { return sign(in[0]); }, 0.05f},
      {"Exp", "Exp", {Shape{3, 4}}, [](auto& in) { return exp(in[0]); }},
      {"Log", "Log", {Shape{3, 4}}, [](auto& in) { return log(in[0]); }, 0.0f, 0.2f},
      {"Sqrt", "Sqrt", {Shape{3, 4}}, [](auto& in) { return sqrt(in[0]); }, 0.0f, 0.2f},
      {"Rsqrt", "Rsqrt", {Shape{3, 4}}, [](auto& in) { return rsqrt(in[0]); }, 0.0f, 0.2f},
      // Random inputs almost never tie, so the central differences stay on one side of x == y.
      {"MaximumBroadcast", "Maximum", {Shape{3, 4}, Shape{4}}, [](auto& in) { return maximum(in[0], in[1]); }},
      {"MinimumBroadcast", "Minimum", {Shape{3, 1}, Shape{1, 4}}, [](auto& in) { return minimum(in[0], in[1]); }},
      {"PowBroadcast", "Pow", {Shape{2, 3}, Shape{3}}, [](auto& in) { return pow(in[0], in[1]); }, 0.0f, 0.2f},
      {"Transpose", "Transpose", {Shape{2, 3, 4}}, [](auto& in) { return transpose(in[0], {2, 0, 1}); }},
      {"TransposeMatrix", "Transpose", {Shape{3, 5}}, [](auto& in) { return transpose(in[0], {1, 0}); }},
      {"Cast", "Cast", {Shape{4}}, [](auto& in) { return cast(in[0], DType::kFloat32); }},
      {"BroadcastTo", "BroadcastTo", {Shape{3, 1}}, [](auto& in) { return broadcast_to(in[0], Shape{2, 3, 4}); }},
      {"Identity", "Identity", {Shape{2, 2}}, [](auto& in) { return identity(in[0]); }},
      {"Reshape", "Reshape", {Shape{2, 6}}, [](auto& in) { return reshape(in[0], {3, -1}); }},
      {"BiasAdd", "BiasAdd", {Shape{3, 4}, Shape{4}}, [](auto& in) { return bias_add(in[0], in[1]); }},
      {"Relu", "Relu", {Shape{3, 4}}, [](auto& in) { return relu(in[0]); }, 0.05f},
      {"Sigmoid", "Sigmoid", {Shape{3, 4}}, [](auto& in) { return sigmoid(in[0]); }},
      {"Tanh", "Tanh", {Shape{3, 4}}, [](auto& in) { return tanh(in[0]); }},
      {"Softmax", "Softmax", {Shape{3, 5}}, [](auto& in) { return softmax(in[0]); }},
      {"LogSoftmax", "LogSoftmax", {Shape{3, 5}}, [](auto& in) { return log_softmax(in[0]); }},
      {"BiasAddGrad", "BiasAddGrad", {Shape{3, 4}}, [](auto& in) { return bias_add_grad(in[0]); }},
      // Features only select (piecewise constant, no gradient): a constant here.
      {"ReluGrad", "ReluGrad", {Shape{2, 3}},
       [](auto& in) {
         Graph& g = *in[0].node->graph();
         Output features = constant(g, Tensor::from_vector<float>(Shape{2, 3}, {0.5f, -0.2f, 1.0f, -1.0f, 0.3f, 0.0f}));
         return relu_grad(in[0], features);
       }},
      {"SigmoidGrad", "SigmoidGrad", {Shape{3, 4}, Shape{3, 4}}, [](auto& in) { return sigmoid_grad(in[0], in[1]); }},
      {"TanhGrad", "TanhGrad", {Shape{3, 4}, Shape{3, 4}}, [](auto& in) { return tanh_grad(in[0], in[1]); }},
      {"SoftmaxCrossEntropyWithLogits", "SoftmaxCrossEntropyWithLogits", {Shape{3, 5}, Shape{3, 5}},
       [](auto& in) { return softmax_cross_entropy_with_logits(in[0], softmax(in[1])).loss; }},
      {"SparseSoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits", {Shape{4, 5}},
       [](auto& in) {
         Graph& g = *in[0].node->graph();
         Output labels = constant(g, Tensor::from_vector<int32_t>(Shape{4}, {0, 4, 2, 2}));
         return sparse_softmax_cross_entropy_with_logits(in[0], labels).loss;
       }},
  };
}

/// A case's graph: placeholders fed with random values, the op's output y, and the scalar loss
/// sum(y * w) for a random constant w (a random linear functional, so every output matters).
struct OpCaseGraph {
  std::vector<Output> inputs;
  FeedList feeds;
  Output y;
  Output loss;
};

inline OpCaseGraph build_op_case(Graph& graph, const OpGradientCase& c, std::mt19937& rng) {
  OpCaseGraph built;
  for (size_t i = 0; i < c.shapes.size(); ++i) {
    Output p = ops::placeholder(graph, DType::kFloat32, c.shapes[i], absl::StrCat("x", i));
    built.inputs.push_back(p);
    built.feeds.emplace_back(p, random_tensor(c.shapes[i], rng, c.low, 1.0f, c.min_abs));
  }
  built.y = c.build(built.inputs);
  built.loss = ops::reduce_sum(ops::mul(built.y, ops::constant(graph, random_tensor(built.y.shape(), rng))));
  return built;
}

inline void PrintTo(const OpGradientCase& c, std::ostream* os) { *os << c.name; }

}  // namespace scopeflow::test
