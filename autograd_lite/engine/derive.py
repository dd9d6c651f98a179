"""Code for compiled replay derived from a primitive's own functions: each derivative written once.

A primitive's partials are written with operators, autograd_lite's functions and `where` (see
`autograd_lite.engine.ops`), so they serve floats (plain backward) and Values (`create_graph`).
Called on `Sym` operands, which print themselves instead of computing, the same partials give their
code: one expression per partial, in Python and in C, over the placeholders `{a}` `{b}`
(inputs), `{o}` (the output) and `{p}` (the parameter). A branch is a `where`, emitted as
Python's conditional expression or C's `?:` (both evaluate only the branch taken), a call of
another primitive is emitted through that primitive's forward code, and a constant exactly
(`repr` round-trips; inf and nan by name). The operations are the interpreter's in the same
order, so replay computes its numbers bit for bit.

A record names its forward in each language (`py="_exp({a})"`, `c="exp({a})"`); without one,
its forward function is derived the same way when it is written with operators
(`lambda x: x * x * x`). A partial or forward that branches with Python's `if` on an operand,
calls `math` functions or otherwise cannot take symbols is not derivable: that primitive is
called through its functions in Python replay and has no C code (`backend="auto"` uses Python
replay). `templates(op, lang)` gives `(forward, (partial, ...))`, or None.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from .value import Primitive

__all__ = ["NotDerivable", "Sym", "templates"]

LANGS = ("py", "c")


class NotDerivable(Exception):
    """A primitive's function cannot be evaluated on symbols (a Python branch on an operand,
    a `math` call, a keyword argument): it has no derived code."""


def _const(x: Any) -> Sym:
    if isinstance(x, Sym):
        return x
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise NotDerivable(f"cannot emit the constant {x!r}")
    try:
        f = float(x)
    except OverflowError:
        raise NotDerivable(f"{x!r} is too large for a float") from None
    if f != f:
        return Sym("_NAN", "NAN")
    if math.isinf(f):
        return Sym("_INF", "INFINITY") if f > 0 else Sym("(-_INF)", "(-INFINITY)")
    text = float.__repr__(f)
    return Sym(f"({text})", f"({text})") if text.startswith("-") else Sym(text, text)


class Sym:
    """An operand that records the code of what is done to it, in Python and C at once."""

    __slots__ = ("py", "c", "cond")
    __hash__ = None  # type: ignore[assignment]  # == builds a condition, as numpy's arrays

    def __init__(self, py: str, c: str, cond: bool = False) -> None:
        self.py = py
        self.c = c
        self.cond = cond  # a comparison: only `where` may use it

    def __repr__(self) -> str:
        return f"Sym({self.py!r}, {self.c!r})"

    def __bool__(self) -> bool:
        raise NotDerivable("a Python branch on an operand (use autograd_lite.where)")

    def __float__(self) -> float:
        raise NotDerivable("float() of an operand")

    def _check(self) -> Sym:
        if self.cond:
            raise NotDerivable("arithmetic on a comparison")
        return self

    def _bin(self, other: Any, op: str, swap: bool = False) -> Sym:
        a, b = self._check(), _const(other)._check()
        if swap:
            a, b = b, a
        if op == "**":
            # (Python's ** is complex for a negative base: ops._real_pow raises instead)
            return Sym(f"_real_pow({a.py}, {b.py})", f"pow({a.c}, {b.c})")
        return Sym(f"({a.py} {op} {b.py})", f"({a.c} {op} {b.c})")

    def __add__(self, o: Any) -> Sym:
        return self._bin(o, "+")

    def __radd__(self, o: Any) -> Sym:
        return self._bin(o, "+", True)

    def __sub__(self, o: Any) -> Sym:
        return self._bin(o, "-")

    def __rsub__(self, o: Any) -> Sym:
        return self._bin(o, "-", True)

    def __mul__(self, o: Any) -> Sym:
        return self._bin(o, "*")

    def __rmul__(self, o: Any) -> Sym:
        return self._bin(o, "*", True)

    def __truediv__(self, o: Any) -> Sym:
        return self._bin(o, "/")

    def __rtruediv__(self, o: Any) -> Sym:
        return self._bin(o, "/", True)

    def __pow__(self, o: Any) -> Sym:
        return self._bin(o, "**")

    def __rpow__(self, o: Any) -> Sym:
        return self._bin(o, "**", True)

    def __neg__(self) -> Sym:
        a = self._check()
        return Sym(f"(-{a.py})", f"(-{a.c})")

    def __pos__(self) -> Sym:
        return self._check()

    def __abs__(self) -> Sym:
        a = self._check()
        return Sym(f"_fabs({a.py})", f"fabs({a.c})")

    def _cmp(self, other: Any, op: str) -> Sym:
        a, b = self._check(), _const(other)._check()
        return Sym(f"({a.py} {op} {b.py})", f"({a.c} {op} {b.c})", cond=True)

    def __lt__(self, o: Any) -> Sym:
        return self._cmp(o, "<")

    def __le__(self, o: Any) -> Sym:
        return self._cmp(o, "<=")

    def __gt__(self, o: Any) -> Sym:
        return self._cmp(o, ">")

    def __ge__(self, o: Any) -> Sym:
        return self._cmp(o, ">=")

    def __eq__(self, o: Any) -> Sym:  # type: ignore[override]
        return self._cmp(o, "==")

    def __ne__(self, o: Any) -> Sym:  # type: ignore[override]
        return self._cmp(o, "!=")

    # ---- the hooks the engine calls -----------------------------------------------------------
    @staticmethod
    def __al_where__(cond: Any, if_true: Any, if_false: Any) -> Sym:
        """`where(cond, a, b)` on a symbolic condition: both branches' code, one taken."""
        if not isinstance(cond, Sym) or not cond.cond:
            raise NotDerivable("where() needs a comparison as its condition")
        a = _const(if_true() if callable(if_true) else if_true)._check()
        b = _const(if_false() if callable(if_false) else if_false)._check()
        return Sym(f"({a.py} if {cond.py} else {b.py})", f"({cond.c} ? {a.c} : {b.c})")

    @staticmethod
    def __al_apply__(op: Primitive, args: tuple[Any, ...], named: dict[str, Any]) -> Sym:
        """A primitive called on operands: its forward code with the operands' code."""
        if named:
            raise NotDerivable(f"{op.name}() with keyword arguments")
        n, k = op.nargs, op.nparams
        if not n + k - len(op.defaults) <= len(args) <= n + k:
            raise NotDerivable(f"{op.name}() with {len(args)} arguments")
        params = list(args[n:])
        missing = k - len(params)
        if missing:
            params += op.defaults[len(op.defaults) - missing:]
        ops = [_const(x)._check() for x in (*args[:n], *params)]
        out = []
        for lang in LANGS:
            code = _forward_code(op, lang)  # the forward only: partials may call each other
            out.append(_fill(code, [getattr(s, lang) for s in ops[:n]],
                             [getattr(s, lang) for s in ops[n:]]))
        return Sym(out[0], out[1])


def _fill(template: str, args: list[str], params: list[str], out: str = "{o}") -> str:
    """A template with its placeholders replaced, parenthesised."""
    b = args[1] if len(args) > 1 else "{b}"
    return "(" + template.format(a=args[0] if args else "{a}", b=b,
                                 p=params[0] if params else "{p}", o=out) + ")"


_PLACES = ("{a}", "{b}")
_lock = threading.Lock()
_fast: dict[tuple[Primitive, str], tuple[Any, tuple[str, tuple[str, ...]] | None]] = {}
_cache: dict[tuple[int, str, str], tuple[Primitive, tuple[str, tuple[str, ...]] | None]] = {}


def _forward_name(op: Primitive, lang: str) -> str | None:
    """The record's forward code in `lang`: a string, or the first item of a legacy pair."""
    t = getattr(op, lang, None)
    if isinstance(t, str):
        return t
    if isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str):
        return t[0]
    return None


def _operands(op: Primitive) -> tuple[list[Sym], list[Sym]]:
    if op.nargs > 2 or op.nparams > 1:  # the templates have places for two inputs, one param
        raise NotDerivable(f"{op.name} has {op.nargs} inputs and {op.nparams} parameters")
    return [Sym(p, p) for p in _PLACES[:op.nargs]], [Sym("{p}", "{p}")] * op.nparams


def _forward_code(op: Primitive, lang: str) -> str:
    """The forward's code in `lang`: the record's, or derived from its forward function."""
    forward = _forward_name(op, lang)
    if forward is None:
        ins, pars = _operands(op)
        try:
            forward = getattr(_const(op.forward(*ins, *pars))._check(), lang)
        except NotDerivable:
            raise
        except (TypeError, ValueError, ArithmeticError, AttributeError) as e:
            raise NotDerivable(f"{op.name}'s forward: {e}") from None
    return forward


def _derive(op: Primitive, lang: str) -> tuple[str, tuple[str, ...]] | None:
    t = getattr(op, lang, None)
    if isinstance(t, tuple) and len(t) == 2 and not isinstance(t[1], str):
        return t[0], tuple(t[1])  # a hand-written pair (a user's record may give one)
    try:
        ins, pars = _operands(op)
        forward = _forward_code(op, lang)
        out = Sym("{o}", "{o}")
        partials = tuple(getattr(_const(d(out, *ins, *pars))._check(), lang)
                         for d in op.partials)
    except (NotDerivable, TypeError, ValueError, ArithmeticError, AttributeError):
        return None
    return forward, partials


def templates(op: Primitive, lang: str) -> tuple[str, tuple[str, ...]] | None:
    """`(forward, (partial, ...))` code templates of `op` in `lang` ("py" or "c"), derived from
    its partials (and its forward, when the record names none), or None if not derivable."""
    field = getattr(op, lang, None)
    hit = _fast.get((op, lang))  # the code generators ask once per node: no lock, no repr
    if hit is not None and hit[0] is field:
        return hit[1]
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    key = (id(op), lang, repr(field))
    with _lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] is op:
        result = cached[1]
    else:
        result = _derive(op, lang)
        with _lock:
            _cache[key] = (op, result)
    _fast[(op, lang)] = (field, result)  # re-derived when the record's field is replaced
    return result
