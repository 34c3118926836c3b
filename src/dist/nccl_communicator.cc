// The NCCL backend (builds with the CUDA backend and NCCL): one CUDA device per rank, rank 0's
// ncclUniqueId sent over a bootstrap communicator (MPI). The communicator is non-blocking
// (ncclConfig_t::blocking = 0) and every call is polled (ncclCommGetAsyncError, cudaStreamQuery)
// against the timeout; an error or a timeout aborts it (ncclCommAbort), so a dead or stalled
// rank is a status, never a hang. A CUDA session's buckets are all-reduced where they are, in
// its device memory, on the communicator's stream beside the session's kernels; host spans are
// staged through one device buffer on the communicator's stream.

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "scopeflow/dist.h"

namespace scopeflow::dist {

namespace {

absl::Status cuda_status(cudaError_t err, std::string_view call) {
  if (err == cudaSuccess) return absl::OkStatus();
  (void)cudaGetLastError();
  return absl::InternalError(absl::StrCat("[dist] ", to_absl(call), " failed: ", cudaGetErrorString(err)));
}

absl::Status nccl_status(ncclResult_t result, std::string_view call, ncclComm_t comm = nullptr) {
  if (result == ncclSuccess || result == ncclInProgress) return absl::OkStatus();
  std::string detail = ncclGetErrorString(result);
  if (const char* last = ncclGetLastError(comm); last != nullptr && *last != '\0') {
    absl::StrAppend(&detail, ": ", last);
  }
  return absl::InternalError(absl::StrCat("[dist] ", to_absl(call), " failed: ", detail));
}

// Waits until `comm`'s pending operation is no longer ncclInProgress, or the deadline.
absl::Status wait_nccl(ncclComm_t comm, std::string_view call, std::chrono::steady_clock::time_point deadline,
                       std::chrono::milliseconds timeout) {
  for (;;) {
    ncclResult_t state = ncclSuccess;
    if (absl::Status s = nccl_status(ncclCommGetAsyncError(comm, &state), "ncclCommGetAsyncError", comm); !s.ok()) {
      return s;
    }
    if (state != ncclInProgress) return nccl_status(state, call, comm);
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("[dist] ", to_absl(call), " did not complete within ",
                                                      timeout.count(), " ms: another rank died or stalled"));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, cudaStream_t stream, int device, int rank, int size,
                   CommunicatorOptions options)
      : comm_(comm), stream_(stream), device_(device), rank_(rank), size_(size), options_(options) {}
  ~NcclCommunicator() override {
    // Abort, not Destroy: Destroy can block forever on work a failed peer never completes.
    (void)cudaSetDevice(device_);
    if (comm_ != nullptr) (void)ncclCommAbort(comm_);
    if (enqueued_ != nullptr) (void)cudaEventDestroy(enqueued_);
    if (ready_ != nullptr) (void)cudaEventDestroy(ready_);
    if (buffer_ != nullptr) (void)cudaFree(buffer_);
    (void)cudaStreamDestroy(stream_);
  }

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  std::string_view backend() const override { return "nccl"; }
  int device() const override { return device_; }

  absl::Status allreduce_average_on_stream(float* values, size_t count, void* stream) override {
    if (absl::Status s = usable("ncclAllReduce"); !s.ok()) return s;
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    absl::Status status = cuda_status(cudaSetDevice(device_), "cudaSetDevice");
    if (status.ok()) status = make_event(&ready_);
    if (status.ok()) status = make_event(&enqueued_);
    // The bucket is complete on `stream` at this point; the all-reduce waits for it there and
    // then runs on this communicator's stream, beside the session's next kernels.
    if (status.ok()) {
      status = cuda_status(cudaEventRecord(ready_, static_cast<cudaStream_t>(stream)), "cudaEventRecord");
    }
    if (status.ok()) status = cuda_status(cudaStreamWaitEvent(stream_, ready_, 0), "cudaStreamWaitEvent");
    if (status.ok()) {
      status = nccl_status(ncclAllReduce(values, values, count, ncclFloat32, ncclAvg, comm_, stream_), "ncclAllReduce",
                           comm_);
    }
    if (status.ok()) status = wait_nccl(comm_, "ncclAllReduce", deadline, options_.timeout);
    // One event after the last enqueued all-reduce: a stream's work completes in order.
    if (status.ok()) status = cuda_status(cudaEventRecord(enqueued_, stream_), "cudaEventRecord");
    if (status.ok()) enqueued_bytes_ += count * sizeof(float);
    return failed_on(status);
  }

  absl::Status join_stream(void* stream) override {
    if (enqueued_bytes_ == 0) return absl::OkStatus();
    if (absl::Status s = usable("cudaStreamWaitEvent"); !s.ok()) return s;
    return failed_on(
        cuda_status(cudaStreamWaitEvent(static_cast<cudaStream_t>(stream), enqueued_, 0), "cudaStreamWaitEvent"));
  }

  absl::Status wait_enqueued() override {
    if (enqueued_bytes_ == 0) return absl::OkStatus();
    const size_t bytes = std::exchange(enqueued_bytes_, 0);
    if (absl::Status s = usable("ncclAllReduce"); !s.ok()) return s;
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    return failed_on(
        poll("ncclAllReduce", bytes, deadline, "cudaEventQuery", [&] { return cudaEventQuery(enqueued_); }));
  }

  absl::Status allreduce_average(std::span<float> values) override {
    return collective("ncclAllReduce", values.data(), values.size_bytes(), [&](void* buffer) {
      return ncclAllReduce(buffer, buffer, values.size(), ncclFloat32, ncclAvg, comm_, stream_);
    });
  }

  absl::Status broadcast(std::span<std::byte> bytes, int root) override {
    if (root < 0 || root >= size_) {
      return absl::InvalidArgumentError(absl::StrCat("[dist] broadcast root ", root, " is not a rank of ", size_));
    }
    return collective("ncclBroadcast", bytes.data(), bytes.size(), [&](void* buffer) {
      return ncclBroadcast(buffer, buffer, bytes.size(), ncclUint8, root, comm_, stream_);
    });
  }

  absl::Status barrier() override {
    float one = 1.0f;
    return allreduce_average(std::span<float>(&one, 1));
  }

  absl::StatusOr<bool> all_equal(uint64_t value) override {
    // max(v) and max(~v) = ~min(v): equal on every rank iff max == min.
    uint64_t values[2] = {value, ~value};
    absl::Status status = collective("ncclAllReduce", values, sizeof(values), [&](void* buffer) {
      return ncclAllReduce(buffer, buffer, 2, ncclUint64, ncclMax, comm_, stream_);
    });
    if (!status.ok()) return status;
    return values[0] == ~values[1];
  }

 private:
  static absl::Status make_event(cudaEvent_t* event) {
    if (*event != nullptr) return absl::OkStatus();
    return cuda_status(cudaEventCreateWithFlags(event, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  }

  absl::Status usable(std::string_view name) const {
    if (!failed_) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("[dist] the NCCL communicator failed earlier (", last_error_, "); it cannot run ", to_absl(name)));
  }

  // A failure leaves the communicator failed and aborted: the device work a dead peer would
  // never finish is freed.
  absl::Status failed_on(absl::Status status) {
    if (!status.ok() && !failed_) {
      failed_ = true;
      last_error_ = std::string(status.message());
      (void)ncclCommAbort(comm_);
      comm_ = nullptr;
    }
    return status;
  }

  // Polls `query` (named `query_name`: cudaStreamQuery or cudaEventQuery) and the communicator's
  // asynchronous error until the work is done, fails, or the deadline passes.
  template <typename Query>
  absl::Status poll(std::string_view name, size_t bytes, std::chrono::steady_clock::time_point deadline,
                    std::string_view query_name, Query query) {
    for (;;) {
      const cudaError_t done = query();
      if (done == cudaSuccess) return absl::OkStatus();
      if (done != cudaErrorNotReady) return cuda_status(done, query_name);
      ncclResult_t state = ncclSuccess;
      if (absl::Status s = nccl_status(ncclCommGetAsyncError(comm_, &state), "ncclCommGetAsyncError", comm_);
          !s.ok()) {
        return s;
      }
      if (state != ncclSuccess && state != ncclInProgress) return nccl_status(state, name, comm_);
      if (std::chrono::steady_clock::now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat("[dist] ", to_absl(name), " of ", bytes,
                                                        " bytes did not complete within ", options_.timeout.count(),
                                                        " ms on rank ", rank_, " of ", size_,
                                                        ": another rank died or stalled"));
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  // Copies `bytes` of host memory to the device buffer, runs `call` on it, copies the result
  // back, polling the stream and the communicator until done or the deadline.
  template <typename Call>
  absl::Status collective(std::string_view name, void* host, size_t bytes, Call call) {
    if (absl::Status s = usable(name); !s.ok()) return s;
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    absl::Status status = cuda_status(cudaSetDevice(device_), "cudaSetDevice");
    if (status.ok() && bytes > capacity_) {
      if (buffer_ != nullptr) (void)cudaFree(buffer_);
      buffer_ = nullptr;
      capacity_ = 0;
      status = cuda_status(cudaMalloc(&buffer_, bytes), "cudaMalloc");
      if (status.ok()) capacity_ = bytes;
    }
    if (status.ok()) status = cuda_status(cudaMemcpyAsync(buffer_, host, bytes, cudaMemcpyHostToDevice, stream_),
                                          "cudaMemcpyAsync");
    if (status.ok()) status = nccl_status(call(buffer_), name, comm_);
    if (status.ok()) status = wait_nccl(comm_, name, deadline, options_.timeout);
    if (status.ok()) status = cuda_status(cudaMemcpyAsync(host, buffer_, bytes, cudaMemcpyDeviceToHost, stream_),
                                          "cudaMemcpyAsync");
    if (status.ok()) status = poll(name, bytes, deadline, "cudaStreamQuery", [&] { return cudaStreamQuery(stream_); });
    return failed_on(std::move(status));
  }

  ncclComm_t comm_;
  cudaStream_t stream_;
  int device_;
  int rank_;
  int size_;
  CommunicatorOptions options_;
  void* buffer_ = nullptr;
  size_t capacity_ = 0;
  cudaEvent_t ready_ = nullptr;     // a bucket complete on the session's stream
  cudaEvent_t enqueued_ = nullptr;  // recorded after the last allreduce_average_on_stream
  size_t enqueued_bytes_ = 0;        // enqueued since the last wait_enqueued
  bool failed_ = false;
  std::string last_error_;
};

}  // namespace

bool nccl_available() { return true; }

absl::StatusOr<std::unique_ptr<Communicator>> make_nccl_communicator(Communicator& bootstrap, int device,
                                                                     CommunicatorOptions options) {
  if (options.timeout.count() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("[dist] the communicator timeout must be positive, got ", options.timeout.count(), " ms"));
  }
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  int devices = 0;
  if (absl::Status s = cuda_status(cudaGetDeviceCount(&devices), "cudaGetDeviceCount"); !s.ok()) return s;
  if (device < 0 || device >= devices) {
    return absl::InvalidArgumentError(
        absl::StrCat("[dist] CUDA device ", device, " does not exist (", devices, " visible)"));
  }
  if (absl::Status s = cuda_status(cudaSetDevice(device), "cudaSetDevice"); !s.ok()) return s;
  ncclUniqueId id{};
  if (bootstrap.rank() == 0) {
    if (absl::Status s = nccl_status(ncclGetUniqueId(&id), "ncclGetUniqueId"); !s.ok()) return s;
  }
  if (absl::Status s = bootstrap.broadcast(std::span<std::byte>(reinterpret_cast<std::byte*>(&id), sizeof(id)), 0);
      !s.ok()) {
    return s;
  }
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  absl::Status status = nccl_status(
      ncclCommInitRankConfig(&comm, bootstrap.world_size(), id, bootstrap.rank(), &config), "ncclCommInitRankConfig");
  if (status.ok()) status = wait_nccl(comm, "ncclCommInitRankConfig", deadline, options.timeout);
  cudaStream_t stream = nullptr;
  if (status.ok()) {
    status = cuda_status(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  }
  if (!status.ok()) {
    if (comm != nullptr) (void)ncclCommAbort(comm);
    return status;
  }
  return std::unique_ptr<Communicator>(
      new NcclCommunicator(comm, stream, device, bootstrap.rank(), bootstrap.world_size(), options));
}

}  // namespace scopeflow::dist
