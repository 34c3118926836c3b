// CUDA softmax and loss family: adapters to the row kernels; and their rows of the CUDA kernel
// table.

#include <vector>

#include "cuda/cuda_backend.h"
#include "kernels/cuda/softmax_losses.h"
#include "ops/op_util.h"

namespace scopeflow::cuda {

namespace {

// (rows, classes) view of a tensor over its last dimension.
std::pair<int64_t, int64_t> rows_and_classes(const Tensor& t) {
  const int64_t classes = t.shape().rank() == 0 ? 1 : t.shape().dims().back();
  return {classes == 0 ? 0 : t.num_elements() / classes, classes};
}

void softmax(CudaBackend& b, KernelContext& ctx) {
  const auto [rows, classes] = rows_and_classes(ctx.inputs[0]);
  check(cuda::launch_softmax(ctx.inputs[0].data<float>(), ctx.outputs[0].data<float>(), rows,
                             classes, b.stream()),
        "launch_softmax");
}

void log_softmax(CudaBackend& b, KernelContext& ctx) {
  const auto [rows, classes] = rows_and_classes(ctx.inputs[0]);
  check(cuda::launch_log_softmax(ctx.inputs[0].data<float>(), ctx.outputs[0].data<float>(), rows,
                                 classes, b.stream()),
        "launch_log_softmax");
}

void softmax_cross_entropy(CudaBackend& b, KernelContext& ctx) {
  const Tensor& logits = ctx.inputs[0];
  check(cuda::launch_softmax_cross_entropy(logits.data<float>(), ctx.inputs[1].data<float>(),
                                           ctx.outputs[0].data<float>(),
                                           ctx.outputs[1].data<float>(), logits.shape().dim(0),
                                           logits.shape().dim(1), b.stream()),
        "launch_softmax_cross_entropy");
}

void sparse_softmax_cross_entropy(CudaBackend& b, KernelContext& ctx) {
  const Tensor& logits = ctx.inputs[0];
  const Tensor& labels = ctx.inputs[1];
  const int64_t rows = logits.shape().dim(0);
  const int64_t classes = logits.shape().dim(1);
  if (rows == 0) return;
  // The first bad row, or all ones (more than any row) when every label is in range.
  Tensor flag = b.scratch(DType::kInt64, Shape{});
  check(cudaMemsetAsync(flag.raw_data(), 0xFF, sizeof(unsigned long long), b.stream()), "cudaMemsetAsync");
  check(cuda::launch_sparse_softmax_cross_entropy(
            logits.data<float>(), labels.raw_data(), labels.dtype(), ctx.outputs[0].data<float>(),
            ctx.outputs[1].data<float>(), rows, classes,
            static_cast<unsigned long long*>(flag.raw_data()), b.stream()),
        "launch_sparse_softmax_cross_entropy");
  // Labels are data, so a bad one is a user error: read the flag back (8 bytes and a stream
  // synchronisation per step) and report it as the CPU kernel does, instead of training on NaN.
  const Tensor host_flag = b.download(flag);
  const auto first_bad_row = static_cast<unsigned long long>(host_flag.data<int64_t>()[0]);
  if (first_bad_row < static_cast<unsigned long long>(rows)) {
    const int64_t row = static_cast<int64_t>(first_bad_row);
    const std::vector<int64_t> label_values = op_util::int_values(b.download(labels));
    throw_invalid("sparse_softmax_cross_entropy_with_logits", "node '", ctx.node.name(),
                  "': received a label value of ", label_values[static_cast<size_t>(row)],
                  " (example ", row, ") which is outside the valid range of [0, ", classes, ")");
  }
}

constexpr CudaKernelRow kRows[] = {
    {OpId::kSoftmax, softmax, nullptr, nullptr, kFloat32Only},
    {OpId::kLogSoftmax, log_softmax, nullptr, nullptr, kFloat32Only},
    {OpId::kSoftmaxCrossEntropyWithLogits, softmax_cross_entropy, nullptr, nullptr, kFloat32Only},
    {OpId::kSparseSoftmaxCrossEntropyWithLogits, sparse_softmax_cross_entropy, nullptr, nullptr, kFloat32Only},
};
static_assert(no_op_twice(kRows));

}  // namespace

std::span<const CudaKernelRow> softmax_loss_rows() { return kRows; }

}  // namespace scopeflow::cuda
