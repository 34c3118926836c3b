// Coverage of the op table: every op has all of its pieces.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "ops/op_registry.h"

namespace scopeflow {
namespace {

using ::testing::IsSupersetOf;

TEST(OpTableTest, IsNotEmpty) { EXPECT_FALSE(all_ops().empty()); }

TEST(OpTableTest, EveryOpHasItsPieces) {
  for (const OpDef* op : all_ops()) {
    ASSERT_NE(op, nullptr);
    const std::string id = op->tf_name.empty() ? std::string("<unnamed op>") : op->tf_name;
    EXPECT_FALSE(op->tf_name.empty()) << id << ": no TensorFlow op name";
    EXPECT_FALSE(op->builder_name.empty()) << id << ": no builder name";
    EXPECT_FALSE(op->default_name.empty()) << id << ": no default node name";
    EXPECT_NE(op->infer, nullptr) << id << ": no shape inference";
    EXPECT_GE(op->num_inputs, -1) << id << ": invalid input count";
    if (op->execution == ExecutionKind::kKernel) {
      EXPECT_NE(op->cpu_kernel, nullptr) << id << ": executed by a kernel but has no CPU kernel";
    }
    switch (op->cuda) {
      case CudaSupport::kCudaKernel:
        break;
      case CudaSupport::kCpuFallback:
        EXPECT_FALSE(op->cuda_note.empty())
            << id << ": falls back to the CPU under CUDA without saying why (cuda_note)";
        break;
      case CudaSupport::kNotApplicable:
        // Only ops that run no kernel of their own may say a CUDA kernel does not apply.
        EXPECT_NE(op->execution, ExecutionKind::kKernel)
            << id << ": runs a kernel, so it needs a CUDA kernel or an explicit CPU fallback";
        break;
      default:
        ADD_FAILURE() << id << ": no explicit CUDA mark";
    }
  }
}

TEST(OpTableTest, NamesAreUniqueAndFindable) {
  std::set<std::string> tf_names;
  for (const OpDef* op : all_ops()) {
    EXPECT_TRUE(tf_names.insert(op->tf_name).second) << op->tf_name << " is registered twice";
    EXPECT_EQ(find_op(op->tf_name), op) << op->tf_name;
  }
  EXPECT_EQ(find_op("NoSuchOp"), nullptr);
  EXPECT_EQ(find_op(""), nullptr);
  EXPECT_EQ(find_op("matmul"), nullptr);  // TensorFlow names are case-sensitive
}

TEST(OpTableTest, RegistersTheTensorFlowOps) {
  std::vector<std::string> names;
  for (const OpDef* op : all_ops()) names.push_back(op->tf_name);
  EXPECT_THAT(names, IsSupersetOf({"Placeholder", "Const", "Identity", "MatMul", "AddV2", "Sub",
                                   "Mul", "BiasAdd", "Relu", "Sigmoid", "Tanh", "Softmax",
                                   "Reshape", "Sum", "Mean", "RandomStandardNormal", "VariableV2",
                                   "NoOp", "Abs", "Sign"}));
}

TEST(OpTableTest, ExecutionKindsOfTheBuiltinOps) {
  struct Expected {
    const char* tf_name;
    ExecutionKind execution;
    const char* builder;
    const char* default_name;
  };
  const Expected expected[] = {
      {"Placeholder", ExecutionKind::kFeed, "placeholder", "Placeholder"},
      {"Const", ExecutionKind::kConstant, "constant", "Const"},
      {"Identity", ExecutionKind::kForwardInput, "identity", "Identity"},
      {"Reshape", ExecutionKind::kForwardInput, "reshape", "Reshape"},
      {"VariableV2", ExecutionKind::kVariable, "variable", "Variable"},
      {"NoOp", ExecutionKind::kNoOutput, "no_op", "NoOp"},
      {"MatMul", ExecutionKind::kKernel, "matmul", "MatMul"},
      {"AddV2", ExecutionKind::kKernel, "add", "add"},
      {"Sub", ExecutionKind::kKernel, "sub", "sub"},
      {"Mul", ExecutionKind::kKernel, "mul", "mul"},
      {"BiasAdd", ExecutionKind::kKernel, "bias_add", "BiasAdd"},
      {"Softmax", ExecutionKind::kKernel, "softmax", "Softmax"},
      {"Sum", ExecutionKind::kKernel, "reduce_sum", "Sum"},
      {"Mean", ExecutionKind::kKernel, "reduce_mean", "Mean"},
      {"RandomStandardNormal", ExecutionKind::kKernel, "random_normal", "RandomStandardNormal"},
      {"Abs", ExecutionKind::kKernel, "abs", "Abs"},
      {"Sign", ExecutionKind::kKernel, "sign", "Sign"},
  };
  for (const Expected& e : expected) {
    const OpDef* op = find_op(e.tf_name);
    ASSERT_NE(op, nullptr) << e.tf_name;
    EXPECT_EQ(op->execution, e.execution) << e.tf_name;
    EXPECT_EQ(op->builder_name, e.builder) << e.tf_name;
    EXPECT_EQ(op->default_name, e.default_name) << e.tf_name;
  }
  // Random draws and variables must never be treated as pure functions of their inputs.
  EXPECT_TRUE(find_op("RandomStandardNormal")->stateful);
  EXPECT_TRUE(find_op("VariableV2")->stateful);
  EXPECT_FALSE(find_op("MatMul")->stateful);
}

}  // namespace
}  // namespace scopeflow
