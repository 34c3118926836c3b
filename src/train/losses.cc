#include "scopeflow/losses.h"

#include "scopeflow/error.h"
#include "scopeflow/ops.h"
#include "scopeflow/scope.h"

namespace scopeflow {

namespace {

void check_pair(std::string_view where, const Output& labels, const Output& other, std::string_view other_role) {
  if (!labels.valid()) throw_invalid(where, "labels is a null output");
  if (!other.valid()) throw_invalid(where, other_role, " is a null output");
  if (labels.graph() != other.graph()) throw_invalid(where, "labels and ", other_role, " belong to different graphs");
}

void check_sparse(std::string_view where, const Output& labels, const Output& logits) {
  check_pair(where, labels, logits, "logits");
  if (logits.shape().rank() != 2) throw_invalid(where, "logits must be (batch, classes), got ", logits.shape().to_string());
  if (labels.dtype() != DType::kInt32 && labels.dtype() != DType::kInt64) {
    throw_invalid(where, "labels must be int32 or int64 class indices, got ", dtype_name(labels.dtype()));
  }
  if (labels.shape() != Shape{logits.shape().dim(0)}) {
    throw_invalid(where, "labels must have shape (", logits.shape().dim(0), ",) to match logits ",
                  logits.shape().to_string(), ", got ", labels.shape().to_string());
  }
}

}  // namespace

namespace losses {

std::vector<Output> regularization_losses(const Graph& graph, std::string_view scope) {
  return get_collection_outputs(graph, collection_keys::kRegularizationLosses, scope);
}

Output regularization_loss(Graph& graph, std::string_view scope, std::string_view name) {
  std::vector<Output> losses = regularization_losses(graph, scope);
  if (losses.empty()) return ops::scalar(graph, 0.0f, name);
  return ops::add_n(std::move(losses), name);
}

Output mean_squared_error(Output labels, Output predictions, std::string_view scope) {
  constexpr std::string_view kWhere = "mean_squared_error";
  check_pair(kWhere, labels, predictions, "predictions");
  if (labels.shape() != predictions.shape() || labels.dtype() != predictions.dtype()) {
    throw_invalid(kWhere, "labels ", dtype_name(labels.dtype()), " ", labels.shape().to_string(),
                  " and predictions ", dtype_name(predictions.dtype()), " ", predictions.shape().to_string(),
                  " must have one dtype and shape");
  }
  Graph& graph = *labels.graph();
  NameScope name_scope = graph.name_scope(scope);
  return ops::reduce_mean(ops::square(ops::sub(predictions, labels)), std::nullopt, false, "value");
}

Output softmax_cross_entropy(Output labels, Output logits, std::string_view scope) {
  constexpr std::string_view kWhere = "softmax_cross_entropy";
  check_pair(kWhere, labels, logits, "logits");
  Graph& graph = *labels.graph();
  NameScope name_scope = graph.name_scope(scope);
  ops::CrossEntropy xent = ops::softmax_cross_entropy_with_logits(logits, labels);
  return ops::reduce_mean(xent.loss, std::nullopt, false, "value");
}

Output sparse_softmax_cross_entropy(Output labels, Output logits, std::string_view scope) {
  check_sparse("sparse_softmax_cross_entropy", labels, logits);
  Graph& graph = *labels.graph();
  NameScope name_scope = graph.name_scope(scope);
  ops::CrossEntropy xent = ops::sparse_softmax_cross_entropy_with_logits(logits, labels);
  return ops::reduce_mean(xent.loss, std::nullopt, false, "value");
}

}  // namespace losses

namespace metrics {

Output accuracy(Output labels, Output logits, std::string_view scope) {
  check_sparse("accuracy", labels, logits);
  Graph& graph = *labels.graph();
  NameScope name_scope = graph.name_scope(scope);
  Output predicted = ops::argmax(logits, 1, labels.dtype());
  Output correct = ops::cast(ops::equal(predicted, labels), DType::kFloat32);
  return ops::reduce_mean(correct, std::nullopt, false, "value");
}

}  // namespace metrics
}  // namespace scopeflow
