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


# ---- one traced sample loss, the target as inputs ----------------------------------------------

def fit_both(loss, X, y, sizes, activation="tanh", optimizer="adam", epochs=2, batch_size=8):
    """fit(compiled=True) and fit() from the same weights: (loss histories, final weights, the
    compiled run's CompiledStep)."""
    runs = []
    for compiled in (True, False):
        model = nn.MLP(len(X[0]), sizes, activation=activation, seed=4)
        opt = (nn.Adam(model.parameters(), lr=0.05) if optimizer == "adam"
               else nn.SGD(model.parameters(), lr=0.1, momentum=0.9))
        step = CompiledStep(model, nn.losses.LOSSES.get(loss, loss), targets=y) \
            if compiled else nn.train_batch
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no fallback expected
            h = nn.fit(model, X, y, loss=loss, optimizer=opt, epochs=epochs,
                       batch_size=batch_size, progress=False, step=step)
        runs.append((h.loss, [p.data for p in model.parameters()], step))
    return runs


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_cross_entropy_steps_equal_the_interpreter_bit_for_bit(optimizer):
    # One-hot labels pick z_y - m exactly, the seed is the batch's 1/n and the rows are summed in
    # backward()'s order: every step, hence every weight, is the interpreter's to the last bit.
    X, y = make_blobs(45, centers=4, seed=2)  # 45 = 5 batches of 8 and one of 5
    (l1, p1, step), (l0, p0, _) = fit_both("cross_entropy", X, y, [5, 4], "relu", optimizer)
    assert isinstance(step.encoding, nn.compiled._CrossEntropy)
    assert step.compiled.n_inputs == 2 + 4 + 1  # one traced function: x, one-hot label, 1/n
    assert l1 == l0 and p1 == p0


@pytest.mark.parametrize("loss, targets", [
    ("hinge", lambda y: [2 * t - 1 for t in y]),             # one-hot choice over {-1, 1}
    ("bce_with_logits", lambda y: y),                      # one-hot choice over {0, 1}
    ("mse", lambda y: [0.25 + 0.5 * t for t in y]),        # value targets
])
def test_scalar_output_losses_equal_the_interpreter(loss, targets):
    X, y = make_moons(30, noise=0.1, seed=3)
    (l1, p1, step), (l0, p0, _) = fit_both(loss, X, targets(y), [6, 1])
    assert step.compiled is not None and step.fallback is None
    assert l1 == l0 and p1 == p0


def test_one_hot_choice_of_a_vector_loss_within_1e12():
    # multi_margin is traced as sum_c h_c * loss(out, c): the chosen class's loss plus exact
    # zeros; only the order in which the model's nodes are swept may differ from the
    # interpreter's, so gradients agree to rounding (1e-12 relative), not necessarily bit for bit.
    X, y = make_blobs(40, centers=3, seed=5)
    (l1, p1, step), (l0, p0, _) = fit_both("multi_margin", X, y, [5, 3])
    assert isinstance(step.encoding, nn.compiled._Choice)
    assert close(l1, l0, 1e-12) and close(p1, p0, 1e-12)


def test_vector_value_targets_within_1e12():
    # mse on 2-vector targets: per-sample means then a batch mean (the interpreter divides once
    # by n * 2): equal to rounding.
    # (Batches by hand: fit's class-label helpers expect hashable targets.)
    X, y = make_moons(24, noise=0.1, seed=1)
    Y = [[float(t), 1.0 - 0.5 * t] for t in y]
    m1, m0 = nn.MLP(2, [4, 2], seed=3), nn.MLP(2, [4, 2], seed=3)
    o1, o0 = nn.Adam(m1.parameters(), lr=0.05), nn.Adam(m0.parameters(), lr=0.05)
    step = CompiledStep(m1, nn.losses.mse)
    for b in range(0, 24, 5):
        r1 = step(m1, X[b:b + 5], Y[b:b + 5], nn.losses.mse, o1)
        r0 = nn.train_batch(m0, X[b:b + 5], Y[b:b + 5], nn.losses.mse, o0)
        assert close([r1[0]], [r0[0]], 1e-12)
    assert isinstance(step.encoding, nn.compiled._ValueTargets) and step.encoding.width == 2
    assert step.fallback is None
    assert close([p.data for p in m1.parameters()], [p.data for p in m0.parameters()], 1e-12)


def test_per_sample_gradients_of_the_traced_loss_are_the_interpreters():
    # The compiled function itself, row by row, against grad() of loss_fn([model(x)], [t]).
    from autograd_lite import grad
    model = nn.MLP(3, [4, 3], activation="tanh", seed=7)
    X, y = make_blobs(12, centers=3, dim=3, seed=1)
    step = CompiledStep(model, nn.losses.cross_entropy, backend="python", targets=y)
    assert step._setup(X[:2], y[:2])
    ps = model.parameters()
    for x, t in zip(X, y):
        (_, aux), g = step.compiled.value_and_grad([*x, *step.encoding.encode(t), 1.0])
        ref = nn.losses.cross_entropy(model(x), t)
        assert aux[0] == ref.data
        assert list(g[len(x) + 3 + 1:]) == list(grad(ref, ps))


def test_traced_once_for_all_labels():
    X, y = make_blobs(30, centers=3, seed=2)
    model = nn.MLP(2, [4, 3], seed=0)
    step = CompiledStep(model, nn.losses.cross_entropy)
    opt = nn.SGD(model.parameters(), lr=0.1)
    for b in range(0, 30, 10):
        step(model, X[b:b + 10], y[b:b + 10], nn.losses.cross_entropy, opt)
    first = step.compiled
    step(model, X[:10], y[:10], nn.losses.cross_entropy, opt)
    assert step.compiled is first and step.fallback is None


def test_unknown_label_is_the_interpreters_error():
    model = nn.MLP(2, [3, 3], seed=0)
    step = CompiledStep(model, nn.losses.cross_entropy)
    opt = nn.SGD(model.parameters(), lr=0.1)
    xb = [[0.1, 0.2], [0.3, 0.4]]
    step(model, xb, [0, 2], nn.losses.cross_entropy, opt)
    with pytest.raises(ValueError, match="out of range"):
        step(model, xb, [0, 3], nn.losses.cross_entropy, opt)
    with pytest.raises(TypeError, match="int class index"):
        step(model, xb, [0, 1.5], nn.losses.cross_entropy, opt)


def test_new_discrete_target_retraces_with_every_target_seen():
    # Without the full target list, a one-hot choice grows when a batch brings a new target.
    X = [[0.1 * i, -0.05 * i] for i in range(12)]
    y = [-1, -1, -1, -1, 1, -1, 1, 1, -1, 1, 1, 1]
    m1, m0 = nn.MLP(2, [3, 1], seed=2), nn.MLP(2, [3, 1], seed=2)
    o1, o0 = nn.SGD(m1.parameters(), lr=0.1), nn.SGD(m0.parameters(), lr=0.1)
    step = CompiledStep(m1, nn.losses.hinge)
    for b in range(0, 12, 4):
        r1 = step(m1, X[b:b + 4], y[b:b + 4], nn.losses.hinge, o1)
        r0 = nn.train_batch(m0, X[b:b + 4], y[b:b + 4], nn.losses.hinge, o0)
        assert r1 == r0
    assert sorted(step.encoding.classes) == [-1, 1] and step.fallback is None
    assert [p.data for p in m1.parameters()] == [p.data for p in m0.parameters()]


def test_non_finite_choice_batch_uses_the_interpreter():
    # A loss whose unchosen class overflows: 0 * inf would be nan in the one-hot sum; the batch
    # is then the interpreter's (finite) step.
    def peaky(outs, targets):
        terms = [((o * 0.0 + 1000.0).exp() if t == 1 else o * o) for o, t in zip(outs, targets)]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total * (1.0 / len(terms))

    X = [[1.0, 1.0], [0.5, -0.5], [2.0, 0.0], [0.0, 1.0]]
    y = [0, 0, 0, 0]
    m1, m0 = nn.MLP(2, [3, 1], seed=1), nn.MLP(2, [3, 1], seed=1)
    o1, o0 = nn.SGD(m1.parameters(), lr=0.01), nn.SGD(m0.parameters(), lr=0.01)
    step = CompiledStep(m1, peaky, backend="python", targets=[0, 1])
    for _ in range(3):
        r1 = step(m1, X, y, peaky, o1)
        r0 = nn.train_batch(m0, X, y, peaky, o0)
        assert math.isfinite(r1[0]) and close([r1[0]], [r0[0]], 1e-12)
    assert close([p.data for p in m1.parameters()], [p.data for p in m0.parameters()], 1e-12)
