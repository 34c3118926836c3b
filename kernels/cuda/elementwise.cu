// CUDA elementwise family: grid-stride loops over the functors the CPU kernels use.

#include "kernels/cuda/elementwise.h"

#include <cuda_runtime.h>

#include <type_traits>

#include "kernels/cuda/grid.cuh"
#include "kernels/elementwise_functors.h"

namespace scopeflow::cuda {

namespace {

template <typename T, typename F>
__global__ void unary_kernel(const T* in, T* out, int64_t n, F f) {
  SCOPEFLOW_GRID_STRIDE(i, n) { out[i] = f(in[i]); }
}

template <typename T, typename F>
__global__ void binary_same_shape_kernel(const T* a, const T* b, T* out, int64_t n, F f) {
  SCOPEFLOW_GRID_STRIDE(i, n) { out[i] = f(a[i], b[i]); }
}

template <typename T, typename Out, typename F>
__global__ void binary_broadcast_kernel(const T* a, const T* b, Out* out, StridedIndex index,
                                        int64_t n, F f) {
  SCOPEFLOW_GRID_STRIDE(i, n) { out[i] = f(a[index.offset(0, i)], b[index.offset(1, i)]); }
}

template <typename From, typename To>
__global__ void cast_kernel(const From* in, To* out, int64_t n) {
  const functors::CastTo<To> cast_fn;
  SCOPEFLOW_GRID_STRIDE(i, n) { out[i] = cast_fn(in[i]); }
}

__global__ void bias_add_kernel(const float* value, const float* bias, float* out, int64_t n,
                                int64_t channels) {
  const functors::Add add_fn;
  SCOPEFLOW_GRID_STRIDE(i, n) { out[i] = add_fn(value[i], bias[i % channels]); }
}

__global__ void accumulate_kernel(float* dst, const float* src, int64_t n) {
  const functors::Add add_fn;
  SCOPEFLOW_GRID_STRIDE(i, n) { dst[i] = add_fn(dst[i], src[i]); }
}

__global__ void fill_kernel(float* dst, float value, int64_t n) {
  SCOPEFLOW_GRID_STRIDE(i, n) { dst[i] = value; }
}

template <typename T, typename F>
void run_unary(const void* in, void* out, int64_t n, F f, cudaStream_t stream) {
  unary_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const T*>(in),
                                                          static_cast<T*>(out), n, f);
}

template <typename T, typename F>
void run_binary(const void* a, const void* b, void* out, const StridedIndex& index,
                bool same_shape, int64_t n, F f, cudaStream_t stream) {
  const T* pa = static_cast<const T*>(a);
  const T* pb = static_cast<const T*>(b);
  T* po = static_cast<T*>(out);
  if (same_shape) {
    binary_same_shape_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(pa, pb, po, n, f);
  } else {
    binary_broadcast_kernel<T, T><<<blocks_for(n), kThreads, 0, stream>>>(pa, pb, po, index, n, f);
  }
}

// Dispatches an arithmetic functor over the dtypes the arithmetic ops take.
template <typename F>
cudaError_t numeric_binary(DType dtype, const void* a, const void* b, void* out,
                           const StridedIndex& index, bool same_shape, int64_t n, F f,
                           cudaStream_t stream) {
  return dispatch_dtype(dtype, [&]<class T>() {
    if constexpr (!functors::is_arithmetic_v<T>) {
      return cudaErrorInvalidValue;
    } else {
      run_binary<T>(a, b, out, index, same_shape, n, f, stream);
      return cudaGetLastError();
    }
  });
}

}  // namespace

cudaError_t launch_unary(UnaryOp op, DType dtype, const void* in, void* out, int64_t n,
                         cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (op == UnaryOp::kNeg || op == UnaryOp::kSquare) {
    auto dispatch = [&](auto f) {
      return dispatch_dtype(dtype, [&]<class T>() {
        if constexpr (!functors::is_arithmetic_v<T>) {
          return cudaErrorInvalidValue;
        } else {
          run_unary<T>(in, out, n, f, stream);
          return cudaGetLastError();
        }
      });
    };
    return op == UnaryOp::kNeg ? dispatch(functors::Neg{}) : dispatch(functors::Square{});
  }
  if (dtype != DType::kFloat32) return cudaErrorInvalidValue;
  switch (op) {
    case UnaryOp::kRelu: run_unary<float>(in, out, n, functors::Relu{}, stream); break;
    case UnaryOp::kSigmoid: run_unary<float>(in, out, n, functors::Sigmoid{}, stream); break;
    case UnaryOp::kTanh: run_unary<float>(in, out, n, functors::Tanh{}, stream); break;
    case UnaryOp::kAbs: run_unary<float>(in, out, n, functors::Abs{}, stream); break;
    case UnaryOp::kSign: run_unary<float>(in, out, n, functors::Sign{}, stream); break;
    case UnaryOp::kExp: run_unary<float>(in, out, n, functors::Exp{}, stream); break;
    case UnaryOp::kLog: run_unary<float>(in, out, n, functors::Log{}, stream); break;
    case UnaryOp::kSqrt: run_unary<float>(in, out, n, functors::Sqrt{}, stream); break;
    case UnaryOp::kRsqrt: run_unary<float>(in, out, n, functors::Rsqrt{}, stream); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_binary(BinaryOp op, DType dtype, const void* a, const void* b, void* out,
                          const StridedIndex& index, bool same_shape, int64_t n,
                          cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (op) {
    case BinaryOp::kAdd: return numeric_binary(dtype, a, b, out, index, same_shape, n, functors::Add{}, stream);
    case BinaryOp::kSub: return numeric_binary(dtype, a, b, out, index, same_shape, n, functors::Sub{}, stream);
    case BinaryOp::kMul: return numeric_binary(dtype, a, b, out, index, same_shape, n, functors::Mul{}, stream);
    case BinaryOp::kMaximum: return numeric_binary(dtype, a, b, out, index, same_shape, n, functors::Maximum{}, stream);
    case BinaryOp::kMinimum: return numeric_binary(dtype, a, b, out, index, same_shape, n, functors::Minimum{}, stream);
    case BinaryOp::kPow:
      if (dtype != DType::kFloat32) return cudaErrorInvalidValue;
      run_binary<float>(a, b, out, index, same_shape, n, functors::Pow{}, stream);
      break;
    case BinaryOp::kReluGrad:
      run_binary<float>(a, b, out, index, same_shape, n, functors::ReluGrad{}, stream);
      break;
    case BinaryOp::kSigmoidGrad:
      run_binary<float>(a, b, out, index, same_shape, n, functors::SigmoidGrad{}, stream);
      break;
    case BinaryOp::kTanhGrad:
      run_binary<float>(a, b, out, index, same_shape, n, functors::TanhGrad{}, stream);
      break;
  }
  return cudaGetLastError();
}

cudaError_t launch_equal(DType dtype, const void* a, const void* b, bool* out,
                         const StridedIndex& index, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return dispatch_dtype(dtype, [&]<class T>() {
    if constexpr (!functors::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      return cudaErrorInvalidValue;  // Equal's shape inference admits no other dtype
    } else {
      binary_broadcast_kernel<T, bool><<<blocks_for(n), kThreads, 0, stream>>>(
          static_cast<const T*>(a), static_cast<const T*>(b), out, index, n, functors::Equal{});
      return cudaGetLastError();
    }
  });
}

cudaError_t launch_cast(DType from, DType to, const void* in, void* out, int64_t n,
                        cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  dispatch_dtype(from, [&]<class From>() {
    dispatch_dtype(to, [&]<class To>() {
      cast_kernel<From, To><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const From*>(in),
                                                                    static_cast<To*>(out), n);
    });
  });
  return cudaGetLastError();
}

cudaError_t launch_bias_add(const float* value, const float* bias, float* out, int64_t rows,
                            int64_t channels, cudaStream_t stream) {
  const int64_t n = rows * channels;
  if (n == 0) return cudaSuccess;
  bias_add_kernel<<<blocks_for(n), kThreads, 0, stream>>>(value, bias, out, n, channels);
  return cudaGetLastError();
}

cudaError_t launch_accumulate(float* dst, const float* src, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  accumulate_kernel<<<blocks_for(n), kThreads, 0, stream>>>(dst, src, n);
  return cudaGetLastError();
}

cudaError_t launch_fill(float* dst, float value, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  fill_kernel<<<blocks_for(n), kThreads, 0, stream>>>(dst, value, n);
  return cudaGetLastError();
}

}  // namespace scopeflow::cuda
