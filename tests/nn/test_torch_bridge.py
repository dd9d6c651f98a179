"""Graduating to PyTorch: `model.to_torch()` and `MLP.from_torch(module)` give equal
models: same outputs and gradients (inputs and every parameter) to 1e-12 in float64, exact
parameter round trips, clear errors for modules with no MLP equivalent and without torch."""

from __future__ import annotations

import math
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from autograd_lite import Value
from nn import MLP, Layer, Neuron, RNNCell

torch = pytest.importorskip("torch")
f64 = torch.float64
ACTS = ["tanh", "relu", "sigmoid", "linear"]


def close(a: list[float], b: list[float], tol: float = 1e-12) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=tol, abs_tol=tol)
                                    for x, y in zip(a, b))


def torch_params(module) -> list[float]:
    """Parameters in our order: per Linear, row j's weights then bias j."""
    out = []
    for lin in [m for m in module.modules() if isinstance(m, torch.nn.Linear)]:
        for row, b in zip(lin.weight.tolist(), lin.bias.tolist()):
            out += [*row, b]
    return out


def torch_param_grads(module) -> list[float]:
    out = []
    for lin in [m for m in module.modules() if isinstance(m, torch.nn.Linear)]:
        for row, b in zip(lin.weight.grad.tolist(), lin.bias.grad.tolist()):
            out += [*row, b]
    return out


def ours_vs_torch(model, ref, x: list[float], coef: list[float]) -> None:
    """Outputs, and gradients of sum_k coef_k * out_k w.r.t. inputs and parameters."""
    xs = [Value(v) for v in x]
    out = model(xs)
    outs = out if isinstance(out, list) else [out]
    loss = sum((o * c for o, c in zip(outs[1:], coef[1:])), outs[0] * coef[0])
    loss.backward()
    t = torch.tensor(x, dtype=f64, requires_grad=True)
    tout = ref(t)
    (tout * torch.tensor(coef[:len(outs)], dtype=f64)).sum().backward()
    assert close([o.data for o in outs], tout.tolist()), ([o.data for o in outs], tout.tolist())
    assert close([v.grad for v in xs], t.grad.tolist())
    assert close([p.grad for p in model.parameters()], torch_param_grads(ref))


mlp_configs = st.fixed_dictionaries({
    "nin": st.integers(1, 4),
    "sizes": st.lists(st.integers(1, 5), min_size=1, max_size=3),
    "activation": st.sampled_from(ACTS),
    "output_activation": st.sampled_from([None, *ACTS]),
    "seed": st.integers(0, 2**32),
})


@given(cfg=mlp_configs, data=st.data())
def test_to_torch_gives_the_same_outputs_and_gradients(cfg, data) -> None:
    model = MLP(**cfg)
    ref = model.to_torch()
    assert all(p.dtype == f64 for p in ref.parameters())
    assert torch_params(ref) == [p.data for p in model.parameters()]  # copied exactly
    x = data.draw(st.lists(st.floats(-3, 3), min_size=cfg["nin"], max_size=cfg["nin"]))
    coef = data.draw(st.lists(st.floats(-2, 2), min_size=cfg["sizes"][-1],
                              max_size=cfg["sizes"][-1]))
    ours_vs_torch(model, ref, x, coef)


@given(cfg=mlp_configs)
def test_round_trip_through_torch_is_exact(cfg) -> None:
    model = MLP(**cfg)
    back = MLP.from_torch(model.to_torch())
    assert back.state_dict() == model.state_dict()
    assert (back.nin, back.sizes, back.output_activation) == (
        model.nin, model.sizes, model.output_activation)
    if len(model.sizes) > 1:  # a one-layer MLP has no hidden activation to recover
        assert back.activation == model.activation


@pytest.mark.parametrize("hidden, out", [("Tanh", None), ("ReLU", "Sigmoid"),
                                         ("Sigmoid", "Tanh"), (None, "Identity")])
def test_from_torch_builds_an_equal_mlp_from_a_torch_made_sequential(hidden, out) -> None:
    torch.manual_seed(0)
    acts = (lambda name: [getattr(torch.nn, name)()] if name else [])
    ref = torch.nn.Sequential(torch.nn.Linear(3, 5), *acts(hidden),
                              torch.nn.Sequential(torch.nn.Linear(5, 4), *acts(hidden)),
                              torch.nn.Linear(4, 2), *acts(out))  # float32, nested
    model = MLP.from_torch(ref)
    assert model.sizes == [5, 4, 2] and model.nin == 3
    ref = ref.double()  # float32 weights are exact in float64
    assert [p.data for p in model.parameters()] == torch_params(ref)
    ours_vs_torch(model, ref, [0.4, -1.3, 2.2], [1.0, -0.5])


def test_from_torch_accepts_one_linear_and_bias_free_layers() -> None:
    lin = torch.nn.Linear(2, 3, bias=False, dtype=f64)
    model = MLP.from_torch(lin)
    assert model.sizes == [3] and all(n.b.data == 0.0 for n in model.layers[0].neurons)
    x = [0.5, -0.25]
    assert close([v.data for v in model(x)], lin(torch.tensor(x, dtype=f64)).tolist())


def test_from_torch_does_not_use_nn_generator() -> None:
    nn.manual_seed(4)
    MLP.from_torch(torch.nn.Linear(2, 1))
    a = MLP(2, [3, 1])
    nn.manual_seed(4)
    assert MLP(2, [3, 1]).state_dict() == a.state_dict()


def test_neuron_and_layer_to_torch() -> None:
    for model in (Neuron(3, "sigmoid", seed=2), Layer(3, 4, "relu", seed=3),
                  Layer(3, 2, "linear", seed=4)):
        ref = model.to_torch()
        out = model([0.3, -0.8, 1.1])
        want = ref(torch.tensor([0.3, -0.8, 1.1], dtype=f64)).tolist()
        assert close([o.data for o in (out if isinstance(out, list) else [out])], want)


def test_rnn_cell_to_torch_unrolls_the_same() -> None:
    cell = RNNCell(2, 3, seed=5)
    ref = cell.to_torch()
    xs = [[0.5, -1.0], [0.25, 0.75], [-2.0, 0.1]]
    states = cell.unroll(xs)
    h = None
    for x, ours in zip(xs, states):
        h = ref(torch.tensor([x], dtype=f64), h)
        assert close([v.data for v in ours], h[0].tolist())


@pytest.mark.parametrize("module, exc, match", [
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Conv1d(1, 1, 1)), ValueError,
     "layer 1 is Conv1d"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Dropout()), ValueError,
     "Dropout"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.ReLU()),
     ValueError, "follows another activation"),
    (lambda: torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Linear(2, 3)), ValueError,
     "before any Linear"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(4, 1)), ValueError,
     "takes 4 inputs"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 3),
                                 torch.nn.ReLU(), torch.nn.Linear(3, 1)), ValueError,
     "mix activations"),
    (lambda: torch.nn.Sequential(), ValueError, "no Linear"),
    (lambda: torch.nn.RNNCell(2, 3), TypeError, "Sequential"),
    (lambda: [torch.nn.Linear(2, 3)], TypeError, "torch.nn.Module"),
])
def test_from_torch_rejects_modules_with_no_mlp_equivalent(module, exc, match) -> None:
    with pytest.raises(exc, match=match):
        MLP.from_torch(module())


def test_from_torch_rejects_non_finite_weights() -> None:
    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight[0, 1] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        MLP.from_torch(lin)


def test_to_torch_of_a_custom_module_is_a_clear_type_error() -> None:
    class Two(nn.Module):
        def __init__(self) -> None:
            self.a = Neuron(2, seed=0)

    with pytest.raises(TypeError, match="Two"):
        Two().to_torch()


def test_without_torch_the_error_says_how_to_install(monkeypatch) -> None:
    model = MLP(2, [3, 1], seed=0)
    ref = model.to_torch()
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(ImportError, match=r"to_torch\(\) needs PyTorch: pip install torch"):
        model.to_torch()
    with pytest.raises(ImportError, match=r"from_torch\(\) needs PyTorch: pip install torch"):
        MLP.from_torch(ref)


def test_nn_imports_torch_only_inside_functions() -> None:
    import subprocess

    code = "import sys, nn; nn.MLP(2, [3, 1]); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
