#pragma once
// Losses and metrics built from the ops (tf.compat.v1.losses style, mean over the batch).

#include <string_view>

#include "scopeflow/graph.h"

namespace scopeflow::losses {

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
