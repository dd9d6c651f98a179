"""Block code that the compiler refuses is retried as scalar C code (the same numbers, one row
at a time), with one warning per process and instruction set: `backend="c"` does not raise and
"auto" does not drop to Python replay. Only when the scalar code fails too has the build failed.
The instruction set is decided when the `Compiled` is made: changing $AUTOGRAD_LITE_SIMD
afterwards, even to a bad value, never reaches a library built on first use.
"""

from __future__ import annotations

import math
import struct
import warnings

import pytest

from autograd_lite import Value, compile_grad
from autograd_lite.compile import backends, emit, native
from autograd_lite.compile.native import NativeUnavailableError, NativeUnavailableWarning

from ..oracles import interpret

HAVE_CC = not isinstance(native.find_compiler(), str)
HAVE_SIMD = HAVE_CC and native.simd() is not None
pytestmark = pytest.mark.skipif(not HAVE_SIMD, reason="needs a C compiler and vector code")


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    """An empty cache, no library loaded, the once-per-process warning re-armed."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(native.SIMD_ENV, raising=False)
    monkeypatch.setattr(backends, "_warned_blocks", set())
    native.forget_loaded()
    yield
    native.forget_loaded()


def bits(xs) -> list[str]:
    return [struct.pack("<d", x).hex() for x in xs]


W = Value(0.75)


def f(x, y):
    return (x * W + y).tanh() * y.exp() + (x / y).log()


ROWS = [[0.1 * r + 0.05, 0.5 + 0.2 * r] for r in range(11)]  # blocks and a tail
BAD = [[1.0, 0.5], [0.0, 1.0], [2.0, 0.5]]  # log(0): a flagged block, the interpreter's error


def reference(rows):
    values, grads, total = [], [], [0.0]
    for row in rows:
        value, g = interpret(f, row, [W])
        values.append(value)
        grads.append(bits(g[:2]))
        total = [total[0] + g[2]]
    return bits(values), grads, bits(total)


def same(got, rows) -> bool:
    values, grads, total = got
    want = reference(rows)
    return (bits(values), [bits(g) for g in grads], bits(total)) == want


def refuse_block_code(monkeypatch) -> list[int]:
    """Block code gets a line no compiler accepts (scalar code is left alone); the count of
    block sources generated."""
    real = emit.c_blocks_source
    made = [0]

    def broken(*args, **kwargs):
        source, size, used = real(*args, **kwargs)
        if native.simd_of(source) is not None:
            made[0] += 1
            head, rest = source.split("\n", 1)
            source = f"{head}\nthis is not C, block code refused;\n{rest}"
        return source, size, used

    monkeypatch.setattr(emit, "c_blocks_source", broken)
    return made


def block_warnings(record) -> list[str]:
    return [str(w.message) for w in record if w.category is NativeUnavailableWarning]


@pytest.mark.parametrize("backend", ["c", "auto"])
def test_block_code_that_does_not_compile_is_built_as_scalar_code_with_one_warning(
        monkeypatch, backend):
    made = refuse_block_code(monkeypatch)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        c = compile_grad(f, [0.5, 0.25], params=[W], backend=backend)
        assert c.backend == "c"
        assert same(c.value_and_grad_batch(ROWS), ROWS)
        # The program without input gradients: block code refused again, said no more.
        got = c.value_and_grad_batch(ROWS, input_grads=False)
        assert got[1] is None and bits(got[2]) == reference(ROWS)[2]
    said = block_warnings(record)
    assert made[0] == 2 and len(said) == 1, said
    assert "block code" in said[0] and "this is not C" in said[0] and "scalar C code" in said[0]
    assert c.simd is None  # what runs: scalar code
    assert native.simd_of(c.c_source) is None and native.simd_of(c.c_source_params) is None
    # Errors are still the interpreter's, named by row.
    with pytest.raises(ValueError, match="log") as e:
        c.value_and_grad_batch(BAD)
    assert "(in row 1 of the batch)" in e.value.__notes__
    assert c.value_and_grad(ROWS[3]) == interpret(f, ROWS[3], [W])


def test_a_second_graph_whose_block_code_fails_is_not_warned_again(monkeypatch):
    refuse_block_code(monkeypatch)
    with pytest.warns(NativeUnavailableWarning, match="scalar C code"):
        compile_grad(f, [0.5, 0.25], params=[W], backend="c")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NativeUnavailableWarning)
        c = compile_grad(lambda x: x.sin() * 3.5 + x, [0.5], backend="c")
        assert bits(c.forward_batch([[0.1 * r] for r in range(9)])) == bits(
            [math.sin(0.1 * r) * 3.5 + 0.1 * r for r in range(9)])


def test_when_scalar_code_fails_too_the_build_has_failed(monkeypatch):
    refuse_block_code(monkeypatch)
    real = native._build

    def scalar_refused(source, cmd, flags, *rest):
        if "vector_size" not in source:  # scalar code
            raise NativeUnavailableError("C compiler cc failed on the generated source "
                                         "(exit 1): scalar code refused too")
        return real(source, cmd, flags, *rest)

    monkeypatch.setattr(native, "_build", scalar_refused)
    with pytest.raises(NativeUnavailableError, match="this is not C"):  # the first failure
        compile_grad(f, [0.5, 0.25], params=[W], backend="c")
    c = compile_grad(f, [0.5, 0.25], params=[W])
    with pytest.warns(NativeUnavailableWarning, match="Python replay") as record:
        assert same(c.value_and_grad_batch(ROWS), ROWS)
    assert not [m for m in block_warnings(record) if "scalar C code is used" in m]


def test_a_working_block_library_is_not_rebuilt_as_scalar_code():
    start = native.BUILDS[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", NativeUnavailableWarning)
        c = compile_grad(f, [0.5, 0.25], params=[W], backend="c")
        assert same(c.value_and_grad_batch(ROWS), ROWS)
    assert native.BUILDS[0] == start + 1 and c.simd is not None


# ---- the instruction set is decided when the Compiled is made -----------------------------------
@pytest.mark.parametrize("later", ["avx3", "none", "sse2"])
def test_changing_the_simd_variable_after_compiling_changes_nothing(monkeypatch, later):
    c = compile_grad(f, [0.5, 0.25], params=[W])  # (auto: nothing built yet)
    chosen = native.simd()
    monkeypatch.setenv(native.SIMD_ENV, later)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert same(c.value_and_grad_batch(ROWS), ROWS)  # built now, as decided then
        got = c.value_and_grad_batch(ROWS, input_grads=False)
    assert bits(got[2]) == reference(ROWS)[2]
    assert c.simd == f"{chosen.name} x{chosen.lanes}"
    if later == "avx3":  # a new Compiled is told, clearly
        with pytest.raises(ValueError, match="AUTOGRAD_LITE_SIMD must be one of"):
            compile_grad(f, [0.5, 0.25], params=[W])


def test_the_level_asked_for_at_compile_time_is_the_one_built(monkeypatch):
    monkeypatch.setenv(native.SIMD_ENV, "none")
    c = compile_grad(f, [0.5, 0.25], params=[W])
    monkeypatch.delenv(native.SIMD_ENV)
    assert same(c.value_and_grad_batch(ROWS), ROWS)
    assert c.simd is None and native.simd_of(c.c_source) is None
