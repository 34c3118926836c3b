#include "runtime/collective_runner.h"

#include <utility>

namespace scopeflow {

CollectiveRunner::CollectiveRunner(dist::Communicator& communicator)
    : communicator_(communicator), thread_([this] { work(); }) {}

CollectiveRunner::~CollectiveRunner() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  queued_.notify_all();
  thread_.join();
}

void CollectiveRunner::start(std::span<float> values, std::shared_ptr<Buffer> keep) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back({values, std::move(keep)});
    ++started_;
  }
  queued_.notify_one();
}

absl::Status CollectiveRunner::wait_all() {
  std::unique_lock<std::mutex> lock(mutex_);
  finished_.wait(lock, [this] { return done_ == started_; });
  return std::exchange(error_, absl::OkStatus());
}

void CollectiveRunner::work() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    queued_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    // Queued jobs finish before the thread stops: a run waits for them before it returns.
    if (jobs_.empty()) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    absl::Status status = communicator_.allreduce_average(job.values);
    job.keep.reset();
    lock.lock();
    if (!status.ok() && error_.ok()) error_ = std::move(status);
    ++done_;
    finished_.notify_all();
  }
}

}  // namespace scopeflow
