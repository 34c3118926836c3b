#include "scopeflow/memory_report.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "ops/op_registry.h"

namespace scopeflow {

namespace {

// Distinct nodes that use the variable: consumers of its read Identity, plus direct consumers
// of the variable node other than that Identity. Gradient nodes and in-place updates read the
// variable too but are not uses: a duplicated model would not copy the variable for them.
int count_readers(const VariableInfo& info) {
  absl::flat_hash_set<const Node*> readers;
  auto add = [&](const Node* consumer) {
    if (consumer == info.read || consumer->is_gradient()) return;
    if (consumer->op_def().execution == ExecutionKind::kInPlace) return;
    readers.insert(consumer);
  };
  for (const auto& [consumer, index] : info.read->consumers()) add(consumer);
  for (const auto& [consumer, index] : info.node->consumers()) add(consumer);
  return static_cast<int>(readers.size());
}

}  // namespace

MemoryReport memory_report(const Session& session) {
  MemoryReport report;
  for (const auto& info : session.graph().variable_store().variables()) {
    VariableMemory line;
    line.name = info->name;
    line.shape = info->shape;
    line.dtype = info->dtype;
    line.bytes = checked_byte_size(info->shape.num_elements(), static_cast<int64_t>(dtype_size(info->dtype)));
    line.readers = count_readers(*info);
    line.initialized = session.is_initialized(Variable(info.get()));
    line.kind = info->memory_kind;
    if (line.kind == MemoryKind::kParameter) {
      report.duplicated_parameter_bytes += line.bytes * std::max(line.readers, 1);
    }
    report.variables.push_back(std::move(line));
  }
  const AllocationStats params = session.allocator().stats(MemoryKind::kParameter);
  report.parameter_bytes = params.bytes_in_use;
  report.parameter_allocations = params.live_allocations;
  const AllocationStats slots = session.allocator().stats(MemoryKind::kOptimizerSlot);
  report.optimizer_slot_bytes = slots.bytes_in_use;
  report.optimizer_slot_allocations = slots.live_allocations;
  report.gradient_peak_bytes = session.allocator().stats(MemoryKind::kGradient).peak_bytes;
  report.activation_peak_bytes = session.allocator().stats(MemoryKind::kActivation).peak_bytes;
  const Session::ArenaSize arena = session.largest_activation_arena();
  report.activation_arena_bytes = arena.bytes;
  report.activation_arena_lower_bound_bytes = arena.lower_bound_bytes;
  report.allocator_totals = session.allocator().stats();
  report.allocator_cached_bytes = session.allocator().cached_bytes();
  if (absl::StatusOr<DeviceMemoryInfo> info = session.allocator().device_memory_info(); info.ok()) {
    report.device_memory = *info;
  }
  report.device = session.device().to_string();
  return report;
}

std::string MemoryReport::to_table() const {
  size_t name_width = 8;
  for (const VariableMemory& v : variables) name_width = std::max(name_width, v.name.size());
  std::string out = absl::StrFormat("%-*s  %-14s  %-7s  %12s  %7s  %s\n", static_cast<int>(name_width),
                                    "variable", "shape", "dtype", "bytes", "readers", "kind");
  for (const VariableMemory& v : variables) {
    absl::StrAppendFormat(&out, "%-*s  %-14s  %-7s  %12d  %7d  %s\n", static_cast<int>(name_width),
                          v.name, v.shape.to_string(), dtype_name(v.dtype), v.bytes, v.readers,
                          memory_kind_name(v.kind));
  }
  absl::StrAppendFormat(&out, "variables: %d on %s\n", variables.size(), device);
  absl::StrAppendFormat(&out, "parameter bytes (allocator): %d in %d allocations\n",
                        parameter_bytes, parameter_allocations);
  absl::StrAppendFormat(&out, "parameter bytes if every use had its own copy: %d\n",
                        duplicated_parameter_bytes);
  if (optimizer_slot_allocations > 0 || gradient_peak_bytes > 0) {
    absl::StrAppendFormat(&out, "optimizer slot bytes (allocator): %d in %d allocations\n",
                          optimizer_slot_bytes, optimizer_slot_allocations);
    absl::StrAppendFormat(&out, "gradient bytes at peak (allocator): %d\n", gradient_peak_bytes);
  }
  absl::StrAppendFormat(&out, "activation bytes at peak (allocator): %d\n", activation_peak_bytes);
  if (activation_arena_bytes > 0) {
    absl::StrAppendFormat(&out, "activation arena: %d bytes, lower bound %d (%.3fx)\n", activation_arena_bytes,
                          activation_arena_lower_bound_bytes,
                          static_cast<double>(activation_arena_bytes) /
                              static_cast<double>(std::max<int64_t>(activation_arena_lower_bound_bytes, 1)));
  }
  absl::StrAppendFormat(&out, "allocator: %d bytes in use, peak %d, %d live / %d total allocations\n",
                        allocator_totals.bytes_in_use, allocator_totals.peak_bytes,
                        allocator_totals.live_allocations, allocator_totals.total_allocations);
  if (allocator_cached_bytes > 0) {
    absl::StrAppendFormat(&out, "allocator cache: %d bytes held for reuse\n", allocator_cached_bytes);
  }
  if (device_memory.has_value()) {
    absl::StrAppendFormat(&out, "device memory (driver): %d free of %d bytes\n",
                          device_memory->free_bytes, device_memory->total_bytes);
  }
  return out;
}

std::string MemoryReport::to_json() const {
  using nlohmann::ordered_json;
  ordered_json items = ordered_json::array();
  for (const VariableMemory& v : variables) {
    items.push_back({{"name", v.name},
                     {"shape", v.shape.dims()},
                     {"dtype", dtype_name(v.dtype)},
                     {"bytes", v.bytes},
                     {"readers", v.readers},
                     {"kind", memory_kind_name(v.kind)},
                     {"initialized", v.initialized}});
  }
  const ordered_json report = {
      {"device", device},
      {"variables", std::move(items)},
      {"parameter_bytes", parameter_bytes},
      {"parameter_allocations", parameter_allocations},
      {"duplicated_parameter_bytes", duplicated_parameter_bytes},
      {"optimizer_slot_bytes", optimizer_slot_bytes},
      {"optimizer_slot_allocations", optimizer_slot_allocations},
      {"gradient_peak_bytes", gradient_peak_bytes},
      {"activation_peak_bytes", activation_peak_bytes},
      {"activation_arena_bytes", activation_arena_bytes},
      {"activation_arena_lower_bound_bytes", activation_arena_lower_bound_bytes},
      {"allocator",
       {{"bytes_in_use", allocator_totals.bytes_in_use},
        {"peak_bytes", allocator_totals.peak_bytes},
        {"live_allocations", allocator_totals.live_allocations},
        {"total_allocations", allocator_totals.total_allocations},
        {"cached_bytes", allocator_cached_bytes}}},
      {"device_memory", device_memory.has_value()
                            ? ordered_json{{"free_bytes", device_memory->free_bytes},
                                           {"total_bytes", device_memory->total_bytes}}
                            : ordered_json(nullptr)},
  };
  // Variable names are the caller's bytes: invalid UTF-8 is replaced, never thrown.
  return report.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

}  // namespace scopeflow
