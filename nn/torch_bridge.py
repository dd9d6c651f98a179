"""Graduating to PyTorch: `MLP.to_torch()` / `MLP.from_torch(module)` (and `Neuron`, `Layer`,
`RNNCell` to torch), with parameters copied exactly in float64.

An `MLP(nin, [h1, ..., nout], activation, output_activation)` is the `torch.nn.Sequential`
`Linear(nin, h1), Act(), ..., Linear(h_k, nout)[, OutAct()]` in float64, where neuron j of a
layer is row j of its Linear's `weight` and entry j of its `bias`; "linear" adds no layer.
torch is imported only inside these functions (it is an optional, large dependency).

This module is the torch side only: it turns plain numbers (a `Dense` per Linear layer,
an RNN cell's matrices) into torch modules and back. Each model class says what it is in
those terms (`Neuron.to_torch`, `MLP.from_torch`, ... in nn/layers.py and nn/rnn.py), so the
classes use this module and this module never imports them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .module import Module

INSTALL = ("needs PyTorch: pip install torch==2.13.0 --index-url "
           "https://download.pytorch.org/whl/cpu (the CPU build; a plain `pip install torch` "
           "downloads several GB of CUDA libraries)")

#: Our activation names -> torch.nn layer class names (linear: no layer).
TORCH_ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU", "sigmoid": "Sigmoid"}

#: One Linear layer and its activation as plain numbers: (weight rows, bias, activation
#: name), row j being neuron j's weights.
Dense = tuple[list[list[float]], list[float], str]


def require_torch(what: str) -> Any:
    """The torch module, or ImportError saying that `what` needs it and how to install it."""
    try:
        import torch
    except ImportError:
        raise ImportError(f"{what} {INSTALL}") from None
    return torch


def to_torch(model: Module) -> Any:
    """`model.to_torch()` as a function: the equivalent float64 `torch.nn.Module`."""
    if not isinstance(model, Module):
        raise TypeError(f"to_torch() converts MLP, Layer, Neuron and RNNCell, got "
                        f"{type(model).__name__}")
    return model.to_torch()


def sequential(layers: Sequence[Dense]) -> Any:
    """A float64 `torch.nn.Sequential` of one Linear (plus its activation, none for
    "linear") per entry, weights and biases copied."""
    torch = require_torch("to_torch()")
    out: list[Any] = []
    for weight, bias, activation in layers:
        lin = torch.nn.Linear(len(weight[0]), len(weight), dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(weight, dtype=torch.float64))
            lin.bias.copy_(torch.tensor(bias, dtype=torch.float64))
        out.append(lin)
        if activation != "linear":
            out.append(getattr(torch.nn, TORCH_ACTIVATIONS[activation])())
    return torch.nn.Sequential(*out)


def rnn_cell(W: list[list[float]], U: list[list[float]], b: list[float]) -> Any:
    """A float64 tanh `torch.nn.RNNCell` with input weights `W`, hidden weights `U`, input
    bias `b` and a zero hidden bias."""
    torch = require_torch("to_torch()")
    ref = torch.nn.RNNCell(len(W[0]), len(U), nonlinearity="tanh", dtype=torch.float64)
    with torch.no_grad():
        ref.weight_ih.copy_(torch.tensor(W, dtype=torch.float64))
        ref.weight_hh.copy_(torch.tensor(U, dtype=torch.float64))
        ref.bias_ih.copy_(torch.tensor(b, dtype=torch.float64))
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


def read_sequential(module: Any) -> list[Dense]:
    """The layers of `module` as plain numbers: a `torch.nn.Sequential` (nested ones are
    flattened) of `Linear` layers, each optionally followed by one `Tanh`, `ReLU`, `Sigmoid`
    or `Identity`, or one `Linear`; a missing bias reads as zeros. TypeError or ValueError
    naming the layer that has no MLP equivalent."""
    torch = require_torch("from_torch()")
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
    layers: list[Dense] = []
    for k, (lin, activation) in enumerate(groups):
        weight = _values(torch, lin.weight, f"Linear {k} weight")
        bias = (_values(torch, lin.bias, f"Linear {k} bias") if lin.bias is not None
                else [0.0] * lin.out_features)
        layers.append((weight, bias, activation))
    return layers
