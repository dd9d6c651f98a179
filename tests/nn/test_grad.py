"""Gradients of an MLP and of an unrolled RNN: against PyTorch in float64 with the same weights
(an independent implementation), and against central differences (`gradcheck`)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograd_lite import Value
from autograd_lite.testing import gradcheck
from nn import MLP, Module, RNNCell

floats = st.floats(-2.0, 2.0, allow_nan=False)


def set_param(model: Module, name: str, value: Value) -> None:
    """Rebind the parameter at dotted `name` to `value` (so gradcheck can feed fresh Values)."""
    *path, last = name.split(".")
    obj: Any = model
    for part in path:
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    if last.isdigit():
        obj[int(last)] = value
    else:
        setattr(obj, last, value)


def weighted_sum(outs: Any, coeffs: list[float]) -> Value:
    outs = outs if isinstance(outs, list) else [outs]
    return sum((o * c for o, c in zip(outs, coeffs)), Value(0.0))


# ---- MLP ---------------------------------------------------------------------------------------

def torch_mlp_grads(model: MLP, x: list[float], coeffs: list[float]) -> tuple[list, list]:
    torch = pytest.importorskip("torch")
    acts = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid,
            "linear": lambda t: t}
    params = []
    h = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    xin = h
    for layer in model.layers:
        W = torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64,
                         requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64,
                         requires_grad=True)
        params.append((W, b))
        h = acts[layer.activation](W @ h + b)
    (h * torch.tensor(coeffs, dtype=torch.float64)).sum().backward()
    flat = []  # in the documented order: layer by layer, neuron by neuron, weights then bias
    for W, b in params:
        for j in range(W.shape[0]):
            flat += W.grad[j].tolist() + [b.grad[j].item()]
    return flat, xin.grad.tolist()


@given(x=st.lists(floats, min_size=3, max_size=3),
       coeffs=st.lists(floats, min_size=2, max_size=2),
       activation=st.sampled_from(["tanh", "relu", "sigmoid", "linear"]),
       seed=st.integers(0, 10**6))
def test_mlp_gradients_match_torch(x, coeffs, activation, seed) -> None:
    model = MLP(3, [5, 4, 2], activation=activation, seed=seed)
    want_params, want_x = torch_mlp_grads(model, x, coeffs)
    xs = [Value(v) for v in x]
    weighted_sum(model(xs), coeffs).backward()
    got = [p.grad for p in model.parameters()]
    assert len(got) == len(want_params)
    for name_p, g, w in zip(model.named_parameters(), got, want_params):
        assert math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12), (name_p[0], g, w)
    for g, w in zip([v.grad for v in xs], want_x):
        assert math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "linear"])
def test_mlp_gradients_pass_gradcheck(activation: str) -> None:
    model = MLP(2, [3, 2], activation=activation, output_activation="tanh", seed=3)
    names = [n for n, _ in model.named_parameters()]
    x = [0.7, -1.3]

    def f(*vs: Value) -> Value:
        for name, v in zip(names, vs):
            set_param(model, name, v)
        return weighted_sum(model(list(vs[len(names):])), [1.0, -0.5])

    gradcheck(f, [p.data for p in model.parameters()] + x)


# ---- RNN ---------------------------------------------------------------------------------------

def torch_rnn_grads(cell: RNNCell, xs: list[list[float]], h0: list[float] | None,
                    coeffs: list[list[float]]) -> dict[str, list[float]]:
    torch = pytest.importorskip("torch")
    ref = torch.nn.RNNCell(cell.nin, cell.nhidden, nonlinearity="tanh").double()
    f64 = torch.float64
    with torch.no_grad():
        ref.weight_ih.copy_(torch.tensor([[w.data for w in row] for row in cell.W], dtype=f64))
        ref.weight_hh.copy_(torch.tensor([[u.data for u in row] for row in cell.U], dtype=f64))
        ref.bias_ih.copy_(torch.tensor([b.data for b in cell.b], dtype=f64))
        ref.bias_hh.zero_()
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    h = (torch.zeros(cell.nhidden, dtype=torch.float64) if h0 is None
         else torch.tensor(h0, dtype=torch.float64, requires_grad=True))
    hstart = h
    total = torch.zeros((), dtype=torch.float64)
    for t in range(len(xs)):
        h = ref(x[t].unsqueeze(0), h.unsqueeze(0)).squeeze(0)
        total = total + (h * torch.tensor(coeffs[t], dtype=torch.float64)).sum()
    total.backward()
    out = {"W": ref.weight_ih.grad.flatten().tolist(), "U": ref.weight_hh.grad.flatten().tolist(),
           "b": ref.bias_ih.grad.tolist(), "x": x.grad.flatten().tolist()}
    if h0 is not None:
        out["h0"] = hstart.grad.tolist()
    return out


@settings(max_examples=20)  # each example unrolls up to 6 steps in both engines
@given(data=st.data(), nin=st.integers(1, 3), nh=st.integers(1, 4), steps=st.integers(1, 6),
       seed=st.integers(0, 10**6), with_h0=st.booleans())
def test_unrolled_rnn_gradients_match_torch(data, nin, nh, steps, seed, with_h0) -> None:
    xs = data.draw(st.lists(st.lists(floats, min_size=nin, max_size=nin),
                            min_size=steps, max_size=steps))
    coeffs = data.draw(st.lists(st.lists(floats, min_size=nh, max_size=nh),
                                min_size=steps, max_size=steps))
    h0 = data.draw(st.lists(floats, min_size=nh, max_size=nh)) if with_h0 else None
    cell = RNNCell(nin, nh, seed=seed)
    want = torch_rnn_grads(cell, xs, h0, coeffs)
    xv = [[Value(v) for v in row] for row in xs]
    hv = [Value(v) for v in h0] if h0 is not None else None
    states = cell.unroll(xv, hv)
    assert len(states) == steps and all(len(h) == nh for h in states)
    total = Value(0.0)
    for h, c in zip(states, coeffs):
        total = total + weighted_sum(h, c)
    total.backward()
    got = {"W": [w.grad for row in cell.W for w in row],
           "U": [u.grad for row in cell.U for u in row],
           "b": [b.grad for b in cell.b], "x": [v.grad for row in xv for v in row]}
    if hv is not None:
        got["h0"] = [v.grad for v in hv]
    for key, values in want.items():
        for g, w in zip(got[key], values, strict=True):
            assert math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12), (key, g, w)


def test_unrolled_rnn_passes_gradcheck() -> None:
    cell = RNNCell(2, 3, seed=11)
    names = [n for n, _ in cell.named_parameters()]
    xs = [[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8], [0.0, 1.0]]
    coeffs = [0.3, -1.2, 0.7]

    def f(*vs: Value) -> Value:
        for name, v in zip(names, vs):
            set_param(cell, name, v)
        states = cell.unroll(xs)
        return weighted_sum(states[-1], coeffs) + weighted_sum(states[1], coeffs)

    gradcheck(f, [p.data for p in cell.parameters()])


def test_bptt_accumulates_over_steps() -> None:
    # The shared weights appear once per step: their gradient is the sum over steps, so it
    # differs from the gradient through the last step alone.
    cell = RNNCell(1, 1, seed=0)
    states = cell.unroll([[1.0], [1.0], [1.0]])
    states[-1][0].backward()
    w = cell.W[0][0]
    g_all = w.grad
    cell.zero_grad()
    last_only = cell([1.0], [states[1][0].data])  # same step, previous state as a constant
    last_only[0].backward()
    assert g_all != pytest.approx(w.grad)
