#pragma once
// Runs a session's all-reduces on one background thread, in the order they are started, so that
// the rest of backward computes while the ranks exchange gradients. Open MPI does not progress
// a collective by itself: the thread's calls drive it.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <thread>

#include "absl/status/status.h"
#include "scopeflow/dist.h"
#include "scopeflow/tensor.h"

namespace scopeflow {

class CollectiveRunner {
 public:
  explicit CollectiveRunner(dist::Communicator& communicator);
  ~CollectiveRunner();
  CollectiveRunner(const CollectiveRunner&) = delete;
  CollectiveRunner& operator=(const CollectiveRunner&) = delete;

  /// Queues the mean of `values` over the ranks, in place; `keep` holds their buffer until done.
  void start(std::span<float> values, std::shared_ptr<Buffer> keep);
  /// Waits until every queued mean is done. Returns the first failure since the last call
  /// (the communicator is failed then, and so is every later mean).
  absl::Status wait_all();

 private:
  struct Job {
    std::span<float> values;
    std::shared_ptr<Buffer> keep;
  };
  void work();

  dist::Communicator& communicator_;
  std::mutex mutex_;
  std::condition_variable queued_;
  std::condition_variable finished_;
  std::deque<Job> jobs_;
  uint64_t started_ = 0;
  uint64_t done_ = 0;
  absl::Status error_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace scopeflow
