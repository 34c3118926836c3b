#include "core/philox.h"

#include <cmath>
#include <numbers>

#include "scopeflow/error.h"

namespace scopeflow::random {

namespace {

// Multipliers and Weyl key increments from the Random123 reference implementation.
constexpr uint32_t kMul0 = 0xD2511F53u;
constexpr uint32_t kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u;
constexpr uint32_t kWeyl1 = 0xBB67AE85u;

// Resampling attempts of fill_truncated_normal live in the top 8 bits of counter word 1, so
// block indices stay below 2^56 and (block, attempt) never collide.
constexpr int kAttemptShift = 24;
constexpr uint32_t kMaxAttempts = 256;

std::array<uint32_t, 4> philox_round(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  const uint64_t p0 = uint64_t{kMul0} * c[0];
  const uint64_t p1 = uint64_t{kMul1} * c[2];
  const auto hi0 = static_cast<uint32_t>(p0 >> 32);
  const auto lo0 = static_cast<uint32_t>(p0);
  const auto hi1 = static_cast<uint32_t>(p1 >> 32);
  const auto lo1 = static_cast<uint32_t>(p1);
  return {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
}

std::array<uint32_t, 2> split_seed(uint64_t seed) {
  return {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
}

std::array<uint32_t, 4> make_counter(uint64_t block, uint32_t attempt, uint64_t stream) {
  return {static_cast<uint32_t>(block),
          static_cast<uint32_t>(block >> 32) | (attempt << kAttemptShift),
          static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)};
}

void check_fill_args(const char* where, const float* out, int64_t n) {
  if (n < 0 || n > kMaxFillElements) {
    throw_invalid(where, "element count ", n, " is outside [0, 2^56]");
  }
  if (n > 0 && out == nullptr) throw_invalid(where, "output pointer is null for ", n, " elements");
}

// Two independent N(0, 1) values from two words. Computed in double with 32-bit resolution
// (u1 in (0, 1), never 0) so that log() is finite and tails reach about 6.7 sigma.
std::array<double, 2> box_muller(uint32_t bits1, uint32_t bits2) {
  constexpr double kScale = 1.0 / 4294967296.0;  // 2^-32
  const double u1 = (static_cast<double>(bits1) + 0.5) * kScale;
  const double u2 = static_cast<double>(bits2) * kScale;
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * std::numbers::pi * u2;
  return {radius * std::cos(theta), radius * std::sin(theta)};
}

}  // namespace

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter,
                                      std::array<uint32_t, 2> key) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key[0] += kWeyl0;
      key[1] += kWeyl1;
    }
    counter = philox_round(counter, key);
  }
  return counter;
}

float uint32_to_unit_float(uint32_t bits) {
  // The top 24 bits fill a float mantissa exactly; the result is at most 1 - 2^-24.
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

void fill_uniform(uint64_t seed, uint64_t stream, float* out, int64_t n) {
  check_fill_args("philox", out, n);
  const auto key = split_seed(seed);
  for (int64_t base = 0; base < n; base += 4) {
    const auto words = philox4x32_10(make_counter(static_cast<uint64_t>(base) / 4, 0, stream), key);
    for (int64_t j = 0; j < 4 && base + j < n; ++j) out[base + j] = uint32_to_unit_float(words[j]);
  }
}

void fill_normal(uint64_t seed, uint64_t stream, float* out, int64_t n) {
  check_fill_args("philox", out, n);
  const auto key = split_seed(seed);
  for (int64_t base = 0; base < n; base += 4) {
    const auto words = philox4x32_10(make_counter(static_cast<uint64_t>(base) / 4, 0, stream), key);
    const auto z01 = box_muller(words[0], words[1]);
    const auto z23 = box_muller(words[2], words[3]);
    const double z[4] = {z01[0], z01[1], z23[0], z23[1]};
    for (int64_t j = 0; j < 4 && base + j < n; ++j) out[base + j] = static_cast<float>(z[j]);
  }
}

void fill_truncated_normal(uint64_t seed, uint64_t stream, float* out, int64_t n) {
  check_fill_args("philox", out, n);
  const auto key = split_seed(seed);
  for (int64_t i = 0; i < n; ++i) {
    // One block per element and attempt keeps element i independent of its neighbours'
    // rejections. Each attempt offers 4 candidates; 256 attempts all failing has probability
    // about 0.0455^1024, so the mean (0) as the final fallback is never reached in practice.
    float value = 0.0f;
    bool found = false;
    for (uint32_t attempt = 0; attempt < kMaxAttempts && !found; ++attempt) {
      const auto words =
          philox4x32_10(make_counter(static_cast<uint64_t>(i), attempt, stream), key);
      const auto z01 = box_muller(words[0], words[1]);
      const auto z23 = box_muller(words[2], words[3]);
      for (double z : {z01[0], z01[1], z23[0], z23[1]}) {
        if (std::abs(z) <= 2.0) {
          value = static_cast<float>(z);
          found = true;
          break;
        }
      }
    }
    out[i] = value;
  }
}

}  // namespace scopeflow::random
