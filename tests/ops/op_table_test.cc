// Coverage of the op table: every op has all of its pieces.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "runtime/backend.h"

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
    EXPECT_EQ(op_def(op->id).tf_name, op->tf_name) << id << ": its id names another op";
  }
}

// Every op has a row in every backend's table (each_op_once checks that when the tables
// compile); here: the rows say what the op's execution kind needs.
TEST(OpTableTest, EveryBackendRunsEveryOp) {
  for (const OpDef* op : all_ops()) {
    const bool runs_a_kernel =
        op->execution == ExecutionKind::kKernel || op->execution == ExecutionKind::kInPlace;
    const KernelSupportInfo cpu = cpu_kernel_support(op->id);
    EXPECT_EQ(cpu.support, runs_a_kernel ? KernelSupport::kKernel : KernelSupport::kNoKernel)
        << op->tf_name << ": the CPU table's row does not fit its execution kind";
    if (runs_a_kernel && op->id != OpId::kMatMul) {
      EXPECT_NE(cpu_kernel_function(op->id), nullptr) << op->tf_name << ": no CPU kernel";
    }
  }
  bool cuda_built = false;
  for (const OpDef* op : all_ops()) {
    const std::optional<KernelSupportInfo> cuda = cuda_kernel_support(op->id);
    if (!cuda.has_value()) continue;
    cuda_built = true;
    switch (op->execution) {
      case ExecutionKind::kKernel:
        EXPECT_NE(cuda->support, KernelSupport::kNoKernel)
            << op->tf_name << ": runs a kernel, so it needs a CUDA kernel or an explicit CPU fallback";
        if (cuda->support == KernelSupport::kCpuFallback) {
          EXPECT_FALSE(cuda->note.empty()) << op->tf_name << ": falls back to the CPU without saying why";
        }
        break;
      case ExecutionKind::kInPlace:
        // In-place updates write variables on the device; a host round trip would lose the write.
        EXPECT_EQ(cuda->support, KernelSupport::kKernel) << op->tf_name;
        break;
      default:
        EXPECT_EQ(cuda->support, KernelSupport::kNoKernel) << op->tf_name << ": the executor produces its value";
    }
  }
  if (!cuda_built) GTEST_SKIP() << "built without the CUDA backend: its kernel table is not linked in";
}

TEST(OpTableTest, OneIdPerOpOfTheList) {
  EXPECT_EQ(all_ops().size(), kNumOps);
  for (size_t i = 0; i < kNumOps; ++i) {
    const OpId id = static_cast<OpId>(i);
    EXPECT_EQ(op_def(id).id, id);
    EXPECT_EQ(op_def(id).tf_name, op_id_name(id));
  }
  EXPECT_EQ(op_id_name(OpId::kMatMul), "MatMul");
  EXPECT_EQ(find_op("MatMul")->id, OpId::kMatMul);
}

// each_op_once is what the backend tables' static_asserts rely on: it must reject a missing
// row and a repeated one.
TEST(OpTableTest, TheTableCheckRejectsMissingAndRepeatedRows) {
  struct Row {
    OpId op;
  };
  Row complete[kNumOps];
  for (size_t i = 0; i < kNumOps; ++i) complete[i] = {static_cast<OpId>(i)};
  EXPECT_TRUE(each_op_once(complete));
  Row repeated[kNumOps];
  for (size_t i = 0; i < kNumOps; ++i) repeated[i] = {static_cast<OpId>(i == 1 ? 0 : i)};
  EXPECT_FALSE(each_op_once(repeated));
  Row missing[kNumOps - 1];
  for (size_t i = 0; i + 1 < kNumOps; ++i) missing[i] = {static_cast<OpId>(i)};
  EXPECT_FALSE(each_op_once(missing));
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
