"""Test your own engine: run a micrograd-style `Value` class and autograd-lite side by side.

Why one file past ~400 lines: the checker is one idea (a student's engine against ours, stage by
stage, with shrinking); its stages read top to bottom as the lesson they grade.

    from micrograd.engine import Value as MyValue
    from autograd_lite.testing import check_engine
    check_engine(MyValue)       # raises EngineMismatchError / EngineRecursionError, else a report

Hypothesis draws small expression graphs (reusing nodes, mixing in plain numbers on either
side) over the operators and methods your class has; the first disagreement in the output or
in any input's gradient is shrunk to a minimal expression and shown as runnable code with both
engines' numbers side by side. A deep chain then checks that `backward()` does not recurse once
per node. Re-exported from `autograd_lite.testing` (it needs hypothesis).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from ..engine.modes import no_grad
from ..engine.value import Value, describe
from .generator import ANY, Expression, graphs

__all__ = [
    "check_engine", "check_deep_graph", "EngineCheckError", "EngineMismatchError",
    "EngineRecursionError", "EngineReport", "ENGINE_OPS", "engine_expressions", "supported_ops",
]


class EngineCheckError(AssertionError):
    """Your engine disagrees with autograd-lite (or cannot run a graph it should)."""


class EngineMismatchError(EngineCheckError):
    """A (shrunk) expression on which the two engines give different numbers, or yours raised."""

    def __init__(self, message: str, expression: Expression,
                 yours: dict[str, Any], ours: dict[str, float]) -> None:
        super().__init__(message)
        self.expression = expression
        self.yours = yours  #: {"out": data, "x0": grad, ...}, or {"error": exception}
        self.ours = ours


class EngineRecursionError(EngineCheckError):
    """`backward()` hit Python's recursion limit on a deep chain."""

    def __init__(self, message: str, depth: int, longest_ok: int) -> None:
        super().__init__(message)
        self.depth = depth  #: chain length (operations) that failed
        self.longest_ok = longest_ok  #: the longest chain that worked here (0: none tried)


# ---- the operations ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Op:
    """An operation as a user writes it on any micrograd-style class (a `GraphOp`)."""

    name: str
    nargs: int  #: Values taken (1 or 2)
    needs: tuple[str, ...]  #: attributes the user's class must have
    fn: Callable[..., Any]  #: (args..., *params) -> result, plain Python on either class
    text: str  #: Python source with {0}, {1} (arguments) and {p0} (the constant)
    consts: tuple[float, ...] = ()  #: the constants drawn, simplest first

    @property
    def nparams(self) -> int:
        """1 for the operations with a constant (`v + c`), else 0."""
        return 1 if self.consts else 0

    def __call__(self, *args: Any) -> Any:
        """The operation on the user's values; on plain numbers, a float (through Value)."""
        if all(isinstance(a, int | float) for a in args[:self.nargs]):
            with no_grad():
                return self.fn(*[Value(a) for a in args[:self.nargs]], *args[self.nargs:]).data
        return self.fn(*args)


_C = (2.0, 0.5, -1.5, 3.0)  # shrinking prefers the first
_POWERS = (2, 3, -1, 0.5, -2, 1.5)


def _method(name: str) -> _Op:
    return _Op(name, 1, (name,), lambda a: getattr(a, name)(), f"{{0}}.{name}()")


#: Every operation the checker knows, in shrinking order (simplest first). An operation is
#: used when the user's class has the attributes it needs.
ENGINE_OPS: dict[str, _Op] = {op.name: op for op in (
    _Op("add", 2, ("__add__",), lambda a, b: a + b, "{0} + {1}"),
    _Op("mul", 2, ("__mul__",), lambda a, b: a * b, "{0} * {1}"),
    _Op("add_const", 1, ("__add__",), lambda a, c: a + c, "{0} + {p0}", _C),
    _Op("mul_const", 1, ("__mul__",), lambda a, c: a * c, "{0} * {p0}", _C),
    _Op("radd_const", 1, ("__radd__",), lambda a, c: c + a, "{p0} + {0}", _C),
    _Op("rmul_const", 1, ("__rmul__",), lambda a, c: c * a, "{p0} * {0}", _C),
    _Op("sub", 2, ("__sub__",), lambda a, b: a - b, "{0} - {1}"),
    _Op("neg", 1, ("__neg__",), lambda a: -a, "-{0}"),
    _Op("pow_const", 1, ("__pow__",), lambda a, c: a ** c, "{0} ** {p0}", _POWERS),
    _Op("div", 2, ("__truediv__",), lambda a, b: a / b, "{0} / {1}"),
    _Op("sub_const", 1, ("__sub__",), lambda a, c: a - c, "{0} - {p0}", _C),
    _Op("rsub_const", 1, ("__rsub__",), lambda a, c: c - a, "{p0} - {0}", _C),
    _Op("div_const", 1, ("__truediv__",), lambda a, c: a / c, "{0} / {p0}", _C),
    _Op("rdiv_const", 1, ("__rtruediv__",), lambda a, c: c / a, "{p0} / {0}", _C),
    *(_method(m) for m in ("tanh", "relu", "exp", "sigmoid", "log", "sin", "cos", "sqrt")),
)}

_KINKS = ("relu",)  # at an argument of exactly 0 engines may differ by convention: skipped
_LIMIT = 1e6  # largest |number| (value or gradient) allowed in a generated graph


def supported_ops(value_class: type) -> list[str]:
    """Names of `ENGINE_OPS` that `value_class` (and autograd-lite's Value) can run."""
    return [name for name, op in ENGINE_OPS.items()
            if all(callable(getattr(value_class, a, None)) and callable(getattr(Value, a, None))
                   for a in op.needs)]


# ---- expressions -------------------------------------------------------------------------------
def engine_expressions(ops: Sequence[str], max_inputs: int = 3,
                       max_nodes: int = 6) -> st.SearchStrategy[Expression]:
    """Random expressions over the named `ENGINE_OPS` (the one generator, `graphs`, with every
    draw kept and the result pruned to what the output uses)."""
    return graphs({name: ENGINE_OPS[name] for name in ops}, ANY, (1, max_inputs),
                  (1, max_nodes))


# ---- running both engines ----------------------------------------------------------------------
def _ours(expr: Expression) -> dict[str, float] | None:
    """Our numbers for `expr` ({"out": data, "x0": grad, ...}), None where the expression is
    outside a safe domain (an error, a non-finite or huge number anywhere in the graph, a
    divisor whose reciprocal is huge: a micrograd-style engine forms `b ** -1` for `a / b`, or a
    relu argument of exactly 0, where engines may differ by convention)."""
    try:
        xs = [Value(x) for x in expr.inputs]
        vals: list[Value] = list(xs)
        for name, idx, params in expr.nodes:
            if name in _KINKS and vals[idx[0]].data == 0.0:
                return None
            if name in ("div", "rdiv_const") and not abs(vals[idx[-1]].data) * _LIMIT >= 1.0:
                return None  # the divisor: a / b's b, c / a's a
            vals.append(ENGINE_OPS[name](*[vals[i] for i in idx], *params))
        out = vals[-1]
        out.backward()
    except (ArithmeticError, ValueError):
        return None
    got = {"out": out.data, **{f"x{i}": x.grad for i, x in enumerate(xs)}}
    if not all(math.isfinite(v) and abs(v) <= _LIMIT
               for v in [*got.values(), *(v.data for v in vals), *(v.grad for v in vals)]):
        return None
    return got


def _yours(value_class: Callable[[float], Any], expr: Expression, twice: bool
           ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    xs, out = expr.run(value_class)
    out.backward()
    first = {"out": _float(out, "data"), **{f"x{i}": _float(x, "grad") for i, x in enumerate(xs)}}
    if not twice:
        return first, None
    out.backward()
    return first, {f"x{i}": _float(x, "grad") for i, x in enumerate(xs)}


def _float(v: Any, attr: str) -> float:
    x = getattr(v, attr)
    try:
        return float(x)
    except (TypeError, ValueError):
        raise TypeError(f"your engine's .{attr} must be a number, got {describe(x)} "
                        f"on {v!r}") from None


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def _table(yours: dict[str, Any], ours: dict[str, float], rtol: float, atol: float,
           what: str) -> str:
    rows = [("", "your engine", "autograd-lite", "")]
    for key, want in ours.items():
        got = yours.get(key)
        bad = not isinstance(got, float) or not _close(got, want, rtol, atol)
        label = f"{key}.data" if key == "out" else f"{key}.grad{what}"
        rows.append((label, repr(got), repr(want), "<-- differs" if bad else ""))
    widths = [max(len(r[k]) for r in rows) for k in range(4)]
    return "\n".join("    " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                     for r in rows)


def _mismatch(expr: Expression, yours: dict[str, Any], ours: dict[str, float],
              rtol: float, atol: float, twice: bool = False) -> EngineMismatchError:
    code = "\n".join("    " + line for line in expr.program().splitlines())
    if twice:
        code += "\n    out.backward()   # a second time: leaves accumulate, as in PyTorch"
    where = " after a second backward()" if twice else ""
    msg = (f"your engine disagrees with autograd-lite{where} on this expression (shrunk by "
           f"hypothesis to a minimal one):\n\n    out = {expr.formula()}\n\n{code}\n\n"
           f"{_table(yours, ours, rtol, atol, ' (2nd)' if twice else '')}\n\n"
           f"(tolerance: |a - b| <= {atol:g} + {rtol:g} * max(|a|, |b|)). Look at the backward "
           "of the operations in this expression.")
    return EngineMismatchError(msg, expr, yours, ours)


def _crash(expr: Expression, e: BaseException, ours: dict[str, float]
           ) -> EngineMismatchError:
    code = "\n".join("    " + line for line in expr.program().splitlines())
    expected = ", ".join(f"{'out.data' if k == 'out' else k + '.grad'} = {v!r}"
                         for k, v in ours.items())
    msg = (f"your engine raised {type(e).__name__}: {e} on this expression (shrunk by "
           f"hypothesis to a minimal one):\n\n    out = {expr.formula()}\n\n{code}\n\n"
           f"autograd-lite computes {expected}.")
    return EngineMismatchError(msg, expr, {"error": e}, ours)


# ---- the checks --------------------------------------------------------------------------------
@dataclass(frozen=True)
class EngineReport:
    """What `check_engine` ran: the operations, how many graphs agreed, the deepest chain."""

    ops: tuple[str, ...]
    examples: int  #: expression graphs on which both engines agreed
    deep: int | None  #: chain length whose backward agreed (None: not checked)
    skipped: tuple[str, ...] = field(default=())  #: known operations your class lacks

    def __str__(self) -> str:
        deep = "" if self.deep is None else f"; a chain of {self.deep} operations agrees"
        return (f"your engine agrees with autograd-lite on {self.examples} random expression "
                f"graphs over {', '.join(self.ops)}{deep}")


def _check_class(value_class: Any, where: str) -> None:
    if not isinstance(value_class, type):
        raise TypeError(f"{where} needs your Value class (e.g. micrograd.engine.Value), got "
                        f"{describe(value_class)}")
    try:
        v = value_class(1.0)
    except Exception as e:
        raise TypeError(f"{where}: {value_class.__name__}(1.0) raised {type(e).__name__}: {e}; "
                        "the class must take one number") from e
    missing = [a for a in ("data", "grad", "backward") if not hasattr(v, a)]
    if missing:
        raise TypeError(f"{where}: {value_class.__name__} has no {', '.join(missing)}: a "
                        "micrograd-style Value needs .data, .grad and .backward()")


def check_engine(
    value_class: type,
    *,
    ops: Iterable[str] | None = None,
    max_examples: int = 300,
    max_nodes: int = 6,
    depth: int | None = 2000,
    twice: bool = False,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    seed: int | None = 0,
) -> EngineReport:
    """Compare a micrograd-style `value_class` with autograd-lite on random expression graphs.

    `ops`: names from `ENGINE_OPS` (default: every one your class has, found by hasattr);
    each graph has up to `max_nodes` operations. The first disagreement in `out.data` or an
    input's `.grad` (beyond `atol + rtol * max(|a|, |b|)`), or an exception from your engine,
    is shrunk and raised as `EngineMismatchError`. `twice=True` also calls `backward()` a second
    time and expects leaves to accumulate (PyTorch's semantics). Then `check_deep_graph` runs
    a chain of `depth` operations (None: skip). `seed` fixes hypothesis's draws (None: random).
    """
    _check_class(value_class, "check_engine()")
    have = supported_ops(value_class)
    if ops is None:
        names = have
    else:
        names = list(ops)
        unknown = [n for n in names if n not in ENGINE_OPS]
        if unknown:
            raise ValueError(f"check_engine(): unknown operation(s) {unknown}; known: "
                             f"{list(ENGINE_OPS)}")
        lacking = [n for n in names if n not in have]
        if lacking:
            raise ValueError(f"check_engine(): {value_class.__name__} lacks what {lacking} need "
                             f"({', '.join(a for n in lacking for a in ENGINE_OPS[n].needs)})")
    if not names:
        raise ValueError(f"check_engine(): {value_class.__name__} supports none of "
                         f"{list(ENGINE_OPS)}")
    if not isinstance(max_examples, int) or max_examples < 1:
        raise ValueError(f"check_engine(): max_examples must be a positive int, got "
                         f"{max_examples!r}")
    if not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"check_engine(): max_nodes must be a positive int, got {max_nodes!r}")
    names = [n for n in ENGINE_OPS if n in names]  # keep the simplest-first order
    agreed: set[Expression] = set()

    @settings(max_examples=max_examples, deadline=None, database=None,
              report_multiple_bugs=False,
              phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
              suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(expr=engine_expressions(names, max_nodes=max_nodes))
    def run(expr: Expression) -> None:
        ours = _ours(expr)
        assume(ours is not None)
        assert ours is not None
        try:
            yours, again = _yours(value_class, expr, twice)
        except RecursionError:
            raise
        except Exception as e:
            raise _crash(expr, e, ours) from e
        if any(not _close(yours[k], v, rtol, atol) for k, v in ours.items()):
            raise _mismatch(expr, yours, ours, rtol, atol)
        if again is not None:
            doubled = {k: 2.0 * v for k, v in ours.items() if k != "out"}
            if any(not _close(again[k], v, rtol, atol) for k, v in doubled.items()):
                raise _mismatch(expr, again, doubled, rtol, atol, twice=True)
        agreed.add(expr)

    if seed is not None:
        run = hypothesis_seed(seed)(run)
    run()
    deep = None
    if depth is not None:
        try:
            deep = check_deep_graph(value_class, depth, rtol=rtol, atol=atol)
        except EngineCheckError as e:
            e.args = (f"{len(agreed)} small random graphs agree, but: {e}",)
            raise
    return EngineReport(tuple(names), len(agreed), deep,
                        tuple(n for n in ENGINE_OPS if n not in have))


def _chain(value_class: Callable[[float], Any], depth: int) -> tuple[Any, Any]:
    """x, then `depth` operations: alternately `v * 0.999` and `v + 0.001` (d out/dx = 0.999^k)."""
    x = value_class(0.5)
    v = x
    for i in range(depth):
        v = v * 0.999 if i % 2 == 0 else v + 0.001
    return x, v


def _chain_ok(value_class: Callable[[float], Any], depth: int) -> bool:
    try:
        _x, out = _chain(value_class, depth)
        out.backward()
    except RecursionError:
        return False
    return True


def check_deep_graph(value_class: type, depth: int = 2000, *, rtol: float = 1e-6,
                     atol: float = 1e-9) -> int:
    """Run `backward()` of your engine on a chain of `depth` operations and compare d out/dx.

    A RecursionError (a topological sort that recurses once per node) is raised as
    `EngineRecursionError`, naming the longest chain that worked here (found by bisection).
    Returns `depth` when the chain agrees.
    """
    _check_class(value_class, "check_deep_graph()")
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"check_deep_graph(): depth must be a positive int, got {depth!r}")
    try:
        x, out = _chain(value_class, depth)
    except RecursionError as e:
        raise EngineRecursionError(
            f"building a chain of {depth} operations with your engine raised RecursionError "
            f"({e}): the forward pass itself recurses", depth, 0) from None
    try:
        out.backward()
    except RecursionError as e:
        lo, hi = 0, depth  # lo works (0: nothing to sort), hi fails
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if _chain_ok(value_class, mid) else (lo, mid)
        raise EngineRecursionError(
            f"your engine's backward() raised RecursionError ({e}) on a chain of {depth} "
            f"operations (x, then v * 0.999 and v + 0.001 alternately). Here chains of up to "
            f"{lo} operations work and {hi} fail: Python allows {sys.getrecursionlimit()} nested "
            "calls (sys.getrecursionlimit()) and the topological sort makes one per node of "
            "depth. Build the order with an explicit stack instead of recursion "
            "(autograd-lite's topo_order does; it handled this chain).", depth, lo) from None
    ox, oout = _chain(Value, depth)
    oout.backward()
    got, want = _float(x, "grad"), ox.grad
    if not _close(got, want, rtol, atol):
        raise EngineCheckError(
            f"on a chain of {depth} operations (x = 0.5, then v * 0.999 and v + 0.001 "
            f"alternately) your engine gives x.grad = {got!r}, autograd-lite {want!r} "
            f"(= 0.999 ** {(depth + 1) // 2})")
    return depth
