#pragma once
// Per-thread graph-building state: the name scope, the variable-scope stack and its name counts,
// the control_dependencies blocks, and the guards that push and pop them, in entry order.

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "scopeflow/graph.h"
#include "scopeflow/scope.h"

namespace scopeflow {

enum class GuardKind { kNameScope, kVariableScope, kControlDependencies };

/// One open guard. What it restores lives here, not in the guard object, so that a guard left
/// out of order can still be unwound correctly when the guards entered after it are left.
struct GuardFrame {
  uint64_t id = 0;
  GuardKind kind = GuardKind::kNameScope;
  std::string description;          // "variable_scope 'outer/inner'", for error messages
  bool left = false;                // left out of order: popped with the guards above it
  std::string previous_name_scope;  // restored when popped
  // kVariableScope: TensorFlow's _pure_variable_scope restores the default-name counts from a
  // snapshot after entry by object, and resets the counts below the scope after entry by name.
  bool entered_by_object = false;
  std::string variable_scope_name;
  absl::flat_hash_map<std::string, int> saved_scope_counts;
};

/// One control_dependencies block.
struct ControlDependencyBlock {
  uint64_t guard_id = 0;
  bool clears = false;  // control_dependencies(std::nullopt): outer blocks do not apply inside
  std::vector<Node*> control_inputs;
  absl::flat_hash_set<const Node*> created;  // ops created inside (they already depend on it)
};

struct BuildContext {
  std::string name_scope;
  // The variable-scope stack, [0] the root. Shared: a handle or guard keeps its scope object,
  // as a TensorFlow VariableScope object outlives its `with` block.
  std::vector<std::shared_ptr<VariableScope>> variable_scopes{std::make_shared<VariableScope>()};
  absl::flat_hash_map<std::string, int> variable_scope_counts;  // full scope name -> entries
  std::vector<ControlDependencyBlock> control_dependencies;
  std::vector<GuardFrame> guards;
  std::string broken;       // set when a guard was left out of order: the error to throw
  size_t broken_depth = 0;  // the error clears once no more than this many guards are open
  std::string left_elsewhere;  // a guard was left on another thread: thrown once, then cleared
};

}  // namespace scopeflow
