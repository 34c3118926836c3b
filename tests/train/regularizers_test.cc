#include "scopeflow/regularizers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "scopeflow/error.h"
#include "scopeflow/losses.h"
#include "scopeflow/ops.h"
#include "scopeflow/session.h"
#include "scopeflow/train.h"
#include "test_util.h"

namespace scopeflow {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using test::error_of;
using test::IsError;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

float scalar_of(Session& session, Output x) { return session.run(x).to_vector<float>().at(0); }

Initializer values(std::vector<float> v) { return init::value(std::move(v)); }

TEST(RegularizersTest, LossesAreKerasFormulasInTheCollectionOnce) {
  Graph graph;
  Variable a;
  Variable b;
  Variable c;
  {
    VariableScopeGuard scope = variable_scope(graph, "layer", {.regularizer = regularizers::l2(0.5)});
    a = get_variable(graph, "a", {.initializer = values({1, -2})});                                // 0.5 * 5
    b = get_variable(graph, "b", {.initializer = values({3, -4}), .regularizer = regularizers::l1(0.1)});  // 0.1 * 7
    c = get_variable(graph, "c", {.initializer = values({1, 2}), .regularizer = regularizers::l1_l2(1, 2)});  // 3 + 10
    get_variable(graph, "none", {.initializer = values({9}), .regularizer = regularizers::none()});
    get_variable_scope(graph).reuse_variables();
    get_variable(graph, "a");  // reuse adds no loss
  }
  {
    VariableScopeGuard off = variable_scope(graph, "layer/off", {.regularizer = regularizers::none()});
    get_variable(graph, "d", {.initializer = values({5})});
  }
  const std::vector<Output> losses = losses::regularization_losses(graph);
  ASSERT_EQ(losses.size(), 3u);
  EXPECT_EQ(losses[0].node->name().rfind("layer/a/Regularizer/", 0), 0u);
  EXPECT_EQ(*a.info().regularization_loss, losses[0]);
  Session session(graph);
  session.initialize_variables();
  EXPECT_FLOAT_EQ(scalar_of(session, losses[0]), 2.5f);
  EXPECT_FLOAT_EQ(scalar_of(session, losses[1]), 0.7f);
  EXPECT_FLOAT_EQ(scalar_of(session, losses[2]), 13.0f);
  EXPECT_FLOAT_EQ(scalar_of(session, losses::regularization_loss(graph)), 16.2f);
  EXPECT_FLOAT_EQ(scalar_of(session, losses::regularization_loss(graph, "layer/b")), 0.7f);
  EXPECT_FLOAT_EQ(scalar_of(session, losses::regularization_loss(graph, "nothing")), 0.0f);
}

TEST(RegularizersTest, TheirGradientsTrainTheWeightsDown) {
  Graph graph;
  Variable w = get_variable(graph, "w", {.initializer = values({2, -2}), .regularizer = regularizers::l1_l2(0.1, 0.1)});
  train::GradientDescent sgd(0.5f);
  Node* step = sgd.minimize(losses::regularization_loss(graph));
  Session session(graph);
  session.initialize_variables();
  session.run({}, {}, {step});
  // d/dw (0.1|w| + 0.1 w^2) = 0.1 sign(w) + 0.2 w = +-0.5 at w = +-2.
  EXPECT_THAT(session.variable_value(w).to_vector<float>(), ElementsAre(1.75f, -1.75f));
}

TEST(RegularizersTest, BadScalesAndBadLossesAreClearErrors) {
  EXPECT_THAT(error_of([] { regularizers::l1(-1); }), IsError(kInvalid, StartsWith("[regularizers]")));
  EXPECT_THAT(error_of([] { regularizers::l2(NAN); }), IsError(kInvalid, HasSubstr("finite")));
  Graph graph;
  const Regularizer not_scalar = [](Output w) -> std::optional<Output> { return ops::square(w); };
  EXPECT_THAT(error_of([&] { get_variable(graph, "w", {.shape = Shape{3}, .regularizer = not_scalar}); }),
              IsError(kInvalid, AllOf(StartsWith("[get_variable]"), HasSubstr("floating scalar"), HasSubstr("(3,)"))));
}

TEST(ConstraintsTest, RunAfterEveryOptimizerUpdate) {
  Graph graph;
  Output target = ops::constant(graph, Tensor::from_vector<float>(Shape{3}, {-5, 1, 4}));
  Variable w;
  Variable free_w;
  {
    VariableScopeGuard scope = variable_scope(graph, "s", {.constraint = constraints::non_neg()});
    w = get_variable(graph, "w", {.initializer = values({1, 1, 1})});
    free_w = get_variable(graph, "free", {.initializer = values({1, 1, 1}),
                                          .constraint = [](Output x) { return ops::mul(x, ops::scalar(*x.graph(), 0.5f)); }});
  }
  Output loss = ops::add(ops::reduce_sum(ops::square(ops::sub(w, target))),
                         ops::reduce_sum(ops::square(ops::sub(free_w, target))));
  train::GradientDescent sgd(0.25f);
  Node* step = sgd.minimize(loss);
  Session session(graph);
  session.initialize_variables();
  session.run({}, {}, {step});
  // w - 0.25 * 2 (w - t) = (-2, 1, 2.5), then max(., 0); free: the same, halved by its own constraint.
  EXPECT_THAT(session.variable_value(w).to_vector<float>(), ElementsAre(0.0f, 1.0f, 2.5f));
  EXPECT_THAT(session.variable_value(free_w).to_vector<float>(), ElementsAre(-1.0f, 0.5f, 1.25f));
  for (int i = 0; i < 20; ++i) session.run({}, {}, {step});
  for (float v : session.variable_value(w).to_vector<float>()) EXPECT_GE(v, 0.0f);
}

TEST(ConstraintsTest, AConstraintOfAnotherShapeIsAClearError) {
  Graph graph;
  Variable w = get_variable(graph, "w", {.shape = Shape{2}, .constraint = [](Output x) { return ops::reduce_sum(x); }});
  train::GradientDescent sgd(0.1f);
  EXPECT_THAT(error_of([&] { sgd.minimize(ops::reduce_sum(ops::square(w))); }),
              IsError(kInvalid, AllOf(HasSubstr("constraint of variable 'w'"), HasSubstr("(2,)"))));
}

}  // namespace
}  // namespace scopeflow
