"""copy.deepcopy of a Value graph: every node copied once, parents and repeated edges kept,
primitive records shared (a record is the op, not data), no recursion on a 100,000-node
chain; the micrograd drop-in keeps its `_op`; built-in primitives pickle by name."""

from __future__ import annotations

import copy
import pickle

from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import Value
from autograd_lite.micrograd.engine import Value as MicroValue


def _nodes(root: Value) -> list[Value]:
    out, seen, stack = [], set(), [root]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        out.append(v)
        stack.extend(v.parents)
    return out


def _same_structure(a: Value, b: Value) -> None:
    na, nb = _nodes(a), _nodes(b)
    assert len(na) == len(nb)
    assert not {id(v) for v in na} & {id(v) for v in nb}  # all new nodes
    for x, y in zip(na, nb):
        assert type(x) is type(y) and x.op is y.op and x.params == y.params
        assert x.data == y.data and x.grad == y.grad and x.label == y.label
        assert len(x.parents) == len(y.parents)


def test_primitive_records_are_their_own_copies() -> None:
    for prim in al.PRIMITIVES.values():
        assert copy.copy(prim) is prim and copy.deepcopy(prim) is prim
        assert pickle.loads(pickle.dumps(prim)) is prim


def test_deepcopy_keeps_records_and_repeated_edges() -> None:
    x = Value(2.0, label="x")
    y = (x * x + x ** 3).tanh() / (x.exp() + 1) - al.maximum(x, 1.5)
    y.backward()
    z = copy.deepcopy(y)
    _same_structure(y, z)
    squares = [v for v in _nodes(z) if v.op is al.PRIMITIVES["mul"] and v.parents[0].is_leaf
               and v.parents[0] is v.parents[1]]
    assert len(squares) == 1  # x * x: one copied x, two edges
    leaf = next(v for v in _nodes(z) if v.label == "x")
    leaf.grad = 0.0
    z.backward()
    assert leaf.grad == x.grad  # the copy differentiates like the original


def test_deepcopy_of_a_100000_node_chain_does_not_recurse() -> None:
    x = Value(0.5, label="x")
    y = x
    for _ in range(100_000):
        y = y * 1.0000001
    z = copy.deepcopy(y)
    assert z.data == y.data and z.op is y.op
    n, depth = z, 0
    while not n.is_leaf:
        n = n.parents[0]
        depth += 1
    assert depth == 100_000 and n.label == "x" and n is not x
    z.backward()
    g = 1.0
    for _ in range(100_000):
        g *= 1.0000001
    assert n.grad == g and x.grad == 0.0  # the copy's leaf, not the original, got it


def test_deepcopy_shares_the_memo_across_roots() -> None:
    x = Value(1.0)
    a, b = x * 2, x + 1
    a2, b2 = copy.deepcopy([a, b])
    assert a2.parents[0] is b2.parents[0] and a2.parents[0] is not x


def test_micrograd_drop_in_deepcopy_keeps_its_ops() -> None:
    a = MicroValue(-4.0)
    b = MicroValue(2.0)
    c = (a * b + b ** 3).relu() + (a / b).tanh() - b.exp()
    d = copy.deepcopy(c)
    _same_structure(c, d)
    for x, y in zip(_nodes(c), _nodes(d)):
        assert x._op == y._op and type(y) is MicroValue
    assert sorted(v._op for v in d._prev) == sorted(v._op for v in c._prev)


@given(st.lists(st.sampled_from(["add", "mul", "tanh", "exp", "sin", "pow"]), min_size=1,
                max_size=30), st.floats(-1, 1))
def test_deepcopy_of_random_graphs_has_the_same_gradients(ops, start) -> None:
    x = Value(start, label="x")
    y = x
    for op in ops:
        y = {"add": lambda v: v + x, "mul": lambda v: v * x, "tanh": Value.tanh,
             "exp": lambda v: (v * 0.1).exp(), "sin": Value.sin,
             "pow": lambda v: v ** 2}[op](y)
    z = copy.deepcopy(y)
    _same_structure(y, z)
    y.backward()
    z.backward()
    leaf = next(v for v in _nodes(z) if v.label == "x")
    assert leaf.grad == x.grad


def test_a_graph_of_built_in_ops_pickles() -> None:
    x = Value(0.7, label="x")
    y = (x * x).sigmoid() + al.leaky_relu(x, negative_slope=0.2)
    z = pickle.loads(pickle.dumps(y))
    _same_structure(y, z)
