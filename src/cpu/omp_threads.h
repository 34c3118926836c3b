#pragma once
// The OpenMP team that oneDNN primitives run with (Debian's oneDNN uses OpenMP threading).

namespace scopeflow::cpu {

/// OpenMP's team size in the calling thread, set for the scope when `threads` > 0 and it
/// differs, restored after; without oneDNN, nothing.
class OmpThreadScope {
 public:
  explicit OmpThreadScope(int threads);
  ~OmpThreadScope();
  OmpThreadScope(const OmpThreadScope&) = delete;
  OmpThreadScope& operator=(const OmpThreadScope&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace scopeflow::cpu
