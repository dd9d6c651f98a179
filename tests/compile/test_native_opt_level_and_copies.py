"""How the generated C is made faster without changing a bit: the optimisation level chosen by
the program's size (and part of the cache key), copies of slots forwarded to their readers,
the per-block flag clearing that leaves the caller's other IEEE flags alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograd_lite import Value
from autograd_lite.compile import emit, native, vector
from autograd_lite.testing import expressions

from .test_native_blocks import (
    C_PRIMS,
    HAVE_CC,
    LEVELS,
    SPECIAL,
    Raw,
    check_same_abi,
    needs_cc,
    private_cache,
    row_values,
)

__all__ = ["private_cache"]  # (the fixture, used by every test here)

EXAMPLES = min(settings().max_examples, 8)


# ---- the level by size --------------------------------------------------------------------
def test_level_follows_the_program_size():
    o2, o1 = native._O2_MAX_LINES, native._O1_MAX_LINES
    assert 0 < o2 < o1
    assert [native.opt_level(n) for n in (1, o2, o2 + 1, o1, o1 + 1)] == \
        ["-O2", "-O2", "-O1", "-O1", "-O0"]


def mlp_step():
    """A small MLP's hinge term (relu): copies, selects and parameter sums in its code; one
    parameter it does not use, in the middle (runs of consecutive parameters summed as
    vectors, the others one by one)."""
    w = [Value(0.1 * (i % 7) - 0.3) for i in range(3 * 4 + 4 + 1)]

    def f(x0, x1, t):
        hs = []
        for j in range(4):
            z = w[3 * j + 2] + w[3 * j] * x0 + w[3 * j + 1] * x1
            hs.append(z.relu())
        y = w[16]
        for j in range(4):
            y = y + w[12 + j] * hs[j]
        return (y * -t + 1.0).relu()

    return f, [0.5, -0.25, 1.0], [*w[:5], Value(2.0), *w[5:]]


@needs_cc
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.one_of(st.floats(-3.0, 3.0), st.sampled_from(SPECIAL)),
                         min_size=3, max_size=3), min_size=0, max_size=19))
def test_every_level_gives_the_same_bits_and_its_own_library(monkeypatch, rows):
    f, xs, w = mlp_step()
    pdata = [p.data for p in w]
    results, builds = [], []
    for simd in [None, *(vector.SIMDS[lv] for lv in LEVELS)]:
        for o2_max in (native._O2_MAX_LINES, 0, -1):  # -O2, -O1; -O0 below
            with monkeypatch.context() as m:
                m.setattr(native, "_O2_MAX_LINES", o2_max)
                if o2_max < 0:
                    m.setattr(native, "_O1_MAX_LINES", -1)
                before = native.BUILDS[0]
                native.forget_loaded()
                raw = Raw(f, xs, w, simd, input_grads=True)
                builds.append(native.BUILDS[0] - before)
            results.append((raw.run(rows, pdata, True), raw.run(rows, pdata, False)))
    assert all(r == results[0] for r in results)
    # Each level is a library of its own (the first example builds them, later ones find
    # them in the cache): a cached -O1 library is never taken for the -O2 one.
    assert builds in ([1] * len(builds), [0] * len(builds))


# ---- copies forwarded --------------------------------------------------------------------------
def run(lines, x):
    """Interprets statements `T[a] = e` / `T[a] += e`, e one of `u`, `u * v`, `u + v * w`
    (u, v, w: `T[k]`, `x[i]` or a literal), in Python's float arithmetic."""
    T: dict[int, float] = {}

    def operand(text):
        m = re.fullmatch(r"([Tx])\[(\d+)\]", text)
        if m is None:
            return float(text)
        return T[int(m.group(2))] if m.group(1) == "T" else x[int(m.group(2))]

    def value(e):
        words = e.split()
        if len(words) == 1:
            return operand(words[0])
        if len(words) == 3 and words[1] == "*":
            return operand(words[0]) * operand(words[2])
        assert len(words) == 5 and words[1] == "+" and words[3] == "*", e
        return operand(words[0]) + operand(words[2]) * operand(words[4])

    for v, o, e in lines:
        t = int(v[2:-1])
        T[t] = value(e) if o == "=" else T[t] + value(e)
    return T


def test_a_chain_of_copies_reads_its_source():
    fwd = [("T[0]", "=", "x[0] * 2.0"), ("T[1]", "=", "T[0]"), ("T[2]", "=", "T[1]")]
    bwd = [("T[3]", "=", "T[2] * T[1]")]
    alias = emit._forward_copies(fwd, bwd)
    assert alias == {1: 0, 2: 0}
    assert fwd == [("T[0]", "=", "x[0] * 2.0")] and bwd == [("T[3]", "=", "T[0] * T[0]")]


def test_a_copy_written_again_or_whose_source_changes_stays():
    lines = [("T[0]", "=", "x[0]"), ("T[1]", "=", "T[0]"), ("T[1]", "+=", "x[1]"),
             ("T[2]", "=", "T[0]"), ("T[0]", "+=", "T[2]"), ("T[3]", "=", "T[2] * T[1]")]
    kept = list(lines)
    assert emit._forward_copies(kept) == {}
    assert kept == lines


@st.composite
def programs(draw):
    n = draw(st.integers(1, 14))
    lines, written = [], []
    for _ in range(n):
        t = draw(st.integers(0, 5))
        reads = written or [None]
        kind = draw(st.sampled_from(["copy", "add", "acc", "leaf"] if written else ["leaf"]))
        a, b = draw(st.sampled_from(reads)), draw(st.sampled_from(reads))
        if kind == "acc" and t in written:
            lines.append((f"T[{t}]", "+=", f"T[{a}] * 0.5"))
        elif kind == "copy":
            lines.append((f"T[{t}]", "=", f"T[{a}]"))
        elif kind == "add":
            lines.append((f"T[{t}]", "=", f"T[{a}] + T[{b}] * 3.0"))
        else:
            lines.append((f"T[{t}]", "=", f"x[{draw(st.integers(0, 1))}]"))
        written.append(t)
    cut = draw(st.integers(0, len(lines)))
    return lines[:cut], lines[cut:]


@settings(max_examples=200, deadline=None)
@given(programs(), st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=2))
def test_forwarded_copies_leave_every_slot_s_final_value(prog, x):
    fwd, bwd = prog
    want = run(fwd + bwd, x)
    f2, b2 = list(fwd), list(bwd)
    alias = emit._forward_copies(f2, b2)
    got = run(f2 + b2, x)
    assert len(f2) + len(b2) == len(fwd) + len(bwd) - len(alias)
    for t, value in want.items():
        assert repr(got[alias.get(t, t)]) == repr(value), (t, alias)


# ---- the caller's flags ---------------------------------------------------------------------
FE_UNDERFLOW = 0x10  # x86's <fenv.h>, also MXCSR's bit


@pytest.mark.skipif(not HAVE_CC or not LEVELS or platform.system() != "Linux"
                    or ctypes.util.find_library("m") is None,
                    reason="block code on x86 Linux with glibc's libm")
@pytest.mark.parametrize("level", LEVELS)
def test_block_code_leaves_the_callers_other_flags(level):
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    f, xs, w = mlp_step()
    raw = Raw(f, xs, w, vector.SIMDS[level], input_grads=True)
    rows = [[0.1 * i, -0.2 * i, 1.0 if i % 2 else -1.0] for i in range(13)]
    tiny = [1e-300, 1e-10]  # a subnormal product: underflow
    libm.feclearexcept(FE_UNDERFLOW)
    assert tiny[0] * tiny[1] > 0.0  # Python's SSE multiply: MXCSR's underflow flag set
    if libm.fetestexcept(FE_UNDERFLOW) != FE_UNDERFLOW:
        pytest.skip("this Python's float multiply does not leave the underflow flag")
    rc = raw.run(rows, [p.data for p in w], True)[0]
    assert rc == 0
    assert libm.fetestexcept(FE_UNDERFLOW) == FE_UNDERFLOW  # cleared: only what it tests
    libm.feclearexcept(FE_UNDERFLOW)


# ---- values in locals of their statement function ---------------------------------------------
@pytest.mark.skipif(not HAVE_CC or not LEVELS, reason="no vector instruction set here")
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(expressions(n_inputs=(1, 3), n_nodes=(2, 12), primitives=C_PRIMS),
       st.sampled_from([1, 2, 3, 7]), st.data())
def test_values_kept_in_locals_across_short_functions_match_scalar_code(monkeypatch, e, chunk,
                                                                         data):
    """Statement functions of `chunk` statements: values read in the next function stay in
    the scratch space, the others in locals; every level gives the scalar code's bits."""
    monkeypatch.setattr(emit, "CHUNK", chunk)
    k = len(e.inputs)
    p = [Value(0.75), Value(-1.25), Value(0.5)]

    def f(*xs):
        return e(*xs) * p[0] + xs[0] * p[1] + (xs[-1] * p[2]).tanh()

    sizes = data.draw(st.lists(st.integers(0, 19), min_size=1, max_size=2))
    batches = [data.draw(st.lists(row_values(k), min_size=n, max_size=n)) for n in sizes]
    check_same_abi(f, list(e.inputs), p, batches)


def test_a_value_read_in_a_later_function_stays_in_the_scratch_space():
    fwd = [("T[0]", "=", "x[0] * 2.0"), ("T[1]", "=", "T[0] + 1.0"), ("T[2]", "=", "T[1]"),
           ("T[3]", "=", "T[0] * T[2]")]
    bwd = [("T[1]", "=", "T[3] * 3.0"), ("T[1]", "+=", "T[1]"), ("T[4]", "=", "T[1] * T[0]")]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(emit, "CHUNK", 3)  # functions: fwd 0-2, fwd 3, bwd 4-6
        names = emit._chunk_locals([fwd, bwd], keep={4})
        # T[0] is read in fwd's second function, T[2] there too, T[3] in bwd: scratch. The
        # first T[1] is read in its function only, then written again: a local; bwd's T[1]
        # (=, then +=, then read) a local of its function; T[4] is read at the end: scratch.
        assert names == {1: ({}, "l1"), 2: ({1: "l1"}, None), 4: ({}, "l4"),
                         5: ({1: "l4"}, "l4"), 6: ({1: "l4"}, None)}
        m.setattr(emit, "CHUNK", 2)  # functions: 0-1, 2-3, 4-5, 6
        names = emit._chunk_locals([fwd, bwd], keep={4})
        # the first T[1] is read by statement 2, bwd's T[1] by statement 6: scratch
        assert names == {2: ({}, "l2"), 3: ({2: "l2"}, None)}


# ---- the parameter sums' loops in short statement functions -------------------------------------
@pytest.mark.skipif(not HAVE_CC or not LEVELS, reason="no vector instruction set here")
@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_parameter_sum_loops_build_in_short_statement_functions(monkeypatch, chunk):
    """A program compiled at -O1 sums its parameters' gradients in loops (a few lines of C
    text): short statement functions keep them whole, so the block code builds (it was cut
    between the lines: a compile error, and scalar code) and gives the scalar code's bits."""
    monkeypatch.setattr(emit, "CHUNK", chunk)
    monkeypatch.setattr(native, "_O2_MAX_LINES", 0)
    f, xs, w = mlp_step()
    rows = [[0.1 * i, -0.2 * i, 1.0 if i % 2 else -1.0] for i in range(19)]
    check_same_abi(f, xs, w, [rows, rows[:1], rows[:9], [[1e308, 2.0, 1.0], *rows[:8]]])
