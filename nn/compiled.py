"""`fit(compiled=True)`: training steps that replay compiled per-sample gradient functions.

A sample's loss `loss_fn([model(x)], [t])` is traced once per distinct target `t` (a class
label) with `autograd_lite.compile_grad`, then replayed over floats for every sample with that
target; the batch gradient is the mean of the samples'. The interpreter stays the reference:
on the first batch the compiled gradients are compared with `train_batch`'s, and the step falls
back to the interpreter for good (with a warning) when they differ (a loss that is not a mean
over samples), when the model branches on data while tracing, or when targets are not few
discrete values.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from autograd_lite import Compiled, Value, compile_grad

from .module import Module
from .optim import Optimizer
from .train import LossFn, train_batch

#: More distinct targets than this (e.g. regression values) are not worth a compile each.
MAX_TARGETS = 64


class CompiledStep:
    """A `fit` step with train_batch's signature and results, run by compiled replay."""

    def __init__(self, model: Module, loss_fn: LossFn) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.params = model.parameters()
        self.cache: dict[Any, Compiled] = {}
        self.verified = False
        self.fallback: str | None = None  #: why the interpreter is used instead, if it is

    def _give_up(self, why: str) -> None:
        self.fallback = why
        warnings.warn(f"fit(compiled=True): using the interpreter: {why}", RuntimeWarning,
                      stacklevel=4)

    def _compiled(self, x: list[Any], t: Any) -> Compiled | None:
        try:
            key = (type(t).__name__, t)
            c = self.cache.get(key)
        except TypeError:
            self._give_up(f"target {t!r} is not hashable")
            return None
        if c is not None:
            return c
        if len(self.cache) >= MAX_TARGETS:
            self._give_up(f"more than {MAX_TARGETS} distinct targets")
            return None

        def sample_loss(*xs: Value) -> tuple[Value, Any]:
            out = self.model(list(xs))
            return self.loss_fn([out], [t]), out

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c = compile_grad(sample_loss, x, params=self.params, has_aux=True)
        if c.data_dependent:
            self._give_up("the model compares Values or calls float() on them (its branches "
                          "would be frozen)")
            return None
        self.cache[key] = c
        return c

    def _batch(self, xb: list[Any], yb: list[Any]) -> tuple[float, list[float], list[Any]] | None:
        """(mean loss, mean parameter gradients, outputs), or None to use the interpreter."""
        n_in = len(xb[0])
        total = 0.0
        grads = [0.0] * len(self.params)
        outs: list[Any] = []
        for x, t in zip(xb, yb):
            c = self._compiled(x, t)
            if c is None or c.n_inputs != len(x):
                return None
            (value, aux), g = c.value_and_grad(x)
            total += value
            grads = list(map(float.__add__, grads, g[n_in:]))
            outs.append(aux[0] if len(aux) == 1 else list(aux))
        scale = 1.0 / len(xb)
        return total * scale, [gi * scale for gi in grads], outs

    def __call__(self, model: Module, xb: list[Any], yb: list[Any], loss_fn: LossFn,
                 optimizer: Optimizer) -> tuple[float, list[Any]]:
        if self.fallback is not None or model is not self.model or loss_fn is not self.loss_fn:
            return train_batch(model, xb, yb, loss_fn, optimizer)
        result = self._batch(xb, yb)
        if result is None:
            return train_batch(model, xb, yb, loss_fn, optimizer)
        loss, grads, outs = result
        if not self.verified:
            # The reference: the interpreter's step on this batch (its gradients are applied).
            ref_loss, ref_outs = train_batch(model, xb, yb, loss_fn, optimizer)
            self.verified = True
            ok = _close(loss, ref_loss) and all(
                _close(g, p.grad) for g, p in zip(grads, self.params))
            if not ok:
                self._give_up("the loss is not a mean over samples (compiled gradients differ "
                              "from the interpreter's)")
            return ref_loss, ref_outs
        optimizer.zero_grad()
        for p, g in zip(self.params, grads):
            p.grad += g
        optimizer.step()
        return loss, outs


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-10)
