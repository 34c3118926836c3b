#pragma once
// Checkpoints: save and restore a session's variables (with optimizer slots, beta powers, the
// step and the random ops' generator counters) as TensorFlow V2 checkpoints, which TensorFlow's
// tf.train.load_checkpoint and tf.compat.v1.train.Saver read, or as safetensors files. Every
// file is written durably and atomically; a crash never breaks the newest complete checkpoint.
//
// Errors of files and contents (missing, cut short, corrupt, mismatched) are statuses; misuse
// of the API with model objects (a variable of another graph) throws Error as elsewhere.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scopeflow/graph.h"
#include "scopeflow/scope.h"
#include "scopeflow/session.h"
#include "scopeflow/tensor.h"

namespace scopeflow {

/// File format of a checkpoint.
enum class CheckpointFormat {
  /// TensorFlow V2: "<path>.index" + "<path>.data-00000-of-00001".
  kTensorFlow,
  /// One safetensors file "<path>" (save() appends ".safetensors").
  kSafetensors,
};

/// Key of the step counter in every checkpoint (an int64 scalar), as TensorFlow names it.
inline constexpr std::string_view kGlobalStepKey = "global_step";
/// Prefix of the keys holding a random op's generator state: "<prefix><op name>" is an int64
/// vector (seed, seed2, executions so far). TensorFlow's Saver ignores keys it does not restore.
inline constexpr std::string_view kRandomStateKeyPrefix = "_scopeflow_random_state/";

struct SaverOptions {
  /// Variables to save and restore; empty: every variable of the graph (with optimizer slots
  /// and beta powers, which are graph variables named as TensorFlow names them).
  std::vector<Variable> var_list{};
  /// Newest checkpoints kept by save(); older ones are deleted once a new one is complete.
  /// 0: keep all.
  int max_to_keep = 5;
  /// Besides the newest max_to_keep, keep one checkpoint per this many hours for good.
  double keep_checkpoint_every_n_hours = 10000.0;
  CheckpointFormat format = CheckpointFormat::kTensorFlow;
};

/// A tensor stored in a checkpoint.
struct CheckpointTensorInfo {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape{};
};

/// What restore() read besides the variables.
struct RestoredCheckpoint {
  /// The saved step; nullopt when the checkpoint has none (e.g. written by TensorFlow without one).
  std::optional<int64_t> global_step{};
};

/// tf.compat.v1.train.Saver for scopeflow graphs. Thread-compatible: one save at a time.
class Saver {
 public:
  /// Throws Error when var_list holds a variable of another graph or one twice.
  explicit Saver(const Graph& graph, SaverOptions options = {});

  /// Saves the variables' current values to "<prefix>-<global_step>" (or "<prefix>" without a
  /// step), records it in "<folder>/checkpoint" and deletes checkpoints beyond max_to_keep.
  /// Returns the checkpoint's path (with ".safetensors" for that format). Leftovers of an
  /// interrupted earlier save of the same prefix are removed first.
  absl::StatusOr<std::string> save(Session& session, const std::string& prefix,
                                   std::optional<int64_t> global_step = std::nullopt);

  /// Loads every variable of var_list from `path` (a path save() returned, either format) into
  /// the session, and the random ops' generator state when saved. Nothing is assigned unless
  /// every name, dtype and shape matches and every tensor reads back intact; the error lists
  /// what is missing, extra or mismatched.
  absl::StatusOr<RestoredCheckpoint> restore(Session& session, const std::string& path);

  /// The checkpoints save() keeps, oldest first (as in the `checkpoint` file).
  const std::vector<std::string>& last_checkpoints() const { return last_checkpoints_; }

 private:
  const Graph& graph_;
  SaverOptions options_;
  std::vector<std::string> last_checkpoints_;
  std::vector<double> last_timestamps_;
  double last_preserved_timestamp_ = 0.0;
};

/// The newest checkpoint recorded in "<directory>/checkpoint" (relative paths joined with the
/// directory), as tf.train.latest_checkpoint; when its files are gone, the newest listed one
/// whose files exist. NotFound when there is none.
absl::StatusOr<std::string> latest_checkpoint(const std::string& directory);

/// Every tensor of the checkpoint at `path` (either format), sorted by name.
absl::StatusOr<std::vector<CheckpointTensorInfo>> list_variables(const std::string& path);

/// The value of tensor `name` of the checkpoint at `path`, as a host tensor (checksum verified).
absl::StatusOr<Tensor> load_variable(const std::string& path, std::string_view name);

/// Loads the variables of `variables` that the checkpoint at `path` holds with the same name,
/// dtype and shape into the session (e.g. initial values written by TensorFlow); a variable it
/// holds with another dtype or shape is an error, one it lacks is left as it is. Returns the
/// names of the variables loaded.
absl::StatusOr<std::vector<std::string>> init_from_checkpoint(Session& session, const std::string& path,
                                                              std::span<const Variable> variables);

}  // namespace scopeflow
