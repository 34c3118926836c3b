// CPU reduction family: Sum and Mean over constant axes, BiasAddGrad (a sum over all but the
// last dimension) and ArgMax; sums accumulate in double. And their rows of the CPU kernel table.

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/kernel_rows.h"
#include "ops/op_util.h"

namespace scopeflow::cpu {

namespace {

// Sums over the reduced axes, accumulating in double. Returns the number of summed elements.
int64_t reduce_sum_into(KernelContext& ctx) {
  const Tensor& in = ctx.inputs[0];
  Tensor& out = ctx.outputs[0];
  const Shape& shape = in.shape();
  const int rank = shape.rank();
  std::vector<int64_t> axes;
  for (int64_t axis : ctx.attr<AxesAttrs>().axes) axes.push_back(axis);
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  for (int64_t axis : axes) reduced[static_cast<size_t>(axis)] = true;

  // Output strides in the input's index space: 0 along reduced axes.
  std::vector<int64_t> out_strides(static_cast<size_t>(rank), 0);
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    const size_t du = static_cast<size_t>(d);
    if (!reduced[du]) {
      out_strides[du] = stride;
      stride *= shape.dims()[du];
    }
  }
  const int64_t out_n = out.num_elements();
  const int64_t in_n = in.num_elements();
  const int64_t count = out_n == 0 ? 0 : in_n / std::max<int64_t>(out_n, 1);
  std::vector<double> acc(static_cast<size_t>(out_n), 0.0);
  const float* src = in.data<float>();
  if (rank == 0) {
    if (in_n > 0) acc[0] = src[0];
  } else if (in_n > 0) {
    const int64_t inner = shape.dims().back();
    const int64_t inner_stride = out_strides.back();
    std::vector<int64_t> index(static_cast<size_t>(rank), 0);
    int64_t out_offset = 0;
    for (int64_t base = 0; base < in_n; base += inner) {
      for (int64_t j = 0; j < inner; ++j) acc[static_cast<size_t>(out_offset + j * inner_stride)] += src[base + j];
      for (int d = rank - 2; d >= 0; --d) {
        const size_t du = static_cast<size_t>(d);
        ++index[du];
        out_offset += out_strides[du];
        if (index[du] < shape.dims()[du]) break;
        out_offset -= out_strides[du] * index[du];
        index[du] = 0;
      }
    }
  }
  float* dst = out.data<float>();
  for (int64_t i = 0; i < out_n; ++i) dst[i] = static_cast<float>(acc[static_cast<size_t>(i)]);
  return count;
}

void sum(KernelContext& ctx) { reduce_sum_into(ctx); }

void mean(KernelContext& ctx) {
  const int64_t count = reduce_sum_into(ctx);
  float* dst = ctx.outputs[0].data<float>();
  const int64_t n = ctx.outputs[0].num_elements();
  // Mean over zero elements is NaN, as in TensorFlow.
  const float scale = count == 0 ? std::numeric_limits<float>::quiet_NaN()
                                 : static_cast<float>(1.0 / static_cast<double>(count));
  for (int64_t i = 0; i < n; ++i) dst[i] = count == 0 ? scale : dst[i] * scale;
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

// The column sums of the gradient, rounded to float once; added to out's values when `add`
// (a contribution to a sum summed in place: the same float the AddN would have added).
void bias_add_grad_into(const Tensor& grad, float* out, bool add) {
  const int64_t channels = grad.shape().dims().back();
  if (channels == 0) return;
  const int64_t rows = grad.num_elements() / channels;
  std::vector<double> acc(static_cast<size_t>(channels), 0.0);
  const float* g = grad.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) acc[static_cast<size_t>(c)] += g[r * channels + c];
  }
  for (int64_t c = 0; c < channels; ++c) {
    const float column = static_cast<float>(acc[static_cast<size_t>(c)]);
    out[c] = add ? out[c] + column : column;
  }
}

void bias_add_grad(KernelContext& ctx) { bias_add_grad_into(ctx.inputs[0], ctx.outputs[0].data<float>(), false); }

// A BiasAddGrad adding into a sum (inputs gradient, sum; output 0 is the sum's buffer).
class AccumulatingBiasAddGrad final : public PreparedCpuKernel {
 public:
  std::string_view run(KernelContext& ctx) const override {
    bias_add_grad_into(ctx.inputs[0], ctx.outputs[0].data<float>(), true);
    return "column sums added into the sum";
  }
};

std::unique_ptr<PreparedCpuKernel> prepare_bias_add_grad(const PlanStep& step, const DecodedAttrs&, KernelSetup&) {
  if (step.accumulator_input < 0) return nullptr;
  return std::make_unique<AccumulatingBiasAddGrad>();
}

void arg_max(KernelContext& ctx) {
  const Tensor& in = ctx.inputs[0];
  const int64_t axis = ctx.attr<AxesAttrs>().axes.at(0);
  Tensor& out = ctx.outputs[0];
  dispatch_index_dtype(out.dtype(), [&]<class Index>() { arg_max_typed<Index>(in, axis, out); });
}

constexpr CpuKernelRow kRows[] = {
    {OpId::kSum, sum, nullptr, kFloat32Only},
    {OpId::kMean, mean, nullptr, kFloat32Only},
    {OpId::kBiasAddGrad, bias_add_grad, prepare_bias_add_grad, kFloat32Only},
    {OpId::kArgMax, arg_max, nullptr, kIndexDTypes},
};
static_assert(no_op_twice(kRows));

}  // namespace

std::span<const CpuKernelRow> reduction_rows() { return kRows; }

}  // namespace scopeflow::cpu
