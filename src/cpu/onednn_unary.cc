#include "cpu/onednn_unary.h"

#if SCOPEFLOW_WITH_ONEDNN

#include "absl/status/status.h"
#include "cpu/omp_threads.h"
#include "scopeflow/error.h"

namespace scopeflow::cpu {

namespace {

dnnl::algorithm algorithm_of(OneDnnEltwise algorithm) {
  switch (algorithm) {
    case OneDnnEltwise::kTanh: return dnnl::algorithm::eltwise_tanh;
    case OneDnnEltwise::kLogistic: return dnnl::algorithm::eltwise_logistic;
    case OneDnnEltwise::kSqrt: return dnnl::algorithm::eltwise_sqrt;
  }
  return dnnl::algorithm::undef;
}

std::string_view trace_of(OneDnnEltwise algorithm) {
  switch (algorithm) {
    case OneDnnEltwise::kTanh: return "oneDNN eltwise tanh";
    case OneDnnEltwise::kLogistic: return "oneDNN eltwise logistic";
    case OneDnnEltwise::kSqrt: return "oneDNN eltwise sqrt";
  }
  return "oneDNN eltwise";
}

}  // namespace

const dnnl::engine& onednn_cpu_engine() {
  static const dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

OneDnnUnaryKernel::OneDnnUnaryKernel(std::string_view op, std::string_view trace, int64_t elements, int threads)
    : op_(op), trace_(trace), threads_(elements <= kSingleThreadOneDnnElements ? 1 : threads) {}

void OneDnnUnaryKernel::finish(dnnl::primitive primitive, const dnnl::memory::desc& md) {
  primitive_ = std::move(primitive);
  stream_ = dnnl::stream(onednn_cpu_engine());
  src_ = dnnl::memory(md, onednn_cpu_engine(), DNNL_MEMORY_NONE);
  dst_ = dnnl::memory(md, onednn_cpu_engine(), DNNL_MEMORY_NONE);
  args_[0] = {DNNL_ARG_SRC, src_.get()};
  args_[1] = {DNNL_ARG_DST, dst_.get()};
}

OneDnnUnaryKernel OneDnnUnaryKernel::softmax(int64_t rows, int64_t columns, int threads) {
  OneDnnUnaryKernel kernel("softmax", "oneDNN softmax", rows * columns, threads);
  const OmpThreadScope team(kernel.threads_);
  try {
    const dnnl::memory::desc md(dnnl::memory::dims{rows, columns}, dnnl::memory::data_type::f32,
                                dnnl::memory::format_tag::ab);
    kernel.finish(dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(
                      dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, md, 1), onednn_cpu_engine())),
                  md);
  } catch (const dnnl::error& e) {
    throw_error(absl::StatusCode::kInternal, "softmax", "oneDNN primitive creation failed: ", e.what());
  }
  return kernel;
}

OneDnnUnaryKernel OneDnnUnaryKernel::eltwise(OneDnnEltwise algorithm, int64_t elements, int threads,
                                             std::string_view op) {
  OneDnnUnaryKernel kernel(op, trace_of(algorithm), elements, threads);
  const OmpThreadScope team(kernel.threads_);
  try {
    const dnnl::memory::desc md(dnnl::memory::dims{elements}, dnnl::memory::data_type::f32,
                                dnnl::memory::format_tag::a);
    kernel.finish(dnnl::eltwise_forward(dnnl::eltwise_forward::primitive_desc(
                      dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, algorithm_of(algorithm), md,
                                                  0.0f, 0.0f),
                      onednn_cpu_engine())),
                  md);
  } catch (const dnnl::error& e) {
    throw_error(absl::StatusCode::kInternal, op, "oneDNN primitive creation failed: ", e.what());
  }
  return kernel;
}

std::string_view OneDnnUnaryKernel::run(KernelContext& ctx) const {
  const float* x = ctx.inputs[0].data<float>();
  float* y = ctx.outputs[0].data<float>();
  const OmpThreadScope team(threads_);
  // Inputs are only read; the handle is non-const in the C API.
  dnnl_status_t status = dnnl_memory_set_data_handle(src_.get(), const_cast<float*>(x));
  if (status == dnnl_success) status = dnnl_memory_set_data_handle(dst_.get(), y);
  if (status == dnnl_success) status = dnnl_primitive_execute(primitive_.get(), stream_.get(), 2, args_);
  if (status != dnnl_success) {
    throw_error(absl::StatusCode::kInternal, op_, "oneDNN ", trace_, " execution failed (status ",
                static_cast<int>(status), ")");
  }
  return trace_;
}

}  // namespace scopeflow::cpu

#endif
