"""compile_map's C loop in SIMD lanes gives the scalar loop's outputs and return codes, bit for
bit, and `fn`'s float results: at every instruction set this machine runs, on arrays with tails
of every length, subnormals, huge values and signed zeros, for nn's optimizer kernels with
every flag combination, with IEEE flags raised in the vector part, the tail, or only in a
select's branch not taken; strides other than 0 and 1 and overlapping outputs keep the scalar
loop's meaning; AVX code leaves the upper register halves clean; each fallback (no instruction
set, a compiler that refuses the vector code, text outside the vector dialect) is the scalar
loop.

`al_map` is called directly too (`Mapped._run`: the ABI a C caller uses), against the scalar
kernel ($AUTOGRAD_LITE_SIMD=none) on the same buffers.
"""

from __future__ import annotations

import ctypes
import math
import os
import re
import shutil
import struct
import subprocess
from array import array
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import compile_map
from autograd_lite.compile import native, vector

HAVE_CC = not isinstance(native.find_compiler(), str)
needs_cc = pytest.mark.skipif(not HAVE_CC, reason="no working C compiler (apt-get install gcc)")
LEVELS = [lv for lv in ("sse2", "avx2", "avx512")
          if native.SIMD_LEVELS.index(lv) <= native.SIMD_LEVELS.index(native.cpu_simd())]
needs_simd = pytest.mark.skipif(not HAVE_CC or not LEVELS,
                                reason="no vector instruction set on this machine")
#: "none" (the scalar loop) and every level this machine runs; the default level first.
ALL = ["none", *LEVELS]
MAX_LANES = max([vector.SIMDS[lv].lanes for lv in LEVELS] or [1])


def bits(xs: Any) -> list[str]:
    return [struct.pack("<d", x).hex() for x in xs]


def nan_alike(xs: Any) -> list[str]:
    """Bits, every NaN alike (its sign and payload depend on operand order)."""
    return ["nan" if x != x else struct.pack("<d", x).hex() for x in xs]


def mix(a, b, c, k):
    """Arithmetic, division, sqrt, a constant and a passed-through input: no select."""
    d = a * k - (b / (c * c + 1.0))
    return d + al.sqrt(c * c) * 0.5, b


def branchy(a, b):
    """Selects (sigmoid: an exp in each branch, the other branch's exp(-a) overflows for
    a < -709; relu; maximum), library calls per lane and fabs."""
    return al.sigmoid(a) + al.relu(b) * al.maximum(a, b), abs(a - b) * al.tanh(b)


FNS: dict[str, tuple[Callable[..., Any], int]] = {"mix": (mix, 4), "branchy": (branchy, 2)}
_built: dict[tuple[str, str], al.Mapped] = {}


def with_level(level: str, make: Callable[[], Any]) -> Any:
    """`make()` with $AUTOGRAD_LITE_SIMD set to `level` (restored after)."""
    old = os.environ.get(native.SIMD_ENV)
    os.environ[native.SIMD_ENV] = level
    try:
        return make()
    finally:
        if old is None:
            del os.environ[native.SIMD_ENV]
        else:
            os.environ[native.SIMD_ENV] = old


def kernel(name: str, level: str) -> al.Mapped:
    """FNS[name] compiled at `level` (once per test session)."""
    k = _built.get((name, level))
    if k is None:
        fn, n = FNS[name]
        k = _built[name, level] = with_level(level, lambda: compile_map(fn, n, backend="c"))
        lanes = vector.SIMDS[level].lanes if level != "none" else 0
        assert k.simd == (f"{level} x{lanes}" if lanes else None)
        assert native.simd_of(k.c_source or "") == (level if lanes else None)
    return k


class Raw:
    """One direct call of `al_map` on fresh buffers: inputs as arrays (stride 1) or floats
    (stride 0), outputs prefilled with 7.0, optional strides and output addresses."""

    def __init__(self, k: al.Mapped, args: list[Any], n: int) -> None:
        self.k, self.n = k, n
        self.bufs = [array("d", a) if isinstance(a, array) else array("d", [a]) for a in args]
        self.strides = [1 if isinstance(a, array) else 0 for a in args]
        self.outs = [array("d", [7.0] * max(n, 1)) for _ in range(k.n_outputs)]

    def run(self, addrs: list[int] | None = None, out_addrs: list[int] | None = None) -> int:
        k = self.k
        A = k._in_t(*(addrs or [b.buffer_info()[0] for b in self.bufs]))
        S = k._stride_t(*self.strides)
        outs = k._out_t(*(out_addrs or [o.buffer_info()[0] for o in self.outs]))
        return k._run(self.n, A, S, outs)


def floats_of(fn: Callable[..., Any], args: list[Any], n: int) -> tuple[list[list[float]],
                                                                        type | None]:
    """fn on floats element by element: its outputs (columns), or the exception type raised."""
    cols: list[list[float]] = []
    try:
        for r in range(n):
            res = fn(*(a[r] if isinstance(a, array) else a for a in args))
            res = res if isinstance(res, tuple) else (res,)
            cols = cols or [[] for _ in res]
            for c, v in zip(cols, res):
                c.append(float(v))
    except Exception as e:
        return [], type(e)
    return cols, None


def same_as_scalar_and_floats(name: str, level: str, args: list[Any], n: int) -> None:
    """The kernel at `level`: the scalar kernel's return code and buffers on a direct call,
    and fn's float results (or its exception) through the public call."""
    fn, _ = FNS[name]
    lanes, scalar = kernel(name, level), kernel(name, "none")
    if n:
        got, want = Raw(lanes, args, n), Raw(scalar, args, n)
        rc = got.run()
        assert rc == want.run(), (level, args)
        for g, w in zip(got.outs, want.outs):
            assert (nan_alike(g) if rc == 2 else bits(g)) == \
                (nan_alike(w) if rc == 2 else bits(w)), (level, rc)
        if rc == 1:  # a non-finite input: nothing written
            assert all(list(o) == [7.0] * n for o in got.outs)
    cols, error = floats_of(fn, args, n)
    if error is not None:
        with pytest.raises(error):
            lanes(*args)
        return
    outs = lanes(*args)
    if n == 0:
        assert all(len(o) == 0 for o in outs)
    else:
        assert [bits(o) for o in outs] == [bits(c) for c in cols]


# ---- values ------------------------------------------------------------------------------------
SPECIAL = [0.0, -0.0, 5e-324, -1e-310, 2.2250738585072014e-308, 1e308, -1e308, 1e154, 1.0,
           -800.0, 800.0, 0.5, -1.5]
moderate = st.floats(-1e3, 1e3, allow_nan=False)
value = st.one_of(moderate, moderate, moderate, st.sampled_from(SPECIAL),
                  st.floats(allow_nan=False, allow_infinity=False))
lengths = st.one_of(st.integers(0, 2 * MAX_LANES + 1), st.integers(0, 70))


@st.composite
def call_args(draw: Any, n_inputs: int, with_inf: bool = False) -> tuple[list[Any], int]:
    """(inputs: each an array of n values or a float, at least one array; n)."""
    n = draw(lengths)
    scalar = draw(st.lists(st.booleans(), min_size=n_inputs, max_size=n_inputs))
    scalar[draw(st.integers(0, n_inputs - 1))] = False
    pick = st.one_of(value, st.sampled_from([math.inf, -math.inf])) if with_inf else value
    args: list[Any] = [draw(pick) if s else array("d", draw(st.lists(pick, min_size=n,
                                                                         max_size=n)))
                       for s in scalar]
    return args, n


EXAMPLES = max(settings().max_examples // 2, 5)  # each test builds kernels too
quick = settings(max_examples=EXAMPLES, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---- the outputs and return codes --------------------------------------------------------------
@needs_simd
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", sorted(FNS))
@quick
@given(data=st.data())
def test_lanes_give_the_scalar_loop_and_the_floats(level, name, data):
    fn, n_inputs = FNS[name]
    args, n = data.draw(call_args(n_inputs, with_inf=data.draw(st.booleans())))
    same_as_scalar_and_floats(name, level, args, n)


@needs_simd
@pytest.mark.parametrize("level", LEVELS)
def test_every_tail_length_and_flag_position(level):
    """Arrays of every length to 2 * lanes + 1, a flag-raising element (x / 0, overflow) or an
    inf at each position: vector part and tail alike."""
    b = vector.SIMDS[level].lanes
    for n in range(0, 2 * b + 2):
        base = [0.25 * r - 1.0 for r in range(n)]
        same_as_scalar_and_floats("mix", level, [array("d", base), array("d", base),
                                                 array("d", base), 3.0], n)
        for pos in range(n):
            for bad, where in ((1e200, 2), (math.inf, 0), (-1e-310, 1)):
                cols = [array("d", base) for _ in range(3)]
                cols[where][pos] = bad
                same_as_scalar_and_floats("mix", level, [*cols, 2.0], n)


@needs_simd
@pytest.mark.parametrize("level", LEVELS)
def test_a_flag_only_from_a_branch_not_taken_is_no_flag(level):
    """sigmoid(-800) computes exp(800) in its other branch: the vector code raises overflow,
    the scalar loop does not; the call re-runs in the scalar loop and returns 0 (no Python)."""
    b = vector.SIMDS[level].lanes
    k = kernel("branchy", level)
    n = 2 * b + 1
    a = array("d", [-800.0 if r == 1 else 0.5 * r for r in range(n)])
    raw = Raw(k, [a, 2.0], n)
    assert raw.run() == 0
    cols, _ = floats_of(branchy, [a, 2.0], n)
    assert [bits(o) for o in raw.outs] == [bits(c) for c in cols]
    # A real flag (an overflow taken) is still 2, after the scalar loop's re-run.
    big = Raw(k, [array("d", [1e200] * n), array("d", [1e200] * n)], n)
    assert big.run() == 2


@needs_simd
@pytest.mark.parametrize("level", LEVELS)
def test_python_errors_and_all_or_nothing_outputs(level):
    b = vector.SIMDS[level].lanes
    div = with_level(level, lambda: compile_map(lambda x, y: x / y, 2, backend="c"))
    assert div.simd is not None
    n = 3 * b
    x, y = array("d", [1.0] * n), array("d", [2.0] * n)
    y[b + 1] = 0.0
    with pytest.raises(ZeroDivisionError) as info:
        div(x, y, out=[x])
    assert list(x) == [1.0] * n  # nothing written
    assert any(f"element {b + 1}" in note for note in info.value.__notes__)


# ---- nn's optimizer kernels --------------------------------------------------------------------
SGD_FLAGS = [(decay, heavy, first, nesterov) for decay in (False, True)
             for heavy in (False, True) for first in ((False, True) if heavy else (False,))
             for nesterov in ((False, True) if heavy else (False,))]


def optimizer_kernel(kind: str, flags: tuple[bool, ...], level: str) -> al.Mapped:
    """nn.flat's own kernel (optim.sgd_update / adam_update) built at `level`."""
    from nn import flat

    key = (kind, flags, level)
    k = _built.get(key)  # type: ignore[arg-type]
    if k is None:
        saved = dict(flat._kernels)
        flat._kernels.clear()
        try:
            k = with_level(level, lambda: flat._kernel(kind, flags, "c"))
        finally:
            flat._kernels.clear()
            flat._kernels.update(saved)
        _built[key] = k  # type: ignore[index]
        assert (k.simd is None) == (level == "none")
    return k


def check_optimizer(kind: str, flags: tuple[bool, ...], level: str, data: Any) -> None:
    from nn.optim import adam_corrections, adam_update, sgd_update

    n = data.draw(lengths)
    col = st.lists(value, min_size=n, max_size=n)
    p, g, s = (array("d", data.draw(col)) for _ in range(3))
    if kind == "sgd":
        decay, heavy, first, nesterov = flags
        lr, mu, wd = (data.draw(st.floats(0.0, 2.0)) for _ in range(3))
        damp = 1.0 - data.draw(st.floats(0.0, 1.0)) if not nesterov else 1.0
        args = [p, g, s, lr, mu, damp, wd]

        def ref(*xs: float) -> Any:
            new, b = sgd_update(*xs, decay=decay, heavy=heavy, first=first, nesterov=nesterov)
            return (new, b) if heavy else new
    else:
        (decay,) = flags
        b1, b2 = data.draw(st.floats(0.0, 0.999)), data.draw(st.floats(0.0, 0.9999))
        step_size, bc2 = adam_corrections(data.draw(st.floats(1e-6, 1.0)), b1, b2,
                                          data.draw(st.integers(1, 10_000)))
        v = array("d", map(abs, data.draw(col)))
        args = [p, g, s, v, step_size, bc2, b2, 1.0 - b1, 1.0 - b2,
                data.draw(st.sampled_from([1e-8, 1e-12, 0.1])), data.draw(st.floats(0.0, 1.0))]

        def ref(*xs: float) -> Any:
            return adam_update(*xs, decay=decay, sqrt=math.sqrt)

    k, scalar = optimizer_kernel(kind, flags, level), optimizer_kernel(kind, flags, "none")
    cols, error = floats_of(ref, args, n)
    if n:
        got, want = Raw(k, args, n), Raw(scalar, args, n)
        rc = got.run()
        assert rc == want.run()
        if rc == 0:
            assert [bits(o) for o in got.outs] == [bits(o) for o in want.outs]
    if error is not None:
        with pytest.raises(error):
            k(*args)
        return
    assert n == 0 or [bits(o) for o in k(*args)] == [bits(c) for c in cols]


@needs_simd
@pytest.mark.parametrize("kind, flags", [("adam", (False,)), ("adam", (True,)),
                                         *(("sgd", f) for f in SGD_FLAGS)])
@quick
@given(data=st.data())
def test_optimizer_kernels_at_the_default_level(kind, flags, data):
    check_optimizer(kind, flags, with_level("", lambda: native.simd()).name, data)


@needs_simd
@pytest.mark.slow
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("kind, flags", [("adam", (False,)), ("adam", (True,)),
                                         *(("sgd", f) for f in SGD_FLAGS)])
@quick
@given(data=st.data())
def test_optimizer_kernels_at_every_level(level, kind, flags, data):
    check_optimizer(kind, flags, level, data)


# ---- strides and overlapping buffers (a C caller's) ---------------------------------------------
@needs_simd
@pytest.mark.parametrize("level", LEVELS)
def test_other_strides_run_the_scalar_loop(level):
    k = kernel("mix", level)
    n = 4 * vector.SIMDS[level].lanes + 1
    a = array("d", [0.1 * r for r in range(2 * n)])
    raw = Raw(k, [a, a, a, 1.5], n)
    raw.strides = [2, 1, 1, 0]
    assert raw.run() == 0
    want = [mix(a[2 * r], a[r], a[r], 1.5)[0] for r in range(n)]
    assert bits(raw.outs[0]) == bits(want)
    raw.bufs[0][2 * (n - 1)] = math.inf  # the finite check reads the strided elements
    assert raw.run() == 1


@needs_simd
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", sorted(FNS))
@pytest.mark.parametrize("shift", [0, 1, -1, 3])
def test_outputs_overlapping_inputs_keep_the_scalar_loops_meaning(level, name, shift):
    """Output 0 written over input 0 (the same array, or shifted by `shift` elements: the
    scalar loop then reads values it wrote), with a select's false flag in the vector part."""
    fn, n_inputs = FNS[name]
    n = 3 * vector.SIMDS[level].lanes + 1
    results = []
    for lv in (level, "none"):
        base = [-800.0 if r == 6 else 0.3 * r - 1.0 for r in range(n + 8)]
        raw = Raw(kernel(name, lv), [array("d", base)] * (n_inputs - 1) + [0.75], n)
        addrs = [b.buffer_info()[0] + 32 for b in raw.bufs[:-1]] + [raw.bufs[-1].buffer_info()[0]]
        outs = [addrs[0] + 8 * shift, *(o.buffer_info()[0] for o in raw.outs[1:])]
        rc = raw.run(addrs, outs)
        results.append((rc, bits(raw.bufs[0]), [bits(o) for o in raw.outs[1:]]))
    assert results[0] == results[1]


@needs_simd
@pytest.mark.parametrize("level", LEVELS)
def test_an_output_over_a_scalar_input_keeps_the_scalar_loops_meaning(level):
    results = []
    n = 2 * vector.SIMDS[level].lanes + 1
    for lv in (level, "none"):
        raw = Raw(kernel("mix", lv), [array("d", [1.0] * n)] * 3 + [2.0], n)
        buf = array("d", [2.0] * n)  # output 0 over the scalar input k (its element 1)
        addrs = [b.buffer_info()[0] for b in raw.bufs[:3]] + [buf.buffer_info()[0] + 8]
        raw.run(addrs, [buf.buffer_info()[0], raw.outs[1].buffer_info()[0]])
        results.append(bits(buf))
    assert results[0] == results[1]


# ---- the fallbacks -----------------------------------------------------------------------------
@needs_cc
def test_simd_none_gives_the_scalar_loop():
    k = kernel("mix", "none")
    assert k.simd is None and native.simd_of(k.c_source or "") is None
    assert "al_map_vec" not in (k.c_source or "")
    args = [array("d", [0.5, -1.0, 3.0]), array("d", [2.0, 1e-310, -0.0]), 4.0, 0.5]
    assert [bits(o) for o in k(*args)] == [bits(c) for c in floats_of(mix, args, 3)[0]]


@pytest.fixture
def fresh_choice():
    native.forget_compiler()
    yield
    native.forget_compiler()


@needs_simd
def test_a_compiler_that_refuses_the_vector_code_gets_the_scalar_loop(tmp_path, monkeypatch,
                                                                       fresh_choice):
    """A compiler whose vector types pass the probe but that fails on the kernel's vector
    code (here: on the square-root builtins) still gives a native kernel: the scalar loop."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("needs gcc or cc on PATH to wrap")
    script = tmp_path / "cc"
    script.write_text("#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in *.c) "
                      "grep -q al_map_vec \"$a\" && { echo 'no' >&2; exit 1; };; "
                      f"esac; done\nexec {gcc} \"$@\"\n")
    script.chmod(0o755)
    monkeypatch.setenv("CC", str(script))
    monkeypatch.delenv(native.SIMD_ENV, raising=False)
    assert native.simd() is not None
    k = compile_map(mix, 4, backend="c")
    assert k.backend == "c" and k.simd is None and "al_map_vec" not in (k.c_source or "")
    args = [array("d", [0.5 * r for r in range(11)]), 2.0, array("d", [1.5] * 11), 0.25]
    assert [bits(o) for o in k(*args)] == [bits(c) for c in floats_of(mix, args, 11)[0]]


@needs_simd
def test_text_outside_the_vector_dialect_or_too_long_gets_the_scalar_loop(monkeypatch):
    def refuse(self, text):
        raise vector.Unsupported("test")

    with monkeypatch.context() as m:
        m.setattr(vector.VectorText, "expr", refuse)
        assert compile_map(lambda a, b: a * b - 1.5, 2, backend="c").simd is None
    with monkeypatch.context() as m:
        m.setattr(native, "BLOCKS_MAX_LINES", 1)
        assert compile_map(lambda a, b: a * b - 2.5, 2, backend="c").simd is None
    assert compile_map(lambda a, b: a * b - 3.5, 2, backend="c").simd is not None


@needs_simd
def test_a_bad_simd_environment_is_a_value_error(monkeypatch):
    monkeypatch.setenv(native.SIMD_ENV, "avx3")
    with pytest.raises(ValueError, match="AUTOGRAD_LITE_SIMD must be one of"):
        compile_map(lambda a: a * 2.0, 1)


# ---- the upper register halves -----------------------------------------------------------------
def _avx_levels() -> list[str]:
    return [lv for lv in LEVELS if vector.SIMDS[lv].vzeroupper]


@needs_simd
def test_every_exit_and_library_call_of_avx_code_follows_a_vzeroupper(tmp_path):
    objdump = shutil.which("objdump")
    if objdump is None or not _avx_levels():
        pytest.skip("needs objdump and AVX")
    cmd, _ = native.find_compiler()
    for level in _avx_levels():
        source = kernel("branchy", level).c_source
        lib = native._build(native.PRELUDE + (source or ""), cmd,
                            [*native._FLAGS_BASE, "-O1", *native.SIMD_FLAGS])
        path = tmp_path / f"{level}.so"
        path.write_bytes(lib)
        asm = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(path)],
                             capture_output=True, text=True, check=True).stdout
        checked = 0
        names = set()
        for name, body in re.findall(r"<(\w+)>:\n(.*?)(?=\n\n|\Z)", asm, re.S):
            names.add(name)
            dirty = False  # in program order (loops end before their function's exits)
            for line in body.splitlines():
                if "vzeroupper" in line:
                    dirty = False
                elif re.search(r"%[yz]mm", line):
                    dirty = True
                elif re.search(r"\bcall\b.*@plt|\bjmp\b.*@plt", line) or (
                        re.search(r"\bret\b", line) and not name.startswith("al_v")):
                    assert not dirty, f"{level}: {name} leaves upper state dirty at {line}"
                    checked += 1
        assert {"al_map_vec", "al_finite", "al_map"} <= names
        assert checked > 0


@needs_simd
def test_avx_kernels_leave_the_upper_register_halves_clean(tmp_path):
    from .test_native_blocks import _harness

    if not _avx_levels():
        pytest.skip("no AVX on this machine")
    h = _harness(tmp_path)
    before = ctypes.c_longlong(-1)
    for level in _avx_levels():
        k = kernel("branchy", level)
        n = 5 * vector.SIMDS[level].lanes + 3
        raw = Raw(k, [array("d", [0.1 * r - 2.0 for r in range(n)]), 0.5], n)
        A = k._in_t(*(b.buffer_info()[0] for b in raw.bufs))
        S = k._stride_t(*raw.strides)
        outs = k._out_t(*(o.buffer_info()[0] for o in raw.outs))
        fn = ctypes.cast(k._run, ctypes.c_void_p).value
        # al_map(n, A, S, O) through the harness's pointer (its other arguments unused)
        got = h.after_call(fn, n, ctypes.addressof(A), ctypes.addressof(S),
                           ctypes.addressof(outs),
                           None, None, ctypes.byref(before), 0)
        assert before.value == 0 and got == 0, (level, got)
        cols, _ = floats_of(branchy, [raw.bufs[0], 0.5], n)
        assert [bits(o) for o in raw.outs] == [bits(c) for c in cols]

