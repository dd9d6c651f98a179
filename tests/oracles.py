"""Independent oracles for the engine's derivatives: exact symbolic derivatives from sympy.

`SYMPY[name]` rebuilds each smooth built-in primitive from sympy's own functions (not from the
engine's partials), and `PIECES` picks the active piece of the piecewise ones, so a wrong entry in
the engine's table disagrees with sympy's calculus.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sympy as sp

from autograd_lite import PRIMITIVES
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
    "sin": sp.sin,
    "cos": sp.cos,
    "sqrt": sp.sqrt,
    "div": lambda a, b: a / b,
    "erf": sp.erf,
}

#: Piecewise primitives: at a point away from kinks and ties (the strategies keep 1e-3 away),
#: the derivatives are those of the active piece, chosen here from the float inputs alone.
PIECES: dict[str, Any] = {
    "relu": lambda a, v, p: a[0] if v[0] > 0 else sp.Integer(0),
    "abs": lambda a, v, p: a[0] if v[0] >= 0 else -a[0],
    "leaky_relu": lambda a, v, p: a[0] if v[0] > 0 else _q(p[0]) * a[0],
    "maximum": lambda a, v, p: a[0] if v[0] >= v[1] else a[1],
    "minimum": lambda a, v, p: a[0] if v[0] <= v[1] else a[1],
}

ORACLES = set(SYMPY) | set(PIECES)


def symbolic(
    name: str, args: Sequence[Any], point: Sequence[float], params: Sequence[float]
) -> Any:
    """The sympy expression of primitive `name` on symbolic `args` whose floats are `point`."""
    if name in PIECES:
        return PIECES[name](args, point, params)
    return SYMPY[name](*args, *params)


def to_sympy(e: Expression) -> tuple[list[sp.Symbol], Any]:
    """The expression graph rebuilt in sympy over symbols x0.., and those symbols."""
    syms = symbols(len(e.inputs))
    exprs: list[Any] = list(syms)
    point = list(e.inputs)
    for name, idx, params in e.nodes:
        args = [point[i] for i in idx]
        exprs.append(symbolic(name, [exprs[i] for i in idx], args, params))
        point.append(PRIMITIVES[name](*args, *params))
    return syms, exprs[-1]


def symbols(n: int) -> list[sp.Symbol]:
    """n real symbols x0..x{n-1}."""
    return list(sp.symbols(f"x0:{n}", real=True)) if n else []


def exact(expr: sp.Expr, syms: Sequence[sp.Symbol], point: Sequence[float]) -> float:
    """Evaluate a sympy expression exactly at the float point, rounded to a float at the end."""
    value = expr.evalf(40, subs={s: sp.Float(x, 50) for s, x in zip(syms, point)})
    return float(value)


def sympy_gradient(e: Expression) -> list[float]:
    """Exact first derivatives of the expression's output at its inputs."""
    syms, out = to_sympy(e)
    return [exact(sp.diff(out, s), syms, e.inputs) for s in syms]


def sympy_hessian(e: Expression) -> list[list[float]]:
    """Exact second derivatives of the expression's output at its inputs."""
    syms, out = to_sympy(e)
    firsts = [sp.diff(out, s) for s in syms]
    return [[exact(sp.diff(f, s), syms, e.inputs) for s in syms] for f in firsts]


def close(got: float, want: float, scale: float = 1.0) -> bool:
    """Agreement to float precision, allowing for rounding in long chains of products."""
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, scale))


def interpret(f: Any, xs: Sequence[float], params: Sequence[Any] = ()) -> tuple[float, tuple]:
    """The reference for compiled replay: value and gradients (inputs, then params) by the
    interpreter."""
    from autograd_lite import Value, grad

    vs = [Value(x) for x in xs]
    out = f(*vs)
    gs = grad(out, vs + list(params), allow_unused=True, materialize_grads=True)
    return out.data, tuple(gs)
