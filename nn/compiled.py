"""`fit(compiled=True)` and compiled `predict` / `evaluate`: replay traced graphs over floats,
natively (one C call per group of rows) when a C compiler is available.

A sample's loss `loss_fn([model(x)], [t])` is traced once per distinct target `t` (a class
label) with `autograd_lite.compile_grad`; a mini-batch's rows with that target are replayed in
one `value_and_grad_batch` call (a loop in C with the native backend); the batch gradient is
the mean of the samples'. The interpreter stays the reference: on the first batch the compiled
gradients are compared with `train_batch`'s, and the step falls back to the interpreter for
good (with a warning) when they differ (a loss that is not a mean over samples), when the model
branches on data while tracing, or when targets are not few discrete values.

`outputs(model, X)` traces the model once (cached per model) and returns its output data for
every row in one `forward_batch` call; `predict(..., compiled=True)` and
`evaluate(..., compiled=True)` use it.
"""

from __future__ import annotations

import math
import operator
import warnings
import weakref
from array import array
from collections.abc import Sequence
from typing import Any

from autograd_lite import Compiled, Value, compile_grad

from .module import Module
from .optim import Optimizer
from .train import LossFn, train_batch

_get_data = operator.attrgetter("data")

#: More distinct targets than this (e.g. regression values) are not worth a compile each.
MAX_TARGETS = 64


def _sample_loss(model: Module, loss_fn: LossFn, t: Any) -> Any:
    """f(*xs) = (loss of one sample with target t, the model's outputs): closes over the model
    and the loss only (not over a CompiledStep, which would make a reference cycle)."""

    def sample_loss(*xs: Value) -> tuple[Value, Any]:
        out = model(list(xs))
        return loss_fn([out], [t]), out

    return sample_loss


class CompiledStep:
    """A `fit` step with train_batch's signature and results, run by compiled replay.

    `backend` is passed to `compile_grad` ("auto": native C when a compiler is available).
    """

    def __init__(self, model: Module, loss_fn: LossFn, backend: str = "auto") -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.backend = backend
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c = compile_grad(_sample_loss(self.model, self.loss_fn, t), x,
                             params=self.params, has_aux=True, backend=self.backend)
        if c.data_dependent:
            self._give_up("the model compares Values or calls float() on them (its branches "
                          "would be frozen)")
            return None
        self.cache[key] = c
        return c

    def _batch(self, xb: list[Any], yb: list[Any]) -> tuple[float, list[float], list[Any]] | None:
        """(mean loss, mean parameter gradients, outputs), or None to use the interpreter."""
        n_in = len(xb[0])
        groups: dict[Any, tuple[Compiled, list[int]]] = {}
        for i, (x, t) in enumerate(zip(xb, yb)):
            c = self._compiled(x, t)
            if c is None or c.n_inputs != len(x) != n_in:
                return None
            entry = groups.get(id(c))
            if entry is None:
                groups[id(c)] = (c, [i])
            else:
                entry[1].append(i)
        total = 0.0
        # Parameters read once per batch; each group's gradient sums are added in place.
        pdata = array("d", map(_get_data, self.params))
        acc = array("d", bytes(8 * len(self.params)))
        outs: list[Any] = [None] * len(xb)
        for c, rows in groups.values():
            values, _, _ = c.value_and_grad_batch([xb[i] for i in rows], param_data=pdata,
                                                  accumulate=acc)
            for i, (value, aux) in zip(rows, values):
                total += value
                outs[i] = aux[0] if len(aux) == 1 else list(aux)
        scale = 1.0 / len(xb)
        return total * scale, [gi * scale for gi in acc.tolist()], outs

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
        if getattr(optimizer, "params", None) == self.params:
            # zero_grad then backward: each .grad becomes this batch's gradient (0.0 + g).
            for p, g in zip(self.params, grads):
                p.grad = 0.0 + g
        else:
            optimizer.zero_grad()
            for p, g in zip(self.params, grads):
                p.grad += g
        optimizer.step()
        return loss, outs


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-10)


# ---- compiled forward passes: predict / evaluate ----------------------------------------------
_Entry = tuple[tuple[Any, ...], Compiled | None, bool]
_forward_cache: weakref.WeakKeyDictionary[Module, _Entry] = weakref.WeakKeyDictionary()


def _forward_compiled(model: Module, x0: list[float], backend: str) -> tuple[Compiled | None, bool]:
    """(the model's forward pass compiled, whether it returns one Value rather than a list),
    cached per model and parameter list; None when the model branches on data (its replay
    would freeze a branch)."""
    params = model.parameters()
    key = (len(x0), backend, *map(id, params))
    try:
        hit = _forward_cache.get(model)
    except TypeError:  # not weak-referenceable: no cache
        hit = None
    if hit is not None and hit[0] == key:
        return hit[1], hit[2]
    scalar = [False]

    def f(*xs: Value) -> tuple[Value, list[Value]]:
        out = model(list(xs))
        scalar[0] = isinstance(out, Value)
        vec = [out] if isinstance(out, Value) else list(out)
        return vec[0], vec

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c: Compiled | None = compile_grad(f, x0, params=params, has_aux=True, backend=backend)
    if c is not None and c.data_dependent:
        c = None
    try:
        _forward_cache[model] = (key, c, scalar[0])
    except TypeError:
        pass
    return c, scalar[0]


def outputs(model: Module, X: Sequence[Any], backend: str = "auto") -> list[Any] | None:
    """The model's output data for every row of X (a float, or a list for a vector output),
    computed by one compiled `forward_batch`; None when the model cannot be replayed (it
    branches on data), so the caller uses the interpreter."""
    if len(X) == 0:
        return []
    c, scalar = _forward_compiled(model, [float(v) for v in X[0]], backend)
    if c is None:
        return None
    res = c.forward_batch(X)
    if scalar:
        return [aux[0] for _, aux in res]
    return [list(aux) for _, aux in res]
