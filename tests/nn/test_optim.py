"""SGD and Adam against torch.optim on the same parameters and the same loss, step by step."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import Value
from nn import MLP, SGD, Adam

torch = pytest.importorskip("torch")
f64 = torch.float64

STEPS = 6


def our_loss(ps: list[Value], a: list[float]) -> Value:
    # Nonlinear and coupled, so gradients change from step to step.
    total = Value(0.0)
    for i, p in enumerate(ps):
        total = total + (p * a[i]).tanh() + p * p * 0.3 + p * ps[i - 1] * 0.1
    return total


def torch_loss(t, a: list[float]):
    at = torch.tensor(a[: t.shape[0]], dtype=f64)
    return (torch.tanh(t * at) + t * t * 0.3 + t * torch.roll(t, 1) * 0.1).sum()


def run_both(make_ours, make_ref, x0: list[float], a: list[float]) -> None:
    ps = [Value(v) for v in x0]
    t = torch.tensor(x0, dtype=f64, requires_grad=True)
    opt = make_ours(ps)
    ref = make_ref([t])
    for step in range(STEPS):
        opt.zero_grad()
        our_loss(ps, a).backward()
        opt.step()
        ref.zero_grad()
        torch_loss(t, a).backward()
        ref.step()
        for p, w in zip(ps, t.tolist()):
            assert math.isclose(p.data, w, rel_tol=1e-9, abs_tol=1e-12), (step, p.data, w)


params = st.lists(st.floats(-2, 2), min_size=1, max_size=5)
coeffs = st.lists(st.floats(-2, 2), min_size=5, max_size=5)


@given(x0=params, a=coeffs, lr=st.floats(1e-3, 0.5), momentum=st.sampled_from([0.0, 0.5, 0.9]),
       dampening=st.sampled_from([0.0, 0.3]), weight_decay=st.sampled_from([0.0, 1e-2]),
       nesterov=st.booleans())
def test_sgd_matches_torch(x0, a, lr, momentum, dampening, weight_decay, nesterov) -> None:
    if nesterov and (momentum == 0.0 or dampening != 0.0):
        nesterov = False
    kw = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
              nesterov=nesterov)
    run_both(lambda ps: SGD(ps, **kw), lambda ts: torch.optim.SGD(ts, **kw), x0, a)


@given(x0=params, a=coeffs, lr=st.floats(1e-4, 0.3),
       betas=st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)]),
       eps=st.sampled_from([1e-8, 1e-3]), weight_decay=st.sampled_from([0.0, 1e-2]))
def test_adam_matches_torch(x0, a, lr, betas, eps, weight_decay) -> None:
    kw = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    run_both(lambda ps: Adam(ps, **kw), lambda ts: torch.optim.Adam(ts, foreach=False, **kw),
             x0, a)


def test_zero_grad_and_step_on_a_model() -> None:
    model = MLP(2, [3, 1], seed=0)
    opt = SGD(model.parameters(), lr=0.1)
    model([1.0, 2.0]).backward()
    before = [p.data for p in model.parameters()]
    grads = [p.grad for p in model.parameters()]
    opt.step()
    assert [p.data for p in model.parameters()] == [b - 0.1 * g for b, g in zip(before, grads)]
    opt.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


@pytest.mark.parametrize("make, exc", [
    (lambda: SGD([], lr=0.1), ValueError),
    (lambda: SGD([Value(1.0)], lr=-1.0), ValueError),
    (lambda: SGD([Value(1.0)], lr="fast"), TypeError),
    (lambda: SGD([Value(1.0)], lr=math.nan), ValueError),
    (lambda: SGD([1.0], lr=0.1), TypeError),
    (lambda: SGD([Value(1.0)], lr=0.1, nesterov=True), ValueError),
    (lambda: Adam([Value(1.0)], betas=(0.9, 1.0)), ValueError),
    (lambda: Adam([Value(1.0)], eps=-1.0), ValueError),
])
def test_bad_optimizer_arguments(make, exc) -> None:
    with pytest.raises(exc):
        make()


def test_duplicate_parameters_rejected() -> None:
    v = Value(1.0)
    with pytest.raises(ValueError, match="twice"):
        Adam([v, v])


@given(x0=params, a=coeffs, weight_decay=st.sampled_from([0.0, 1e-2]),
       which=st.sampled_from(["sgd", "momentum", "nesterov", "adam"]))
def test_step_with_is_step_after_backward(x0, a, weight_decay, which) -> None:
    # step_with(grads) (compiled training's path) stores the gradients in .grad and makes the
    # same update as backward() then step(), bit for bit, step after step.
    def make(ps):
        if which == "adam":
            return Adam(ps, lr=0.05, weight_decay=weight_decay)
        return SGD(ps, lr=0.1, momentum=0.0 if which == "sgd" else 0.9,
                   nesterov=which == "nesterov", weight_decay=weight_decay)

    ps0 = [Value(v) for v in x0]
    ps1 = [Value(v) for v in x0]
    opt0, opt1 = make(ps0), make(ps1)
    for _ in range(STEPS):
        opt0.zero_grad()
        our_loss(ps0, a).backward()
        grads = [p.grad for p in ps0]
        opt0.step()
        opt1.step_with(grads)
        assert [p.grad for p in ps1] == grads  # the raw gradients, not with weight decay
        assert [p.data for p in ps1] == [p.data for p in ps0]


def test_step_with_wrong_count_changes_nothing() -> None:
    ps = [Value(1.0), Value(2.0)]
    for opt in (SGD(ps, lr=0.1, momentum=0.9), Adam(ps)):
        with pytest.raises(ValueError, match="got 1 gradients for 2 parameters"):
            opt.step_with([0.5])
        assert [p.data for p in ps] == [1.0, 2.0] and [p.grad for p in ps] == [0.0, 0.0]
    assert opt.t == 0
