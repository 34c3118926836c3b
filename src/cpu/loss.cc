// Row-wise kernels over the last dimension: BiasAddGrad, ArgMax, LogSoftmax and the two
// softmax cross-entropy losses. Sums accumulate in double, as in the reductions.

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/cpu_kernels.h"
#include "ops/op_util.h"
#include "scopeflow/error.h"

namespace scopeflow::cpu {

namespace {

// Writes log_softmax of one row; stable through the row maximum.
void log_softmax_row(const float* x, int64_t classes, float* out) {
  if (classes == 0) return;  // an empty row has no maximum
  const float max_value = *std::max_element(x, x + classes);
  double total = 0.0;
  for (int64_t c = 0; c < classes; ++c) total += std::exp(static_cast<double>(x[c] - max_value));
  const double log_total = std::log(total);
  for (int64_t c = 0; c < classes; ++c) {
    out[c] = static_cast<float>(static_cast<double>(x[c] - max_value) - log_total);
  }
}

template <typename Index>
void arg_max_typed(const Tensor& in, int64_t axis, Tensor& out) {
  const auto [outer, extent, inner] = op_util::split_at_axis(in.shape(), axis);
  const float* x = in.data<float>();
  Index* dst = out.data<Index>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const float* base = x + o * extent * inner + i;
      int64_t best = 0;
      // NaN compares false, so the first NaN-free maximum wins, as in TensorFlow's CPU kernel.
      for (int64_t k = 1; k < extent; ++k) {
        if (base[k * inner] > base[best * inner]) best = k;
      }
      dst[o * inner + i] = static_cast<Index>(best);
    }
  }
}

template <typename Label>
void sparse_xent_typed(KernelContext& ctx) {
  const Tensor& logits = ctx.inputs[0];
  const Label* labels = ctx.inputs[1].data<Label>();
  const int64_t batch = logits.shape().dim(0);
  const int64_t classes = logits.shape().dim(1);
  // Validate every label before writing anything (TensorFlow's message, with the node name).
  for (int64_t r = 0; r < batch; ++r) {
    if (labels[r] < 0 || static_cast<int64_t>(labels[r]) >= classes) {
      throw_invalid("sparse_softmax_cross_entropy_with_logits", "node '", ctx.node.name(),
                    "': received a label value of ", static_cast<int64_t>(labels[r]),
                    " (example ", r, ") which is outside the valid range of [0, ", classes, ")");
    }
  }
  const float* x = logits.data<float>();
  float* loss = ctx.outputs[0].data<float>();
  float* backprop = ctx.outputs[1].data<float>();
  for (int64_t r = 0; r < batch; ++r) {
    float* row = backprop + r * classes;
    log_softmax_row(x + r * classes, classes, row);
    const int64_t label = static_cast<int64_t>(labels[r]);
    loss[r] = -row[label];
    for (int64_t c = 0; c < classes; ++c) row[c] = std::exp(row[c]) - (c == label ? 1.0f : 0.0f);
  }
}

}  // namespace

void bias_add_grad(KernelContext& ctx) {
  const Tensor& grad = ctx.inputs[0];
  const int64_t channels = grad.shape().dims().back();
  float* out = ctx.outputs[0].data<float>();
  if (channels == 0) return;
  const int64_t rows = grad.num_elements() / channels;
  std::vector<double> acc(static_cast<size_t>(channels), 0.0);
  const float* g = grad.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) acc[static_cast<size_t>(c)] += g[r * channels + c];
  }
  for (int64_t c = 0; c < channels; ++c) out[c] = static_cast<float>(acc[static_cast<size_t>(c)]);
}

void arg_max(KernelContext& ctx) {
  const Tensor& in = ctx.inputs[0];
  const int64_t axis = ctx.attr<AxesAttrs>().axes.at(0);
  Tensor& out = ctx.outputs[0];
  dispatch_index_dtype(out.dtype(), [&]<class Index>() { arg_max_typed<Index>(in, axis, out); });
}

void log_softmax(KernelContext& ctx) {
  const Tensor& in = ctx.inputs[0];
  const int64_t classes = in.shape().dims().back();
  if (classes == 0) return;
  const int64_t rows = in.num_elements() / classes;
  const float* x = in.data<float>();
  float* y = ctx.outputs[0].data<float>();
  for (int64_t r = 0; r < rows; ++r) log_softmax_row(x + r * classes, classes, y + r * classes);
}

void softmax_cross_entropy(KernelContext& ctx) {
  const Tensor& logits = ctx.inputs[0];
  const float* labels = ctx.inputs[1].data<float>();
  const int64_t batch = logits.shape().dim(0);
  const int64_t classes = logits.shape().dim(1);
  const float* x = logits.data<float>();
  float* loss = ctx.outputs[0].data<float>();
  float* backprop = ctx.outputs[1].data<float>();
  for (int64_t r = 0; r < batch; ++r) {
    float* row = backprop + r * classes;
    const float* label_row = labels + r * classes;
    log_softmax_row(x + r * classes, classes, row);
    double total = 0.0;
    for (int64_t c = 0; c < classes; ++c) total -= static_cast<double>(label_row[c]) * row[c];
    loss[r] = static_cast<float>(total);
    for (int64_t c = 0; c < classes; ++c) row[c] = std::exp(row[c]) - label_row[c];
  }
}

void sparse_softmax_cross_entropy(KernelContext& ctx) {
  dispatch_index_dtype(ctx.inputs[1].dtype(), [&]<class Label>() { sparse_xent_typed<Label>(ctx); });
}

}  // namespace scopeflow::cpu
