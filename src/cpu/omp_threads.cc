#include "cpu/omp_threads.h"

#if SCOPEFLOW_WITH_ONEDNN
#include <omp.h>
#endif

namespace scopeflow::cpu {

OmpThreadScope::OmpThreadScope([[maybe_unused]] int threads) {
#if SCOPEFLOW_WITH_ONEDNN
  if (threads <= 0) return;
  const int current = omp_get_max_threads();
  if (current == threads) return;
  previous_ = current;
  omp_set_num_threads(threads);
#endif
}

OmpThreadScope::~OmpThreadScope() {
#if SCOPEFLOW_WITH_ONEDNN
  if (previous_ > 0) omp_set_num_threads(previous_);
#endif
}

}  // namespace scopeflow::cpu
