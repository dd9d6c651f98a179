"""backward()'s fast path gives the rule's numbers to the last bit: the specialised accumulates
of the hot ops (and the ones inlined in the reverse loop) against the generic accumulate built
from the partials, the walk that marks seen nodes through their reset gradient, and the node
constructor inlined in the hot ops (plain nodes, leaves under no_grad, subclasses kept)."""

from __future__ import annotations

import math
import random
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import PRIMITIVES, Value, no_grad, topo_order
from autograd_lite.engine import traversal
from autograd_lite.engine.value import _accumulator, generation, new_generation

EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-300, -1e-300, 1e300, -1e300, 710.0, math.inf,
         -math.inf]
floats = st.one_of(st.sampled_from(EDGES), st.floats(-50.0, 50.0),
                   st.floats(allow_nan=False))
exponents = st.one_of(st.sampled_from([0.0, 1.0, 2.0, 3.0, -1.0, -2.0, 0.5, -0.5, 1.5, 0.25]),
                      st.floats(-4.0, 4.0))


def bits(x: Any) -> Any:
    """A float's bits (every NaN alike), or the exception type a computation raised."""
    if isinstance(x, type):
        return x
    return "nan" if x != x else struct.pack("<d", x)


def run(acc: Any, node: Value, g: float, start: list[float]) -> list[Any]:
    """The parents' gradients after `acc(node, g)` from `start`, or the exception type."""
    for p, s in zip(node.parents, start):
        p._gr = s
    try:
        acc(node, g)
    except (ArithmeticError, ValueError) as e:
        return [type(e)]
    return [bits(p._gr) for p in node.parents]


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
@given(xs=st.lists(floats, min_size=3, max_size=3), p=exponents, g=floats,
       start=st.lists(floats, min_size=3, max_size=3))
def test_each_records_accumulate_adds_what_its_partials_give(
        name: str, xs: list[float], p: float, g: float, start: list[float]) -> None:
    op = PRIMITIVES[name]
    args: list[Any] = [Value(x) for x in xs[:op.nargs]]
    params = [p] * op.nparams
    try:
        node = op(*args, *params)
    except (ArithmeticError, ValueError):
        return  # outside the op's domain: no node
    assert isinstance(node, Value) and node.op is op
    generic = _accumulator(op)
    assert run(op.accumulate, node, g, start) == run(generic, node, g, start)


def random_graph(seed: int, n: int) -> tuple[Value, list[Value]]:
    """A random graph of the ops the reverse loop and the hot accumulates specialise (add, mul,
    tanh, exp, x ** p, relu) and some it does not, values that overflow and reach 0 included."""
    rng = random.Random(seed)
    leaves = [Value(rng.choice([rng.uniform(-2.0, 2.0), 0.0, 30.0, -1.0]), label=f"x{i}")
              for i in range(rng.randint(1, 4))]
    nodes: list[Value] = list(leaves)
    for _ in range(n):
        a, b = (rng.choice(nodes[-5:] if rng.random() < 0.7 else nodes) for _ in range(2))
        k = rng.randrange(10)
        try:
            if k == 0:
                y = a + b
            elif k == 1:
                y = a * b
            elif k == 2:
                y = a * a
            elif k == 3:
                y = a.tanh()
            elif k == 4:
                y = (a * 0.25).exp()
            elif k == 5:
                y = a ** rng.choice([2, 3, 0, -1, 0.5, 1.5, 2.0])
            elif k == 6:
                y = a.relu()
            elif k == 7:
                y = a / b
            elif k == 8:
                y = a.sigmoid() - b
            else:
                y = a.maximum(b) + 1.0
        except (ArithmeticError, ValueError):
            continue
        nodes.append(y)
    return nodes[-1], leaves


@given(st.integers(0, 10**6), st.integers(1, 60))
def test_backward_equals_stepping_through_the_rule_bit_for_bit(seed: int, n: int) -> None:
    root, _ = random_graph(seed, n)
    everything = topo_order([root])
    root.backward()
    fast = [bits(v.grad) for v in everything]
    for v in everything:
        if v.op is None:  # the user's leaves and the constants (`a * 0.25`)
            v.grad = 0.0
    for _ in root.backward_steps():  # the rule, node by node (no specialised accumulate)
        pass
    assert fast == [bits(v.grad) for v in everything]


@given(st.integers(0, 10**6), st.integers(1, 40),
       st.sampled_from([None, 0.0, -0.0, 7.5, math.inf]))
def test_interior_gradients_are_reset_whatever_they_held(seed: int, n: int,
                                                         stale: float | None) -> None:
    root, _ = random_graph(seed, n)
    root.backward()
    once = [bits(v.grad) for v in topo_order([root])]
    for v in topo_order([root]):
        v.grad = stale if v.op is not None else 0.0
    root.backward()
    assert [bits(v.grad) for v in topo_order([root])] == once
    assert all(type(v.grad) is float for v in topo_order([root]))


def test_a_shared_zero_cannot_pass_for_a_visited_node() -> None:
    # a user's 0.0 gradient (the constant, or any other zero) on an interior node is not
    # the walk's mark: the node is still visited and its parents reached
    x = Value(2.0)
    h = x * x
    y = h + h
    h.grad = 0.0
    y.grad = float("0.0")
    y.backward()
    assert x.grad == 8.0 and h.grad == 2.0 and y.grad == 1.0


def test_the_walk_falls_back_to_a_set_where_floats_share_identity(
        monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = random_graph(7, 50)
    want = traversal._depth_first((root,), reset=True, leaves=False)
    root.backward()
    grads = [bits(v.grad) for v in topo_order([root])]
    monkeypatch.setattr(traversal, "_fresh_zero", lambda: traversal._ZERO)
    assert traversal._interior_order(root) == want
    for v in topo_order([root]):
        v.grad = 0.0
    root.backward()
    assert [bits(v.grad) for v in topo_order([root])] == grads


class Scaled(Value):
    """A subclass, as a user writes one."""

    __slots__ = ()


@pytest.mark.parametrize("cls", [Value, Scaled])
@pytest.mark.parametrize("make", [
    lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a + 2.0, lambda a, b: a * 3,
    lambda a, b: a.tanh(), lambda a, b: a ** 2, lambda a, b: a ** 0.5, lambda a, b: a / b,
    lambda a, b: a.exp(),
], ids=["add", "mul", "add-number", "mul-number", "tanh", "pow-int", "pow-float", "div", "exp"])
def test_hot_ops_make_nodes_of_the_operands_class_and_leaves_under_no_grad(
        cls: type[Value], make: Any) -> None:
    a, b = cls(1.5), cls(0.75)
    gen = new_generation()
    y = make(a, b)
    assert type(y) is cls and y.op is not None and y.grad == 0.0 and generation(y) == gen
    assert all(p is a or p is b or p.op is None for p in y.parents)
    with no_grad():
        z = make(a, b)
    assert type(z) is cls and z.op is None and z.parents == () and z.params == ()
    assert z.data == y.data and z.grad == 0.0 and generation(z) == gen
