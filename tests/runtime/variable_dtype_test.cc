// Variables of every dtype through a Session: creation, initialization, fetch, feed, assign and
// the memory report.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "scopeflow/initializers.h"
#include "scopeflow/memory_report.h"
#include "scopeflow/ops.h"
#include "scopeflow/scope.h"
#include "scopeflow/session.h"
#include "scopeflow/train.h"
#include "test_util.h"

namespace scopeflow {
namespace {

using ::testing::AllOf;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using test::values_of;

SessionOptions cpu_options() { return SessionOptions{.device = Device::cpu()}; }

// A host tensor of `dtype` with the values 0, 1, 0, 1, ... (every dtype holds them).
Tensor alternating(DType dtype, const Shape& shape) {
  Tensor t = Tensor::zeros(dtype, shape);
  dispatch_dtype(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 1; i < t.num_elements(); i += 2) {
      if constexpr (is_half_type_v<T>) {
        p[i] = T(1.0f);
      } else {
        p[i] = static_cast<T>(1);
      }
    }
  });
  return t;
}

TEST(VariableDTypeTest, EveryDtypeIsCreatedInitializedAndFetched) {
  Graph graph;
  std::vector<Variable> defaults;
  std::vector<Variable> threes;
  for (DType dtype : kAllDTypes) {
    defaults.push_back(get_variable(graph, absl::StrCat("default_", dtype_name(dtype)),
                                    {.shape = Shape{2, 3}, .dtype = dtype}));
    threes.push_back(get_variable(graph, absl::StrCat("three_", dtype_name(dtype)),
                                  {.shape = Shape{4}, .dtype = dtype, .initializer = init::constant(3)}));
  }
  Session session(graph, cpu_options());
  session.initialize_variables();
  for (size_t k = 0; k < std::size(kAllDTypes); ++k) {
    const DType dtype = kAllDTypes[k];
    SCOPED_TRACE(dtype_name(dtype));
    EXPECT_EQ(defaults[k].dtype(), dtype);
    EXPECT_EQ(defaults[k].value().dtype(), dtype);
    const Tensor value = session.run(defaults[k]);
    ASSERT_EQ(value.dtype(), dtype);
    EXPECT_EQ(value.shape(), (Shape{2, 3}));
    const std::vector<double> v = values_of(value);
    if (is_floating(dtype)) {
      // glorot_uniform: limit sqrt(6 / (2 + 3)), and not all equal.
      for (double x : v) EXPECT_LE(std::abs(x), std::sqrt(6.0 / 5.0) + 1e-2);
      EXPECT_NE(v[0], v[1]);
    } else {
      EXPECT_THAT(v, Each(0.0));  // zeros for integers and bool, as TensorFlow
    }
    EXPECT_THAT(values_of(session.run(threes[k])), Each(dtype == DType::kBool ? 1.0 : 3.0));
  }
}

TEST(VariableDTypeTest, ScopeDtypeAppliesAndReuseChecksIt) {
  Graph graph;
  {
    auto scope = variable_scope(graph, "s", {.dtype = DType::kInt16});
    EXPECT_EQ(get_variable(graph, "v", {.shape = Shape{2}}).dtype(), DType::kInt16);
  }
  auto scope = variable_scope(graph, "s", {.reuse = Reuse::kReuse});
  EXPECT_THAT(test::error_message_of([&] {
                get_variable(graph, "v", {.shape = Shape{2}, .dtype = DType::kFloat16});
              }),
              AllOf(HasSubstr("float16"), HasSubstr("int16")));
}

TEST(VariableDTypeTest, RandomInitializerOnAnIntegerVariableIsAnError) {
  Graph graph;
  EXPECT_THAT(test::error_message_of([&] {
                get_variable(graph, "u8", {.shape = Shape{2}, .dtype = DType::kUInt8,
                                           .initializer = init::random_uniform()});
              }),
              AllOf(StartsWith("[get_variable]"), HasSubstr("uint8")));
}

TEST(VariableDTypeTest, AssignFeedAndCastOfEveryDtype) {
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(dtype_name(dtype));
    Graph graph;
    Variable v = get_variable(graph, "v", {.shape = Shape{5}, .dtype = dtype});
    Output fed = ops::placeholder(graph, dtype, Shape{5}, "fed");
    Node* assign = ops::assign(v, fed);
    Output as_float = ops::cast(v, DType::kFloat32);
    Session session(graph, cpu_options());
    session.initialize_variables();
    const Tensor value = alternating(dtype, Shape{5});
    session.run({{fed, value}}, {}, {assign});
    const std::vector<Tensor> out = session.run({}, {v.value(), as_float});
    ASSERT_EQ(out[0].dtype(), dtype);
    EXPECT_EQ(std::memcmp(out[0].raw_data(), value.raw_data(), value.byte_size()), 0);
    EXPECT_EQ(out[1].to_vector<float>(), (std::vector<float>{0, 1, 0, 1, 0}));
    // The variable's one buffer holds it; a feed of another dtype is a clear error.
    EXPECT_EQ(std::memcmp(session.variable_value(v).raw_data(), value.raw_data(), value.byte_size()), 0);
    const DType other = dtype == DType::kFloat64 ? DType::kInt8 : DType::kFloat64;
    EXPECT_THAT(test::error_message_of([&] { session.run({{fed, Tensor::zeros(other, Shape{5})}}, {}, {assign}); }),
                AllOf(StartsWith("[session.run]"), HasSubstr(dtype_name(dtype)), HasSubstr(dtype_name(other))));
    // assign_variable takes host tensors of the variable's dtype only.
    session.assign_variable(v, Tensor::zeros(dtype, Shape{5}));
    EXPECT_THAT(values_of(session.run(v)), Each(0.0));
    EXPECT_THAT(test::error_message_of([&] { session.assign_variable(v, Tensor::zeros(other, Shape{5})); }),
                HasSubstr(dtype_name(other)));
  }
}

TEST(VariableDTypeTest, AssignOfAnotherDtypeIsABuildError) {
  Graph graph;
  Variable v = get_variable(graph, "v", {.shape = Shape{2}, .dtype = DType::kBFloat16});
  Output wrong = ops::constant(graph, Tensor::zeros(DType::kFloat16, Shape{2}));
  EXPECT_THAT(test::error_message_of([&] { ops::assign(v, wrong); }),
              AllOf(StartsWith("[assign]"), HasSubstr("float16"), HasSubstr("bfloat16")));
}

TEST(VariableDTypeTest, MemoryReportCarriesRealDtypesAndBytes) {
  Graph graph;
  for (DType dtype : kAllDTypes) {
    get_variable(graph, dtype_name(dtype), {.shape = Shape{3, 5}, .dtype = dtype});
  }
  Session session(graph, cpu_options());
  session.initialize_variables();
  const MemoryReport report = memory_report(session);
  ASSERT_EQ(report.variables.size(), std::size(kAllDTypes));
  int64_t total = 0;
  for (const VariableMemory& line : report.variables) {
    SCOPED_TRACE(line.name);
    EXPECT_EQ(line.name, dtype_name(line.dtype));
    EXPECT_EQ(line.bytes, 15 * static_cast<int64_t>(dtype_size(line.dtype)));
    total += line.bytes;
  }
  EXPECT_EQ(total, 15 * (4 + 4 + 8 + 1 + 8 + 2 + 2 + 1 + 1 + 2 + 2));
  EXPECT_EQ(report.parameter_bytes, total);  // measured by the allocator
  EXPECT_THAT(report.to_json(), AllOf(HasSubstr("\"dtype\":\"bfloat16\",\"bytes\":30"),
                                      HasSubstr("\"dtype\":\"float64\",\"bytes\":120"),
                                      HasSubstr("\"dtype\":\"bool\",\"bytes\":15")));
  EXPECT_THAT(report.to_table(), AllOf(HasSubstr("float16"), HasSubstr("uint16")));
}

}  // namespace
}  // namespace scopeflow
