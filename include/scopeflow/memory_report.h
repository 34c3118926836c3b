#pragma once
// What the variables of a graph cost in a session, and what they would cost unshared.

#include <optional>
#include <string>
#include <vector>

#include "scopeflow/allocator.h"
#include "scopeflow/session.h"

namespace scopeflow {

/// One variable's line in the report.
struct VariableMemory {
  std::string name;
  Shape shape;
  DType dtype = DType::kFloat32;
  int64_t bytes = 0;
  int readers = 0;          // distinct ops that use the variable's value (not gradients, not updates)
  MemoryKind kind = MemoryKind::kParameter;  // parameter, optimizer_slot (or other) memory
  bool initialized = false;  // has its buffer in the session
};

struct MemoryReport {
  std::vector<VariableMemory> variables;
  /// Parameter bytes in use, measured by the session's allocator.
  int64_t parameter_bytes = 0;
  /// Live parameter allocations, measured by the session's allocator (one per variable).
  int64_t parameter_allocations = 0;
  /// Bytes the same model would hold if every reading op had its own copy of each variable.
  int64_t duplicated_parameter_bytes = 0;
  /// Optimizer state in use (Adam's m and v, momentum), from the allocator.
  int64_t optimizer_slot_bytes = 0;
  int64_t optimizer_slot_allocations = 0;
  /// Peak bytes of gradient buffers since the allocator's peaks were last reset.
  int64_t gradient_peak_bytes = 0;
  /// Peak bytes of activations since the allocator's peaks were last reset (the arena when
  /// one is planned), the largest planned activation arena and its lower bound (the most bytes
  /// of its blocks alive at once; Session::largest_activation_arena).
  int64_t activation_peak_bytes = 0;
  int64_t activation_arena_bytes = 0;
  int64_t activation_arena_lower_bound_bytes = 0;
  /// Allocator totals over all memory kinds.
  AllocationStats allocator_totals;
  /// Freed bytes the allocator keeps cached for reuse (the CUDA allocator; 0 on the CPU).
  int64_t allocator_cached_bytes = 0;
  /// What the device driver reports (cudaMemGetInfo); unset for the CPU.
  std::optional<DeviceMemoryInfo> device_memory;
  std::string device;

  /// A fixed-width table for terminals.
  std::string to_table() const;
  /// One JSON object (stable keys, no trailing newline).
  std::string to_json() const;
};

/// Builds the report for the graph's variables as the session holds them.
MemoryReport memory_report(const Session& session);

}  // namespace scopeflow
