// CPU random family: RandomStandardNormal from the counter-based Philox stream; and its row of
// the CPU kernel table.

#include "core/philox.h"
#include "cpu/kernel_rows.h"

namespace scopeflow::cpu {

namespace {

void random_standard_normal(KernelContext& ctx) {
  const auto [seed, seed2] = ctx.attr<SeedAttrs>();
  // seed and seed2 form the Philox key; each execution draws from its own stream.
  const uint64_t key = (seed << 32) ^ seed2 ^ (seed >> 32);
  Tensor& out = ctx.outputs[0];
  random::fill_normal(key, ctx.invocation, out.data<float>(), out.num_elements());
}

constexpr CpuKernelRow kRows[] = {
    {OpId::kRandomStandardNormal, random_standard_normal, nullptr, kFloat32Only},
};
static_assert(no_op_twice(kRows));

}  // namespace

std::span<const CpuKernelRow> random_rows() { return kRows; }

}  // namespace scopeflow::cpu
