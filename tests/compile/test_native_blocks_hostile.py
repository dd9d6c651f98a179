"""Block code (rows in SIMD lanes) under hostile input: user C templates whose meaning the
vector rewrite could change, templates nested deeper than the rewrite's parser follows, and
flags raised in every lane of a block with an `accumulate` buffer. The answer is always the
scalar code's (and the interpreter's), bit for bit, or scalar code for that graph."""

from __future__ import annotations

import math
from array import array

import pytest

from autograd_lite import Value, compile_grad, primitive
from autograd_lite.compile import native, vector

from ..oracles import interpret
from .test_native_blocks import LEVELS, bits, needs_cc, needs_simd


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Libraries go to a cache directory of this test session, not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg"))


def _horner(out, x):
    """A degree-130 polynomial: its derived C text nests 130 parentheses deep."""
    r = x
    for _ in range(130):
        r = r * x + 1.0
    return r


deep_poly = primitive("deep_poly_hostile", _horner)(lambda x: _horner(None, x))

# C's integer arithmetic inside a user's template: `(c ? 1 : 0) / 2` and `ilogb(x) / 2` are
# integer divisions in the scalar code (0 for 1 / 2, 0 for -1 / 2), not 0.5 and -0.5.
half_step = primitive("half_step_hostile", lambda out, x: 0.0 * x,
                      c="((({a} > 0.0) ? 1 : 0) / 2 + {a})")(lambda x: x)
half_ilogb = primitive("half_ilogb_hostile", lambda out, x: 0.0 * x,
                       c="(ilogb({a}) / 2 + {a})")(
    lambda x: (math.frexp(x)[1] - 1) // 2 * (x != 0.0) + x)


def test_a_template_nested_deeper_than_python_s_stack_is_outside_the_dialect():
    for text in ["(" * 400 + "T[1]" + ")" * 400, "-" * 3000 + "T[1]",
                 "(T[1] + " * 300 + "1.0" + ")" * 300]:
        with pytest.raises(vector.Unsupported):
            vector.VectorText().expr(text)
    assert vector.VectorText().expr("(" * 20 + "T[1]" + ")" * 20).count("(") == 20


@needs_cc
@pytest.mark.parametrize("level", ["none", *LEVELS])
def test_a_user_primitive_with_a_deeply_nested_partial_compiles_and_matches(monkeypatch,
                                                                            level):
    monkeypatch.setenv(native.SIMD_ENV, level)
    c = compile_grad(lambda x: deep_poly(x) * 2.0 + x.tanh(), [0.5], backend="c")
    assert c.backend == "c"
    rows = [[0.01 * r - 0.05] for r in range(11)]
    values, grads, _ = c.value_and_grad_batch(rows)
    for r, row in enumerate(rows):
        want = interpret(lambda x: deep_poly(x) * 2.0 + x.tanh(), row)
        assert bits([values[r], *grads[r]]) == bits([want[0], *want[1]])


def test_integer_valued_text_is_outside_the_dialect():
    for bad in ("(((T[1] > 0.0) ? 1 : 0) / 2)", "(ilogb(T[1]) / 2)", "expf(T[1])",
                "((T[2] < T[1]) ? (1 + 2) : 3)"):
        with pytest.raises(vector.Unsupported):
            vector.VectorText().expr(bad)
    text = vector.VectorText()  # a double on either side: C converts, as the vector code does
    assert text.expr("((T[1] > 0.0) ? 1 : 0.5)") == \
        "(al_sel((((vl)(VT[1] > al_bc(0.0)))), al_bc(1), al_bc(0.5)))"
    assert text.expr("2 * T[1] + ilogb(P[0]) / 2") == \
        "((al_bc(2) * VT[1]) + al_bc((ilogb(P[0]) / 2)))"


@needs_simd
@pytest.mark.parametrize("op", [half_step, half_ilogb], ids=["select", "int_call"])
def test_c_integer_arithmetic_in_a_user_template_gives_the_scalar_code_s_numbers(
        monkeypatch, op):
    rows = [[0.5 + r] for r in range(9)] + [[-3.0], [0.25]]
    monkeypatch.setenv(native.SIMD_ENV, "none")
    want = compile_grad(lambda x: op(x), [0.5], backend="c").forward_batch(rows)
    assert bits(want[:2]) == bits([0.5, 1.5])  # C's integer division: 1 / 2 and -1 / 2 are 0
    for level in LEVELS:
        monkeypatch.setenv(native.SIMD_ENV, level)
        c = compile_grad(lambda x: op(x), [0.5], backend="c")
        assert bits(c.forward_batch(rows)) == bits(want), level


@needs_simd
@pytest.mark.parametrize("level", LEVELS)
def test_an_error_in_any_lane_names_its_row_and_leaves_accumulate_as_it_was(monkeypatch,
                                                                            level):
    monkeypatch.setenv(native.SIMD_ENV, level)
    p = [Value(0.5), Value(2.0)]

    def f(x, y):
        return (x - 1.0).log() * p[0] + y / x * p[1]

    c = compile_grad(f, [3.0, 1.0], params=p, backend="c")
    assert native.simd_of(c.c_source) == level
    lanes = vector.SIMDS[level].lanes
    n = 2 * lanes + lanes - 1  # two full blocks and a padded tail
    for at in range(n):
        rows = [[2.0 + r, 1.0] for r in range(n)]
        rows[at] = [1.0, 1.0]  # log(0): the interpreter's ValueError
        acc = array("d", [1.0, -3.0])
        with pytest.raises(ValueError) as info:
            c.value_and_grad_batch(rows, accumulate=acc)
        assert f"(in row {at} of the batch)" in info.value.__notes__
        assert list(acc) == [1.0, -3.0]
    rows = [[2.0 + r, 1.0] for r in range(n)]
    acc = array("d", [1.0, -3.0])
    c.value_and_grad_batch(rows, accumulate=acc)
    sums = [1.0, -3.0]
    for row in rows:
        sums = [a + b for a, b in zip(sums, interpret(f, row, p)[1][2:])]
    assert bits(acc) == bits(sums)


@needs_simd
def test_block_code_larger_than_the_byte_limit_gives_scalar_code(monkeypatch):
    """The compile time follows the block code's size: a graph of heavy nodes (selects, lane
    calls) under the statement limit can cost 3.7x a light one's (bench: softplus/sigmoid)."""
    from autograd_lite.compile import emit
    from autograd_lite.compile.program import _Program
    from autograd_lite.compile.trace import _Graph

    def f(x, y):
        return (x * y).softplus().sigmoid() + x.maximum(y)

    graph = _Graph(f, [0.5, 0.25], [], "test")
    prog = _Program(graph, 0, emit._CEmitter(len(graph.order)))
    simd = vector.SIMDS[LEVELS[-1]]
    source, _, _ = emit.c_blocks_source(prog, 2, 0, len(graph.order), simd=simd)
    assert native.simd_of(source) == LEVELS[-1]
    monkeypatch.setattr(native, "BLOCKS_MAX_BYTES", len(source))
    assert emit.c_blocks_source(prog, 2, 0, len(graph.order), simd=simd)[0] == source
    monkeypatch.setattr(native, "BLOCKS_MAX_BYTES", len(source) - 1)
    scalar = emit.c_blocks_source(prog, 2, 0, len(graph.order), simd=simd)[0]
    assert native.simd_of(scalar) is None
    assert scalar == emit._c_source(prog, 2, 0, len(graph.order))[0]
    monkeypatch.setenv(native.SIMD_ENV, LEVELS[-1])
    c = compile_grad(f, [0.5, 0.25], backend="c")
    assert native.simd_of(c.c_source) is None
    rows = [[0.1 * r - 1.0, 0.3] for r in range(9)]
    values, grads, _ = c.value_and_grad_batch(rows)
    for r, row in enumerate(rows):
        want = interpret(f, row)
        assert bits([values[r], *grads[r]]) == bits([want[0], *want[1]])


@needs_simd
def test_a_vector_probe_killed_by_sigill_steps_down_a_level(tmp_path, monkeypatch):
    """An instruction set /proc/cpuinfo lists but the CPU (or a hypervisor) does not run: the
    child that loads the probe dies of SIGILL, never this process; the next level is used."""
    import shutil

    if len(LEVELS) < 2:
        pytest.skip("needs two vector instruction sets")
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("needs gcc or cc on PATH to wrap")
    top, below = vector.SIMDS[LEVELS[-1]], vector.SIMDS[LEVELS[-2]]
    (tmp_path / "sigill.h").write_text("#include <signal.h>\n__attribute__((constructor)) "
                                       "static void al_sigill(void) { raise(SIGILL); }\n")
    script = tmp_path / "cc"
    script.write_text("#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in *.c) "
                      f"grep -q '{top.name}, {top.lanes} rows' \"$a\" && exec {gcc} -include "
                      f"{tmp_path / 'sigill.h'} \"$@\";; esac; done\nexec {gcc} \"$@\"\n")
    script.chmod(0o755)
    monkeypatch.setenv("CC", str(script))
    monkeypatch.setenv(native.SIMD_ENV, top.name)
    native.forget_compiler()
    try:
        assert native.find_compiler()[0][0] == str(script)
        assert native.simd() is below
    finally:
        native.forget_compiler()


def test_a_32_bit_interpreter_on_an_x86_64_kernel_gets_no_block_code(monkeypatch):
    """platform.machine() is the kernel's: a 32-bit Python there is i386, whose compiler's
    baseline is not SSE2 (the "sse2" level's code has no target attribute)."""
    monkeypatch.setattr(native, "_cpu_level", [])
    monkeypatch.setattr(native.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(native, "_POINTER_BYTES", 4)
    assert native.cpu_simd() == "none"
    monkeypatch.setattr(native, "_cpu_level", [])
    monkeypatch.setattr(native, "_POINTER_BYTES", 8)
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            listed = " sse2" in f.read()
    except OSError:
        listed = False
    assert (native.cpu_simd() != "none") == listed
