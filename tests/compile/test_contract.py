"""Compiled replay's contract (docs/compiled.md): the interpreter's answer for the function and
the model as they are now, or a clear error. Parameters are leaves; `param_data` never touches
the shared parameters; a failing batch leaves `accumulate` alone and names its row on every
backend; batches are sequences of rows of real numbers; implicit caches (predict, evaluate,
fit with compiled=True) are re-checked at every call and never keep a model alive.

The oracle is the interpreter: the same function built from fresh Values, `grad()` on it.
"""

from __future__ import annotations

import gc
import math
import threading
import warnings
import weakref
from array import array

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import nn.compiled
from autograd_lite import Value, compile_grad, grad, no_grad
from autograd_lite.compile import GraphChangedError, native

HAVE_CC = not isinstance(native.find_compiler(), str)
BACKENDS = ["python", pytest.param("c", marks=pytest.mark.skipif(
    not HAVE_CC, reason="no working C compiler"))]


def within_ulp(a: float, b: float) -> bool:
    """Equal, or (C's libm may differ) one ulp apart; NaNs equal each other."""
    if a != a or b != b:
        return a != a and b != b
    return a == b or abs(a - b) <= math.ulp(max(abs(a), abs(b)))


def same_all(got, want) -> bool:
    return len(got) == len(want) and all(within_ulp(a, b) for a, b in zip(got, want))


# ---- a small function with parameters, and its interpreter -----------------------------------
def make_f(w: Value, b: Value):
    def f(x: Value, y: Value) -> Value:
        return (x * w + y).log() * b + (w * y).tanh()
    return f


def reference(xs, wd: float, bd: float):
    """(value, gradients: inputs then parameters) by the interpreter at parameters (wd, bd)."""
    w, b = Value(wd), Value(bd)
    vs = [Value(v) for v in xs]
    out = make_f(w, b)(*vs)
    return out.data, tuple(grad(out, [*vs, w, b], allow_unused=True, materialize_grads=True))


def compiled(backend: str, wd: float = 0.5, bd: float = -1.5):
    w, b = Value(wd), Value(bd)
    return compile_grad(make_f(w, b), [2.0, 1.0], params=[w, b], backend=backend), w, b


# ---- 1. what is baked in: check=True names what changed ---------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_check_names_the_constant_or_op_that_changed(backend):
    w = Value(1.5)
    state = {"mean": 0.5, "power": 2}

    def f(x: Value) -> Value:
        return (x * w - state["mean"]) ** state["power"]

    c = compile_grad(f, [1.0], params=[w], check=True, backend=backend)
    w.data = -2.0  # a parameter: read at every call
    assert same_all(c.value_and_grad([3.0])[1], reference_grads(f, [3.0], [w]))
    state["mean"] = -0.0
    with pytest.raises(GraphChangedError, match=r"the constant 0\.5, now the constant -0\.0"):
        c.value_and_grad([3.0])
    state["mean"], state["power"] = 0.5, 3
    with pytest.raises(GraphChangedError, match=r"powc\(2\.0\) of nodes \[\d+\], now powc\(3\.0\)"):
        c.forward([3.0])


def reference_grads(f, xs, params):
    vs = [Value(v) for v in xs]
    return grad(f(*vs), [*vs, *params], allow_unused=True, materialize_grads=True)


# ---- 2. parameters are leaves ------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_non_leaf_parameter_is_refused_at_compile_time(backend):
    g = Value(2.0)
    half = g * 0.5
    with pytest.raises(ValueError, match=r"params\[1\].*not a leaf.*'mul'"):
        compile_grad(lambda x: x * half, [1.0], params=[g, half], backend=backend)


def test_optimizers_refuse_a_non_leaf_like_torch():
    w = Value(1.0)
    for make in (nn.SGD, nn.Adam):
        with pytest.raises(ValueError, match="non-leaf.*parameter 1"):
            make([w, w * 2.0], lr=0.1)


class Derived(nn.Module):
    """A reported model: a 'parameter' that is a computed Value."""

    def __init__(self) -> None:
        self.g = Value(3.0)
        self.w = self.g * 0.5  # not a leaf

    def parameters(self) -> list[Value]:
        return [self.w]

    def forward(self, x):
        return self.w * x[0]


def test_module_with_a_non_leaf_parameter_is_an_error_in_every_compiled_path():
    m = Derived()
    X, y = [[1.0], [2.0]], [0.5, 1.0]
    with pytest.raises(ValueError, match="parameter 'w' is not a leaf"):
        nn.predict(m, X, compiled=True)
    with pytest.raises(ValueError, match="parameter 'w' is not a leaf"):
        nn.evaluate(m, X, y, compiled=True)
    with pytest.raises(ValueError, match="non-leaf"):  # the optimizer fit makes refuses it
        nn.fit(m, X, y, compiled=True, progress=False, epochs=1)
    with pytest.raises(ValueError, match="parameter 'w' is not a leaf"):
        nn.compiled.CompiledStep(m, nn.losses.mse)


# ---- 3. param_data never writes the shared .data -----------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_param_data_gives_the_interpreters_answer_at_those_values(backend):
    c, w, b = compiled(backend)
    # inf input and a domain error send rows to the interpreter; non-finite params, all rows.
    rows = [[2.0, 1.0], [math.inf, 1.0], [0.5, 3.0]]
    for pd in ([2.0, 0.25], [0.1, -3.0], [math.inf, 1.0]):
        values, grads, total = c.value_and_grad_batch(rows, param_data=pd)
        refs = [reference(r, *pd) for r in rows]
        assert same_all(values, [r[0] for r in refs])
        for g, r in zip(grads, refs):
            assert same_all(g, r[1][:2])
        for j in range(2):  # summed in row order
            want = 0.0
            for r in refs:
                want += r[1][2 + j]
            assert within_ulp(total[j], want)
        assert same_all(c.forward_batch(rows, param_data=pd), [r[0] for r in refs])
        assert (w.data, b.data) == (0.5, -1.5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_param_data_errors_are_the_interpreters_at_those_values(backend):
    c, w, _ = compiled(backend)
    with pytest.raises(ValueError, match="log") as info:
        c.value_and_grad_batch([[1.0, 2.0], [1.0, 0.5]], param_data=[-1.0, 1.0])
    assert "(in row 1 of the batch)" in info.value.__notes__
    assert w.data == 0.5


@pytest.mark.parametrize("backend", BACKENDS)
def test_another_thread_never_sees_param_data(backend):
    # Every row goes to the interpreter (an inf input), the path that used to write the
    # values into .data for the duration of the row; a reader in another thread watches.
    c, w, b = compiled(backend)
    seen: set[float] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.add(w.data)
            seen.add(b.data)

    t = threading.Thread(target=watch)
    t.start()
    try:
        for _ in range(60):
            c.value_and_grad_batch([[math.inf, 1.0]] * 3, param_data=[7.0, 9.0])
            c.forward_batch([[math.inf, 1.0]] * 3, param_data=[7.0, 9.0])
    finally:
        stop.set()
        t.join()
    assert seen == {0.5, -1.5}


@pytest.mark.parametrize("backend", BACKENDS)
def test_threads_with_their_own_param_data_each_get_the_interpreters_answer(backend):
    c, _, _ = compiled(backend)
    rows = [[2.0, 1.0], [math.inf, 2.0], [0.5, 3.0], [1.5, 0.25]]
    settings = [[0.5 + 0.25 * i, -1.0 + i] for i in range(4)]
    want = {i: [reference(r, *pd) for r in rows] for i, pd in enumerate(settings)}
    errors: list[str] = []

    def run(i: int) -> None:
        for _ in range(30):
            values, grads, _ = c.value_and_grad_batch(rows, param_data=settings[i])
            if not (same_all(values, [r[0] for r in want[i]])
                    and all(same_all(g, r[1][:2]) for g, r in zip(grads, want[i]))):
                errors.append(f"thread {i}: {values} vs {[r[0] for r in want[i]]}")
                return

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# ---- 3. accumulate and the row note on a failing batch -----------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("input_grads", [True, False])
@given(bad=st.integers(0, 5), n=st.integers(1, 6))
def test_failing_batch_leaves_accumulate_and_names_the_row(backend, input_grads, bad, n):
    c, _, _ = compiled(backend)
    rows = [[1.0 + i, 0.5] for i in range(n)]
    bad = bad % n
    rows[bad] = [-5.0, 0.5]  # log of a negative number: the interpreter's ValueError
    acc = array("d", [1.25, -2.5])
    with pytest.raises(ValueError, match="log") as info:
        c.value_and_grad_batch(rows, accumulate=acc, input_grads=input_grads)
    assert acc.tolist() == [1.25, -2.5]
    assert f"(in row {bad} of the batch)" in info.value.__notes__
    with pytest.raises(ValueError, match="log") as info:
        c.forward_batch(rows)
    assert f"(in row {bad} of the batch)" in info.value.__notes__


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_row_is_named_and_nothing_is_added(backend):
    c, _, _ = compiled(backend)
    acc = array("d", [0.0, 0.0])
    with pytest.raises(ValueError, match="input 1 of row 2: got NaN") as info:
        c.value_and_grad_batch([[1.0, 1.0], [2.0, 1.0], [1.0, math.nan]], accumulate=acc)
    assert "(in row 2 of the batch)" in info.value.__notes__ and acc.tolist() == [0.0, 0.0]


# ---- 3. what a batch is -------------------------------------------------------------------------
ROWS = [[2, 1], [4, 3], [1, 0]]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int8, np.uint8,
                                   np.int16, np.int32, np.int64, np.uint64])
def test_numpy_batches_of_any_real_dtype(backend, dtype):
    c, _, _ = compiled(backend)
    a = np.array(ROWS, dtype=dtype)
    want = c.value_and_grad_batch([[float(v) for v in r] for r in a.tolist()])
    assert c.value_and_grad_batch(a) == want
    assert c.value_and_grad_batch(np.asfortranarray(a)) == want  # not C-contiguous
    assert c.value_and_grad_batch(a[::-1][::-1]) == want
    assert c.forward_batch(a) == want[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_rows_as_sequences_of_every_kind(backend):
    c, _, _ = compiled(backend)
    want = c.value_and_grad_batch(ROWS)
    kinds = [[tuple(r) for r in ROWS], tuple(ROWS), [array("d", r) for r in ROWS],
             [np.array(r, dtype=np.float32) for r in ROWS], (r for r in ROWS),
             [[np.int64(v) for v in r] for r in ROWS]]
    for rows in kinds:
        assert c.value_and_grad_batch(rows) == want


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batches_give_empty_results(backend):
    c, _, _ = compiled(backend)
    for rows in ([], (), np.zeros((0, 2)), np.zeros((0, 2), dtype=np.int32)):
        assert c.forward_batch(rows) == []
        assert c.value_and_grad_batch(rows) == ([], [], (0.0, 0.0))
        acc = array("d", [1.0, 2.0])
        assert c.value_and_grad_batch(rows, accumulate=acc, input_grads=False)[2] is acc
        assert acc.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        c.forward_batch(np.zeros((0, 3)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rows, got", [
    ([{0: 1.0, 1: 2.0}], "dict"), ([{1.0, 2.0}], "set"), (["ab"], "str"), ([b"ab"], "bytes"),
    ([frozenset({1.0, 2.0})], "frozenset"), ([1.0, 2.0], "float"),
    ([[True, 1.0]], "bool"), ([[1.0, "2"]], "str"), ([[1.0, 1j]], "complex"),
    ([[1.0, None]], "NoneType"), (np.array([[True, False]]), "bool"),
    (np.array([[1 + 0j, 2]]), "complex"), (np.array([[1.0, "a"]], dtype=object), "str"),
    ({0: [1.0, 2.0]}, "dict"), ({(1.0, 2.0)}, "set"), ("12", "str"), (3.0, "float"),
])
def test_anything_else_is_a_type_error_naming_what_it_got(backend, rows, got):
    c, _, _ = compiled(backend)
    for call in (c.forward_batch, c.value_and_grad_batch):
        with pytest.raises(TypeError, match=got):
            call(rows)


# ---- 1. implicit caches: never a stale model ---------------------------------------------------
class Standardised(nn.Module):
    """A model reading plain-float attributes (a mean, a temperature) and a private Value."""

    def __init__(self) -> None:
        self.mlp = nn.MLP(2, [4, 3], activation="tanh", seed=1)
        self.mean = 0.0
        self.temperature = 1.0
        self._shift = Value(0.0)  # private: not a parameter, a constant of the trace
        self.table = {"scale": 1.0}
        self.centre = np.zeros(2)

    def forward(self, x):
        z = [(xi - self.mean - float(self.centre[i])) * self.table["scale"]
             for i, xi in enumerate(x)]
        return [o * (1.0 / self.temperature) + self._shift for o in self.mlp(z)]


def interpreted(model, X):
    with no_grad():
        outs = [model(x) for x in X]
    return [o.data if isinstance(o, Value) else [v.data for v in o] for o in outs]


def same_rows(got, want) -> bool:
    """Per-row outputs (floats or lists of floats) equal to the last ulp."""
    def flat(o):
        return [v for r in o for v in (r if isinstance(r, list) else [r])]
    return got is not None and same_all(flat(got), flat(want))


def assert_outputs_match(model, X, backend):
    got = nn.compiled.outputs(model, X, backend)
    if got is None:  # the interpreter (a model that branches on data)
        return
    assert same_rows(got, interpreted(model, X)), got


X4 = [[0.1, 0.2], [0.5, -0.3], [1.0, 2.0], [-1.5, 0.25]]


def changes_users_make(m: Standardised) -> list:
    return [
        lambda: setattr(m, "mean", 0.7),
        lambda: setattr(m, "temperature", 0.3),
        lambda: setattr(m, "mean", -0.0),
        lambda: m._shift.__setattr__("data", 2.0),
        lambda: m.table.__setitem__("scale", 3.0),
        lambda: m.centre.__setitem__(1, 0.5),  # in place: same array object
        lambda: m.mlp.layers.__setitem__(1, nn.Layer(4, 3, seed=7)),
        lambda: m.mlp.layers[0].neurons[2].w.__setitem__(0, Value(-4.0)),
        lambda: m.mlp.layers.append(nn.Layer(3, 3, seed=8)),
        lambda: setattr(m.mlp.layers[0].neurons[0], "_act", lambda z: z.sin()),
        lambda: setattr(m.mlp.layers[0].neurons[0], "_act", lambda z: z.relu()),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_outputs_follow_every_change_to_the_model(backend):
    m = Standardised()
    for change in changes_users_make(m):
        assert_outputs_match(m, X4, backend)  # the cache holds the model as it is...
        change()
        assert_outputs_match(m, X4, backend)  # ... and must see the change


def test_predict_and_evaluate_follow_every_change_to_the_model():
    m = Standardised()
    y = [0, 2, 1, 1]
    for change in changes_users_make(m):
        nn.evaluate(m, X4, y, compiled=True)
        change()
        assert nn.evaluate(m, X4, y, compiled=True) == nn.evaluate(m, X4, y)
        change()  # (a second time: most changes are no-ops now; a fresh Value is not)
        assert nn.predict(m, X4, compiled=True) == nn.predict(m, X4)


class Opaque:
    """An object the snapshot cannot read: the cache re-traces to compare."""

    def __init__(self) -> None:
        self.k = 1.0


class WithOpaque(nn.Module):
    def __init__(self, closure_scale: list[float]) -> None:
        self.mlp = nn.MLP(2, [3, 1], seed=2)
        self.cfg = Opaque()
        self.scale = lambda v: v * closure_scale[0]

    def forward(self, x):
        return self.scale(self.mlp(x) * self.cfg.k)


@pytest.mark.parametrize("backend", BACKENDS)
def test_state_the_snapshot_cannot_read_is_guarded_by_a_retrace(backend):
    cell = [1.0]
    m = WithOpaque(cell)
    assert_outputs_match(m, X4, backend)
    assert_outputs_match(m, X4, backend)  # a cache hit: the re-trace finds the same graph
    m.cfg.k = -2.5
    assert_outputs_match(m, X4, backend)
    cell[0] = 0.125  # inside a closure cell's list
    assert_outputs_match(m, X4, backend)
    m.mlp.layers[0].neurons[1].b.data = 3.0  # a parameter: read at every call
    assert_outputs_match(m, X4, backend)


class Branches(nn.Module):
    """Branches on data only once `clip` is set: traced again, then run by the interpreter."""

    def __init__(self) -> None:
        self.w = Value(1.5)
        self.clip: float | None = None

    def forward(self, x):
        out = self.w * x[0]
        if self.clip is not None and out > self.clip:
            return out * 0.0 + self.clip
        return out


def test_a_change_that_makes_the_model_branch_uses_the_interpreter():
    m = Branches()
    X = [[0.5], [3.0]]
    assert nn.compiled.outputs(m, X) is not None
    m.clip = 1.0
    assert nn.compiled.outputs(m, X) is None  # the interpreter's numbers instead
    assert nn.predict(m, X, compiled=True, threshold=1.2) == [0, 0]


class Tempered(nn.Module):
    def __init__(self) -> None:
        self.mlp = nn.MLP(2, [4, 1], activation="tanh", seed=3)
        self.temperature = 1.0

    def forward(self, x):
        return self.mlp(x) * (1.0 / self.temperature)


def test_fit_sees_a_model_changed_between_batches():
    # lr_schedule runs at the start of each epoch: it changes a plain-float attribute, the
    # compiled step must trace again (and take the interpreter's steps).
    X = [[0.1 * i, 0.05 * i - 0.3] for i in range(16)]
    y = [0.5 * math.sin(i) for i in range(16)]
    runs = []
    for compiled in (True, False):
        m = Tempered()

        def schedule(epoch: int, m: Tempered = m) -> float:
            m.temperature = 1.0 + epoch
            return 0.05

        opt = nn.SGD(m.parameters(), lr=0.05)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no fallback
            h = nn.fit(m, X, y, loss="mse", optimizer=opt, epochs=3, batch_size=4,
                       progress=False, compiled=compiled, lr_schedule=schedule)
        runs.append((h.loss, [p.data for p in m.parameters()]))
    (l1, p1), (l0, p0) = runs
    assert same_all(l1, l0) and same_all(p1, p0)


# ---- 4. no cache keeps a model alive -----------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_deleted_model_is_collected(backend):
    m = Standardised()
    assert nn.compiled.outputs(m, X4, backend) is not None
    nn.evaluate(m, X4, [0, 1, 2, 0], compiled=True)
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None


def test_fit_with_compiled_replay_leaves_the_model_collectable():
    m = nn.MLP(2, [3, 1], seed=0)
    nn.fit(m, X4, [0, 1, 1, 0], epochs=2, batch_size=2, progress=False, compiled=True,
           validation=(X4, [0, 1, 1, 0]))
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None


# ---- threads and the implicit caches ------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_threads_share_models_and_caches(backend):
    # Four threads, two models (one changed between calls by its thread): each call equals the
    # interpreter for the model as it is at that call.
    models = [Standardised(), Standardised()]
    want = {i: interpreted(m, X4) for i, m in enumerate(models)}
    errors: list[str] = []

    def run(i: int) -> None:
        m = models[i % 2]
        for _ in range(8):
            got = nn.compiled.outputs(m, X4, backend)
            if i % 2 == 0 and not same_rows(got, want[0]):
                errors.append(f"thread {i}: {got} vs {want[0]}")
            if i == 1:  # the only thread touching model 1: a change, then its answer
                m.temperature = 2.0 if m.temperature == 1.0 else 1.0
                got = nn.compiled.outputs(m, X4, backend)
                ref = interpreted(m, X4)
                if not same_rows(got, ref):
                    errors.append(f"thread 1 after a change: {got} vs {ref}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


class ClassLevel(nn.Module):
    """A constant and the forward on the class, not the instance."""

    scale = 2.0

    def __init__(self) -> None:
        self.mlp = nn.MLP(2, [3, 2], seed=4)

    def forward(self, x):
        return [o * self.scale for o in self.mlp(x)]


def test_class_level_constants_and_methods_are_guarded():
    m = ClassLevel()
    assert_outputs_match(m, X4, "python")
    ClassLevel.scale = -0.5
    assert_outputs_match(m, X4, "python")
    ClassLevel.forward = lambda self, x: [o.exp() for o in self.mlp(x)]
    assert_outputs_match(m, X4, "python")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("xs, got", [({0: 1.0, 1: 2.0}, "dict"), ({1.0, 2.0}, "set"),
                                     ("12", "str"), (3.0, "float"), ([True, 1.0], "bool")])
def test_one_row_calls_refuse_what_is_not_a_row(backend, xs, got):
    c, _, _ = compiled(backend)
    for call in (c.forward, c.value_and_grad, c.backward):
        with pytest.raises(TypeError, match=got):
            call(xs)


def test_a_user_primitives_type_error_names_the_row():
    # Not an arithmetic error: Python replay does not hand it to the interpreter, yet the
    # batch's note is the same as for any other error.
    from autograd_lite import primitive

    @primitive("picky", lambda out, x: 1.0)
    def picky(x):
        return x if x < 5.0 else "five or more"

    c = compile_grad(lambda x: picky(x) * 2.0, [1.0], backend="python")
    for call in (c.forward_batch, c.value_and_grad_batch):
        with pytest.raises(TypeError, match="picky") as info:
            call([[1.0], [2.0], [6.0]])
        assert "(in row 2 of the batch)" in info.value.__notes__
    with pytest.raises(TypeError, match="picky") as info:  # the interpreter's error
        picky(Value(6.0))


_WRITES_DURING_TRACE: list[float] = []


class ChangedWhileTracing(nn.Module):
    """Stands for another thread writing `mean` between the cache's snapshot and the trace."""

    def __init__(self) -> None:
        self.w = Value(2.0)
        self.mean = 0.0

    def forward(self, x):
        if _WRITES_DURING_TRACE:
            self.mean = _WRITES_DURING_TRACE.pop()
        return self.w * x[0] - self.mean


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_model_changed_during_the_trace_is_not_trusted(backend):
    m = ChangedWhileTracing()
    _WRITES_DURING_TRACE.append(1.0)
    assert_outputs_match(m, X4, backend)  # traced with mean 1.0, snapshot taken at 0.0
    m.mean = 0.0  # back to the state the first snapshot saw: the trace is not that state's
    assert_outputs_match(m, X4, backend)
    # fit's step, likewise
    step = nn.compiled.CompiledStep(m, nn.losses.mse, backend=backend)
    opt = nn.SGD(m.parameters(), lr=0.0)
    X, y = [[1.0], [2.0]], [0.5, 1.0]
    step(m, X, y, nn.losses.mse, opt)  # traces, verifies against the interpreter
    _WRITES_DURING_TRACE.append(1.0)
    m.mean = 0.5  # a change: the next step traces again, meeting the write
    step(m, X, y, nn.losses.mse, opt)
    m.mean = 0.5  # undo the write: traced again (and verified by the interpreter) ...
    step(m, X, y, nn.losses.mse, opt)
    loss, _ = step(m, X, y, nn.losses.mse, opt)  # ... then replayed
    assert step.verified and step.fallback is None
    assert loss == nn.train_batch(m, X, y, nn.losses.mse, opt)[0]


@pytest.mark.skipif(not HAVE_CC, reason="no working C compiler")
def test_a_batch_stays_at_the_parameter_values_it_started_with():
    # Another thread writes a parameter while C runs the batch (simulated right after the
    # native call); the row C hands to the interpreter (an inf input) runs at the values C
    # read, so the batch is one model's answer, not two models'.
    c, w, b = compiled("c")
    library = c._impl._lib  # the C backend's loaded library: its call is the native call
    native_call = library.call

    def call_then_write(*args):
        rc = native_call(*args)
        w.data = 4.0  # the other thread's write
        return rc

    library.call = call_then_write
    rows = [[2.0, 1.0], [math.inf, 1.0], [0.5, 3.0]]
    values, grads, total = c.value_and_grad_batch(rows)
    refs = [reference(r, 0.5, -1.5) for r in rows]
    assert same_all(values, [r[0] for r in refs])
    assert all(same_all(g, r[1][:2]) for g, r in zip(grads, refs))
    w.data = 0.5
    assert same_all(c.forward_batch(rows), [r[0] for r in refs])


@pytest.mark.parametrize("backend", BACKENDS)
def test_param_data_is_checked(backend):
    c, _, _ = compiled(backend)
    with pytest.raises(ValueError, match="2 parameters, param_data has 3"):
        c.value_and_grad_batch(ROWS, param_data=[1.0, 2.0, 3.0])
    for bad, got in (([True, 1.0], "bool"), ([1.0, "2"], "str"), ({1.0, 2.0}, "set"),
                     (2.0, "float")):
        with pytest.raises(TypeError, match=got):
            c.value_and_grad_batch(ROWS, param_data=bad)
        with pytest.raises(TypeError, match=got):
            c.forward_batch(ROWS, param_data=bad)
    want = c.value_and_grad_batch(ROWS, param_data=[0.25, 2.0])
    for pd in ((0.25, 2), np.array([0.25, 2.0]), [np.float32(0.25), np.int64(2)],
               array("d", [0.25, 2.0])):
        assert c.value_and_grad_batch(ROWS, param_data=pd) == want
