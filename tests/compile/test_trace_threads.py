"""A trace owns only the nodes made in its own context: a node another thread computes while
the trace runs is never taken for one the traced function made, and the other threads' own
work (graphs, backward, function transforms) is unaffected by a trace running meanwhile."""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable
from typing import Any

import pytest

from autograd_lite import Value, compile_grad
from autograd_lite.engine import func
from autograd_lite.engine import value as value_module

TIMEOUT = 30.0


def run_thread(target: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    """Start `target` in a thread; its exception (if any) lands in the returned list."""
    errors: list[BaseException] = []

    def body() -> None:
        try:
            target()
        except BaseException as e:  # noqa: BLE001 - re-raised by the test
            errors.append(e)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, errors


def finish(t: threading.Thread, errors: list[BaseException]) -> None:
    t.join(TIMEOUT)
    assert not t.is_alive(), "the other thread did not finish"
    if errors:
        raise errors[0]


def test_a_node_another_thread_computes_from_a_parameter_during_the_trace_is_refused() -> None:
    p = Value(1.5)
    shared: dict[str, Value] = {}
    go, made = threading.Event(), threading.Event()

    def other() -> None:
        assert go.wait(TIMEOUT)
        shared["q"] = p * 2.0
        made.set()

    t, errors = run_thread(other)

    def f(x: Value) -> Value:
        go.set()
        assert made.wait(TIMEOUT)
        return x * shared["q"]

    with pytest.raises(ValueError, match="made by 'mul', data 3.0") as info:
        compile_grad(f, [0.3], params=[p], backend="python")
    finish(t, errors)
    assert info.value.foreign_node is shared["q"]  # type: ignore[attr-defined]


def test_a_node_another_thread_computes_from_a_constant_is_a_constant_of_the_trace() -> None:
    p = Value(1.5)
    c = Value(4.0)
    shared: dict[str, Value] = {}
    go, made = threading.Event(), threading.Event()

    def other() -> None:
        assert go.wait(TIMEOUT)
        shared["q"] = c.exp()
        made.set()

    t, errors = run_thread(other)

    def f(x: Value) -> Value:
        go.set()
        assert made.wait(TIMEOUT)
        return x * p + shared["q"]

    compiled = compile_grad(f, [0.3], params=[p], backend="python")
    finish(t, errors)
    p.data = 10.0
    value, grads = compiled.value_and_grad([0.3])
    assert value == pytest.approx(0.3 * 10.0 + math.exp(4.0), rel=1e-15)
    assert grads == pytest.approx((10.0, 0.3), rel=1e-15)


def test_another_thread_building_graphs_and_running_backward_during_a_trace_is_unaffected(
) -> None:
    p = Value(0.7)
    go, done = threading.Event(), threading.Event()
    seen: dict[str, float] = {}

    def other() -> None:
        assert go.wait(TIMEOUT)
        a, b = Value(1.25), Value(-0.5)
        out = (a * b).tanh() + (a + b) ** 2
        out.backward()
        seen["out"], seen["a"], seen["b"] = out.data, a.grad, b.grad
        done.set()

    t, errors = run_thread(other)

    def f(x: Value) -> Value:
        y = x * p
        go.set()
        assert done.wait(TIMEOUT)
        return (y + x).sin()

    compiled = compile_grad(f, [0.3], params=[p], backend="python")
    finish(t, errors)
    a, b = 1.25, -0.5
    sech2 = 1.0 - math.tanh(a * b) ** 2
    assert seen["out"] == pytest.approx(math.tanh(a * b) + (a + b) ** 2, rel=1e-15)
    assert seen["a"] == pytest.approx(sech2 * b + 2 * (a + b), rel=1e-14)
    assert seen["b"] == pytest.approx(sech2 * a + 2 * (a + b), rel=1e-14)
    p.data = -2.0
    value, (gx, gp) = compiled.value_and_grad([0.3])
    x0 = 0.3
    assert value == pytest.approx(math.sin(x0 * -2.0 + x0), rel=1e-14)
    assert gx == pytest.approx(math.cos(x0 * -2.0 + x0) * (-2.0 + 1.0), rel=1e-14)
    assert gp == pytest.approx(math.cos(x0 * -2.0 + x0) * x0, rel=1e-14)


def _poly(x: Any, y: Any) -> Any:
    return (x * y).sin() * x + y ** 3 / (1.0 + x * x)


def _transform_results(x: float, y: float) -> list[Any]:
    """Several transforms of `_poly` at (x, y), as plain floats."""
    g = func.grad(_poly, argnums=(0, 1))(x, y)
    h = func.hessian(_poly, argnums=0)(x, y)
    j = func.jacfwd(_poly, argnums=1)(x, y)
    return [float(g[0]), float(g[1]), float(h), float(j)]


def test_transforms_in_another_thread_started_during_a_trace_agree_with_one_thread() -> None:
    expected = _transform_results(0.4, -1.1)
    p = Value(0.9)
    go, done = threading.Event(), threading.Event()
    got: list[Any] = []

    def other() -> None:
        assert go.wait(TIMEOUT)
        got.extend(_transform_results(0.4, -1.1))
        done.set()

    t, errors = run_thread(other)

    def f(x: Value) -> Value:
        y = x * p
        go.set()
        assert done.wait(TIMEOUT)
        return y.exp() + x  # nodes made after the other thread's levels began

    compiled = compile_grad(f, [0.3], params=[p], backend="python")
    finish(t, errors)
    assert got == expected
    assert compiled.value_and_grad([0.3])[0] == pytest.approx(math.exp(0.27) + 0.3, rel=1e-15)


def test_transforms_in_two_threads_at_once_agree_with_one_thread() -> None:
    points = [(0.4, -1.1), (1.3, 0.2), (-0.7, 2.5)]
    expected = [_transform_results(x, y) for x, y in points]
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    results: dict[int, list[list[Any]]] = {0: [], 1: []}

    def worker(k: int) -> Callable[[], None]:
        def body() -> None:
            for x, y in points * 20:
                barrier.wait()
                results[k].append(_transform_results(x, y))
        return body

    threads = [run_thread(worker(k)) for k in (0, 1)]
    for t, errors in threads:
        finish(t, errors)
    for k in (0, 1):
        assert results[k] == expected * 20


def test_a_level_elsewhere_differentiates_through_a_node_the_trace_made_after_it_began(
) -> None:
    """A level in another thread whose function uses a node the traced function computed
    from the level's variable (after the level began): the level still sees that node as
    its own work (its stamp follows the level), so the derivative goes through it."""
    to_trace: queue.Queue[Value] = queue.Queue()
    from_trace: queue.Queue[Value] = queue.Queue()
    p = Value(2.0)

    def g(y: Value) -> Value:
        to_trace.put(y)
        return from_trace.get(timeout=TIMEOUT) + y

    got: list[float] = []
    tracing = threading.Event()

    def other() -> None:
        assert tracing.wait(TIMEOUT)  # the level begins after the trace
        got.append(float(func.grad(g)(3.0)))

    t, errors = run_thread(other)

    def f(x: Value) -> Value:
        tracing.set()
        y = to_trace.get(timeout=TIMEOUT)
        from_trace.put(y * y)  # made in the trace's context, after the level began
        return x * p

    compiled = compile_grad(f, [0.5], params=[p], backend="python")
    finish(t, errors)
    assert got == [pytest.approx(2 * 3.0 + 1.0, rel=1e-15)]
    assert compiled.value_and_grad([0.5]) == (1.0, (2.0, 0.5))


def test_a_transform_inside_the_traced_function_is_the_trace_s_own_work() -> None:
    p = Value(1.7)

    def f(x: Value) -> Value:
        dy = func.grad(lambda y: (y * p).sin() * y)(x)  # d/dy = cos(yp)p y + sin(yp)
        return dy * x

    compiled = compile_grad(f, [0.6], params=[p], backend="python")
    p.data = -0.8
    x0, p0 = 0.6, -0.8
    expected = (math.cos(x0 * p0) * p0 * x0 + math.sin(x0 * p0)) * x0
    assert compiled.value_and_grad([x0])[0] == pytest.approx(expected, rel=1e-14)


def test_the_plain_node_constructor_is_back_once_every_trace_ends_however_it_ends() -> None:
    assert value_module._node is value_module._node_plain
    inside: list[bool] = []

    def boom(x: Value) -> Value:
        inside.append(value_module._node is value_module._node_plain)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        compile_grad(boom, [0.1], backend="python")
    assert inside == [False]
    assert value_module._node is value_module._node_plain
    assert value_module._OWNING == [0]
    assert value_module._OWN.get() is None
