"""TensorFlow's import_graph_def accepts every GraphDef we write, and running the imported graph
with our variable values and feeds reproduces our outputs."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import float32_array, graph_case_names, load_case

RTOL = 1e-5
ATOL = 1e-6
RANDOM_OPS = {"RandomStandardNormal", "TruncatedNormal", "RandomUniform"}

CASES = graph_case_names()


def array(spec):
    return float32_array(spec)


def import_case(case):
    graph = tf.Graph()
    with graph.as_default():
        graph_def = tf.compat.v1.GraphDef.FromString(case["graph_def_bytes"])
        tf.compat.v1.import_graph_def(graph_def, name="")
    return graph, graph_def


def session(graph):
    config = tf.compat.v1.ConfigProto(
        allow_soft_placement=True, intra_op_parallelism_threads=1, inter_op_parallelism_threads=1
    )
    return tf.compat.v1.Session(graph=graph, config=config)


def initializer_is_random(graph_def, variable):
    prefix = variable + "/Initializer/"
    return any(n.op in RANDOM_OPS for n in graph_def.node if n.name.startswith(prefix))


def test_cases_cover_examples_and_random_graphs():
    assert {"example1", "example2", "example3"} <= set(CASES)
    assert len([c for c in CASES if c.startswith("random_")]) >= 10


@pytest.mark.parametrize("name", CASES)
def test_import_and_run_reproduces_outputs(name):
    case = load_case(name)
    graph, graph_def = import_case(case)
    with session(graph) as sess:
        if case["variables"]:
            # tf.global_variables_initializer's counterpart must run as exported.
            sess.run(graph.get_operation_by_name("init"))
            for variable, spec in case["variables"].items():
                ref = graph.get_tensor_by_name(variable + ":0")
                initial = sess.run(ref)
                assert initial.shape == tuple(spec["shape"]), variable
                if not initializer_is_random(graph_def, variable):
                    # Constant initializers: TensorFlow's init gives our values exactly.
                    np.testing.assert_array_equal(initial, array(spec), err_msg=variable)
        else:
            assert "init" not in {n.name for n in graph_def.node}

        # Our values into the variables, through each variable's own Assign (feeding the
        # initializer output it assigns).
        for variable, spec in case["variables"].items():
            assign = graph.get_operation_by_name(variable + "/Assign")
            assert assign.type == "Assign"
            sess.run(assign, feed_dict={assign.inputs[1]: array(spec)})
            np.testing.assert_array_equal(sess.run(graph.get_tensor_by_name(variable + ":0")), array(spec))

        feeds = {graph.get_tensor_by_name(t): array(spec) for t, spec in case["feeds"].items()}
        fetches = [graph.get_tensor_by_name(t) for t in case["fetches"]]
        results = sess.run(fetches, feed_dict=feeds)

    assert len(results) == len(case["outputs"])
    for fetch, ours, theirs in zip(case["fetches"], case["outputs"], results):
        expected = array(ours)
        assert theirs.shape == expected.shape, fetch
        np.testing.assert_allclose(theirs, expected, rtol=RTOL, atol=ATOL, err_msg=f"{name}: {fetch}")


def test_math_and_transpose_values_and_gradients_match_tensorflow():
    """TensorFlow's Exp, Log, Sqrt, Rsqrt, Maximum, Minimum, Pow and Transpose, and their registered
    gradients, give our values (NaN and inf included) and our gradients of the loss."""
    assert "math_transpose" in CASES
    case = load_case("math_transpose")
    graph, _ = import_case(case)
    fetches = case["fetches"]
    types = [graph.get_tensor_by_name(name).op.type for name in fetches[:8]]
    assert types == ["Exp", "Log", "Sqrt", "Rsqrt", "Maximum", "Minimum", "Pow", "Transpose"]
    transpose = graph.get_tensor_by_name(fetches[7]).op
    assert transpose.get_attr("Tperm") == tf.int32 and transpose.get_attr("T") == tf.float32
    x, y, e = (graph.get_tensor_by_name(n) for n in ("x:0", "y:0", "e:0"))
    feeds = {graph.get_tensor_by_name(t): array(spec) for t, spec in case["feeds"].items()}
    loss = graph.get_tensor_by_name(fetches[8])
    e2 = graph.get_tensor_by_name(fetches[16]).op.inputs[1]
    with graph.as_default():
        tf_grads = tf.compat.v1.gradients(loss, [x, y])
        direct = [tf.exp(e), tf.math.log(e), tf.sqrt(e), tf.math.rsqrt(e), tf.maximum(e, e2), tf.minimum(e, e2),
                  tf.pow(e, e2)]
    with session(graph) as sess:
        theirs = sess.run(tf_grads + direct, feed_dict=feeds)
    ours = [array(spec) for spec in case["outputs"]]
    np.testing.assert_allclose(ours[9], theirs[0], rtol=RTOL, atol=ATOL, err_msg="d loss / d x")
    np.testing.assert_allclose(ours[10], theirs[1], rtol=RTOL, atol=ATOL, err_msg="d loss / d y")
    for k, name in enumerate(["exp", "log", "sqrt", "rsqrt", "maximum", "minimum", "pow"]):
        np.testing.assert_allclose(ours[11 + k], theirs[2 + k], rtol=RTOL, atol=ATOL, err_msg=name)
    log_e, sqrt_e, rsqrt_e, max_e, min_e, pow_e = (ours[12], ours[13], ours[14], ours[15], ours[16], ours[17])
    assert log_e[0] == -np.inf and np.isnan(sqrt_e[1]) and rsqrt_e[0] == np.inf and pow_e[0] == 1.0
    assert np.isnan(max_e[2]) and np.isnan(min_e[2])


@pytest.mark.parametrize("name", CASES)
def test_output_shapes_match_tensorflow_inference(name):
    """Our _output_shapes agree with the static shapes TensorFlow infers on import."""
    case = load_case(name)
    graph, graph_def = import_case(case)
    for node in graph_def.node:
        op = graph.get_operation_by_name(node.name)
        if not op.outputs:
            assert "_output_shapes" not in node.attr or not node.attr["_output_shapes"].list.shape
            continue
        assert "_output_shapes" in node.attr, f"{node.name} ({node.op})"
        ours = [[d.size for d in s.dim] for s in node.attr["_output_shapes"].list.shape]
        theirs = [t.shape.as_list() for t in op.outputs]
        assert ours == theirs, f"{node.name} ({node.op}): ours {ours}, TensorFlow {theirs}"


def test_abs_sign_values_and_gradient_match_tensorflow():
    """TensorFlow's own Abs, Sign and their registered gradients (_AbsGrad, _SignGrad) on signed
    zeros, infinities and NaN give our values, and tf.gradients of the loss gives our gradient."""
    assert "abs_sign" in CASES
    case = load_case("abs_sign")
    graph, _ = import_case(case)
    abs_name, sign_name, loss_name, grad_name = case["fetches"]
    assert graph.get_tensor_by_name(abs_name).op.type == "Abs"
    assert graph.get_tensor_by_name(sign_name).op.type == "Sign"
    x = graph.get_tensor_by_name("x:0")
    x_value = array(case["feeds"]["x:0"])
    assert np.isnan(x_value).any() and np.isinf(x_value).any() and np.signbit(x_value[x_value == 0]).any()
    with graph.as_default():
        (tf_grad,) = tf.compat.v1.gradients(graph.get_tensor_by_name(loss_name), [x])
        direct = [tf.abs(x), tf.sign(x)]
    with session(graph) as sess:
        tf_abs, tf_sign, theirs = sess.run(direct + [tf_grad], feed_dict={x: x_value})
    ours = {name: array(spec) for name, spec in zip(case["fetches"], case["outputs"])}
    np.testing.assert_array_equal(ours[abs_name], tf_abs)
    np.testing.assert_array_equal(ours[sign_name], tf_sign)
    # Signed zeros survive the JSON round trip, so abs(-0) and sign(-0) must be +0 on both sides.
    for name, tf_value in ((abs_name, tf_abs), (sign_name, tf_sign)):
        zeros = ours[name] == 0
        np.testing.assert_array_equal(np.signbit(ours[name][zeros]), np.signbit(tf_value[zeros]), err_msg=name)
    np.testing.assert_allclose(ours[grad_name], theirs, rtol=RTOL, atol=ATOL)
