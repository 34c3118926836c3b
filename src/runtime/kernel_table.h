#pragma once
// A backend's kernel table: each op family's file (elementwise, reductions, ...) contributes its
// rows; the backend merges them into one table indexed by op id, checking that every op of the
// list has exactly one row, and each row says for which dtypes its kernel is built.

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "ops/op_ids.h"
#include "ops/op_registry.h"
#include "scopeflow/dtype.h"
#include "scopeflow/error.h"
#include "scopeflow/graph.h"

namespace scopeflow {

/// A set of dtypes, as one bit per DType.
class DTypeSet {
 public:
  constexpr DTypeSet() = default;
  constexpr DTypeSet(std::initializer_list<DType> dtypes) {
    for (DType dtype : dtypes) bits_ |= bit(dtype);
  }
  static constexpr DTypeSet all() {
    DTypeSet set;
    for (DType dtype : kAllDTypes) set.bits_ |= bit(dtype);
    return set;
  }
  constexpr bool contains(DType dtype) const { return (bits_ & bit(dtype)) != 0; }
  constexpr bool operator==(const DTypeSet&) const = default;
  /// "float32, int32" in enum order.
  std::string to_string() const {
    std::string text;
    for (DType dtype : kAllDTypes) {
      if (!contains(dtype)) continue;
      if (!text.empty()) text += ", ";
      text += dtype_name(dtype);
    }
    return text;
  }

 private:
  static constexpr uint32_t bit(DType dtype) { return uint32_t{1} << static_cast<unsigned>(dtype); }
  uint32_t bits_ = 0;
};

/// The dtypes of the elementwise functors (functors::is_arithmetic_v).
inline constexpr DTypeSet kArithmeticDTypes{DType::kFloat32, DType::kInt32, DType::kInt64};
inline constexpr DTypeSet kFloat32Only{DType::kFloat32};
inline constexpr DTypeSet kIndexDTypes{DType::kInt32, DType::kInt64};

/// The dtype a row's set is checked against: the node's output 0, or input 0 for ops without
/// outputs (none today: in-place updates output their variable).
inline DType kernel_dtype(const Node& node) {
  return node.num_outputs() > 0 ? node.output_dtype(0) : node.input(0).dtype();
}

/// Refuses, when a plan is made, a step whose dtype the backend's kernel is not built for.
inline void check_kernel_dtype(std::string_view backend, DTypeSet dtypes, const Node& node) {
  const DType dtype = kernel_dtype(node);
  if (dtypes.contains(dtype)) return;
  throw_error(absl::StatusCode::kUnimplemented, node.op_def().builder_name, "the ", backend, " kernel of ",
              node.op(), " is built for ", dtypes.to_string(), "; node '", node.name(), "' computes in ",
              dtype_name(dtype));
}

/// True when no op has two rows in `rows`: each family's file checks its own rows with it in a
/// static_assert; merge_kernel_rows checks the whole table once.
template <typename Row, size_t N>
constexpr bool no_op_twice(const Row (&rows)[N]) {
  std::array<bool, kNumOps> seen{};
  for (const Row& row : rows) {
    const size_t i = op_index(row.op);
    if (i >= kNumOps || seen[i]) return false;
    seen[i] = true;
  }
  return true;
}

/// The rows of every family as one table indexed by op id. An op with no row or with two is an
/// internal error naming the op and `backend`: each backend builds its table once, on first use,
/// and the op-table test runs that check for every build.
template <typename Row>
std::array<Row, kNumOps> merge_kernel_rows(std::string_view backend,
                                           std::initializer_list<std::span<const Row>> families) {
  std::array<Row, kNumOps> table{};
  std::array<bool, kNumOps> seen{};
  for (std::span<const Row> family : families) {
    for (const Row& row : family) {
      const size_t i = op_index(row.op);
      if (i >= kNumOps) throw_error(absl::StatusCode::kInternal, backend, "a kernel row names op id ", i);
      if (seen[i]) {
        throw_error(absl::StatusCode::kInternal, backend, "op ", op_id_name(row.op),
                    " has two rows in the kernel table");
      }
      seen[i] = true;
      table[i] = row;
    }
  }
  for (size_t i = 0; i < kNumOps; ++i) {
    if (!seen[i]) {
      throw_error(absl::StatusCode::kInternal, backend, "op ", kOpNames[i],
                  " has no row in the kernel table (add it to its family's file)");
    }
  }
  return table;
}

}  // namespace scopeflow
