"""Graduating to PyTorch: `MLP.to_torch()` / `MLP.from_torch(module)` (and `Neuron`, `Layer`,
`RNNCell` to torch), with parameters copied exactly in float64.

An `MLP(nin, [h1, ..., nout], activation, output_activation)` is the `torch.nn.Sequential`
`Linear(nin, h1), Act(), ..., Linear(h_k, nout)[, OutAct()]` in float64, where neuron j of a
layer is row j of its Linear's `weight` and entry j of its `bias`; "linear" adds no layer.
torch is imported only inside these functions (it is an optional, large dependency).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .layers import MLP, Layer, Neuron
from .module import Module

if TYPE_CHECKING:  # pragma: no cover
    from .rnn import RNNCell

INSTALL = ("needs PyTorch: pip install torch==2.13.0 --index-url "
           "https://download.pytorch.org/whl/cpu (the CPU build; a plain `pip install torch` "
           "downloads several GB of CUDA libraries)")

#: Our activation names -> torch.nn layer class names (linear: no layer).
TORCH_ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU", "sigmoid": "Sigmoid"}


def _torch(what: str) -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(f"{what} {INSTALL}") from None
    return torch


def _linear(torch: Any, neurons: list[Neuron]) -> Any:
    nin = neurons[0].nin
    lin = torch.nn.Linear(nin, len(neurons), dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[w.data for w in n.w] for n in neurons],
                                      dtype=torch.float64))
        lin.bias.copy_(torch.tensor([n.b.data for n in neurons], dtype=torch.float64))
    return lin


def _layers(torch: Any, neurons: list[Neuron], activation: str) -> list[Any]:
    out = [_linear(torch, neurons)]
    if activation != "linear":
        out.append(getattr(torch.nn, TORCH_ACTIVATIONS[activation])())
    return out


def to_torch(model: Module) -> Any:
    """An equivalent float64 `torch.nn.Module` with `model`'s parameters copied: a Sequential
    of Linear and activation layers for `MLP`, `Layer` and `Neuron` (input shape `(..., nin)`,
    output `(..., nout)`), a `torch.nn.RNNCell` for `RNNCell`."""
    torch = _torch("to_torch()")
    from .rnn import RNNCell

    if isinstance(model, MLP):
        layers = [m for layer in model.layers
                  for m in _layers(torch, layer.neurons, layer.activation)]
    elif isinstance(model, Layer):
        layers = _layers(torch, model.neurons, model.activation)
    elif isinstance(model, Neuron):
        layers = _layers(torch, [model], model.activation)
    elif isinstance(model, RNNCell):
        return _rnn_to_torch(torch, model)
    else:
        raise TypeError(f"to_torch() converts MLP, Layer, Neuron and RNNCell, got "
                        f"{type(model).__name__}")
    return torch.nn.Sequential(*layers)


def _rnn_to_torch(torch: Any, cell: RNNCell) -> Any:
    ref = torch.nn.RNNCell(cell.nin, cell.nhidden, nonlinearity="tanh", dtype=torch.float64)
    with torch.no_grad():
        ref.weight_ih.copy_(torch.tensor([[w.data for w in row] for row in cell.W],
                                         dtype=torch.float64))
        ref.weight_hh.copy_(torch.tensor([[u.data for u in row] for row in cell.U],
                                         dtype=torch.float64))
        ref.bias_ih.copy_(torch.tensor([b.data for b in cell.b], dtype=torch.float64))
        ref.bias_hh.zero_()
    return ref


def _flatten(torch: Any, module: Any) -> list[Any]:
    if isinstance(module, torch.nn.Sequential):
        return [m for child in module for m in _flatten(torch, child)]
    return [module]


def _values(torch: Any, tensor: Any, what: str) -> list[Any]:
    rows = tensor.detach().to(dtype=torch.float64, device="cpu").tolist()
    flat = [x for row in rows for x in (row if isinstance(row, list) else [row])]
    if not all(math.isfinite(x) for x in flat):
        raise ValueError(f"from_torch(): {what} holds a non-finite number")
    return rows


def mlp_from_torch(module: Any) -> MLP:
    """Our `MLP` equal to `module`: a `torch.nn.Sequential` (nested ones are flattened) of
    `Linear` layers, each optionally followed by one `Tanh`, `ReLU`, `Sigmoid` or `Identity`;
    hidden layers must share one activation. Weights are copied as float64."""
    torch = _torch("from_torch()")
    names = {getattr(torch.nn, cls): act for act, cls in TORCH_ACTIVATIONS.items()}
    names[torch.nn.Identity] = "linear"
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_torch() needs a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(module, torch.nn.Sequential | torch.nn.Linear):
        raise TypeError("from_torch() needs a torch.nn.Sequential of Linear and activation "
                        f"layers (or one Linear), got {type(module).__name__}")
    groups: list[list[Any]] = []  # [Linear, activation name]
    for i, m in enumerate(_flatten(torch, module)):
        if isinstance(m, torch.nn.Linear):
            groups.append([m, "linear"])
        elif type(m) in names:
            if not groups:
                raise ValueError(f"from_torch(): layer {i} ({type(m).__name__}) comes before "
                                 "any Linear layer")
            if names[type(m)] == "linear":
                continue
            if groups[-1][1] != "linear":
                raise ValueError(f"from_torch(): layer {i} ({type(m).__name__}) follows "
                                 f"another activation ({groups[-1][1]}); one per Linear")
            groups[-1][1] = names[type(m)]
        else:
            raise ValueError(f"from_torch(): layer {i} is {type(m).__name__}; only Linear, "
                             "Tanh, ReLU, Sigmoid and Identity layers have an MLP equivalent")
    if not groups:
        raise ValueError("from_torch(): the module has no Linear layer")
    for k in range(1, len(groups)):
        prev, cur = groups[k - 1][0], groups[k][0]
        if cur.in_features != prev.out_features:
            raise ValueError(f"from_torch(): Linear {k} takes {cur.in_features} inputs but "
                             f"Linear {k - 1} gives {prev.out_features}")
    hidden = {act for _, act in groups[:-1]}
    if len(hidden) > 1:
        raise ValueError(f"from_torch(): hidden layers mix activations {sorted(hidden)}; an "
                         "MLP has one hidden activation")
    activation = hidden.pop() if hidden else "tanh"
    model = MLP(groups[0][0].in_features, [lin.out_features for lin, _ in groups],
                activation=activation, output_activation=groups[-1][1], seed=0)
    state = {}
    for k, (lin, _) in enumerate(groups):
        weight = _values(torch, lin.weight, f"Linear {k} weight")
        bias = (_values(torch, lin.bias, f"Linear {k} bias") if lin.bias is not None
                else [0.0] * lin.out_features)
        for j, row in enumerate(weight):
            for i, w in enumerate(row):
                state[f"layers.{k}.neurons.{j}.w.{i}"] = w
            state[f"layers.{k}.neurons.{j}.b"] = bias[j]
    model.load_state_dict(state)
    return model
