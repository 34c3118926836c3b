"""Checkpoints with the real readers and writers: TensorFlow's tf.train.load_checkpoint and
tf.compat.v1.train.Saver read our TensorFlow checkpoints (and TensorFlow trains on from them as
we do), safetensors.numpy reads our safetensors files, and we read what TensorFlow's Saver and
the safetensors package write, with the same values."""

import json
import os
import pathlib
import subprocess

import ml_dtypes  # noqa: F401  (registers bfloat16 with numpy for safetensors)
import numpy as np
import pytest
import tensorflow as tf
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

OPTIMIZERS = ["sgd", "momentum", "adam"]
CASES = OPTIMIZERS + ["dtypes"]
STEP = {"sgd": 2, "momentum": 2, "adam": 2, "dtypes": 5}
STEP_RTOL = 1e-4
STEP_ATOL = 1e-6
RANDOM_STATE_PREFIX = "_scopeflow_random_state/"


def case_dir(name):
    value = os.environ.get("SCOPEFLOW_CHECKPOINT_ARTIFACTS")
    if not value:
        raise RuntimeError("SCOPEFLOW_CHECKPOINT_ARTIFACTS is not set: run these tests through ctest -L interop")
    return pathlib.Path(value) / "checkpoints" / name


def expected(name):
    return json.loads((case_dir(name) / "expected.json").read_text(encoding="utf-8"))


def tf_prefix(name):
    return str(case_dir(name) / "tf" / f"model.ckpt-{STEP[name]}")


def safetensors_path(name):
    return str(case_dir(name) / f"model.ckpt-{STEP[name]}.safetensors")


def hex_of(array):
    return np.ascontiguousarray(array).tobytes().hex()


def dtype_name(array):
    return str(np.asarray(array).dtype)


@pytest.mark.parametrize("name", CASES)
def test_load_checkpoint_lists_and_reads_every_variable_and_slot(name):
    reader = tf.train.load_checkpoint(tf_prefix(name))
    shapes = reader.get_variable_to_shape_map()
    want = expected(name)["variables"]
    assert set(want) <= set(shapes)
    assert all(key in want or key == "global_step" or key.startswith(RANDOM_STATE_PREFIX) for key in shapes)
    for variable, spec in want.items():
        value = reader.get_tensor(variable)
        assert list(value.shape) == spec["shape"], variable
        assert dtype_name(value) == spec["dtype"], variable
        assert hex_of(value) == spec["hex"], variable
    assert reader.get_tensor("global_step") == STEP[name]
    if name == "adam":
        assert {"layer/weights/Adam", "layer/weights/Adam_1", "beta1_power", "beta2_power"} <= set(shapes)
    if name == "momentum":
        assert {"layer/weights/Momentum", "layer/biases/Momentum"} <= set(shapes)


@pytest.mark.parametrize("name", CASES)
def test_latest_checkpoint_finds_ours(name):
    assert tf.train.latest_checkpoint(str(case_dir(name) / "tf")) == tf_prefix(name)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_saver_restore_then_one_tensorflow_step_matches_our_next_step(name):
    want = expected(name)
    graph = tf.Graph()
    with graph.as_default():
        graph_def = tf.compat.v1.GraphDef.FromString((case_dir(name) / "graph_def.pb").read_bytes())
        tf.compat.v1.import_graph_def(graph_def, name="")
        var_list = {variable: graph.get_tensor_by_name(variable + ":0") for variable in want["variables"]}
        saver = tf.compat.v1.train.Saver(var_list=var_list)
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    with tf.compat.v1.Session(graph=graph, config=config) as sess:
        saver.restore(sess, tf_prefix(name))
        loss = graph.get_tensor_by_name(want["loss"])
        train_op = graph.get_operation_by_name(want["train_op"])
        loss_value, _ = sess.run([loss, train_op])
        np.testing.assert_allclose(loss_value, want["next_loss"], rtol=STEP_RTOL, atol=STEP_ATOL)
        for variable, values in want["after_next_step"].items():
            value = sess.run(graph.get_tensor_by_name(variable + ":0"))
            np.testing.assert_allclose(value.reshape(-1), np.array(values, dtype=np.float32), rtol=STEP_RTOL,
                                       atol=STEP_ATOL, err_msg=f"{name}: {variable}")


@pytest.mark.parametrize("name", CASES)
def test_safetensors_numpy_reads_ours(name):
    tensors = load_file(safetensors_path(name))
    want = expected(name)["variables"]
    assert set(want) <= set(tensors)
    for variable, spec in want.items():
        assert list(tensors[variable].shape) == spec["shape"], variable
        assert dtype_name(tensors[variable]) == spec["dtype"], variable
        assert hex_of(tensors[variable]) == spec["hex"], variable
    with safe_open(safetensors_path(name), framework="numpy") as f:
        assert f.metadata()["global_step"] == str(STEP[name])


def run_checker(path, want, tmp_path):
    expected_path = tmp_path / "expected.json"
    expected_path.write_text(json.dumps(want), encoding="utf-8")
    result = subprocess.run([os.environ["SCOPEFLOW_CHECKPOINT_TOOL"], "check", str(path), str(expected_path)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def spec_of(array):
    array = np.asarray(array)
    return {"dtype": dtype_name(array), "shape": list(array.shape), "hex": hex_of(array)}


def sample_arrays():
    rng = np.random.default_rng(3)
    arrays = {
        "layer/weights": rng.standard_normal((3, 4)).astype(np.float32),
        "layer/biases": rng.standard_normal(4).astype(np.float32),
        "counts": rng.integers(-1000, 1000, (2, 2)).astype(np.int64),
        "flags": np.array([True, False, True]),
        "halfs": rng.standard_normal(5).astype(np.float16),
        "doubles": rng.standard_normal(2).astype(np.float64),
        "int32s": rng.integers(-5, 5, 3).astype(np.int32),
        "bytes": rng.integers(0, 255, 4).astype(np.uint8),
        "int8s": rng.integers(-100, 100, 4).astype(np.int8),
        "int16s": rng.integers(-100, 100, 4).astype(np.int16),
        "uint16s": rng.integers(0, 60000, 4).astype(np.uint16),
        "bf16": rng.standard_normal(3).astype(ml_dtypes.bfloat16),
        "scalar": np.array(2.5, dtype=np.float32),
    }
    return arrays


def test_we_read_a_tensorflow_saver_checkpoint(tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        arrays = sample_arrays()
        # TensorFlow 1 reference variables, as a tf.compat.v1 training program makes them.
        variables = [tf.compat.v1.get_variable(key, initializer=tf.constant(value), use_resource=False)
                     for key, value in arrays.items()]
        loss = tf.reduce_sum(tf.square(variables[0]))
        step = tf.compat.v1.train.get_or_create_global_step()
        train_op = tf.compat.v1.train.AdamOptimizer(0.01).minimize(loss, global_step=step, var_list=[variables[0]])
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(train_op)
            prefix = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=step)
            want = {v.op.name: spec_of(sess.run(v)) for v in tf.compat.v1.global_variables()}
    assert len(variables) == len(arrays)
    assert "layer/weights/Adam_1" in want and "beta2_power" in want
    run_checker(prefix, want, tmp_path)


def test_we_read_a_safetensors_package_file(tmp_path):
    arrays = sample_arrays()
    path = tmp_path / "theirs.safetensors"
    save_file(arrays, str(path), metadata={"step": "3"})
    run_checker(path, {key: spec_of(value) for key, value in arrays.items()}, tmp_path)
