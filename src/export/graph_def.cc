// GraphDef and RunMetadata export. Variables become TensorFlow 1 VariableV2 nodes with the
// Initializer subgraph and Assign node tf.get_variable would create, plus an "init" NoOp that
// runs every Assign (tf.global_variables_initializer), so TensorFlow can import and run it.

#include "scopeflow/graph_def.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/text_format.h"
#include "proto/graph.pb.h"
#include "kernels/elementwise_functors.h"
#include "proto/run_metadata.pb.h"
#include "scopeflow/initializers.h"
#include "scopeflow/scope.h"

namespace scopeflow {

namespace {

namespace tfp = ::scopeflow::tfproto;

// Any producer >= 22 imports; TensorFlow only checks min_consumer and bad_consumers upward.
constexpr int kGraphDefProducer = 1000;
constexpr char kRuntimeDevicePrefix[] = "/job:localhost/replica:0/task:0";

tfp::DataType to_proto(DType dtype) { return static_cast<tfp::DataType>(tf_data_type(dtype)); }

void fill_shape(const Shape& shape, tfp::TensorShapeProto* out) {
  for (int64_t d : shape.dims()) out->add_dim()->set_size(d);
}

// TensorProto's tensor_content is little-endian, which is also the host's byte order.
static_assert(std::endian::native == std::endian::little, "tensor_content needs a little-endian host");

void fill_tensor(const Tensor& t, tfp::TensorProto* out) {
  out->set_dtype(to_proto(t.dtype()));
  fill_shape(t.shape(), out->mutable_tensor_shape());
  if (t.byte_size() > 0) out->set_tensor_content(std::string(static_cast<const char*>(t.raw_data()), t.byte_size()));
}

// A Const of `shape` filled with one value: TensorProto version 0 repeats a single element, kept
// in the typed field TensorFlow reads for the dtype (half_val holds float16/bfloat16 bits).
void fill_splat(DType dtype, const Shape& shape, double value, tfp::TensorProto* out) {
  out->set_dtype(to_proto(dtype));
  fill_shape(shape, out->mutable_tensor_shape());
  dispatch_dtype(dtype, [&]<class T>() {
    const T v = functors::CastTo<T>{}(value);
    if constexpr (std::is_same_v<T, float>) {
      out->add_float_val(v);
    } else if constexpr (std::is_same_v<T, double>) {
      out->add_double_val(v);
    } else if constexpr (is_half_type_v<T>) {
      out->add_half_val(v.bits);
    } else if constexpr (std::is_same_v<T, bool>) {
      out->add_bool_val(v);
    } else if constexpr (std::is_same_v<T, int64_t>) {
      out->add_int64_val(v);
    } else {
      out->add_int_val(v);  // int8, uint8, int16, uint16 and int32 share int_val
    }
  });
}

void set_attr(tfp::NodeDef* node, const std::string& name, const AttrValue& value) {
  tfp::AttrValue& out = (*node->mutable_attr())[name];
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, bool>) {
          out.set_b(v);
        } else if constexpr (std::is_same_v<V, int64_t>) {
          out.set_i(v);
        } else if constexpr (std::is_same_v<V, float>) {
          out.set_f(v);
        } else if constexpr (std::is_same_v<V, std::string>) {
          out.set_s(v);
        } else if constexpr (std::is_same_v<V, DType>) {
          out.set_type(to_proto(v));
        } else if constexpr (std::is_same_v<V, Shape>) {
          fill_shape(v, out.mutable_shape());
        } else if constexpr (std::is_same_v<V, Tensor>) {
          fill_tensor(v, out.mutable_tensor());
        } else if constexpr (std::is_same_v<V, std::vector<int64_t>>) {
          for (int64_t i : v) out.mutable_list()->add_i(i);
        }
      },
      value);
}

void set_output_shapes(tfp::NodeDef* node, std::initializer_list<Shape> shapes) {
  tfp::AttrValue& out = (*node->mutable_attr())["_output_shapes"];
  auto* list = out.mutable_list();
  for (const Shape& s : shapes) fill_shape(s, list->add_shape());
}

// Writes nodes for one GraphDef, tracking names so that added nodes never collide.
class GraphDefBuilder {
 public:
  GraphDefBuilder(const Graph& graph, const GraphDefOptions& options, tfp::GraphDef* out)
      : graph_(graph), options_(options), out_(out) {
    for (const auto& node : graph.nodes()) names_.insert(node->name());
    default_device_ = options.default_device ? options.default_device->to_string() : "";
  }

  void build() {
    out_->mutable_versions()->set_producer(kGraphDefProducer);
    out_->mutable_versions()->set_min_consumer(0);
    std::vector<std::string> assigns;
    for (const auto& node : graph_.nodes()) {
      add_graph_node(*node);
      if (node->op() == "VariableV2") {
        if (const VariableInfo* info = graph_.variable_store().find_by_node(node.get())) {
          assigns.push_back(add_variable_initialization(*info));
        }
      }
    }
    if (!assigns.empty()) {
      tfp::NodeDef* init = add_node(free_name("init"), "NoOp");
      for (const std::string& a : assigns) init->add_input(absl::StrCat("^", a));
    }
  }

 private:
  tfp::NodeDef* add_node(const std::string& name, const std::string& op) {
    tfp::NodeDef* node = out_->add_node();
    node->set_name(name);
    node->set_op(op);
    node->set_device(default_device_);
    names_.insert(name);
    return node;
  }

  std::string free_name(const std::string& base) {
    if (!names_.contains(base)) return base;
    for (int i = 1;; ++i) {
      std::string candidate = absl::StrCat(base, "_", i);
      if (!names_.contains(candidate)) return candidate;
    }
  }

  void add_graph_node(const Node& node) {
    tfp::NodeDef* out = out_->add_node();
    out->set_name(node.name());
    out->set_op(node.op());
    if (!node.device().empty()) {
      out->set_device(node.device());
    } else if (options_.placement != nullptr) {
      out->set_device(options_.placement->node_device(node).to_string());
    } else {
      out->set_device(default_device_);
    }
    for (const Output& in : node.inputs()) out->add_input(in.name());
    for (const Node* control : node.control_inputs()) out->add_input(absl::StrCat("^", control->name()));
    for (const auto& [name, value] : node.attrs()) set_attr(out, name, value);
    if (options_.add_shapes && node.num_outputs() > 0) {
      tfp::AttrValue& shapes = (*out->mutable_attr())["_output_shapes"];
      for (int i = 0; i < node.num_outputs(); ++i) fill_shape(node.output_shape(i), shapes.mutable_list()->add_shape());
    }
  }

  tfp::NodeDef* add_const(const std::string& name, DType dtype, const Shape& shape, double value) {
    tfp::NodeDef* node = add_node(name, "Const");
    fill_splat(dtype, shape, value, (*node->mutable_attr())["value"].mutable_tensor());
    (*node->mutable_attr())["dtype"].set_type(to_proto(dtype));
    if (options_.add_shapes) set_output_shapes(node, {shape});
    return node;
  }

  tfp::NodeDef* add_shape_const(const std::string& name, const Shape& shape) {
    tfp::NodeDef* node = add_node(name, "Const");
    tfp::TensorProto* value = (*node->mutable_attr())["value"].mutable_tensor();
    value->set_dtype(tfp::DT_INT32);
    value->mutable_tensor_shape()->add_dim()->set_size(shape.rank());
    for (int64_t d : shape.dims()) value->add_int_val(static_cast<int32_t>(d));
    (*node->mutable_attr())["dtype"].set_type(tfp::DT_INT32);
    if (options_.add_shapes) set_output_shapes(node, {Shape{shape.rank()}});
    return node;
  }

  tfp::NodeDef* add_binary(const std::string& name, const std::string& op, const std::string& x,
                           const std::string& y, DType dtype, const Shape& shape) {
    tfp::NodeDef* node = add_node(name, op);
    node->add_input(x);
    node->add_input(y);
    (*node->mutable_attr())["T"].set_type(to_proto(dtype));
    if (options_.add_shapes) set_output_shapes(node, {shape});
    return node;
  }

  // TensorFlow's random initializer layout: <scope>/{shape, <params>, <RandomOp>, mul, ...}.
  std::string add_random(const std::string& scope, const std::string& random_op, const VariableInfo& info,
                         double scale, double offset, uint64_t op_seed) {
    const Shape& shape = info.shape;
    add_shape_const(absl::StrCat(scope, "/shape"), shape);
    tfp::NodeDef* draw = add_node(absl::StrCat(scope, "/", random_op), random_op);
    draw->add_input(absl::StrCat(scope, "/shape"));
    (*draw->mutable_attr())["seed"].set_i(static_cast<int64_t>(graph_.seed()));
    (*draw->mutable_attr())["seed2"].set_i(static_cast<int64_t>(op_seed));
    (*draw->mutable_attr())["dtype"].set_type(to_proto(info.dtype));
    (*draw->mutable_attr())["T"].set_type(tfp::DT_INT32);
    if (options_.add_shapes) set_output_shapes(draw, {shape});
    const bool normal = random_op != "RandomUniform";
    const std::string scale_name = absl::StrCat(scope, normal ? "/stddev" : "/range");
    const std::string offset_name = absl::StrCat(scope, normal ? "/mean" : "/min");
    // The draw, its parameters and the arithmetic in the variable's dtype, as TensorFlow builds it.
    add_const(scale_name, info.dtype, Shape{}, scale);
    add_const(offset_name, info.dtype, Shape{}, offset);
    add_binary(absl::StrCat(scope, "/mul"), "Mul", draw->name(), scale_name, info.dtype, shape);
    add_binary(scope, "AddV2", absl::StrCat(scope, "/mul"), offset_name, info.dtype, shape);
    return scope;
  }

  // Adds <var>/Initializer/... and <var>/Assign; returns the Assign's name.
  std::string add_variable_initialization(const VariableInfo& info) {
    const Initializer& init = info.initializer;
    const std::string& scope = info.initializer_scope;
    const uint64_t op_seed = init.seed ? static_cast<uint64_t>(*init.seed) : static_cast<uint64_t>(info.node->id());
    const Fans fans = compute_fans(info.shape);
    const double fan_sum = static_cast<double>(fans.fan_in + fans.fan_out);
    // Keras scales truncated normals by this so the truncated draw has the requested stddev.
    constexpr double kTruncatedStddevCorrection = 0.87962566103423978;
    std::string value;
    switch (init.kind) {
      case InitializerKind::kZeros:
        value = add_const(absl::StrCat(scope, "/zeros"), info.dtype, info.shape, 0.0)->name();
        break;
      case InitializerKind::kOnes:
        value = add_const(absl::StrCat(scope, "/ones"), info.dtype, info.shape, 1.0)->name();
        break;
      case InitializerKind::kConstant:
        value = add_const(absl::StrCat(scope, "/Const"), info.dtype, info.shape, init.value)->name();
        break;
      case InitializerKind::kRandomNormal:
        value = add_random(absl::StrCat(scope, "/random_normal"), "RandomStandardNormal", info, init.stddev, init.mean, op_seed);
        break;
      case InitializerKind::kTruncatedNormal:
        value = add_random(absl::StrCat(scope, "/truncated_normal"), "TruncatedNormal", info, init.stddev, init.mean, op_seed);
        break;
      case InitializerKind::kRandomUniform:
        value = add_random(absl::StrCat(scope, "/random_uniform"), "RandomUniform", info, init.maxval - init.minval, init.minval, op_seed);
        break;
      case InitializerKind::kGlorotUniform: {
        const double limit = fan_sum > 0 ? std::sqrt(6.0 / fan_sum) : 0.0;
        value = add_random(absl::StrCat(scope, "/random_uniform"), "RandomUniform", info, 2 * limit, -limit, op_seed);
        break;
      }
      case InitializerKind::kGlorotNormal: {
        const double stddev = fan_sum > 0 ? std::sqrt(2.0 / fan_sum) / kTruncatedStddevCorrection : 0.0;
        value = add_random(absl::StrCat(scope, "/truncated_normal"), "TruncatedNormal", info, stddev, 0.0, op_seed);
        break;
      }
      case InitializerKind::kHeNormal: {
        const double stddev = fans.fan_in > 0 ? std::sqrt(2.0 / static_cast<double>(fans.fan_in)) / kTruncatedStddevCorrection : 0.0;
        value = add_random(absl::StrCat(scope, "/truncated_normal"), "TruncatedNormal", info, stddev, 0.0, op_seed);
        break;
      }
      case InitializerKind::kValue:
      case InitializerKind::kFunction: {
        // get_variable turned a function into its values; both export as the values themselves.
        if (init.tensor == nullptr) {
          throw_invalid("graph_def", "variable '", info.name, "' has a ", init.name(), " initializer without values");
        }
        tfp::NodeDef* node = add_node(absl::StrCat(scope, "/initial_value"), "Const");
        fill_tensor(*init.tensor, (*node->mutable_attr())["value"].mutable_tensor());
        (*node->mutable_attr())["dtype"].set_type(to_proto(info.dtype));
        if (options_.add_shapes) set_output_shapes(node, {info.shape});
        value = node->name();
        break;
      }
    }
    tfp::NodeDef* assign = add_node(info.assign_name, "Assign");
    assign->add_input(info.node->name());
    assign->add_input(value);
    (*assign->mutable_attr())["T"].set_type(to_proto(info.dtype));
    (*assign->mutable_attr())["validate_shape"].set_b(true);
    (*assign->mutable_attr())["use_locking"].set_b(true);
    if (options_.add_shapes) set_output_shapes(assign, {info.shape});
    return assign->name();
  }

  const Graph& graph_;
  const GraphDefOptions& options_;
  tfp::GraphDef* out_;
  absl::flat_hash_set<std::string> names_;
  std::string default_device_;
};

tfp::GraphDef build_graph_def(const Graph& graph, const GraphDefOptions& options) {
  tfp::GraphDef graph_def;
  GraphDefBuilder(graph, options, &graph_def).build();
  return graph_def;
}

}  // namespace

std::string graph_def_bytes(const Graph& graph, const GraphDefOptions& options) {
  // Deterministic: attrs are a protobuf map, whose default order varies between runs.
  const tfp::GraphDef graph_def = build_graph_def(graph, options);
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    graph_def.SerializeToCodedStream(&coded);
    if (coded.HadError()) throw_error(absl::StatusCode::kInternal, "graph_def", "serializing the GraphDef failed");
  }
  return bytes;
}

std::string graph_def_text(const Graph& graph, const GraphDefOptions& options) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(build_graph_def(graph, options), &text);
  return text;
}

std::string run_metadata_bytes(const RunStats& stats) {
  tfp::RunMetadata metadata;
  // One DeviceStepStats per device nodes ran on (the session's first; CPU-fallback nodes of a
  // CUDA session under the CPU). Outputs were allocated by the session's allocator.
  std::vector<std::pair<Device, tfp::DeviceStepStats*>> devices;
  auto device_stats = [&](Device d) {
    for (auto& [known, entry] : devices) {
      if (known == d) return entry;
    }
    tfp::DeviceStepStats* entry = metadata.mutable_step_stats()->add_dev_stats();
    entry->set_device(absl::StrCat(kRuntimeDevicePrefix, d.to_string()));
    devices.emplace_back(d, entry);
    return entry;
  };
  device_stats(stats.device);
  const std::string allocator_name = stats.device.type == DeviceType::kCpu ? "cpu" : "gpu";
  for (const NodeRunStats& node : stats.nodes) {
    if (node.node == nullptr) continue;
    tfp::DeviceStepStats* device = device_stats(node.device);
    tfp::NodeExecStats* out = device->add_node_stats();
    out->set_node_name(node.node->name());
    // TensorBoard shows compute time only when the duration is positive: round up to 1 us.
    const int64_t micros = std::max<int64_t>(1, (node.duration_nanos + 999) / 1000);
    out->set_all_start_micros(node.start_micros);
    out->set_op_start_rel_micros(0);
    out->set_op_end_rel_micros(micros);
    out->set_all_end_rel_micros(micros);
    out->set_all_start_nanos(node.start_nanos);
    out->set_op_start_rel_nanos(0);
    out->set_op_end_rel_nanos(node.duration_nanos);
    out->set_all_end_rel_nanos(node.duration_nanos);
    out->set_timeline_label(absl::StrCat(node.node->name(), " = ", node.node->op(), "()",
                                         node.fused_kernel.empty() ? "" : " [fused: ",
                                         node.fused_kernel, node.fused_kernel.empty() ? "" : "]"));
    if (node.allocated_bytes > 0) {
      tfp::AllocatorMemoryUsed* memory = out->add_memory();
      memory->set_allocator_name(allocator_name);
      memory->set_total_bytes(node.allocated_bytes);
      memory->set_peak_bytes(node.allocated_bytes);
      memory->set_live_bytes(node.allocated_bytes);
    }
    for (size_t i = 0; i < node.output_shapes.size(); ++i) {
      tfp::NodeOutput* output = out->add_output();
      output->set_slot(static_cast<int32_t>(i));
      tfp::TensorDescription* description = output->mutable_tensor_description();
      description->set_dtype(to_proto(node.output_dtypes[i]));
      fill_shape(node.output_shapes[i], description->mutable_shape());
      const int64_t bytes = node.output_shapes[i].num_elements() * static_cast<int64_t>(dtype_size(node.output_dtypes[i]));
      description->mutable_allocation_description()->set_requested_bytes(bytes);
      description->mutable_allocation_description()->set_allocated_bytes(bytes);
      description->mutable_allocation_description()->set_allocator_name(allocator_name);
    }
  }
  std::string bytes;
  if (!metadata.SerializeToString(&bytes)) {
    throw_error(absl::StatusCode::kInternal, "run_metadata", "serializing RunMetadata failed");
  }
  return bytes;
}

}  // namespace scopeflow
