"""The workloads of the benchmark, written once and run on every engine.

A workload is a *program*: a list of `(opcode, i, j)` over earlier nodes, drawn once from a
seeded RNG and checked on plain floats so that every engine computes the same numbers. Each
engine supplies its own `tanh`, `exp` and the leaf constructor; the loop is the same code.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

ADD, MUL, TANH, EXP, POW = range(5)
OPNAMES = ("add", "mul", "tanh", "exp", "pow")


# ---- the wide random graph -----------------------------------------------------------------
def wide_program(n_nodes: int, width: int = 1000, seed: int = 0) -> tuple[list[float], list[Any]]:
    """Leaves and a layered random program of about `n_nodes` nodes (leaves and sums included).

    Layer k reads layer k-1: node j takes a permuted node of it (so every node is used) and,
    for binary ops, a random one. A choice whose value would leave [-4, 4] becomes tanh.
    The output is the pairwise sum of the last layer (a tree, so the graph stays shallow).
    """
    rng = random.Random(seed)
    leaves = [rng.uniform(-1.0, 1.0) for _ in range(width)]
    data = list(leaves)
    prog: list[tuple[int, int, int]] = []
    prev = list(range(width))
    n_sum = width - 1
    layers = max(1, (n_nodes - width - n_sum) // width)
    for _ in range(layers):
        perm = prev[:]
        rng.shuffle(perm)
        cur = []
        for j in range(width):
            i, k = perm[j], rng.choice(prev)
            op = rng.randrange(5)
            x, y = data[i], data[k]
            v = (x + y, x * y, math.tanh(x), math.exp(x) if x < 1.3 else 99.0, x * x)[op]
            if not -4.0 <= v <= 4.0:
                op, v = TANH, math.tanh(x)
            prog.append((op, i, k))
            data.append(v)
            cur.append(len(data) - 1)
        prev = cur
    while len(prev) > 1:  # pairwise sum tree
        nxt = []
        for a in range(0, len(prev) - 1, 2):
            prog.append((ADD, prev[a], prev[a + 1]))
            data.append(data[prev[a]] + data[prev[a + 1]])
            nxt.append(len(data) - 1)
        if len(prev) % 2:
            nxt.append(prev[-1])
        prev = nxt
    return leaves, prog


def run_program(leaves: list[Any], prog: list[Any], tanh: Callable[[Any], Any],
                exp: Callable[[Any], Any]) -> list[Any]:
    """Forward pass: the same loop for every engine (operators, plus its tanh and exp)."""
    vals = list(leaves)
    append = vals.append
    for op, i, j in prog:
        if op == ADD:
            append(vals[i] + vals[j])
        elif op == MUL:
            append(vals[i] * vals[j])
        elif op == TANH:
            append(tanh(vals[i]))
        elif op == EXP:
            append(exp(vals[i]))
        else:
            append(vals[i] ** 2)
    return vals


def float_reverse(vals: list[float], prog: list[Any], n_leaves: int) -> list[float]:
    """The float floor's backward: a hand-written reverse loop over the same program."""
    grads = [0.0] * len(vals)
    grads[-1] = 1.0
    k = len(vals)
    for op, i, j in reversed(prog):
        k -= 1
        g = grads[k]
        if op == ADD:
            grads[i] += g
            grads[j] += g
        elif op == MUL:
            grads[i] += g * vals[j]
            grads[j] += g * vals[i]
        elif op == TANH:
            t = vals[k]
            grads[i] += g * (1.0 - t * t)
        elif op == EXP:
            grads[i] += g * vals[k]
        else:
            grads[i] += g * 2.0 * vals[i]
    return grads


# ---- micrograd, with tanh and exp in its own closure style (as in its lecture version) ------
def micrograd_ops() -> tuple[type, Callable[[Any], Any], Callable[[Any], Any]]:
    """micrograd 0.1.0's Value, and tanh/exp written the way its lecture adds them."""
    from micrograd.engine import Value as MValue

    def tanh(self: Any) -> Any:
        x = self.data
        t = (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1)
        out = MValue(t, (self,), "tanh")

        def _backward() -> None:
            self.grad += (1 - t**2) * out.grad

        out._backward = _backward
        return out

    def exp(self: Any) -> Any:
        x = self.data
        out = MValue(math.exp(x), (self,), "exp")

        def _backward() -> None:
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    return MValue, tanh, exp


def torch_ops() -> tuple[Callable[[float], Any], Callable[[Any], Any], Callable[[Any], Any]]:
    """PyTorch 0-d float64 tensors: a leaf maker, tanh, exp."""
    import torch

    def leaf(x: float) -> Any:
        return torch.tensor(x, dtype=torch.float64, requires_grad=True)

    return leaf, torch.tanh, torch.exp
