"""`value_and_grad_batch(accumulate=...)`: a parameter the output does not depend on gets each
row's 0.0 added to its starting value, as the interpreter adds it (-0.0 becomes 0.0 once a row
ran; an empty batch leaves it), whichever backend and C code (scalar or block code, a row run
in the interpreter or not)."""

from __future__ import annotations

import math
import struct
from array import array

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograd_lite import Value, compile_grad
from autograd_lite.compile import native

HAVE_CC = not isinstance(native.find_compiler(), str)
LEVELS = ["none"] + [lv for lv in ("sse2", "avx2", "avx512")
                     if native.SIMD_LEVELS.index(lv) <= native.SIMD_LEVELS.index(native.cpu_simd())]


def bits(xs):
    return ["nan" if x != x else struct.pack("<d", x).hex() for x in xs]


P = [Value(0.5), Value(-0.0), Value(2.0), Value(1.5), Value(-1.0), Value(0.25)]
UNUSED = (1, 4)


def f(x, y):
    return (x * P[0]).tanh() + y * P[2] + (x * P[3]).exp() / P[5]


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg"))


def sums(c, rows, start, input_grads):
    acc = array("d", start)
    c.value_and_grad_batch(rows, accumulate=acc, input_grads=input_grads)
    return bits(acc)


@pytest.mark.skipif(not HAVE_CC, reason="needs a C compiler")
@pytest.mark.parametrize("level", LEVELS)
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_an_unused_parameters_sum_starts_as_given_and_adds_the_rows_zeros(level, monkeypatch,
                                                                          data):
    monkeypatch.setenv(native.SIMD_ENV, level)
    c = compile_grad(f, [0.5, 0.25], params=P, backend="c")
    ref = compile_grad(f, [0.5, 0.25], params=P, backend="python")
    value = st.one_of(st.floats(-3, 3), st.sampled_from([math.inf, 1e308, -0.0, 800.0]))
    rows = data.draw(st.lists(st.lists(value, min_size=2, max_size=2), max_size=11))
    start = data.draw(st.lists(st.sampled_from([-0.0, 0.0, 1.0, -2.5, math.inf]),
                               min_size=len(P), max_size=len(P)))
    for input_grads in (True, False):
        got = sums(c, rows, start, input_grads)
        assert got == sums(ref, rows, start, input_grads)
        for j in UNUSED:
            want = start[j] if not rows else start[j] + 0.0
            assert got[j] == bits([want])[0]


def test_the_python_backend_adds_the_zeros_too():
    ref = compile_grad(f, [0.5, 0.25], params=P, backend="python")
    got = sums(ref, [[0.5, 0.25]], [-0.0] * len(P), False)
    assert [got[j] for j in UNUSED] == bits([0.0, 0.0])
    assert [sums(ref, [], [-0.0] * len(P), True)[j] for j in UNUSED] == bits([-0.0, -0.0])
