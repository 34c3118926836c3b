#pragma once
// Counter-based Philox4x32-10 random numbers (Salmon et al., "Parallel Random Numbers: As Easy
// as 1, 2, 3", SC'11). Hand-written rather than taken from cuRAND because initial values must
// be computed identically on the host for every device, and cuRAND's host generator only exists
// in CUDA builds.
//
// Counter layout used by the fill functions: words 0-1 hold a block index (its top 8 bits are
// reserved for the resampling attempt of fill_truncated_normal), words 2-3 hold the 64-bit
// stream. The key is the 64-bit seed split into two 32-bit halves. Element i's value therefore
// depends only on (seed, stream, i): never on n, and never on how the work is split.

#include <array>
#include <cstdint>

namespace scopeflow::random {

/// Largest element count the fill functions accept (2^56, far beyond any real allocation).
inline constexpr int64_t kMaxFillElements = int64_t{1} << 56;

/// One Philox4x32 block with 10 rounds: a bijection of `counter` keyed by `key`.
std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter,
                                      std::array<uint32_t, 2> key);

/// Maps 32 random bits to a float uniform in [0, 1) with a 24-bit mantissa.
float uint32_to_unit_float(uint32_t bits);

/// Writes n values from U[0, 1): element i is word i % 4 of block i / 4.
void fill_uniform(uint64_t seed, uint64_t stream, float* out, int64_t n);

/// Writes n values from N(0, 1) by Box-Muller: block i / 4 yields elements 4(i/4) .. 4(i/4)+3.
void fill_normal(uint64_t seed, uint64_t stream, float* out, int64_t n);

/// Writes n values from N(0, 1) resampled while |x| > 2: element i draws from its own blocks.
void fill_truncated_normal(uint64_t seed, uint64_t stream, float* out, int64_t n);

}  // namespace scopeflow::random
