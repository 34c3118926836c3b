#pragma once
// The op table: every op is defined once, with all of its pieces, by an explicit register_*()
// call (never static initialisers, which linkers drop).

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ops/op_ids.h"
#include "scopeflow/graph.h"
#include "scopeflow/tensor.h"

namespace scopeflow {

/// Dtype and shape of one output, as inferred when the node is added.
struct OutputSpec {
  DType dtype;
  Shape shape;
};

/// What shape inference sees: the spec's inputs and attrs, and the values of Const inputs.
class InferenceContext {
 public:
  InferenceContext(const OpDef& op, const NodeSpec& spec) : op_(op), spec_(spec) {}

  int num_inputs() const { return static_cast<int>(spec_.inputs.size()); }
  DType input_dtype(int i) const { return spec_.inputs[static_cast<size_t>(i)].dtype(); }
  const Shape& input_shape(int i) const { return spec_.inputs[static_cast<size_t>(i)].shape(); }
  /// The node producing input i.
  const Node& input_node(int i) const { return *spec_.inputs[static_cast<size_t>(i)].node; }
  /// Fails unless input i is output 0 of a VariableV2 node (TensorFlow's ref inputs).
  void expect_variable(int i) const;
  /// The value of input i when it comes straight from a Const node, else nullptr.
  const Tensor* constant_input(int i) const;

  const AttrValue* find_attr(std::string_view name) const;
  /// Typed attr; throws Error naming the op when missing or of another kind.
  template <typename T>
  const T& attr(std::string_view name) const {
    const AttrValue* v = find_attr(name);
    const T* typed = v ? std::get_if<T>(v) : nullptr;
    if (typed == nullptr) fail("attr '", name, "' is missing or has the wrong kind");
    return *typed;
  }
  template <typename T>
  T attr_or(std::string_view name, T fallback) const {
    const AttrValue* v = find_attr(name);
    const T* typed = v ? std::get_if<T>(v) : nullptr;
    return typed ? *typed : fallback;
  }

  /// Throws Error(kInvalidArgument, "[builder_name] ...").
  template <typename... Pieces>
  [[noreturn]] void fail(const Pieces&... pieces) const;
  /// Fails unless input i has one of the dtypes.
  void expect_dtype(int i, std::initializer_list<DType> allowed) const;
  /// Fails unless input i is float32.
  void expect_float(int i) const { expect_dtype(i, {DType::kFloat32}); }

  std::string_view op_name() const;

 private:
  const OpDef& op_;
  const NodeSpec& spec_;
};

// Attributes a kernel reads, decoded once when a plan is made (never looked up by name per run).
struct MatMulAttrs {
  bool transpose_a = false;
  bool transpose_b = false;
};
struct NesterovAttrs {  // ApplyMomentum, ApplyAdam
  bool use_nesterov = false;
};
struct SeedAttrs {  // random ops: the Philox key's halves
  uint64_t seed = 0;
  uint64_t seed2 = 0;
};
struct AxesAttrs {  // Sum, Mean, ArgMax: the Const axes input, normalised to [0, rank)
  std::vector<int64_t> axes;
};
struct PermAttrs {  // Transpose: the Const perm input; output dimension d is input dimension perm[d]
  std::vector<int64_t> perm;
};
struct CollectiveAttrs {  // CollectiveReduceV2: its Const group size and the bucket it travels in
  int64_t group_size = 1;
  int64_t instance_key = 0;
  // Values of one bucket travel as one collective: the bucket's key (the instance key of its
  // first member), this value's offset in it and its total size (float32 elements), and how many
  // values it holds. A value alone is a bucket of one.
  int64_t bucket_key = 0;
  int64_t bucket_offset = 0;
  int64_t bucket_elements = 0;
  int64_t bucket_members = 1;
};
using DecodedAttrs =
    std::variant<std::monostate, MatMulAttrs, NesterovAttrs, SeedAttrs, AxesAttrs, PermAttrs, CollectiveAttrs>;
using AttrDecodeFn = DecodedAttrs (*)(const Node&);

/// What a kernel gets: its node, input values, preallocated outputs and decoded attributes.
struct KernelContext {
  const Node& node;
  std::span<const Tensor> inputs;
  std::span<Tensor> outputs;
  /// Counts executions of this node in its session (random ops use it as their stream).
  uint64_t invocation = 0;
  /// The plan step's decoded attributes (OpDef::decode_attrs).
  const DecodedAttrs* attrs = nullptr;

  /// The decoded attributes of kind T; an internal error when the plan did not decode them.
  template <typename T>
  const T& attr() const {
    const T* typed = attrs != nullptr ? std::get_if<T>(attrs) : nullptr;
    if (typed == nullptr) missing_attrs();
    return *typed;
  }

 private:
  [[noreturn]] void missing_attrs() const;
};

using ShapeFn = std::vector<OutputSpec> (*)(const InferenceContext&);
using CpuKernelFn = void (*)(KernelContext&);

/// What a gradient function sees: the forward node and the gradients flowing into its outputs.
struct GradientContext {
  Graph& graph;
  Node& node;
  /// One per output of `node`; an invalid Output where no gradient reaches that output.
  std::span<const Output> grad_outputs;

  Output input(int i) const { return node.input(i); }
  Output output(int i) const { return node.output(i); }
  Output grad(int i) const { return grad_outputs[static_cast<size_t>(i)]; }
};
/// Returns one gradient per input of the node (an invalid Output: no gradient for that input).
using GradientFn = std::vector<Output> (*)(const GradientContext&);

/// How the runtime produces an op's outputs.
enum class ExecutionKind {
  kKernel,        // run cpu_kernel on preallocated outputs
  kForwardInput,  // output 0 is input 0's buffer, possibly reshaped (Identity, Reshape)
  kFeed,          // value comes from the feeds (Placeholder)
  kConstant,      // value is the node's "value" attr (Const)
  kVariable,      // value is the session's buffer for this variable (VariableV2)
  kNoOutput,      // control-only (NoOp)
  kInPlace,       // cpu_kernel updates the variable of input 0 (and slot inputs) in place;
                  // output 0 is that variable's buffer. Runs after every reader in its plan.
  kCollective,    // output 0 is input 0 averaged over the ranks of the session's communicator;
                  // the executor starts it and waits for it before the first step that needs it.
};

/// One op, front end only: what backends run it with is in their own kernel tables.
struct OpDef {
  OpId id{};                 // from the one op list (ops/op_ids.h)
  std::string tf_name;       // TensorFlow op name, as GraphDef and the op registry spell it
  std::string builder_name;  // our builder function, used in error messages: "[matmul] ..."
  std::string default_name;  // node base name TensorFlow gives it ("MatMul", "add")
  int num_inputs = 0;        // -1: any number
  ShapeFn infer = nullptr;
  AttrDecodeFn decode_attrs = nullptr;  // attributes its kernels read; null: none
  ExecutionKind execution = ExecutionKind::kKernel;
  bool stateful = false;     // never pruned as a pure function of its inputs (random, variables)
  GradientFn gradient = nullptr;
  std::string no_gradient{};  // when gradient is null: why the op is not differentiable
};

/// The op named `tf_name`, or nullptr.
const OpDef* find_op(std::string_view tf_name);
/// The op with this id (every id of the list is registered).
const OpDef& op_def(OpId id);
/// Every registered op, in registration order.
std::span<const OpDef* const> all_ops();

/// Registration (called once from the registry itself).
void register_op(OpDef def);
void register_array_ops();
void register_math_ops();
void register_nn_ops();
void register_random_ops();
void register_state_ops();
void register_loss_ops();
void register_training_ops();
void register_collective_ops();

template <typename... Pieces>
void InferenceContext::fail(const Pieces&... pieces) const {
  throw_invalid(op_name(), pieces...);
}

}  // namespace scopeflow
