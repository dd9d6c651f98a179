"""`Module.graph_clusters()`: nn tells draw_graph where its nodes go, from the module tree (a
cluster per listed module, each parameter in its innermost one, a neuron's output ending it)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from autograd_lite import Value, draw_graph, topo_order

SIZES = st.lists(st.integers(1, 3), min_size=1, max_size=3)


def name_levels(name: str) -> tuple[str, ...]:
    """Oracle from the naming rule nn documents (`layers.0.neurons.3.w.1`): the modules are
    the prefixes ending at a list index, and the module holding the attribute."""
    parts = name.split(".")
    while parts and parts[-1].isdigit():
        parts.pop()
    parts = parts[:-1]
    found = [".".join(parts[:k + 1]) for k, p in enumerate(parts) if p.isdigit()]
    if parts and (not found or found[-1] != ".".join(parts)):
        found.append(".".join(parts))
    return tuple(found)


class Wrapped(nn.Module):
    """A model of the user's: an MLP held by an attribute, then a neuron, and a list of them."""

    def __init__(self, nin: int, sizes: list[int], extra: int) -> None:
        self.encoder = nn.MLP(nin, sizes, seed=0)
        self.head = nn.Neuron(sizes[-1], seed=1)
        self.blocks = [nn.Layer(1, 2, seed=k) for k in range(extra)]
        self.label_parameters()

    def forward(self, x):
        out = self.encoder(x)
        return self.head(out if isinstance(out, list) else [out])


@given(nin=st.integers(1, 3), sizes=SIZES, extra=st.integers(0, 2))
def test_parameters_sit_in_the_modules_their_names_say(nin, sizes, extra) -> None:
    for model in (nn.MLP(nin, sizes, seed=0), nn.Layer(nin, sizes[0], seed=0),
                  nn.Neuron(nin, seed=0), nn.RNNCell(nin, sizes[0], seed=0),
                  Wrapped(nin, sizes, extra)):
        place = model.graph_clusters()
        for name, p in model.named_parameters():
            assert place(p) == name_levels(name), name


def test_a_neurons_output_ends_its_cluster_and_other_nodes_are_left_to_the_rules() -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    x = [Value(0.5, label="x0"), Value(-1.0, label="x1")]
    pred = model(x)
    loss = (-pred).softplus()
    place = model.graph_clusters()
    assert place(pred) == ("layers.1", "layers.1.neurons.0")
    assert place(loss) is None and place(loss.parents[0]) is None and place(x[0]) is None
    hidden = pred.parents[0].parents[0].parents[1].parents[1]  # a layer-0 output, as w * h uses it
    assert place(hidden) == ("layers.0", hidden.label)


def test_a_tied_parameter_stays_with_its_first_module() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            self.first = nn.Neuron(1, seed=0)
            self.second = nn.Neuron(1, seed=1)
            self.second.w[0] = self.first.w[0]

    place = Tied().graph_clusters()
    shared = Tied().first.w[0]
    assert place(shared) is None  # another model's Value: not this one's
    t = Tied()
    place = t.graph_clusters()
    assert place(t.second.w[0]) == ("first",) and place(t.second.b) == ("second",)


def test_another_model_with_the_same_names_stays_outside() -> None:
    student, teacher = nn.MLP(2, [2, 1], seed=0), nn.MLP(2, [2, 1], seed=1)
    x = [0.3, -0.4]
    s, t = student(x), teacher(x)
    assert s.label == t.label == "layers.1.neurons.0"
    loss = (s - t) ** 2  # one graph holding both models
    place = student.graph_clusters()
    assert place(s) == ("layers.1", "layers.1.neurons.0")
    assert place(t) is None
    assert all(place(v) is None for v in topo_order([t]))
    placed = {v for v in topo_order([loss]) if place(v) is not None}
    assert {v for v in placed if v.op is None} == set(student.parameters())
    assert {v.label for v in placed if v.op is not None} == {
        "layers.0.neurons.0", "layers.0.neurons.1", "layers.1.neurons.0"}  # student's outputs


def test_drawing_with_modules_is_drawing_with_its_clusters() -> None:
    pytest.importorskip("graphviz")
    model = nn.MLP(2, [3, 2, 1], seed=3)
    loss = (model([0.2, 0.9]) - 1.0) ** 2
    loss.backward()
    for collapse in (None, "neuron", "layer"):
        assert draw_graph(loss, modules=model, collapse=collapse).source == \
            draw_graph(loss, clusters=model.graph_clusters(), collapse=collapse).source
