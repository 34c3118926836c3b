#include "ops/op_registry.h"

#include <algorithm>
#include <array>
#include <memory>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_join.h"
#include "core/strings.h"

namespace scopeflow {

namespace {

struct OpTable {
  std::vector<std::unique_ptr<OpDef>> owned;
  std::vector<const OpDef*> ordered;
  absl::flat_hash_map<std::string, const OpDef*> by_name;
  std::array<const OpDef*, kNumOps> by_id{};
};

OpTable& table_for_registration() {
  static OpTable table;
  return table;
}

const OpTable& table() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_array_ops();
    register_math_ops();
    register_nn_ops();
    register_random_ops();
    register_state_ops();
    register_loss_ops();
    register_training_ops();
    register_collective_ops();
    // Every op of the list has its definition (a missing one is a build mistake, found at once).
    for (size_t i = 0; i < kNumOps; ++i) {
      if (table_for_registration().by_id[i] == nullptr) {
        throw_error(absl::StatusCode::kInternal, "op_registry", "op ", kOpNames[i],
                    " is in the op list but has no definition");
      }
    }
  });
  return table_for_registration();
}

}  // namespace

void register_op(OpDef def) {
  OpTable& t = table_for_registration();
  if (t.by_name.contains(def.tf_name)) {
    throw_error(absl::StatusCode::kAlreadyExists, "op_registry", "op ", def.tf_name,
                " is registered twice");
  }
  const auto listed = std::find(kOpNames.begin(), kOpNames.end(), std::string_view(def.tf_name));
  if (listed == kOpNames.end()) {
    throw_error(absl::StatusCode::kInternal, "op_registry", "op ", def.tf_name,
                " is not in the op list (ops/op_ids.h)");
  }
  def.id = static_cast<OpId>(listed - kOpNames.begin());
  auto owned = std::make_unique<OpDef>(std::move(def));
  t.by_id[op_index(owned->id)] = owned.get();
  t.by_name.emplace(owned->tf_name, owned.get());
  t.ordered.push_back(owned.get());
  t.owned.push_back(std::move(owned));
}

const OpDef* find_op(std::string_view tf_name) {
  const OpTable& t = table();
  auto it = t.by_name.find(to_absl(tf_name));
  return it == t.by_name.end() ? nullptr : it->second;
}

std::span<const OpDef* const> all_ops() { return table().ordered; }

const OpDef& op_def(OpId id) { return *table().by_id[op_index(id)]; }

void KernelContext::missing_attrs() const {
  throw_error(absl::StatusCode::kInternal, node.op_def().builder_name, "node '", node.name(),
              "' runs without the attributes its plan step should have decoded");
}

const Tensor* InferenceContext::constant_input(int i) const {
  const Output& in = spec_.inputs[static_cast<size_t>(i)];
  if (in.node == nullptr || in.node->op() != "Const") return nullptr;
  return &in.node->attr<Tensor>("value");
}

const AttrValue* InferenceContext::find_attr(std::string_view name) const {
  for (const auto& [key, value] : spec_.attrs) {
    if (key == name) return &value;
  }
  return nullptr;
}

void InferenceContext::expect_dtype(int i, std::initializer_list<DType> allowed) const {
  const DType got = input_dtype(i);
  for (DType d : allowed) {
    if (d == got) return;
  }
  // The one message for every op's dtype check: "[matmul] input 0 ('x') is float64; only
  // float32 is supported".
  std::vector<std::string> names;
  for (DType d : allowed) names.push_back(dtype_name(d));
  const std::string last = names.back();
  names.pop_back();
  const std::string listed = names.empty() ? last : absl::StrCat(absl::StrJoin(names, ", "), " or ", last);
  fail("input ", i, " ('", spec_.inputs[static_cast<size_t>(i)].name(), "') is ",
       dtype_name(got), "; only ", listed, names.empty() ? " is" : " are", " supported");
}

void InferenceContext::expect_variable(int i) const {
  const Output& in = spec_.inputs[static_cast<size_t>(i)];
  if (in.node->op() != "VariableV2" || in.index != 0) {
    fail("input ", i, " must be a variable (a VariableV2 node, as TensorFlow's ref inputs), got '",
         in.name(), "' from a ", in.node->op(), " node");
  }
}

std::string_view InferenceContext::op_name() const { return op_.builder_name; }

}  // namespace scopeflow
