"""A compiled function's block code is built without its scalar rows (about half the compile
time of the first library, e.g. a compiled fit's first batch): the rows it needs only for a
flagged block or a non-finite input are another library, the same program as scalar code,
built on that first need and lent to it (`al_rows`). Until then such a block returns 4 with
`*fail` at its first row (the rows before it done and added) and a short tail runs as a padded
block; once lent, its functions are the scalar code's, return codes and bits. Through
`Compiled`, the numbers are the interpreter's whichever library runs a row.
"""

from __future__ import annotations

import ctypes
import gc
import math
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograd_lite import Value, compile_grad
from autograd_lite.compile import emit, native, vector
from autograd_lite.compile.native import NativeUnavailableError, NativeUnavailableWarning
from autograd_lite.compile.program import _Program
from autograd_lite.compile.trace import _Graph

from ..oracles import interpret
from .test_native_blocks import SPECIAL, Raw, bits, row_values

LEVELS = [lv for lv in ("sse2", "avx2", "avx512")
          if native.SIMD_LEVELS.index(lv) <= native.SIMD_LEVELS.index(native.cpu_simd())]
HAVE = not isinstance(native.find_compiler(), str) and native.simd() is not None and LEVELS
pytestmark = pytest.mark.skipif(not HAVE, reason="needs a C compiler and vector code")


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(native.SIMD_ENV, raising=False)
    native.forget_loaded()
    yield
    native.forget_loaded()


P = [Value(0.5), Value(2.0)]


def f(x, y):
    return (x * P[0]).log() + y / x + (y * P[1]).exp().tanh() + (x - y).relu() * y.sigmoid()


class Borrowing(Raw):
    """Block code without its scalar rows, called directly; `lend()` gives it the scalar
    program's rows."""

    def __init__(self, simd, input_grads=True):
        graph = _Graph(f, [0.5, 0.25], P, "test")
        self.k, self.m, self.nv = 2, 2, 1
        cemit = emit._CEmitter(len(graph.order))
        prog = _Program(graph, self.m, cemit, input_grads=input_grads)
        self.source, size, self.used = emit.c_blocks_source(
            prog, 2, 2, len(graph.order), False, input_grads, simd=simd, scalar_rows=False)
        scalar, scratch, _ = emit._c_source(prog, 2, 2, len(graph.order), False, input_grads)
        assert native.simd_of(self.source) == simd.name and "al_f0(" not in self.source
        self.input_grads, self.size = input_grads, max(size, scratch)
        self.lib = native.load(self.source, 10, ("al_vg", "al_fw", "al_rows"))
        self.rows_lib = native.load(scalar, 10, ("al_fw_rows", "al_vg_rows"))
        ptr = ctypes.c_void_p
        self.lib.al_vg.argtypes = [ctypes.c_long, ptr, ptr, ptr, ptr, ptr,
                                   ctypes.POINTER(ctypes.c_long), ptr]
        self.lib.al_fw.argtypes = [ctypes.c_long, ptr, ptr, ptr, ctypes.POINTER(ctypes.c_long),
                                   ptr]

    def lend(self):
        ptr = ctypes.c_void_p
        self.lib.al_rows.argtypes = [ptr, ptr]
        self.lib.al_rows(ctypes.cast(self.rows_lib.al_fw_rows, ptr),
                         ctypes.cast(self.rows_lib.al_vg_rows, ptr))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("input_grads", [True, False])
@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_until_lent_a_block_needing_scalar_rows_returns_4_at_its_first_row(level, input_grads,
                                                                           data):
    simd = vector.SIMDS[level]
    scalar = Raw(f, [0.5, 0.25], P, None, input_grads)
    lazy = Borrowing(simd, input_grads)
    pdata = [p.data for p in P]
    b = simd.lanes
    n = data.draw(st.integers(0, 3 * b + 1))
    rows = data.draw(st.lists(row_values(2), min_size=n, max_size=n))
    for with_grad in (True, False):
        want = scalar.run(rows, pdata, with_grad)
        rc, fail, V, G, PG = lazy.run(rows, pdata, with_grad)
        if rc != 4:  # no block needed them: a short tail ran padded, the same bits
            assert (rc, fail, V, G, PG) == want
            continue
        assert want[0] != 3 and fail % b == 0 and fail < n
        # The rows before that block are the scalar code's (run it on them alone).
        before = scalar.run(rows[:fail], pdata, with_grad)
        assert before[0] == 0
        assert V[:fail] == before[2][:fail] and PG == before[4]
        if with_grad and input_grads:
            assert G[:2 * fail] == before[3][:2 * fail]
    lazy.lend()
    for with_grad in (True, False):
        assert lazy.run(rows, pdata, with_grad) == scalar.run(rows, pdata, with_grad)


@pytest.mark.parametrize("level", LEVELS)
def test_a_flag_or_an_inf_in_the_second_block_returns_4_there(level):
    simd = vector.SIMDS[level]
    b = simd.lanes
    lazy = Borrowing(simd)
    pdata = [p.data for p in P]
    clean = [[0.3 + 0.01 * r, 0.2] for r in range(2 * b)]
    for bad in ([0.0, 1.0], [math.inf, 1.0], [1.0, 800.0]):  # log(0); inf; exp overflow
        rows = [*clean[:b + 1], bad, *clean[b + 1:]]
        rc, fail, *_ = lazy.run(rows, pdata)
        assert (rc, fail) == (4, b), bad
    assert lazy.run([[math.nan, 1.0]], pdata)[:2] == (3, 0)  # NaN: the caller's error first


def reference(rows):
    values, total = [], [0.0, 0.0]
    for row in rows:
        value, g = interpret(f, row, P)
        values.append(value)
        total = [a + x for a, x in zip(total, g[2:])]
    return bits(values), bits(total)


CLEAN = [[0.3 + 0.05 * r, 0.2 + 0.1 * r] for r in range(16)]
FLAGGED = [*CLEAN[:9], [1e-320, 1.0], *CLEAN[9:]]  # y / x overflows: the interpreter gives inf


def test_a_fit_builds_one_library_and_its_scalar_rows_on_first_need():
    c = compile_grad(f, [0.5, 0.25], params=P)
    start = native.BUILDS[0]
    for rows in (CLEAN, CLEAN[:13], CLEAN[:1]):  # whole blocks, a short tail, one row
        values, _, total = c.value_and_grad_batch(rows, input_grads=False)
        assert (bits(values), bits(total)) == reference(rows)
    assert native.BUILDS[0] == start + 1
    values, _, total = c.value_and_grad_batch(FLAGGED, input_grads=False)
    assert (bits(values), bits(total)) == reference(FLAGGED)
    assert native.BUILDS[0] == start + 2  # the scalar rows, once
    for rows in (FLAGGED, CLEAN[:13], [[0.0, 1.0], *CLEAN]):
        if rows[0] == [0.0, 1.0]:
            with pytest.raises(ValueError, match="log") as e:
                c.value_and_grad_batch(rows, input_grads=False)
            assert "(in row 0 of the batch)" in e.value.__notes__
            continue
        values, _, total = c.value_and_grad_batch(rows, input_grads=False)
        assert (bits(values), bits(total)) == reference(rows)
    assert native.BUILDS[0] == start + 2
    assert c.forward_batch(FLAGGED) == [interpret(f, r, P)[0] for r in FLAGGED]


def test_scalar_rows_that_cannot_be_built_leave_those_rows_to_the_interpreter(monkeypatch):
    c = compile_grad(f, [0.5, 0.25], params=P)
    c.value_and_grad_batch(CLEAN, input_grads=False)  # the block library
    real = native._build

    def no_scalar(source, cmd, flags, *rest):
        if "vector_size" not in source:
            raise NativeUnavailableError("C compiler cc failed: scalar code refused here")
        return real(source, cmd, flags, *rest)

    monkeypatch.setattr(native, "_build", no_scalar)
    with pytest.warns(NativeUnavailableWarning, match="scalar rows.*refused here.*interpreter"):
        values, _, total = c.value_and_grad_batch(FLAGGED, input_grads=False)
    assert (bits(values), bits(total)) == reference(FLAGGED)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NativeUnavailableWarning)  # said once
        values, _, total = c.value_and_grad_batch(FLAGGED[::-1], input_grads=False)
    assert (bits(values), bits(total)) == reference(FLAGGED[::-1])


def test_rows_lent_by_one_compiled_outlive_it_in_another_sharing_the_library():
    a = compile_grad(f, [0.5, 0.25], params=P)
    b = compile_grad(f, [0.5, 0.25], params=P)
    b.value_and_grad_batch(CLEAN, input_grads=False)
    a.value_and_grad_batch(FLAGGED, input_grads=False)  # a lends the rows (the same library)
    assert a._impl.cut.lib.lib is b._impl.cut.lib.lib
    del a
    gc.collect()
    values, _, total = b.value_and_grad_batch(FLAGGED, input_grads=False)
    assert (bits(values), bits(total)) == reference(FLAGGED)


def test_the_byte_limit_counts_the_scalar_rows_lent_or_not(monkeypatch):
    graph = _Graph(f, [0.5, 0.25], P, "test")
    prog = _Program(graph, 2, emit._CEmitter(len(graph.order)))
    simd = vector.SIMDS[LEVELS[-1]]
    whole, _, _ = emit.c_blocks_source(prog, 2, 2, len(graph.order), simd=simd)
    monkeypatch.setattr(native, "BLOCKS_MAX_BYTES", len(whole))
    lazy, _, _ = emit.c_blocks_source(prog, 2, 2, len(graph.order), simd=simd, scalar_rows=False)
    assert native.simd_of(lazy) == simd.name and len(lazy) < len(whole)
    monkeypatch.setattr(native, "BLOCKS_MAX_BYTES", len(whole) - 1)
    lazy, _, _ = emit.c_blocks_source(prog, 2, 2, len(graph.order), simd=simd, scalar_rows=False)
    assert native.simd_of(lazy) is None


def test_special_inputs_through_compiled_are_the_interpreter():
    c = compile_grad(f, [0.5, 0.25], params=P)
    rows = [[a, b] for a in SPECIAL for b in (0.5, -1.5, 2.0)]
    rows = [r for r in rows if r[0] > 0 and math.isfinite(r[0] * 0.5)]  # (log's domain)
    values, _, total = c.value_and_grad_batch(rows, input_grads=False)
    assert (bits(values), bits(total)) == reference(rows)
