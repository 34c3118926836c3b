// RandomStandardNormal and the tf.random.normal composite.

#include "absl/strings/str_cat.h"
#include "ops/op_util.h"
#include "scopeflow/ops.h"

namespace scopeflow {

namespace {

std::vector<OutputSpec> infer_random_standard_normal(const InferenceContext& ctx) {
  ctx.expect_dtype(0, {DType::kInt32, DType::kInt64});
  const Tensor* shape_value = ctx.constant_input(0);
  if (shape_value == nullptr) ctx.fail("the shape input must be a constant");
  if (shape_value->shape().rank() != 1) ctx.fail("the shape input must be 1-D");
  const DType dtype = ctx.attr<DType>("dtype");
  if (dtype != DType::kFloat32) ctx.fail("output dtype is ", dtype_name(dtype), "; only float32 is supported");
  return {{DType::kFloat32, Shape(op_util::int_values(*shape_value))}};
}

}  // namespace

void register_random_ops() {
  register_op({.tf_name = "RandomStandardNormal", .builder_name = "random_normal",
               .default_name = "RandomStandardNormal", .num_inputs = 1,
               .infer = infer_random_standard_normal, .decode_attrs = op_util::decode_seed_attrs, .stateful = true,
               .no_gradient = "random sampling: its output does not depend differentiably on the shape input"});
}

namespace ops {

Output random_normal(Graph& graph, Shape shape, RandomNormalOptions options, std::string_view name) {
  if (!(options.stddev >= 0.0f)) throw_invalid("random_normal", "stddev must be >= 0, got ", options.stddev);
  // TensorFlow's layout: scope "random_normal/" holding shape, mean, stddev, RandomStandardNormal
  // and mul; the final add is named after the scope itself.
  NameScope scope = graph.name_scope(name);
  const std::string scope_name = scope.name().substr(0, scope.name().size() - 1);
  std::vector<int32_t> dims;
  for (int64_t d : shape.dims()) {
    if (d > INT32_MAX) throw_invalid("random_normal", "dimension ", d, " does not fit int32");
    dims.push_back(static_cast<int32_t>(d));
  }
  Output shape_node = constant(graph, Tensor::from_vector<int32_t>(Shape{static_cast<int64_t>(dims.size())}, dims), "shape");
  Output mean = scalar(graph, options.mean, "mean");
  Output stddev = scalar(graph, options.stddev, "stddev");
  // Seeds as tf.random.get_seed gives them: (graph seed, op seed or the node's id).
  const auto op_seed = options.seed.value_or(static_cast<int64_t>(graph.num_nodes()));
  Output draw = op_util::make(graph, "RandomStandardNormal", {shape_node},
                              {{"seed", static_cast<int64_t>(graph.seed())}, {"seed2", op_seed},
                               {"dtype", DType::kFloat32}, {"T", DType::kInt32}},
                              "RandomStandardNormal");
  Output scaled = mul(draw, stddev, "mul");
  return op_util::make_exact(graph, "AddV2", {scaled, mean}, {{"T", DType::kFloat32}}, scope_name);
}

}  // namespace ops
}  // namespace scopeflow
