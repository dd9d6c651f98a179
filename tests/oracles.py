"""Independent oracles for the engine's derivatives: exact symbolic derivatives from sympy.

`SYMPY[name]` rebuilds each built-in primitive from sympy's own functions (not from the engine's
partials), so a wrong entry in the engine's table disagrees with sympy's calculus.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sympy as sp

from autograd_lite.testing import Expression


def _q(x: float) -> sp.Expr:
    """The float exactly (a binary float fits in 50 digits), as an Integer when it is one."""
    return sp.Integer(int(x)) if float(x).is_integer() else sp.Float(x, 50)


SYMPY: dict[str, Any] = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "neg": lambda a: -a,
    "pow": lambda a, b: a**b,
    "powc": lambda x, p: x ** _q(p),
    "rpow": lambda x, c: _q(c) ** x,
    "exp": sp.exp,
    "log": sp.log,
    "log1p": lambda x: sp.log(1 + x),
    "tanh": sp.tanh,
    "sigmoid": lambda x: 1 / (1 + sp.exp(-x)),
    "softplus": lambda x: sp.log(1 + sp.exp(x)),
    "relu": lambda x: sp.Max(x, 0),
    "leaky_relu": lambda x, s: sp.Piecewise((x, x > 0), (_q(s) * x, True)),
    "sin": sp.sin,
    "cos": sp.cos,
    "sqrt": sp.sqrt,
    "abs": sp.Abs,
    "maximum": sp.Max,
    "minimum": sp.Min,
}


def symbols(n: int) -> list[sp.Symbol]:
    """n real symbols x0..x{n-1}."""
    return list(sp.symbols(f"x0:{n}", real=True)) if n else []


def exact(expr: sp.Expr, syms: Sequence[sp.Symbol], point: Sequence[float]) -> float:
    """Evaluate a sympy expression exactly at the float point, rounded to a float at the end."""
    value = expr.evalf(40, subs={s: sp.Float(x, 50) for s, x in zip(syms, point)})
    return float(value)


def sympy_gradient(e: Expression) -> list[float]:
    """Exact first derivatives of the expression's output at its inputs."""
    syms = symbols(len(e.inputs))
    out = e.evaluate(syms, SYMPY)
    return [exact(sp.diff(out, s), syms, e.inputs) for s in syms]


def sympy_hessian(e: Expression) -> list[list[float]]:
    """Exact second derivatives of the expression's output at its inputs."""
    syms = symbols(len(e.inputs))
    out = e.evaluate(syms, SYMPY)
    firsts = [sp.diff(out, s) for s in syms]
    return [[exact(sp.diff(f, s), syms, e.inputs) for s in syms] for f in firsts]


def close(got: float, want: float, scale: float = 1.0) -> bool:
    """Agreement to float precision, allowing for rounding in long chains of products."""
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, scale))
