// CPU GEMM family: MatMul (and fused MatMul -> BiasAdd [-> Relu] chains) as products prepared
// when a plan is made, on oneDNN or OpenBLAS; and MatMul's row of the CPU kernel table.

#include "cpu/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>

#include "cpu/kernel_rows.h"
#include "kernels/elementwise_functors.h"
#include "kernels/gemm_args.h"
#include "ops/op_util.h"
#include "scopeflow/error.h"

#if SCOPEFLOW_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>

#include "cpu/onednn_unary.h"
#endif

#ifndef OPENBLAS_VERSION
extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}
#endif

namespace scopeflow::cpu {

namespace {

constexpr std::string_view kWhere = "matmul";

// Both libraries index with 32-bit integers here (OpenBLAS's blasint, oneDNN's GEMM kernels):
// a larger dimension would be truncated, so it is refused.
void check_dimensions(const GemmShape& s) {
  for (const auto& [name, value] : {std::pair{"m", s.m}, std::pair{"n", s.n}, std::pair{"k", s.k}}) {
    if (value < 0 || value > INT_MAX) {
      throw_invalid(kWhere, "dimension ", name, " = ", value, " is outside what one CPU GEMM call takes [0, ",
                    INT_MAX, "]");
    }
  }
  if (s.scaled && (s.bias || s.relu)) {
    throw_error(absl::StatusCode::kInternal, kWhere, "a scaled product takes no bias or ReLU epilogue");
  }
}

// The parts of a product both libraries share: empty products, bias rows, ReLU after.
void fill_bias_rows(const GemmShape& s, const float* bias, float* c) {
  for (int64_t r = 0; r < s.m; ++r) std::memcpy(c + r * s.n, bias, static_cast<size_t>(s.n) * sizeof(float));
}

void relu_in_place(const GemmShape& s, float* c) {
  const functors::Relu relu;
  const int64_t count = s.m * s.n;
  for (int64_t i = 0; i < count; ++i) c[i] = relu(c[i]);
}

// A product with k = 0 is its bias (or zero), added to C when accumulating.
void run_empty_inner(const GemmShape& s, const float* bias, float* c) {
  if (s.accumulate) {
    if (s.bias) {
      for (int64_t r = 0; r < s.m; ++r) {
        for (int64_t j = 0; j < s.n; ++j) c[r * s.n + j] += bias[j];
      }
    }
  } else if (s.bias) {
    fill_bias_rows(s, bias, c);
  } else {
    std::memset(c, 0, static_cast<size_t>(s.m * s.n) * sizeof(float));
  }
  if (s.relu) relu_in_place(s, c);
}

class OpenBlasGemm final : public Gemm {
 public:
  explicit OpenBlasGemm(const GemmShape& shape)
      : shape_(shape),
        args_(column_major_gemm_for_row_major(shape.m, shape.n, shape.k, shape.transpose_a, shape.transpose_b)) {}

  void run_scaled(float alpha, const float* a, const float* b, const float* bias, float* c) override {
    const GemmShape& s = shape_;
    if (s.m == 0 || s.n == 0) return;
    if (s.k == 0) return run_empty_inner(s, bias, c);
    float beta = s.accumulate ? 1.0f : 0.0f;
    if (s.bias && s.accumulate) {
      for (int64_t r = 0; r < s.m; ++r) {
        for (int64_t j = 0; j < s.n; ++j) c[r * s.n + j] += bias[j];
      }
    } else if (s.bias) {
      fill_bias_rows(s, bias, c);  // the GEMM then accumulates onto the bias
      beta = 1.0f;
    }
    const ColumnMajorGemm& g = args_;
    cblas_sgemm(CblasColMajor, g.transpose_first ? CblasTrans : CblasNoTrans,
                g.transpose_second ? CblasTrans : CblasNoTrans, static_cast<blasint>(g.m),
                static_cast<blasint>(g.n), static_cast<blasint>(g.k), s.scaled ? alpha : 1.0f, b,
                static_cast<blasint>(g.ld_first), a, static_cast<blasint>(g.ld_second), beta, c,
                static_cast<blasint>(g.ld_result));
    if (s.relu) relu_in_place(s, c);
  }

  std::string_view description() const override {
    if (shape_.bias) return shape_.relu ? "sgemm onto the bias, then ReLU" : "sgemm onto the bias";
    if (shape_.scaled) return shape_.accumulate ? "sgemm (alpha, beta = 1)" : "sgemm (alpha)";
    return shape_.accumulate ? "sgemm (beta = 1)" : "sgemm";
  }

 private:
  GemmShape shape_;
  ColumnMajorGemm args_;
};

#if SCOPEFLOW_WITH_ONEDNN

[[noreturn]] void throw_onednn(const dnnl::error& e, std::string_view what) {
  throw_error(absl::StatusCode::kInternal, kWhere, "oneDNN ", what, " failed: ", e.what(),
              " (status ", static_cast<int>(e.status), ")");
}

class OneDnnGemm final : public Gemm {
 public:
  OneDnnGemm(const GemmShape& shape, int threads) : shape_(shape) {
    if (shape.m == 0 || shape.n == 0 || shape.k == 0) return;  // run() handles empty products
    const double flops = 2.0 * static_cast<double>(shape.m) * static_cast<double>(shape.n) * static_cast<double>(shape.k);
    threads_ = flops <= kSingleThreadGemmFlops ? 1 : threads;
    // Created with the team it runs with: oneDNN partitions the work when it creates a primitive.
    const OmpThreadScope team(threads_);
    using dt = dnnl::memory::data_type;
    using dims = dnnl::memory::dims;
    const int64_t m = shape.m, n = shape.n, k = shape.k;
    // Row-major operands as stored; a transposed one is the same matrix with swapped strides.
    const dnnl::memory::desc a_md(dims{m, k}, dt::f32, shape.transpose_a ? dims{1, m} : dims{k, 1});
    const dnnl::memory::desc b_md(dims{k, n}, dt::f32, shape.transpose_b ? dims{1, k} : dims{n, 1});
    const dnnl::memory::desc c_md(dims{m, n}, dt::f32, dims{n, 1});
    const dnnl::memory::desc bias_md(dims{1, n}, dt::f32, dims{n, 1});
    try {
      dnnl::post_ops post_ops;
      // The sum post-op adds the old C (beta = 1) before the ReLU, as BLAS beta would.
      if (shape.accumulate) post_ops.append_sum(1.0f);
      // No eltwise_relu post-op: oneDNN's maps NaN to 0 where TensorFlow's Relu keeps NaN, so
      // run() applies our ReLU to the product while it is still in cache.
      dnnl::primitive_attr attr;
      attr.set_post_ops(post_ops);
      // alpha as a runtime output scale: applied to the product before the sum post-op adds C.
      if (shape.scaled) attr.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
      const dnnl::matmul::desc desc = shape.bias ? dnnl::matmul::desc(a_md, b_md, bias_md, c_md)
                                                 : dnnl::matmul::desc(a_md, b_md, c_md);
      const dnnl::matmul::primitive_desc pd(desc, attr, onednn_cpu_engine());
      primitive_ = dnnl::matmul(pd);
      stream_ = dnnl::stream(onednn_cpu_engine());
      a_ = dnnl::memory(a_md, onednn_cpu_engine(), DNNL_MEMORY_NONE);
      b_ = dnnl::memory(b_md, onednn_cpu_engine(), DNNL_MEMORY_NONE);
      c_ = dnnl::memory(c_md, onednn_cpu_engine(), DNNL_MEMORY_NONE);
      if (shape.bias) bias_ = dnnl::memory(bias_md, onednn_cpu_engine(), DNNL_MEMORY_NONE);
      if (shape.scaled) {
        scale_ = dnnl::memory(dnnl::memory::desc(dims{1}, dt::f32, dims{1}), onednn_cpu_engine(), DNNL_MEMORY_NONE);
      }
      implementation_ = pd.impl_info_str();
    } catch (const dnnl::error& e) {
      throw_onednn(e, "matmul primitive creation");
    }
    args_[0] = {DNNL_ARG_SRC, a_.get()};
    args_[1] = {DNNL_ARG_WEIGHTS, b_.get()};
    args_[2] = {DNNL_ARG_DST, c_.get()};
    num_args_ = 3;
    if (shape.bias) args_[num_args_++] = {DNNL_ARG_BIAS, bias_.get()};
    if (shape.scaled) args_[num_args_++] = {DNNL_ARG_ATTR_OUTPUT_SCALES, scale_.get()};
    description_ = absl::StrCat("oneDNN matmul (", implementation_, ")", shape.scaled ? " with output scale" : "",
                                shape.bias ? " with bias" : "", shape.accumulate ? ", sum post-op" : "",
                                shape.relu ? ", then ReLU" : "");
  }

  void run_scaled(float alpha, const float* a, const float* b, const float* bias, float* c) override {
    const GemmShape& s = shape_;
    if (s.m == 0 || s.n == 0) return;
    if (s.k == 0) return run_empty_inner(s, bias, c);
    const OmpThreadScope team(threads_);
    // The C API binds the buffers and runs without building an argument map per call.
    bind(a_, a);
    bind(b_, b);
    bind(c_, c);
    if (s.bias) bind(bias_, bias);
    if (s.scaled) bind(scale_, &alpha);
    const dnnl_status_t status =
        dnnl_primitive_execute(primitive_.get(), stream_.get(), num_args_, args_);
    if (status != dnnl_success) {
      throw_error(absl::StatusCode::kInternal, kWhere, "oneDNN matmul execution failed (status ",
                  static_cast<int>(status), ")");
    }
    if (s.relu) relu_in_place(s, c);
  }

  std::string_view description() const override { return description_; }

 private:
  static void bind(const dnnl::memory& memory, const float* data) {
    // oneDNN takes non-const handles; inputs are only read.
    const dnnl_status_t status = dnnl_memory_set_data_handle(memory.get(), const_cast<float*>(data));
    if (status != dnnl_success) {
      throw_error(absl::StatusCode::kInternal, kWhere, "oneDNN could not bind a buffer (status ",
                  static_cast<int>(status), ")");
    }
  }

  GemmShape shape_;
  int threads_ = 0;  // its OpenMP team; 0: the caller's
  dnnl::matmul primitive_;
  dnnl::stream stream_;
  dnnl::memory a_, b_, c_, bias_, scale_;
  dnnl_exec_arg_t args_[5] = {};
  int num_args_ = 0;
  std::string implementation_;
  std::string description_;
};

#endif  // SCOPEFLOW_WITH_ONEDNN

}  // namespace

bool onednn_built() { return SCOPEFLOW_WITH_ONEDNN != 0; }

std::unique_ptr<Gemm> make_gemm(GemmLibrary library, const GemmShape& shape, int threads) {
  check_dimensions(shape);
  if (library == GemmLibrary::kOpenBlas) return std::make_unique<OpenBlasGemm>(shape);
#if SCOPEFLOW_WITH_ONEDNN
  return std::make_unique<OneDnnGemm>(shape, threads);
#else
  throw_error(absl::StatusCode::kFailedPrecondition, kWhere,
              "scopeflow was built without oneDNN (configure with -DSCOPEFLOW_CPU_GEMM=onednn)");
#endif
}

Gemm& GemmCache::get(GemmLibrary library, const GemmShape& shape) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = gemms_.find(std::pair{library, shape});
  if (it == gemms_.end()) it = gemms_.emplace(std::pair{library, shape}, make_gemm(library, shape, threads_)).first;
  return *it->second;
}

GemmThreadScope::GemmThreadScope(int threads) : omp_(threads) {
  // OpenBLAS's count is global; it is set only when it differs, since setting it may start threads.
  if (threads > 0 && openblas_get_num_threads() != threads) openblas_set_num_threads(threads);
}

GemmThreadScope::~GemmThreadScope() = default;

namespace {

// A MatMul step, a fused chain ending at BiasAdd or Relu (inputs a, b, bias), or a MatMul adding
// into a sum (inputs a, b, sum), as one product.
class GemmKernel final : public PreparedCpuKernel {
 public:
  GemmKernel(Gemm& gemm, bool bias) : gemm_(gemm), bias_(bias) {}

  std::string_view run(KernelContext& ctx) const override {
    gemm_.run(ctx.inputs[0].data<float>(), ctx.inputs[1].data<float>(),
              bias_ ? ctx.inputs[2].data<float>() : nullptr, ctx.outputs[0].data<float>());
    return gemm_.description();
  }

 private:
  Gemm& gemm_;  // owned by the backend's cache
  bool bias_;
};

// An SGD update whose delta is a product (inputs var, alpha, a, b): var += (-alpha) a b as one
// product accumulating into the variable, so the delta is never written out and read back.
class GemmUpdateKernel final : public PreparedCpuKernel {
 public:
  explicit GemmUpdateKernel(Gemm& gemm) : gemm_(gemm) {}

  std::string_view run(KernelContext& ctx) const override {
    const float alpha = ctx.inputs[1].data<float>()[0];
    gemm_.run_scaled(-alpha, ctx.inputs[2].data<float>(), ctx.inputs[3].data<float>(), nullptr,
                     ctx.inputs[0].data<float>());
    return gemm_.description();
  }

 private:
  Gemm& gemm_;  // owned by the backend's cache
};

std::unique_ptr<PreparedCpuKernel> prepare_matmul(const PlanStep& step, const DecodedAttrs& attrs,
                                                  KernelSetup& setup) {
  const Node& node = step.kernel_node();
  const auto* matmul = std::get_if<MatMulAttrs>(&attrs);
  if (matmul == nullptr) {
    throw_error(absl::StatusCode::kInternal, node.op_def().builder_name, "node '", node.name(),
                "' has no decoded transpose attributes");
  }
  const op_util::MatMulDims d = op_util::matmul_dims(*matmul, node.input(0).shape(), node.output_shape(0));
  if (step.update_matmul != nullptr) {
    const GemmShape shape{.m = d.m, .n = d.n, .k = d.k, .transpose_a = d.transpose_a,
                          .transpose_b = d.transpose_b, .accumulate = true, .scaled = true};
    return std::make_unique<GemmUpdateKernel>(setup.gemms.get(setup.gemm_library, shape));
  }
  // A later contribution to a sum summed in place adds its product to the sum (inputs a, b,
  // sum; output 0 is the sum's buffer): beta = 1.
  const GemmShape shape{.m = d.m, .n = d.n, .k = d.k, .transpose_a = d.transpose_a,
                        .transpose_b = d.transpose_b, .bias = step.fused(), .relu = step.fused_relu,
                        .accumulate = step.accumulator_input >= 0};
  return std::make_unique<GemmKernel>(setup.gemms.get(setup.gemm_library, shape), step.fused());
}

constexpr CpuKernelRow kRows[] = {
    {OpId::kMatMul, nullptr, prepare_matmul, kFloat32Only},
};
static_assert(no_op_twice(kRows));

}  // namespace

std::span<const CpuKernelRow> gemm_rows() { return kRows; }

}  // namespace scopeflow::cpu
