#pragma once
// Export of graphs as TensorFlow GraphDef and of traced runs as TensorFlow RunMetadata, both as
// serialized protobuf bytes that TensorFlow and TensorBoard read.

#include <optional>
#include <string>

#include "scopeflow/device.h"
#include "scopeflow/graph.h"
#include "scopeflow/session.h"

namespace scopeflow {

struct GraphDefOptions {
  /// Add the `_output_shapes` attr to every node with outputs (as TensorBoard's writer does).
  bool add_shapes = true;
  /// Device string for nodes that request none ("" keeps it empty). Sessions pass their device.
  std::optional<Device> default_device{};
  /// When set, every node without a requested device shows the device it runs on in this
  /// session (CPU-fallback ops of a CUDA session show the CPU). Takes precedence over
  /// default_device.
  const Session* placement = nullptr;
};

/// The graph as a serialized tensorflow.GraphDef (versions.producer >= 22). Variables appear as
/// TensorFlow 1 VariableV2 nodes with their Assign, read and initializer nodes.
std::string graph_def_bytes(const Graph& graph, const GraphDefOptions& options = {});

/// The same GraphDef in protobuf text format, for reading and debugging.
std::string graph_def_text(const Graph& graph, const GraphDefOptions& options = {});

/// A traced run (RunOptions::trace) as a serialized tensorflow.RunMetadata whose step stats are
/// named after the GraphDef nodes.
std::string run_metadata_bytes(const RunStats& stats);

}  // namespace scopeflow
