"""The C libraries are built on first use, each once: compiling builds none (with "auto"), a
compiled fit's calls (`value_and_grad_batch(input_grads=False)`, `forward_batch`) build one,
the full program is built only when input gradients are asked for. With backend="c" the full
library is built at once, so a failed build raises from `compile_grad`. A build that fails
later warns once and that program runs as Python replay, with the interpreter's numbers.
Builds are counted with `native.BUILDS` in a fresh cache; no timing. Whether a constant is
inf or nan (with "auto": Python replay) is known without generating a program.
"""

from __future__ import annotations

import math
import struct
import warnings
from array import array

import pytest
from hypothesis import HealthCheck, assume, given, settings

from autograd_lite import PRIMITIVES, Value, compile_grad
from autograd_lite.compile import emit, native
from autograd_lite.compile.native import NativeUnavailableError, NativeUnavailableWarning
from autograd_lite.compile.program import _Program, non_finite_constant
from autograd_lite.compile.trace import _Graph
from autograd_lite.testing import expressions

from ..oracles import interpret

HAVE_CC = not isinstance(native.find_compiler(), str)
pytestmark = pytest.mark.skipif(not HAVE_CC, reason="no working C compiler")


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    """An empty library cache, on disk and in this process: every library is a build."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    native.forget_loaded()
    yield
    native.forget_loaded()


def bits(xs) -> list[str]:
    return [struct.pack("<d", x).hex() for x in xs]


def model(scale: float):
    """A one-neuron model of 2 inputs, and its parameters (a new graph for each `scale`)."""
    w, b = Value(0.5), Value(-0.25)

    def f(x, y):
        return ((x * w + y * scale) + b).tanh() * y

    return f, [w, b]


ROWS = [[0.2 * r - 0.7, 0.9 - 0.15 * r] for r in range(9)]


def reference(f, params, rows):
    """The interpreter's (values, input gradients, parameter gradients summed in row order)."""
    values, grads, total = [], [], [0.0] * len(params)
    for row in rows:
        value, g = interpret(f, row, params)
        values.append(value)
        grads.append(tuple(g[:2]))
        total = [a + b for a, b in zip(total, g[2:])]
    return values, grads, tuple(total)


def same(got, want) -> bool:
    values, grads, total = got
    return bits(values) == bits(want[0]) and bits(total) == bits(want[2]) and (
        grads is None or [bits(g) for g in grads] == [bits(g) for g in want[1]])


def builds() -> int:
    return native.BUILDS[0]


def test_compiling_builds_nothing_and_training_builds_one_library():
    f, params = model(1.25)
    start = builds()
    c = compile_grad(f, [0.1, 0.2], params=params)
    assert c.backend == "c" and builds() == start  # the backend is chosen, nothing built
    want = reference(f, params, ROWS)
    got = c.value_and_grad_batch(ROWS, input_grads=False)
    assert got[1] is None and same(got, want)
    assert builds() == start + 1
    c.value_and_grad_batch(ROWS, input_grads=False)
    assert bits(c.forward_batch(ROWS)) == bits(want[0])  # the loaded library serves
    assert builds() == start + 1
    assert same(c.value_and_grad_batch(ROWS), want)  # input gradients: the full program
    assert builds() == start + 2


def test_a_forward_pass_first_builds_the_program_training_uses():
    f, params = model(1.5)
    c = compile_grad(f, [0.1, 0.2], params=params)
    start = builds()
    want = reference(f, params, ROWS)
    assert bits(c.forward_batch(ROWS)) == bits(want[0])
    assert c.forward(ROWS[3]) == want[0][3]
    assert builds() == start + 1
    assert same(c.value_and_grad_batch(ROWS, input_grads=False), want)
    assert builds() == start + 1
    value, grads = c.value_and_grad(ROWS[2])
    assert (value, grads) == interpret(f, ROWS[2], params)
    assert builds() == start + 2


def test_input_gradients_first_build_the_full_program_then_training_its_own():
    f, params = model(1.75)
    c = compile_grad(f, [0.1, 0.2], params=params)
    start = builds()
    want = reference(f, params, ROWS)
    assert same(c.value_and_grad_batch(ROWS), want)
    assert bits(c.forward_batch(ROWS)) == bits(want[0])
    assert builds() == start + 1
    assert same(c.value_and_grad_batch(ROWS, input_grads=False), want)
    assert builds() == start + 2


def test_the_sources_are_generated_on_first_use_and_kept():
    f, params = model(2.25)
    c = compile_grad(f, [0.1, 0.2], params=params)
    assert not c._impl.generated()
    full, cut = c.c_source, c.c_source_params
    assert full is not None and cut is not None and full != cut
    assert c.c_source is full and c.c_source_params is cut  # generated once
    start = builds()
    assert same(c.value_and_grad_batch(ROWS), reference(f, params, ROWS))
    assert builds() == start + 1  # generating is not building


def test_backend_c_builds_the_full_library_before_returning():
    f, params = model(2.5)
    start = builds()
    c = compile_grad(f, [0.1, 0.2], params=params, backend="c")
    assert builds() == start + 1
    assert same(c.value_and_grad_batch(ROWS), reference(f, params, ROWS))
    assert builds() == start + 1


def no_room(monkeypatch):
    """Every build from now on fails: no temporary directory can be made (a full disk)."""
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(native.tempfile, "mkdtemp", full)


def test_backend_c_whose_build_fails_raises_at_compile_time(monkeypatch):
    f, params = model(2.75)
    compile_grad(f, [0.1, 0.2], params=params)  # (the compiler and vector code are probed)
    no_room(monkeypatch)
    with pytest.raises(NativeUnavailableError, match="No space left"):
        compile_grad(f, [0.1, 0.2], params=params, backend="c")


def test_a_build_that_fails_at_first_use_warns_once_and_runs_python_replay(monkeypatch):
    f, params = model(3.25)
    c = compile_grad(f, [0.1, 0.2], params=params)
    no_room(monkeypatch)
    want = reference(f, params, ROWS)
    with pytest.warns(NativeUnavailableWarning, match="No space left.*Python replay") as got:
        assert same(c.value_and_grad_batch(ROWS), want)
    assert len([w for w in got if w.category is NativeUnavailableWarning]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", NativeUnavailableWarning)  # said once: never again
        assert same(c.value_and_grad_batch(ROWS), want)
        assert c.value_and_grad(ROWS[4]) == interpret(f, ROWS[4], params)
        # The NaN check the C function makes is made for the Python replay too.
        with pytest.raises(ValueError, match=r"compiled input 1 of row 2: got NaN") as e:
            c.value_and_grad_batch([ROWS[0], ROWS[1], [0.5, math.nan]])
        assert "(in row 2 of the batch)" in e.value.__notes__
    # The program without input gradients fails on its own first use: said once too.
    with pytest.warns(NativeUnavailableWarning, match="without input gradients.*Python replay"):
        assert same(c.value_and_grad_batch(ROWS, input_grads=False), want)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NativeUnavailableWarning)
        assert bits(c.forward_batch(ROWS)) == bits(want[0])
        acc = array("d", [1.0, -2.0])
        c.value_and_grad_batch(ROWS, accumulate=acc, input_grads=False)
        expect = [1.0, -2.0]  # each row's gradients added in turn, from the values given
        for row in ROWS:
            expect = [a + g for a, g in zip(expect, interpret(f, row, params)[1][2:])]
        assert bits(acc) == bits(expect)
    assert c.backend == "c"  # the choice made at compile time; the warning said what runs


def test_a_failed_training_build_uses_the_full_library_when_it_is_loaded(monkeypatch):
    f, params = model(3.5)
    c = compile_grad(f, [0.1, 0.2], params=params)
    want = reference(f, params, ROWS)
    assert same(c.value_and_grad_batch(ROWS), want)
    no_room(monkeypatch)
    start = builds()
    with pytest.warns(NativeUnavailableWarning, match="full program is used"):
        got = c.value_and_grad_batch(ROWS, input_grads=False)
    assert got[1] is None and same(got, want) and builds() == start


def test_threads_on_first_use_build_each_library_once():
    from concurrent.futures import ThreadPoolExecutor

    f, params = model(3.75)
    c = compile_grad(f, [0.1, 0.2], params=params)
    start = builds()
    want = reference(f, params, ROWS)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: c.value_and_grad_batch(ROWS, input_grads=False),
                                range(8)))
    assert all(same(r, want) for r in results)
    assert builds() == start + 1


# ---- the choice made without generating a program ------------------------------------------
C_PRIMS = [p for p in PRIMITIVES.values() if native.c_template(p) is not None]


@pytest.mark.parametrize("how", ["constant", "folded", "power", "unused", "none"])
@pytest.mark.parametrize("k", [1.5, math.inf, -math.inf])
@settings(deadline=None, max_examples=min(settings().max_examples, 10),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(e=expressions(n_inputs=(1, 3), n_nodes=(1, 8), primitives=C_PRIMS))
def test_the_non_finite_check_agrees_with_the_generated_programs(how, k, e):
    """`non_finite_constant` tells, before any C is generated, what the C emitter finds while
    generating (the "auto" backend's choice of Python replay rests on it)."""
    w = Value(0.5)

    def f(*xs):
        y = e(*xs) * w
        if how == "constant":
            return y + k  # a leaf constant the program writes in
        if how == "folded":
            return y + Value(2.0) * k  # a node of no input, folded into its value
        if how == "power":
            return (y * y + 1.0) ** k  # a constant operand of a primitive
        if how == "unused":
            _ = Value(3.0) * k  # made inside f, not on the output's path
        return y

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = _Graph(f, list(e.inputs), [w], "test", False)
    except (ArithmeticError, ValueError):
        assume(False)
    for input_grads in (True, False):
        cemit = emit._CEmitter(len(graph.order))
        _Program(graph, 1, cemit, input_grads=input_grads)
        assert non_finite_constant(graph) == cemit.non_finite, (how, k, input_grads)
