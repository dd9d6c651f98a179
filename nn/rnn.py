"""`RNNCell`: the Elman recurrent cell `h_t = tanh(W x_t + U h_{t-1} + b)`, and its unrolling.

Unrolled over a sequence, the same parameters appear at every time step, so backward through
the unrolled graph (back-propagation through time) accumulates each parameter's gradient
over the steps.

Parameter order: `W` row by row (`W.i.j`, hidden unit i, input j), then `U` row by row
(`U.i.k`, hidden unit i, previous hidden unit k), then `b` (`b.i`).
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Sequence
from typing import Any

from autograd_lite import Value

from . import torch_bridge
from .arrays import is_array, rows
from .layers import _check_size, _rng, as_values
from .module import Module

_mul = operator.mul


class RNNCell(Module):
    """An Elman cell with `nin` inputs and `nhidden` hidden units.

    Weights are drawn uniformly in [-1/sqrt(nhidden), 1/sqrt(nhidden)] (PyTorch's
    `nn.RNNCell` scale), W first then U, from `random.Random(seed)` or, without `seed`, from
    nn's generator (see `nn.manual_seed`); the bias starts at 0.
    """

    def __init__(self, nin: int, nhidden: int, *, seed: int | None = None,
                 rng: random.Random | None = None) -> None:
        self.nin = _check_size(nin, "RNNCell nin")
        self.nhidden = _check_size(nhidden, "RNNCell nhidden")
        r = _rng(seed, rng)
        k = 1.0 / math.sqrt(nhidden)
        self.W = [[Value(r.uniform(-k, k)) for _ in range(nin)] for _ in range(nhidden)]
        self.U = [[Value(r.uniform(-k, k)) for _ in range(nhidden)] for _ in range(nhidden)]
        self.b = [Value(0.0) for _ in range(nhidden)]
        self.label_parameters()

    def forward(self, x: Sequence[Any], h: Sequence[Any] | None = None) -> list[Value]:
        """One step: the new hidden state from input `x` and previous state `h`.

        `h=None` means the zero state; its `U h` terms are then left out of the graph
        (they would add exact zeros).
        """
        xs = as_values(x, self.nin, "RNNCell input")
        hs = None if h is None else as_values(h, self.nhidden, "RNNCell hidden state")
        out = []
        for i in range(self.nhidden):
            acc = sum(map(_mul, self.W[i], xs), self.b[i])
            if hs is not None:
                acc = sum(map(_mul, self.U[i], hs), acc)
            out.append(acc.tanh())
        return out

    def unroll(self, xs: Sequence[Sequence[Any]],
               h0: Sequence[Any] | None = None) -> list[list[Value]]:
        """Run the cell over a sequence of inputs; returns the hidden states h_1 .. h_T.

        Each state's Values are labelled `h{t}.{i}` (t from 1) so the unrolled graph reads well.
        """
        if is_array(xs):  # a (T, nin) array: one row per time step
            xs = rows(xs, "unroll: xs")
        if isinstance(xs, str) or not isinstance(xs, Sequence):
            raise TypeError(f"unroll() expects a sequence of input vectors, got "
                            f"{type(xs).__name__}")
        states: list[list[Value]] = []
        h = h0
        for x in xs:
            h = self.forward(x, h)
            for i, v in enumerate(h):
                v.label = f"h{len(states) + 1}.{i}"
            states.append(h)
        return states

    def to_torch(self) -> Any:
        """A float64 tanh `torch.nn.RNNCell` with weight_ih = W, weight_hh = U, bias_ih = b
        and a zero bias_hh. Needs torch installed."""
        return torch_bridge.rnn_cell([[w.data for w in row] for row in self.W],
                                     [[u.data for u in row] for row in self.U],
                                     [b.data for b in self.b])

    def __repr__(self) -> str:
        return f"RNNCell({self.nin}, {self.nhidden})"


def unroll(cell: RNNCell, xs: Sequence[Sequence[Any]],
           h0: Sequence[Any] | None = None) -> list[list[Value]]:
    """`cell.unroll(xs, h0)` as a function: the hidden states after each input."""
    return cell.unroll(xs, h0)
