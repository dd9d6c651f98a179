"""Training on flat buffers: a compiled fit's parameters, last gradients and optimizer state as
`array('d')`s, stepped by the optimizers' own per-parameter updates (`optim.sgd_update`,
`optim.adam_update`) compiled into native elementwise loops by `autograd_lite.compile_map`, and
written back to the Values and the optimizer as its Python steps would leave them.

nn/compiled.py's `CompiledStep` loads a `FlatState` at the first batch it replays and stores it
before any user code runs (see docs/compiled.md, "Compiled training").
"""

from __future__ import annotations

import functools
import math
from array import array
from typing import Any

from autograd_lite import Mapped, Value, compile_map
from autograd_lite import sqrt as _sqrt

from .optim import SGD, Adam, Optimizer, adam_corrections, adam_update, sgd_update


class NotFlat(Exception):
    """The optimizer (or its state) is not one the flat kernels reproduce."""


#: (optimizer kind, structure flags, backend) -> its elementwise kernel (compile_map).
_kernels: dict[tuple[str, tuple[bool, ...], str], Mapped] = {}


def _kernel(kind: str, flags: tuple[bool, ...], backend: str) -> Mapped:
    """The optimizer update `optim.sgd_update` / `optim.adam_update` with these structure
    flags, compiled once per process into a loop over flat arrays."""
    key = (kind, flags, backend)
    k = _kernels.get(key)
    if k is None:
        if kind == "sgd":
            decay, heavy, first, nesterov = flags

            def fn(p: Any, g: Any, buf: Any, lr: Any, mu: Any, damp: Any, wd: Any) -> Any:
                new, b = sgd_update(p, g, buf, lr, mu, damp, wd, decay=decay, heavy=heavy,
                                    first=first, nesterov=nesterov)
                return (new, b) if heavy else new

            k = compile_map(fn, 7, backend=backend)
        else:
            k = compile_map(functools.partial(adam_update, decay=flags[0], sqrt=_either_sqrt),
                            11, backend=backend)
        _kernels[key] = k
    return k


def _either_sqrt(x: Any) -> Any:
    """math.sqrt on a float (the kernel's Python path, as `Adam.step_with`), autograd_lite's
    sqrt on a Value (the trace)."""
    return math.sqrt(x) if type(x) is float else _sqrt(x)


def _plain(params: list[Value]) -> bool:
    """Whether every parameter is exactly a Value (no subclass redefines `.data`/`.grad`):
    their floats are read and written through the slots behind those properties."""
    return set(map(type, params)) <= _VALUE


_VALUE = frozenset({Value})

_PLAIN = {float, int}  #: hyperparameter types the kernels take as doubles exactly

#: Methods a user may replace on an optimizer instance: the kernels would skip the replacement.
_PATCHABLE = frozenset({"step", "step_with", "zero_grad"})


class FlatState:
    """A compiled fit's parameters, last gradients and optimizer state as flat arrays: the
    source of truth from `CompiledStep._load` to `sync` (`store` writes them back). Steps are
    `optim.SGD` / `optim.Adam`'s own per-parameter updates (`sgd_update`, `adam_update`) run by
    `compile_map` kernels: the Python optimizer's numbers, bit for bit."""

    def __init__(self, params: list[Value], opt: Optimizer, backend: str) -> None:
        self.params, self.opt, self.backend = params, opt, backend
        self.steps = 0
        self.grad: array[float] | None = None
        self.buf: array[float] | None = None
        if type(opt) not in (SGD, Adam) or not _PATCHABLE.isdisjoint(vars(opt)):
            raise NotFlat  # a subclass, or `opt.step = ...` on the instance: its own steps
        numbers = [opt.lr, *(
            (opt.momentum, opt.dampening, opt.weight_decay) if isinstance(opt, SGD)
            else (*opt.betas, opt.eps, opt.weight_decay))]  # type: ignore[attr-defined]
        if not set(map(type, numbers)) <= _PLAIN:
            raise NotFlat  # e.g. an lr set to a numpy float32: its own arithmetic, in Python
        n = len(params)
        state = [opt.buffers] if isinstance(opt, SGD) else [opt.m, opt.v, opt.steps]  # type: ignore[attr-defined]
        if not all(type(s) is list and len(s) == n for s in state):
            raise NotFlat  # lists replaced by the user: Python's indexing decides what happens
        try:
            #: exact Values (checked here: no user code runs between here and `store`)
            self.plain = _plain(params)
            self.data = array("d", [p._d for p in params] if self.plain
                              else [p.data for p in params])
            if type(opt) is SGD:
                self.kind = "sgd"
                bufs = opt.buffers
                if opt.momentum != 0.0 and not all(b is None for b in bufs):
                    if not all(type(b) is float for b in bufs):
                        raise NotFlat  # some parameters had no gradient yet
                    self.buf = array("d", bufs)  # type: ignore[arg-type]
            else:
                assert isinstance(opt, Adam)
                self.kind = "adam"
                if len(set(opt.steps)) != 1:
                    raise NotFlat  # per-parameter step counts differ (skipped gradients)
                self.s = opt.steps[0]
                if not set(map(type, opt.m)) | set(map(type, opt.v)) <= {float}:
                    raise NotFlat  # state loaded as other numbers: Python's arithmetic on them
                self.m, self.v = array("d", opt.m), array("d", opt.v)
        except TypeError:
            raise NotFlat from None
        try:  # the kernels this state's steps take, built now: one that cannot be built (a bad
            # $AUTOGRAD_LITE_SIMD set since the last fit, say) leaves the steps to Python
            wd = opt.weight_decay != 0.0
            if isinstance(opt, SGD):
                heavy = opt.momentum != 0.0
                for first in {heavy and self.buf is None, False}:
                    _kernel("sgd", (wd, heavy, first, opt.nesterov), backend)
            else:
                _kernel("adam", (wd,), backend)
        except Exception:
            raise NotFlat from None

    def step(self, grads: array[float]) -> None:
        """One optimizer step from this batch's gradients; all or nothing (a kernel writes its
        outputs once every element is done)."""
        opt = self.opt
        if self.kind == "sgd":
            assert isinstance(opt, SGD)
            mu, wd = opt.momentum, opt.weight_decay
            heavy = mu != 0.0
            first = heavy and self.buf is None
            k = _kernel("sgd", (wd != 0.0, heavy, first, opt.nesterov), self.backend)
            buf = grads if self.buf is None else self.buf
            args = (self.data, grads, buf, opt.lr, mu, 1.0 - opt.dampening, wd)
            if heavy:
                new_buf = array("d", bytes(len(buf) * 8)) if first else buf
                k(*args, out=[self.data, new_buf])
                self.buf = new_buf
            else:
                k(*args, out=[self.data])
        else:
            assert isinstance(opt, Adam)
            b1, b2 = opt.betas
            s = self.s + 1
            step_size, bc2_sqrt = adam_corrections(opt.lr, b1, b2, s)
            wd = opt.weight_decay
            k = _kernel("adam", (wd != 0.0,), self.backend)
            k(self.data, grads, self.m, self.v, step_size, bc2_sqrt, b2, 1.0 - b1, 1.0 - b2,
              opt.eps, wd, out=[self.data, self.m, self.v])
            self.s = s
        self.grad = grads
        self.steps += 1

    def scan_args(self, n_batches: int) -> tuple[Mapped, list[Any], list[array[float]]] | None:
        """(kernel, args, outputs) for `Compiled.scan_steps` to take `n_batches` steps as
        `step` would (Adam's bias corrections per step as per-batch scalars); None when the
        next step is not one kernel's (SGD's first momentum step: `step` takes it)."""
        opt = self.opt
        if self.kind == "sgd":
            assert isinstance(opt, SGD)
            mu, wd = opt.momentum, opt.weight_decay
            heavy = mu != 0.0
            if heavy and self.buf is None:
                return None
            k = _kernel("sgd", (wd != 0.0, heavy, False, opt.nesterov), self.backend)
            buf: Any = "grad" if self.buf is None else self.buf
            args = ["params", "grad", buf, opt.lr, mu, 1.0 - opt.dampening, wd]
            return k, args, [self.data] if self.buf is None else [self.data, self.buf]
        assert isinstance(opt, Adam)
        b1, b2 = opt.betas
        sizes, roots = array("d", bytes(8 * n_batches)), array("d", bytes(8 * n_batches))
        for b in range(n_batches):
            sizes[b], roots[b] = adam_corrections(opt.lr, b1, b2, self.s + 1 + b)
        wd = opt.weight_decay
        k = _kernel("adam", (wd != 0.0,), self.backend)
        args = ["params", "grad", self.m, self.v, ("per_batch", sizes), ("per_batch", roots),
                b2, 1.0 - b1, 1.0 - b2, opt.eps, wd]
        return k, args, [self.data, self.m, self.v]

    def advance(self, done: int, grads: array[float]) -> None:
        """Count `done` steps taken by `Compiled.scan_steps` (`grads`: the last one's)."""
        if done:
            if self.kind == "adam":
                self.s += done
            self.grad = grads
            self.steps += done

    def store(self) -> None:
        """Write everything back: `.data` and `.grad` of each parameter, the optimizer's
        buffers (SGD) or m, v, step counts and t (Adam), as its Python steps leave them."""
        if not self.steps or self.grad is None:
            return
        if self.plain:  # the floats straight into the slots the setters write
            for p, d, g in zip(self.params, self.data.tolist(), self.grad.tolist()):
                p._d = d  # (a 3x faster sync than the setters: they only convert non-floats)
                p._gr = g
        else:  # a Value subclass: its own setters, as the Python optimizer's steps use them
            for p, d, g in zip(self.params, self.data.tolist(), self.grad.tolist()):
                p.data = d
                p.grad = g
        opt = self.opt
        if isinstance(opt, SGD):
            if self.buf is not None:
                opt.buffers[:] = self.buf.tolist()
        elif isinstance(opt, Adam):
            opt.t += self.steps
            opt.steps[:] = [self.s] * len(self.params)
            opt.m[:] = self.m.tolist()
            opt.v[:] = self.v.tolist()
        self.steps = 0
