#pragma once
// CPU kernels. Each assumes input validated by its op's shape inference (house style).
// MatMul runs through cpu/gemm.h, prepared when a plan is made.

#include <vector>

#include "ops/op_registry.h"

namespace scopeflow::cpu {

/// Strides of `in` seen from the index space of `out` (NumPy broadcasting): 0 along broadcast
/// dimensions. Shared by the broadcasting kernels.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);

void add(KernelContext& ctx);          // broadcasting x + y
void sub(KernelContext& ctx);          // broadcasting x - y
void mul(KernelContext& ctx);          // broadcasting x * y
void bias_add(KernelContext& ctx);     // (..., c) + (c,)
void relu(KernelContext& ctx);
void sigmoid(KernelContext& ctx);
void tanh(KernelContext& ctx);
void softmax(KernelContext& ctx);      // over the last dimension
void sum(KernelContext& ctx);          // over the axes of the constant second input
void mean(KernelContext& ctx);
void random_standard_normal(KernelContext& ctx);

void neg(KernelContext& ctx);
void square(KernelContext& ctx);
void abs(KernelContext& ctx);           // float32; NaN stays NaN
void sign(KernelContext& ctx);          // float32; -1, 0, +1 or NaN
void exp(KernelContext& ctx);           // float32
void log(KernelContext& ctx);           // float32; log(0) = -inf
void sqrt(KernelContext& ctx);          // float32
void rsqrt(KernelContext& ctx);         // float32; 1 / sqrt(x)
void maximum(KernelContext& ctx);       // broadcasting; NaN propagates
void minimum(KernelContext& ctx);       // broadcasting; NaN propagates
void pow(KernelContext& ctx);           // broadcasting float32 x^y
void transpose(KernelContext& ctx);     // any dtype, by the decoded PermAttrs
void add_n(KernelContext& ctx);         // sum of N same-shaped inputs
void cast(KernelContext& ctx);          // any pair of dtypes; float -> int truncates toward zero
void equal(KernelContext& ctx);         // broadcasting x == y -> bool
void broadcast_to(KernelContext& ctx);  // input broadcast to the output's shape
void relu_grad(KernelContext& ctx);     // (gradients, features)
void sigmoid_grad(KernelContext& ctx);  // (y, dy)
void tanh_grad(KernelContext& ctx);     // (y, dy)
void bias_add_grad(KernelContext& ctx); // (..., c) -> (c,): sum over all but the last dimension
void arg_max(KernelContext& ctx);       // over the constant axis input; first maximum wins
void log_softmax(KernelContext& ctx);   // over the last dimension

// Losses over (batch, classes) logits: outputs per-example loss and d loss / d logits.
void softmax_cross_entropy(KernelContext& ctx);         // dense label distributions
void sparse_softmax_cross_entropy(KernelContext& ctx);  // integer labels; range-checked

// In-place updates: input 0 (and the slot inputs) are variable buffers; no outputs.
void assign(KernelContext& ctx);
void assign_sub(KernelContext& ctx);
void apply_gradient_descent(KernelContext& ctx);
void apply_momentum(KernelContext& ctx);
void apply_adam(KernelContext& ctx);

}  // namespace scopeflow::cpu
