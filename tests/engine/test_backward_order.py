"""backward()'s fast order (`_interior_order`) is `topo_order`'s, op nodes only, with the same
resets: the summation order of every gradient, and so every bit of it, is unchanged."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from autograd_lite import Value, primitive, topo_order
from autograd_lite.engine.traversal import _depth_first, _interior_order


@primitive("lerp3", lambda out, a, b, t: 1.0 - t, lambda out, a, b, t: t,
           lambda out, a, b, t: b - a)
def lerp3(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


@primitive("scaled", lambda out, x, s, c: s, nparams=2)
def scaled(x: float, s: float, c: float) -> float:
    return s * x + c


def random_graph(seed: int, n: int) -> tuple[Value, list[Value]]:
    """A random DAG over a few leaves: binary, unary, n-ary and parametrised ops, reused nodes,
    repeated operands (`a * a`) and number operands; some leaves' grads set to None."""
    rng = random.Random(seed)
    leaves = [Value(rng.uniform(0.5, 1.5), label=f"x{i}") for i in range(rng.randint(1, 4))]
    for v in leaves:
        if rng.random() < 0.3:
            v.grad = None
    nodes: list[Any] = list(leaves)
    for _ in range(n):
        a, b, c = (rng.choice(nodes[-6:] if rng.random() < 0.7 else nodes) for _ in range(3))
        kind = rng.randrange(8)
        if kind == 0:
            y = a + b
        elif kind == 1:
            y = a * a
        elif kind == 2:
            y = (a * 0.5).tanh()
        elif kind == 3:
            y = lerp3(a, b, c)
        elif kind == 4:
            y = scaled(a, 0.5, 1.0)
        elif kind == 5:
            y = 2.0 - a
        elif kind == 6:
            y = lerp3(a, a, 0.25)
        else:
            y = a.maximum(b)
        nodes.append(y)
    return nodes[-1], leaves


@settings(max_examples=60)
@given(st.integers(0, 10**6), st.integers(0, 40))
def test_fast_order_is_the_depth_first_order_of_op_nodes(seed: int, n: int) -> None:
    root, leaves = random_graph(seed, n)
    for v in topo_order([root]):
        if v.op is not None:
            v.grad = 5.0  # stale interior gradients, reset by both
    want = [v for v in topo_order([root]) if v.op is not None]
    assert _depth_first((root,), reset=True, leaves=False) == want
    nones = [v for v in leaves if v.grad is None]
    for v in nones:
        v.grad = None
    for v in want:
        v.grad = 5.0
    assert _interior_order(root) == want
    assert all(v.grad == 0.0 for v in want)
    reached = set(topo_order([root]))
    assert all(v.grad == 0.0 for v in nones if v in reached)  # "no gradient yet" becomes 0.0
    assert all(v.grad is None for v in nones if v not in reached)


@settings(max_examples=30)
@given(st.integers(0, 10**6), st.integers(1, 40))
def test_backward_sums_in_the_depth_first_order(seed: int, n: int) -> None:
    root, leaves = random_graph(seed, n)
    for v in leaves:
        v.grad = 0.0
    root.backward()
    got = [v.grad for v in leaves]
    # the rule by hand, over the reverse of topo_order: the reference summation order
    grads: dict[Value, float] = {v: 0.0 for v in topo_order([root])}
    grads[root] = 1.0
    for node in reversed(topo_order([root])):
        if node.op is None:
            continue
        args = [p.data for p in node.parents] + list(node.params)
        for p, d in zip(node.parents, node.op.partials):
            local = d(node.data, *args)
            grads[p] += 0.0 if node.op.mask and local == 0.0 else grads[node] * local
    assert got == [grads.get(v, 0.0) for v in leaves]


def test_a_leaf_root_and_a_long_chain() -> None:
    x = Value(1.0)
    x.grad = None
    assert _interior_order(x) == [] and x.grad == 0.0
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0
