"""grad with create_graph (higher order), value_and_grad, hessian, hvp, no_grad in threads and
asyncio tasks, and users' own primitives getting everything a built-in gets."""

from __future__ import annotations

import asyncio
import math
import threading

import pytest
import sympy as sp
from hypothesis import given

import autograd_lite as al
from autograd_lite import (
    UnusedInputError,
    Value,
    enable_grad,
    grad,
    hessian,
    hvp,
    is_grad_enabled,
    no_grad,
    primitive,
    value_and_grad,
)
from autograd_lite.testing import Expression, expressions, finite_floats, gradcheck, gradgradcheck

from ..oracles import close


def test_third_derivative_of_tanh() -> None:
    x = Value(0.3)
    y = x.tanh()
    (g1,) = grad(y, [x], create_graph=True)
    (g2,) = grad(g1, [x], create_graph=True)
    (g3,) = grad(g2, [x])
    s = sp.Symbol("s")
    f = sp.tanh(s)
    for got, order in ((g1, 1), (g2, 2), (g3, 3)):
        want = float(sp.diff(f, s, order).evalf(30, subs={s: sp.Float(0.3, 50)}))
        assert close(float(got), want, scale=abs(want))


def test_create_graph_results_are_values_even_when_constant() -> None:
    x = Value(2.0)
    (g,) = grad(x + 1, [x], create_graph=True)
    assert isinstance(g, Value) and g.data == 1.0 and g.is_leaf
    with pytest.raises(UnusedInputError):
        grad(g, [x])
    assert grad(g, [x], allow_unused=True) == (None,)
    assert grad(g, [x], materialize_grads=True) == (0.0,)


def test_grad_of_interior_node_and_multiple_outputs() -> None:
    x = Value(1.2)
    h = x * x
    y = h.sin()
    z = h * 3
    gh, gx = grad([y, z], [h, x], grad_outputs=[1.0, 2.0])
    assert close(gh, math.cos(1.44) + 6)
    assert close(gx, (math.cos(1.44) + 6) * 2.4)


@given(finite_floats(-2, 2), finite_floats(-2, 2))
def test_hvp_matches_hessian_product(a: float, b: float) -> None:
    f = lambda x, y: (x * y).sin() + x * x * y
    h = hessian(f, [a, b])
    v = [0.5, -1.5]
    got = hvp(f, [a, b], v)
    for i in range(2):
        assert close(got[i], h[i][0] * v[0] + h[i][1] * v[1], scale=10)


def test_hessian_of_quadratic_form_exact() -> None:
    f = lambda x, y, z: 3 * x * x + 2 * x * y + y * z - z * z
    assert hessian(f, [1.0, -1.0, 2.0]) == [[6.0, 2.0, 0.0], [2.0, 0.0, 1.0], [0.0, 1.0, -2.0]]


def test_value_and_grad_like_jax() -> None:
    f = lambda x, y: x * y + y.exp()
    v, g = value_and_grad(f)(2.0, 0.5)
    assert v == 1.0 + math.exp(0.5) and g == 0.5
    v, (gx, gy) = value_and_grad(f, argnums=(0, 1))(2.0, 0.5)
    assert gx == 0.5 and close(gy, 2 + math.exp(0.5))
    _, g = value_and_grad(lambda x, y: x * 2, argnums=1)(1.0, 3.0)
    assert g == 0.0
    with pytest.raises(IndexError):
        value_and_grad(f, argnums=5)(1.0, 2.0)
    assert value_and_grad(lambda x: 3.0)(1.0) == (3.0, 0.0)  # a constant: JAX, HIPS, torch.func
    with pytest.raises(TypeError, match="must return one scalar"):
        value_and_grad(lambda x: [x, x])(1.0)
    with pytest.raises(ValueError, match="non-empty"):
        value_and_grad(f, argnums=())(1.0, 2.0)


def test_no_grad_records_nothing_and_restores() -> None:
    x = Value(2.0)
    with no_grad():
        assert not is_grad_enabled()
        y = x * x + 1
        with enable_grad():
            z = x * x
        assert not is_grad_enabled()
    assert is_grad_enabled()
    assert y.is_leaf and y.data == 5.0
    assert z.op.name == "mul"


def test_no_grad_as_decorator_and_after_exception() -> None:
    @no_grad()
    def f(v: Value) -> Value:
        return v.exp()

    assert f(Value(0.0)).is_leaf
    assert is_grad_enabled()
    with pytest.raises(RuntimeError), no_grad():
        raise RuntimeError("boom")
    assert is_grad_enabled()


def test_no_grad_is_per_thread() -> None:
    started, release = threading.Event(), threading.Event()
    seen: list[bool] = []

    def worker() -> None:
        with no_grad():
            started.set()
            release.wait(5)

    t = threading.Thread(target=worker)
    t.start()
    started.wait(5)
    seen.append(is_grad_enabled())
    seen.append(not (Value(1.0) * 2).is_leaf)
    release.set()
    t.join()
    assert seen == [True, True]


def test_no_grad_is_per_asyncio_task() -> None:
    async def quiet(flag: asyncio.Event, done: asyncio.Event) -> bool:
        with no_grad():
            flag.set()
            await done.wait()
            return is_grad_enabled()

    async def loud(flag: asyncio.Event, done: asyncio.Event) -> bool:
        await flag.wait()
        enabled = is_grad_enabled()
        done.set()
        return enabled

    async def main() -> tuple[bool, bool]:
        flag, done = asyncio.Event(), asyncio.Event()
        return tuple(await asyncio.gather(quiet(flag, done), loud(flag, done)))  # type: ignore[return-value]

    assert asyncio.run(main()) == (False, True)


# ---- users' own primitives ---------------------------------------------------------------------

@primitive("cube", lambda out, x: 3 * x**2)
def cube(x: float) -> float:
    """x ** 3."""
    return x * x * x


@primitive("hypot2", lambda out, x, y: x / out, lambda out, x, y: y / out)
def hypot2(x: float, y: float) -> float:
    return math.hypot(x, y)


@primitive("logaddexp", lambda out, x, y: al.exp(x - out), lambda out, x, y: al.exp(y - out))
def logaddexp(x: float, y: float) -> float:
    m = max(x, y)
    return m + math.log(math.exp(x - m) + math.exp(y - m))


@primitive("fma", lambda out, a, b, c: b, lambda out, a, b, c: a, lambda out, a, b, c: 1.0)
def fma(a: float, b: float, c: float) -> float:
    return a * b + c


@primitive("scaled_tanh", lambda out, x, k: k * (1 - al.tanh(k * x) ** 2), nparams=1)
def scaled_tanh(x: float, k: float) -> float:
    return math.tanh(k * x)


def test_user_primitives_get_backward_higher_order_and_checks() -> None:
    assert cube.name == "cube" and cube.doc == "x ** 3."
    assert cube(2.0) == 8.0
    x = Value(1.5)
    y = cube(x)
    assert y.op is cube and y.parents == (x,)
    y.backward()
    assert x.grad == 3 * 1.5**2
    (g,) = grad(cube(x), [x], create_graph=True)
    (gg,) = grad(g, [x])
    assert gg == 6 * 1.5
    assert gradcheck(cube, [0.7]) and gradgradcheck(cube, [0.7])
    assert gradcheck(hypot2, [0.3, -1.2]) and gradgradcheck(hypot2, [0.3, -1.2])
    assert gradcheck(fma, [0.3, -1.2, 2.0]) and gradgradcheck(fma, [0.3, -1.2, 2.0])
    assert gradcheck(lambda v: scaled_tanh(v, 2.0), [0.3])
    assert gradgradcheck(lambda v: scaled_tanh(v, 2.0), [0.3])
    a, b, c = Value(2.0), Value(3.0), Value(1.0)
    out = fma(a, b, c)
    assert out.parents == (a, b, c) and out.data == 7.0
    out.backward()
    assert (a.grad, b.grad, c.grad) == (3.0, 2.0, 1.0)
    s = scaled_tanh(Value(0.1), 3.0)
    assert s.params == (3.0,)
    assert list(s.backward_steps())[0].contributions[0].local == pytest.approx(
        3 * (1 - math.tanh(0.3) ** 2))


@given(expressions(primitives=[cube, logaddexp, al.PRIMITIVES["sin"], al.PRIMITIVES["mul"]]))
def test_user_primitives_in_random_graphs(e: Expression) -> None:
    assert gradcheck(e, e.inputs)


def test_wrong_user_derivative_is_caught_by_gradcheck() -> None:
    @primitive("bad_square", lambda out, x: x)  # should be 2 * x
    def bad_square(x: float) -> float:
        return x * x

    from autograd_lite.testing import GradcheckError

    with pytest.raises(GradcheckError) as err:
        gradcheck(bad_square, [1.5])
    msg = str(err.value)
    assert "input 0" in msg and "analytic 1.5" in msg and "numeric 2.99999" in msg
    assert not gradcheck(bad_square, [1.5], raise_exception=False)


def test_derivative_that_breaks_higher_order_is_caught_by_gradgradcheck() -> None:
    # Right first derivative, but float() cuts the graph: second order would be silently 0;
    # the engine refuses the partial's plain number when it builds a differentiable graph.
    @primitive("flat_square", lambda out, x: 2 * float(x))
    def flat_square(x: float) -> float:
        return x * x

    assert gradcheck(flat_square, [1.5])
    with pytest.raises(TypeError, match="'flat_square': partial derivative 0 read a Value"):
        gradgradcheck(flat_square, [1.5])
