// Saver, the `checkpoint` state file, latest_checkpoint and the one-tensor readers.

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "checkpoint/file_io.h"
#include "checkpoint/safetensors.h"
#include "checkpoint/tensor_bundle.h"
#include "ops/op_registry.h"
#include "proto/checkpoint_state.pb.h"
#include "scopeflow/checkpoint.h"
#include "scopeflow/error.h"

namespace scopeflow {

namespace {

namespace fs = std::filesystem;
using checkpoint::NamedTensor;

constexpr std::string_view kStateFileName = "checkpoint";
constexpr std::string_view kSafetensorsSuffix = ".safetensors";

std::string folder_of(const std::string& path) {
  const std::string parent = fs::path(path).parent_path().string();
  return parent.empty() ? std::string(".") : parent;
}

std::string state_file_path(const std::string& folder) { return (fs::path(folder) / kStateFileName).string(); }

// A path as the state file records it: relative to the folder when inside it.
std::string recorded_path(const std::string& folder, const std::string& path) {
  return folder_of(path) == folder ? fs::path(path).filename().string() : path;
}

std::string resolved_path(const std::string& folder, const std::string& recorded) {
  return fs::path(recorded).is_absolute() ? recorded : (fs::path(folder) / recorded).string();
}

absl::StatusOr<tfproto::CheckpointState> read_state(const std::string& folder) {
  absl::StatusOr<std::string> text = checkpoint::read_file(state_file_path(folder));
  if (!text.ok()) return text.status();
  tfproto::CheckpointState state;
  if (!google::protobuf::TextFormat::ParseFromString(*text, &state)) {
    return absl::DataLossError(absl::StrCat("[checkpoint] ", state_file_path(folder), " is not a valid checkpoint state"));
  }
  return state;
}

absl::Status write_state(const std::string& folder, const tfproto::CheckpointState& state) {
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(state, &text)) {
    return absl::InternalError("[checkpoint] cannot print the checkpoint state");
  }
  return checkpoint::write_file_atomically(state_file_path(folder), text);
}

bool is_checkpoint_complete(const std::string& path) {
  std::error_code error;
  if (fs::exists(checkpoint::bundle_index_path(path), error)) {
    return fs::exists(checkpoint::bundle_data_path(path), error);
  }
  return fs::is_regular_file(path, error);
}

void remove_checkpoint_files(const std::string& path) {
  std::error_code error;
  // Index first: a checkpoint without its index is invisible, one without its data is broken.
  fs::remove(checkpoint::bundle_index_path(path), error);
  fs::remove(checkpoint::bundle_data_path(path), error);
  if (path.ends_with(kSafetensorsSuffix)) fs::remove(path, error);
}

// Removes what an interrupted save of `prefix` left: temporary files, and data files whose
// index never appeared.
void remove_leftovers(const std::string& prefix) {
  const std::string folder = folder_of(prefix);
  const std::string base = fs::path(prefix).filename().string();
  std::error_code error;
  std::vector<fs::path> doomed;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(base) && !name.starts_with(std::string(kStateFileName))) continue;
    if (name.find(checkpoint::kTempMarker) != std::string::npos) {
      doomed.push_back(entry.path());
      continue;
    }
    constexpr std::string_view kDataSuffix = ".data-00000-of-00001";
    if (name.starts_with(base) && name.ends_with(kDataSuffix)) {
      const fs::path index = entry.path().parent_path() /
                             (name.substr(0, name.size() - kDataSuffix.size()) + ".index");
      if (!fs::exists(index, error)) doomed.push_back(entry.path());
    }
  }
  for (const fs::path& path : doomed) fs::remove(path, error);
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool is_random_op(const Node& node) {
  return node.op_def().stateful && node.find_attr("seed") != nullptr && node.find_attr("seed2") != nullptr;
}

int64_t int_attr(const Node& node, std::string_view name) {
  const AttrValue* value = node.find_attr(name);
  return value != nullptr && std::holds_alternative<int64_t>(*value) ? std::get<int64_t>(*value) : 0;
}

std::string describe(DType dtype, const Shape& shape) { return absl::StrCat(dtype_name(dtype), " ", shape.to_string()); }

}  // namespace

Saver::Saver(const Graph& graph, SaverOptions options) : graph_(graph), options_(std::move(options)) {
  std::set<std::string> seen;
  for (const Variable& v : options_.var_list) {
    if (!v.valid()) throw_invalid("Saver", "var_list holds an empty variable handle");
    if (v.node()->graph() != &graph_) throw_invalid("Saver", "variable '", v.name(), "' belongs to another graph");
    if (!seen.insert(v.name()).second) throw_invalid("Saver", "variable '", v.name(), "' is listed twice");
  }
  if (options_.max_to_keep < 0) throw_invalid("Saver", "max_to_keep must be >= 0, got ", options_.max_to_keep);
}

namespace {

std::vector<Variable> saved_variables(const Graph& graph, const std::vector<Variable>& var_list) {
  return var_list.empty() ? global_variables(graph) : var_list;
}

}  // namespace

absl::StatusOr<std::string> Saver::save(Session& session, const std::string& prefix, std::optional<int64_t> global_step) {
  if (prefix.empty()) return absl::InvalidArgumentError("[Saver.save] the checkpoint prefix is empty");
  if (&session.graph() != &graph_) return absl::InvalidArgumentError("[Saver.save] the session runs another graph");
  const std::string folder = folder_of(prefix);
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat("[Saver.save] cannot create the folder ", folder, ": ", error.message()));
  }
  remove_leftovers(prefix);

  std::vector<NamedTensor> tensors;
  bool step_is_variable = false;
  for (const Variable& v : saved_variables(graph_, options_.var_list)) {
    tensors.push_back({v.name(), session.to_host(session.variable_value(v))});
    step_is_variable = step_is_variable || v.name() == kGlobalStepKey;
  }
  if (global_step && !step_is_variable) tensors.push_back({std::string(kGlobalStepKey), Tensor::scalar<int64_t>(*global_step)});
  for (const auto& node : graph_.nodes()) {
    if (!is_random_op(*node)) continue;
    const std::vector<int64_t> state{int_attr(*node, "seed"), int_attr(*node, "seed2"),
                                     static_cast<int64_t>(session.node_executions(*node))};
    tensors.push_back({std::string(kRandomStateKeyPrefix) + node->name(), Tensor::from_vector<int64_t>(Shape{3}, state)});
  }

  std::string path = global_step ? absl::StrCat(prefix, "-", *global_step) : prefix;
  if (options_.format == CheckpointFormat::kSafetensors) {
    path += kSafetensorsSuffix;
    std::map<std::string, std::string> metadata{{"format", "scopeflow"}};
    if (global_step) metadata.emplace(kGlobalStepKey, absl::StrCat(*global_step));
    if (absl::Status s = checkpoint::write_safetensors(path, tensors, metadata); !s.ok()) return s;
  } else {
    // Saving over an existing checkpoint (the same step again): its index goes first, so that a
    // crash before the new index is in place leaves no index over a replaced data file.
    std::error_code remove_error;
    if (fs::remove(checkpoint::bundle_index_path(path), remove_error)) {
      if (absl::Status s = checkpoint::sync_directory(folder); !s.ok()) return s;
    }
    if (absl::Status s = checkpoint::write_tensor_bundle(path, tensors); !s.ok()) return s;
  }

  // The state file of the folder: adopt what an earlier run recorded, so that max_to_keep also
  // covers checkpoints written before this Saver existed. Worked on copies, kept only once
  // the state file is written.
  std::vector<std::string> kept = last_checkpoints_;
  std::vector<double> timestamps = last_timestamps_;
  double preserved = last_preserved_timestamp_;
  if (kept.empty()) {
    if (absl::StatusOr<tfproto::CheckpointState> state = read_state(folder); state.ok()) {
      for (int i = 0; i < state->all_model_checkpoint_paths_size(); ++i) {
        const std::string old = resolved_path(folder, state->all_model_checkpoint_paths(i));
        if (old == path || !is_checkpoint_complete(old)) continue;
        kept.push_back(old);
        timestamps.push_back(i < state->all_model_checkpoint_timestamps_size() ? state->all_model_checkpoint_timestamps(i)
                                                                               : now_seconds());
      }
      preserved = state->last_preserved_timestamp();
    }
  }
  if (preserved == 0.0) preserved = now_seconds();
  for (size_t i = 0; i < kept.size(); ++i) {
    if (kept[i] == path) {
      kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(i));
      timestamps.erase(timestamps.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  }
  kept.push_back(path);
  timestamps.push_back(now_seconds());
  std::vector<std::string> doomed;
  while (options_.max_to_keep > 0 && kept.size() > static_cast<size_t>(options_.max_to_keep)) {
    if (timestamps.front() - preserved > options_.keep_checkpoint_every_n_hours * 3600.0) {
      preserved = timestamps.front();  // kept on disk for good, no longer listed
    } else {
      doomed.push_back(kept.front());
    }
    kept.erase(kept.begin());
    timestamps.erase(timestamps.begin());
  }
  tfproto::CheckpointState state;
  state.set_model_checkpoint_path(recorded_path(folder, path));
  for (size_t i = 0; i < kept.size(); ++i) {
    state.add_all_model_checkpoint_paths(recorded_path(folder, kept[i]));
    state.add_all_model_checkpoint_timestamps(timestamps[i]);
  }
  state.set_last_preserved_timestamp(preserved);
  if (absl::Status s = write_state(folder, state); !s.ok()) return s;
  last_checkpoints_ = std::move(kept);
  last_timestamps_ = std::move(timestamps);
  last_preserved_timestamp_ = preserved;
  // Only now that the new checkpoint is complete and recorded.
  for (const std::string& old : doomed) remove_checkpoint_files(old);
  if (!doomed.empty()) (void)checkpoint::sync_directory(folder);
  return path;
}

absl::StatusOr<RestoredCheckpoint> Saver::restore(Session& session, const std::string& path) {
  if (&session.graph() != &graph_) return absl::InvalidArgumentError("[Saver.restore] the session runs another graph");
  absl::StatusOr<std::unique_ptr<checkpoint::CheckpointReader>> reader = checkpoint::open_checkpoint(path);
  if (!reader.ok()) return reader.status();
  std::map<std::string, const checkpoint::StoredTensor*> stored;
  for (const checkpoint::StoredTensor& info : (*reader)->tensors()) stored.emplace(info.name, &info);

  const std::vector<Variable> variables = saved_variables(graph_, options_.var_list);
  std::map<std::string, Variable> wanted;
  for (const Variable& v : variables) wanted.emplace(v.name(), v);
  std::vector<std::string> missing, mismatched, extra, sharing;
  for (const auto& [name, v] : wanted) {
    auto it = stored.find(name);
    if (it == stored.end()) {
      missing.push_back(absl::StrCat(name, " (", describe(v.dtype(), v.shape()), ")"));
    } else if (it->second->dtype != v.dtype() || it->second->shape != v.shape()) {
      mismatched.push_back(absl::StrCat(name, ": checkpoint ", describe(it->second->dtype, it->second->shape),
                                        ", graph ", describe(v.dtype(), v.shape())));
    }
  }
  for (const auto& [name, info] : stored) {
    if (wanted.contains(name) || name.starts_with(kRandomStateKeyPrefix)) continue;
    if (name == kGlobalStepKey) continue;  // the step, when the graph has no such variable
    extra.push_back(absl::StrCat(name, " (", describe(info->dtype, info->shape), ")"));
  }
  // A variable one graph shares and the other does not shows as a name in one of them only,
  // beside a name that differs in its outermost scope: name both.
  auto same_below_scope = [](std::string_view a, std::string_view b) {
    const size_t slash_a = a.find('/'), slash_b = b.find('/');
    return slash_a != std::string_view::npos && slash_b != std::string_view::npos && a != b &&
           a.substr(slash_a) == b.substr(slash_b);
  };
  for (const auto& [name, info] : stored) {
    if (wanted.contains(name) || name.starts_with(kRandomStateKeyPrefix) || name == kGlobalStepKey) continue;
    for (const auto& [graph_name, v] : wanted) {
      if (stored.contains(graph_name) && same_below_scope(name, graph_name) && v.dtype() == info->dtype &&
          v.shape() == info->shape) {
        sharing.push_back(absl::StrCat("the checkpoint holds both ", graph_name, " and ", name,
                                       " where this graph shares one variable ", graph_name));
        break;
      }
    }
  }
  for (const auto& [graph_name, v] : wanted) {
    if (stored.contains(graph_name)) continue;
    for (const auto& [name, info] : stored) {
      if (wanted.contains(name) && same_below_scope(name, graph_name) && v.dtype() == info->dtype &&
          v.shape() == info->shape) {
        sharing.push_back(absl::StrCat("this graph has both ", name, " and ", graph_name,
                                       " where the checkpoint holds one shared variable ", name));
        break;
      }
    }
  }
  if (!missing.empty() || !mismatched.empty() || !extra.empty()) {
    std::string message = absl::StrCat("[Saver.restore] ", path, " does not match the graph:");
    if (!missing.empty()) absl::StrAppend(&message, " missing from the checkpoint: ", absl::StrJoin(missing, ", "), ";");
    if (!extra.empty()) absl::StrAppend(&message, " in the checkpoint but not the graph: ", absl::StrJoin(extra, ", "), ";");
    if (!mismatched.empty()) absl::StrAppend(&message, " dtype or shape differs: ", absl::StrJoin(mismatched, "; "), ";");
    if (!sharing.empty()) absl::StrAppend(&message, " ", absl::StrJoin(sharing, "; "));
    return absl::InvalidArgumentError(message);
  }

  // Read (and verify) everything before assigning anything.
  std::vector<std::pair<Variable, Tensor>> values;
  for (const auto& [name, v] : wanted) {
    absl::StatusOr<Tensor> value = (*reader)->read(name);
    if (!value.ok()) return value.status();
    values.emplace_back(v, *std::move(value));
  }
  std::vector<std::pair<const Node*, uint64_t>> counters;
  for (const auto& [name, info] : stored) {
    if (!name.starts_with(kRandomStateKeyPrefix)) continue;
    const std::string op_name = name.substr(kRandomStateKeyPrefix.size());
    const Node* node = graph_.find_node(op_name);
    if (node == nullptr || !is_random_op(*node)) {
      return absl::InvalidArgumentError(absl::StrCat("[Saver.restore] ", path, " holds the generator state of random op '",
                                                     op_name, "', which the graph lacks"));
    }
    if (info->dtype != DType::kInt64 || info->shape != Shape{3}) {
      return absl::DataLossError(absl::StrCat("[Saver.restore] ", path, ": ", name, " is not an int64 (3) vector"));
    }
    absl::StatusOr<Tensor> value = (*reader)->read(name);
    if (!value.ok()) return value.status();
    const std::vector<int64_t> state = value->to_vector<int64_t>();
    if (state[0] != int_attr(*node, "seed") || state[1] != int_attr(*node, "seed2")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "[Saver.restore] random op '", op_name, "' was saved with seeds (", state[0], ", ", state[1],
          ") but has (", int_attr(*node, "seed"), ", ", int_attr(*node, "seed2"), "): it would not draw the same numbers"));
    }
    if (state[2] < 0) return absl::DataLossError(absl::StrCat("[Saver.restore] ", path, ": ", name, " has a negative count"));
    counters.emplace_back(node, static_cast<uint64_t>(state[2]));
  }
  RestoredCheckpoint restored;
  if (auto it = stored.find(std::string(kGlobalStepKey)); it != stored.end() && it->second->shape.is_scalar() &&
                                                           is_index_dtype(it->second->dtype)) {
    absl::StatusOr<Tensor> step = (*reader)->read(std::string(kGlobalStepKey));
    if (!step.ok()) return step.status();
    restored.global_step = it->second->dtype == DType::kInt64 ? step->to_vector<int64_t>()[0]
                                                              : int64_t{step->to_vector<int32_t>()[0]};
  }
  for (const auto& [v, value] : values) session.assign_variable(v, value);
  for (const auto& [node, executions] : counters) session.set_node_executions(*node, executions);
  return restored;
}

absl::StatusOr<std::string> latest_checkpoint(const std::string& directory) {
  absl::StatusOr<tfproto::CheckpointState> state = read_state(directory);
  if (!state.ok()) return state.status();
  if (state->model_checkpoint_path().empty()) {
    return absl::NotFoundError(absl::StrCat("[latest_checkpoint] ", state_file_path(directory), " names no checkpoint"));
  }
  const std::string path = resolved_path(directory, state->model_checkpoint_path());
  if (is_checkpoint_complete(path)) return path;
  // Its files are gone (a save over it was interrupted): the newest listed one that is complete.
  for (int i = state->all_model_checkpoint_paths_size() - 1; i >= 0; --i) {
    const std::string older = resolved_path(directory, state->all_model_checkpoint_paths(i));
    if (is_checkpoint_complete(older)) return older;
  }
  return absl::NotFoundError(absl::StrCat("[latest_checkpoint] the newest checkpoint ", path,
                                          " has no files, nor has any older one listed in ", state_file_path(directory)));
}

absl::StatusOr<std::vector<CheckpointTensorInfo>> list_variables(const std::string& path) {
  absl::StatusOr<std::unique_ptr<checkpoint::CheckpointReader>> reader = checkpoint::open_checkpoint(path);
  if (!reader.ok()) return reader.status();
  std::vector<CheckpointTensorInfo> infos;
  for (const checkpoint::StoredTensor& info : (*reader)->tensors()) infos.push_back({info.name, info.dtype, info.shape});
  return infos;
}

absl::StatusOr<Tensor> load_variable(const std::string& path, std::string_view name) {
  absl::StatusOr<std::unique_ptr<checkpoint::CheckpointReader>> reader = checkpoint::open_checkpoint(path);
  if (!reader.ok()) return reader.status();
  return (*reader)->read(std::string(name));
}

absl::StatusOr<std::vector<std::string>> init_from_checkpoint(Session& session, const std::string& path,
                                                              std::span<const Variable> variables) {
  absl::StatusOr<std::unique_ptr<checkpoint::CheckpointReader>> reader = checkpoint::open_checkpoint(path);
  if (!reader.ok()) return reader.status();
  std::map<std::string, const checkpoint::StoredTensor*> stored;
  for (const checkpoint::StoredTensor& info : (*reader)->tensors()) stored.emplace(info.name, &info);
  std::vector<std::string> mismatched;
  std::vector<std::pair<Variable, Tensor>> values;
  for (const Variable& v : variables) {
    auto it = stored.find(v.name());
    if (it == stored.end()) continue;
    if (it->second->dtype != v.dtype() || it->second->shape != v.shape()) {
      mismatched.push_back(absl::StrCat(v.name(), ": checkpoint ", describe(it->second->dtype, it->second->shape),
                                        ", graph ", describe(v.dtype(), v.shape())));
      continue;
    }
    absl::StatusOr<Tensor> value = (*reader)->read(v.name());
    if (!value.ok()) return value.status();
    values.emplace_back(v, *std::move(value));
  }
  if (!mismatched.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("[init_from_checkpoint] ", path, ": dtype or shape differs: ",
                                                   absl::StrJoin(mismatched, "; ")));
  }
  std::vector<std::string> loaded;
  for (const auto& [v, value] : values) {
    session.assign_variable(v, value);
    loaded.push_back(v.name());
  }
  return loaded;
}

}  // namespace scopeflow
