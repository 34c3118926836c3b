#include "scopeflow/graph_def.h"

#include <gtest/gtest.h>

#include "proto/graph.pb.h"
#include "scopeflow/losses.h"
#include "scopeflow/ops.h"
#include "scopeflow/scope.h"
#include "scopeflow/train.h"

namespace scopeflow {
namespace {

// A small training graph: shared layer, loss, Adam.
std::string training_graph_bytes() {
  Graph graph;
  Output x = ops::placeholder(graph, DType::kFloat32, Shape{4, 3}, "x");
  Output labels = ops::placeholder(graph, DType::kInt32, Shape{4}, "labels");
  Output h = x;
  for (int use = 0; use < 2; ++use) {
    auto scope = variable_scope(graph, "shared", {.reuse = Reuse::kAutoReuse});
    h = ops::relu(ops::matmul(h, get_variable(graph, "weights", {.shape = Shape{3, 3}})));
  }
  train::Adam adam;
  adam.minimize(losses::sparse_softmax_cross_entropy(labels, h));
  return graph_def_bytes(graph);
}

TEST(GraphDefTest, BytesAreDeterministic) {
  const std::string first = training_graph_bytes();
  EXPECT_EQ(first, training_graph_bytes());
  tfproto::GraphDef parsed;
  ASSERT_TRUE(parsed.ParseFromString(first));
  int apply_adam = 0;
  for (const auto& node : parsed.node()) {
    if (node.op() == "ApplyAdam") {
      ++apply_adam;
      EXPECT_EQ(node.input(0), "shared/weights");  // the variable itself: a ref input
      EXPECT_EQ(node.input(1), "shared/weights/Adam");
      EXPECT_EQ(node.input(2), "shared/weights/Adam_1");
    }
  }
  EXPECT_EQ(apply_adam, 1);
}

}  // namespace
}  // namespace scopeflow
