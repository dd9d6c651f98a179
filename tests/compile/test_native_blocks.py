"""Block code (rows in SIMD lanes) computes what the per-row scalar code computes, bit for bit.

The generated functions are called directly (the ABI `Compiled` uses: return codes, `*fail`,
the V, G and PG buffers) for the scalar generator and for every instruction set this machine
runs, on random graphs and batches of every remainder, with rows that raise IEEE flags in the
middle of a block, inf and NaN inputs and non-finite parameters; then through `Compiled`
against the interpreter. The choice of instruction set (CPU, $AUTOGRAD_LITE_SIMD, a compiler
without vector types) and the upper-register hazard of AVX code are checked too.
"""

from __future__ import annotations

import ctypes
import math
import re
import shutil
import struct
import subprocess
from array import array
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograd_lite import PRIMITIVES, Value, compile_grad
from autograd_lite.compile import emit, native, vector
from autograd_lite.compile.program import _Program
from autograd_lite.compile.trace import _Graph
from autograd_lite.testing import expressions

from ..oracles import interpret
from .test_native_replay import mlp_params

HAVE_CC = not isinstance(native.find_compiler(), str)
needs_cc = pytest.mark.skipif(not HAVE_CC, reason="no working C compiler (apt-get install gcc)")
LEVELS = [lv for lv in ("sse2", "avx2", "avx512")
          if native.SIMD_LEVELS.index(lv) <= native.SIMD_LEVELS.index(native.cpu_simd())]
needs_simd = pytest.mark.skipif(not HAVE_CC or not LEVELS,
                                reason="no vector instruction set on this machine")
C_PRIMS = [p for p in PRIMITIVES.values() if native.c_template(p) is not None]
EXAMPLES = min(settings().max_examples, 12)  # each example builds several libraries
#: Inputs that make flags, infinities and signed zeros: log/div of 0, exp overflow, inf.
SPECIAL = [0.0, -0.0, 800.0, -800.0, 1e308, -1e308, 1e-320, math.inf, -math.inf, 0.5, -1.5]


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Libraries go to a cache directory of this test session, not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg"))


def bits(xs) -> list[str]:
    """Each float's bits (signed zeros differ); every NaN alike, as `same` in the other native
    tests: a NaN's sign and payload depend on operand order, which the compiler may swap."""
    return ["nan" if x != x else struct.pack("<d", x).hex() for x in xs]


class Raw:
    """One graph's generated functions, called directly: (rc, *fail, V, G, PG bits)."""

    def __init__(self, f, xs, params, simd, input_grads=True, has_aux=False):
        graph = _Graph(f, xs, params, "test", has_aux)
        self.k, self.m, self.nv = len(xs), len(params), 1 + len(graph.aux)
        cemit = emit._CEmitter(len(graph.order))
        prog = _Program(graph, self.m, cemit, input_grads=input_grads)
        self.source, size, self.used = emit.c_blocks_source(
            prog, self.k, self.m, len(graph.order), cemit.non_finite, input_grads, simd=simd)
        self.input_grads = input_grads
        self.size = size
        self.lib = native.load(self.source, len(prog.forward) + len(prog.backward))
        ptr = ctypes.c_void_p
        self.lib.al_vg.argtypes = [ctypes.c_long, ptr, ptr, ptr, ptr, ptr,
                                   ctypes.POINTER(ctypes.c_long), ptr]
        self.lib.al_fw.argtypes = [ctypes.c_long, ptr, ptr, ptr, ctypes.POINTER(ctypes.c_long),
                                   ptr]

    def run(self, rows, pdata, with_grad=True):
        n = len(rows)
        X = array("d", [v for r in rows for v in r] or [0.0])
        P = array("d", pdata or [0.0])
        V = array("d", [7.0] * max(n * self.nv, 1))  # rows not done keep 7.0
        G = array("d", [7.0] * max(n * self.k, 1))
        PG = array("d", [-0.0 if j in self.used else 0.0 for j in range(self.m)] or [0.0])
        T = array("d", bytes(8 * (self.size + 64)))
        T0 = T.buffer_info()[0]
        fail = ctypes.c_long(-5)
        a = [X.buffer_info()[0], P.buffer_info()[0], V.buffer_info()[0]]
        if with_grad:
            g = G.buffer_info()[0] if self.input_grads else None
            rc = self.lib.al_vg(n, *a, g, PG.buffer_info()[0], ctypes.byref(fail), T0)
        else:
            rc = self.lib.al_fw(n, *a, ctypes.byref(fail), T0)
        return rc, fail.value, bits(V), bits(G), bits(PG)


def check_same_abi(f, xs, params, batches, has_aux=False, input_grads=True):
    """Every level's functions give the scalar functions' return code, *fail and buffers."""
    pdata = [p.data for p in params]
    scalar = Raw(f, xs, params, None, input_grads, has_aux)
    assert native.simd_of(scalar.source) is None
    for level in LEVELS:
        block = Raw(f, xs, params, vector.SIMDS[level], input_grads, has_aux)
        assert native.simd_of(block.source) == level
        for rows in batches:
            for with_grad in (True, False):
                want = scalar.run(rows, pdata, with_grad)
                assert block.run(rows, pdata, with_grad) == want, (level, rows, with_grad)


def row_values(k):
    finite = st.floats(-3.0, 3.0, allow_nan=False)
    return st.lists(st.one_of(finite, finite, finite, st.sampled_from(SPECIAL)), min_size=k,
                    max_size=k)


# ---- the generated functions, against the scalar ones ------------------------------------------
@needs_simd
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(expressions(n_inputs=(1, 3), n_nodes=(1, 10), primitives=C_PRIMS), st.data())
def test_block_code_matches_scalar_code_on_random_graphs_and_batches(e, data):
    k = len(e.inputs)
    p = [Value(0.75), Value(-1.25)]

    def f(*xs):
        return e(*xs) * p[0] + xs[0] * p[1]

    sizes = data.draw(st.lists(st.integers(0, 3 * 8 + 1), min_size=2, max_size=3))
    batches = [data.draw(st.lists(row_values(k), min_size=n, max_size=n)) for n in sizes]
    check_same_abi(f, list(e.inputs), p, batches)


@needs_simd
@pytest.mark.parametrize("input_grads", [True, False])
def test_every_batch_size_and_flag_position(input_grads):
    p = [Value(0.5), Value(2.0)]

    def f(x, y):
        return (x * p[0]).log() + y / x + (y * p[1]).exp().tanh() + (x - y).relu() * y.sigmoid()

    ok = [[0.5 + 0.1 * r, 0.3 - 0.07 * r] for r in range(25)]
    batches = [ok[:n] for n in range(26)]
    for bad in ([0.0, 1.0], [-1.0, 1.0], [1.0, 800.0], [math.inf, 1.0], [1.0, -math.inf]):
        for where in (0, 1, 3, 5, 7, 8, 12, 17, 24):  # first, middle and last of blocks
            batches.append(ok[:where] + [bad] + ok[where + 1:])
    check_same_abi(f, [0.5, 0.3], p, batches, input_grads=input_grads)


@needs_simd
def test_nan_inputs_and_non_finite_parameters_are_reported_before_any_row():
    p = [Value(0.5)]

    def f(x, y):
        return (x * p[0]).tanh() * y

    rows = [[0.1 * r, 1.0] for r in range(19)]
    for level in LEVELS:
        block = Raw(f, [0.1, 1.0], p, vector.SIMDS[level])
        for at in (0, 9, 37):
            bad = [list(r) for r in rows]
            bad[at // 2][at % 2] = math.nan
            rc, fail, v, _, pg = block.run(bad, [0.5])
            assert (rc, fail) == (3, at)
            assert v == bits([7.0] * 19) and pg == bits([-0.0])
        for q in (math.inf, -math.inf, math.nan):
            rc, fail, v, _, _ = block.run(rows, [q])
            assert (rc, fail) == (2, 0) and v == bits([7.0] * 19)


@needs_simd
def test_non_finite_constant_gives_scalar_code():
    def f(x):
        return x * math.inf + x.exp()

    graph = _Graph(f, [0.5], [], "test")
    cemit = emit._CEmitter(len(graph.order))
    prog = _Program(graph, 0, cemit)
    assert cemit.non_finite
    source, _, _ = emit.c_blocks_source(prog, 1, 0, len(graph.order), True,
                                        simd=vector.SIMDS[LEVELS[-1]])
    assert native.simd_of(source) is None and "feraiseexcept" in source


def test_text_outside_the_templates_dialect_gives_scalar_code():
    text = vector.VectorText()
    assert text.expr("(T[3] < 0.0 ? 0.0 : x[1] * P[0])") == \
        "(al_sel(((vl)(VT[3] < al_bc(0.0))), al_bc(0.0), (VX[1] * al_bc(P[0]))))"
    assert text.expr("pow(P[0], 2.0)") == "al_bc(pow(P[0], 2.0))"  # scalars stay scalars
    assert text.expr("fabs(T[1]) + exp(-T[2])") == "(al_fabs(VT[1]) + al_v1_exp((-VT[2])))"
    assert text.calls == {("exp", 1)}
    for bad in ("(double)T[1]", "T[1] = 2", "y[3]", "T[x]", "\"s\"", "T[1] & 3", "foo"):
        with pytest.raises(vector.Unsupported):
            vector.VectorText().expr(bad)


@needs_simd
def test_user_primitive_with_a_template_outside_the_dialect_still_compiles():
    from autograd_lite import primitive

    @primitive("cube_cast", lambda out, x: 3.0 * x * x, c="(double)({a} * {a} * {a})")
    def cube(x):
        return x * x * x

    def f(x):
        return cube(x) + x.tanh()

    c = compile_grad(f, [0.5], backend="c")
    assert native.simd_of(c.c_source) is None  # the cast: scalar code for this graph
    rows = [[0.1 * r] for r in range(11)]
    values, grads, _ = c.value_and_grad_batch(rows)
    for r, row in enumerate(rows):
        want = interpret(f, row)
        assert bits([values[r], *grads[r]]) == bits([want[0], *want[1]])


# ---- through Compiled, against the interpreter -------------------------------------------------
@needs_simd
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_compiled_batches_equal_the_interpreter_row_by_row(monkeypatch, level, act):
    monkeypatch.setenv(native.SIMD_ENV, level)
    f, params = mlp_params([2, 5, 3, 2], seed=3, act=act)
    c = compile_grad(f, [0.1, 0.2, 1.0], params=params, backend="c")
    assert native.simd_of(c.c_source) == level
    rows = [[0.3 * math.sin(r), 0.2 * r - 1.0, 1.0 if r % 3 else -1.0] for r in range(21)]
    rows[10] = [900.0, -900.0, 1.0]  # large activations: flags in the block's lanes
    values, grads, total = c.value_and_grad_batch(rows)
    _, no_input_grads, total_p = c.value_and_grad_batch(rows, input_grads=False)
    sums = [0.0] * len(params)
    for r, row in enumerate(rows):
        want = interpret(f, row, params)
        assert bits([values[r], *grads[r]]) == bits([want[0], *want[1][:3]])
        sums = [a + b for a, b in zip(sums, want[1][3:])]
    assert bits(total) == bits(sums) and bits(total_p) == bits(sums)
    assert no_input_grads is None
    assert bits(c.forward_batch(rows)) == bits(values)


@needs_simd
def test_errors_name_the_first_failing_row_inside_a_block(monkeypatch):
    monkeypatch.setenv(native.SIMD_ENV, LEVELS[-1])

    def f(x, y):
        return (x - 1.0).log() + y / x

    c = compile_grad(f, [3.0, 1.0], backend="c")
    rows = [[2.0 + r, 1.0] for r in range(20)]
    for at in (0, 5, 6, 13):
        bad = [list(r) for r in rows]
        bad[at] = [1.0, 1.0]
        with pytest.raises(ValueError) as info:
            c.value_and_grad_batch(bad)
        assert any(f"row {at}" in note for note in info.value.__notes__)
    inf_rows = [list(r) for r in rows]
    inf_rows[6] = [math.inf, 2.0]
    values, grads, _ = c.value_and_grad_batch(inf_rows)
    for r, row in enumerate(inf_rows):
        want = interpret(f, row)
        assert bits([values[r], *grads[r]]) == bits([want[0], *want[1]])


# ---- choosing the instruction set --------------------------------------------------------------
@pytest.fixture
def fresh_choice():
    native.forget_compiler()
    yield
    native.forget_compiler()


@needs_simd
def test_the_environment_lowers_the_instruction_set(monkeypatch, fresh_choice):
    for level in LEVELS:
        monkeypatch.setenv(native.SIMD_ENV, level)
        assert native.simd() is vector.SIMDS[level]
    monkeypatch.setenv(native.SIMD_ENV, "avx512")  # never above what the CPU runs
    assert native.simd() is vector.SIMDS[LEVELS[-1]]
    monkeypatch.delenv(native.SIMD_ENV)
    assert native.simd() is vector.SIMDS[LEVELS[min(len(LEVELS), 2) - 1]]  # up to AVX2
    monkeypatch.setenv(native.SIMD_ENV, "NONE")
    assert native.simd() is None
    c = compile_grad(lambda x: x.tanh(), [0.5], backend="c")
    assert c.backend == "c" and native.simd_of(c.c_source) is None
    monkeypatch.setenv(native.SIMD_ENV, "avx3")
    with pytest.raises(ValueError, match="AUTOGRAD_LITE_SIMD must be one of"):
        native.simd()


@needs_cc
@pytest.mark.parametrize("cpu, want", [("none", None), ("sse2", "sse2"), ("avx2", "avx2"),
                                       ("avx512", "avx2")])
def test_the_cpu_decides_the_instruction_set(monkeypatch, fresh_choice, cpu, want):
    """A CPU without SSE2 block code (not x86-64) gets scalar code; one without AVX, SSE2's;
    AVX-512 only when asked for ($AUTOGRAD_LITE_SIMD=avx512: measured slower by default)."""
    monkeypatch.delenv(native.SIMD_ENV, raising=False)
    monkeypatch.setattr(native, "_cpu_level", [cpu])
    if want is not None and want not in LEVELS:
        pytest.skip(f"this CPU does not run {want}")
    got = native.simd()
    assert (got.name if got else None) == want
    c = compile_grad(lambda x: x.exp() * 2.0, [0.5], backend="c")
    assert native.simd_of(c.c_source) == want
    rows = [[0.25 * r] for r in range(9)]
    assert bits(c.forward_batch(rows)) == bits([math.exp(0.25 * r) * 2.0 for r in range(9)])


def test_cpu_detection_reads_the_flags():
    level = native.cpu_simd()
    assert level in native.SIMD_LEVELS
    try:
        flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0]
    except (OSError, IndexError):
        return
    if " avx512f" in flags:
        assert level == "avx512"
    elif " avx2" in flags:
        assert level == "avx2"


@needs_cc
def test_a_compiler_without_vector_types_gets_scalar_code(tmp_path, monkeypatch, fresh_choice):
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("needs gcc or cc on PATH to wrap")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "cc"
    # A compiler that rejects any source using vector types (as an old or odd compiler would).
    script.write_text("#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in *.c) "
                      "grep -q vector_size \"$a\" && { echo 'no vector types' >&2; exit 1; };; "
                      f"esac; done\nexec {gcc} \"$@\"\n")
    script.chmod(0o755)
    monkeypatch.setenv("CC", str(script))
    monkeypatch.delenv(native.SIMD_ENV, raising=False)
    assert native.find_compiler()[0][0] == str(script)
    assert native.simd() is None
    c = compile_grad(lambda x: (x * 3.0).tanh(), [0.5], backend="c")
    assert c.backend == "c" and native.simd_of(c.c_source) is None
    rows = [[0.1 * r] for r in range(10)]
    assert bits(c.forward_batch(rows)) == bits([math.tanh(0.1 * r * 3.0) for r in range(10)])


def test_no_compiler_means_no_instruction_set(tmp_path, monkeypatch, fresh_choice):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("PATH", str(empty))
    assert native.simd() is None


@needs_simd
def test_the_instruction_set_is_in_the_cache_key(monkeypatch):
    seen = []
    real = native.cache_key

    def spy(*args, **kw):
        seen.append(args[4] if len(args) > 4 else kw.get("simd_tag"))
        return real(*args, **kw)

    monkeypatch.setattr(native, "cache_key", spy)
    for level in ["none", *LEVELS]:
        monkeypatch.setenv(native.SIMD_ENV, level)
        native.forget_loaded()
        compile_grad(lambda x: x.sin() * x, [0.5], backend="c")
    lanes = {"sse2": 2, "avx2": 4, "avx512": 8}
    assert seen == ["simd: none", *(f"simd: {lv} x{lanes[lv]}" for lv in LEVELS)]


# ---- the upper halves of the vector registers --------------------------------------------------
_HARNESS = r"""
#include <cpuid.h>
typedef int (*fw_t)(long, const double *, const double *, double *, long *, double *);
static unsigned long long xinuse(void) {
  unsigned int lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
  return ((unsigned long long)hi << 32) | lo;
}
__attribute__((target("avx"))) static void clean(void) { __builtin_ia32_vzeroupper(); }
int can_check(void) {
  unsigned int a, b, c, d;
  return __get_cpuid_count(13, 1, &a, &b, &c, &d) && (a & 4);
}
__attribute__((target("avx"))) static void dirty(double *p) {
  typedef double v4 __attribute__((vector_size(32)));
  __asm__ volatile("vmovupd %0, %%ymm5" : : "m"(*(v4 *)p) : "xmm5");
}
/* Upper-state bits in use (YMM_Hi128 = 4, ZMM_Hi256 = 64) before and after a call. */
long long after_call(fw_t f, long n, const double *X, const double *P, double *V, long *fail,
                     double *T, long long *before, int make_dirty) {
  double spare[4] = {1, 2, 3, 4};
  clean();
  *before = (long long)(xinuse() & 68);
  if (make_dirty) dirty(spare); else f(n, X, P, V, fail, T);
  return (long long)(xinuse() & 68);
}
"""


def _harness(tmp_path):
    found = native.find_compiler()
    lib = tmp_path / "harness.so"
    src = tmp_path / "harness.c"
    src.write_text(_HARNESS)
    done = subprocess.run([*found[0], "-shared", "-fPIC", "-O1", "-o", str(lib), str(src)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot build the xgetbv harness: {done.stderr[:200]}")
    h = ctypes.CDLL(str(lib))
    if not h.can_check():
        pytest.skip("this CPU cannot report which register state is in use (XGETBV 1)")
    h.after_call.restype = ctypes.c_longlong
    h.after_call.argtypes = [ctypes.c_void_p, ctypes.c_long, *[ctypes.c_void_p] * 5,
                             ctypes.POINTER(ctypes.c_longlong), ctypes.c_int]
    return h


def _avx_levels():
    return [lv for lv in LEVELS if vector.SIMDS[lv].vzeroupper]


@needs_simd
def test_avx_code_leaves_the_upper_register_halves_clean(tmp_path):
    if not _avx_levels():
        pytest.skip("no AVX on this machine")
    h = _harness(tmp_path)
    before = ctypes.c_longlong(-1)
    # The check can see dirty state: a function that writes a ymm register leaves it set.
    assert h.after_call(None, 0, None, None, None, None, None, ctypes.byref(before), 1) != 0
    assert before.value == 0

    def f(x, y):  # library calls inside the vector code, selects, parameters
        return (x * y).tanh() + (x - y).relu() * y.exp() + (x / y).sigmoid()

    rows = [[0.1 * r, 1.0 + 0.01 * r] for r in range(20)]
    for level in _avx_levels():
        raw = Raw(f, [0.5, 1.0], [], vector.SIMDS[level])
        X = array("d", [v for r in rows for v in r])
        V = array("d", bytes(8 * 20))
        T = array("d", bytes(8 * (raw.size + 64)))
        fail = ctypes.c_long()
        fw = ctypes.cast(raw.lib.al_fw, ctypes.c_void_p).value
        got = h.after_call(fw, 20, X.buffer_info()[0], None, V.buffer_info()[0],
                           ctypes.addressof(fail), T.buffer_info()[0], ctypes.byref(before), 0)
        assert before.value == 0 and got == 0, (level, got)
        assert bits(V) == bits([interpret(f, r)[0] for r in rows])


@needs_simd
def test_every_exit_and_library_call_of_avx_code_follows_a_vzeroupper(tmp_path):
    objdump = shutil.which("objdump")
    if objdump is None or not _avx_levels():
        pytest.skip("needs objdump and AVX")
    for level in _avx_levels():
        graph = _Graph(lambda x, y: (x * y).exp() + (x / y).tanh() + x.sqrt(), [1.0, 2.0], [],
                       "test")
        prog = _Program(graph, 0, emit._CEmitter(len(graph.order)))
        source, _, _ = emit.c_blocks_source(prog, 2, 0, len(graph.order), simd=vector.SIMDS[level])
        cmd, _ = native.find_compiler()
        lib = native._build(native.PRELUDE + source, cmd,
                            [*native._FLAGS_BASE, "-O1", *native.SIMD_FLAGS])
        path = tmp_path / f"{level}.so"
        path.write_bytes(lib)
        asm = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(path)],
                             capture_output=True, text=True, check=True).stdout
        checked = 0
        for name, body in re.findall(r"<(\w+)>:\n(.*?)(?=\n\n|\Z)", asm, re.S):
            dirty = False  # in program order: a straight line, as these functions are
            for line in body.splitlines():
                if "vzeroupper" in line:
                    dirty = False
                elif re.search(r"%[yz]mm", line):
                    dirty = True
                elif re.search(r"\bcall\b.*@plt|\bjmp\b.*@plt", line) or (
                        re.search(r"\bret\b", line) and not name.startswith("al_v1_")):
                    # (a lane helper returns its vector to vector code: that exit is internal)
                    assert not dirty, f"{level}: {name} leaves upper state dirty at {line}"
                    checked += 1
        assert checked > 0


@needs_simd
def test_a_program_past_the_block_limit_gets_scalar_code(monkeypatch):
    def f(x, y):
        return (x * y).tanh() + y.exp()

    graph = _Graph(f, [0.5, 0.25], [], "test")
    prog = _Program(graph, 0, emit._CEmitter(len(graph.order)))
    lines = len(prog.forward) + len(prog.backward)
    simd = vector.SIMDS[LEVELS[-1]]
    monkeypatch.setattr(native, "BLOCKS_MAX_LINES", lines)
    source, _, _ = emit.c_blocks_source(prog, 2, 0, len(graph.order), simd=simd)
    assert native.simd_of(source) == LEVELS[-1]
    monkeypatch.setattr(native, "BLOCKS_MAX_LINES", lines - 1)
    source, _, _ = emit.c_blocks_source(prog, 2, 0, len(graph.order), simd=simd)
    assert native.simd_of(source) is None


def test_scratch_slots_are_reused_once_their_value_is_dead():
    def f(x, y):
        h = x
        for _ in range(300):  # values nothing reads later: their slots are reused
            h = (h + 1.0) * y
        return h

    graph = _Graph(f, [0.5, 0.25], [], "test")
    prog = _Program(graph, 0, emit._CEmitter(len(graph.order)))
    source, size, _ = emit._c_source(prog, 2, 0, len(graph.order))
    assert len(graph.order) > 600 and size < 0.25 * 2 * len(graph.order)  # was 2 per node
    slots = {int(t) for t in re.findall(r"T\[(\d+)\]", source)}
    assert max(slots) < size
