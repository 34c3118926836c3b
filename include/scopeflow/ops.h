#pragma once
// Op builders. Each adds one node (or TensorFlow's small composite, for random_normal) to the
// graph of its inputs, validating dtypes and shapes now, so errors point at model code.

#include <optional>
#include <string_view>
#include <vector>

#include "scopeflow/graph.h"

namespace scopeflow::ops {

/// tf.compat.v1.placeholder with a fully defined shape.
Output placeholder(Graph& graph, DType dtype, Shape shape, std::string_view name = "");
/// tf.constant: a Const node holding (a copy of) `value`.
Output constant(Graph& graph, const Tensor& value, std::string_view name = "");
/// A float32 scalar constant.
Output scalar(Graph& graph, float value, std::string_view name = "");
/// tf.identity.
Output identity(Output x, std::string_view name = "");
/// tf.reshape; `shape` may hold one -1, inferred from the element count.
Output reshape(Output x, std::vector<int64_t> shape, std::string_view name = "");

struct MatMulOptions {
  bool transpose_a = false;
  bool transpose_b = false;
};
/// tf.matmul for rank-2 float32 tensors: (m, k) x (k, n) -> (m, n), after optional transposes.
Output matmul(Output a, Output b, MatMulOptions options = {}, std::string_view name = "");
/// tf.add (AddV2) with NumPy broadcasting.
Output add(Output x, Output y, std::string_view name = "");
/// tf.subtract (Sub) with broadcasting.
Output sub(Output x, Output y, std::string_view name = "");
/// tf.multiply (Mul) with broadcasting.
Output mul(Output x, Output y, std::string_view name = "");
/// tf.nn.bias_add: adds a (c,) bias along the last dimension of a rank >= 2 value.
Output bias_add(Output value, Output bias, std::string_view name = "");
Output relu(Output x, std::string_view name = "");
Output sigmoid(Output x, std::string_view name = "");
Output tanh(Output x, std::string_view name = "");
/// tf.nn.softmax over the last dimension.
Output softmax(Output x, std::string_view name = "");
/// tf.reduce_sum over `axes` (std::nullopt: all axes; negative axes count from the end).
Output reduce_sum(Output x, std::optional<std::vector<int64_t>> axes = std::nullopt,
                  bool keep_dims = false, std::string_view name = "");
/// tf.reduce_mean over `axes`, as reduce_sum.
Output reduce_mean(Output x, std::optional<std::vector<int64_t>> axes = std::nullopt,
                   bool keep_dims = false, std::string_view name = "");

struct RandomNormalOptions {
  float mean = 0.0f;
  float stddev = 1.0f;
  std::optional<int64_t> seed{};  // op seed; default: derived from the graph seed and node id
};
/// tf.random.normal: RandomStandardNormal * stddev + mean, under name scope "random_normal".
/// Draws new values on every run; deterministic for the graph seed and op seed.
Output random_normal(Graph& graph, Shape shape, RandomNormalOptions options = {},
                     std::string_view name = "random_normal");

/// tf.math.add_n: the sum of one or more float32 tensors of one shape (AddN).
Output add_n(std::vector<Output> inputs, std::string_view name = "");
/// tf.negative (Neg).
Output neg(Output x, std::string_view name = "");
/// tf.square (Square).
Output square(Output x, std::string_view name = "");
/// tf.abs of a float32 tensor (Abs); NaN stays NaN.
Output abs(Output x, std::string_view name = "");
/// tf.sign of a float32 tensor (Sign): -1, 0 or +1, and NaN for NaN.
Output sign(Output x, std::string_view name = "");
/// tf.exp of a float32 tensor (Exp).
Output exp(Output x, std::string_view name = "");
/// tf.math.log of a float32 tensor (Log): log(0) = -inf, log(x < 0) = NaN.
Output log(Output x, std::string_view name = "");
/// tf.sqrt of a float32 tensor (Sqrt): sqrt(x < 0) = NaN.
Output sqrt(Output x, std::string_view name = "");
/// tf.math.rsqrt of a float32 tensor (Rsqrt): 1 / sqrt(x), so rsqrt(0) = inf.
Output rsqrt(Output x, std::string_view name = "");
/// tf.maximum with broadcasting (float32, int32, int64); NaN on either side gives NaN.
Output maximum(Output x, Output y, std::string_view name = "");
/// tf.minimum with broadcasting (float32, int32, int64); NaN on either side gives NaN.
Output minimum(Output x, Output y, std::string_view name = "");
/// tf.pow of float32 tensors with broadcasting (Pow): pow(0, 0) = 1.
Output pow(Output x, Output y, std::string_view name = "");
/// tf.transpose: output dimension d is dimension perm[d] of x (any dtype).
Output transpose(Output x, std::vector<int64_t> perm, std::string_view name = "");
/// tf.broadcast_to: NumPy-broadcasts x to `shape`.
Output broadcast_to(Output x, Shape shape, std::string_view name = "");
/// tf.cast; float to integer truncates toward zero, anything to bool is "!= 0".
Output cast(Output x, DType dtype, std::string_view name = "");
/// tf.equal with broadcasting; returns bool.
Output equal(Output x, Output y, std::string_view name = "");
/// tf.argmax over `axis` of a float32 tensor; output_type int32 or int64.
Output argmax(Output x, int64_t axis, DType output_type = DType::kInt64, std::string_view name = "");
/// tf.nn.log_softmax over the last dimension.
Output log_softmax(Output logits, std::string_view name = "");

/// The two outputs of TensorFlow's fused softmax cross-entropy ops.
struct CrossEntropy {
  Output loss;      // (batch,) per-example loss
  Output backprop;  // (batch, classes) d loss / d logits
};
/// SoftmaxCrossEntropyWithLogits: logits and label distributions, both (batch, classes).
CrossEntropy softmax_cross_entropy_with_logits(Output logits, Output labels,
                                               std::string_view name = "");
/// SparseSoftmaxCrossEntropyWithLogits: (batch, classes) logits, (batch,) int32/int64 labels.
/// A label outside [0, classes) is an error when the graph runs.
CrossEntropy sparse_softmax_cross_entropy_with_logits(Output logits, Output labels,
                                                      std::string_view name = "");

// Gradient ops, as TensorFlow defines them (the gradients of the ops above use these).
Output bias_add_grad(Output grad, std::string_view name = "");
Output relu_grad(Output gradients, Output features, std::string_view name = "");
Output sigmoid_grad(Output y, Output dy, std::string_view name = "");
Output tanh_grad(Output y, Output dy, std::string_view name = "");

/// tf.no_op with control inputs: running it runs them.
Node* no_op(Graph& graph, std::vector<Node*> control_inputs, std::string_view name = "NoOp");

/// The keys of an all-reduce, as TensorFlow's CollectiveReduceV2 takes them, and the bucket it
/// travels in (exported as the attrs _bucket_key, _bucket_offset, _bucket_elements and
/// _bucket_members, which TensorFlow ignores).
struct AllReduceOptions {
  int64_t group_size = 1;     // the ranks taking part: the session's communicator's world size
  int64_t group_key = 1;
  int64_t instance_key = 1;   // one per all-reduce of the graph, the same on every rank
  float timeout_seconds = 0;  // TensorFlow's attr (0: none); the communicator's timeout governs here
  // Values of one bucket are averaged by one collective over a buffer that holds them all:
  // bucket_key names the bucket (the instance key of its first value), bucket_offset is this
  // value's place in it, bucket_elements its size (float32 elements), bucket_members how many
  // values it holds. A negative bucket_key: the value is a bucket of its own.
  int64_t bucket_key = -1;
  int64_t bucket_offset = 0;
  int64_t bucket_elements = 0;
  int64_t bucket_members = 1;
};
/// The mean of float32 `x` over the ranks of the session's communicator (dist::Communicator):
/// TensorFlow's CollectiveReduceV2 with merge_op Add and final_op Div. A session without a
/// communicator is a world of one (the mean is x), and runs only graphs built for group_size 1.
Output all_reduce_mean(Output x, const AllReduceOptions& options = {}, std::string_view name = "");

}  // namespace scopeflow::ops

namespace scopeflow {
inline Output operator+(Output x, Output y) { return ops::add(x, y); }
inline Output operator-(Output x, Output y) { return ops::sub(x, y); }
inline Output operator*(Output x, Output y) { return ops::mul(x, y); }
}  // namespace scopeflow
