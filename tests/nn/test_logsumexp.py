"""The log-sum-exp family (cross_entropy, softmax, log_softmax, logsumexp) at extreme logits, and
its compiled replay: the max-shift is a node of the graph (`maximum`), never a
constant frozen by tracing, so replay far from the traced point gives the interpreter's numbers."""

from __future__ import annotations

import math
import warnings

import mpmath
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from autograd_lite import Value, compile_grad
from autograd_lite.testing import gradcheck
from nn import losses

torch = pytest.importorskip("torch")
F = torch.nn.functional
f64 = torch.float64

# Ordinary and extreme logit vectors: a spread of 720 (exp underflows to a subnormal), of 744
# (to almost nothing), +-30 (a dominant class whose tiny log-probability needs care), +-1000,
# exact ties, and a vector whose maximum is not its first entry.
EXTREME = [
    [30.0, 0.0, -30.0],
    [0.0, -720.0],
    [-720.0, 0.0, 3.0],
    [744.0, 0.0, 36.0],
    [1000.0, 0.0, -1000.0],
    [-1000.0, 3.0, -1000.0],
    [1000.0, 1000.0],
    [0.3, -1.2, 2.5, 0.7],
    [7.0],
]


def near(a: float, b: float, tol: float = 1e-12) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def grads_of(fn, z: list[float]) -> tuple[float, list[float]]:
    vs = [Value(x) for x in z]
    out = fn(vs)
    out.backward()
    return out.data, [v.grad for v in vs]


def torch_grads(fn, z: list[float]) -> tuple[float, list[float]]:
    t = torch.tensor(z, dtype=f64, requires_grad=True)
    out = fn(t)
    out.backward()
    return out.item(), t.grad.tolist()


def exact_cross_entropy(z: list[float], y: int) -> tuple[float, list[float]]:
    """-log softmax(z)[y] and its gradient softmax(z) - onehot(y), in 60-digit arithmetic."""
    with mpmath.workdps(60):
        zs = [mpmath.mpf(x) for x in z]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(x) for x in zs))
        p = [mpmath.exp(x - lse) for x in zs]
        return float(lse - zs[y]), [float(pi - (1 if i == y else 0)) for i, pi in enumerate(p)]


@pytest.mark.parametrize("z", EXTREME)
def test_cross_entropy_matches_torch_and_exact_at_extreme_logits(z) -> None:
    for y in range(len(z)):
        value, g = grads_of(lambda vs, y=y: losses.cross_entropy(vs, y), z)
        ref_value, ref_g = torch_grads(
            lambda t, y=y: F.cross_entropy(t.unsqueeze(0), torch.tensor([y])), z)
        exact_value, exact_g = exact_cross_entropy(z, y)
        assert all(map(math.isfinite, [value, *g]))
        # The value relative to torch's, even when tiny (a dominant class: 9.3e-14 at +-30).
        assert math.isclose(value, ref_value, rel_tol=1e-12, abs_tol=1e-300), (value, ref_value)
        assert near(value, exact_value), (value, exact_value)
        assert all(map(near, g, ref_g)), (g, ref_g)
        # At least as accurate as torch: within 4 ulps of 1 of the exact gradient.
        assert all(abs(a - b) <= 1e-15 for a, b in zip(g, exact_g)), (g, exact_g)


@pytest.mark.parametrize("z", EXTREME)
def test_logsumexp_softmax_log_softmax_match_torch_at_extreme_logits(z) -> None:
    value, g = grads_of(losses.logsumexp, z)
    ref_value, ref_g = torch_grads(lambda t: torch.logsumexp(t, 0), z)
    assert near(value, ref_value) and all(map(near, g, ref_g)), (value, g, ref_value, ref_g)
    for ours, ref in ((losses.softmax, torch.softmax), (losses.log_softmax, torch.log_softmax)):
        for k in range(len(z)):
            value, g = grads_of(lambda vs, f=ours, k=k: f(vs)[k], z)
            ref_value, ref_g = torch_grads(lambda t, f=ref, k=k: f(t, 0)[k], z)
            assert math.isclose(value, ref_value, rel_tol=1e-12, abs_tol=1e-300), (
                ours.__name__, k, value, ref_value)
            assert all(map(near, g, ref_g)), (ours.__name__, k, g, ref_g)


@given(z=st.lists(st.floats(-50, 50), min_size=1, max_size=5), shift=st.sampled_from(
    [0.0, 700.0, -720.0, 1000.0]))
def test_logsumexp_gradient_matches_finite_differences(z, shift) -> None:
    z = [x + shift for x in z]
    gradcheck(lambda *vs: losses.logsumexp(list(vs)), z)
    gradcheck(lambda *vs: losses.cross_entropy(list(vs), 0), z)


def _interpreted(fn, z: list[float]) -> tuple[float, list[float]]:
    return grads_of(lambda vs: fn(*vs), z)


LOSS_FNS = {
    "cross_entropy": lambda *z: losses.cross_entropy(list(z), 0),
    "cross_entropy_last": lambda *z: losses.cross_entropy(list(z), len(z) - 1),
    "logsumexp": lambda *z: losses.logsumexp(list(z)),
    "log_softmax": lambda *z: losses.log_softmax(list(z))[1],
    "softmax": lambda *z: losses.softmax(list(z))[0],
}


@pytest.mark.parametrize("name", sorted(LOSS_FNS))
@pytest.mark.parametrize("below", [0.0, 30.0, 708.0, 720.0, 730.0, 744.0])
def test_compiled_replay_far_below_the_traced_maximum_equals_the_interpreter(name, below) -> None:
    fn = LOSS_FNS[name]
    traced = [2.0, 0.5, -1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no data-dependence warning: nothing is frozen
        c = compile_grad(fn, traced)
    # Every logit 708-744 below the traced maximum (exp(-744) is 5e-324), in several orders.
    for z in ([-below, -below - 3.0, -below - 1.5], [-below - 1.0, -below, 5.0 - below],
              [-below - 0.25, -below - 0.5, -below]):
        value, g = c.value_and_grad(z)
        ref_value, ref_g = _interpreted(fn, z)
        assert all(map(math.isfinite, [value, *g])), (z, value, g)
        assert value == ref_value and list(g) == ref_g, (z, value, g, ref_value, ref_g)


@given(traced=st.lists(st.floats(-1000, 1000), min_size=4, max_size=4),
       replay=st.lists(st.floats(-1000, 1000), min_size=4, max_size=4))
def test_compiled_cross_entropy_replays_anywhere_as_interpreted(traced, replay) -> None:
    fn = LOSS_FNS["cross_entropy"]
    value, g = compile_grad(fn, traced).value_and_grad(replay)
    assert (value, list(g)) == _interpreted(fn, replay)


def test_fit_compiled_with_an_input_of_720_stays_finite_and_follows_the_interpreter() -> None:
    # MLP(1, [3]), 4 samples, one input of 720: the compiled step froze the shift
    # and turned every parameter into -inf/nan. Several seeds and positions, since which
    # sample is traced first decides whether the frozen shift was the small one.
    for seed in (0, 11, 12):
        for pos in range(4):
            X = [[0.5], [-0.3], [0.2], [1.0]]
            X[pos] = [720.0]
            y = [0, 1, 0, 1] if seed != 12 else [2, 1, 0, 2]
            runs = []
            for compiled in (True, False):
                model = nn.MLP(1, [3], seed=seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("error", RuntimeWarning)  # no interpreter fallback
                    h = nn.fit(model, X, y, epochs=5, batch_size=2, compiled=compiled,
                               progress=False)
                runs.append((h.loss, [p.data for p in model.parameters()]))
            (loss1, p1), (loss0, p0) = runs
            assert all(map(math.isfinite, p1)), (seed, pos, p1)
            assert all(map(near, loss1, loss0)) and all(map(near, p1, p0)), (seed, pos)
