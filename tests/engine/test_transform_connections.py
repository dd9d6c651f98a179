"""What a transform's result stays connected to: an enclosing transform seen from a worker
thread (where the depth is 0), a Value closed over at the top (connected, as torch.func keeps a
closed-over tensor that requires grad), constants and finished transforms' results (not), and
`no_grad()` around a transform (constant results, as torch.func's). A level's traversals stop
at nodes made before it began."""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
import torch.func as tf
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import Value
from autograd_lite.engine import func
from autograd_lite.engine.traversal import topo_since
from autograd_lite.engine.value import new_generation

X = st.floats(-2.0, 2.0, allow_nan=False)
DT = torch.float64


@given(X)
def test_a_transform_in_a_worker_thread_stays_inside_the_enclosing_one(x: float) -> None:
    def in_thread(a: Value) -> Value:
        with ThreadPoolExecutor(1) as ex:
            inner = ex.submit(lambda: func.grad(lambda y: a * y * y)(3.0)).result()  # 6a
        return inner * a  # 6 a^2

    def same_thread(a: Value) -> Value:
        return func.grad(lambda y: a * y * y)(3.0) * a

    assert func.grad(in_thread)(x) == func.grad(same_thread)(x) == pytest.approx(12 * x)

    def in_executor(a: Value) -> Value:
        async def main() -> Value:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, lambda: func.grad(lambda y: a * y * y)(1.0))
        return asyncio.run(main()) * a  # 2 a^2

    assert func.grad(in_executor)(x) == pytest.approx(4 * x)


@given(X)
def test_a_value_closed_over_at_the_top_stays_connected_as_in_torch_func(w0: float) -> None:
    w = Value(w0)
    g = func.grad(lambda y: w * y * y)(3.0)  # 6 w
    assert isinstance(g, Value) and g.data == pytest.approx(6 * w0)
    assert al.grad(g, [w]) == (6.0,)
    loss = func.grad(lambda y: w * y * y)(3.0) * w  # 6 w^2
    loss.backward()
    tw = torch.tensor(w0, dtype=DT, requires_grad=True)
    (tf.grad(lambda y: tw * y * y)(torch.tensor(3.0, dtype=DT)) * tw).backward()
    assert w.grad == pytest.approx(tw.grad.item(), rel=1e-14) == pytest.approx(12 * w0)


def test_constants_and_finished_transforms_are_not_connections() -> None:
    c = Value(2.0).detach()                      # a constant leaf, not the user's Value
    assert func.grad(lambda y: c * y * y)(3.0) == 12.0
    _, vjp_fn = func.vjp(lambda x: x.sin() * 2.0, 0.3)
    # the finished vjp's variable and constants are reached, but are no one's variables
    assert func.grad(lambda k: vjp_fn(k)[0])(2.0) == 2 * math.cos(0.3)
    earlier = func.grad(lambda y: y * y * y, )(Value(1.5))   # a traced result, 3 y^2
    assert isinstance(func.grad(lambda y: earlier.detach() * y)(1.0), float)


def test_no_grad_around_a_nested_transform_makes_a_constant_as_in_torch_func() -> None:
    def outer(x: Value) -> Value:
        with al.no_grad():
            g = func.grad(lambda y: x * y)(1.0)   # x, but a constant here
        return g * x

    def touter(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            g = tf.grad(lambda y: x * y)(torch.tensor(1.0, dtype=DT))
        return g * x

    assert func.grad(outer)(3.0) == tf.grad(touter)(torch.tensor(3.0, dtype=DT)).item() == 3.0
    for jac in (func.jacfwd, func.jacrev):
        def outer_j(x: Value, jac: object = jac) -> Value:
            with al.no_grad():
                g = jac(lambda y: x * y * y)(1.0)  # type: ignore[operator]
            return g * x
        assert func.grad(outer_j)(3.0) == 6.0
    x = Value(3.0)
    with al.no_grad():
        r = func.grad(lambda y: y * y * y)(x)
    assert isinstance(r, Value) and r.is_leaf and r.data == 27.0
    with al.no_grad():
        assert func.grad(lambda y: y * y * y)(3.0) == 27.0   # numbers in, a float out


def test_a_levels_walk_stops_at_nodes_made_before_it() -> None:
    x = Value(0.5)
    h = x
    for _ in range(50):
        h = h.sin() + 0.5 * h
    since = new_generation()
    y = Value(2.0)
    out = y * h + y
    order, stops = topo_since([out], since)
    assert set(order) == {y, out, out.parents[0]} and stops == [h]
    assert topo_since([h], since) == ([], [h])
