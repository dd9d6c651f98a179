"""One optimisation step on a mini-batch, `train_batch`, and the types of `fit`'s pluggable
step: the piece both the interpreted loop (nn/train.py) and the compiled step
(nn/compiled.py) are built on, so neither imports the other for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autograd_lite import Value

from .module import Module
from .optim import Optimizer

__all__ = ["LossFn", "StepFn", "output_data", "train_batch"]

LossFn = Callable[[list[Any], list[Any]], Value]
#: `step(model, xb, yb, loss_fn, optimizer) -> (mean batch loss, output data per sample)`.
StepFn = Callable[[Module, list[Any], list[Any], LossFn, Optimizer], tuple[float, list[Any]]]


def output_data(out: Any) -> Any:
    """Output data: a float for a Value, a list of floats for a vector of Values."""
    if isinstance(out, Value):
        return out.data
    return [v.data if isinstance(v, Value) else float(v) for v in out]


def train_batch(model: Module, xb: list[Any], yb: list[Any], loss_fn: LossFn,
                optimizer: Optimizer) -> tuple[float, list[Any]]:
    """One optimisation step on a mini-batch: zero grads, forward, mean loss, backward, step.

    Returns the batch loss and each sample's output data (used for training accuracy).
    """
    optimizer.zero_grad()
    outs = [model(x) for x in xb]
    loss = loss_fn(outs, yb)
    loss.backward()
    optimizer.step()
    return loss.data, [output_data(o) for o in outs]
