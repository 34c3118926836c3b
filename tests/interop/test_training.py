"""TensorFlow differentiates and trains the graphs we export: tf.gradients on the imported graph
matches the gradients we computed (within 1e-4 relative), and running our exported update op
(ApplyGradientDescent, ApplyMomentum, ApplyAdam, AssignSub) once gives our variables. The
data-parallel case averages its gradients with CollectiveReduceV2 (one per variable, group size
1), which TensorFlow's session runs too."""

import json

import numpy as np
import pytest
import tensorflow as tf

from conftest import artifacts_dir, float32_array, load_case

GRADIENT_RTOL = 1e-4
GRADIENT_ATOL = 1e-6
STEP_RTOL = 1e-4
STEP_ATOL = 1e-6
CASES = ["train_sgd", "train_momentum", "train_nesterov", "train_adam", "train_adamw", "train_data_parallel"]


def array(spec):
    return float32_array(spec)


def load(name):
    case = load_case(name)
    training = json.loads((artifacts_dir() / "graphs" / name / "training.json").read_text(encoding="utf-8"))
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(tf.compat.v1.GraphDef.FromString(case["graph_def_bytes"]), name="")
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    sess = tf.compat.v1.Session(graph=graph, config=config)
    sess.run(graph.get_operation_by_name("init"))
    for variable, spec in case["variables"].items():
        assign = graph.get_operation_by_name(variable + "/Assign")
        sess.run(assign, feed_dict={assign.inputs[1]: array(spec)})
    feeds = {graph.get_tensor_by_name(t): array(spec) for t, spec in case["feeds"].items()}
    return case, training, graph, sess, feeds


def test_all_training_cases_were_written():
    names = {p.name for p in (artifacts_dir() / "graphs").iterdir()}
    assert set(CASES) <= names


@pytest.mark.parametrize("name", CASES)
def test_tensorflow_gradients_match_ours(name):
    case, training, graph, sess, feeds = load(name)
    with sess:
        loss = graph.get_tensor_by_name(training["loss"])
        with graph.as_default():
            xs = [graph.get_tensor_by_name(x) for x in training["gradients"]]
            theirs = tf.compat.v1.gradients(loss, xs, name="tf_gradients")
        values = sess.run(theirs, feed_dict=feeds)
        ours_by_name = dict(zip(case["fetches"], case["outputs"]))
        assert len(values) >= 3
        for x, value in zip(training["gradients"], values):
            ours = array(ours_by_name[training["gradients"][x]])
            np.testing.assert_allclose(value, ours, rtol=GRADIENT_RTOL, atol=GRADIENT_ATOL, err_msg=f"{name}: d loss / d {x}")


@pytest.mark.parametrize("name", CASES)
def test_one_exported_update_step_matches_ours(name):
    case, training, graph, sess, feeds = load(name)
    with sess:
        train_op = graph.get_operation_by_name(training["train_op"])
        assert train_op.type == "NoOp"
        sess.run(train_op, feed_dict=feeds)
        for variable, spec in training["after_one_step"].items():
            value = sess.run(graph.get_tensor_by_name(variable + ":0"))
            np.testing.assert_allclose(value, array(spec), rtol=STEP_RTOL, atol=STEP_ATOL, err_msg=f"{name}: {variable}")


def test_data_parallel_graph_all_reduces_each_variable_once():
    case, training, graph, sess, feeds = load("train_data_parallel")
    with sess:
        collectives = [op for op in graph.get_operations() if op.type == "CollectiveReduceV2"]
        # One all-reduce per variable (shared_layer/weights, shared_layer/biases, output/weights),
        # however often the graph uses it: shared_layer's two are used 3 times each.
        assert len(collectives) == len(training["gradients"]) == 3, [op.name for op in collectives]
        instance_keys = set()
        for op in collectives:
            assert op.name.startswith("all_reduce/"), op.name
            assert op.get_attr("merge_op") == b"Add" and op.get_attr("final_op") == b"Div"
            group_size, group_key, instance_key = (sess.run(t) for t in op.inputs[1:4])
            assert group_size == 1 and group_key == 1
            instance_keys.add(int(instance_key))
        assert len(instance_keys) == len(collectives)
        # Each feeds one of Adam's updates.
        for op in collectives:
            assert any(consumer.type == "ApplyAdam" for consumer in op.outputs[0].consumers()), op.name
