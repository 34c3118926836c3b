#pragma once
// Losses and metrics built from the ops (tf.compat.v1.losses style, mean over the batch).

#include <string_view>

#include <vector>

#include "scopeflow/graph.h"

namespace scopeflow::losses {

/// The REGULARIZATION_LOSSES collection, filtered by `scope` as get_collection does
/// (tf.losses.get_regularization_losses).
std::vector<Output> regularization_losses(const Graph& graph, std::string_view scope = "");
/// Their sum (AddN), or a float32 0 when there are none (tf.losses.get_regularization_loss).
Output regularization_loss(Graph& graph, std::string_view scope = "",
                           std::string_view name = "total_regularization_loss");

/// mean((predictions - labels)^2) over all elements; shapes must match.
Output mean_squared_error(Output labels, Output predictions, std::string_view scope = "mean_squared_error");
/// Mean over the batch of SoftmaxCrossEntropyWithLogits(logits, labels) with (batch, classes)
/// label distributions.
Output softmax_cross_entropy(Output labels, Output logits, std::string_view scope = "softmax_cross_entropy_loss");
/// Mean over the batch of SparseSoftmaxCrossEntropyWithLogits with (batch,) int32/int64 labels.
Output sparse_softmax_cross_entropy(Output labels, Output logits,
                                   std::string_view scope = "sparse_softmax_cross_entropy_loss");

}  // namespace scopeflow::losses

namespace scopeflow::metrics {

/// Fraction of rows whose argmax of `logits` (batch, classes) equals `labels` (batch,) int32/int64,
/// as a float32 scalar.
Output accuracy(Output labels, Output logits, std::string_view scope = "accuracy");

}  // namespace scopeflow::metrics
