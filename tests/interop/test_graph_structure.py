"""The exported GraphDefs, parsed by TensorFlow's own GraphDef proto, have the structure the
article describes: shared variables exist once and are read by every use."""

import collections

import pytest
import tensorflow as tf

from conftest import EXAMPLE_RUNS, load_case


def graph_def(name):
    return tf.compat.v1.GraphDef.FromString(load_case(name)["graph_def_bytes"])


def node_of(tensor):
    """'a/b:1' or '^a/b' -> 'a/b'."""
    return tensor.lstrip("^").split(":")[0]


def initialization_nodes(gd):
    """Nodes that only initialize variables: <var>/Initializer/*, <var>/Assign and init."""
    variables = [n.name for n in gd.node if n.op == "VariableV2"]
    result = set()
    for n in gd.node:
        if n.name == "init" and n.op == "NoOp":
            result.add(n.name)
        for v in variables:
            if n.name == v + "/Assign" or n.name.startswith(v + "/Initializer/"):
                result.add(n.name)
    return result


def consumers(gd, name, exclude=()):
    """Data consumers (node names, one per input edge) of output 0 of node `name`."""
    found = []
    for n in gd.node:
        if n.name in exclude:
            continue
        for inp in n.input:
            if not inp.startswith("^") and node_of(inp) == name and inp in (name, name + ":0"):
                found.append(n.name)
    return found


def variables(gd):
    return sorted(n.name for n in gd.node if n.op == "VariableV2")


def check_variable_wiring(gd, variable, expected_readers):
    """VariableV2 -> {read Identity, Assign}; read -> `expected_readers` non-initializer ops."""
    by_name = {n.name: n for n in gd.node}
    read = by_name.get(variable + "/read")
    assert read is not None and read.op == "Identity", f"{variable}/read missing"
    assert [node_of(i) for i in read.input] == [variable]
    assert sorted(consumers(gd, variable)) == sorted([variable + "/read", variable + "/Assign"])
    assign = by_name[variable + "/Assign"]
    assert assign.op == "Assign" and node_of(assign.input[0]) == variable
    assert node_of(assign.input[1]).startswith(variable + "/Initializer/")
    readers = consumers(gd, variable + "/read", exclude=initialization_nodes(gd))
    assert len(readers) == expected_readers, f"{variable}/read is read by {readers}"
    return readers


def test_example2_one_weights_and_one_biases_under_shared_layer():
    gd = graph_def("example2")
    assert variables(gd) == ["shared_layer/biases", "shared_layer/weights"]
    under_scope = [n.name for n in gd.node if n.op == "VariableV2" and n.name.startswith("shared_layer")]
    assert under_scope == ["shared_layer/weights", "shared_layer/biases"]
    for variable in ("shared_layer/weights", "shared_layer/biases"):
        readers = check_variable_wiring(gd, variable, expected_readers=2)
        # The first call's op is in shared_layer/, the second call's in shared_layer_1/.
        assert sorted(r.split("/")[0] for r in readers) == ["shared_layer", "shared_layer_1"], readers
    # The second call's ops are under shared_layer_1/ and it owns no variable.
    second = [n for n in gd.node if n.name.startswith("shared_layer_1/")]
    assert {n.op for n in second} >= {"MatMul", "AddV2"}
    assert not [n for n in second if n.op == "VariableV2"]


def test_example1_two_weights_and_two_biases():
    gd = graph_def("example1")
    assert variables(gd) == ["layer1/biases", "layer1/weights", "layer2/biases", "layer2/weights"]
    assert len([v for v in variables(gd) if v.endswith("/weights")]) == 2
    assert len([v for v in variables(gd) if v.endswith("/biases")]) == 2
    for variable in variables(gd):
        (reader,) = check_variable_wiring(gd, variable, expected_readers=1)
        assert reader.split("/")[0] == variable.split("/")[0]


def test_example3_layer_variables_shared():
    gd = graph_def("example3")
    assert variables(gd) == ["model/shared_linear_layer/biases", "model/shared_linear_layer/weights"]
    for variable in variables(gd):
        check_variable_wiring(gd, variable, expected_readers=2)


@pytest.mark.parametrize("name", EXAMPLE_RUNS)
def test_init_runs_every_assign(name):
    gd = graph_def(name)
    (init,) = [n for n in gd.node if n.name == "init"]
    assert init.op == "NoOp"
    assert sorted(init.input) == sorted("^" + v + "/Assign" for v in variables(gd))


@pytest.mark.parametrize("name", EXAMPLE_RUNS)
def test_every_node_has_output_shapes(name):
    gd = graph_def(name)
    # Ops with no outputs (NoOp) get none, as tf.Graph.as_graph_def(add_shapes=True) does.
    no_outputs = {"NoOp"}
    for n in gd.node:
        if n.op in no_outputs:
            continue
        assert "_output_shapes" in n.attr, f"{n.name} ({n.op}) has no _output_shapes"
        assert len(n.attr["_output_shapes"].list.shape) >= 1, n.name


@pytest.mark.parametrize("name", EXAMPLE_RUNS)
def test_names_unique_and_inputs_resolve(name):
    gd = graph_def(name)
    names = [n.name for n in gd.node]
    duplicates = [k for k, c in collections.Counter(names).items() if c > 1]
    assert not duplicates
    for n in gd.node:
        for inp in n.input:
            assert node_of(inp) in names, f"{n.name} reads missing {inp}"


def test_random_graphs_share_variables():
    """The random sample has variables read 2-3 times, each still one VariableV2 node."""
    from conftest import graph_case_names

    readers_per_variable = []
    for name in graph_case_names():
        if not name.startswith("random_"):
            continue
        gd = graph_def(name)
        names = [n.name for n in gd.node]
        assert len(names) == len(set(names)), name
        for variable in variables(gd):
            readers = consumers(gd, variable + "/read", exclude=initialization_nodes(gd))
            assert 1 <= len(readers) <= 3, f"{name}: {variable} read by {readers}"
            readers_per_variable.append(len(readers))
    assert sum(1 for n in readers_per_variable if n >= 2) >= 3, readers_per_variable
