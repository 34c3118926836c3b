"""Times one TensorFlow session.run of an exported GraphDef, for benches comparing with TF.

    python tf_time_graph.py --graph model.pb --spec spec.json --threads N \
        [--min-seconds S] [--warmup W] [--min-iters I] [--seed SEED]

spec.json:
    {"init": "init",                  # op run once before timing (optional, may be null)
     "feeds": [{"name": "x:0", "dtype": "float32", "shape": [32, 64],
                "kind": "normal" | "labels" | "zeros" | "ones", "num_classes": 10}],
     "target": "train_op",            # op to run (optional if "fetch" is given)
     "fetch": "loss:0",               # tensor to fetch with the target (optional)
     "iterations": 100}               # exact timed iterations; else time for --min-seconds

A feed's dtype and shape default to the placeholder's own. Feeds are generated once (seeded
numpy) and reused, so the timed loop is TensorFlow's work only.

Prints ONE JSON line on stdout:
    {"ok": true, "median_seconds": ..., "mean_seconds": ..., "iterations": ..., "threads": N,
     "tensorflow_version": "...", "fetch_value": ... | null, "peak_rss_bytes": ...}
or {"ok": false, "error": "..."}, exiting 2 for bad flags and 1 for any other failure.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

# Before TensorFlow is imported: its C++ logging reads this once.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class UsageError(Exception):
    pass


class _ArgumentParser(argparse.ArgumentParser):
    # argparse prints usage and exits 2 on its own; callers parse our one JSON line instead.
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def parse_args(argv):
    parser = _ArgumentParser(prog="tf_time_graph.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", required=True, help="binary GraphDef (.pb)")
    parser.add_argument("--spec", required=True, help="JSON: init, feeds, target, fetch, iterations")
    parser.add_argument("--threads", type=int, required=True,
                        help="intra_op_parallelism_threads (inter_op is 1)")
    parser.add_argument("--min-seconds", type=float, default=1.0,
                        help="minimum timed seconds when the spec gives no iterations")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before timing")
    parser.add_argument("--min-iters", type=int, default=3,
                        help="minimum timed runs when the spec gives no iterations")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated feeds")
    args = parser.parse_args(argv)
    if args.threads < 1:
        raise UsageError("--threads must be at least 1")
    if not args.min_seconds >= 0:  # also rejects NaN
        raise UsageError("--min-seconds must be >= 0")
    if args.warmup < 0 or args.min_iters < 1:
        raise UsageError("--warmup must be >= 0 and --min-iters >= 1")
    return args


def load_spec(path):
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    if not isinstance(spec, dict):
        raise ValueError("spec: expected a JSON object")
    if not spec.get("target") and not spec.get("fetch"):
        raise ValueError("spec: needs a 'target' op or a 'fetch' tensor")
    iterations = spec.get("iterations")
    if iterations is not None and (not isinstance(iterations, int) or isinstance(iterations, bool)
                                   or iterations < 1):
        raise ValueError("spec: 'iterations' must be a positive integer")
    if not isinstance(spec.get("feeds", []), list):
        raise ValueError("spec: 'feeds' must be a list")
    return spec


def make_feeds(np, graph, feed_specs, seed):
    rng = np.random.default_rng(seed)
    feeds = {}
    for i, feed in enumerate(feed_specs):
        name = feed.get("name")
        if not name:
            raise ValueError(f"spec: feed {i} has no name")
        tensor = graph.get_tensor_by_name(name)
        dtype = np.dtype(feed.get("dtype") or tensor.dtype.as_numpy_dtype)
        shape = feed.get("shape")
        if shape is None:
            if not tensor.shape.is_fully_defined():
                raise ValueError(f"spec: feed {name} needs a shape (placeholder shape is {tensor.shape})")
            shape = tensor.shape.as_list()
        shape = tuple(int(d) for d in shape)
        kind = feed.get("kind", "normal")
        if kind == "normal":
            if dtype.kind != "f":
                raise ValueError(f"spec: feed {name}: kind 'normal' needs a float dtype, got {dtype}")
            value = rng.standard_normal(shape).astype(dtype)
        elif kind == "labels":
            num_classes = feed.get("num_classes")
            if not isinstance(num_classes, int) or num_classes < 1:
                raise ValueError(f"spec: feed {name}: kind 'labels' needs num_classes >= 1")
            if dtype.kind not in "iu":
                raise ValueError(f"spec: feed {name}: kind 'labels' needs an integer dtype, got {dtype}")
            value = rng.integers(0, num_classes, size=shape).astype(dtype)
        elif kind in ("zeros", "ones"):
            value = (np.zeros if kind == "zeros" else np.ones)(shape, dtype=dtype)
        else:
            raise ValueError(f"spec: feed {name}: unknown kind '{kind}' (normal, labels, zeros, ones)")
        feeds[tensor] = value
    return feeds


def time_graph(args):
    spec = load_spec(args.spec)
    import numpy as np
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    tf.compat.v1.disable_eager_execution()
    graph_def = tf.compat.v1.GraphDef()
    with open(args.graph, "rb") as f:
        graph_def.ParseFromString(f.read())

    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    feeds = make_feeds(np, graph, spec.get("feeds", []), args.seed)
    fetches = []
    if spec.get("target"):
        fetches.append(graph.get_operation_by_name(spec["target"]))
    if spec.get("fetch"):
        fetches.append(graph.get_tensor_by_name(spec["fetch"]))

    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=args.threads,
                                      inter_op_parallelism_threads=1)
    with tf.compat.v1.Session(graph=graph, config=config) as session:
        if spec.get("init"):
            session.run(graph.get_operation_by_name(spec["init"]))
        for _ in range(args.warmup):
            session.run(fetches, feed_dict=feeds)
        samples = []
        total = 0.0
        fixed = spec.get("iterations")
        result = None
        while True:
            if fixed is not None:
                if len(samples) >= fixed:
                    break
            elif len(samples) >= args.min_iters and total >= args.min_seconds:
                break
            start = time.perf_counter()
            result = session.run(fetches, feed_dict=feeds)
            elapsed = time.perf_counter() - start
            samples.append(elapsed)
            total += elapsed

    fetch_value = None
    if spec.get("fetch") and result is not None:
        value = np.asarray(result[-1])
        if value.size == 1:
            fetch_value = value.item()
            if isinstance(fetch_value, float) and not np.isfinite(fetch_value):
                fetch_value = None  # NaN/inf are not JSON
    return {
        "ok": True,
        "median_seconds": statistics.median(samples),
        "mean_seconds": total / len(samples),
        "iterations": len(samples),
        "threads": args.threads,
        "tensorflow_version": tf.__version__,
        "fetch_value": fetch_value,
        # ru_maxrss is in KiB on Linux.
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main(argv):
    try:
        args = parse_args(argv)
    except UsageError as e:
        print(json.dumps({"ok": False, "error": str(e)}))
        return 2
    try:
        output = time_graph(args)
    except Exception as e:  # noqa: BLE001 - every failure must become the one JSON line
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
        return 1
    print(json.dumps(output))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
