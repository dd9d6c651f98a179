"""fit(compiled=True) under hostile use: an optimizer whose `step` or `zero_grad` is replaced
(on the instance or in a subclass), a loss that holds the model: each trains as the
interpreter does, bit for bit, and the compiled step cache frees what it caches."""

from __future__ import annotations

import contextlib
import gc
import random
import weakref

import pytest

import nn
from nn import compiled as nc
from nn import flat as nf

from .test_compiled_fit_flat_state import (
    bits,
    data,
    fresh_caches,  # noqa: F401 - autouse: applies here
    model,
)


def both(make_opt, epochs=3, **kw):
    """(parameters' bits, History losses) of the interpreter's fit and the compiled fit."""
    X, y = data()
    out = []
    for compiled in (False, True):
        m = model()
        opt = make_opt(m.parameters())
        h = nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=epochs, batch_size=8,
                   progress=False, compiled=compiled, **kw)
        out.append((bits(m), h.loss))
    return out


def clipping_weights(ps):
    """Adam whose instance `step` clips the weights after each update (a user's patch)."""
    opt = nn.Adam(ps, lr=0.05)
    update = opt.step

    def step():
        update()
        for p in opt.params:
            p.data = max(-0.3, min(0.3, p.data))

    opt.step = step  # type: ignore[method-assign]
    return opt


def test_an_instance_patched_step_runs_at_every_batch():
    interp, comp = both(clipping_weights)
    assert interp == comp


def test_a_zero_grad_that_keeps_gradients_is_honoured():
    class Accumulating(nn.SGD):
        def zero_grad(self, set_to_none=False):  # the first parameter accumulates
            for p in self.params[1:]:
                p.zero_grad()

    interp, comp = both(lambda ps: Accumulating(ps, lr=0.01, momentum=0.5))
    assert interp == comp


def test_an_instance_patched_zero_grad_is_honoured():
    def make(ps):
        opt = nn.SGD(ps, lr=0.01)
        opt.zero_grad = lambda set_to_none=False: None  # type: ignore[method-assign]
        return opt

    interp, comp = both(make)
    assert interp == comp


def test_instance_patches_keep_the_optimizer_off_the_flat_kernels():
    m = model()
    opt = clipping_weights(m.parameters())
    with pytest.raises(nf.NotFlat):
        nf.FlatState(m.parameters(), opt, "python")


def regularised(m):
    base = nn.losses.cross_entropy
    first = m.parameters()[0]

    def loss(outs, ys):
        return base(outs, ys) + 0.0 * first * first + 0.0 * len(m.parameters())

    return loss


def test_a_loss_that_holds_the_model_does_not_keep_it_alive():
    def fitted():
        X, y = data()
        m = model()
        nn.fit(m, X, y, loss=regularised(m), epochs=1, batch_size=8, progress=False,
               compiled=True)
        return weakref.ref(m)

    ref = fitted()
    gc.collect()
    assert ref() is None and len(nc._steps) == 0


def test_an_optimizer_that_holds_the_model_does_not_keep_it_alive():
    class Holding(nn.SGD):
        pass

    def fitted():
        X, y = data()
        m = model()
        opt = Holding(m.parameters(), lr=0.1)
        opt.model = m  # type: ignore[attr-defined]
        nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=1, batch_size=8,
               progress=False, compiled=True)
        return weakref.ref(m)

    ref = fitted()
    gc.collect()
    assert ref() is None


def test_two_threads_fitting_one_model_never_share_a_step(monkeypatch):
    """Both threads take their step before either starts its batches (a barrier after
    `fit_step`): each must get its own, not the cached one twice (one fit's `close` would
    pull the training set from under the other's batches)."""
    import threading

    X, y = data(n=120)
    m = model()
    nn.fit(m, X, y, loss="cross_entropy", epochs=1, batch_size=8, progress=False,
           compiled=True)  # a cached step to reuse
    barrier = threading.Barrier(2, timeout=30)
    real = nc.fit_step
    taken: list[nc.CompiledStep] = []

    def fit_step(*args, **kw):
        step = real(*args, **kw)
        taken.append(step)
        barrier.wait()
        return step

    monkeypatch.setattr(nc, "fit_step", fit_step)
    errors: list[BaseException] = []

    def job():
        try:
            nn.fit(m, X, y, loss="cross_entropy", optimizer=nn.SGD(m.parameters(), lr=0.01),
                   epochs=3, batch_size=8, progress=False, compiled=True)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(taken) == 2 and taken[0] is not taken[1]
    assert not any(s.in_fit for s in taken)  # both released at the end of their fits


def test_a_step_is_released_when_a_fit_fails_before_its_first_batch():
    X, y = data()
    m = model()
    nn.fit(m, X, y, loss="cross_entropy", epochs=1, batch_size=8, progress=False,
           compiled=True)
    (step,) = nc._steps[m].values()

    def schedule(epoch):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        nn.fit(m, X, y, loss="cross_entropy", epochs=1, batch_size=8, progress=False,
               compiled=True, lr_schedule=schedule)
    assert not step.in_fit and nc.fit_step(m, nn.losses.cross_entropy, y) is step


@pytest.mark.parametrize("make", [lambda ps: nn.SGD(ps, lr=0.1), lambda ps: nn.Adam(ps, lr=0.03)])
@pytest.mark.parametrize(("k", "batch_size"), [(3, 1), (3, 5), (3, 6), (3, 7), (3, 40), (5, 5),
                                               (5, 10), (5, 6), (15, 3), (1, 4)])
def test_vector_mse_training_is_the_interpreters_bit_for_bit(make, k, batch_size):
    """mse over vector targets is the mean of all n * k entries: each entry's gradient seed is
    1/(n*k) (not (1/n) * (1/k): they differ for n = k = 5) and the History's batch loss sums
    the n * k terms in one running sum (not per-sample means: 1 ulp apart)."""
    rng = random.Random(5)
    X = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(29)]
    Y = [[rng.uniform(-1, 1) for _ in range(k)] for _ in X]
    out = []
    for compiled in (False, True):
        m = nn.MLP(3, [5, k], activation="tanh", seed=3)
        h = nn.fit(m, X, Y, loss="mse", optimizer=make(m.parameters()), epochs=3,
                   batch_size=batch_size, progress=False, compiled=compiled)
        out.append((bits(m), [x.hex() for x in h.loss]))
    assert out[0] == out[1]


@pytest.mark.parametrize("where", ["all", "last"])
def test_values_in_the_inputs_get_the_interpreters_gradients(where):
    """Rows of Values are differentiated by the interpreter's backward (their `.grad` sums
    over every batch): a compiled fit leaves them exactly as it would."""
    from autograd_lite import Value

    X0, y = data()
    out = []
    for compiled in (False, True):
        if where == "all":
            X = [[Value(v) for v in row] for row in X0]
        else:  # one Value, in the last row
            X = [list(row) for row in X0]
            X[-1][-1] = Value(X[-1][-1])
        m = model()
        h = nn.fit(m, X, y, loss="cross_entropy", optimizer=nn.Adam(m.parameters(), lr=0.05),
                   epochs=2, batch_size=8, progress=False, compiled=compiled)
        out.append((bits(m), h.loss, [getattr(v, "grad", None) for row in X for v in row]))
    assert out[0] == out[1]


def test_value_targets_get_the_interpreters_gradients():
    from autograd_lite import Value

    rng = random.Random(5)
    X = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(20)]
    out = []
    for compiled in (False, True):
        r = random.Random(1)
        y = [Value(r.uniform(-1, 1)) for _ in X]
        m = nn.MLP(3, [4, 1], seed=3)
        with pytest.warns(RuntimeWarning, match="targets are Values") if compiled else \
                contextlib.nullcontext():
            h = nn.fit(m, X, y, loss="mse", optimizer=nn.SGD(m.parameters(), lr=0.1),
                       epochs=2, batch_size=6, progress=False, compiled=compiled)
        out.append((bits(m), h.loss, [t.grad for t in y]))
    assert out[0] == out[1]


@pytest.mark.parametrize(("kind", "change"), [
    ("sgd", lambda o: o.buffers.append(0.5)),
    ("sgd", lambda o: o.buffers.pop()),
    ("adam", lambda o: (o.m.append(0.0), o.v.append(0.0))),
    ("adam", lambda o: o.m.pop()),
    ("adam", lambda o: o.steps.append(o.steps[0])),
    ("adam", lambda o: setattr(o, "m", tuple(o.m))),
])
def test_optimizer_state_lists_replaced_by_the_user_behave_as_in_python(kind, change):
    """State lists of another length (or type) than the parameters: whatever Python's indexing
    does with them (an IndexError, or extra entries left alone), not a compiled-map error."""
    X, y = data()
    out = []
    for compiled in (False, True):
        m = model()
        opt = nn.SGD(m.parameters(), lr=0.1, momentum=0.9) if kind == "sgd" else \
            nn.Adam(m.parameters(), lr=0.05)
        nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=1, batch_size=8,
               progress=False, compiled=compiled)
        change(opt)
        try:
            nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=2, batch_size=8,
                   progress=False, compiled=compiled)
            error = None
        except Exception as e:  # noqa: BLE001 - compared below
            error = type(e)
        state = opt.buffers if kind == "sgd" else (opt.m, opt.v, opt.steps, opt.t)
        out.append((bits(m), error, repr(state)))
    assert out[0] == out[1]


def test_an_optimizer_whose_parameters_change_in_a_callback_steps_only_those():
    class Subclassed(nn.Adam):  # not the flat kernels: each batch through step_with
        pass

    X, y = data()
    out = []
    for compiled in (False, True):
        m = model()
        opt = Subclassed(m.parameters(), lr=0.05)

        def schedule(epoch, opt=opt):
            if epoch == 1:
                opt.params.pop(0)  # the first parameter frozen from now on
            return 0.05

        h = nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=3, batch_size=8,
                   progress=False, compiled=compiled, lr_schedule=schedule)
        out.append((bits(m), h.loss))
    assert out[0] == out[1]
