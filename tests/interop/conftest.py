"""Shared fixtures of the interop tests.

The artifacts (TensorBoard runs, GraphDefs and the values our runtime computed) come from
write_interop_artifacts, which CTest runs first; SCOPEFLOW_INTEROP_ARTIFACTS names their folder.
"""

import json
import os
import pathlib

import numpy as np
import pytest

EXAMPLE_RUNS = ("example1", "example2", "example3")
MIN_RANDOM_GRAPHS = 10


def artifacts_dir() -> pathlib.Path:
    value = os.environ.get("SCOPEFLOW_INTEROP_ARTIFACTS")
    if not value:
        raise RuntimeError("SCOPEFLOW_INTEROP_ARTIFACTS is not set: run these tests through ctest -L interop")
    path = pathlib.Path(value)
    if not (path / "logs").is_dir() or not (path / "graphs").is_dir():
        raise RuntimeError(f"{path} holds no artifacts: interop.write_artifacts must run first")
    return path


def graph_case_names():
    """Every GraphDef case: example1..3, then random_000.. (collection fails if they are missing)."""
    names = sorted(p.name for p in (artifacts_dir() / "graphs").iterdir() if (p / "graph_def.pb").is_file())
    missing = [n for n in EXAMPLE_RUNS if n not in names]
    randoms = [n for n in names if n.startswith("random_")]
    if missing or len(randoms) < MIN_RANDOM_GRAPHS:
        raise RuntimeError(f"incomplete artifacts: missing {missing}, {len(randoms)} random graphs")
    return names


def float32_values(bits):
    """float32 values from their IEEE bit patterns, as write_interop_artifacts writes floats:
    exact, NaN, infinities and -0 included."""
    return np.array(bits, dtype=np.uint32).view(np.float32)


def float32_array(spec):
    """A float32 tensor written as {"shape": [...], "bits": [...]}."""
    return float32_values(spec["bits"]).reshape(spec["shape"])


def float32_value(bits):
    """One float32 value from its bit pattern."""
    return float32_values([bits])[0]


def float64_array(spec):
    """A floating tensor of any dtype written widened to float64 bit patterns."""
    return np.array(spec["bits"], dtype=np.uint64).view(np.float64).reshape(spec["shape"])


def load_case(name):
    directory = artifacts_dir() / "graphs" / name
    case = json.loads((directory / "case.json").read_text(encoding="utf-8"))
    case["graph_def_bytes"] = (directory / "graph_def.pb").read_bytes()
    return case


def events_file(run):
    """The one events file of a run directory."""
    files = sorted((artifacts_dir() / "logs" / run).glob("events.out.tfevents.*"))
    assert len(files) == 1, f"expected one events file in logs/{run}, found {files}"
    return files[0]


@pytest.fixture(scope="session")
def artifacts():
    return artifacts_dir()


@pytest.fixture(scope="session")
def logs_expected():
    return json.loads((artifacts_dir() / "logs_expected.json").read_text(encoding="utf-8"))
