"""A user primitive's partial must record a graph when the engine differentiates a derivative:
one that reads a Value's number (`math.cos(x)`, `x.data`, `float(x)`) and returns a plain
float would make every higher derivative through it silently 0, so it is a TypeError naming
the primitive. Constants and comparisons of Values stay allowed (true piecewise-constant
derivatives), and plain backward on floats is unchanged."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import Value, primitive
from autograd_lite.engine import func


@primitive("mathsin", lambda out, x: math.cos(x))
def mathsin(x: float) -> float:
    return math.sin(x)


@primitive("datasin", lambda out, x: al.cos(x.data) if isinstance(x, Value) else math.cos(x))
def datasin(x: float) -> float:
    return math.sin(x)


@primitive("graphsin", lambda out, x: al.cos(x))
def graphsin(x: float) -> float:
    return math.sin(x)


@primitive("myadd", lambda out, a, b: 1.0, lambda out, a, b: 1.0)
def myadd(a: float, b: float) -> float:
    return a + b


@primitive("mysign_abs", lambda out, x: 1.0 if x > 0 else -1.0)
def mysign_abs(x: float) -> float:
    return abs(x)


X = st.floats(-3.0, 3.0, allow_nan=False).filter(lambda v: abs(v) > 1e-3)


@given(X)
def test_a_partial_reading_a_values_number_is_refused_when_differentiating_again(x: float) -> None:
    # first order: floats, as before
    assert func.grad(mathsin)(x) == math.cos(x)
    v = Value(x)
    mathsin(v).backward()
    assert v.grad == math.cos(x)
    for second in (lambda: func.grad(func.grad(mathsin))(x),
                   lambda: func.hessian(mathsin)(x),
                   lambda: func.jvp(func.grad(mathsin), (x,), (1.0,)),
                   lambda: func.grad(lambda a: a * func.grad(lambda y: mathsin(a * y))(1.0))(x),
                   lambda: al.grad(mathsin(v), [v], create_graph=True),
                   lambda: func.grad(func.grad(datasin))(x)):
        with pytest.raises(TypeError, match=r"primitive '(mathsin|datasin)': partial "
                                            r"derivative 0 read a Value's number"):
            second()


@given(X)
def test_a_partial_written_with_engine_functions_nests(x: float) -> None:
    assert func.grad(func.grad(graphsin))(x) == pytest.approx(-math.sin(x), rel=1e-14)
    assert func.grad(lambda a: a * func.grad(lambda y: graphsin(a * y))(1.0))(x) == \
        pytest.approx(2 * x * math.cos(x) - x * x * math.sin(x), rel=1e-12, abs=1e-14)


@given(X, X)
def test_constant_and_comparison_partials_are_true_derivatives(a: float, b: float) -> None:
    # d/da d/db (myadd(a, b) * a) = 1; the constant partials' own derivatives are 0
    assert func.grad(func.grad(lambda p, q: myadd(p, q) * p, argnums=1))(a, b) == 1.0
    assert func.grad(func.grad(lambda p: mysign_abs(p) * p))(a) == 2.0 * math.copysign(1.0, a)
