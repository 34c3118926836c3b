#pragma once
// Launchers of the CUDA softmax and loss family (kernels/cuda/softmax_losses.cu).
// Launchers queue their work on `stream` and return the launch status (cudaGetLastError);
// callers check it with the call's name. Shapes are validated before a launcher is called.
// Device-safe: includes nothing from src/.

#include <cuda_runtime_api.h>

#include <cstdint>

#include "scopeflow/dtype.h"

namespace scopeflow::cuda {

// Row kernels over the last dimension of (rows, classes): one block per row, reductions with
// cub::BlockReduce.
cudaError_t launch_softmax(const float* x, float* y, int64_t rows, int64_t classes,
                           cudaStream_t stream);
cudaError_t launch_log_softmax(const float* x, float* y, int64_t rows, int64_t classes,
                               cudaStream_t stream);
/// Dense labels (rows, classes): loss (rows,), backprop (rows, classes).
cudaError_t launch_softmax_cross_entropy(const float* logits, const float* labels, float* loss,
                                         float* backprop, int64_t rows, int64_t classes,
                                         cudaStream_t stream);
/// Integer labels (rows,) of `label_dtype` (int32 or int64). A label outside [0, classes) sets
/// *first_bad_row (which must hold rows beforehand) to the smallest such row, and that row's
/// outputs are NaN; the caller reads it back and reports the error.
cudaError_t launch_sparse_softmax_cross_entropy(const float* logits, const void* labels,
                                                DType label_dtype, float* loss, float* backprop,
                                                int64_t rows, int64_t classes,
                                                unsigned long long* first_bad_row,
                                                cudaStream_t stream);

}  // namespace scopeflow::cuda
