"""fit(compiled=True) runs the batches between two syncs as one native scan
(`Compiled.scan_steps`): History, parameters, last gradients and optimizer state are those of
the batch-by-batch compiled path (and of the interpreter where that is exact), bit for bit,
for every optimizer option, loss kind and batching; a batch the scan cannot do goes the
batch-by-batch way mid-epoch; without a compiler it is the same; two fits may run at once."""

from __future__ import annotations

import math
import random
import struct
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nn
from autograd_lite import Compiled
from autograd_lite.compile import native
from autograd_lite.compile import scan as sc
from nn import compiled as nc
from nn import flat as nf

from .test_compiled_fit_flat_state import fresh_caches  # noqa: F401 - autouse: applies here


def f64(x):
    return struct.pack("<d", x)


def bits(m):
    return [f64(p.data) + f64(p.grad) for p in m.parameters()]


def state(opt):
    if isinstance(opt, nn.Adam):
        return ([f64(x) for x in opt.m], [f64(x) for x in opt.v], list(opt.steps), opt.t)
    return [None if b is None else f64(b) for b in opt.buffers]


def history(h):
    return ([f64(x) for x in h.loss], [None if a is None else f64(a) for a in h.accuracy])


def data(n=44, seed=0):
    rng = random.Random(seed)
    X = [[rng.uniform(-2, 2) for _ in range(4)] for _ in range(n)]
    return X, [int(sum(x) * 7) % 3 for x in X]


#: loss kind -> (model, loss, targets from data's labels)
KINDS = {
    "cross_entropy": (lambda s: nn.MLP(4, [6, 3], activation="tanh", seed=s),
                      nn.losses.cross_entropy, lambda y, X: y),
    "hinge": (lambda s: nn.MLP(4, [5, 1], activation="tanh", seed=s), nn.losses.hinge,
              lambda y, X: [1 if t else -1 for t in y]),
    "mse": (lambda s: nn.MLP(4, [5, 1], activation="relu", seed=s), nn.losses.mse,
            lambda y, X: [0.5 * x[0] - x[1] * x[2] for x in X]),
}

OPTIMIZERS = {
    "sgd": lambda ps: nn.SGD(ps, lr=0.1),
    "sgd wd": lambda ps: nn.SGD(ps, lr=0.1, weight_decay=0.01),
    "sgd momentum": lambda ps: nn.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1),
    "sgd nesterov": lambda ps: nn.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                      weight_decay=0.001),
    "adam": lambda ps: nn.Adam(ps, lr=0.05),
    "adam wd": lambda ps: nn.Adam(ps, lr=0.05, weight_decay=0.01),
}


class Scans:
    """Counts the batches fit's scans did (patching FlatState.advance while it is open)."""

    def __enter__(self):
        self.batches = 0
        self.patch = pytest.MonkeyPatch()
        real = nf.FlatState.advance

        def advance(flat, done, grads):
            self.batches += done
            real(flat, done, grads)

        self.patch.setattr(nf.FlatState, "advance", advance)
        return self

    def __exit__(self, *exc):
        self.patch.undo()


def run(kind, make_opt, mode, X=None, y=None, *, seed=1, epochs=2, batch_size=8, shuffle=True,
        fit_seed=0, **kw):
    """(model, optimizer, History) of a fit: mode "scan" (compiled, scans on), "batches"
    (compiled, batch by batch) or "interpreter"."""
    make, loss, targets = KINDS[kind]
    if X is None:
        X, labels = data()
        y = targets(labels, X)
    m = make(seed)
    opt = make_opt(m.parameters())
    with pytest.MonkeyPatch.context() as mp:
        if mode == "batches":
            mp.setattr(nc.CompiledStep, "scan", lambda self, order, rule: [])
        h = nn.fit(m, X, y, loss=loss, optimizer=opt, epochs=epochs, batch_size=batch_size,
                   shuffle=shuffle, seed=fit_seed, progress=False,
                   compiled=mode != "interpreter", **kw)
    return m, opt, h


def same(a, b):
    (ma, oa, ha), (mb, ob, hb) = a, b
    assert bits(ma) == bits(mb)
    assert state(oa) == state(ob)
    assert history(ha) == history(hb)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(KINDS)), opt=st.sampled_from(sorted(OPTIMIZERS)),
       seed=st.integers(0, 50), batch_size=st.integers(1, 50), shuffle=st.booleans(),
       fit_seed=st.integers(0, 10 ** 6))
def test_the_epoch_scan_is_the_batch_by_batch_compiled_fit(kind, opt, seed, batch_size,
                                                            shuffle, fit_seed):
    nc._steps.clear()
    kw = dict(seed=seed, batch_size=batch_size, shuffle=shuffle, fit_seed=fit_seed)
    with Scans() as scans:
        a = run(kind, OPTIMIZERS[opt], "scan", **kw)
    did = scans.batches
    b = run(kind, OPTIMIZERS[opt], "batches", **kw)
    same(a, b)
    n_batches = -(-44 // batch_size)
    if all(map(math.isfinite, a[2].loss)):  # (a diverging fit's batches go batch by batch)
        # all but the first batch (checked by the interpreter) and SGD's first momentum step
        assert did >= 2 * n_batches - 2
    if kind == "mse":
        assert a[2].accuracy == [None, None]


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_the_epoch_scan_is_the_interpreters_training(opt):
    """Cross-entropy on an MLP: the compiled fit is the interpreter's, scans included."""
    kw = dict(epochs=3, batch_size=5)  # 44 rows: a short last batch
    same(run("cross_entropy", OPTIMIZERS[opt], "scan", **kw),
         run("cross_entropy", OPTIMIZERS[opt], "interpreter", **kw))


def flagged_data():
    """Rows 13 and 30: first-layer sums that overflow (an IEEE flag in C, the interpreter's
    inf then tanh's 1.0): those batches go the batch-by-batch way, mid-epoch."""
    X, y = data()
    for r in (13, 30):
        X[r] = [1.7e308, 1.7e308, 1.7e308, 1.7e308]
    return X, y


@pytest.mark.parametrize("kind", ["cross_entropy", "hinge"])
def test_a_batch_the_scan_cannot_do_goes_batch_by_batch_mid_epoch(kind):
    X, labels = flagged_data()
    y = KINDS[kind][2](labels, X)
    with Scans() as scans:
        a = run(kind, OPTIMIZERS["adam"], "scan", X, y, shuffle=False, batch_size=4)
    assert 0 < scans.batches < 2 * 11 - 1  # scans did the others, not rows 13 and 30's
    same(a, run(kind, OPTIMIZERS["adam"], "batches", X, y, shuffle=False, batch_size=4))
    if kind == "cross_entropy":
        same(a, run(kind, OPTIMIZERS["adam"], "interpreter", X, y, shuffle=False,
                    batch_size=4))


def test_a_label_the_trace_did_not_see_goes_batch_by_batch_mid_epoch():
    """A step traced for labels 0 and 1 (a loss of the user's: a one-hot choice) meets a 2 in
    row 17: that batch goes the interpreter's way, the others are still scanned."""
    X, y = data()
    y = [t % 2 for t in y]
    y[17] = 2
    known = y[:17] + y[18:]

    def loss(outs, ys):
        return nn.losses.cross_entropy(outs, ys)

    out = []
    for mode in ("scan", "batches", "interpreter"):
        with Scans() as scans, pytest.MonkeyPatch.context() as mp:
            if mode == "batches":
                mp.setattr(nc.CompiledStep, "scan", lambda self, order, rule: [])
            m = KINDS["cross_entropy"][0](1)
            opt = OPTIMIZERS["adam"](m.parameters())
            step = nn.train_batch if mode == "interpreter" else nc.CompiledStep(m, loss,
                                                                              targets=known)
            h = nn.fit(m, X, y, loss=loss, optimizer=opt, epochs=2, batch_size=4,
                       shuffle=False, progress=False, step=step)
            if mode == "scan":
                assert 0 < scans.batches <= 2 * 11 - 3  # not the first, nor row 17's (twice)
                assert step.fallback is None
        out.append((m, opt, h))
    same(out[0], out[1])
    # a one-hot choice adds exact zeros to the chosen loss: the interpreter's up to 1e-12
    for a, b in zip(out[0][2].loss + [p.data for p in out[0][0].parameters()],
                    out[2][2].loss + [p.data for p in out[2][0].parameters()]):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    assert out[0][2].accuracy == out[2][2].accuracy


def test_nearest_label_decisions_stay_batch_by_batch():
    """mse on a scalar output with three class labels: the nearest label decides (Python),
    so these batches are not scanned; the History is the interpreter's rule all the same."""
    X, y = data()
    make = KINDS["mse"][0]
    out = []
    with Scans() as scans:
        for compiled in (True, False):
            m = make(3)
            opt = nn.SGD(m.parameters(), lr=0.05)
            h = nn.fit(m, X, y, loss="mse", optimizer=opt, epochs=2, batch_size=8,
                       progress=False, compiled=compiled)
            out.append((m, opt, h))
    assert scans.batches == 0
    assert out[0][2].accuracy[0] is not None
    assert history(out[0][2]) == history(out[1][2])


def test_an_interrupt_after_a_scan_leaves_current_parameters(monkeypatch):
    """A KeyboardInterrupt arriving right after the native call returns: the batches it
    committed are stored, as the interpreter stopped after the same batches leaves them."""
    X, y = data()
    stop_after = 9  # batches done: the interpreter is stopped at its 10th

    calls = [0]

    def stopping(*args):
        calls[0] += 1
        if calls[0] == stop_after + 1:
            raise KeyboardInterrupt
        return nn.train_batch(*args)

    make = KINDS["cross_entropy"][0]
    ma, mb = make(1), make(1)
    oa, ob = nn.Adam(ma.parameters(), lr=0.05), nn.Adam(mb.parameters(), lr=0.05)
    with pytest.raises(KeyboardInterrupt):
        nn.fit(ma, X, y, loss="cross_entropy", optimizer=oa, epochs=3, batch_size=8,
               progress=False, step=stopping)
    done = [0]
    real_run, real_scan = nc.CompiledStep.run, Compiled.scan_steps

    def run_(self, idx):
        done[0] += 1
        return real_run(self, idx)

    def scan_steps(self, rows, order, size, **kw):
        left = stop_after - done[0]
        if len(order) > left * size:
            kw["column_values"] = kw["column_values"][:left]  # the first `left` batches
            kw["args"] = [("per_batch", a[1][:left]) if isinstance(a, tuple) else a
                          for a in kw["args"]]
            real_scan(self, rows, order[:left * size], size, **kw)
            raise KeyboardInterrupt  # (after the call: its batches are committed)
        res = real_scan(self, rows, order, size, **kw)
        done[0] += res.done
        return res

    monkeypatch.setattr(nc.CompiledStep, "run", run_)
    monkeypatch.setattr(Compiled, "scan_steps", scan_steps)
    with pytest.raises(KeyboardInterrupt):
        nn.fit(mb, X, y, loss="cross_entropy", optimizer=ob, epochs=3, batch_size=8,
               progress=False, compiled=True)
    assert bits(ma) == bits(mb) and state(oa) == state(ob)


@pytest.fixture
def no_compiler(tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(nf, "_kernels", {})
    monkeypatch.setattr(sc, "_driver", [])
    native.forget_compiler()
    yield
    native.forget_compiler()


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("opt", ["sgd momentum", "adam wd"])
def test_without_a_compiler_the_scan_runs_in_python_with_the_same_numbers(no_compiler, opt):
    with Scans() as scans:
        a = run("hinge", OPTIMIZERS[opt], "scan", batch_size=6)
    assert scans.batches > 0
    assert nf._kernels and all(k.backend == "python" for k in nf._kernels.values())
    same(a, run("hinge", OPTIMIZERS[opt], "batches", batch_size=6))


@pytest.mark.parametrize("kind", ["cross_entropy", "hinge"])
def test_with_python_replay_the_scan_gives_the_same_numbers(monkeypatch, kind):
    real = nc.compile_grad
    monkeypatch.setattr(nc, "compile_grad",
                        lambda *a, **kw: real(*a, **{**kw, "backend": "python"}))
    with Scans() as scans:
        a = run(kind, OPTIMIZERS["adam"], "scan", batch_size=7)
    assert scans.batches > 0
    assert all(s.compiled.backend == "python" for d in nc._steps.values() for s in d.values())
    same(a, run(kind, OPTIMIZERS["adam"], "batches", batch_size=7))


def test_two_threads_fit_two_models_at_once():
    """Each fit's numbers are those it has alone (the step's scratch space shared by the
    same graph's two compiled functions: held, or fresh for the other thread)."""
    alone = [run("cross_entropy", OPTIMIZERS["adam"], "scan", seed=s, epochs=3) for s in (1, 2)]
    got: list = [None, None]
    errors: list = []

    def work(i):
        try:
            got[i] = run("cross_entropy", OPTIMIZERS["adam"], "scan", seed=i + 1, epochs=3)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for a, b in zip(alone, got):
        same(a, b)
