"""TensorFlow imports and runs our GraphDef of variables of every dtype: its init gives our
constant initial values exactly (random ones in the right dtype and shape), and with our variable
values assigned, its casts give our outputs exactly."""

import json

import numpy as np
import tensorflow as tf

from conftest import artifacts_dir, float64_array

EXPECTED_DTYPES = {"float64", "float16", "bfloat16", "int8", "uint8", "int16", "uint16", "int32", "int64", "bool"}


def load():
    directory = artifacts_dir() / "dtypes"
    case = json.loads((directory / "case.json").read_text(encoding="utf-8"))
    graph_def = tf.compat.v1.GraphDef.FromString((directory / "graph_def.pb").read_bytes())
    return case, graph_def


def as_array(spec):
    dtype = tf.as_dtype(spec["dtype"])
    if dtype.is_floating:  # widened exactly to float64: narrowing back is exact too
        return float64_array(spec).astype(dtype.as_numpy_dtype)
    return np.array(spec["values"], dtype=np.int64).reshape(spec["shape"]).astype(dtype.as_numpy_dtype)


def assert_same(theirs, spec, what):
    expected = as_array(spec)
    assert theirs.dtype == expected.dtype, f"{what}: {theirs.dtype} vs {expected.dtype}"
    assert theirs.shape == expected.shape, what
    # Compare as float64 (exact for every value these dtypes hold in the case).
    np.testing.assert_array_equal(theirs.astype(np.float64), expected.astype(np.float64), err_msg=what)


def test_covers_the_dtypes():
    case, _ = load()
    assert EXPECTED_DTYPES <= {v["value"]["dtype"] for v in case["variables"].values()}


def test_import_init_and_casts_give_our_values():
    case, graph_def = load()
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    with tf.compat.v1.Session(graph=graph, config=config) as sess:
        sess.run(graph.get_operation_by_name("init"))
        for name, variable in case["variables"].items():
            value = sess.run(graph.get_tensor_by_name(name + ":0"))
            spec = variable["value"]
            assert value.dtype == tf.as_dtype(spec["dtype"]).as_numpy_dtype, name
            assert value.shape == tuple(spec["shape"]), name
            if not variable["random"]:
                assert_same(value, spec, f"{name} after init")

        # Our values (random ones included) through each variable's Assign.
        for name, variable in case["variables"].items():
            assign = graph.get_operation_by_name(name + "/Assign")
            sess.run(assign, feed_dict={assign.inputs[1]: as_array(variable["value"])})
            assert_same(sess.run(graph.get_tensor_by_name(name + ":0")), variable["value"], name)

        feeds = {graph.get_tensor_by_name(t): as_array(spec) for t, spec in case["feeds"].items()}
        names = list(case["outputs"])
        results = sess.run([graph.get_tensor_by_name(t) for t in names], feed_dict=feeds)
    for name, theirs in zip(names, results):
        assert_same(theirs, case["outputs"][name], name)
