// CUDA softmax and loss family: row kernels over the last dimension (softmax, log-softmax,
// the cross-entropy losses), one block per row, with cub::BlockReduce.

#include "kernels/cuda/softmax_losses.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cub/block/block_reduce.cuh>

namespace scopeflow::cuda {

namespace {

constexpr int kRowThreads = 256;
using RowReduce = cub::BlockReduce<float, kRowThreads>;

struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

unsigned int row_blocks(int64_t rows) {
  return static_cast<unsigned int>(std::min<int64_t>(std::max<int64_t>(rows, 1), 65535 * 8));
}

// Block-wide max and log-sum-exp of one row, the same in every thread.
struct RowStats {
  float max_value;
  float log_total;  // log(sum(exp(x - max_value)))
};

__device__ RowStats row_stats(const float* xr, int64_t classes, RowReduce::TempStorage& temp,
                              float& shared_value) {
  float local_max = -INFINITY;
  for (int64_t c = threadIdx.x; c < classes; c += kRowThreads) local_max = fmaxf(local_max, xr[c]);
  const float block_max = RowReduce(temp).Reduce(local_max, MaxOp{});
  if (threadIdx.x == 0) shared_value = block_max;
  __syncthreads();
  const float max_value = shared_value;
  __syncthreads();  // everyone has read shared_value; temp may be reused
  float local_sum = 0.0f;
  for (int64_t c = threadIdx.x; c < classes; c += kRowThreads) local_sum += expf(xr[c] - max_value);
  const float block_sum = RowReduce(temp).Sum(local_sum);
  if (threadIdx.x == 0) shared_value = block_sum;
  __syncthreads();
  const float total = shared_value;
  __syncthreads();
  return RowStats{max_value, logf(total)};
}

__global__ void softmax_kernel(const float* x, float* y, int64_t rows, int64_t classes,
                               bool log_output) {
  __shared__ RowReduce::TempStorage temp;
  __shared__ float shared_value;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * classes;
    float* yr = y + r * classes;
    const RowStats s = row_stats(xr, classes, temp, shared_value);
    for (int64_t c = threadIdx.x; c < classes; c += kRowThreads) {
      const float log_p = (xr[c] - s.max_value) - s.log_total;
      yr[c] = log_output ? log_p : expf(log_p);
    }
  }
}

__global__ void softmax_cross_entropy_kernel(const float* logits, const float* labels,
                                             float* loss, float* backprop, int64_t rows,
                                             int64_t classes) {
  __shared__ RowReduce::TempStorage temp;
  __shared__ float shared_value;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = logits + r * classes;
    const float* lr = labels + r * classes;
    float* br = backprop + r * classes;
    const RowStats s = row_stats(xr, classes, temp, shared_value);
    float local_loss = 0.0f;
    for (int64_t c = threadIdx.x; c < classes; c += kRowThreads) {
      const float log_p = (xr[c] - s.max_value) - s.log_total;
      local_loss -= lr[c] * log_p;
      br[c] = expf(log_p) - lr[c];
    }
    const float row_loss = RowReduce(temp).Sum(local_loss);
    if (threadIdx.x == 0) loss[r] = row_loss;
    __syncthreads();
  }
}

template <typename Label>
__global__ void sparse_softmax_cross_entropy_kernel(const float* logits, const Label* labels,
                                                    float* loss, float* backprop, int64_t rows,
                                                    int64_t classes,
                                                    unsigned long long* first_bad_row) {
  __shared__ RowReduce::TempStorage temp;
  __shared__ float shared_value;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = logits + r * classes;
    float* br = backprop + r * classes;
    const int64_t label = static_cast<int64_t>(labels[r]);
    if (label < 0 || label >= classes) {
      // Reported by the caller with the label's value; the row's outputs are NaN meanwhile.
      if (threadIdx.x == 0) {
        atomicMin(first_bad_row, static_cast<unsigned long long>(r));
        loss[r] = NAN;
      }
      for (int64_t c = threadIdx.x; c < classes; c += kRowThreads) br[c] = NAN;
      continue;
    }
    const RowStats s = row_stats(xr, classes, temp, shared_value);
    for (int64_t c = threadIdx.x; c < classes; c += kRowThreads) {
      const float log_p = (xr[c] - s.max_value) - s.log_total;
      br[c] = expf(log_p) - (c == label ? 1.0f : 0.0f);
      if (c == label) loss[r] = -log_p;
    }
  }
}

}  // namespace

cudaError_t launch_softmax(const float* x, float* y, int64_t rows, int64_t classes,
                           cudaStream_t stream) {
  if (rows == 0 || classes == 0) return cudaSuccess;
  softmax_kernel<<<row_blocks(rows), kRowThreads, 0, stream>>>(x, y, rows, classes, false);
  return cudaGetLastError();
}

cudaError_t launch_log_softmax(const float* x, float* y, int64_t rows, int64_t classes,
                               cudaStream_t stream) {
  if (rows == 0 || classes == 0) return cudaSuccess;
  softmax_kernel<<<row_blocks(rows), kRowThreads, 0, stream>>>(x, y, rows, classes, true);
  return cudaGetLastError();
}

cudaError_t launch_softmax_cross_entropy(const float* logits, const float* labels, float* loss,
                                         float* backprop, int64_t rows, int64_t classes,
                                         cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  softmax_cross_entropy_kernel<<<row_blocks(rows), kRowThreads, 0, stream>>>(
      logits, labels, loss, backprop, rows, classes);
  return cudaGetLastError();
}

cudaError_t launch_sparse_softmax_cross_entropy(const float* logits, const void* labels,
                                                DType label_dtype, float* loss, float* backprop,
                                                int64_t rows, int64_t classes,
                                                unsigned long long* first_bad_row,
                                                cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  if (!is_index_dtype(label_dtype)) return cudaErrorInvalidValue;
  dispatch_index_dtype(label_dtype, [&]<class Label>() {
    sparse_softmax_cross_entropy_kernel<<<row_blocks(rows), kRowThreads, 0, stream>>>(
        logits, static_cast<const Label*>(labels), loss, backprop, rows, classes, first_bad_row);
  });
  return cudaGetLastError();
}

}  // namespace scopeflow::cuda
