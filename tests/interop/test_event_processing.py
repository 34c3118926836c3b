"""TensorBoard's event processing reads our events files: graph, scalars, histograms, text and
run metadata, through the legacy EventAccumulator and through the plugin multiplexer and data
provider that the TensorBoard server uses."""

import numpy as np
import pytest
from tensorboard import context
from tensorboard.backend.event_processing import data_provider
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.compat.proto import config_pb2, graph_pb2, step_stats_pb2

from conftest import EXAMPLE_RUNS, artifacts_dir, float32_value, float32_values, load_case

# 0 = keep every event of the category.
KEEP_ALL = {
    ea.COMPRESSED_HISTOGRAMS: 0,
    ea.IMAGES: 0,
    ea.AUDIO: 0,
    ea.SCALARS: 0,
    ea.HISTOGRAMS: 0,
    ea.TENSORS: 0,
}

_accumulators = {}


def accumulator(run):
    if run not in _accumulators:
        acc = ea.EventAccumulator(str(artifacts_dir() / "logs" / run), size_guidance=KEEP_ALL)
        acc.Reload()
        _accumulators[run] = acc
    return _accumulators[run]


@pytest.mark.parametrize("run", EXAMPLE_RUNS)
def test_graph_parses(run):
    acc = accumulator(run)
    assert acc.Tags()[ea.GRAPH] is True
    graph = acc.Graph()
    assert isinstance(graph, graph_pb2.GraphDef)
    names = {node.name for node in graph.node}
    assert "init" in names
    assert any(node.op == "VariableV2" for node in graph.node)
    assert graph.versions.producer >= 22
    # The same GraphDef that test_import_graph_def imports into TensorFlow.
    assert graph == graph_pb2.GraphDef.FromString(load_case(run)["graph_def_bytes"])


@pytest.mark.parametrize("run", EXAMPLE_RUNS)
def test_file_version_and_writer(run):
    acc = accumulator(run)
    assert acc.file_version == 2.0
    assert acc.FirstEventTimestamp() > 1.5e9


@pytest.mark.parametrize("run", EXAMPLE_RUNS)
def test_scalars(run, logs_expected):
    acc = accumulator(run)
    expected = logs_expected[run]["scalars"]
    assert expected, "the writer recorded no scalars"
    assert sorted(acc.Tags()[ea.SCALARS]) == sorted(expected)
    for tag, points in expected.items():
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [step for step, _ in points]
        # Stored as float32, read back as a Python float: equal to our float32 exactly.
        np.testing.assert_array_equal(
            np.array([e.value for e in events], np.float32), float32_values([bits for _, bits in points])
        )


@pytest.mark.parametrize("run", EXAMPLE_RUNS)
def test_histograms(run, logs_expected):
    acc = accumulator(run)
    expected = logs_expected[run]["histograms"]
    assert sorted(acc.Tags()[ea.HISTOGRAMS]) == sorted(expected)
    for tag, h in expected.items():
        events = acc.Histograms(tag)
        assert len(events) == 1, tag
        value = events[0].histogram_value
        assert events[0].step == 0
        assert value.num == h["num"]
        assert np.float32(value.min) == float32_value(h["min_bits"])
        assert np.float32(value.max) == float32_value(h["max_bits"])
        assert len(value.bucket) == len(value.bucket_limit) > 0
        assert sum(value.bucket) == h["num"]
        assert list(value.bucket_limit) == sorted(value.bucket_limit)
        assert value.bucket_limit[-1] >= value.max
    # The compressed (distribution) view TensorBoard derives from them works too.
    for tag in expected:
        assert acc.CompressedHistograms(tag)


@pytest.mark.parametrize("run", EXAMPLE_RUNS)
def test_text(run, logs_expected):
    acc = accumulator(run)
    for tag, text in logs_expected[run]["texts"].items():
        assert tag in acc.Tags()[ea.TENSORS]
        assert acc.SummaryMetadata(tag).plugin_data.plugin_name == "text"
        events = acc.Tensors(tag)
        assert len(events) == 1
        assert [s.decode("utf-8") for s in events[0].tensor_proto.string_val] == [text]
    assert sorted(acc.PluginTagToContent("text")) == sorted(logs_expected[run]["texts"])


@pytest.mark.parametrize("run", EXAMPLE_RUNS)
def test_run_metadata(run, logs_expected):
    acc = accumulator(run)
    tags = logs_expected[run]["run_metadata_tags"]
    assert sorted(acc.Tags()[ea.RUN_METADATA]) == sorted(tags)
    graph_names = {node.name for node in acc.Graph().node}
    for tag in tags:
        metadata = acc.RunMetadata(tag)
        assert isinstance(metadata.step_stats, step_stats_pb2.StepStats)
        assert len(metadata.step_stats.dev_stats) >= 1
        stats = [s for dev in metadata.step_stats.dev_stats for s in dev.node_stats]
        traced = [s.node_name for s in stats]
        assert traced, "no node stats"
        assert sorted(traced) == sorted(logs_expected[run]["traced_nodes"])
        unknown = sorted(set(traced) - graph_names)
        assert not unknown, f"step stats name nodes that are not in the graph: {unknown}"
        for s in stats:
            # What the Graph dashboard needs to show compute time.
            assert s.all_end_rel_micros > 0, s.node_name
            assert s.all_start_micros > 0, s.node_name
        for dev in metadata.step_stats.dev_stats:
            assert dev.device.startswith("/job:localhost/replica:0/task:0/device:")
        # Variables' read values are outputs of the run: their nodes appear with output shapes.
        read_nodes = [s for s in stats if s.node_name.endswith("/read")]
        assert read_nodes and all(s.output for s in read_nodes)


def test_multiplexer_and_data_provider(logs_expected):
    """The path the TensorBoard server takes (plugin event multiplexer + data provider)."""
    logdir = str(artifacts_dir() / "logs")
    multiplexer = plugin_event_multiplexer.EventMultiplexer(size_guidance=KEEP_ALL)
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    assert sorted(multiplexer.Runs()) == sorted(EXAMPLE_RUNS)
    for run in EXAMPLE_RUNS:
        graph = multiplexer.Graph(run)
        assert any(node.op == "VariableV2" for node in graph.node)

    provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
    ctx = context.RequestContext()
    assert sorted(r.run_name for r in provider.list_runs(ctx, experiment_id="")) == sorted(EXAMPLE_RUNS)

    plugins = set(provider.list_plugins(ctx, experiment_id=""))
    for plugin in ("scalars", "histograms", "text", "graphs"):
        assert plugin in plugins, f"{plugin} not among {sorted(plugins)}"

    scalars = provider.read_scalars(ctx, experiment_id="", plugin_name="scalars", downsample=1000)
    for run in EXAMPLE_RUNS:
        for tag, points in logs_expected[run]["scalars"].items():
            data = scalars[run][tag]
            assert [d.step for d in data] == [step for step, _ in points]
            np.testing.assert_array_equal(
                np.array([d.value for d in data], np.float32), float32_values([bits for _, bits in points])
            )

    histograms = provider.read_tensors(ctx, experiment_id="", plugin_name="histograms", downsample=1000)
    for run in EXAMPLE_RUNS:
        for tag, h in logs_expected[run]["histograms"].items():
            (datum,) = histograms[run][tag]
            buckets = datum.numpy  # rows of (left edge, right edge, count)
            assert buckets.ndim == 2 and buckets.shape[1] == 3
            assert buckets[:, 2].sum() == h["num"]
            assert np.float32(buckets[0, 0]) == float32_value(h["min_bits"])
            assert np.float32(buckets[-1, 1]) == float32_value(h["max_bits"])

    graphs = provider.list_blob_sequences(ctx, experiment_id="", plugin_name="graphs")
    for run in EXAMPLE_RUNS:
        assert "__run_graph__" in graphs[run]
    blobs = provider.read_blob_sequences(ctx, experiment_id="", plugin_name="graphs", downsample=10)
    (datum,) = blobs["example2"]["__run_graph__"]
    (blob_ref,) = datum.values
    graph = graph_pb2.GraphDef.FromString(provider.read_blob(ctx, blob_key=blob_ref.blob_key))
    assert "shared_layer/weights" in {node.name for node in graph.node}

    # Event.tagged_run_metadata becomes a blob sequence of the graph plugin, one per tag.
    run_metadata = provider.read_blob_sequences(
        ctx, experiment_id="", plugin_name="graph_tagged_run_metadata", downsample=10
    )
    for run in EXAMPLE_RUNS:
        assert sorted(run_metadata[run]) == sorted(logs_expected[run]["run_metadata_tags"])
        for tag in logs_expected[run]["run_metadata_tags"]:
            (datum,) = run_metadata[run][tag]
            (blob_ref,) = datum.values
            metadata = config_pb2.RunMetadata.FromString(provider.read_blob(ctx, blob_key=blob_ref.blob_key))
            traced = [s.node_name for dev in metadata.step_stats.dev_stats for s in dev.node_stats]
            assert sorted(traced) == sorted(logs_expected[run]["traced_nodes"])
