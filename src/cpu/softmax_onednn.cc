#include "cpu/softmax_onednn.h"

#include "cpu/omp_threads.h"
#include "scopeflow/error.h"

#if SCOPEFLOW_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace scopeflow::cpu {

#if SCOPEFLOW_WITH_ONEDNN

namespace {

class OneDnnRowSoftmax final : public RowSoftmax {
 public:
  OneDnnRowSoftmax(int64_t rows, int64_t classes, bool log, int threads)
      : threads_(rows * classes <= kSingleThreadSoftmaxElements ? 1 : threads) {
    const OmpThreadScope team(threads_);
    const dnnl::memory::desc md(dnnl::memory::dims{rows, classes}, dnnl::memory::data_type::f32,
                                dnnl::memory::format_tag::ab);
    try {
      engine_ = dnnl::engine(dnnl::engine::kind::cpu, 0);
      stream_ = dnnl::stream(engine_);
      if (log) {
        primitive_ = dnnl::logsoftmax_forward(dnnl::logsoftmax_forward::primitive_desc(
            dnnl::logsoftmax_forward::desc(dnnl::prop_kind::forward_inference, md, 1), engine_));
      } else {
        primitive_ = dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(
            dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, md, 1), engine_));
      }
      src_ = dnnl::memory(md, engine_, DNNL_MEMORY_NONE);
      dst_ = dnnl::memory(md, engine_, DNNL_MEMORY_NONE);
    } catch (const dnnl::error& e) {
      throw_error(absl::StatusCode::kInternal, log ? "log_softmax" : "softmax",
                  "oneDNN primitive creation failed: ", e.what());
    }
    args_[0] = {DNNL_ARG_SRC, src_.get()};
    args_[1] = {DNNL_ARG_DST, dst_.get()};
  }

  void run(const float* x, float* y) override {
    const OmpThreadScope team(threads_);
    // The C API runs without building an argument map per call; inputs are only read.
    dnnl_status_t status = dnnl_memory_set_data_handle(src_.get(), const_cast<float*>(x));
    if (status == dnnl_success) status = dnnl_memory_set_data_handle(dst_.get(), y);
    if (status == dnnl_success) status = dnnl_primitive_execute(primitive_.get(), stream_.get(), 2, args_);
    if (status != dnnl_success) {
      throw_error(absl::StatusCode::kInternal, "softmax", "oneDNN softmax execution failed (status ",
                  static_cast<int>(status), ")");
    }
  }

 private:
  int threads_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::primitive primitive_;
  dnnl::memory src_, dst_;
  dnnl_exec_arg_t args_[2] = {};
};

}  // namespace

std::unique_ptr<RowSoftmax> make_onednn_softmax(int64_t rows, int64_t classes, bool log, int threads) {
  if (rows <= 0 || classes <= 0) return nullptr;
  return std::make_unique<OneDnnRowSoftmax>(rows, classes, log, threads);
}

#else

std::unique_ptr<RowSoftmax> make_onednn_softmax(int64_t /*rows*/, int64_t /*classes*/, bool /*log*/,
                                                int /*threads*/) {
  return nullptr;
}

#endif

}  // namespace scopeflow::cpu
