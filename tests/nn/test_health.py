"""`nn.neuron_health`: fractions of a batch on which each tanh/sigmoid unit is
saturated and each ReLU unit is dead, against hand computations on tiny models and against the
engine's own recorded graph (the labelled neuron outputs) on hypothesis-generated MLPs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from autograd_lite import topo_order
from nn import MLP, Layer, Neuron
from nn.health import NeuronHealth


def set_params(model, values: list[float]) -> None:
    model.load_state_dict(dict(zip(model.state_dict(), values)))


def test_tanh_saturation_by_hand() -> None:
    # Hidden: n0 = tanh(x), n1 = tanh(3x - 1); output: linear. atanh(0.97) = 2.092.
    m = MLP(1, [2, 1], activation="tanh", seed=0)
    set_params(m, [1.0, 0.0, 3.0, -1.0, 1.0, 1.0, 0.0])
    X = [[-3.0], [-1.0], [0.0], [0.5], [2.5]]
    # n0: z = -3, -1, 0, 0.5, 2.5 -> saturated at -3 and 2.5: 2/5.
    # n1: z = -10, -4, -1, 0.5, 6.5 -> saturated at -10, -4 and 6.5: 3/5.
    h = list(nn.neuron_health(m, X).values())
    assert [(x.name, x.saturated, x.dead) for x in h] == [
        ("layers.0.neurons.0", 0.4, None), ("layers.0.neurons.1", 0.6, None),
        ("layers.1.neurons.0", None, None)]
    assert all(x.samples == 5 and x.activation == a for x, a in zip(h, ["tanh", "tanh",
                                                                         "linear"]))
    # A lower threshold, |tanh| >= 0.5 (|z| >= 0.549): n0 also at -1: 3/5; n1 at all but 0.5.
    h = list(nn.neuron_health(m, X, saturation=0.5).values())
    assert [x.saturated for x in h[:2]] == [0.6, 0.8]


def test_relu_dead_by_hand_through_two_layers() -> None:
    # Hidden relu: a = relu(x0 - x1), b = relu(x0 + x1 - 1); output sigmoid(2a - 3b + 0.5)
    m = MLP(2, [2, 1], activation="relu", output_activation="sigmoid", seed=0)
    set_params(m, [1.0, -1.0, 0.0, 1.0, 1.0, -1.0, 2.0, -3.0, 0.5])
    X = [[1.0, 1.0], [2.0, 0.0], [0.0, 2.0], [-1.0, -1.0]]
    # a: z = 0, 2, -2, 0       -> dead where z <= 0: 3/4 (relu'(0) = 0)
    # b: z = 1, 1, 1, -3       -> outputs 1, 1, 1, 0: dead 1/4
    # out: z = 2a - 3b + .5 = -2.5, 1.5, -2.5, 0.5; sigmoid: .076, .818, .076, .622:
    # |2s - 1| = .848, .635, .848, .245: none >= 0.97; at saturation 0.8: 2/4.
    h = list(nn.neuron_health(m, X).values())
    assert [(x.dead, x.saturated) for x in h] == [(0.75, None), (0.25, None), (None, 0.0)]
    assert nn.neuron_health(m, X, saturation=0.8)["layers.1.neurons.0"].saturated == 0.5
    assert [x.stuck for x in h] == [0.75, 0.25, 0.0]
    assert [(x.saturation_threshold, x.dead_threshold) for x in h] == [
        (None, 0.0), (None, 0.0), (0.97, None)]


def test_draw_graph_takes_the_result_as_it_is() -> None:
    pytest.importorskip("graphviz")
    from autograd_lite import draw_graph

    m = MLP(2, [3, 1], activation="relu", seed=0)
    set_params(m, [-1.0, -1.0, -5.0] + [1.0] * 6 + [1.0, 1.0, 1.0, 0.0])  # neuron 0 dead
    X = [[0.5, 0.25], [1.0, 2.0]]
    health = nn.neuron_health(m, X)
    assert health["layers.0.neurons.0"].dead == 1.0
    loss = (m(X[0]) - 1.0) ** 2
    assert "neurons.0 (dead on 100%)" in draw_graph(loss, modules=m, health=health).source


def test_dead_on_the_whole_batch_and_lone_layers_and_neurons() -> None:
    layer = Layer(2, 2, "relu", seed=0)
    set_params(layer, [-1.0, -1.0, -0.5, 1.0, 0.0, 0.0])  # n0 = relu(-0.5 - x0 - x1)
    X = [[0.0, 0.0], [1.0, 2.0], [3.0, 0.5]]
    h = list(nn.neuron_health(layer, X).values())
    assert [x.name for x in h] == ["neurons.0", "neurons.1"]
    # n0: z = -0.5, -3.5, -4: dead on the whole batch; n1 = relu(x0): z = 0, 1, 3: 1/3.
    assert h[0].dead == 1.0 and h[1].dead == 1 / 3
    neuron = Neuron(1, "sigmoid", seed=0)
    set_params(neuron, [10.0, 0.0])
    assert nn.neuron_health(neuron, [[0.1], [1.0], [-1.0]])[""].saturated == 2 / 3


def _fractions_from_the_graph(model, X, saturation):
    """The same fractions read off the engine's graph: each neuron's output Value carries the
    neuron's dotted name as its label; for relu the derivative test is on its input."""
    sat: dict[str, int] = {}
    near: dict[str, int] = {}  # samples within rounding of the threshold: either answer
    dead: dict[str, int] = {}
    for x in X:
        out = model(x)
        outs = out if isinstance(out, list) else [out]
        for v in topo_order(outs):
            if not v.label.startswith("layers.") or v.label.count(".") != 3:
                continue
            act = v.op.name if v.op is not None else "linear"
            if act in ("tanh", "sigmoid"):
                # Saturated: the local derivative, relative to its maximum, is <= 1 - s**2.
                local = 1 - v.data ** 2 if act == "tanh" else 4 * v.data * (1 - v.data)
                gap = local - (1 - saturation ** 2)
                sat[v.label] = sat.get(v.label, 0) + (gap < -1e-12)
                near[v.label] = near.get(v.label, 0) + (abs(gap) <= 1e-12)
            elif act == "relu":
                dead[v.label] = dead.get(v.label, 0) + (v.parents[0].data <= 0.0)
    return sat, near, dead


@given(nin=st.integers(1, 3), sizes=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       activation=st.sampled_from(["tanh", "relu", "sigmoid"]),
       out_act=st.sampled_from([None, "tanh", "sigmoid", "relu"]),
       seed=st.integers(0, 1000), scale=st.sampled_from([0.5, 3.0, 20.0]), data=st.data())
def test_matches_the_engine_graph(nin, sizes, activation, out_act, seed, scale, data) -> None:
    m = MLP(nin, sizes, activation=activation, output_activation=out_act, seed=seed)
    X = data.draw(st.lists(st.lists(st.floats(-scale, scale), min_size=nin, max_size=nin),
                           min_size=1, max_size=6))
    sat, near, dead = _fractions_from_the_graph(m, X, 0.97)
    for h in nn.neuron_health(m, X).values():
        if h.activation in ("tanh", "sigmoid"):
            count = round(h.saturated * len(X))
            assert sat[h.name] <= count <= sat[h.name] + near[h.name], (h, sat, near)
        if h.activation == "relu":
            assert h.dead == dead[h.name] / len(X)


def test_does_not_record_a_graph_or_change_the_model() -> None:
    m = MLP(2, [3, 1], seed=1)
    before = m.state_dict()
    h = nn.neuron_health(m, [[0.1, 0.2]])
    assert m.state_dict() == before and all(p.grad == 0.0 for p in m.parameters())
    assert all(isinstance(x, NeuronHealth) and x.name == k for k, x in h.items())


@pytest.mark.parametrize("call, exc, match", [
    (lambda m: nn.neuron_health(m, []), ValueError, "non-empty"),
    (lambda m: nn.neuron_health(m, [[1.0]]), ValueError, r"X\[0\] must be a row of 2"),
    (lambda m: nn.neuron_health(m, [[1.0, "a"]]), TypeError, r"X\[0\]\[1\]"),
    (lambda m: nn.neuron_health(m, [[1.0, math.nan]]), ValueError, "finite"),
    (lambda m: nn.neuron_health(m, [[1.0, 2.0]], saturation=1.0), ValueError, r"\(0, 1\)"),
    (lambda m: nn.neuron_health(m, [[1.0, 2.0]], saturation=0), ValueError, "saturation"),
    (lambda m: nn.neuron_health(nn.RNNCell(2, 2, seed=0), [[1.0, 2.0]]), TypeError, "RNNCell"),
])
def test_bad_arguments_raise_clearly(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call(MLP(2, [2, 1], seed=0))
