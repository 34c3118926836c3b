#pragma once
// Softmax and log-softmax over the last dimension as oneDNN primitives, prepared once per plan
// step. Measured on the CPU against the hand-written kernels (cpu/reduction.cc, cpu/loss.cc),
// one thread: 256x1024 softmax 148 us against 1044 us, 32x10 0.9 us against 1.4 us. ReLU and
// the other elementwise kernels stay hand-written: oneDNN's eltwise is no faster at 256x1024
// and slower on small tensors (0.26 us against 0.06 us at 32x10).

#include <cstdint>
#include <memory>

namespace scopeflow::cpu {

class RowSoftmax {
 public:
  virtual ~RowSoftmax() = default;
  /// y = softmax (or log-softmax) of each row of x; both (rows, classes), row-major.
  virtual void run(const float* x, float* y) = 0;
};

/// Tensors of at most this many elements run on one thread (a team costs more than it saves).
inline constexpr int64_t kSingleThreadSoftmaxElements = 32768;

/// The primitive for (rows, classes), created and run with `threads` (the session's; 0: the
/// library's default; one for small tensors); null when the library is built without oneDNN
/// or the shape is empty (the hand-written kernel then runs).
std::unique_ptr<RowSoftmax> make_onednn_softmax(int64_t rows, int64_t classes, bool log, int threads);

}  // namespace scopeflow::cpu
