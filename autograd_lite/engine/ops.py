"""The table of primitives: each operation declared once, with everything the package knows of it.

A record holds the forward function and local partials (`(out, *inputs, *params)` ->
d out / d input), written with operators and the functions of this table so one definition
serves plain backward (floats), `create_graph=True` and forward mode (Values); and the fields
the rest of the package asks (see `Primitive`): the symbol for pictures, the domain and kinks
for hypothesis strategies, the IEEE forward used while differentiating, code templates for
compiled replay in Python (`py`) and C (`c`), and a specialised accumulate for the hot ops.

Templates are `(forward, (partial, ...))` over `{a}`, `{b}` (inputs), `{o}` (output) and `{p}`
(the parameter). Python templates may call the functions in `PY_NAMES`; C templates use the C
library (`<math.h>`) with the same calls the Python forward makes, so results are identical.

Documented subgradients (the PyTorch and JAX conventions): relu'(0) = 0, abs'(0) = 0,
leaky_relu'(0) = negative_slope, and a tie in maximum/minimum splits the gradient evenly.
Non-finite values follow one policy (README, "Non-finite values"): a domain error raises at the
forward op; overflow gives inf as in IEEE arithmetic; backward gives IEEE values (sqrt'(0) =
inf), except that a kink op's zero local derivative masks the upstream gradient.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from .value import Primitive, Value, bind_table

_INF = math.inf
_NAN = math.nan


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return _INF


def _log(x: float) -> float:
    if x <= 0.0:
        raise ValueError(f"logarithm needs a positive number, got {x!r}")
    return math.log(x)


def _log_ieee(x: float) -> float:
    return -_INF if x == 0.0 else _NAN


def _log1p(x: float) -> float:
    if x <= -1.0:
        raise ValueError(f"log1p needs a number > -1, got {x!r}")
    return math.log1p(x)


def _log1p_ieee(x: float) -> float:
    return -_INF if x == -1.0 else _NAN


def _sqrt(x: float) -> float:
    if x < 0.0:
        raise ValueError(f"square root of a negative number {x!r}")
    return math.sqrt(x)


def _nan(*args: float) -> float:
    return _NAN


def _sin(x: float) -> float:
    return math.sin(x) if x - x == 0.0 else _NAN  # sin(inf) is nan, as in IEEE and PyTorch


def _cos(x: float) -> float:
    return math.cos(x) if x - x == 0.0 else _NAN


def _sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _softplus(x: float) -> float:
    return math.log1p(math.exp(-abs(x))) + (x if x > 0.0 else 0.0)


def _odd(p: float) -> bool:
    return p.is_integer() and p % 2.0 == 1.0


def _pow_ieee(x: float, p: float) -> float:
    """x ** p with C `pow` semantics: inf on overflow and at 0 ** negative, nan if not real."""
    if x < 0.0 and not p.is_integer() and math.isfinite(p) and math.isfinite(x):
        return _NAN
    try:
        result: float = x**p
        return result
    except ZeroDivisionError:  # 0.0 ** negative
        return math.copysign(_INF, x) if _odd(p) else _INF
    except OverflowError:
        return -_INF if x < 0.0 and _odd(p) else _INF


def _powc(x: float, p: float) -> float:
    if x == 0.0 and p < 0.0:
        raise ZeroDivisionError(f"0.0 raised to the negative power {p!r}")
    if x < 0.0 and not p.is_integer() and math.isfinite(p) and (x != -_INF or abs(p) == 0.5):
        # (-inf) ** p is IEEE's (C, torch: 0 for p < 0, inf for p > 0), except p = +-0.5:
        # a square root of a negative number (torch's sqrt/rsqrt give nan)
        raise ValueError(f"negative base {x!r} with non-integer exponent {p!r} has no real value")
    try:  # past the checks above, _pow_ieee's own NaN case cannot occur: its x ** p, inline
        result: float = x**p
        return result
    except (ZeroDivisionError, OverflowError):
        return _pow_ieee(x, p)


def _real_pow(x: float, p: float) -> float:
    """Python's x ** p in a partial, a ValueError (the forward pass's) where that is complex: a
    base made negative after the forward pass (`x.data = -2.0`); derived code calls it."""
    t: Any = x**p
    if type(t) is complex:
        raise ValueError(f"negative base {x!r} with non-integer exponent {p!r} has no real value")
    result: float = t
    return result


def _rpow(x: float, base: float) -> float:
    if base < 0.0:
        raise ValueError(f"negative base {base!r} with a Value exponent is not differentiable")
    return _powc(base, x)


def _rpow_ieee(x: float, base: float) -> float:
    return _pow_ieee(base, x)


def _div(a: float, b: float) -> float:
    if b == 0.0:
        raise ZeroDivisionError(f"division by zero, numerator {a!r}")
    return a / b


def _div_ieee(a: float, b: float) -> float:
    if b != 0.0:
        return a / b
    if a == 0.0 or a != a:
        return _NAN
    return math.copysign(_INF, a) * math.copysign(1.0, b)


def where(cond: Any, if_true: Any, if_false: Any) -> Any:
    """`if_true` if `cond` else `if_false`: the branch of a partial derivative, written so that
    compiled replay can derive its code (Python's `a if c else b` cannot be). A branch may be a
    zero-argument callable, called only when taken (a guarded `log`). On numbers and Values
    `cond` is a bool; on `derive.Sym` operands it is a comparison and both branches are code."""
    if cond is True:
        return if_true() if callable(if_true) else if_true
    if cond is False:
        return if_false() if callable(if_false) else if_false
    hook = getattr(type(cond), "__al_where__", None)
    if hook is not None:
        return hook(cond, if_true, if_false)
    chosen = if_true if bool(cond) else if_false  # e.g. numpy's bool_
    return chosen() if callable(chosen) else chosen


def _ln(c: Any) -> Any:
    """log of a number parameter: math.log on floats (no call through the record), the `log`
    record on symbols, so the derived code calls the C library's log."""
    return math.log(c) if type(c) is float else log(c)


def _dpow_base(out: Any, x: Any, y: Any) -> Any:
    # d/dx x**y = y * x**(y-1). A constant y == 0 gives 0 everywhere (x**-1 may overflow, and
    # 0 * inf is nan); a Value y == 0 keeps its graph (d/dy matters) except at x == 0 (limit 0).
    if isinstance(y, Value):
        if y.data == 0.0 and float(x) == 0.0:
            return 0.0 * x
        return y * x ** (y - 1.0)
    if type(y) is float and type(x) is float:  # the interpreter's hot path (x ** 2 in losses):
        if y == 0.0:  # where's expression, without a call
            return 0.0
        t = x ** (y - 1.0)
        if type(t) is complex:  # a base made negative after the forward pass (x.data = -2.0)
            _real_pow(x, y - 1.0)  # raises its ValueError (inline above: the hot path)
        return y * t
    return where(y == 0.0, 0.0, lambda: y * x ** (y - 1.0))


def _dpow_exponent(out: Any, x: Any, y: Any) -> Any:
    # d/dy x**y = x**y * log x; at x == 0 its limit for y > 0 is 0; for x < 0 it is undefined
    # (nan: on Values, log(x) in IEEE mode keeps the nan in the graph for higher orders).
    if isinstance(x, Value):
        return 0.0 * out if x.data == 0.0 else out * log(x)
    return where(x > 0.0, lambda: out * log(x), lambda: where(x == 0.0, lambda: 0.0 * out, _NAN))


def _sign(x: Any) -> Any:
    return where(x > 0.0, 1.0, where(x < 0.0, -1.0, 0.0))


def _gap(a: float, b: float) -> float:
    return math.fabs(a - b)  # distance to a tie of maximum/minimum


def _tie(mine: Any, other: Any) -> Any:
    return where(mine > other, 1.0, where(mine < other, 0.0, 0.5))


# ---- specialised accumulates of the hot ops (the same numbers as their partials) -----------
def _acc_add(node: Value, g: float) -> None:
    node._a._gr += g
    node._b._gr += g


def _acc_mul(node: Value, g: float) -> None:
    a = node._a
    b = node._b
    a._gr += g * b._d  # the slot behind .data: no property call on the hot path
    b._gr += g * a._d


def _acc_tanh(node: Value, g: float) -> None:
    o = node._d
    node._a._gr += g * (1.0 - o * o)


def _acc_relu(node: Value, g: float) -> None:
    a = node._a
    a._gr += 0.0 if a._d <= 0.0 else g


def _acc_exp(node: Value, g: float) -> None:
    node._a._gr += g * node._d


def _acc_powc(node: Value, g: float) -> None:
    # _dpow_base on floats (y == 0 gives 0; x ** (y - 1) may raise: the traversal redoes the
    # node in IEEE mode, as for any partial that raises)
    a = node._a
    y = node._b
    if y == 0.0:
        a._gr += g * 0.0
        return
    t = a._d ** (y - 1.0)
    if type(t) is complex:  # a base made negative after the forward pass (see _dpow_base)
        _real_pow(a._d, y - 1.0)
    a._gr += g * (y * t)



_CSIGMOID = "({a} >= 0.0 ? 1.0 / (1.0 + exp(-({a}))) : exp({a}) / (1.0 + exp({a})))"
_SMOOTH = (-30.0, 30.0)  # beyond, exp overflows or tanh saturates: checks are meaningless
_POSITIVE = (0.0, _INF)

# Each record names its forward in Python (`py`, calling `PY_NAMES`) and C (`c`); the code of
# its partials is derived from the partials themselves (`autograd_lite.engine.derive`).
ADD = Primitive("add", operator.add, (lambda out, a, b: 1.0, lambda out, a, b: 1.0),
                doc="a + b", symbol="+", function=False, accumulate=_acc_add,
                py="{a} + {b}", c="{a} + {b}")
MUL = Primitive("mul", operator.mul, (lambda out, a, b: b, lambda out, a, b: a), doc="a * b",
                symbol="*", function=False, accumulate=_acc_mul, py="{a} * {b}", c="{a} * {b}")
NEG = Primitive("neg", operator.neg, (lambda out, a: -1.0,), doc="-a", symbol="neg",
                function=False, py="-{a}", c="-{a}")
DIV = Primitive("div", _div, (lambda out, a, b: 1.0 / b, lambda out, a, b: -out / b),
                doc="a / b, correctly rounded; b == 0 raises ZeroDivisionError", symbol="/",
                function=False, ieee=_div_ieee, kink=lambda a, b: math.fabs(b),
                py="_div({a}, {b})", c="{a} / {b}")
POW = Primitive("pow", _powc, (_dpow_base, _dpow_exponent), doc="a ** b, both Values",
                symbol="**", function=False, ieee=_pow_ieee, domain=(_POSITIVE, (-4.0, 4.0)),
                py="_powc({a}, {b})", c="pow({a}, {b})")
POWC = Primitive("powc", _powc, (_dpow_base,), nparams=1, doc="x ** p for a number p",
                 param_names=("exponent",),
                 symbol="**{0}", function=False, ieee=_pow_ieee, param_domain=((-2.0, 3.0),),
                 accumulate=_acc_powc,
                 kink=lambda x, p: math.fabs(x) if p < 1.0 or not p.is_integer() else _INF,
                 py="_powc({a}, {p})", c="pow({a}, {p})")
RPOW = Primitive("rpow", _rpow,
                 (lambda out, x, c: where(c > 0.0, lambda: out * _ln(c), lambda: 0.0 * out),),
                 nparams=1, doc="c ** x for a number c >= 0", symbol="{0}**", function=False,
                 param_names=("base",),
                 ieee=_rpow_ieee, domain=(_SMOOTH,), param_domain=((0.25, 4.0),),
                 py="_rpow({a}, {p})", c="pow({p}, {a})")
EXP = Primitive("exp", _exp, (lambda out, x: out,), doc="e ** x (inf above ~709.78)",
                domain=(_SMOOTH,), accumulate=_acc_exp, py="_exp({a})", c="exp({a})")
LOG = Primitive("log", _log, (lambda out, x: 1.0 / x,), doc="natural logarithm, x > 0",
                ieee=_log_ieee, domain=(_POSITIVE,), py="_log({a})", c="log({a})")
LOG1P = Primitive("log1p", _log1p, (lambda out, x: 1.0 / (1.0 + x),), doc="log(1 + x), x > -1",
                  ieee=_log1p_ieee, domain=((-1.0, _INF),), py="_log1p({a})", c="log1p({a})")
TANH = Primitive("tanh", math.tanh, (lambda out, x: 1.0 - out * out,), doc="hyperbolic tangent",
                 domain=(_SMOOTH,), accumulate=_acc_tanh, py="_tanh({a})", c="tanh({a})")
SIGMOID = Primitive("sigmoid", _sigmoid, (lambda out, x: out * (1.0 - out),),
                    doc="1 / (1 + e^-x), stable for large |x|", domain=(_SMOOTH,),
                    py="_sigmoid({a})", c=_CSIGMOID)
SOFTPLUS = Primitive("softplus", _softplus, (lambda out, x: sigmoid(x),),
                     doc="log(1 + e^x), stable for large |x|", domain=(_SMOOTH,),
                     py="_softplus({a})",
                     c="(log1p(exp(-fabs({a}))) + ({a} > 0.0 ? {a} : 0.0))")
RELU = Primitive("relu", lambda x: 0.0 if x < 0.0 else x,  # keeps -0.0 (PyTorch, micrograd)
                 (lambda out, x: where(x <= 0.0, 0.0, 1.0),),
                 doc="max(x, 0); relu'(0) = 0", kink=lambda x: math.fabs(x), mask=True,
                 accumulate=_acc_relu,
                 py="(0.0 if {a} < 0.0 else {a})", c="({a} < 0.0 ? 0.0 : {a})")
LEAKY_RELU = Primitive("leaky_relu", lambda x, s: x if x > 0.0 else s * x,
                       (lambda out, x, s: where(x > 0.0, 1.0, s),), nparams=1,
                       doc="x if x > 0 else negative_slope * x", defaults=(0.01,),
                       param_names=("negative_slope",),
                       param_domain=((0.0, 0.5),), kink=lambda x, s: math.fabs(x), mask=True,
                       py="({a} if {a} > 0.0 else {p} * {a})", c="({a} > 0.0 ? {a} : {p} * {a})")
SIN = Primitive("sin", _sin, (lambda out, x: cos(x),), doc="sine", py="_sin({a})", c="sin({a})")
COS = Primitive("cos", _cos, (lambda out, x: -sin(x),), doc="cosine",
                py="_cos({a})", c="cos({a})")
SQRT = Primitive("sqrt", _sqrt, (lambda out, x: 0.5 / out,), doc="square root, x >= 0",
                 ieee=_nan, domain=(_POSITIVE,), py="_sqrt({a})", c="sqrt({a})")
ABS = Primitive("abs", math.fabs, (lambda out, x: _sign(x),),
                doc="|x|; abs'(0) = 0", kink=lambda x: math.fabs(x), mask=True,
                py="_fabs({a})", c="fabs({a})")
MAXIMUM = Primitive("maximum", lambda a, b: a if a >= b or a != a else b,
                    (lambda out, a, b: _tie(a, b), lambda out, a, b: _tie(b, a)),
                    doc="max(a, b); a tie splits the gradient evenly", kink=_gap, mask=True,
                    py="({a} if {a} >= {b} or {a} != {a} else {b})",
                    c="(({a} >= {b} || {a} != {a}) ? {a} : {b})")
MINIMUM = Primitive("minimum", lambda a, b: a if a <= b or a != a else b,
                    (lambda out, a, b: _tie(b, a), lambda out, a, b: _tie(a, b)),
                    doc="min(a, b); a tie splits the gradient evenly", kink=_gap, mask=True,
                    py="({a} if {a} <= {b} or {a} != {a} else {b})",
                    c="(({a} <= {b} || {a} != {a}) ? {a} : {b})")
_ERF_SCALE = 2.0 / math.sqrt(math.pi)
ERF = Primitive("erf", math.erf, (lambda out, x: _ERF_SCALE * exp(-(x * x)),),
                doc="the error function, 2/sqrt(pi) * integral of e^(-t^2) from 0 to x",
                domain=((-6.0, 6.0),), py="_erf({a})", c="erf({a})")

#: Every built-in primitive, by name. Tests iterate this, so a new entry cannot ship untested.
PRIMITIVES: dict[str, Primitive] = {
    p.name: p
    for p in (ADD, MUL, NEG, DIV, POW, POWC, RPOW, EXP, LOG, LOG1P, TANH, SIGMOID, SOFTPLUS,
              RELU, LEAKY_RELU, SIN, COS, SQRT, ABS, MAXIMUM, MINIMUM, ERF)
}
bind_table(PRIMITIVES)  # Value's operators and methods apply these records

#: Names the Python templates may call (compiled replay puts them in its namespace).
PY_NAMES: dict[str, Any] = {
    "_exp": _exp, "_log": _log, "_log1p": _log1p, "_tanh": math.tanh, "_sin": _sin,
    "_cos": _cos, "_sqrt": _sqrt, "_sigmoid": _sigmoid, "_softplus": _softplus,
    "_powc": _powc, "_real_pow": _real_pow, "_rpow": _rpow, "_div": _div, "_dpow_base": _dpow_base,
    "_dpow_exponent": _dpow_exponent, "_mlog": math.log, "_fabs": math.fabs,
    "_erf": math.erf, "_INF": _INF, "_NAN": _NAN,
}

# Functions: Values in, Value out; numbers in, float out (typed by `Primitive.__call__`).
exp: Primitive = EXP
"""`exp` on Values (records a node) or numbers (a float): the `exp` record."""
log: Primitive = LOG
"""`log` on Values (records a node) or numbers (a float): the `log` record."""
log1p: Primitive = LOG1P
"""`log1p` on Values (records a node) or numbers (a float): the `log` record."""
tanh: Primitive = TANH
"""`tanh` on Values (records a node) or numbers (a float): the `tanh` record."""
sigmoid: Primitive = SIGMOID
"""`sigmoid` on Values (records a node) or numbers (a float): the `sigmoid` record."""
softplus: Primitive = SOFTPLUS
"""`softplus` on Values (records a node) or numbers (a float): the `softplus` record."""
relu: Primitive = RELU
"""`relu` on Values (records a node) or numbers (a float): the `relu` record."""
leaky_relu: Primitive = LEAKY_RELU
"""`leaky_relu` on Values (records a node) or numbers (a float): the `leaky_relu` record."""
sin: Primitive = SIN
"""`sin` on Values (records a node) or numbers (a float): the `sin` record."""
cos: Primitive = COS
"""`cos` on Values (records a node) or numbers (a float): the `cos` record."""
sqrt: Primitive = SQRT
"""`sqrt` on Values (records a node) or numbers (a float): the `sqrt` record."""
abs: Primitive = ABS  # noqa: A001 - mirrors math/numpy naming
"""`abs` on Values (records a node) or numbers (a float): the `abs` record."""
maximum: Primitive = MAXIMUM
"""`maximum` on Values (records a node) or numbers (a float): the `maximum` record."""
minimum: Primitive = MINIMUM
"""`minimum` on Values (records a node) or numbers (a float): the `minimum` record."""
erf: Primitive = ERF
"""`erf` on Values (records a node) or numbers (a float): the `erf` record."""
div: Primitive = DIV
"""`div` on Values (records a node) or numbers (a float): the `div` record."""
