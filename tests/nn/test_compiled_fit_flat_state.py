"""fit(compiled=True) keeps parameters in a flat buffer between user-visible points: what a
callback, validation or an exception sees is current, the optimizer's state continues in
Python, a second fit reuses the compiled step (and traces again when the model changed), and
all of it is the interpreter's training, bit for bit, with or without a C compiler."""

from __future__ import annotations

import random
import struct

import pytest

import nn
from autograd_lite.compile import native
from nn import compiled as nc
from nn import flat as nf


def data(n=44, k=4, classes=3, seed=0):
    rng = random.Random(seed)
    X = [[rng.uniform(-2, 2) for _ in range(k)] for _ in range(n)]
    y = [int(sum(x) * 7) % classes for x in X]
    return X, y


def model(seed=1):
    return nn.MLP(4, [6, 3], activation="tanh", seed=seed)


def bits(m):
    return [struct.pack("<d", p.data) + struct.pack("<d", p.grad) for p in m.parameters()]


def state(opt):
    if isinstance(opt, nn.Adam):
        return (list(map(struct.pack, ["<d"] * len(opt.m), opt.m)),
                list(map(struct.pack, ["<d"] * len(opt.v), opt.v)), list(opt.steps), opt.t)
    return [None if b is None else struct.pack("<d", b) for b in opt.buffers]


OPTIMIZERS = {
    "adam": lambda ps: nn.Adam(ps, lr=0.05, weight_decay=0.01),
    "sgd": lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.001),
}


@pytest.fixture(autouse=True)
def fresh_caches():
    nc._steps.clear()
    yield
    nc._steps.clear()


def train(compiled, make="adam", runs=((2, 0),), **kw):
    """A model and optimizer trained by successive fits (epochs, seed) with the given mode per
    run (`compiled`: a bool, or a list of bools one per run)."""
    X, y = data()
    m = model()
    opt = OPTIMIZERS[make](m.parameters())
    modes = compiled if isinstance(compiled, list) else [compiled] * len(runs)
    hist = [nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=e, batch_size=8,
                   seed=s, progress=False, compiled=c, **kw) for (e, s), c in zip(runs, modes)]
    return m, opt, hist


@pytest.mark.parametrize("make", sorted(OPTIMIZERS))
def test_compiled_fit_is_the_interpreters_training(make):
    ma, oa, ha = train(False, make, runs=((3, 0),))
    mb, ob, hb = train(True, make, runs=((3, 0),))
    assert bits(ma) == bits(mb) and state(oa) == state(ob)
    assert ha[0].loss == hb[0].loss and ha[0].accuracy == hb[0].accuracy


@pytest.mark.parametrize("make", sorted(OPTIMIZERS))
def test_optimizer_state_continues_across_compiled_and_python_fits(make):
    runs = ((2, 0), (1, 1), (2, 2))
    ma, oa, _ = train(False, make, runs)
    for modes in ([True, False, True], [False, True, False]):
        mb, ob, _ = train(modes, make, runs)
        assert bits(ma) == bits(mb) and state(oa) == state(ob)


def test_callbacks_and_validation_see_current_parameters():
    seen = {}

    def run(compiled):
        X, y = data()
        m = model()
        record = seen.setdefault(compiled, [])

        def schedule(epoch):
            record.append([p.data for p in m.parameters()])
            return 0.05

        h = nn.fit(m, X, y, loss="cross_entropy", epochs=3, batch_size=8, progress=False,
                   compiled=compiled, lr_schedule=schedule, validation=data(20, seed=5))
        return h

    ha, hb = run(False), run(True)
    assert seen[False] == seen[True]
    assert seen[True][1] != seen[True][0]  # the parameters moved between epochs
    assert ha.val_loss == hb.val_loss and ha.val_accuracy == hb.val_accuracy


def test_parameters_are_current_after_an_exception_in_a_callback():
    def run(compiled):
        X, y = data()
        m = model()
        opt = nn.Adam(m.parameters(), lr=0.05)

        def schedule(epoch):
            if epoch == 2:
                raise RuntimeError("stop")
            return 0.05

        with pytest.raises(RuntimeError, match="stop"):
            nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=4, batch_size=8,
                   progress=False, compiled=compiled, lr_schedule=schedule)
        return m, opt

    (ma, oa), (mb, ob) = run(False), run(True)
    assert bits(ma) == bits(mb) and state(oa) == state(ob)


def test_parameters_are_current_after_an_exception_mid_epoch(monkeypatch):
    X, y = data()
    ma, mb = model(), model()
    oa, ob = nn.Adam(ma.parameters(), lr=0.05), nn.Adam(mb.parameters(), lr=0.05)
    # The interpreter, stopped at the 5th batch of the second epoch.
    calls = [0]

    def stopping(*args):
        calls[0] += 1
        if calls[0] == 11:
            raise KeyboardInterrupt
        return nn.train_batch(*args)

    with pytest.raises(KeyboardInterrupt):
        nn.fit(ma, X, y, loss="cross_entropy", optimizer=oa, epochs=3, batch_size=8,
               progress=False, step=stopping)
    # The compiled fit, stopped at the same batch (inside its flat run).
    real = nc.CompiledStep._replay
    replays = [0]

    def replay(self, *args):
        replays[0] += 1
        if replays[0] == 11:  # (the first batch is replayed too, then checked)
            raise KeyboardInterrupt
        return real(self, *args)

    monkeypatch.setattr(nc.CompiledStep, "_replay", replay)
    # (batch by batch: the epoch's native scan interrupted is tests/nn/test_compiled_epoch.py's)
    monkeypatch.setattr(nc.CompiledStep, "scan", lambda self, order, rule: [])
    with pytest.raises(KeyboardInterrupt):
        nn.fit(mb, X, y, loss="cross_entropy", optimizer=ob, epochs=3, batch_size=8,
               progress=False, compiled=True)
    assert bits(ma) == bits(mb) and state(oa) == state(ob)


def counting(monkeypatch):
    count = [0]
    real = nc.compile_grad

    def compile_grad(*args, **kw):
        count[0] += 1
        return real(*args, **kw)

    monkeypatch.setattr(nc, "compile_grad", compile_grad)
    return count


def test_a_second_fit_reuses_the_compiled_step(monkeypatch):
    count = counting(monkeypatch)
    runs = ((1, 0), (1, 1), (1, 2))
    mb, ob, hb = train(True, "adam", runs)
    assert count[0] == 1  # one trace for the three fits
    ma, oa, ha = train(False, "adam", runs)
    assert bits(ma) == bits(mb) and state(oa) == state(ob)
    assert [h.loss for h in ha] == [h.loss for h in hb]


def test_a_second_fit_traces_again_after_the_model_changed(monkeypatch):
    count = counting(monkeypatch)
    X, y = data()

    def run(compiled):
        m = model()
        opt = nn.Adam(m.parameters(), lr=0.05)
        nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=1, batch_size=8,
               progress=False, compiled=compiled)
        m.layers[0].activation = "relu"  # the forward reads it: a different function
        nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=1, batch_size=8,
               progress=False, compiled=compiled, seed=1)
        return m

    mb = run(True)
    assert count[0] == 2
    assert bits(run(False)) == bits(mb)


def test_a_change_in_a_callback_is_seen_within_one_fit(monkeypatch):
    count = counting(monkeypatch)
    X, y = data()

    def run(compiled):
        m = model()

        def schedule(epoch):
            if epoch == 1:
                m.layers[1].activation = "tanh"  # the output layer, linear before
            return 0.05

        nn.fit(m, X, y, loss="cross_entropy", epochs=2, batch_size=8, progress=False,
               compiled=compiled, lr_schedule=schedule)
        return m

    mb = run(True)
    assert count[0] == 2
    assert bits(run(False)) == bits(mb)


def test_a_fit_on_other_targets_does_not_reuse_the_step(monkeypatch):
    count = counting(monkeypatch)
    X, y = data()
    m = model()
    nn.fit(m, X, y, loss="cross_entropy", epochs=1, batch_size=8, progress=False,
           compiled=True)
    nn.fit(m, X, [(t + 1) % 3 for t in y], loss="cross_entropy", epochs=1, batch_size=8,
           progress=False, compiled=True)
    assert count[0] == 2


@pytest.fixture
def no_compiler(tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(nf, "_kernels", {})
    native.forget_compiler()
    yield
    native.forget_compiler()


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("make", sorted(OPTIMIZERS))
def test_without_a_compiler_the_compiled_fit_still_is_the_interpreters(no_compiler, make):
    runs = ((2, 0), (1, 1))
    mb, ob, hb = train(True, make, runs)
    assert nf._kernels and all(k.backend == "python" for k in nf._kernels.values())
    ma, oa, ha = train(False, make, runs)
    assert bits(ma) == bits(mb) and state(oa) == state(ob)
    assert [h.loss for h in ha] == [h.loss for h in hb]


def test_the_cached_step_does_not_keep_the_model_alive():
    import gc
    import weakref

    X, y = data()
    m = model()
    nn.fit(m, X, y, loss="cross_entropy", epochs=1, batch_size=8, progress=False, compiled=True)
    assert len(nc._steps) == 1
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None and len(nc._steps) == 0


def test_a_custom_optimizer_trains_each_batch_as_before(recwarn):
    """An optimizer the flat kernels do not reproduce (a subclass) steps through its own
    `step_with` at every batch, as in the interpreter's training."""

    class Counted(nn.SGD):
        calls = 0

        def step_with(self, grads):
            type(self).calls += 1
            super().step_with(grads)

    X, y = data()
    result = []
    for compiled in (False, True):
        m = model()
        opt = Counted(m.parameters(), lr=0.1, momentum=0.5)
        Counted.calls = 0
        nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=2, batch_size=8,
               progress=False, compiled=compiled)
        result.append((bits(m), state(opt), Counted.calls))
    assert result[0] == result[1] and result[1][2] == 12  # 2 epochs of 6 batches
    assert not [w for w in recwarn if "using the interpreter" in str(w.message)]


def test_a_fit_inside_a_running_fits_callback_gets_its_own_step():
    X, y = data()

    def run(compiled):
        m = model()
        opt = nn.Adam(m.parameters(), lr=0.05)

        def schedule(epoch):
            if epoch == 1:  # a nested fit on the same model, from user code
                nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=1, batch_size=8,
                       progress=False, compiled=compiled, seed=7)
            return 0.05

        nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=3, batch_size=8,
               progress=False, compiled=compiled, lr_schedule=schedule)
        return bits(m), state(opt)

    assert run(True) == run(False)


@pytest.mark.parametrize("kind", ["cross_entropy", "mse", "hinge"])
def test_batches_by_index_on_flat_buffers_are_the_per_batch_compiled_steps(kind, monkeypatch):
    """Every target encoding: the flat path (fit's batches by index) takes exactly the steps
    of the same compiled step called batch by batch (the path before flat buffers)."""
    X, y = data()
    if kind == "cross_entropy":
        make, loss, ys = model, nn.losses.cross_entropy, y
    elif kind == "mse":  # vector targets: given to the loss as Values
        make, loss = model, nn.losses.mse
        ys = [[float(t == c) for c in range(3)] for t in y]
    else:  # two discrete targets: a one-hot choice between each class's loss
        def make():
            return nn.MLP(4, [5, 1], activation="tanh", seed=3)
        loss, ys = nn.losses.hinge, [1 if t else -1 for t in y]
    flat_steps = [0]
    real = nf.FlatState.step

    def counted(self, grads):
        flat_steps[0] += 1
        real(self, grads)

    real_advance = nf.FlatState.advance

    def advanced(self, done, grads):  # steps taken by an epoch's native scan
        flat_steps[0] += done
        real_advance(self, done, grads)

    monkeypatch.setattr(nf.FlatState, "step", counted)
    monkeypatch.setattr(nf.FlatState, "advance", advanced)
    result = []
    for flat in (True, False):
        m = make()
        opt = nn.SGD(m.parameters(), lr=0.05, momentum=0.9)
        cs = nc.CompiledStep(m, loss, targets=ys)
        step = cs if flat else (lambda *a, cs=cs: cs(*a))  # not a CompiledStep: per batch
        h = nn.fit(m, X, ys, loss=loss, optimizer=opt, epochs=2, batch_size=8,
                   progress=False, step=step)
        assert cs.fallback is None and cs.compiled is not None
        result.append((bits(m), state(opt), h.loss))
    assert result[0] == result[1]
    assert flat_steps[0] == 11  # 2 epochs of 6 batches, the first checked by the interpreter
