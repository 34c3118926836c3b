"""TensorFlow runs the GraphDefs of shared-variable gradients we export (summed in place by our
session, and with gradient checkpointing) and gets our gradients."""

import json
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

ARTIFACTS = pathlib.Path(os.environ["SCOPEFLOW_GRADIENT_ARTIFACTS"])
CASES = ["summed_in_place", "recomputed"]


def tensor_name(name):
    return name if ":" in name else name + ":0"


def array_of(described):
    return np.frombuffer(bytes.fromhex(described["hex"]), dtype=np.float32).reshape(described["shape"])


@pytest.mark.parametrize("name", CASES)
def test_tensorflow_computes_our_gradients(name):
    case = ARTIFACTS / "gradients" / name
    expected = json.loads((case / "expected.json").read_text())
    if name == "recomputed":
        assert expected["recomputed_nodes"] > 0
    graph = tf.Graph()
    with graph.as_default():
        graph_def = tf.compat.v1.GraphDef.FromString((case / "graph_def.pb").read_bytes())
        tf.compat.v1.import_graph_def(graph_def, name="")
        recompute_ops = [op for op in graph.get_operations() if op.name.startswith("gradients/recompute/")]
        assert (len(recompute_ops) > 0) == (name == "recomputed")
        for op in recompute_ops:
            assert op.control_inputs, f"{op.name} must wait for the gradient"
        with tf.compat.v1.Session(graph=graph) as session:
            for variable, value in expected["variables"].items():
                assign = graph.get_operation_by_name(variable + "/Assign")
                session.run(assign, feed_dict={assign.inputs[1]: array_of(value)})
            feed = {graph.get_tensor_by_name(tensor_name(expected["feed"]["name"])): array_of(expected["feed"]["value"])}
            fetches = [graph.get_tensor_by_name(tensor_name(g["name"])) for g in expected["gradients"]]
            got = session.run(fetches, feed)
    for want, value in zip(expected["gradients"], got):
        np.testing.assert_allclose(value, array_of(want["value"]), rtol=1e-5, atol=1e-5, err_msg=want["name"])
