"""TensorFlow imports and runs the GraphDef of the variable-scope API (write_scopes_case): two
towers sharing their variables through get_variable_scope().reuse_variables(), scopes entered by
default_name, value initializers, scope-level l2 and per-variable l1 regularizers, an explicit
control_dependencies block and one GradientDescent step that applies non_neg constraints. Its
init, our fetches and our train op give our values, and the graph has TensorFlow's structure."""

import json

import numpy as np
import pytest
import tensorflow as tf

from conftest import artifacts_dir, float32_array, load_case

RTOL = 1e-5
ATOL = 1e-6
STEP_RTOL = 1e-4
STEP_ATOL = 1e-6
LEARNING_RATE = 0.1

VARIABLES = {"mix/scale", "mix_1/offset", "hidden/weights", "hidden/biases", "logits/weights"}
# Variable -> (regularizer op, scale); the others have none (hidden/biases switches the scope's off).
REGULARIZED = {"hidden/weights": ("Square", 0.05), "logits/weights": ("Square", 0.05), "mix/scale": ("Abs", 0.05)}
CONSTRAINED = {"mix/scale", "hidden/biases"}
VALUE_INITIALIZED = {"mix/scale": [0.5, -1.5], "mix_1/offset": [0.25, -0.75], "hidden/biases": [0.1, -0.2, 0.3, -0.4, 0.05]}
TOWER_LOSSES = ["tower_0/loss", "tower_1/loss"]


def array(spec):
    return float32_array(spec)


@pytest.fixture(scope="module")
def case():
    case = load_case("scopes")
    case.update(json.loads((artifacts_dir() / "graphs" / "scopes" / "scopes.json").read_text(encoding="utf-8")))
    case["graph_def"] = tf.compat.v1.GraphDef.FromString(case["graph_def_bytes"])
    return case


def import_graph(case):
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(case["graph_def"], name="")
    return graph


def session(graph):
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    return tf.compat.v1.Session(graph=graph, config=config)


def assign_ours(sess, graph, case):
    for variable, spec in case["variables"].items():
        assign = graph.get_operation_by_name(variable + "/Assign")
        sess.run(assign, feed_dict={assign.inputs[1]: array(spec)})


def feeds_of(graph, case):
    return {graph.get_tensor_by_name(t): array(spec) for t, spec in case["feeds"].items()}


def nodes(case):
    return {n.name: n for n in case["graph_def"].node}


def control_inputs(node):
    return sorted(i[1:] for i in node.input if i.startswith("^"))


def test_variables_one_node_each_shared_by_both_towers(case):
    by_name = nodes(case)
    variables = {n.name for n in by_name.values() if n.op == "VariableV2"}
    assert variables == VARIABLES
    assert set(case["variables"]) == VARIABLES
    # The default_name scopes were made unique: "mix", then "mix_1".
    assert not any(name.startswith(("mix_2/", "tower_0/hidden_1", "hidden_1/")) for name in by_name)
    graph = import_graph(case)
    for variable, layer in (("hidden/weights", "hidden"), ("logits/weights", "logits"), ("hidden/biases", "hidden")):
        readers = graph.get_operation_by_name(variable + "/read").outputs[0].consumers()
        tower_readers = sorted(op.name for op in readers if op.name.startswith("tower_"))
        assert tower_readers == sorted(f"tower_{i}/{layer}/{'BiasAdd' if 'biases' in variable else 'MatMul'}"
                                       for i in range(2)), variable
        assert [op.type for op in graph.get_operation_by_name(variable).outputs[0].consumers()].count("Identity") == 1


def test_regularization_losses_under_variable_regularizer_scope(case):
    by_name = nodes(case)
    assert set(case["regularization_losses"]) == set(REGULARIZED)
    for variable, (op, _) in REGULARIZED.items():
        tensor = case["regularization_losses"][variable]
        prefix = variable + "/Regularizer/"
        assert tensor.startswith(prefix), tensor
        scope_nodes = [n for n in by_name.values() if n.name.startswith(prefix)]
        assert op in {n.op for n in scope_nodes}, (variable, [n.op for n in scope_nodes])
        assert variable + "/read" in {i for n in scope_nodes for i in n.input}
        # Made outside every control_dependencies block.
        assert all(not control_inputs(n) for n in scope_nodes), variable
    for variable in VARIABLES - set(REGULARIZED):
        assert not any(n.startswith(variable + "/Regularizer/") for n in by_name), variable
    # Each tower's regularization_loss and the root one sum the three losses once each.
    losses = sorted(case["regularization_losses"].values())
    for total in ("tower_0/total_regularization_loss", "tower_1/total_regularization_loss", "total_regularization_loss"):
        assert by_name[total].op == "AddN", total
        assert sorted(by_name[total].input) == sorted(t.removesuffix(":0") for t in losses), total


def test_control_dependencies_block_gives_control_inputs(case):
    by_name = nodes(case)
    assert set(case["control_inputs"]) == {"checked_loss", "two", "doubled_loss"}
    for name, ours in case["control_inputs"].items():
        assert control_inputs(by_name[name]) == sorted(ours), name
    # Made inside the block from an outside input, or with no input: both tower losses first.
    assert control_inputs(by_name["checked_loss"]) == TOWER_LOSSES
    assert control_inputs(by_name["two"]) == TOWER_LOSSES
    # An input made inside the block already depends on them (TensorFlow adds none).
    assert control_inputs(by_name["doubled_loss"]) == []
    graph = import_graph(case)
    for name in ("checked_loss", "two"):
        assert sorted(op.name for op in graph.get_operation_by_name(name).control_inputs) == TOWER_LOSSES


def test_constraint_assign_runs_after_the_update(case):
    by_name = nodes(case)
    assert set(case["constraints"]) == CONSTRAINED
    train_op = by_name[case["train_op"]]
    assert train_op.op == "NoOp"
    for variable, c in case["constraints"].items():
        assign, update = by_name[c["assign"]], by_name[c["update"]]
        assert assign.op == "Assign" and update.op == "ApplyGradientDescent", variable
        assert assign.input[0] == variable and update.input[0] == variable
        assert assign.name.startswith(update.name.rsplit("/", 1)[0] + "/"), (assign.name, update.name)
        value = by_name[c["value"].removesuffix(":0")]
        assert value.op == "Relu" and value.input[0] == variable + "/read", variable
        # The projection reads the variable after its update: the control input on the update is
        # on the Assign or on the op computing its value (TensorFlow adds it to the ops made in
        # the block whose inputs come from outside it).
        assert update.name in control_inputs(assign) + control_inputs(value), (variable, list(assign.input), list(value.input))
        assert {assign.name, update.name} <= set(control_inputs(train_op))


def test_init_fetches_and_one_step_give_our_values(case):
    graph = import_graph(case)
    with session(graph) as sess:
        sess.run(graph.get_operation_by_name("init"))
        for variable, values in VALUE_INITIALIZED.items():
            # init::value: TensorFlow's init gives our values exactly.
            initial = sess.run(graph.get_tensor_by_name(variable + ":0"))
            np.testing.assert_array_equal(initial, np.array(values, dtype=np.float32), err_msg=variable)
            np.testing.assert_array_equal(initial, array(case["variables"][variable]), err_msg=variable)
        assign_ours(sess, graph, case)
        feeds = feeds_of(graph, case)
        results = sess.run([graph.get_tensor_by_name(t) for t in case["fetches"]], feed_dict=feeds)
        for fetch, ours, theirs in zip(case["fetches"], case["outputs"], results):
            expected = array(ours)
            assert theirs.shape == expected.shape, fetch
            np.testing.assert_allclose(theirs, expected, rtol=RTOL, atol=ATOL, err_msg=fetch)

        # The regularization losses are what l1 / l2 mean, on our values.
        by_fetch = dict(zip(case["fetches"], results))
        for variable, (op, scale) in REGULARIZED.items():
            w = array(case["variables"][variable]).astype(np.float64)
            expected = scale * (np.abs(w).sum() if op == "Abs" else np.square(w).sum())
            np.testing.assert_allclose(by_fetch[case["regularization_losses"][variable]], expected, rtol=RTOL, err_msg=variable)

        # What the step would give without the constraints: var - lr * d loss / d var.
        with graph.as_default():
            loss = graph.get_tensor_by_name("checked_loss:0")
            reads = [graph.get_tensor_by_name(v + "/read:0") for v in sorted(CONSTRAINED)]
            grads = tf.compat.v1.gradients(loss, reads, name="tf_gradients")
        unconstrained = {v: array(case["variables"][v]) - LEARNING_RATE * g
                         for v, g in zip(sorted(CONSTRAINED), sess.run(grads, feed_dict=feeds))}

        sess.run(graph.get_operation_by_name(case["train_op"]), feed_dict=feeds)
        assert set(case["after_one_step"]) == VARIABLES
        for variable, spec in case["after_one_step"].items():
            value = sess.run(graph.get_tensor_by_name(variable + ":0"))
            ours = array(spec)
            np.testing.assert_allclose(value, ours, rtol=STEP_RTOL, atol=STEP_ATOL, err_msg=variable)
            assert not np.array_equal(ours, array(case["variables"][variable])), f"{variable} did not move"
            if variable in CONSTRAINED:
                # The constraint was applied, and did clip: no negative values, exact zeros where
                # the plain update went below zero.
                assert (unconstrained[variable] < 0).any(), variable
                for got in (value, ours):
                    assert (got >= 0).all(), (variable, got)
                    np.testing.assert_allclose(got, np.maximum(unconstrained[variable], 0), rtol=STEP_RTOL,
                                               atol=STEP_ATOL, err_msg=variable)
                    assert (got[unconstrained[variable] < 0] == 0).all(), variable
