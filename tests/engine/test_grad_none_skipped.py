"""A `.grad` of None means "no gradient yet", as in PyTorch: optimizers skip such parameters
(momentum buffers and Adam's step counts untouched), `zero_grad(set_to_none=True)` sets it,
and pictures, tapes and pages show it instead of crashing.

Oracle: torch.optim on float64 tensors, with the same parameters left without a gradient.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn
from autograd_lite import Value, draw_graph
from autograd_lite.viz.stepping import carried_grads, frames, tape

torch = pytest.importorskip("torch")

finite = st.floats(-3.0, 3.0, allow_nan=False)

OPTIMIZERS = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("sgd", {"lr": 0.05, "momentum": 0.5, "dampening": 0.3}),
    ("adam", {"lr": 0.01}),
    ("adam", {"lr": 0.02, "betas": (0.8, 0.99), "weight_decay": 0.05}),
]


def _make(kind: str, params: list, options: dict) -> object:
    if isinstance(params[0], Value):
        return (nn.SGD if kind == "sgd" else nn.Adam)(params, **options)
    return (torch.optim.SGD if kind == "sgd" else torch.optim.Adam)(params, **options)


@pytest.mark.parametrize(("kind", "options"), OPTIMIZERS)
@settings(max_examples=25, deadline=None)
@given(data=st.lists(finite, min_size=3, max_size=3),
       used=st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=1, max_size=5))
def test_optimizers_skip_parameters_whose_grad_is_none_as_torch(kind, options, data, used):
    # Step by step, some parameters get no gradient (grad None): both libraries leave them,
    # their momentum buffers and their step counts alone.
    ours = [Value(d) for d in data]
    theirs = [torch.tensor(d, dtype=torch.float64, requires_grad=True) for d in data]
    opt, topt = _make(kind, ours, options), _make(kind, theirs, options)
    for mask in used:
        opt.zero_grad(set_to_none=True)
        topt.zero_grad(set_to_none=True)
        assert all(p.grad is None for p in ours)
        if any(mask):
            loss = sum(((p * p).tanh() * (i + 1) for i, (p, u) in enumerate(zip(ours, mask))
                        if u), Value(0.0))
            tloss = sum((torch.tanh(p * p) * (i + 1) for i, (p, u) in
                         enumerate(zip(theirs, mask)) if u), torch.tensor(0.0, dtype=torch.float64))
            loss.backward()
            tloss.backward()
            for p, u in zip(ours, mask):  # backward fills the used ones, leaves None elsewhere
                if not u:
                    p.grad = None
        opt.step()
        topt.step()
        for p, t in zip(ours, theirs):
            assert p.data == pytest.approx(t.item(), rel=1e-12, abs=1e-14)
            assert (p.grad is None) == (t.grad is None)


def test_sgd_step_with_none_grad_leaves_the_parameter_exactly():
    a, b = Value(1.5), Value(-2.0)
    opt = nn.SGD([a, b], lr=0.1, momentum=0.9, weight_decay=0.5)
    b.grad = None
    a.grad = 2.0
    opt.step()
    assert b.data == -2.0 and b.grad is None
    assert a.data == pytest.approx(1.5 - 0.1 * (2.0 + 0.5 * 1.5))


def test_module_zero_grad_set_to_none_and_default():
    model = nn.MLP(2, [3, 1], seed=0)
    model([1.0, 2.0]).backward()
    model.zero_grad(set_to_none=True)
    assert all(p.grad is None for p in model.parameters())
    model([1.0, 2.0]).backward()  # None reads as "no gradient yet": backward fills them
    assert all(isinstance(p.grad, float) for p in model.parameters())
    model.zero_grad()  # the default stays 0.0
    assert all(p.grad == 0.0 for p in model.parameters())


def test_optimizer_zero_grad_set_to_none():
    model = nn.MLP(2, [2, 1], seed=0)
    opt = nn.Adam(model.parameters())
    opt.zero_grad(set_to_none=True)
    assert all(p.grad is None for p in model.parameters())
    before = [p.data for p in model.parameters()]
    opt.step()  # nothing has a gradient: nothing moves
    assert [p.data for p in model.parameters()] == before
    opt.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


@pytest.mark.parametrize("cls", [nn.SGD, nn.Adam])
def test_optimizer_given_the_model_says_pass_its_parameters(cls):
    model = nn.MLP(2, [2, 1], seed=0)
    with pytest.raises(TypeError, match=r"model\.parameters\(\)"):
        cls(model)


def _graph_with_a_none_grad() -> tuple[Value, Value]:
    x, w = Value(2.0, "x"), Value(-0.5, "w")
    y = (x * w + x).tanh() * w
    y.backward()
    x.grad = None
    return x, y


@pytest.mark.parametrize("options", [{}, {"color_by_grad": True}])
def test_draw_graph_shows_grad_none(options):
    x, y = _graph_with_a_none_grad()
    src = draw_graph(y, **options).source
    assert src.count("grad None") == 1  # x only; every other node has a number
    assert len(re.findall(r"grad -?\d", src)) >= 4
    assert x.grad is None  # drawing changes nothing


def test_tapes_and_frames_take_a_grad_of_none():
    x, y = _graph_with_a_none_grad()
    assert x not in carried_grads(y)  # None carries nothing
    for carry in (False, True):
        assert "x" in str(tape(y, carry=carry))
        assert len(frames(y, carry=carry)) == len(tape(y).steps)
        assert x.grad is None  # walked, then put back as it was
