#pragma once
// CPU kernels. Each assumes input validated by its op's shape inference (house style).

#include "ops/op_registry.h"

namespace scopeflow::cpu {

void matmul(KernelContext& ctx);       // (m, k) x (k, n) -> (m, n), via cblas_sgemm
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

}  // namespace scopeflow::cpu
