"""`fit(..., epochs=1, compiled=True)` called in a loop: a fit after the first takes the model's
output at X[0] from the last fit's compiled step (no interpreter forward pass) only while the
snapshot proves the model and the loss unchanged; whatever changes between the calls (X or y
in place, a parameter's data, a layer, the loss, an attribute), the loop trains exactly as the
interpreter's loop does, bit for bit, and an X[0] the model cannot take raises before any
training, as it does in the interpreter."""

from __future__ import annotations

import math

import pytest

import nn
from autograd_lite import Value
from nn import compiled as nc
from nn.layers import ACTIVATIONS

from .test_compiled_fit_flat_state import (
    bits,
    data,
    fresh_caches,  # noqa: F401 - autouse: applies here
    model,
    state,
)

#: How many times a model class counted below was called (a module global: not snapshot).
CALLS = [0]


class Counted(nn.MLP):
    """An MLP that counts its forward passes (interpreter and traces alike)."""

    def __call__(self, x):
        CALLS[0] += 1
        return super().__call__(x)


def loop(compiled, change=None, runs=4, make=model, loss="cross_entropy", xy=None):
    """A model trained by `runs` one-epoch fits; `change(i, m, X, y)` runs before fit i > 0."""
    X, y = xy if xy is not None else data()
    m = make()
    opt = nn.Adam(m.parameters(), lr=0.05)
    hist = []
    for i in range(runs):
        if i and change is not None:
            change(i, m, X, y)
        h = nn.fit(m, X, y, loss=loss, optimizer=opt, epochs=1, batch_size=8, seed=i,
                   progress=False, compiled=compiled)
        hist.append((h.loss, h.accuracy))
    return bits(m), state(opt), hist


def same_as_interpreter(**kw):
    assert loop(True, **kw) == loop(False, **kw)


def test_a_second_fit_runs_no_interpreter_forward_pass():
    X, y = data()
    m = Counted(4, [6, 3], activation="tanh", seed=1)
    opt = nn.Adam(m.parameters(), lr=0.05)
    fit = dict(loss="auto", optimizer=opt, epochs=1, batch_size=8, progress=False, compiled=True)
    nn.fit(m, X, y, **fit)
    CALLS[0] = 0
    h = nn.fit(m, X, y, **fit)
    assert CALLS[0] == 0 and h.accuracy[0] is not None  # "auto" resolved to cross-entropy
    m.layers[0].neurons[0].b.data += 1.0  # parameters are read at every call: still no pass
    nn.fit(m, X, y, **fit)
    assert CALLS[0] == 0
    m.extra = 1  # any attribute: the model may have changed, so it is run (and traced) again
    nn.fit(m, X, y, **fit)
    assert CALLS[0] > 0


def test_plain_loop_is_the_interpreters():
    same_as_interpreter()


def test_inputs_and_labels_changed_in_place_are_seen():
    def change(i, m, X, y):
        X[0][:] = [v * -1.5 for v in X[0]]
        X[i][1] = 7.25
        y[0] = (y[0] + 1) % 3
        y.reverse()

    same_as_interpreter(change=change)


def test_parameters_changed_in_place_are_seen():
    def change(i, m, X, y):
        for p in m.parameters()[::3]:
            p.data = -p.data * 0.5

    same_as_interpreter(change=change)


def test_a_replaced_layer_is_seen():
    def change(i, m, X, y):
        if i == 2:
            m.layers[1] = nn.Layer(6, 3, activation="linear", seed=9)

    same_as_interpreter(change=change, runs=3)


def test_a_changed_activation_is_seen():
    def change(i, m, X, y):
        m.layers[0].neurons[i].activation = "relu"
        m.layers[0].neurons[i]._act = ACTIVATIONS["relu"]

    same_as_interpreter(change=change)


def test_a_changed_loss_is_seen():
    """multi_margin is replayed through a one-hot over the classes: the interpreter's numbers
    to rounding (docs/compiled.md), not bit for bit."""
    X, y = data()
    results = []
    for compiled in (True, False):
        m = model()
        opt = nn.Adam(m.parameters(), lr=0.05)
        run = []
        for i, loss in enumerate(["cross_entropy", "multi_margin", "multi_margin",
                                  "cross_entropy"]):
            h = nn.fit(m, X, y, loss=loss, optimizer=opt, epochs=1, batch_size=8, seed=i,
                       progress=False, compiled=compiled)
            run.append(h.loss[0])
        results.append([p.data for p in m.parameters()] + run)
    assert results[0] == pytest.approx(results[1], rel=1e-9, abs=1e-12)


def test_a_scalar_output_resolves_the_same_loss():
    X, y = data(classes=2)
    ys = [2 * t - 1 for t in y]  # -1/+1: "auto" is hinge for a scalar output

    def make():
        return nn.MLP(4, [5, 1], activation="tanh", seed=3)

    assert loop(True, make=make, loss="auto", xy=(X, ys)) == \
        loop(False, make=make, loss="auto", xy=(X, ys))


class Logged(nn.Module):
    """A model whose forward takes the log of its first input less `shift`: a domain error
    when x[0] <= shift."""

    def __init__(self):
        self.inner = nn.MLP(4, [3], activation="linear", seed=2)
        self.shift = 0.0

    def forward(self, x):
        xs = [v if isinstance(v, Value) else Value(v) for v in x]
        return self.inner([(xs[0] - self.shift).log(), *xs[1:]])


@pytest.mark.parametrize("change", ["x0", "model"])
def test_an_x0_the_model_cannot_take_raises_before_training(change):
    X, y = data()
    X = [[abs(v) + 0.1 for v in r[:1]] + r[1:] for r in X]
    m = Logged()
    opt = nn.Adam(m.parameters(), lr=0.05)
    fit = dict(loss="cross_entropy", optimizer=opt, epochs=1, batch_size=8, progress=False,
               compiled=True)
    nn.fit(m, X, y, **fit)
    before = bits(m)
    if change == "x0":
        X[0][0] = -1.0
    else:  # every row but X[0] can still be taken
        m.shift = X[0][0]
        X[1:] = [[max(r[0], X[0][0] + 0.5), *r[1:]] for r in X[1:]]
    with pytest.raises(ValueError, match="log"):
        nn.fit(m, X, y, **fit)
    assert bits(m) == before  # nothing trained


def test_a_non_finite_sample_output_is_left_to_the_interpreter():
    X, y = data()
    m = model()
    opt = nn.Adam(m.parameters(), lr=0.05)
    fit = dict(loss="cross_entropy", optimizer=opt, epochs=1, batch_size=8, progress=False,
               compiled=True)
    nn.fit(m, X, y, **fit)
    assert nc.known_output(m, X[0], lambda out: nn.losses.cross_entropy) is not None
    assert nc.known_output(m, X[0][:3], lambda out: nn.losses.cross_entropy) is None
    assert nc.known_output(m, [Value(v) for v in X[0]],
                           lambda out: nn.losses.cross_entropy) is None
    assert nc.known_output(m, X[0], lambda out: nn.losses.multi_margin) is None
    m.layers[1].neurons[0].b.data = math.inf  # an infinite output: the interpreter decides
    assert nc.known_output(m, X[0], lambda out: nn.losses.cross_entropy) is None


class TupleOut(nn.Module):
    """Returns its outputs as a tuple: "auto" does not read a tuple as a vector of logits."""

    def __init__(self):
        self.inner = nn.MLP(4, [3], activation="linear", seed=4)

    def forward(self, x):
        return tuple(self.inner(x))


@pytest.mark.parametrize("compiled", [True, False])
def test_the_output_container_decides_auto_as_in_the_interpreter(compiled):
    X, y = data()
    m = TupleOut()
    fit = dict(optimizer=nn.Adam(m.parameters(), lr=0.05), epochs=1, batch_size=8,
               progress=False, compiled=compiled)
    nn.fit(m, X, y, loss="cross_entropy", **fit)
    with pytest.raises(ValueError, match="output is a vector, the target is not"):
        nn.fit(m, X, y, loss="auto", **fit)  # a tuple output: "auto" is mse
