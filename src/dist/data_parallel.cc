// DataParallel: gradients, then a bucketed all-reduce (average) of each variable's one gradient
// buffer, then the optimizer's updates fed with the averages.

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "scopeflow/dist.h"
#include "scopeflow/error.h"

namespace scopeflow::dist {

DataParallel::DataParallel(train::Optimizer& optimizer, Communicator& communicator, DataParallelOptions options)
    : optimizer_(optimizer), communicator_(communicator), options_(options) {
  if (options_.bucket_bytes <= 0) {
    throw_invalid("DataParallel", "bucket_bytes must be positive, got ", options_.bucket_bytes);
  }
}

Node* DataParallel::minimize(Output loss, std::vector<Variable> var_list, std::string_view name) {
  if (train_op_ != nullptr) throw_invalid("DataParallel", "minimize was already called; wrap one loss per DataParallel");
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
  bucket_buffers_.clear();
  for (const GradientBucket& bucket : buckets_) {
    bucket_buffers_.push_back(Tensor::zeros(DType::kFloat32, Shape{bucket.elements}));
  }
  gradient_outputs_.clear();
  for (const train::GradientAndVariable& gv : gradients_) gradient_outputs_.push_back(gv.gradient);
  train_op_ = optimizer_.apply_gradients(gradients_, name);
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
  std::vector<Output> wanted(fetches.begin(), fetches.end());
  wanted.insert(wanted.end(), gradient_outputs_.begin(), gradient_outputs_.end());
  std::vector<Tensor> results = session.run(feeds, wanted, std::span<Node* const>(), options, stats);
  const size_t num_fetches = fetches.size();

  FeedList averaged;
  averaged.reserve(gradients_.size());
  // Fixed order on every rank: bucket 0 (the last variables) first.
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const GradientBucket& bucket = buckets_[b];
    Tensor& flat = bucket_buffers_[b];  // (bucket.elements,)
    float* out = flat.data<float>();
    int64_t offset = 0;
    for (size_t k = bucket.first; k < bucket.first + bucket.count; ++k) {
      const Tensor grad = session.to_host(results[num_fetches + k]);
      std::memcpy(out + offset, grad.raw_data(), grad.byte_size());
      offset += grad.num_elements();
    }
    if (absl::Status status = communicator_.allreduce_average(std::span<float>(out, static_cast<size_t>(offset)));
        !status.ok()) {
      return status;
    }
    offset = 0;
    for (size_t k = bucket.first; k < bucket.first + bucket.count; ++k) {
      const Variable& v = gradients_[k].variable;
      const size_t bytes = static_cast<size_t>(v.shape().num_elements()) * sizeof(float);
      // A view of the bucket: the averaged gradient is fed without another copy.
      auto view = std::make_shared<Buffer>(flat.buffer(), static_cast<size_t>(offset) * sizeof(float), bytes);
      averaged.emplace_back(gradient_outputs_[k], Tensor(DType::kFloat32, v.shape(), std::move(view)));
      offset += v.shape().num_elements();
    }
  }
  Node* const targets[] = {train_op_};
  session.run(averaged, std::span<const Output>(), targets);
  results.resize(num_fetches);
  return results;
}

int64_t DataParallel::allreduce_bytes_per_step() const {
  int64_t bytes = 0;
  for (const GradientBucket& bucket : buckets_) bytes += bucket.elements * static_cast<int64_t>(sizeof(float));
  return bytes;
}

}  // namespace scopeflow::dist
