"""Native replay (`compile_grad(..., backend="c")`) and the batch API, against the interpreter.

The oracle is the interpreter: `grad()` on the graph `f` records at the same inputs. The C code
calls the same libm functions as Python's `math` (no -ffast-math, no FMA contraction, no
compile-time folding), so values and gradients must be equal, not just close. Tests that need a
C compiler skip without one; the fallback tests run everywhere.
"""

from __future__ import annotations

import gc
import math
import os
import re
import stat
import subprocess
import threading
import warnings
import weakref
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import PRIMITIVES, Value, compile_grad, detect_anomaly, primitive
from autograd_lite.compile import DataDependenceWarning, native
from autograd_lite.compile import compiled as compile_mod
from autograd_lite.compile.native import NativeUnavailableError, NativeUnavailableWarning
from autograd_lite.testing import expressions, finite_floats

from ..oracles import interpret

HAVE_CC = not isinstance(native.find_compiler(), str)
needs_cc = pytest.mark.skipif(not HAVE_CC, reason="no working C compiler (apt-get install gcc)")
C_PRIMS = [p for p in PRIMITIVES.values() if native.c_template(p) is not None]
EXAMPLES = min(settings().max_examples, 25)  # each example runs the C compiler


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Libraries go to a cache directory of this test session, not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg"))


def same(a: float, b: float) -> bool:
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b) or (a != a and b != b)


def assert_same(got, want):
    assert same(got[0], want[0]), (got, want)
    assert len(got[1]) == len(want[1])
    assert all(same(g, w) for g, w in zip(got[1], want[1])), (got, want)


def outcome(fn, *args):
    try:
        return fn(*args)
    except (ArithmeticError, ValueError) as e:
        return type(e), str(e)


def test_every_builtin_primitive_has_a_c_template():
    assert set(C_PRIMS) == set(PRIMITIVES.values())


@needs_cc
@settings(max_examples=EXAMPLES)
@given(expressions(n_nodes=(1, 10), primitives=C_PRIMS),
       st.lists(st.lists(finite_floats(-2.0, 2.0), min_size=3, max_size=3), min_size=1,
                max_size=4))
def test_native_matches_interpreter_on_random_graphs(e, rows):
    c = compile_grad(e, e.inputs, backend="c")
    assert c.backend == "c"
    assert_same(c.value_and_grad(e.inputs), interpret(e, e.inputs))
    assert same(c.forward(e.inputs), e(*e.inputs))
    # Other points: the interpreter's numbers, or its exact error.
    for row in rows:
        xs = row[: len(e.inputs)]
        got = outcome(c.value_and_grad, xs)
        want = outcome(interpret, e, xs)
        if isinstance(want[0], type) and isinstance(got[0], type):
            assert got == want
        elif not isinstance(want[0], type):
            assert_same(got, want)


def mlp_params(sizes, seed=1, act="tanh"):
    """An MLP's loss over inputs x[:-1] and target x[-1] (`act` between layers), and its
    parameters."""
    import random
    rng = random.Random(seed)
    layers, params = [], []
    for nin, nout in zip(sizes, sizes[1:]):
        layer = [([Value(rng.uniform(-1, 1)) for _ in range(nin)], Value(rng.uniform(-1, 1)))
                 for _ in range(nout)]
        for ws, b in layer:
            params += [*ws, b]
        layers.append(layer)

    def f(*x):
        h = list(x[:-1])
        for k, layer in enumerate(layers):
            outs = [sum((w * v for w, v in zip(ws, h)), b) for ws, b in layer]
            h = outs if k == len(layers) - 1 else [getattr(o, act)() for o in outs]
        return (h[0] * -x[-1] + 1.0).relu() + (h[-1] - x[-1]).sigmoid().log()

    return f, params


@pytest.mark.parametrize("backend", ["python", pytest.param("c", marks=needs_cc)])
def test_batch_equals_single_calls_and_sums_param_grads_in_row_order(backend):
    f, params = mlp_params([2, 4, 3, 1])
    c = compile_grad(f, [0.1, 0.2, 1.0], params=params, backend=backend)
    assert c.backend == backend
    rows = [[0.3, -0.5, 1.0], [1.5, 0.2, -1.0], [-0.7, 0.9, 1.0], [0.0, 0.0, -1.0]]
    values, input_grads, param_grads = c.value_and_grad_batch(rows)
    total = [0.0] * len(params)
    for r, row in enumerate(rows):
        want = interpret(f, row, params)
        assert_same((values[r], input_grads[r] + tuple(want[1][3:])), want)
        total = [a + b for a, b in zip(total, want[1][3:])]
        assert c.forward(row) == want[0]
    assert list(param_grads) == total
    assert c.forward_batch(rows) == values
    assert c.value_and_grad_batch([]) == ([], [], tuple([0.0] * len(params)))


@pytest.mark.parametrize("backend", ["python", pytest.param("c", marks=needs_cc)])
def test_parameter_updates_are_seen(backend):
    f, params = mlp_params([2, 3, 1])
    c = compile_grad(f, [0.1, 0.2, 1.0], params=params, backend=backend)
    row = [0.4, -0.3, 1.0]
    for step in range(3):
        assert_same(c.value_and_grad(row), interpret(f, row, params))
        values, _, pg = c.value_and_grad_batch([row])
        assert pg == interpret(f, row, params)[1][3:]
        for p in params:
            p.data -= 0.1 * (step + 1)


@pytest.mark.parametrize("backend", ["python", pytest.param("c", marks=needs_cc)])
def test_inputs_as_numpy_arrays_and_bad_rows(backend):
    np = pytest.importorskip("numpy")
    c = compile_grad(lambda x, y: (x * y).tanh() + x.exp(), [0.5, 2.0], backend=backend)
    rows = [[0.1, 0.2], [0.3, -1.0], [2.0, 0.5]]
    want = c.value_and_grad_batch(rows)
    assert c.value_and_grad_batch(np.array(rows)) == want  # a float64 buffer, no copy to lists
    a32 = np.array(rows, dtype=np.float32)  # another buffer format: converted value by value
    assert c.value_and_grad_batch(a32) == c.value_and_grad_batch(a32.tolist())
    assert c.value_and_grad_batch(np.array(rows).T.copy().T) == want  # not C-contiguous
    assert c.value_and_grad_batch([np.array(r) for r in rows]) == want
    assert c.forward_batch(np.array(rows)) == c.forward_batch(rows)
    with pytest.raises(ValueError, match="takes 2 inputs, got 3 in row 1"):
        c.value_and_grad_batch([[1.0, 2.0], [1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        c.value_and_grad_batch(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="input 1 of row 0"):
        c.value_and_grad_batch([[1.0, "a"]])
    with pytest.raises(TypeError, match="input 0 of row 1"):
        c.value_and_grad_batch([[1.0, 2.0], [True, 2.0]])
    with pytest.raises(ValueError, match="input 1 of row 2: got NaN"):
        c.value_and_grad_batch([[1.0, 2.0], [1.0, 2.0], [1.0, math.nan]])


@pytest.mark.parametrize("backend", ["python", pytest.param("c", marks=needs_cc)])
def test_errors_are_the_interpreters_and_name_the_row(backend):
    def f(x, y):
        return (x - 1.0).log() + y / x + (y * y).sqrt()

    c = compile_grad(f, [3.0, 1.0], backend=backend)
    for bad in ([1.0, 2.0], [0.5, 2.0], [0.0, 1.0]):
        got = outcome(c.value_and_grad, bad)
        want = outcome(interpret, f, bad)
        assert isinstance(want[0], type) and got == want
        assert outcome(c.forward, bad) == want
    with pytest.raises(ValueError) as info:
        c.value_and_grad_batch([[3.0, 1.0], [2.0, 1.0], [0.5, 1.0], [4.0, 1.0]])
    assert "logarithm" in str(info.value)
    assert any("row 2" in note for note in info.value.__notes__)


@pytest.mark.parametrize("backend", ["python", pytest.param("c", marks=needs_cc)])
def test_non_finite_values_follow_the_interpreter(backend):
    # inf inputs, overflow, inf / 0 (Python raises; IEEE would give inf silently), backward inf.
    def f(x, y):
        return x.exp() * y + y / x

    c = compile_grad(f, [1.0, 2.0], backend=backend)
    for xs in ([800.0, 1.0], [math.inf, 1.0], [1.0, math.inf], [-math.inf, 0.0],
               [1e-320, 1.0], [1.0, 2.0]):
        got = outcome(c.value_and_grad, xs)
        want = outcome(interpret, f, xs)
        if isinstance(want[0], type):
            assert got == want
        else:
            assert_same(got, want)
    values, grads, _ = c.value_and_grad_batch([[800.0, 1.0], [1.0, 2.0], [math.inf, 1.0]])
    for r, xs in enumerate([[800.0, 1.0], [1.0, 2.0], [math.inf, 1.0]]):
        assert_same((values[r], grads[r]), interpret(f, xs))
    s = compile_grad(lambda x: x.sqrt(), [4.0], backend=backend)
    assert_same(s.value_and_grad([0.0]), interpret(lambda x: x.sqrt(), [0.0]))  # inf gradient
    with detect_anomaly():
        got = outcome(s.value_and_grad, [0.0])
        want = outcome(interpret, lambda x: x.sqrt(), [0.0])
    assert isinstance(want[0], type) and issubclass(want[0], al.AnomalyError) and got == want


@pytest.mark.parametrize("backend", ["python", pytest.param("c", marks=needs_cc)])
def test_non_finite_constant_in_the_graph(backend):
    def f(x):
        return (x + math.inf).tanh() + x ** 3 + 1.0 / (x * 0.0 + math.inf)

    c = compile_grad(f, [0.5], backend=backend)
    for xs in ([0.7], [-2.0], [0.0]):
        assert_same(c.value_and_grad(xs), interpret(f, xs))
    if backend == "c":  # under "auto", such a graph uses Python replay (see compile._native)
        assert compile_grad(f, [0.5]).backend == "python"


def cross_entropy(*z):
    import nn
    return nn.losses.cross_entropy([list(z)], [1])


@pytest.mark.parametrize("backend", ["python", pytest.param("c", marks=needs_cc)])
@pytest.mark.parametrize("logits", [[30.0, 0.0, -30.0], [0.0, -720.0, 3.0], [720.0, 0.0, 1.0]])
def test_cross_entropy_replays_the_max_shift_bit_for_bit(backend, logits):
    # Traced at one point, replayed at logits far from it: the shift is a maximum node.
    c = compile_grad(cross_entropy, [0.1, 0.2, 0.3], backend=backend)
    want = interpret(cross_entropy, logits)
    assert_same(c.value_and_grad(logits), want)
    assert same(c.forward(logits), want[0])
    values, grads, _ = c.value_and_grad_batch([logits, [0.1, 0.2, 0.3]])
    assert_same((values[0], grads[0]), want)
    assert same(c.forward_batch([logits])[0], want[0])


class Hostile(float):
    ran: list[str] = []

    def __repr__(self) -> str:
        Hostile.ran.append("repr")
        return "__import__('os').system('echo pwned')"

    def __str__(self) -> str:
        Hostile.ran.append("str")
        return self.__repr__()

    def __format__(self, spec: str) -> str:
        Hostile.ran.append("format")
        return self.__repr__()


@pytest.mark.parametrize("backend", ["python", pytest.param("c", marks=needs_cc)])
def test_constants_are_written_exactly_never_through_repr(backend):
    np = pytest.importorskip("numpy")
    k = Value(1.0)
    k.data = np.float64(0.1)  # repr "np.float64(0.1)": NameError if it reached the source
    h = Value(1.0)
    h.data = Hostile(1.0 / 3.0)
    Hostile.ran.clear()
    c = compile_grad(lambda x: x * k + (x * h).tanh() * 1e-310 + x ** 0.1, [2.0],
                     backend=backend)
    assert Hostile.ran == []
    assert "import" not in c.source and "np." not in c.source
    assert c.c_source is None or ("import" not in c.c_source and "np." not in c.c_source)
    for xs in ([2.0], [0.7]):
        want = interpret(lambda x: x * 0.1 + (x * (1.0 / 3.0)).tanh() * 1e-310 + x ** 0.1, xs)
        assert_same(c.value_and_grad(xs), want)
    assert Hostile.ran == []


@needs_cc
def test_source_is_built_from_the_graph_only():
    label = "*/ #include </etc/passwd> /*"
    v = Value(2.0, label=label)
    name_prim = primitive("evil */ int x; /*", lambda out, x: 1.0)(lambda x: x)
    c = compile_grad(lambda x: x * v, [1.0], backend="c")
    assert label not in c.c_source and "passwd" not in c.c_source
    c = compile_grad(lambda x: name_prim(x), [1.0], backend="c")  # its code is derived
    assert "evil" not in c.c_source and c.value_and_grad([0.5]) == (0.5, (1.0,))


def test_user_primitive_with_underivable_code_uses_python_replay():
    """A forward that calls `math` (not an engine function) cannot be printed as code: the
    primitive is called through its functions in Python replay, and has no C."""
    @primitive("msin", lambda out, x: math.cos(x))
    def msin(x):
        return math.sin(x)

    with warnings.catch_warnings():
        warnings.simplefilter("error", NativeUnavailableWarning)
        c = compile_grad(lambda x: msin(x).tanh(), [0.5])
    assert c.backend == "python"
    assert_same(c.value_and_grad([0.3]), interpret(lambda x: msin(x).tanh(), [0.3]))
    with pytest.raises(NativeUnavailableError, match="'msin' has no C template"):
        compile_grad(lambda x: msin(x).tanh(), [0.5], backend="c")


def test_bad_backend():
    with pytest.raises(ValueError, match="backend must be one of"):
        compile_grad(lambda x: x, [1.0], backend="fortran")


@pytest.fixture
def no_compiler(tmp_path, monkeypatch):
    """CC names a missing program and PATH holds no compiler."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(compile_mod, "_warned_no_compiler", [False])
    native.forget_compiler()
    yield
    native.forget_compiler()


def test_no_compiler_falls_back_with_exactly_one_warning(no_compiler):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c1 = compile_grad(lambda x: x.tanh() * 2.0, [0.5])
        c2 = compile_grad(lambda x: x.exp(), [0.5])
    found = [w for w in caught if issubclass(w.category, NativeUnavailableWarning)]
    assert len(found) == 1 and "apt-get install gcc" in str(found[0].message)
    assert c1.backend == c2.backend == "python"
    assert c1.value_and_grad_batch([[0.1], [0.2]])[0] == [math.tanh(0.1) * 2.0,
                                                           math.tanh(0.2) * 2.0]
    with pytest.raises(NativeUnavailableError, match="no working C compiler"):
        compile_grad(lambda x: x.tanh(), [0.5], backend="c")


@needs_cc
def test_cache_hit_and_private_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    native.forget_loaded()
    builds = native.BUILDS[0]
    compile_grad(lambda x: (x * 1.25).sin(), [0.5], backend="c")
    assert native.BUILDS[0] == builds + 1
    folder = tmp_path / "autograd-lite"
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert len(list(folder.glob("*.so"))) == 1
    native.forget_loaded()  # a new process would find the library on disk
    c = compile_grad(lambda x: (x * 1.25).sin(), [0.5], backend="c")
    assert native.BUILDS[0] == builds + 1 and c.backend == "c"
    assert c.value_and_grad([0.3]) == interpret(lambda x: (x * 1.25).sin(), [0.3])


@needs_cc
def test_tampered_library_is_rebuilt_never_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    native.forget_loaded()

    def f(x):
        return (x * 1.5).cos()

    compile_grad(f, [0.5], backend="c")
    (lib,) = (tmp_path / "autograd-lite").glob("*.so")
    # A valid library that leaves a mark if it is ever loaded, in place of the cached one.
    marker = tmp_path / "loaded"
    src = tmp_path / "evil.c"
    src.write_text('#include <stdio.h>\n__attribute__((constructor)) static void mark(void) '
                   f'{{ FILE *f = fopen("{marker}", "w"); if (f) fclose(f); }}\n'
                   "int al_fw(void) { return 0; }\nint al_vg(void) { return 0; }\n")
    cc = native.find_compiler()[0]
    subprocess.run([*cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    native.forget_loaded()
    builds = native.BUILDS[0]
    c = compile_grad(f, [0.5], backend="c")
    assert not marker.exists()
    assert native.BUILDS[0] == builds + 1
    assert c.value_and_grad([0.2]) == interpret(f, [0.2])
    # Truncated bytes: rebuilt as well.
    lib.write_bytes(lib.read_bytes()[:100])
    native.forget_loaded()
    c = compile_grad(f, [0.5], backend="c")
    assert native.BUILDS[0] == builds + 2 and c.value_and_grad([0.2]) == interpret(f, [0.2])


@needs_cc
def test_threads_share_a_compiled_function():
    f, params = mlp_params([2, 8, 1])
    c = compile_grad(f, [0.1, 0.2, 1.0], params=params, backend="c")
    rows = [[i / 50.0, -i / 70.0, 1.0 if i % 2 else -1.0] for i in range(200)]
    want = c.value_and_grad_batch(rows)
    results = []

    def work():
        for _ in range(5):
            results.append(c.value_and_grad_batch(rows) == want)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 20


def test_data_branch_warns():
    with pytest.warns(DataDependenceWarning):
        c = compile_grad(lambda x: x * 2 if x.data > 0 else x * 3, [1.0])
    assert c.data_dependent


@pytest.mark.parametrize("run", range(5))
def test_other_threads_comparisons_do_not_mark_a_trace(run):
    stop = threading.Event()
    a, b = Value(1.0), Value(2.0)

    def compare():
        while not stop.is_set():
            _ = a < b and float(a) < 3.0 and a.data > 0.0

    t = threading.Thread(target=compare)
    t.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DataDependenceWarning)
            for _ in range(20):
                c = compile_grad(lambda x: (x * 3.0).tanh().relu(), [1.0])
                assert not c.data_dependent
    finally:
        stop.set()
        t.join()


def test_fit_compiled_leaves_no_reference_cycle():
    import nn
    from nn.data import make_blobs
    X, y = make_blobs(24, centers=3, seed=2)
    gc.collect()
    gc.disable()
    try:
        model = nn.MLP(2, [4, 3], seed=0)
        nn.fit(model, X, y, epochs=2, batch_size=8, progress=False, compiled=True)
        ref = weakref.ref(model)
        del model
        assert ref() is None  # freed by reference counting alone
    finally:
        gc.enable()


@pytest.mark.parametrize("backend", ["python", pytest.param("c", marks=needs_cc)])
def test_compiled_outputs_equal_the_interpreters(backend):
    import nn
    from nn.compiled import outputs
    X = [[0.1, -0.2], [1.5, 0.3], [-2.0, 0.7]]
    vec = nn.MLP(2, [5, 3], seed=3)
    assert outputs(vec, X, backend) == [[v.data for v in vec(x)] for x in X]
    scalar = nn.MLP(2, [5, 1], seed=3)
    assert outputs(scalar, X, backend) == [scalar(x).data for x in X]
    for p in scalar.parameters():  # updates are seen by the cached compiled function
        p.data *= 0.5
    assert outputs(scalar, X, backend) == [scalar(x).data for x in X]


def test_accumulate_and_param_data():
    f, params = mlp_params([2, 3, 1])
    c = compile_grad(f, [0.1, 0.2, 1.0], params=params)
    rows = [[0.3, -0.5, 1.0], [1.5, 0.2, -1.0]]
    per_row = [c.value_and_grad_batch([row])[2] for row in rows]
    acc = array("d", [1.0] * len(params))
    data = array("d", [p.data for p in params])
    for p in params:
        p.data = 0.0  # ignored: param_data is used
    values, _, out = c.value_and_grad_batch(rows, param_data=data, accumulate=acc)
    assert out is acc and list(acc) == [1.0 + a + b for a, b in zip(*per_row)]  # row order
    with pytest.raises(TypeError, match="accumulate"):
        c.value_and_grad_batch(rows, accumulate=[0.0] * len(params))
    with pytest.raises(ValueError, match="param_data"):
        c.value_and_grad_batch(rows, param_data=[1.0])


def test_predict_and_evaluate_compiled_equal_the_interpreters():
    import nn
    from nn.data import make_blobs
    X, y = make_blobs(30, centers=3, seed=1)
    model = nn.MLP(2, [6, 3], seed=2)
    assert nn.predict(model, X, compiled=True) == nn.predict(model, X)
    assert nn.evaluate(model, X, y, compiled=True) == nn.evaluate(model, X, y)
    h1 = nn.fit(nn.MLP(2, [6, 3], seed=2), X, y, epochs=2, batch_size=8, progress=False,
                compiled=True, validation=(X, y))
    h0 = nn.fit(nn.MLP(2, [6, 3], seed=2), X, y, epochs=2, batch_size=8, progress=False,
                validation=(X, y))
    assert h1.val_accuracy == h0.val_accuracy
    assert all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(h1.val_loss, h0.val_loss))


# ---- value_and_grad_batch(input_grads=False) ---------------------------------------------------

def batch_outcome(c, rows, **kw):
    try:
        return c.value_and_grad_batch(rows, **kw)
    except (ArithmeticError, ValueError) as e:
        return type(e), str(e)


def assert_batch_same(got, want):
    """input_grads=False against input_grads=True: the same values and parameter gradients
    (bit for bit, signed zeros included), no input gradients."""
    if isinstance(want[0], type):
        assert got == want
        return
    values, none, pg = got
    assert none is None
    assert len(values) == len(want[0])
    for a, b in zip(values, want[0]):
        if isinstance(b, tuple):  # has_aux: (value, aux)
            assert same(a[0], b[0]) and len(a[1]) == len(b[1])
            assert all(same(x, y) for x, y in zip(a[1], b[1]))
        else:
            assert same(a, b), (a, b)
    assert len(pg) == len(want[2]) and all(same(a, b) for a, b in zip(pg, want[2])), (pg, want)


@pytest.mark.parametrize("backend", ["python", pytest.param("c", marks=needs_cc)])
def test_without_input_grads_values_and_param_grads_are_bit_identical(backend):
    f, params = mlp_params([3, 5, 4, 1])
    c = compile_grad(f, [0.1, 0.2, -0.3, 1.0], params=params, backend=backend)
    rows = [[0.3, -0.5, 0.2, 1.0], [1.5, 0.2, -2.0, -1.0], [-0.7, 0.9, 0.0, 1.0],
            [0.0, 0.0, 0.0, -1.0]]
    full = c.value_and_grad_batch(rows)
    assert full[1] is not None and len(full[1]) == len(rows)
    assert_batch_same(c.value_and_grad_batch(rows, input_grads=False), full)
    # The parameter sums are the interpreter's, added in row order.
    total = [0.0] * len(params)
    for row in rows:
        total = [a + b for a, b in zip(total, interpret(f, row, params)[1][4:])]
    assert list(c.value_and_grad_batch(rows, input_grads=False)[2]) == total
    # With param_data and accumulate: the same sums, added into the array.
    data = array("d", [p.data * 0.5 for p in params])
    acc0, acc1 = array("d", [1.0] * len(params)), array("d", [1.0] * len(params))
    want = c.value_and_grad_batch(rows, param_data=data, accumulate=acc0)
    got = c.value_and_grad_batch(rows, param_data=data, accumulate=acc1, input_grads=False)
    assert got[2] is acc1 and list(acc1) == list(acc0)
    assert_batch_same(got, want)
    # Parameter updates are seen; an empty batch has zero gradients.
    for p in params:
        p.data += 0.25
    assert_batch_same(c.value_and_grad_batch(rows, input_grads=False),
                      c.value_and_grad_batch(rows))
    assert c.value_and_grad_batch([], input_grads=False) == ([], None, (0.0,) * len(params))


@pytest.mark.parametrize("backend", ["python", pytest.param("c", marks=needs_cc)])
def test_without_input_grads_errors_and_non_finite_rows_are_the_interpreters(backend):
    w = Value(0.5)

    def f(x, y):
        return (x - 1.0).log() * w + y / x + (x * w).exp() * y

    c = compile_grad(f, [3.0, 1.0], params=[w], backend=backend)
    for rows in ([[3.0, 1.0], [2.0, 1.0], [0.5, 1.0], [4.0, 1.0]],     # log domain error, row 2
                 [[3.0, 1.0], [900.0, 1.0], [2.0, -0.0]],               # overflow: IEEE inf
                 [[3.0, math.inf], [2.0, 1.0], [math.inf, 1.0]],       # inf inputs
                 [[2.0, 1.0], [2.0, math.nan]]):                        # NaN: the caller's error
        assert_batch_same(batch_outcome(c, rows, input_grads=False), batch_outcome(c, rows))
    with pytest.raises(ValueError, match="input 1 of row 1: got NaN"):
        c.value_and_grad_batch([[2.0, 1.0], [2.0, math.nan]], input_grads=False)
    for bad in (math.inf, math.nan):  # a non-finite parameter: every row is the interpreter's
        w.data = bad
        rows = [[3.0, 1.0], [2.0, 0.5]]
        assert_batch_same(batch_outcome(c, rows, input_grads=False), batch_outcome(c, rows))


@needs_cc
def test_nan_input_raises_before_any_row_is_added():
    f, params = mlp_params([2, 3, 1])
    c = compile_grad(f, [0.1, 0.2, 1.0], params=params, backend="c")
    acc = array("d", [2.0] * len(params))
    for input_grads in (True, False):
        with pytest.raises(ValueError, match="input 0 of row 3: got NaN"):
            c.value_and_grad_batch([[0.1, 0.2, 1.0]] * 3 + [[math.nan, 0.0, 1.0]],
                                   accumulate=acc, input_grads=input_grads)
        assert list(acc) == [2.0] * len(params)


@needs_cc
@settings(max_examples=EXAMPLES)
@given(expressions(n_inputs=3, n_nodes=(1, 10), primitives=C_PRIMS), st.integers(0, 3),
       st.lists(st.lists(finite_floats(-2.0, 2.0), min_size=3, max_size=3), min_size=1,
                max_size=4))
def test_without_input_grads_on_random_graphs(e, n_params, rows):
    # The last n_params inputs of a random graph become parameters; the rest stay inputs.
    k = 3 - n_params
    params = [Value(v) for v in e.inputs[k:]]

    def f(*xs):
        return e(*xs, *params)

    c = compile_grad(f, e.inputs[:k], params=params, backend="c")
    batch = [e.inputs[:k], *(row[:k] for row in rows)]
    got, want = batch_outcome(c, batch, input_grads=False), batch_outcome(c, batch)
    if isinstance(want[0], type) and not isinstance(got[0], type):
        # The full sweep flagged a row in an input's gradient (e.g. d/dx x ** 0.5 at 0), so
        # the interpreter re-ran it and raised in a node the output does not depend on (only
        # live nodes are replayed; the sweep without input gradients raised no flag).
        n = len(e.inputs)
        live = {n + len(e.nodes) - 1}
        for j in range(n + len(e.nodes) - 1, n - 1, -1):
            if j in live:
                live.update(i for i in e.nodes[j - n][1] if i >= n)
        assert len(live) < len(e.nodes)
        return
    assert_batch_same(got, want)


@needs_cc
def test_without_input_grads_the_sweep_skips_input_only_statements():
    # f's gradient w.r.t. its 8 inputs costs statements that feed nothing else: the first
    # layer's products x_i * w_ij contribute to the inputs' gradients (dropped) and to the
    # weights' (kept). The C program without them is shorter and is a library of its own.
    f, params = mlp_params([8, 4, 1])
    c = compile_grad(f, [0.1] * 8 + [1.0], params=params, backend="c")
    full, cut = c.c_source, c.c_source_params
    assert cut is not None and cut != full

    def statements(src):
        return sum(1 for line in src.splitlines() if line.startswith(("  T[", "  VT[")))

    # Each of the 8 inputs feeds 4 neurons: 4 contributions to its gradient, at least.
    assert statements(cut) <= statements(full) - 8 * 4
    stores = re.compile(r"(?<!P)G\[")
    assert stores.search(full) and not stores.search(cut)  # no input gradients stored
    builds = native.BUILDS[0]
    rows = [[0.2 * i - 0.5 for i in range(8)] + [1.0], [0.1] * 8 + [-1.0]]
    assert_batch_same(c.value_and_grad_batch(rows, input_grads=False), c.value_and_grad_batch(rows))
    assert native.BUILDS[0] == builds + 1  # the cut program: built once, on first use
    c.value_and_grad_batch(rows, input_grads=False)
    assert native.BUILDS[0] == builds + 1
    # A second function with the same graph finds both libraries in the cache.
    f2, params2 = mlp_params([8, 4, 1])
    c2 = compile_grad(f2, [0.1] * 8 + [1.0], params=params2, backend="c")
    assert_batch_same(c2.value_and_grad_batch(rows, input_grads=False),
                      c.value_and_grad_batch(rows))
    assert native.BUILDS[0] == builds + 1
