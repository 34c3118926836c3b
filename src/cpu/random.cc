#include "core/philox.h"
#include "cpu/cpu_kernels.h"

namespace scopeflow::cpu {

void random_standard_normal(KernelContext& ctx) {
  const auto [seed, seed2] = ctx.attr<SeedAttrs>();
  // seed and seed2 form the Philox key; each execution draws from its own stream.
  const uint64_t key = (seed << 32) ^ seed2 ^ (seed >> 32);
  Tensor& out = ctx.outputs[0];
  random::fill_normal(key, ctx.invocation, out.data<float>(), out.num_elements());
}

}  // namespace scopeflow::cpu
