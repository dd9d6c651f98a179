"""Optimizers: `SGD` (momentum, dampening, Nesterov, weight decay) and `Adam`, with PyTorch's
exact update formulas, so a step here matches `torch.optim` on the same numbers.

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt.zero_grad(); loss.backward(); opt.step()

`step()` reads each parameter's `.grad` and changes its `.data`; the engine alone writes
`.grad` (`zero_grad()` calls `Value.zero_grad`). `step_with(grads)` is the same update from
gradients given as floats (it stores them in `.grad` first, as a backward pass would): compiled
training (nn/compiled.py) uses it, so one pass over the parameters does both. Each update is one
loop over the parameters with the arithmetic of `torch.optim`'s single-tensor code, in its order.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from autograd_lite import Value

T = TypeVar("T", float, Value)  #: float, or Value when traced (see `sgd_update`)

_get_grad = operator.attrgetter("grad")


def _positive(x: object, what: str, strict: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):  # numpy scalars are Real
        raise TypeError(f"{what} must be a number, got {type(x).__name__} {x!r}")
    f = float(x)
    if not math.isfinite(f) or f < 0.0 or (strict and f == 0.0):
        raise ValueError(f"{what} must be finite and {'> 0' if strict else '>= 0'}, got {x!r}")
    return f


# ---- the per-parameter updates, each written once --------------------------------------------
# Plain functions of floats: `step_with` calls them per parameter, and compiled training
# (nn/compiled.py) traces them with `autograd_lite.compile_map` into one native loop over a flat
# buffer of all parameters: the same IEEE operations in the same order, so the same bits. The
# keyword-only flags choose the formula's structure (a kernel per choice); the numbers are
# inputs, so a new lr needs no new kernel.

def sgd_update(p: T, g: T, buf: T | None, lr: T, mu: T, damp: T, wd: T, *, decay: bool,
               heavy: bool, first: bool, nesterov: bool) -> tuple[T, T | None]:
    """(new data, new momentum buffer) of one parameter, as torch.optim.SGD's single-tensor
    code: g + wd * p; buf = g on the first step, else mu * buf + damp * g; p - lr * g."""
    if decay:
        g = g + wd * p
    b = buf
    if heavy:
        b = g if first else mu * buf + damp * g  # type: ignore[operator]
        g = g + mu * b if nesterov else b
    return p - lr * g, b


def adam_update(p: T, g: T, m: T, v: T, step_size: T, bc2_sqrt: T, b2: T, c1: T, c2: T,
                eps: T, wd: T, *, decay: bool, sqrt: Callable[[T], T]) -> tuple[T, T, T]:
    """(new data, m, v) of one parameter, as torch.optim.Adam's single-tensor code (`c1`, `c2`:
    1 - beta1, 1 - beta2; `step_size`, `bc2_sqrt`: `adam_corrections`); the L2 weight decay is
    added to the gradient used, not to the `.grad` stored."""
    if decay:
        g = g + wd * p
    m = m + c1 * (g - m)  # torch: exp_avg.lerp_(grad, 1 - beta1)
    v = v * b2 + c2 * g * g
    return p - step_size * (m / (sqrt(v) / bc2_sqrt + eps)), m, v


def adam_corrections(lr: float, b1: float, b2: float, t: int) -> tuple[float, float]:
    """(lr / (1 - b1^t), sqrt(1 - b2^t)): Adam's bias corrections after `t` updates."""
    return lr / (1.0 - b1**t), math.sqrt(1.0 - b2**t)


class Optimizer:
    """Holds a fixed list of parameters; subclasses define `step()`."""

    def __init__(self, params: Iterable[Value], lr: float) -> None:
        if callable(getattr(params, "parameters", None)) and not isinstance(params, Value):
            raise TypeError(f"{type(self).__name__} takes the parameters, not the model: "
                            f"pass model.parameters(), got {type(params).__name__}")
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        seen: set[Value] = set()
        for i, p in enumerate(self.params):
            if not isinstance(p, Value):
                raise TypeError(f"{type(self).__name__}: parameter {i} is not a Value: {p!r}")
            if p in seen:
                raise ValueError(f"{type(self).__name__}: parameter {i} ({p!r}) appears twice")
            if not p.is_leaf:  # as torch.optim: a computed Value's .data is not the model's
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf Value: "
                                 f"parameter {i} ({p!r}) was computed by an op")
            seen.add(p)
        self.lr = _positive(lr, "lr")

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Reset every parameter's `.grad` to 0.0 (before the next backward); with
        `set_to_none`, to None ("no gradient yet", as PyTorch's), which `step()` skips."""
        for p in self.params:
            if set_to_none:
                p.grad = None
            else:
                p.zero_grad()

    def step(self) -> None:
        """Update every parameter's `.data` from its `.grad`."""
        self.step_with(list(map(_get_grad, self.params)))

    def step_with(self, grads: Sequence[float | None]) -> None:
        """Set each parameter's `.grad` to the given float (one per parameter, in order) and
        update its `.data` from it, as `step()` would after a backward pass; a None skips its
        parameter (no gradient yet), as `torch.optim` skips a `.grad` of None."""
        raise NotImplementedError

    def _check_count(self, grads: Sequence[float | None]) -> None:
        if len(grads) != len(self.params):
            raise ValueError(f"{type(self).__name__}.step_with: got {len(grads)} gradients for "
                             f"{len(self.params)} parameters")


class SGD(Optimizer):
    """Stochastic gradient descent, as `torch.optim.SGD`:
    g = grad + weight_decay * p; with momentum, buf = momentum * buf + (1 - dampening) * g
    (buf = g on the first step) and g = buf (or g + momentum * buf for Nesterov);
    p -= lr * g."""

    def __init__(self, params: Iterable[Value], lr: float = 0.01, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(params, lr)
        self.momentum = _positive(momentum, "momentum")
        self.dampening = _positive(dampening, "dampening")
        self.weight_decay = _positive(weight_decay, "weight_decay")
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum == 0.0 or self.dampening != 0.0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
        self.buffers: list[float | None] = [None] * len(self.params)  # per parameter, as torch

    def step_with(self, grads: Sequence[float | None]) -> None:
        """One update of every parameter from `grads` (see `Optimizer.step_with`)."""
        self._check_count(grads)
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        bufs = self.buffers
        damp = 1.0 - self.dampening
        decay, heavy, nesterov = wd != 0.0, mu != 0.0, self.nesterov
        update = sgd_update
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g is None:  # no gradient (yet): left as it is, as torch.optim does
                continue
            p.grad = g
            old = bufs[i]
            p.data, b = update(p.data, g, old, lr, mu, damp, wd, decay=decay, heavy=heavy,
                               first=old is None, nesterov=nesterov)
            if heavy:
                bufs[i] = b


class Adam(Optimizer):
    """Adam, as `torch.optim.Adam` (L2 weight decay added to the gradient, as there):
    m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""

    def __init__(self, params: Iterable[Value], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair, got {betas!r}")
        b1, b2 = (_positive(b, f"betas[{i}]") for i, b in enumerate(betas))
        if not (b1 < 1.0 and b2 < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas!r}")
        self.betas = (b1, b2)
        self.eps = _positive(eps, "eps")
        self.weight_decay = _positive(weight_decay, "weight_decay")
        self.t = 0  # step() calls
        self.steps = [0] * len(self.params)  # updates of each parameter (torch's state["step"])
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def step_with(self, grads: Sequence[float | None]) -> None:
        """One update of every parameter from `grads` (see `Optimizer.step_with`)."""
        self._check_count(grads)
        self.t += 1
        b1, b2 = self.betas
        lr, eps, wd = self.lr, self.eps, self.weight_decay
        m, v, steps = self.m, self.v, self.steps
        c1, c2 = 1.0 - b1, 1.0 - b2
        sqrt = math.sqrt
        params = self.params
        decay = wd != 0.0
        update = adam_update
        last = 0
        step_size = bc2_sqrt = 1.0
        for i, (p, g) in enumerate(zip(params, grads)):
            if g is None:  # no gradient (yet): left as is, step count too
                continue
            p.grad = g
            t = steps[i] = steps[i] + 1
            if t != last:  # the bias corrections of this parameter's step count
                last = t
                step_size, bc2_sqrt = adam_corrections(lr, b1, b2, t)
            p.data, m[i], v[i] = update(p.data, g, m[i], v[i], step_size, bc2_sqrt, b2, c1,
                                        c2, eps, wd, decay=decay, sqrt=sqrt)
