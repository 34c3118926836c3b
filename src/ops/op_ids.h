#pragma once
// The one list of ops. Each entry is the op's TensorFlow name; it gives the op its integer id
// (OpId::k<Name>). The op table registers each id once, and every backend's kernel table has
// exactly one row per id (runtime/kernel_table.h checks both).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#define SCOPEFLOW_OP_LIST(X)                                                                  \
  /* array */ X(Placeholder) X(Const) X(Identity) X(Reshape) X(BroadcastTo) X(NoOp)           \
      X(Transpose)                                                                            \
  /* math */ X(MatMul) X(AddV2) X(Sub) X(Mul) X(Sum) X(Mean) X(AddN) X(Neg) X(Square) X(Abs)   \
      X(Sign) X(Cast) X(Equal) X(ArgMax) X(Exp) X(Log) X(Sqrt) X(Rsqrt) X(Maximum) X(Minimum)  \
      X(Pow)                                                                                  \
  /* nn */ X(BiasAdd) X(Relu) X(Sigmoid) X(Tanh) X(Softmax) X(LogSoftmax) X(BiasAddGrad)      \
      X(ReluGrad) X(SigmoidGrad) X(TanhGrad)                                                  \
  /* losses */ X(SoftmaxCrossEntropyWithLogits) X(SparseSoftmaxCrossEntropyWithLogits)        \
  /* random */ X(RandomStandardNormal)                                                        \
  /* state and training */ X(VariableV2) X(Assign) X(AssignSub) X(ApplyGradientDescent)      \
      X(ApplyMomentum) X(ApplyAdam)                                                           \
  /* collective */ X(CollectiveReduceV2)

namespace scopeflow {

enum class OpId : uint16_t {
#define SCOPEFLOW_OP_ENUM(name) k##name,
  SCOPEFLOW_OP_LIST(SCOPEFLOW_OP_ENUM)
#undef SCOPEFLOW_OP_ENUM
};

#define SCOPEFLOW_OP_NAME(name) std::string_view(#name),
inline constexpr std::array kOpNames = {SCOPEFLOW_OP_LIST(SCOPEFLOW_OP_NAME)};
#undef SCOPEFLOW_OP_NAME

inline constexpr size_t kNumOps = kOpNames.size();

constexpr size_t op_index(OpId op) { return static_cast<size_t>(op); }

/// The TensorFlow name of an op id ("MatMul").
constexpr std::string_view op_id_name(OpId op) { return kOpNames[op_index(op)]; }

}  // namespace scopeflow
