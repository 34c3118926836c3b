#pragma once
// Wall-clock timing of a callable: warm-up, then at least N iterations and S seconds.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <vector>

namespace scopeflow::bench {

// ---------------------------------------------------------------------------------------------
// Timing

/// Wall-clock stopwatch on the steady clock.
struct Timer {
  using Clock = std::chrono::steady_clock;
  Clock::time_point start = Clock::now();

  void reset() { start = Clock::now(); }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start).count(); }
};

struct TimingResult {
  double median_seconds = 0;  // per iteration
  double mean_seconds = 0;    // per iteration
  double min_seconds = 0;     // fastest iteration
  double total_seconds = 0;   // sum over the timed iterations
  int64_t iterations = 0;
};

/// Calls f() `warmup` times untimed, then times single calls until at least `min_iters` ran and
/// `min_seconds` passed (stopping at `max_iters`, which bounds memory for very fast calls).
/// The median is the headline number: it ignores the odd preempted iteration.
template <class F>
TimingResult time_it(F f, int warmup, int min_iters, double min_seconds,
                     int64_t max_iters = 1'000'000) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> samples;
  double total = 0;
  while (static_cast<int64_t>(samples.size()) < std::max<int64_t>(min_iters, 1) ||
         (total < min_seconds && static_cast<int64_t>(samples.size()) < max_iters)) {
    const Timer timer;
    f();
    const double elapsed = timer.seconds();
    samples.push_back(elapsed);
    total += elapsed;
  }
  TimingResult result;
  result.iterations = static_cast<int64_t>(samples.size());
  result.total_seconds = total;
  result.mean_seconds = total / static_cast<double>(samples.size());
  result.min_seconds = *std::min_element(samples.begin(), samples.end());
  const size_t middle = samples.size() / 2;
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(middle), samples.end());
  double median = samples[middle];
  if (samples.size() % 2 == 0) {
    const double lower = *std::max_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(middle));
    median = (median + lower) / 2;
  }
  result.median_seconds = median;
  return result;
}

}  // namespace scopeflow::bench
