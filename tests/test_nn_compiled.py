"""`nn.fit(compiled=True)` against the interpreter's `fit` (the reference) on the same data."""

from __future__ import annotations

import math
import warnings

import pytest

import nn
from autograd_lite import Value
from nn.compiled import CompiledStep
from nn.data import make_blobs, make_moons


def train(compiled: bool, loss: str = "auto", model=None, X=None, y=None, epochs: int = 3):
    if X is None:
        X, y = make_moons(40, noise=0.1, seed=3)
    model = model or nn.MLP(2, [6, 1], activation="tanh", seed=1)
    opt = nn.SGD(model.parameters(), lr=0.1, momentum=0.9)
    h = nn.fit(model, X, y, loss=loss, optimizer=opt, epochs=epochs, batch_size=8,
               progress=False, compiled=compiled)
    return h, [p.data for p in model.parameters()]


def close(a: list[float], b: list[float], tol: float = 1e-9) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=tol, abs_tol=tol)
                                    for x, y in zip(a, b))


@pytest.mark.parametrize("loss", ["auto", "hinge", "mse"])
def test_compiled_fit_follows_the_interpreter(loss):
    X, y = make_moons(40, noise=0.1, seed=3)
    if loss == "hinge":
        y = [2 * t - 1 for t in y]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback expected
        h1, p1 = train(True, loss, X=X, y=y)
    h0, p0 = train(False, loss, X=X, y=y)
    assert close(h1.loss, h0.loss) and h1.accuracy == h0.accuracy
    assert close(p1, p0)


def test_compiled_fit_multiclass_cross_entropy():
    X, y = make_blobs(30, centers=3, seed=2)
    m0 = nn.MLP(2, [5, 3], activation="relu", seed=4)
    m1 = nn.MLP(2, [5, 3], activation="relu", seed=4)
    h0, p0 = train(False, "cross_entropy", m0, X, y, epochs=2)
    h1, p1 = train(True, "cross_entropy", m1, X, y, epochs=2)
    assert close(h1.loss, h0.loss) and close(p1, p0)


def test_loss_that_is_not_a_mean_falls_back_to_the_interpreter():
    def summed(outs, targets):
        return nn.losses.mse(outs, targets, reduction="sum")

    X, y = make_moons(24, noise=0.1, seed=0)
    y = [float(t) for t in y]
    with pytest.warns(RuntimeWarning, match="not a mean"):
        h1, p1 = train(True, summed, X=X, y=y, epochs=2)
    h0, p0 = train(False, summed, X=X, y=y, epochs=2)
    assert close(h1.loss, h0.loss) and close(p1, p0)


class Branchy(nn.Module):
    """A model with Python control flow on data: cannot be replayed."""

    def __init__(self) -> None:
        self.w = Value(0.5)

    def forward(self, x):
        s = self.w * x[0]
        return s * 2.0 if s > 0 else s * -3.0


def test_data_dependent_model_falls_back_with_a_warning():
    X = [[1.0], [-1.0], [2.0], [-0.5]]
    y = [1.0, 0.5, 2.0, 0.1]
    m1, m0 = Branchy(), Branchy()
    with pytest.warns(RuntimeWarning, match="compares Values"):
        h1, p1 = train(True, "mse", m1, X, y, epochs=2)
    h0, p0 = train(False, "mse", m0, X, y, epochs=2)
    assert close(h1.loss, h0.loss) and close(p1, p0)


def test_step_is_a_train_batch_replacement():
    model = nn.MLP(2, [3, 1], seed=0)
    step = CompiledStep(model, nn.losses.mse)
    opt = nn.SGD(model.parameters(), lr=0.0)
    xb = [[0.1, 0.2], [0.3, -0.4]]
    yb = [0.5, -0.5]
    first = step(model, xb, yb, nn.losses.mse, opt)  # verified against train_batch
    second = step(model, xb, yb, nn.losses.mse, opt)  # compiled
    assert step.fallback is None and step.verified
    assert math.isclose(first[0], second[0], rel_tol=1e-12)
    assert close(first[1], second[1], 1e-12)
