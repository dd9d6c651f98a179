"""A backward() interrupted anywhere (KeyboardInterrupt between any two lines of its walk or of
its reverse loop) leaves a graph the next backward() handles exactly: interior gradients equal
a clean run's, and each leaf gets the clean run's contributions on top of what it carried.

The interruption is deterministic: a trace function raises at the k-th line event inside the
engine's traversal functions, for every k up to the end of the run."""

from __future__ import annotations

import random
import struct
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest

from autograd_lite import Value, primitive, topo_order
from autograd_lite.engine import traversal

WATCHED = {traversal._interior_order.__code__, traversal._reverse.__code__,
           traversal._depth_first.__code__}

fma = primitive("fma_interrupted", lambda o, x, y, z: y, lambda o, x, y, z: x,
                lambda o, x, y, z: 1.0)(lambda x, y, z: x * y + z)


def bits(x: float | None) -> Any:
    return None if x is None else ("nan" if x != x else struct.pack("<d", x))


def graph(seed: int) -> tuple[list[Value], Value]:
    """Leaves and a root: shared subexpressions, diamonds, repeated operands, the inlined ops
    (add, mul, tanh), the specialised ones (exp, x ** p), an N-ary primitive, a constant."""
    rng = random.Random(seed)
    leaves = [Value(rng.uniform(-1.5, 1.5), label=f"x{i}") for i in range(3)]
    nodes: list[Value] = list(leaves)
    for _ in range(rng.randint(3, 14)):
        a, b, c = (rng.choice(nodes[-3:] if rng.random() < 0.6 else nodes) for _ in range(3))
        nodes.append(make(rng.randrange(8), a, b, c, rng.choice([2, 3, 0.5])))
    return leaves, nodes[-1]


def make(k: int, a: Value, b: Value, c: Value, p: float) -> Value:
    """Node kind `k` on `a`, `b`, `c` (exponent `p`, 2 where a ** p has no real value)."""
    if k == 0:
        return a + b
    if k == 1:
        return a * b
    if k == 2:
        return a * a
    if k == 3:
        return a.tanh()
    if k == 4:
        return (a * 0.25).exp()
    if k == 5:
        return a ** (p if a.data > 0.0 else 2)
    if k == 6:
        return fma(a, b, c)
    return (a + b) * (a - b) + 1.0


@contextmanager
def interrupt_at(k: int) -> Iterator[list[int]]:
    """Raise KeyboardInterrupt at the k-th line event inside the traversal's functions; the
    list yielded holds the number of events seen (so a k past the end is detected)."""
    seen = [0]

    def local(frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if event == "line":
            seen[0] += 1
            if seen[0] == k:
                raise KeyboardInterrupt
        return local

    def glob(frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        return local if frame.f_code in WATCHED else None

    old = sys.gettrace()
    sys.settrace(glob)
    try:
        yield seen
    finally:
        sys.settrace(old)


def carried_by(root: Value) -> list[float | None]:
    """The gradients of the graph's leaves (the user's and the constants), in topo order."""
    return [v.grad for v in topo_order([root]) if v.op is None]


def clean_run(seed: int, carried: list[float | None]) -> list[Any]:
    """Every node's gradient after one backward() on a fresh copy of the graph whose leaves
    (constants included) carry `carried`."""
    _, root = graph(seed)
    for v, g in zip([v for v in topo_order([root]) if v.op is None], carried, strict=True):
        v.grad = g
    root.backward()
    return [bits(v.grad) for v in topo_order([root])]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("stale", [None, 2.5])
def test_backward_after_an_interrupted_backward_is_exact(seed: int, stale: float | None) -> None:
    k = 1
    while True:
        leaves, root = graph(seed)
        for v in topo_order([root]):
            v.grad = stale  # what interior nodes held before: reset by the walk
        for v in leaves:
            v.grad = None if stale is None else 0.0
        with interrupt_at(k) as seen:
            try:
                root.backward()
                finished = True
            except KeyboardInterrupt:
                finished = False
        if finished:
            assert seen[0] < k  # every line of the run has been an interruption point
            break
        carried = carried_by(root)
        root.backward()
        assert [bits(v.grad) for v in topo_order([root])] == clean_run(seed, carried), k
        assert all(type(v.grad) is float for v in topo_order([root]))
        k += 1
    assert k > 10


@pytest.mark.parametrize("seed", range(4))
def test_stepping_after_an_interrupted_backward_matches_backward(seed: int) -> None:
    k = 1
    while True:
        leaves, root = graph(seed)
        with interrupt_at(k) as seen:
            try:
                root.backward()
                finished = True
            except KeyboardInterrupt:
                finished = False
        if finished:
            break
        carried = carried_by(root)
        for _ in root.backward_steps():
            pass
        assert [bits(v.grad) for v in topo_order([root])] == clean_run(seed, carried), k
        k += 1
    assert seen[0] < k
