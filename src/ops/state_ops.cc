// VariableV2: the one node that owns a variable's buffer in a session.

#include "ops/op_util.h"

namespace scopeflow {

namespace {

std::vector<OutputSpec> infer_variable(const InferenceContext& ctx) {
  return {{ctx.attr<DType>("dtype"), ctx.attr<Shape>("shape")}};
}

}  // namespace

void register_state_ops() {
  register_op({.tf_name = "VariableV2", .builder_name = "variable", .default_name = "Variable",
               .num_inputs = 0, .infer = infer_variable, .execution = ExecutionKind::kVariable,
               .stateful = true,
               .no_gradient = "a source op: it has no inputs to differentiate"});
}

}  // namespace scopeflow
