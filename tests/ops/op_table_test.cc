// Coverage of the op table: every op has all of its pieces.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "runtime/backend.h"
#include "runtime/kernel_table.h"
#include "scopeflow/ops.h"
#include "test_util.h"

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

// Every op has a row in every backend's table (merging the family files' rows checks that when
// the table is first used, here); the rows say what the op's execution kind needs.
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

// The merge of the family files' rows is what makes a backend's table: it must reject a
// missing row and a repeated one, naming the op.
TEST(OpTableTest, TheTableMergeRejectsMissingAndRepeatedRows) {
  struct Row {
    OpId op{};
    int family = 0;
  };
  std::vector<Row> first, second;
  for (size_t i = 0; i < kNumOps; ++i) (i % 2 == 0 ? first : second).push_back({static_cast<OpId>(i), 1});
  const auto table = merge_kernel_rows<Row>("test", {first, second});
  for (size_t i = 0; i < kNumOps; ++i) EXPECT_EQ(table[i].op, static_cast<OpId>(i));

  std::vector<Row> repeated = second;
  repeated.push_back({OpId::kMatMul, 2});
  repeated.push_back({OpId::kMatMul, 3});
  const test::ThrownError twice = test::error_of([&] { merge_kernel_rows<Row>("test", {first, repeated}); });
  EXPECT_EQ(twice.code, absl::StatusCode::kInternal);
  EXPECT_EQ(twice.message, "[test] op MatMul has two rows in the kernel table");

  const test::ThrownError missing = test::error_of([&] { merge_kernel_rows<Row>("test", {first}); });
  EXPECT_EQ(missing.code, absl::StatusCode::kInternal);
  EXPECT_EQ(missing.message, absl::StrCat("[test] op ", std::string(kOpNames[1]),
                                          " has no row in the kernel table (add it to its family's file)"));

  constexpr Row kUnique[] = {{OpId::kExp}, {OpId::kLog}};
  constexpr Row kTwice[] = {{OpId::kExp}, {OpId::kExp}};
  static_assert(no_op_twice(kUnique));
  static_assert(!no_op_twice(kTwice));
}

// The CPU rows name the dtypes their shape inference admits (spot checks of the narrower and
// the wider ones).
TEST(OpTableTest, CpuRowsNameTheirKernelsDtypes) {
  EXPECT_TRUE(cpu_kernel_support(OpId::kAddV2).dtypes.contains(DType::kInt64));
  EXPECT_FALSE(cpu_kernel_support(OpId::kExp).dtypes.contains(DType::kInt32));
  EXPECT_TRUE(cpu_kernel_support(OpId::kCast).dtypes.contains(DType::kBFloat16));
  EXPECT_EQ(cpu_kernel_support(OpId::kArgMax).dtypes.to_string(), "int32, int64");
}

// Both backends build each op's kernel for the same dtypes.
TEST(OpTableTest, BackendsAgreeOnEachKernelsDtypes) {
  bool cuda_built = false;
  for (const OpDef* op : all_ops()) {
    const std::optional<KernelSupportInfo> cuda = cuda_kernel_support(op->id);
    if (!cuda.has_value()) continue;
    cuda_built = true;
    EXPECT_EQ(cuda->dtypes, cpu_kernel_support(op->id).dtypes)
        << op->tf_name << ": CUDA " << cuda->dtypes.to_string() << ", CPU "
        << cpu_kernel_support(op->id).dtypes.to_string();
  }
  if (!cuda_built) GTEST_SKIP() << "built without the CUDA backend: its kernel table is not linked in";
}

// A step whose dtype a kernel is not built for is refused when the plan is made, naming all.
TEST(OpTableTest, AKernelIsRefusedForADtypeItIsNotBuiltFor) {
  Graph g;
  Output x = ops::exp(ops::constant(g, Tensor::from_vector<float>(Shape{2}, {1, 2})), "e");
  check_kernel_dtype("CPU", kFloat32Only, *x.node);  // built for it: no error
  const test::ThrownError e = test::error_of([&] { check_kernel_dtype("CPU", kIndexDTypes, *x.node); });
  EXPECT_EQ(e.code, absl::StatusCode::kUnimplemented);
  EXPECT_EQ(e.message, "[exp] the CPU kernel of Exp is built for int32, int64; node 'e' computes in float32");
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
