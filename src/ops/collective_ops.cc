// CollectiveReduceV2: the mean of a value over the ranks of the session's communicator. The
// executor runs it (ExecutionKind::kCollective): it copies the value into its bucket's buffer
// and, once the bucket is full, all-reduces the buffer in the background; steps that read the
// mean wait for it.

#include "absl/strings/str_cat.h"
#include "ops/op_util.h"
#include "scopeflow/ops.h"

namespace scopeflow {

namespace {

constexpr const char* kKeyInputs[] = {"group_size", "group_key", "instance_key"};

int64_t scalar_int32(const InferenceContext& ctx, int i) {
  ctx.expect_dtype(i, {DType::kInt32});
  const Tensor* value = ctx.constant_input(i);
  if (value == nullptr || value->shape().rank() != 0) {
    ctx.fail(kKeyInputs[i - 1], " must be a scalar int32 constant");
  }
  return value->data<int32_t>()[0];
}

std::vector<OutputSpec> infer_collective_reduce(const InferenceContext& ctx) {
  ctx.expect_float(0);
  const int64_t group_size = scalar_int32(ctx, 1);
  scalar_int32(ctx, 2);
  scalar_int32(ctx, 3);
  if (group_size < 1) ctx.fail("group_size must be at least 1, got ", group_size);
  const std::string& merge_op = ctx.attr<std::string>("merge_op");
  const std::string& final_op = ctx.attr<std::string>("final_op");
  if (merge_op != "Add" || final_op != "Div") {
    ctx.fail("merge_op '", merge_op, "' with final_op '", final_op,
             "' is not supported: CollectiveReduceV2 runs here as a mean (merge_op Add, final_op Div)");
  }
  if (ctx.attr_or<int64_t>("Nordering_token", 0) != 0) ctx.fail("ordering tokens are not supported");
  const int64_t elements = ctx.input_shape(0).num_elements();
  if (ctx.attr_or<int64_t>("_bucket_key", -1) >= 0) {
    const int64_t offset = ctx.attr<int64_t>("_bucket_offset");
    const int64_t total = ctx.attr<int64_t>("_bucket_elements");
    const int64_t members = ctx.attr<int64_t>("_bucket_members");
    if (members < 1 || offset < 0 || offset > total - elements) {
      ctx.fail("bucket of ", members, " values and ", total, " elements cannot hold ", elements,
               " elements at offset ", offset);
    }
  }
  return {{ctx.input_dtype(0), ctx.input_shape(0)}};
}

int64_t const_int32(const Node& node, int i) { return node.input(i).node->attr<Tensor>("value").data<int32_t>()[0]; }

DecodedAttrs decode_collective(const Node& node) {
  CollectiveAttrs attrs;
  attrs.group_size = const_int32(node, 1);
  attrs.instance_key = const_int32(node, 3);
  const int64_t elements = node.input(0).shape().num_elements();
  if (const AttrValue* key = node.find_attr("_bucket_key"); key != nullptr && std::get<int64_t>(*key) >= 0) {
    attrs.bucket_key = std::get<int64_t>(*key);
    attrs.bucket_offset = node.attr<int64_t>("_bucket_offset");
    attrs.bucket_elements = node.attr<int64_t>("_bucket_elements");
    attrs.bucket_members = node.attr<int64_t>("_bucket_members");
  } else {
    // A bucket of its own, keyed apart from every instance key (which are int32).
    attrs.bucket_key = (int64_t{1} << 40) + attrs.instance_key;
    attrs.bucket_elements = elements;
  }
  return attrs;
}

}  // namespace

void register_collective_ops() {
  register_op({.tf_name = "CollectiveReduceV2", .builder_name = "all_reduce_mean", .default_name = "CollectiveReduceV2",
               .num_inputs = 4, .infer = infer_collective_reduce, .decode_attrs = decode_collective,
               .execution = ExecutionKind::kCollective, .stateful = true,
               .no_gradient = "a collective of the training step: the ranks average gradients after backward; "
                              "nothing differentiates through the average"});
}

namespace ops {

Output all_reduce_mean(Output x, const AllReduceOptions& options, std::string_view name) {
  Graph& graph = op_util::graph_of(x, "all_reduce_mean");
  const std::string op_name = op_util::scoped_op_name(graph, name, "CollectiveReduceV2");
  const int64_t keys[] = {options.group_size, options.group_key, options.instance_key};
  std::vector<Output> inputs = {x};
  for (size_t i = 0; i < 3; ++i) {
    if (keys[i] < INT32_MIN || keys[i] > INT32_MAX) {
      throw_invalid("all_reduce_mean", kKeyInputs[i], " ", keys[i], " is outside int32");
    }
    inputs.push_back(op_util::int32_const_input(graph, op_name, kKeyInputs[i],
                                                Tensor::scalar<int32_t>(static_cast<int32_t>(keys[i]))));
  }
  AttrList attrs = {{"T", x.dtype()},
                    {"merge_op", std::string("Add")},
                    {"final_op", std::string("Div")},
                    {"communication_hint", std::string("auto")},
                    {"timeout_seconds", options.timeout_seconds},
                    {"is_stateless", false},
                    {"Nordering_token", int64_t{0}},
                    {"max_subdivs_per_device", int64_t{-1}}};
  if (options.bucket_key >= 0) {
    attrs.emplace_back("_bucket_key", options.bucket_key);
    attrs.emplace_back("_bucket_offset", options.bucket_offset);
    attrs.emplace_back("_bucket_elements", options.bucket_elements);
    attrs.emplace_back("_bucket_members", options.bucket_members);
  }
  return op_util::make_exact(graph, "CollectiveReduceV2", std::move(inputs), std::move(attrs), op_name);
}

}  // namespace ops
}  // namespace scopeflow
