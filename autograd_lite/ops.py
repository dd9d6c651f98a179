"""The table of primitives: each operation declared once, with its forward and local partials.

Partials take `(out, *inputs, *params)` and return d out / d input. They are written with
operators and the functions below, so one definition serves plain backward (floats) and
`create_graph=True` (Values). Sugar such as `a - b` and `a / b` is composed from these.

Documented subgradients (the PyTorch and JAX conventions): relu'(0) = 0, abs'(0) = 0,
leaky_relu'(0) = negative_slope, and a tie in maximum/minimum splits the gradient evenly.
"""

from __future__ import annotations

import math
import operator

from .core import Primitive


def _log(x: float) -> float:
    if x <= 0.0:
        raise ValueError(f"logarithm needs a positive number, got {x!r}")
    return math.log(x)


def _log1p(x: float) -> float:
    if x <= -1.0:
        raise ValueError(f"log1p needs a number > -1, got {x!r}")
    return math.log1p(x)


def _sqrt(x: float) -> float:
    if x < 0.0:
        raise ValueError(f"square root of a negative number {x!r}")
    return math.sqrt(x)


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        raise OverflowError(f"exp({x!r}) overflows a float (exp overflows above ~709.78)") from None


def _sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _softplus(x: float) -> float:
    return math.log1p(math.exp(-abs(x))) + (x if x > 0.0 else 0.0)


def _powc(x: float, p: float) -> float:
    if x == 0.0 and p < 0.0:
        raise ZeroDivisionError(f"0.0 raised to the negative power {p!r}")
    if x < 0.0 and not p.is_integer():
        raise ValueError(f"negative base {x!r} with non-integer exponent {p!r} has no real value")
    try:
        return x**p
    except OverflowError:
        raise OverflowError(f"{x!r} ** {p!r} overflows a float") from None


def _rpow(x: float, base: float) -> float:
    if base < 0.0:
        raise ValueError(f"negative base {base!r} with a Value exponent is not differentiable")
    return _powc(base, x)


def _dpow_base(out: float, x: float, y: float) -> float:
    # d/dx x**y = y * x**(y-1); at x == 0, y == 0 that would divide by zero: the limit is 0.
    return 0.0 * x if float(y) == 0.0 and float(x) == 0.0 else y * x ** (y - 1.0)


def _dpow_exponent(out: float, x: float, y: float) -> float:
    # d/dy x**y = x**y * log x; at x == 0 its limit for y > 0 is 0; for x < 0 it is undefined.
    if x > 0.0:
        return out * log(x)
    return 0.0 * out if x == 0.0 else math.nan


def _sign(x: float) -> float:
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)


def _tie(mine: float, other: float) -> float:
    return 1.0 if mine > other else (0.0 if mine < other else 0.5)


ADD = Primitive("add", operator.add, (lambda out, a, b: 1.0, lambda out, a, b: 1.0),
                doc="a + b")
MUL = Primitive("mul", operator.mul, (lambda out, a, b: b, lambda out, a, b: a), doc="a * b")
NEG = Primitive("neg", operator.neg, (lambda out, a: -1.0,), doc="-a")
POW = Primitive("pow", _powc, (_dpow_base, _dpow_exponent), doc="a ** b, both Values")
POWC = Primitive("powc", _powc, (_dpow_base,), nparams=1,
                 doc="x ** p for a number p")
RPOW = Primitive("rpow", _rpow, (lambda out, x, c: out * math.log(c) if c > 0.0 else 0.0 * out,),
                 nparams=1, doc="c ** x for a number c >= 0")
EXP = Primitive("exp", _exp, (lambda out, x: out,), doc="e ** x")
LOG = Primitive("log", _log, (lambda out, x: 1.0 / x,), doc="natural logarithm, x > 0")
LOG1P = Primitive("log1p", _log1p, (lambda out, x: 1.0 / (1.0 + x),), doc="log(1 + x), x > -1")
TANH = Primitive("tanh", math.tanh, (lambda out, x: 1.0 - out * out,), doc="hyperbolic tangent")
SIGMOID = Primitive("sigmoid", _sigmoid, (lambda out, x: out * (1.0 - out),),
                    doc="1 / (1 + e^-x), stable for large |x|")
SOFTPLUS = Primitive("softplus", _softplus, (lambda out, x: sigmoid(x),),
                     doc="log(1 + e^x), stable for large |x|")
RELU = Primitive("relu", lambda x: x if x > 0.0 else 0.0, (lambda out, x: 1.0 if x > 0.0 else 0.0,),
                 doc="max(x, 0); relu'(0) = 0")
LEAKY_RELU = Primitive("leaky_relu", lambda x, s: x if x > 0.0 else s * x,
                       (lambda out, x, s: 1.0 if x > 0.0 else s,), nparams=1,
                       doc="x if x > 0 else negative_slope * x")
SIN = Primitive("sin", math.sin, (lambda out, x: cos(x),), doc="sine")
COS = Primitive("cos", math.cos, (lambda out, x: -sin(x),), doc="cosine")
SQRT = Primitive("sqrt", _sqrt, (lambda out, x: 0.5 / out,), doc="square root, x >= 0")
ABS = Primitive("abs", lambda x: x if x >= 0.0 else -x, (lambda out, x: _sign(x),),
                doc="|x|; abs'(0) = 0")
MAXIMUM = Primitive("maximum", lambda a, b: a if a >= b else b,
                    (lambda out, a, b: _tie(a, b), lambda out, a, b: _tie(b, a)),
                    doc="max(a, b); a tie splits the gradient evenly")
MINIMUM = Primitive("minimum", lambda a, b: a if a <= b else b,
                    (lambda out, a, b: _tie(b, a), lambda out, a, b: _tie(a, b)),
                    doc="min(a, b); a tie splits the gradient evenly")

#: Every built-in primitive, by name. Tests iterate this, so a new entry cannot ship untested.
PRIMITIVES: dict[str, Primitive] = {
    p.name: p
    for p in (ADD, MUL, NEG, POW, POWC, RPOW, EXP, LOG, LOG1P, TANH, SIGMOID, SOFTPLUS, RELU,
              LEAKY_RELU, SIN, COS, SQRT, ABS, MAXIMUM, MINIMUM)
}

# Functions: Values in, Value out; numbers in, float out.
exp = EXP
log = LOG
log1p = LOG1P
tanh = TANH
sigmoid = SIGMOID
softplus = SOFTPLUS
relu = RELU
sin = SIN
cos = COS
sqrt = SQRT
abs = ABS  # noqa: A001 - mirrors math/numpy naming; not exported by `import *`
maximum = MAXIMUM
minimum = MINIMUM


def leaky_relu(x: object, negative_slope: float = 0.01) -> object:
    """x if x > 0 else negative_slope * x, on a Value (records a node) or a number (a float)."""
    return LEAKY_RELU(x, negative_slope)
