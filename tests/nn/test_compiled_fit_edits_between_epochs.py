"""User code between the epochs of a compiled fit (lr_schedule, validation) may change any
parameter's `.data` or `.grad` and any optimizer state (SGD buffers, Adam m, v, steps, t, lr),
including to a value equal to the old one but of other bits (-0.0 for 0.0): the next epoch's
native scan starts from exactly what the user left, so the fit is the interpreter's, bit for
bit; and a sync writes the flat state back through the Values' own setters whenever a
parameter's class defines its own (a Value subclass)."""

from __future__ import annotations

import random
import struct
from array import array

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nn
from autograd_lite import Value
from nn import flat as nf

from .test_compiled_fit_flat_state import fresh_caches  # noqa: F401 - autouse: applies here


def f64(x):
    return struct.pack("<d", x)


def bits(m):
    return [f64(p.data) + f64(p.grad) for p in m.parameters()]


def state(opt):
    if isinstance(opt, nn.Adam):
        return ([f64(x) for x in opt.m], [f64(x) for x in opt.v], list(opt.steps), opt.t,
                f64(opt.lr))
    return [None if b is None else f64(b) for b in opt.buffers], f64(opt.lr)


def data(n=40, seed=0):
    rng = random.Random(seed)
    X = [[rng.uniform(-2, 2) for _ in range(3)] for _ in range(n)]
    return X, [1 if x[0] * x[1] > x[2] else -1 for x in X]


OPTIMIZERS = {
    "sgd": lambda ps: nn.SGD(ps, lr=0.1, weight_decay=0.01),
    "sgd momentum": lambda ps: nn.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda ps: nn.Adam(ps, lr=0.05, weight_decay=0.01),
}


def edit(kind, model, opt, i, value):
    """One change a user's callback may make: parameter `i`'s data or grad, or the
    optimizer's state at `i`."""
    ps = model.parameters()
    i %= len(ps)
    if kind == "data":
        ps[i].data = value
    elif kind == "grad":
        ps[i].grad = value
    elif kind == "state" and isinstance(opt, nn.Adam):
        opt.m[i] = value
        opt.v[(i + 1) % len(ps)] = abs(value)
    elif kind == "state" and opt.momentum:
        opt.buffers[i] = value
    elif kind == "steps" and isinstance(opt, nn.Adam):
        opt.steps[:] = [s + 1 for s in opt.steps]
        opt.t += 1
    elif kind == "lr":
        opt.lr = abs(value) * 0.01 + 0.001


def train(make, compiled, edits, *, through="schedule", epochs=4):
    """(model, optimizer, History) of one fit whose lr_schedule makes `edits` ({epoch:
    [(kind, index, value)]}) before that epoch (`through="validation"`: the loss, as it
    evaluates the validation set after that epoch)."""
    X, y = data()
    m = nn.MLP(3, [5, 1], activation="tanh", seed=2)
    opt = OPTIMIZERS[make](m.parameters())

    def changes(epoch):
        for kind, i, value in edits.get(epoch, ()):
            edit(kind, m, opt, i, value)

    kw: dict = {}
    loss = nn.losses.hinge
    if through == "schedule":
        def schedule(epoch):
            changes(epoch)
            return opt.lr
        kw["lr_schedule"] = schedule
    else:  # the validation's loss: user code run after every epoch (5 rows: not a batch)
        after = [0]

        def loss(outs, targets):
            if len(targets) == 5:
                changes(after[0])
                after[0] += 1
            return nn.losses.hinge(outs, targets)

        kw["validation"] = (X[:5], y[:5])
    h = nn.fit(m, X, y, loss=loss, optimizer=opt, epochs=epochs, batch_size=8,
               seed=3, progress=False, compiled=compiled, **kw)
    return m, opt, h


def same(a, b):
    (ma, oa, ha), (mb, ob, hb) = a, b
    assert bits(ma) == bits(mb)
    assert state(oa) == state(ob)
    assert [f64(x) for x in ha.loss] == [f64(x) for x in hb.loss]


VALUES = st.sampled_from([-0.0, 0.0, 0.5, -1.25, 3, 1e-300])
EDITS = st.dictionaries(
    st.integers(0, 3),
    st.lists(st.tuples(st.sampled_from(["data", "grad", "state", "steps", "lr"]),
                       st.integers(0, 40), VALUES), min_size=1, max_size=3),
    max_size=3)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(make=st.sampled_from(sorted(OPTIMIZERS)), edits=EDITS)
def test_edits_in_a_schedule_are_seen_by_the_next_epochs_scan(make, edits):
    same(train(make, True, edits), train(make, False, edits))


@pytest.mark.parametrize("make", sorted(OPTIMIZERS))
def test_a_zero_made_negative_between_epochs_is_trained_from(make):
    # bits differ, values are equal: a state reused because it compares equal would keep
    # +0.0 where the interpreter steps from -0.0 (a zero gradient keeps the sign)
    edits = {e: [("data", 3 * e + 1, -0.0), ("grad", 3 * e, -0.0), ("state", e, -0.0)]
             for e in range(1, 4)}
    same(train(make, True, edits), train(make, False, edits))


def test_a_value_set_back_to_zero_keeps_its_sign_bit_for_the_next_epoch(monkeypatch):
    # the first step of epoch 1 starts from exactly what the schedule wrote (checked where
    # the flat state is read: the scan's first parameters)
    seen = []
    real = nf.FlatState.__init__

    def spy(self, params, opt, backend):
        real(self, params, opt, backend)
        seen.append(f64(self.data[0]))

    monkeypatch.setattr(nf.FlatState, "__init__", spy)
    train("sgd", True, {1: [("data", 0, -0.0)], 2: [("data", 0, 0.0)]}, epochs=3)
    assert seen[1:3] == [f64(-0.0), f64(0.0)]


@pytest.mark.parametrize("make", sorted(OPTIMIZERS))
def test_edits_made_by_validation_are_seen_by_the_next_epoch(make):
    edits = {0: [("data", 2, -0.0), ("state", 5, 0.25)], 1: [("grad", 7, 2.0), ("lr", 0, 3)],
             2: [("steps", 0, 0.0), ("data", 30, 1.5)]}
    same(train(make, True, edits, through="validation"),
         train(make, False, edits, through="validation"))


class Tracked(Value):
    """A parameter class with its own setters (they record what they are given)."""

    __slots__ = ()
    log: list[tuple[str, float]] = []

    @property
    def data(self) -> float:
        return Value.data.fget(self)

    @data.setter
    def data(self, value: float) -> None:
        Tracked.log.append(("data", value))
        Value.data.fset(self, value)

    @property
    def grad(self) -> float:
        return Value.grad.fget(self)

    @grad.setter
    def grad(self, value: float) -> None:
        Tracked.log.append(("grad", value))
        Value.grad.fset(self, value)


@pytest.mark.parametrize("plain", [True, False])
def test_a_sync_writes_through_a_subclass_own_setters(plain):
    ps = [Value(0.5), Value(-1.0)] + [Value(2.0) if plain else Tracked(2.0)]
    opt = nn.SGD(ps, lr=0.5)
    flat = nf.FlatState(ps, opt, "auto")
    assert list(flat.data) == [0.5, -1.0, 2.0]
    grads = array("d", [1.0, -0.0, 4.0])
    Tracked.log.clear()
    flat.step(grads)
    flat.store()
    assert [p.data for p in ps] == [0.0, -1.0, 0.0]
    assert [f64(p.grad) for p in ps] == [f64(1.0), f64(-0.0), f64(4.0)]
    assert all(type(p.data) is float and type(p.grad) is float for p in ps)
    assert Tracked.log == ([] if plain else [("data", 0.0), ("grad", 4.0)])
