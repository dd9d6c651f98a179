"""draw_graph's clusters come from the caller (`clusters=` or `modules=`'s `graph_clusters()`):
any names, a mapping or a function, the placement rules for the nodes left out, and no meaning
read into labels or parameter names."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import Value, draw_graph, topo_order

from ..render_helpers import parse

# Any text is drawn literally (test_render_labels); here names the DOT reader parses simply.
NAMES = st.text(string.ascii_letters + string.digits + " _-#", min_size=1, max_size=8).filter(
    lambda s: s.strip() == s)


def two_units():
    """Two hand-made units over inputs a, b, a loss after them; returns the pieces."""
    a, b = Value(0.5, label="a"), Value(-1.5, label="b")
    w1, w2 = Value(0.3, label="w1"), Value(-0.7, label="w2")
    u1 = (w1 * a).tanh()
    u2 = (w2 * b + w1).sigmoid()
    loss = (u1 + u2 - 1.0) ** 2
    loss.backward()
    return a, b, w1, w2, u1, u2, loss


def clusters_of(root: Value, **kwargs) -> dict[Value, tuple[str, ...]]:
    """Each node's cluster labels in the drawing (outermost first), by node."""
    dot = parse(draw_graph(root, **kwargs).source)
    return {v: dot.clusters[f"n{i}"] for i, v in enumerate(topo_order([root]))}


@given(outer=NAMES, inner=NAMES)
def test_any_names_make_the_clusters(outer, inner) -> None:
    _, _, w1, _, u1, _, loss = two_units()
    where = clusters_of(loss, clusters={w1: (outer, inner)})
    assert where[w1] == (outer, inner)
    assert where[u1] == (outer, inner)  # computed from w1 and an input: w1's cluster


def test_a_function_and_a_mapping_give_the_same_drawing() -> None:
    _, _, w1, w2, u1, u2, loss = two_units()
    placed = {w1: ("net", "unit 1"), w2: ("net", "unit 2"), u1: ("net", "unit 1")}
    calls: list[Value] = []

    def place(v: Value):
        calls.append(v)
        return placed.get(v)

    assert draw_graph(loss, clusters=place).source == draw_graph(loss, clusters=placed).source
    assert calls == topo_order([loss])  # once per node, in forward order


def test_nodes_left_out_follow_the_rules() -> None:
    a, b, w1, w2, u1, u2, loss = two_units()
    both = w1 * w2 * u2
    root = both + loss
    where = clusters_of(root, clusters={w1: ("net", "unit 1"), w2: ("net", "unit 2")})
    assert where[a] == where[b] == ()  # unplaced leaves stay outside
    assert where[both.parents[0]] == ("net",)  # fed by two units' parameters: what they share
    assert where[u1] == ("net", "unit 1")  # all parents in unit 1 (or inputs fed with w1)
    assert where[both] == ()  # parents in two clusters, none a parameter: outside
    assert where[loss] == ()  # a constant among its ancestors' parents: outside


def test_a_placed_computed_node_ends_its_cluster() -> None:
    _, _, w1, _, u1, _, _ = two_units()
    after = (-u1).exp()
    assert clusters_of(after, clusters={w1: ("unit",)})[after] == ("unit",)
    where = clusters_of(after, clusters={w1: ("unit",), u1: ("unit",)})
    assert where[u1] == ("unit",) and where[after] == where[after.parents[0]] == ()


def test_an_empty_path_places_a_node_outside() -> None:
    _, _, w1, _, u1, _, loss = two_units()
    where = clusters_of(loss, clusters={w1: (), u1: ("unit",)})
    assert where[w1] == () and where[u1] == ("unit",)
    assert where[u1.parents[0]] == ()  # fed by a parameter placed outside


def test_labels_and_parameter_names_carry_no_meaning() -> None:
    # Labels shaped like nn's names make no cluster: only what the caller passes does.
    w = Value(0.2, label="layers.0.neurons.0.w.0")
    out = (w * 3.0).tanh()
    out.label = "layers.0.neurons.0"
    loss = (-out).softplus()
    assert "subgraph cluster_" not in draw_graph(loss).source
    assert "subgraph cluster_" not in draw_graph(loss, clusters={}).source
    where = clusters_of(loss, clusters={w: ("L",)})
    assert where[out] == where[loss] == ("L",)  # no label ends a cluster: all parents inside


class Hooked:
    """A model of the user's: it says its own clusters through the hook."""

    def __init__(self, placed) -> None:
        self.placed = placed

    def graph_clusters(self):
        return self.placed


def test_modules_is_its_graph_clusters() -> None:
    _, _, w1, w2, _, _, loss = two_units()
    placed = {w1: ("first",), w2: ("second",)}
    assert draw_graph(loss, modules=Hooked(placed), collapse="neuron").source == \
        draw_graph(loss, clusters=placed, collapse="neuron").source


def test_modules_without_the_hook_says_what_to_pass() -> None:
    class Named:
        def named_parameters(self):
            yield "layers.0.neurons.0.w.0", Value(1.0)

    _, _, _, _, _, _, loss = two_units()
    with pytest.raises(TypeError, match=r"graph_clusters\(\).*got Named.*clusters="):
        draw_graph(loss, modules=Named())


def test_collapse_and_health_on_any_names() -> None:
    _, _, w1, w2, u1, u2, loss = two_units()
    placed = {w1: ("net", "unit 1"), w2: ("net", "unit 2"), u1: ("net", "unit 1"),
              u2: ("net", "unit 2")}
    dot = parse(draw_graph(loss, clusters=placed, collapse="neuron",
                           health={"unit 2": {"dead": 1.0}}).source)
    assert {n for n in dot.nodes if n.startswith("m_")} == {"m_unit_1", "m_unit_2"}
    assert "dead on 100%" in dot.label("m_unit_2")
    layer = parse(draw_graph(loss, clusters=placed, collapse="layer",
                             health={"unit 2": {"dead": 1.0}}).source)
    assert "1 dead" in layer.label("m_net")
    with pytest.raises(ValueError, match="'unit 3'"):
        draw_graph(loss, clusters=placed, health={"unit 3": {"dead": 1.0}})
