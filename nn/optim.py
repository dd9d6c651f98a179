"""Optimizers: `SGD` (momentum, dampening, Nesterov, weight decay) and `Adam`, with PyTorch's
exact update formulas, so a step here matches `torch.optim` on the same numbers.

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt.zero_grad(); loss.backward(); opt.step()

`step()` reads each parameter's `.grad` and changes its `.data`; the engine alone writes
`.grad` (`zero_grad()` calls `Value.zero_grad`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from autograd_lite import Value


def _positive(x: object, what: str, strict: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"{what} must be a number, got {type(x).__name__} {x!r}")
    if not math.isfinite(x) or x < 0.0 or (strict and x == 0.0):
        raise ValueError(f"{what} must be finite and {'> 0' if strict else '>= 0'}, got {x!r}")
    return float(x)


class Optimizer:
    """Holds a fixed list of parameters; subclasses define `step()`."""

    def __init__(self, params: Iterable[Value], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        seen: set[Value] = set()
        for i, p in enumerate(self.params):
            if not isinstance(p, Value):
                raise TypeError(f"{type(self).__name__}: parameter {i} is not a Value: {p!r}")
            if p in seen:
                raise ValueError(f"{type(self).__name__}: parameter {i} ({p!r}) appears twice")
            seen.add(p)
        self.lr = _positive(lr, "lr")

    def zero_grad(self) -> None:
        """Reset every parameter's `.grad` to 0.0 (before the next backward)."""
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        """Update every parameter's `.data` from its `.grad`."""
        raise NotImplementedError


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
        self.buffers: list[float] | None = None

    def step(self) -> None:
        """One update of every parameter."""
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        first = self.buffers is None
        if mu != 0.0 and first:
            self.buffers = [0.0] * len(self.params)
        bufs = self.buffers
        damp = 1.0 - self.dampening
        for i, p in enumerate(self.params):
            g = p.grad
            if wd != 0.0:
                g = g + wd * p.data
            if mu != 0.0:
                b = g if first else mu * bufs[i] + damp * g  # type: ignore[index]
                bufs[i] = b  # type: ignore[index]
                g = g + mu * b if self.nesterov else b
            p.data -= lr * g


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
        self.t = 0
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def step(self) -> None:
        """One update of every parameter."""
        self.t += 1
        b1, b2 = self.betas
        lr, eps, wd = self.lr, self.eps, self.weight_decay
        step_size = lr / (1.0 - b1**self.t)
        bc2_sqrt = math.sqrt(1.0 - b2**self.t)
        m, v = self.m, self.v
        c1, c2 = 1.0 - b1, 1.0 - b2
        for i, p in enumerate(self.params):
            g = p.grad
            if wd != 0.0:
                g = g + wd * p.data
            mi = m[i] + c1 * (g - m[i])  # torch: exp_avg.lerp_(grad, 1 - beta1)
            vi = v[i] * b2 + c2 * g * g
            m[i] = mi
            v[i] = vi
            p.data -= step_size * (mi / (math.sqrt(vi) / bc2_sqrt + eps))
