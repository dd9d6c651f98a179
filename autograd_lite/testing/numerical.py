"""Gradient checks by central differences: `numerical_grad`, `gradcheck`, `gradgradcheck`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from ..engine.modes import no_grad
from ..engine.traversal import grad
from ..engine.value import Value, describe, to_float


class GradcheckError(AssertionError):
    """A gradient check failed: the message names the input, analytic vs numeric, the gap."""


def _input_floats(inputs: Sequence[Any]) -> list[float]:
    if isinstance(inputs, Value | int | float):
        inputs = [inputs]
    return [x.data if isinstance(x, Value) else to_float(x, f"gradcheck input {i}")
            for i, x in enumerate(inputs)]


def _call(f: Callable[..., Any], xs: Sequence[float], where: str) -> Value:
    out = f(*[Value(x) for x in xs])
    if not isinstance(out, Value):
        raise TypeError(f"{where}: the function must return a Value, got {describe(out)}")
    return out


def numerical_grad(f: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6) -> list[float]:
    """Central differences (f(x + eps) - f(x - eps)) / 2 eps for each input, evaluated untraced."""
    xs = _input_floats(inputs)
    out = []
    with no_grad():
        for i in range(len(xs)):
            hi = list(xs)
            lo = list(xs)
            hi[i] += eps
            lo[i] -= eps
            fp = float(_call(f, hi, "numerical_grad"))
            fm = float(_call(f, lo, "numerical_grad"))
            out.append((fp - fm) / (2.0 * eps))
    return out


def _compare(name: str, xs: Sequence[float], analytic: Sequence[float], numeric: Sequence[float],
             atol: float, rtol: float, raise_exception: bool) -> bool:
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        gap = abs(a - n)
        if not (gap <= atol + rtol * abs(n)) or math.isnan(a) != math.isnan(n):
            if not raise_exception:
                return False
            raise GradcheckError(
                f"{name}: gradient of input {i} (x = {xs[i]!r}) is wrong: analytic {a!r}, "
                f"numeric {n!r}, difference {gap:.3g} > atol {atol:g} + rtol {rtol:g} * |numeric|"
            )
    return True


def gradcheck(
    f: Callable[..., Any],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check the engine's gradient of scalar `f` at `inputs` against central differences.

    `f` takes one Value per input and returns a Value. Returns True, or raises GradcheckError
    (an AssertionError) naming the input, the analytic and numeric values and their difference;
    with `raise_exception=False` returns False instead.
    """
    xs = _input_floats(inputs)
    values = [Value(x) for x in xs]
    out = f(*values)
    if not isinstance(out, Value):
        raise TypeError(f"gradcheck: the function must return a Value, got {describe(out)}")
    analytic = grad(out, values, materialize_grads=True)
    numeric = numerical_grad(f, xs, eps)
    return _compare("gradcheck", xs, analytic, numeric, atol, rtol, raise_exception)


def gradgradcheck(
    f: Callable[..., Any],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Second-order check: each first derivative built with `create_graph=True` is itself
    differentiated by the engine and compared with central differences of that derivative."""
    xs = _input_floats(inputs)
    n = len(xs)
    for i in range(n):

        def partial_i(*vs: Value, i: int = i) -> Value:
            out = f(*vs)
            if not isinstance(out, Value):
                raise TypeError(
                    f"gradgradcheck: the function must return a Value, got {describe(out)}"
                )
            g = grad(out, list(vs), create_graph=True, materialize_grads=True)[i]
            return g

        values = [Value(x) for x in xs]
        analytic = grad(partial_i(*values), values, materialize_grads=True)
        numeric = []
        for j in range(n):
            hi = list(xs)
            lo = list(xs)
            hi[j] += eps
            lo[j] -= eps
            numeric.append((float(partial_i(*[Value(x) for x in hi]))
                            - float(partial_i(*[Value(x) for x in lo]))) / (2.0 * eps))
        if not _compare(f"gradgradcheck (d/dx_j of d f/d x_{i})", xs, analytic, numeric, atol, rtol,
                        raise_exception):
            return False
    return True
