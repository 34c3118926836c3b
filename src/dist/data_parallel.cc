// DataParallel: gradients, then a bucketed all-reduce (average) of each variable's one gradient
// buffer as CollectiveReduceV2 nodes of the graph, then the optimizer's updates of the averages.

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "ops/op_registry.h"
#include "scopeflow/dist.h"
#include "scopeflow/error.h"
#include "scopeflow/ops.h"

namespace scopeflow::dist {

DataParallel::DataParallel(train::Optimizer& optimizer, Communicator& communicator, DataParallelOptions options)
    : optimizer_(optimizer), communicator_(communicator), options_(options) {
  if (options_.bucket_bytes <= 0) {
    throw_invalid("DataParallel", "bucket_bytes must be positive, got ", options_.bucket_bytes);
  }
}

Node* DataParallel::minimize(Output loss, std::vector<Variable> var_list, std::string_view name) {
  if (train_op_ != nullptr) throw_invalid("DataParallel", "minimize was already called; wrap one loss per DataParallel");
  if (!loss.valid()) throw_invalid("DataParallel", "minimize needs a loss");
  Graph& graph = *loss.node->graph();
  gradients_ = optimizer_.compute_gradients(loss, std::move(var_list));
  for (const train::GradientAndVariable& gv : gradients_) {
    if (gv.gradient.dtype() != DType::kFloat32) {
      throw_error(absl::StatusCode::kUnimplemented, "DataParallel", "gradient of variable '", gv.variable.name(),
                  "' is ", dtype_name(gv.gradient.dtype()), "; the all-reduce averages float32 only");
    }
  }
  // Buckets in the reverse variable order: backward finishes the last layer's gradients first.
  buckets_.clear();
  int64_t bucket_bytes = 0;
  for (size_t k = gradients_.size(); k-- > 0;) {
    const int64_t elements = gradients_[k].variable.shape().num_elements();
    const int64_t bytes = elements * static_cast<int64_t>(sizeof(float));
    if (buckets_.empty() || bucket_bytes + bytes > options_.bucket_bytes) {
      buckets_.push_back({.first = k, .count = 0, .elements = 0});
      bucket_bytes = 0;
    }
    GradientBucket& bucket = buckets_.back();
    bucket.first = k;  // descending k: the bucket holds [first, first + count)
    ++bucket.count;
    bucket.elements += elements;
    bucket_bytes += bytes;
  }
  // The ranks' mean of each gradient is a CollectiveReduceV2 node of the graph, so the
  // all-reduce runs inside the step (on the CPU while the rest of backward computes) and the
  // exported GraphDef shows it. Instance keys are unique in the graph and equal on every rank.
  int64_t instance_key = 1;
  for (const auto& node : graph.nodes()) {
    if (node->op_def().id == OpId::kCollectiveReduceV2) ++instance_key;
  }
  std::vector<train::GradientAndVariable> averaged = gradients_;
  {
    NameScope scope = graph.name_scope("all_reduce");
    for (const GradientBucket& bucket : buckets_) {
      const int64_t bucket_key = instance_key;
      int64_t offset = 0;
      // Within a bucket in the order its values are laid out: descending variable index.
      for (size_t k = bucket.first + bucket.count; k-- > bucket.first;) {
        ops::AllReduceOptions options{.group_size = communicator_.world_size(), .group_key = 1,
                                      .instance_key = instance_key++, .timeout_seconds = 0,
                                      .bucket_key = bucket_key, .bucket_offset = offset,
                                      .bucket_elements = bucket.elements,
                                      .bucket_members = static_cast<int64_t>(bucket.count)};
        averaged[k].gradient = ops::all_reduce_mean(gradients_[k].gradient, options);
        offset += gradients_[k].variable.shape().num_elements();
      }
    }
  }
  train_op_ = optimizer_.apply_gradients(averaged, name);
  return train_op_;
}

absl::Status DataParallel::check_layout() {
  if (train_op_ == nullptr) {
    return absl::FailedPreconditionError("[DataParallel] check_layout before minimize: there are no buckets yet");
  }
  uint64_t hash = layout_hash(absl::StrCat("buckets ", options_.bucket_bytes, " ", buckets_.size()));
  for (const GradientBucket& bucket : buckets_) {
    hash = layout_hash(absl::StrCat("bucket ", bucket.count, " ", bucket.elements, "\n"), hash);
    for (size_t k = bucket.first; k < bucket.first + bucket.count; ++k) {
      const Variable& v = gradients_[k].variable;
      hash = layout_hash(absl::StrCat(to_absl(v.name()), "|", dtype_name(v.dtype()), "|", v.shape().to_string(), "\n"),
                         hash);
    }
  }
  absl::StatusOr<bool> same = communicator_.all_equal(hash);
  if (!same.ok()) return same.status();
  if (!*same) {
    return absl::FailedPreconditionError(absl::StrCat(
        "[DataParallel] the ranks' gradient layouts differ: rank ", communicator_.rank(), " has ", gradients_.size(),
        " gradients in ", buckets_.size(), " buckets of up to ", options_.bucket_bytes,
        " bytes; every rank must build the same model with the same bucket size"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Tensor>> DataParallel::step(Session& session, const FeedList& feeds,
                                                       std::span<const Output> fetches) {
  return step(session, feeds, fetches, RunOptions{}, nullptr);
}

absl::StatusOr<std::vector<Tensor>> DataParallel::step(Session& session, const FeedList& feeds,
                                                       std::span<const Output> fetches, const RunOptions& options,
                                                       RunStats* stats) {
  if (train_op_ == nullptr) throw_invalid("DataParallel", "step before minimize");
  if (session.communicator() != &communicator_) {
    if (session.communicator() != nullptr) {
      return absl::FailedPreconditionError(
          "[DataParallel] the session runs with another communicator than this DataParallel's");
    }
    session.set_communicator(&communicator_);
  }
  Node* const targets[] = {train_op_};
  try {
    return session.run(feeds, fetches, targets, options, stats);
  } catch (const Error& e) {
    // Communication failures come back as a status; anything else (bad feeds) stays an Error.
    if (std::string_view(e.what()).find("[dist]") == std::string_view::npos) throw;
    return e.status();
  }
}

int64_t DataParallel::allreduce_bytes_per_step() const {
  int64_t bytes = 0;
  for (const GradientBucket& bucket : buckets_) bytes += bucket.elements * static_cast<int64_t>(sizeof(float));
  return bytes;
}

}  // namespace scopeflow::dist
