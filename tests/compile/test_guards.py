"""What compiled replay guards, after a hostile review (docs/compiled.md, "The contract"):
a Value computed from a parameter before the trace, state the snapshot must see (mixins,
dunders, code, function attributes, classes used as namespaces, numbers' bits), a model
changed or drawing random numbers while it is traced, `.grad` accumulated in the
interpreter's order, aliasing arrays, and batch edge cases. The oracle is the interpreter.
"""

from __future__ import annotations

import random
import struct
import threading
import warnings
from array import array
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import nn.compiled
from autograd_lite import Value, compile_grad, no_grad
from autograd_lite.compile import native

HAVE_CC = not isinstance(native.find_compiler(), str)
BACKENDS = ["python", pytest.param("c", marks=pytest.mark.skipif(
    not HAVE_CC, reason="no working C compiler"))]
X2 = [[1.0], [2.0], [-0.5]]


def bits(x: float) -> str:
    return struct.pack("<d", x).hex()


def interpreted(model, X):
    with no_grad():
        outs = [model(list(x)) for x in X]
    return [o.data if isinstance(o, Value) else [v.data for v in o] for o in outs]


def compiled_or_interpreted(model, X, backend):
    """`outputs` (None means the caches chose the interpreter: its numbers then)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = nn.compiled.outputs(model, X, backend)
    return interpreted(model, X) if got is None else got


# ---- a Value computed from a parameter before the trace ---------------------------------------
class Tied(nn.Module):
    def __init__(self, w: float = 2.0) -> None:
        self.w = Value(w)
        self._scale = self.w * 3.0  # private: not a parameter, computed once, stored

    def forward(self, x):
        return x[0] * self._scale + self.w


@pytest.mark.parametrize("backend", BACKENDS)
def test_value_computed_from_a_parameter_before_the_trace_is_refused(backend):
    w = Value(2.0)
    s = w * 3.0
    with pytest.raises(ValueError, match="computed from a parameter before the trace") as e:
        compile_grad(lambda x: x * s, [1.0], params=[w], backend=backend)
    assert "'mul'" in str(e.value) and "detach" in str(e.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_value_computed_before_the_trace_from_no_parameter_is_a_constant(backend):
    k = Value(2.0) * 3.0  # depends on no parameter: a constant, as any non-parameter Value
    c = compile_grad(lambda x: x * k, [1.0], backend=backend)
    assert c.forward([2.0]) == 12.0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("w", [2.0, 0.0])  # (0.0: a Value whose truth is False)
def test_implicit_caches_interpret_a_model_with_a_value_computed_before_the_trace(backend, w):
    m = Tied(w)
    m.w.data = 5.0  # an optimizer step: the stored _scale stays 6.0
    with pytest.warns(RuntimeWarning, match="before the trace"):
        got = nn.compiled.outputs(m, X2, backend)
    assert got is None  # the interpreter
    assert nn.predict(m, X2, compiled=True) == nn.predict(m, X2)


def test_fit_with_a_value_computed_before_the_trace_takes_the_interpreters_steps():
    X = [[0.5], [1.0], [-1.0], [2.0]]
    y = [1.0, 2.0, -2.0, 4.0]
    runs = []
    for compiled in (False, True):
        m = Tied()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nn.fit(m, X, y, loss="mse", optimizer=nn.SGD(m.parameters(), lr=0.01),
                   epochs=3, batch_size=2, progress=False, compiled=compiled, shuffle=False)
        runs.append(bits(m.w.data))
    assert runs[0] == runs[1]


def test_nodes_made_in_another_thread_during_a_trace_are_not_counted_as_the_traces():
    # Two threads trace at once: each recorder sees its own nodes, so each trace is accepted
    # and the pre-trace Value is refused in both.
    w = Value(1.5)
    pre = w * 2.0
    errors, ok = [], []

    def good() -> None:
        for _ in range(20):
            c = compile_grad(lambda x: (x * w).tanh() * x, [0.3], params=[w], backend="python")
            ok.append(c.forward([0.3]))

    def bad() -> None:
        for _ in range(20):
            try:
                compile_grad(lambda x: x * pre, [0.3], params=[w], backend="python")
            except ValueError as e:
                errors.append(e)

    ts = [threading.Thread(target=good), threading.Thread(target=bad)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(ok) == 20 and len(errors) == 20


# ---- state the snapshot must see ----------------------------------------------------------------
class Mixin:
    factor = 2.0


class WithMixin(nn.Module, Mixin):
    def __init__(self) -> None:
        self.w = Value(1.0)

    def forward(self, x):
        return x[0] * self.w * self.factor


def act(v):
    return v * act.k


act.k = 1.0


def make_models():
    """(model, change) pairs: each change is one the snapshot must see."""
    cases = []
    m = WithMixin()
    cases.append((m, lambda: setattr(Mixin, "factor", 7.0)))

    class Callable_(nn.Module):
        def __init__(self) -> None:
            self.w = Value(1.0)

        def forward(self, x):
            return x[0] * self.w

    m2 = Callable_()
    cases.append((m2, lambda: setattr(Callable_, "__call__",
                                      lambda self, x: self.forward(x) * 10.0)))

    class Code(nn.Module):
        def __init__(self) -> None:
            self.w = Value(1.0)

        def forward(self, x):
            return x[0] * self.w

    def other(self, x):
        return x[0] * self.w * 3.0

    m3 = Code()
    cases.append((m3, lambda: setattr(Code.forward, "__code__", other.__code__)))

    class Act(nn.Module):
        def __init__(self) -> None:
            self.w = Value(1.0)
            self.act = act

        def forward(self, x):
            return self.act(x[0] * self.w)

    m4 = Act()
    cases.append((m4, lambda: setattr(act, "k", 5.0)))

    class Config:
        scale = 2.0

    class Namespaced(nn.Module):
        def __init__(self) -> None:
            self.w = Value(1.0)
            self.cfg = Config

        def forward(self, x):
            return x[0] * self.w * self.cfg.scale

    m5 = Namespaced()
    cases.append((m5, lambda: setattr(Config, "scale", 5.0)))
    return cases


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", range(5), ids=["mixin after Module", "__call__ replaced",
                                                "forward.__code__ replaced",
                                                "function attribute", "class as a namespace"])
def test_snapshot_sees_class_code_and_function_state(backend, case):
    act.k = 1.0
    Mixin.factor = 2.0
    model, change = make_models()[case]
    assert nn.compiled.outputs(model, X2, backend) == interpreted(model, X2)
    change()
    want = interpreted(model, X2)
    assert compiled_or_interpreted(model, X2, backend) == want
    act.k = 1.0
    Mixin.factor = 2.0


class Shift(nn.Module):
    def __init__(self, s) -> None:
        self.w = Value(1.0)
        self.s = s

    def forward(self, x):
        return (x[0] * self.w * 0.0) * float(self.s)  # a zero whose sign follows s


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("make", [np.float32, np.float64, Decimal, float],
                         ids=["float32", "float64", "Decimal", "float"])
def test_numbers_are_compared_by_type_and_bits_so_signed_zeros_differ(backend, make):
    m = Shift(make("0.0") if make is Decimal else make(0.0))
    X = [[1.0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nn.compiled.outputs(m, X, backend)
        m.s = make("-0.0") if make is Decimal else make(-0.0)
        got = compiled_or_interpreted(m, X, backend)
    assert [bits(v) for v in got] == [bits(v) for v in interpreted(m, X)] == [bits(-0.0)]


@pytest.mark.parametrize("base", [nn.Module])
def test_an_abc_model_is_snapshot_not_retraced(base):
    import abc

    class Base(base, abc.ABC):
        @abc.abstractmethod
        def forward(self, x): ...

    class Net(Base):
        def __init__(self) -> None:
            self.mlp = nn.MLP(2, [3, 1], seed=0)

        def forward(self, x):
            return self.mlp(x)

    m = Net()
    isinstance(m, Base)  # fills ABCMeta's cache (`_abc_impl`), not behaviour
    snap = nn.compiled._Snapshot(m, set(m.parameters()))
    isinstance(3, Base)
    assert snap.state is not None
    assert snap.matches(nn.compiled._Snapshot(m, set(m.parameters())))


def test_big_tables_are_hashed_and_still_seen():
    class Tab(nn.Module):
        def __init__(self) -> None:
            self.w = Value(1.0)
            self.table = [0.5] * 1000
            self.ints = list(range(1000))
            self.names = {f"k{i}": float(i) for i in range(100)}
            self.arr = np.arange(1000.0)

        def forward(self, x):
            return x[0] * self.w * self.table[3] + self.ints[7] + self.names["k9"] \
                + float(self.arr[11])

    m = Tab()
    ps = set(m.parameters())
    snap = nn.compiled._Snapshot(m, ps)
    assert snap.matches(nn.compiled._Snapshot(m, ps))
    for change in (lambda: m.table.__setitem__(3, -0.0), lambda: m.ints.__setitem__(7, 8),
                   lambda: m.names.__setitem__("k9", 9.5), lambda: m.arr.__setitem__(11, 2.0)):
        change()
        now = nn.compiled._Snapshot(m, ps)
        assert not snap.matches(now)
        snap = now
        assert compiled_or_interpreted(m, X2, "python") == interpreted(m, X2)


def test_a_model_holding_itself_predicts_as_the_interpreter():
    class Cyc(nn.Module):
        def __init__(self) -> None:
            self.mlp = nn.MLP(1, [1], seed=0)
            self.parent = [self]

        def forward(self, x):
            return self.mlp(x)

    c = Cyc()
    assert nn.predict(c, [[1.0], [-2.0]], compiled=True) == nn.predict(c, [[1.0], [-2.0]])


# ---- a model changed or random while it is traced ---------------------------------------------
class Noisy(nn.Module):
    def __init__(self) -> None:
        self.mlp = nn.MLP(1, [2, 1], seed=0)
        self.rng = random.Random(0)

    def forward(self, x):
        return self.mlp(x) + self.rng.gauss(0.0, 1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_random_forward_is_interpreted_with_a_warning(backend):
    m = Noisy()
    with pytest.warns(RuntimeWarning, match="different graph at every trace"):
        assert nn.compiled.outputs(m, [[0.0]] * 4, backend) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning: the decision is cached
        assert nn.compiled.outputs(m, [[0.0]] * 4, backend) is None
    rows = nn.predict(m, [[0.0]] * 4)  # the interpreter: a draw per row
    assert len(set(rows)) >= 1


def test_fit_with_a_random_forward_uses_the_interpreter():
    m = Noisy()
    with pytest.warns(RuntimeWarning, match="different graph at every trace"):
        nn.fit(m, [[0.0], [1.0]], [0.0, 1.0], loss="mse", epochs=2, batch_size=2,
               progress=False, compiled=True)


class TwoReads(nn.Module):
    def __init__(self) -> None:
        self.mlp = nn.MLP(2, [8, 1], seed=0)
        self.mean = 0.0

    def forward(self, x):
        a = x[0] - self.mean
        return self.mlp([a, x[1]]) + self.mean


@pytest.mark.slow
def test_a_model_changed_by_another_thread_during_the_trace_is_not_replayed_mixed():
    m = TwoReads()
    X = [[0.1 * i, -0.05 * i] for i in range(6)]
    refs = []
    for mean in (0.0, 0.5):
        m.mean = mean
        refs.append(interpreted(m, X))
    stop = [False]

    def flip() -> None:
        while not stop[0]:
            m.mean = 0.5 if m.mean == 0.0 else 0.0

    t = threading.Thread(target=flip)
    t.start()
    mixed = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(40):
                nn.compiled._forward_cache.clear()
                got = nn.compiled.outputs(m, X, "python")
                if got is not None and got not in refs:
                    mixed += 1
    finally:
        stop[0] = True
        t.join()
    # Two traces and three snapshots must all agree: a mixed trace is (nearly) never used.
    assert mixed <= 1


def test_a_model_retraced_before_every_call_ends_in_the_interpreter():
    class Temp(nn.Module):
        def __init__(self) -> None:
            self.w = Value(1.0)
            self.t = 0.0

        def forward(self, x):
            return x[0] * self.w + self.t

    m = Temp()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for i in range(nn.compiled.MAX_TRACES + 2):
            m.t = float(i)
            assert nn.predict(m, X2, compiled=True) == nn.predict(m, X2)
    assert any("traced" in str(w.message) for w in seen)


# ---- .grad in the interpreter's order -----------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("check", [False, True])
@given(p0=st.floats(-2, 2), g0=st.floats(-1e3, 1e3), x=st.floats(-3, 3))
def test_backward_adds_each_contribution_to_grad_as_the_interpreter(backend, check, p0, g0, x):
    p = Value(p0)

    def f(v):
        return v * p + (v * v) * p + p.tanh()  # p used three times

    c = compile_grad(f, [0.3], params=[p], backend=backend, check=check)
    p.grad = g0
    c.backward([x])
    got = p.grad
    p.grad = g0
    f(Value(x)).backward()
    assert bits(got) == bits(p.grad)


def test_fit_leaves_frozen_parameters_grad_as_the_interpreter():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 3)).tolist()
    y = [float(a - b + 0.5 * c) for a, b, c in X]
    res = {}
    for compiled in (False, True):
        m = nn.MLP(3, [4, 1], seed=0)
        ps = m.parameters()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nn.fit(m, X, y, loss="mse", optimizer=nn.SGD(ps[:10], lr=0.05), epochs=2,
                   batch_size=16, progress=False, compiled=compiled, shuffle=False)
        res[compiled] = ([bits(p.data) for p in ps], [bits(p.grad) for p in ps[10:]])
    assert res[False] == res[True]


@pytest.mark.parametrize("backend", BACKENDS)
def test_accumulate_adds_rows_in_turn_on_every_backend(backend):
    w = Value(0.7)
    c = compile_grad(lambda x: (x * w).sin(), [0.1], params=[w], backend=backend)
    rows = [[0.1 * i + 0.013] for i in range(7)]
    acc = array("d", [1e3 + 0.1])
    c.value_and_grad_batch(rows, accumulate=acc)
    want = 1e3 + 0.1
    for r in rows:
        want += c.value_and_grad(r)[1][1]
    assert bits(acc[0]) == bits(want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_param_data_that_is_the_accumulate_array_is_read_as_it_was(backend):
    w = Value(0.5)
    c = compile_grad(lambda x: (x * w).exp(), [0.1], params=[w], backend=backend)
    rows = [[1.0], [2.0], [3.0]]
    shared = array("d", [0.5])
    values, _, _ = c.value_and_grad_batch(rows, param_data=shared, accumulate=shared)
    want_v, _, want_g = c.value_and_grad_batch(rows, param_data=[0.5])
    assert values == want_v
    assert shared[0] == 0.5 + want_g[0]


# ---- batches ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_of_empty_rows_for_a_function_of_no_inputs_gives_a_result_per_row(backend):
    w = Value(1.5)
    c = compile_grad(lambda: w * w, [], params=[w], backend=backend)
    for rows in (np.zeros((3, 0)), [[], [], []]):
        assert c.forward_batch(rows) == [2.25] * 3
        values, grads, pg = c.value_and_grad_batch(rows)
        assert values == [2.25] * 3 and grads == [()] * 3 and pg == (9.0,)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float128_batches_are_read_as_their_float64_values(backend):
    c = compile_grad(lambda x, y: x * y, [1.0, 1.0], backend=backend)
    rows = np.array([[0.1, 3.0], [2.0, -1.0]], dtype=np.longdouble)
    assert c.forward_batch(rows) == c.forward_batch(rows.astype(np.float64).tolist())
