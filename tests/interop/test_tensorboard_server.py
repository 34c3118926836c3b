"""A real `tensorboard --logdir` server on 127.0.0.1 serves our runs over its HTTP API.

Only 127.0.0.1 is contacted; requests are bounded in number and time, and the server is always
stopped."""

import json
import pathlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import EXAMPLE_RUNS, artifacts_dir, float32_values

HOST = "127.0.0.1"
START_TIMEOUT_S = 60
POLL_INTERVAL_S = 0.5
REQUEST_TIMEOUT_S = 10

# Never through a proxy: the server is on this machine.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def get(port, path, **params):
    url = f"http://{HOST}:{port}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with _opener.open(url, timeout=REQUEST_TIMEOUT_S) as response:
        assert response.status == 200, url
        return response.read()


@pytest.fixture(scope="module", params=["false", "true"], ids=["python_loader", "data_server"])
def server(request, tmp_path_factory):
    """tensorboard --load_fast=false (Python event processing) or true (its Rust data server)."""
    tensorboard = pathlib.Path(sys.executable).parent / "tensorboard"
    assert tensorboard.is_file(), f"{tensorboard} missing from the interop environment"
    port = free_port()
    log = (tmp_path_factory.mktemp("tensorboard") / "server.log").open("w+b")
    process = subprocess.Popen(
        [str(tensorboard), "--logdir", str(artifacts_dir() / "logs"), "--host", HOST, "--port", str(port),
         "--load_fast", request.param, "--reload_interval", "1"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        runs = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                runs = json.loads(get(port, "/data/runs"))
                if sorted(runs) == sorted(EXAMPLE_RUNS):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(POLL_INTERVAL_S)
        if runs is None or sorted(runs) != sorted(EXAMPLE_RUNS):
            log.seek(0)
            output = log.read().decode("utf-8", "replace")[-4000:]
            pytest.fail(f"tensorboard (load_fast={request.param}) did not serve the runs within "
                        f"{START_TIMEOUT_S} s (exit status {process.poll()}, last runs {runs}):\n{output}")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()


def test_runs(server):
    assert sorted(json.loads(get(server, "/data/runs"))) == sorted(EXAMPLE_RUNS)


def test_graph_of_example2(server):
    pbtxt = get(server, "/data/plugin/graphs/graph", run="example2").decode("utf-8")
    assert 'name: "shared_layer/weights"' in pbtxt
    assert 'name: "shared_layer/biases"' in pbtxt
    assert 'op: "VariableV2"' in pbtxt
    assert 'name: "shared_layer_1/MatMul"' in pbtxt
    assert "_output_shapes" in pbtxt


def test_graph_plugin_lists_runs_and_run_metadata(server):
    info = json.loads(get(server, "/data/plugin/graphs/info"))
    for run in EXAMPLE_RUNS:
        assert info[run]["run_graph"] is True, info[run]
        assert "step_0" in info[run]["tags"], info[run]


def test_run_metadata_of_example2(server):
    pbtxt = get(server, "/data/plugin/graphs/run_metadata", run="example2", tag="step_0").decode("utf-8")
    assert "step_stats" in pbtxt
    assert 'node_name: "shared_layer/weights/read"' in pbtxt
    assert 'node_name: "shared_layer_1/MatMul"' in pbtxt


def test_scalars_histograms_and_text(server, logs_expected):
    expected = logs_expected["example2"]
    tags = json.loads(get(server, "/data/plugin/scalars/tags"))
    assert sorted(tags["example2"]) == sorted(expected["scalars"])
    for tag, points in expected["scalars"].items():
        data = json.loads(get(server, "/data/plugin/scalars/scalars", run="example2", tag=tag))
        assert [step for _, step, _ in data] == [step for step, _ in points]
        assert [value for _, _, value in data] == pytest.approx(float32_values([b for _, b in points]).tolist(), rel=1e-6)
    hist_tags = json.loads(get(server, "/data/plugin/histograms/tags"))
    assert sorted(hist_tags["example2"]) == sorted(expected["histograms"])
    tag = "shared_layer/weights"
    (entry,) = json.loads(get(server, "/data/plugin/histograms/histograms", run="example2", tag=tag))
    _, step, buckets = entry
    assert step == 0
    assert sum(count for _, _, count in buckets) == expected["histograms"][tag]["num"]
    text = json.loads(get(server, "/data/plugin/text/text", run="example2", tag="description"))
    assert len(text) == 1 and "<strong>" in text[0]["text"]
