"""Code for compiled replay is derived from each primitive's own partials: one derivative, written
once, serves the interpreter, Python replay and C replay.

The oracle for the derived code is the record itself: the derived Python expression, evaluated,
equals the partial function called on floats, bit for bit (signed zeros and nan included),
and a user's primitive compiles to C and replays the interpreter's numbers exactly.
"""

from __future__ import annotations

import math
import struct
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograd_lite import PRIMITIVES, Value, compile_grad, exp, primitive
from autograd_lite.compile import native
from autograd_lite.engine.derive import NotDerivable, Sym, templates
from autograd_lite.engine.ops import PY_NAMES, where

from ..oracles import interpret

HAVE_CC = not isinstance(native.find_compiler(), str)
needs_cc = pytest.mark.skipif(not HAVE_CC, reason="no working C compiler (apt-get install gcc)")

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-300, -1e300, math.inf, -math.inf, math.nan]
floats = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True))


def bits(x: float) -> bytes:
    return b"nan" if x != x else struct.pack("<d", x)


def outcome(fn, *args):
    try:
        r = fn(*args)
    except (ArithmeticError, ValueError) as e:
        return type(e)
    return ("complex", bits(r.real), bits(r.imag)) if isinstance(r, complex) else bits(float(r))


def test_no_builtin_record_carries_partial_code():
    """Each record names only its forward in Python and C: the partials' code is derived."""
    for op in PRIMITIVES.values():
        assert isinstance(op.py, str) and isinstance(op.c, str), op.name
        for lang in ("py", "c"):
            t = templates(op, lang)
            assert t is not None and len(t[1]) == op.nargs, (op.name, lang)


@pytest.mark.parametrize("op", list(PRIMITIVES.values()), ids=lambda op: op.name)
@settings(max_examples=60)
@given(data=st.data())
def test_derived_python_partials_equal_the_partial_functions(op, data):
    # NaN operands: an engine function called inside a partial (softplus's sigmoid) rejects
    # them as user input, where the compiled code computes nan; rows with NaN never replay.
    args = [data.draw(floats.filter(lambda v: v == v)) for _ in range(op.nargs)]
    params = [data.draw(st.sampled_from([0.0, 0.5, 2.0, -1.0, 3.0, 0.01]))
              for _ in range(op.nparams)]
    try:
        out = op.forward(*args, *params)
    except (ArithmeticError, ValueError):
        out = data.draw(floats)
    names = {"a": "a", "b": "b", "o": "o", "p": "p"}
    env = dict(PY_NAMES, a=args[0], b=args[1] if op.nargs > 1 else None, o=out,
               p=params[0] if params else None)
    _, partials = templates(op, "py")
    for i, (code, fn) in enumerate(zip(partials, op.partials)):
        src = code.format(**names)
        got = outcome(lambda src=src: eval(src, env))  # noqa: S307 - our own derived code
        want = outcome(fn, out, *args, *params)
        assert got == want, (op.name, i, src, args, params, out)


def test_where_takes_only_the_branch_it_takes():
    assert where(True, 1.0, lambda: math.log(-1.0)) == 1.0
    assert where(False, lambda: math.log(-1.0), 2.0) == 2.0
    # rpow's partial at base 0 does not evaluate log(0).
    assert PRIMITIVES["rpow"].partials[0](0.0, 1.5, 0.0) == 0.0
    s = where(Sym("{a}", "{a}") > 0.0, 1.0, -1.0)
    assert s.py == "(1.0 if ({a} > 0.0) else (-1.0))"
    assert s.c == "(({a} > 0.0) ? 1.0 : (-1.0))"


def test_what_cannot_be_derived_is_said():
    a = Sym("{a}", "{a}")
    with pytest.raises(NotDerivable, match="where"):
        bool(a > 0.0)
    with pytest.raises(NotDerivable):
        float(a)
    with pytest.raises(NotDerivable, match="comparison"):
        (a > 0.0) + 1.0

    @primitive("branchy", lambda out, x: 1.0 if x > 0 else -1.0)
    def branchy(x):
        return x if x > 0 else -x

    assert templates(branchy, "py") is None and templates(branchy, "c") is None


@needs_cc
def test_a_user_primitive_written_with_operators_compiles_to_c():
    """Defined in one record, nothing written twice: its forward and partial are printed as
    C and Python, and replay gives the interpreter's numbers bit for bit."""
    @primitive("cube", lambda out, x: 3 * x ** 2)
    def cube(x):
        return x * x * x

    @primitive("softsign", lambda out, x: 1.0 / ((1.0 + abs(x)) * (1.0 + abs(x))))
    def softsign(x):
        return x / (1.0 + abs(x))

    @primitive("hinge2", lambda out, x, m: where(x < m, lambda: 2.0 * (x - m), 0.0), nparams=1)
    def hinge2(x, m):
        return (x - m) * (x - m) if x < m else 0.0

    def f(x, y):
        return cube(x) * softsign(y) + hinge2(x * y, 0.25) + exp(cube(y) * 0.1)

    # hinge2's forward branches in Python: its C forward must be named, the rest derives.
    assert templates(hinge2, "c") is None
    hinge2.c = "({a} < {p} ? ({a} - {p}) * ({a} - {p}) : 0.0)"
    hinge2.py = "(({a} - {p}) * ({a} - {p}) if {a} < {p} else 0.0)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = compile_grad(f, [0.5, -0.25], backend="c")
        p = compile_grad(f, [0.5, -0.25], backend="python")
    assert c.backend == "c" and "P[" not in p.source  # no call through the record's functions
    rows = [[0.5, -0.25], [-1.5, 2.0], [0.0, -0.0], [3.0, 1e-3], [-0.1, 7.0]]
    _, _, _ = c.value_and_grad_batch(rows)
    for row in rows:
        want = interpret(f, row)
        assert c.value_and_grad(row) == want
        assert p.value_and_grad(row) == want


@needs_cc
def test_a_user_primitive_naming_its_c_forward_compiles_to_c():
    @primitive("expm1", lambda out, x: out + 1.0)
    def expm1(x):
        return math.expm1(x)

    assert templates(expm1, "c") is None  # math.expm1 cannot be printed
    expm1.c = "expm1({a})"
    c = compile_grad(lambda x: expm1(x) * x, [0.3], backend="c")
    assert c.backend == "c" and "expm1(" in c.c_source
    for x in (0.3, -2.0, 1e-9, 0.0):
        assert c.value_and_grad([x]) == interpret(lambda v: expm1(v) * v, [x])


def test_second_order_through_a_where_partial_is_the_interpreters():
    """Partials written with `where` still build graphs under create_graph."""
    from autograd_lite import grad

    for x0 in (-1.5, 0.0, 2.0):
        x = Value(x0)
        y = (x * x).maximum(x * 3.0)
        (g,) = grad(y, [x], create_graph=True)
        (gg,) = grad(g, [x], allow_unused=True, materialize_grads=True)
        want_g = 2 * x0 if x0 * x0 > 3 * x0 else (3.0 if x0 * x0 < 3 * x0 else 0.5 * (2 * x0 + 3))
        assert g.data == want_g
        assert gg == (2.0 if x0 * x0 > 3 * x0 else (0.0 if x0 * x0 < 3 * x0 else 1.0))
