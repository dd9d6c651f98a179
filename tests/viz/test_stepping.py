"""backward_steps against backward() on random graphs, forward_steps, walk(), and the tape's text
and HTML checked number by number against the Step records."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import PRIMITIVES, Primitive, Step, Value, backward_steps, grad, topo_order
from autograd_lite.testing import expressions
from autograd_lite.viz.stepping import forward_steps, node_ids, node_names, tape, walk

# The built-in primitives, with every partial logging (op name, argument position, out) when
# called: the log of a backward() call is the order in which it really processed the nodes.
CALLS: list[tuple[str, int, float]] = []


def _logged(name: str, i: int, d):
    def partial(out, *args):
        CALLS.append((name, i, out))
        return d(out, *args)

    return partial


LOGGED = {
    name: Primitive(name, p.forward, [_logged(name, i, d) for i, d in enumerate(p.partials)],
                    nparams=p.nparams)
    for name, p in PRIMITIVES.items()
}


def build(expr) -> tuple[list[Value], Value]:
    xs = [Value(x, label=f"x{i}") for i, x in enumerate(expr.inputs)]
    return xs, expr(*xs)


@given(expr=expressions(primitives=LOGGED), seed=st.floats(-2.0, 2.0))
def test_steps_follow_backwards_processing_order(expr, seed: float) -> None:
    _, root = build(expr)
    CALLS.clear()
    root.backward(seed)
    processed = list(CALLS)
    CALLS.clear()
    steps = list(backward_steps(root, seed))
    assert CALLS == processed  # the generator evaluates the same partials in the same order
    from_records = [(s.node.op.name, c.index, s.node.data) for s in steps for c in s.contributions]
    assert from_records == processed
    # One record per node (leaves too), in reverse topological order, indexed from 0.
    assert [s.node for s in steps] == topo_order([root])[::-1]
    assert [s.index for s in steps] == list(range(len(steps)))


@given(expr=expressions(), seed=st.floats(-2.0, 2.0))
def test_exhausted_steps_leave_backwards_gradients(expr, seed: float) -> None:
    xs_a, root_a = build(expr)
    xs_b, root_b = build(expr)
    root_a.backward(seed)
    for _ in backward_steps(root_b, seed):
        pass
    for a, b in zip(topo_order([root_a]), topo_order([root_b])):
        assert math.isclose(a.grad, b.grad, rel_tol=1e-12, abs_tol=1e-300), (a, b)
    assert [x.grad for x in xs_a] == pytest.approx([x.grad for x in xs_b], rel=1e-12)


@given(expr=expressions(), seed=st.floats(-2.0, 2.0))
def test_each_contribution_is_upstream_times_local_and_running_grads_add_up(expr, seed) -> None:
    _, root = build(expr)
    running = {v: 0.0 for v in topo_order([root])}
    running[root] = seed
    for s in backward_steps(root, seed):
        # Upstream is complete when a node's turn comes: it equals d root / d node.
        want = grad(root, [s.node])[0] * seed if s.node is not root else seed
        assert math.isclose(s.upstream, want, rel_tol=1e-9, abs_tol=1e-12)
        assert s.upstream == running[s.node]
        assert len(s.contributions) == len(s.node.parents)
        for c in s.contributions:
            assert c.parent is s.node.parents[c.index]
            assert c.contribution == s.upstream * c.local
            running[c.parent] += c.contribution
            assert c.parent_grad == running[c.parent]


@given(expr=expressions(), data=st.data())
def test_stopping_half_way_leaves_the_documented_state(expr, data) -> None:
    _, root = build(expr)
    order = topo_order([root])
    k = data.draw(st.integers(0, len(order)), label="steps taken")
    gen = backward_steps(root)
    done = [next(gen) for _ in range(k)]
    gen.close()
    # Documented: nothing happens before the first next(); then the root is seeded, every
    # yielded node has passed on its full gradient and no later node anything.
    expected = {v: 0.0 for v in order}
    expected[root] = 1.0 if k else 0.0
    for s in done:
        for c in s.contributions:
            expected[c.parent] += c.contribution
    for v in order:
        assert v.grad == expected[v], v
    # Each node already processed had its complete gradient (the same as after a full pass).
    _, twin = build(expr)
    twin.backward()
    twin_order = topo_order([twin])
    for s in done:
        assert s.upstream == pytest.approx(twin_order[order.index(s.node)].grad, rel=1e-12)


def test_walk_starts_from_zero_and_restores_every_grad() -> None:
    x = Value(2.0, label="x")
    y = x * x + 1
    y.backward()  # x.grad = 4 before walking
    seen = [(s.index, x.grad) for s in walk(y)]
    assert seen[-1][1] == 4.0  # walk shows one pass from zero, not 4 + 4
    assert x.grad == 4.0 and y.grad == 1.0
    gen = walk(y)
    next(gen)
    next(gen)
    gen.close()  # abandoned half-way: still restored
    assert x.grad == 4.0


@given(expr=expressions())
def test_forward_steps_are_topological_with_ops_inputs_and_values(expr) -> None:
    _, root = build(expr)
    recs = list(forward_steps(root))
    assert [r.node for r in recs] == topo_order([root])
    pos = {r.node: r.index for r in recs}
    for i, r in enumerate(recs):
        assert r.index == i and r.value == r.node.data
        assert r.op == (r.node.op.name if r.node.op else None)
        assert r.inputs == r.node.parents and r.params == r.node.params
        assert all(pos[p] < i for p in r.inputs)


def test_names_fall_back_to_topological_ids_and_disambiguate_shared_labels() -> None:
    a = Value(1.0, label="a")
    b = Value(2.0, label="a")
    y = a * b + 3
    ids = node_ids(y)
    names = node_names(y)
    order = topo_order([y])
    assert [ids[v] for v in order] == [f"n{i}" for i in range(len(order))]
    assert names[a] == f"a@{ids[a]}" and names[b] == f"a@{ids[b]}"
    assert names[y] == ids[y]
    y.label = "L"
    assert node_names(y)[y] == "L"


# ---- the tape ----------------------------------------------------------------------------------
NUM = r"\(?(-?(?:[0-9.]+(?:e[-+]?\d+)?|inf|nan))\)?"
CHAIN = re.compile(rf"d(\S+)/d(\S+) \+= d\S+/d(\S+) · d\S+/d\S+ = {NUM} · {NUM} = {NUM}")
RUNNING = re.compile(rf"d\S+/d(\S+) = {NUM}$")


def parse_tape(text: str) -> list[tuple[str, str, float, float, float, float]]:
    """(node, parent, upstream, local, contribution, parent .grad) from each chain-rule line."""
    rows = []
    for line in text.splitlines()[2:]:
        m = CHAIN.search(line)
        if m is None:
            assert "leaf: gradient complete" in line, line
            continue
        run = RUNNING.search(line)
        assert run is not None and run.group(1) == m.group(2), line
        rows.append((m.group(3), m.group(2), float(m.group(4)), float(m.group(5)),
                     float(m.group(6)), float(run.group(2))))
    return rows


def expected_rows(steps: list[Step], names) -> list[tuple[str, str, float, float, float, float]]:
    return [(names[s.node], names[c.parent], s.upstream, c.local, c.contribution, c.parent_grad)
            for s in steps for c in s.contributions]


@given(expr=expressions(), seed=st.floats(-2.0, 2.0))
def test_tape_numbers_round_trip_exactly_from_the_text(expr, seed: float) -> None:
    _, root = build(expr)
    steps = list(backward_steps(root, seed))
    text = str(tape(steps, fmt=".17g"))
    assert parse_tape(text) == expected_rows(steps, node_names(root))


@given(expr=expressions())
def test_tape_default_format_is_within_its_precision(expr) -> None:
    _, root = build(expr)
    steps = list(backward_steps(root))
    got = parse_tape(str(tape(steps)))
    want = expected_rows(steps, node_names(root))
    assert [g[:2] for g in got] == [w[:2] for w in want]
    for g, w in zip(got, want):
        assert g[2:] == pytest.approx(w[2:], rel=1e-3, abs=1e-300)


def test_tape_of_a_neuron_reads_like_the_chain_rule() -> None:
    x = Value(1.5, label="x")
    w = Value(-0.5, label="w")
    z = x * w
    z.label = "z"
    L = z.tanh()
    L.label = "L"
    t = tape(L)
    text = str(t)
    up = 1 - math.tanh(-0.75) ** 2
    assert f"dL/dz += dL/dL · dL/dz = 1 · {up:.4g} = {up:.4g}" in text
    assert f"dL/dw += dL/dz · dz/dw = {up:.4g} · 1.5 = {up * 1.5:.4g}" in text
    assert f"dL/dx += dL/dz · dz/dx = {up:.4g} · (-0.5) = {-0.5 * up:.4g}" in text
    assert "dL/dL = 1 (seed)" in text and "z = mul(x, w)" in text
    assert x.grad == 0.0 and w.grad == 0.0  # tape(root) leaves the graph's grads alone
    # One row per contribution plus one per leaf, HTML rows tagged with step and node id.
    assert len(t) == 3 + 2
    html = t._repr_html_()
    assert html.count("<tr ") == len(t)
    assert 'data-step="0" data-node="n3"' in html  # L is node n3 (x, w, z, L)
    assert "dL/dw += dL/dz · dz/dw" in html
    assert str(tape(L)) == text  # deterministic


def test_tape_escapes_labels_in_html() -> None:
    a = Value(1.0, label="<b>&")
    y = a * 2
    assert "<b>&" not in tape(y).to_html() and "&lt;b&gt;&amp;" in tape(y).to_html()


@pytest.mark.parametrize("bad", ["abc", 3.0, [1, 2]])
def test_tape_rejects_what_is_not_a_value_or_steps(bad) -> None:
    with pytest.raises(TypeError, match="tape"):
        tape(bad)


def test_tape_rejects_steps_from_two_graphs() -> None:
    y1 = Value(1.0) * 2
    y2 = Value(3.0) * 4
    with pytest.raises(ValueError, match="not in the graph"):
        tape(list(backward_steps(y1)) + list(backward_steps(y2)))
