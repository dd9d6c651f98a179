"""`fit(compiled=True)` and compiled `predict` / `evaluate`: replay traced graphs over floats,
natively (one C call per mini-batch) when a C compiler is available.

Why one file past ~400 lines: everything here is one idea, the implicit compiled caches (a
traced training step, a traced forward pass) and the guard that keeps them from replaying a
stale model (`_Snapshot`), which both share; the optimizer on flat buffers is nn/flat.py.

A sample's loss is traced ONCE, with its target as extra inputs, so one compiled function serves
every sample and a mini-batch is one `value_and_grad_batch` call (a loop in C with the native
backend). Targets become inputs in one of three ways (`_encoding`):

- `cross_entropy` with int labels: a one-hot vector h, and the loss `lse(z) - sum_c h_c (z_c - m)`
  built from the same nodes as `losses.cross_entropy` (the sum picks `z_y - m` exactly: the other
  terms are zeros), so values and gradients are the interpreter's bit for bit;
- real-valued targets (a number or a list of numbers, e.g. for `mse`): the targets themselves, as
  Values given to the loss (when the loss accepts Value targets without reading their data);
- any other loss over few discrete targets (hinge, BCE on logits, multi-margin, a user's): a
  one-hot vector h over the targets and `sum_c h_c * loss_c`, every class's loss computed and all
  but one multiplied by 0 (adding exact zeros: the same numbers as the interpreter's up to the
  order of the model's nodes; tests check agreement to 1e-12).

A last input is the batch's 1/n, multiplied into the sample's loss: the reverse sweep starts from
the same seed as the interpreter's batch mean, and the rows are replayed in reverse order so that
each parameter's gradient sums the samples in the order the interpreter's `backward()` does. For a
model that uses each parameter once per sample (an MLP), `fit(compiled=True)` then takes exactly
the interpreter's steps. The interpreter stays the reference: on the first batch the compiled
loss and gradients are compared with `train_batch`'s; the step falls back to the interpreter for
good (with a warning) when they differ (a loss that is not a mean over samples), when the model or
loss branches on data while tracing, or when targets are neither numbers nor few discrete values.
A batch with a target the compiled function does not know (a label out of range), or whose replay
raises or gives a non-finite result, is run by the interpreter (which raises its own error).

`outputs(model, X)` traces the model once (cached per model and backend) and returns its output
data for every row in one `forward_batch` call; `predict(..., compiled=True)` and
`evaluate(..., compiled=True)` use it.

These caches were not asked for, so they never replay a stale model (docs/compiled.md, "The
contract"): before every call (for fit: at its first batch and after each `sync`, i.e. after
user code ran) a `_Snapshot` of what the model (and the loss) can read through its attributes
is compared with the one taken at the trace; when it
differs, the function is traced again. A model holding an object the snapshot cannot read is
re-traced at every call and its graph compared instead (`Compiled.same_graph`). Every trace is
made twice, with snapshots before, between and after, and used only when all agree (a random
draw or another thread's change: the interpreter); a model that uses a Value computed from a
parameter before the trace, or is re-traced MAX_TRACES times in a row, runs in the interpreter,
with a warning. Parameters must be leaves (ValueError naming the first that is not). The cache
holds models weakly.

Within one fit (`CompiledStep.open` / `run` / `sync` / `close`, driven by `nn.fit`), the
training set is encoded once into a buffer of rows and each batch gathered from it; parameters
and optimizer state live in flat arrays (nn/flat.py) from the first replayed batch to the next
`sync`, which `fit` calls before any user code (lr_schedule, validation, a live plot), at the
end and on an error. `fit_step` gives the next fit on the same model, loss and targets the same
step (its trace, compiled code and first-batch check): it only re-checks the snapshot. Such a
fit also takes the model's output at X[0] (to resolve and check its loss) from that step's
replay of the row (`known_output`) when the snapshot proves model and loss unchanged, instead of
an interpreter forward pass.
"""

from __future__ import annotations

import decimal
import functools
import hashlib
import math
import numbers
import struct
import threading
import types
import warnings
import weakref
from array import array
from collections.abc import Callable, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

from autograd_lite import Compiled, Value, compile_grad, no_grad

from . import losses as _losses
from .flat import FlatState, NotFlat
from .metrics import Decision
from .module import Module
from .optim import Optimizer
from .step import LossFn, train_batch

#: More distinct discrete targets than this are not worth a one-hot input each.
MAX_TARGETS = 64


def _is_real(t: Any) -> bool:
    return isinstance(t, numbers.Real) and not isinstance(t, bool)


def _is_label(t: Any) -> bool:
    return isinstance(t, numbers.Integral) and not isinstance(t, bool)


def _key(t: Any) -> tuple[str, Any]:
    """A dict key for a discrete target (1, 1.0 and True stay distinct); TypeError if unhashable."""
    key = (type(t).__name__, t)
    hash(key)
    return key


def _holds_values(items: list[Any]) -> bool:
    """Whether rows hold Values: inputs the interpreter's backward gives a `.grad` (a
    compiled replay reads only their data), so their batches go the interpreter's way.
    Found by one float sum at C speed (a Value anywhere makes it a Value: 0.4 ms for the digits
    training set, a type scan 1.5 ms); anything the sum refuses counts as a Value too."""
    try:
        with no_grad():
            return not isinstance(sum(items, 0.0), float)
    except Exception:  # (a Value sum that met a NaN, an object floats cannot add)
        return True


def _one_hot(i: int, n: int) -> list[float]:
    row = [0.0] * n
    row[i] = 1.0
    return row


class _Encoding:
    """How a target becomes `width` extra inputs, and the sample's loss from those inputs."""

    width = 0

    def encode(self, t: Any) -> list[float] | None:
        """The target's input values, or None when this encoding cannot represent it."""
        raise NotImplementedError

    def loss(self, out: Any, ts: list[Value]) -> Value:
        """The loss of one sample with model output `out` and target inputs `ts`."""
        raise NotImplementedError

    def scale(self, n: int) -> float:
        """The last input of each row of a batch of `n`: the seed of its loss, as the
        interpreter's batch mean gives it to each sample's terms."""
        return 1.0 / n


class _CrossEntropy(_Encoding):
    """Int labels for `losses.cross_entropy`: one-hot over the output's `n` classes."""

    def __init__(self, n: int) -> None:
        self.width = n
        self.rows = [_one_hot(i, n) for i in range(n)]

    def encode(self, t: Any) -> list[float] | None:
        if (type(t) is int or _is_label(t)) and 0 <= t < self.width:
            return self.rows[int(t)]
        return None

    def loss(self, out: Any, ts: list[Value]) -> Value:
        # losses.cross_entropy's nodes (`lse - shifted[y]`), with shifted[y] picked by the
        # one-hot inputs: sum_c h_c * shifted_c adds exact zeros to shifted[y].
        shifted, lse = _losses._shifted_lse(list(out))
        picked = ts[0] * shifted[0]
        for h, s in zip(ts[1:], shifted[1:]):
            picked = picked + h * s
        return lse - picked


class _ValueTargets(_Encoding):
    """Real targets given to the loss as Values: one number, or a list of `width` numbers.

    `losses.mse` over vector targets is the mean of all n * k entries of a batch: each entry's
    seed is 1/(n*k), which (1/n) * (1/k) is not always (n = k = 5), so a sample's loss is
    traced as the sum of its terms and seeded with 1/(n*k) (`summed`)."""

    def __init__(self, loss_fn: LossFn, t: Any) -> None:
        self.loss_fn = loss_fn
        self.vector = not _is_real(t)
        self.width = len(t) if self.vector else 1
        self.summed = self.vector and loss_fn is _losses.mse

    def encode(self, t: Any) -> list[float] | None:
        if not self.vector:
            return [float(t)] if _is_real(t) else None
        if isinstance(t, (str, bytes)) or not isinstance(t, Sequence) or len(t) != self.width \
                or not all(map(_is_real, t)):
            return None
        return [float(v) for v in t]

    def loss(self, out: Any, ts: list[Value]) -> Value:
        if self.summed:
            return _losses.mse([out], [list(ts)], reduction="sum")
        return self.loss_fn([out], [list(ts) if self.vector else ts[0]])

    def scale(self, n: int) -> float:
        return 1.0 / (n * self.width) if self.summed else 1.0 / n

    def batch_loss(self, outs: list[list[float]], targets: list[Any]) -> float | None:
        """The batch's mean loss as the interpreter computes it, when the sum of per-sample
        losses is not it: `losses.mse` over vector targets averages all n * k entries in one
        running sum (summing per-sample means rounds differently); None otherwise."""
        if not self.summed:
            return None
        terms = [(p - float(t)) ** 2 for out, ts in zip(outs, targets) for p, t in zip(out, ts)]
        total = terms[0]
        for d in terms[1:]:  # losses._reduce's order; mse's terms are (p - t) ** 2
            total += d
        return total * (1.0 / len(terms)) if len(terms) > 1 else total


class _Choice(_Encoding):
    """Few discrete targets: one-hot over `classes`, the loss `sum_c h_c * loss(out, c)`."""

    def __init__(self, loss_fn: LossFn, classes: list[Any]) -> None:
        self.loss_fn = loss_fn
        self.classes = classes
        self.width = len(classes)
        self.index = {_key(c): i for i, c in enumerate(classes)}
        self.rows = [_one_hot(i, self.width) for i in range(self.width)]

    def encode(self, t: Any) -> list[float] | None:
        try:
            i = self.index.get(_key(t))
        except TypeError:
            return None
        return None if i is None else self.rows[i]

    def loss(self, out: Any, ts: list[Value]) -> Value:
        total = None
        for h, c in zip(ts, self.classes):
            term = h * self.loss_fn([out], [c])
            total = term if total is None else total + term
        assert total is not None
        return total


def _sample_loss(get: Callable[[], Module | None], enc: _Encoding, n_in: int
                 ) -> Callable[..., Any]:
    """f(*x, *target inputs, 1/n) = (the sample's loss * (1/n), [loss, *model outputs]): closes
    over the model (through `get`, a weak reference when it can be one) and the encoding only
    (not over a CompiledStep: no reference cycle; a cached step does not keep the model)."""

    def sample_loss(*xs: Value) -> tuple[Value, list[Value]]:
        model = get()
        if model is None:
            raise ReferenceError("nn.compiled: the model was garbage-collected")
        out = model(list(xs[:n_in]))
        loss = enc.loss(out, list(xs[n_in:-1]))
        outs = [out] if isinstance(out, Value) else list(out)
        return loss * xs[-1], [loss, *outs]

    return sample_loss


class CompiledStep:
    """A `fit` step with train_batch's signature and results, run by compiled replay.

    `backend` is passed to `compile_grad` ("auto": native C when a compiler is available).
    `targets`: the training targets, if known (fit passes them): the classes of a one-hot
    encoding come from them instead of from the batches seen so far.
    """

    def __init__(self, model: Module, loss_fn: LossFn, backend: str = "auto",
                 targets: Sequence[Any] | None = None) -> None:
        _check_leaves(model)
        try:
            self._model: Callable[[], Module | None] = weakref.ref(model)
        except TypeError:  # not weak-referenceable: never cached (`fit_step`), held strongly
            self._model = lambda: model
        self.loss_fn = loss_fn
        self.backend = backend
        self.params = model.parameters()
        self._param_set = set(self.params)
        self._snapshot: _Snapshot | None = None  #: model and loss at the trace (see `_fresh`)
        self.targets = None if targets is None else list(targets)
        self.compiled: Compiled | None = None  #: the one traced per-sample loss
        self._progress: bool | None = None  #: whether long builds show (`Compiled.progress`)
        self.encoding: _Encoding | None = None
        self.n_inputs = 0  #: the model's inputs per sample
        self.scalar = False  #: the model returns one Value (else a list)
        self.verified = False
        self.fallback: str | None = None  #: why the interpreter is used instead, if it is
        self.traces = 0  #: traces in a row, no batch using one (see MAX_TRACES)
        self.unstable = 0  #: traces in a row that a second trace did not confirm
        self._owner: Optimizer | None = None  # an optimizer whose params are exactly ours
        self.in_fit = False  #: from `fit_step` or `open` to `close` (a fit is using this step)
        self._kept: _KeptRows | None = None  #: the last fit's encoded rows (see `_encoded`)
        self._order: tuple[list[int], array[int]] | None = None  #: see `_indices`

    @property
    def model(self) -> Module:
        """The model this step trains (held weakly: the step may be cached, see `fit_step`)."""
        model = self._model()
        if model is None:
            raise ReferenceError("nn.compiled: the model was garbage-collected")
        return model

    def _give_up(self, why: str) -> None:
        self.fallback = why
        warnings.warn(f"fit(compiled=True): using the interpreter: {why}", RuntimeWarning,
                      stacklevel=4)

    @property
    def progress(self) -> bool | None:
        """Whether a long build of the compiled code shows its progress (see
        `Compiled.progress`): fit sets False for `fit(progress=False)`."""
        return self._progress

    @progress.setter
    def progress(self, value: bool | None) -> None:
        self._progress = value
        if self.compiled is not None:
            self.compiled.progress = value

    # ---- tracing -------------------------------------------------------------------------------
    def _compile(self, enc: _Encoding, x: list[float], t: Any) -> Compiled:
        code = enc.encode(t)
        if code is None:
            raise ValueError(f"target {t!r} cannot be encoded")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return compile_grad(_sample_loss(self._model, enc, len(x)), [*x, *code, 1.0],
                                params=self.params, has_aux=True, backend=self.backend,
                                progress=self._progress)

    def _candidates(self, out: Any, ys: list[Any]) -> list[Callable[[], _Encoding]]:
        """Encodings to try for these targets, best first."""
        found: list[Callable[[], _Encoding]] = []
        labels = all(map(_is_label, ys))
        if self.loss_fn is _losses.cross_entropy and labels and isinstance(out, list):
            found.append(lambda: _CrossEntropy(len(out)))
        if not labels:
            t = ys[0]
            flat = _is_real(t) or (isinstance(t, Sequence) and not isinstance(t, (str, bytes))
                                   and all(map(_is_real, t)))
            if flat:
                found.append(lambda: _ValueTargets(self.loss_fn, t))
        try:
            keys: dict[Any, Any] = {}
            for t in ys:
                keys.setdefault(_key(t), t)
        except TypeError:
            return found
        if len(keys) <= MAX_TARGETS:
            classes = list(keys.values())
            found.append(lambda: _Choice(self.loss_fn, classes))
        if labels and isinstance(ys[0], numbers.Real):  # many int targets: as numbers
            found.append(lambda: _ValueTargets(self.loss_fn, ys[0]))
        return found

    def _setup(self, xb: list[Any], yb: list[Any]) -> bool:
        """Trace the sample loss with the first encoding that works; False (and the interpreter
        for good) when none does."""
        x0 = [float(v) for v in xb[0]]
        before = _Snapshot((self.model, self.loss_fn), self._param_set)
        with no_grad():
            out = self.model(x0)
        ys = self.targets if self.targets is not None else list(yb)
        if isinstance(self.encoding, _Choice):  # a new target: every target seen so far
            ys = [*self.encoding.classes, *yb]
        why = "targets are neither numbers nor a few discrete values"
        candidates = self._candidates(out, ys)
        if any(isinstance(t, Value) for t in ys):  # (a replay would bake them in as constants)
            why, candidates = "targets are Values (the interpreter gives them a .grad)", []
        raised = False
        for make in candidates:
            try:
                enc = make()
                t0 = yb[0] if enc.encode(yb[0]) is not None else ys[0]
                c = self._compile(enc, x0, t0)
            except Exception as e:  # the loss rejects this encoding: try the next (the
                if not raised:  # warning names the first, best encoding's error: e.g. a bad
                    why = f"the loss cannot be traced with its targets as inputs ({e})"
                    raised = True  # $AUTOGRAD_LITE_SIMD, not a later encoding's label check)
                continue
            if c.data_dependent:
                why = ("the model or the loss compares Values or calls float() on them (its "
                       "branches would be frozen)")
                continue
            # Taken before the trace and compared after: a model changed meanwhile (by another
            # thread) may have been traced half in each state: not used (this batch runs in
            # the interpreter; the next one traces again).
            # Traced twice, snapshots before, between and after (as `_trace_forward`).
            between = _Snapshot((self.model, self.loss_fn), self._param_set)
            same = c.same_graph([*x0, *(enc.encode(t0) or ()), 1.0])
            after = _Snapshot((self.model, self.loss_fn), self._param_set)
            if not same or (before.state, between.state) != (after.state, after.state):
                self.unstable += 1
                if self.unstable >= 3 or before.state == between.state == after.state:
                    self._give_up("the model or the loss records a different graph at every "
                                  "trace (a random draw, or another thread changing it)")
                return False  # this batch runs in the interpreter
            self.unstable = 0
            self.traces += 1
            if self.traces > MAX_TRACES:
                self._give_up(f"the sample loss was traced {MAX_TRACES} times in a row (the "
                              "model changes before every batch)")
                return False
            self.compiled, self.encoding, self.n_inputs = c, enc, len(x0)
            self.scalar = isinstance(out, Value)
            #: the output is one Value or a list of Values (`known_output` can stand for it)
            self.plain_output = self.scalar or (
                type(out) is list and all(isinstance(o, Value) for o in out))
            self.verified = False
            self._snapshot = after
            return True
        self._give_up(why)
        return False

    def _fresh(self, xb: list[Any], yb: list[Any]) -> bool:
        """Whether the traced sample loss still is the model's and the loss's: the guard run
        before every batch (see nn.compiled's `_fresh` for forward passes)."""
        snap = _Snapshot((self.model, self.loss_fn), self._param_set)
        old = self._snapshot
        if old is not None and old.state is not None:
            return snap.matches(old) and (
                not snap.custom or self.model.parameters() == self.params)
        c, enc = self.compiled, self.encoding
        assert c is not None and enc is not None
        code = enc.encode(yb[0])
        if code is None:  # the batch goes to the interpreter, or traces again (`_batch`)
            return True
        try:
            row = [float(v) for v in xb[0]]
        except (TypeError, ValueError):
            return True  # the interpreter runs this batch and says what is wrong
        return self.model.parameters() == self.params and c.same_graph(
            [*row, *code, enc.scale(len(xb))])

    # ---- one batch -----------------------------------------------------------------------------
    def _rows(self, xb: list[Any], yb: list[Any]) -> memoryview[float] | None:
        """The batch as an (n, inputs) buffer of doubles, rows in REVERSE order (see the module
        docstring); None when a row does not fit (the interpreter then handles the batch)."""
        enc = self.encoding
        assert enc is not None
        n, k = len(xb), self.n_inputs
        width = k + enc.width + 1
        scale = enc.scale(n)
        encode = enc.encode
        items: list[Any] = []
        try:
            for i in range(n - 1, -1, -1):
                code = encode(yb[i])
                if code is None:
                    return None
                items += xb[i]
                items += code
                items.append(scale)
            if len(items) != n * width or _holds_values(items):  # a row of the wrong length,
                return None  # or Values: the interpreter's backward gives them a .grad
            flat = array("d", items)
        except (TypeError, ValueError, OverflowError):  # not numbers: the interpreter says so
            return None
        return memoryview(flat).cast("B").cast("d", [n, width])

    def _batch(self, xb: list[Any], yb: list[Any], start: list[float] | None = None
               ) -> tuple[float, array[float], list[Any]] | None:
        """(mean loss, mean parameter gradients, outputs), or None to use the interpreter.
        `start`: the gradients start from these values (each sample's added in turn, as the
        interpreter's backward adds into a `.grad` that was not zeroed), not from 0.0."""
        c = self.compiled
        assert c is not None
        rows = self._rows(xb, yb)
        if rows is None:
            if not isinstance(self.encoding, _Choice) or self.targets is not None:
                return None
            try:  # a target not seen before: trace again with it
                known = self.encoding.encode
                if any(known(t) is None for t in yb) and not self._setup(xb, yb):
                    return None
            except TypeError:
                return None
            return self._batch(xb, yb, start) if self.fallback is None else None
        pdata = array("d", [p.data for p in self.params])  # (faster than map(attrgetter))
        return self._replay(rows, pdata, start, yb)

    def _replay(self, rows: memoryview[float], pdata: array[float],
                start: list[float] | None = None, targets: Sequence[Any] | None = None
                ) -> tuple[float, array[float], list[Any]] | None:
        """`_batch` on rows already encoded, at the parameter values `pdata` (`targets`: the
        batch's, for a loss whose batch mean is not the mean of per-sample losses)."""
        c = self.compiled
        assert c is not None
        acc = array("d", bytes(8 * len(self.params)) if start is None else start)
        try:
            values, _, _ = c.value_and_grad_batch(rows, param_data=pdata, accumulate=acc,
                                                  input_grads=False)
        except Exception:  # the interpreter gives its own error (or its numbers)
            return None
        n = len(values)
        losses = [aux[0] for _, aux in reversed(values)]
        total = losses[0]
        for v in losses[1:]:  # the order of losses._reduce's sum, never fsum or Neumaier's
            total += v
        loss = total * (1.0 / n) if n > 1 else total
        if self.scalar:
            outs = [aux[1] for _, aux in reversed(values)]
        else:
            outs = [list(aux[1:]) for _, aux in reversed(values)]
        if isinstance(self.encoding, _ValueTargets) and self.encoding.summed:
            if targets is None:
                return None  # (never: every caller passes them) the interpreter's numbers
            exact = self.encoding.batch_loss(outs, list(targets))
            loss = loss if exact is None else exact
        if isinstance(self.encoding, (_Choice, _CrossEntropy)) and not (
                math.isfinite(loss) and math.isfinite(math.fsum(acc))):
            # 0 * inf in a class not chosen (a one-hot code's zeros times an overflowed
            # logit difference): the interpreter's numbers instead
            return None
        return loss, acc, outs

    def __call__(self, model: Module, xb: list[Any], yb: list[Any], loss_fn: LossFn,
                 optimizer: Optimizer) -> tuple[float, list[Any]]:
        if self.fallback is not None or model is not self.model or loss_fn is not self.loss_fn \
                or not xb:
            return train_batch(model, xb, yb, loss_fn, optimizer)
        if self.compiled is not None and not self._fresh(xb, yb):
            # The model (or the loss) changed since the trace: its parameters are found
            # again, the sample loss traced again and its first batch verified again.
            _check_leaves(model)
            self.params = model.parameters()
            self._param_set = set(self.params)
            self.compiled = None
            self._owner = None
        elif self.compiled is not None:
            self.traces = 0
        if self.compiled is None and not self._setup(xb, yb):
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
        if self._owner is not optimizer or not self.in_fit:  # (trusted only between syncs:
            # user code may change `optimizer.params` in place, e.g. to freeze a parameter)
            self._owner = optimizer if getattr(optimizer, "params", None) == self.params else None
        if self._owner is optimizer and _plain_steps(optimizer):
            # zero_grad, backward and step in one pass: each .grad becomes this batch's gradient
            # (the sums in `grads` started from 0.0, as .grad after zero_grad), then the update.
            try:
                optimizer.step_with(grads)
            except BaseException:  # raised part way (state lists the user shortened): every
                for p, g in zip(self.params, grads):  # .grad as backward() left it, not only
                    p.grad = g  # those step_with reached
                raise
            return loss, outs
        optimizer.zero_grad()
        start = [p.grad for p in self.params]
        kept = None
        if not all(type(h) is float and h == 0.0 for h in start):
            # Gradients the optimizer does not zero (frozen parameters) keep accumulating: the
            # batch again, each sample's contribution added to them in turn, as backward().
            kept = self._batch(xb, yb, [float(h) for h in start])
        if kept is not None:
            for p, total in zip(self.params, kept[1]):
                p.grad = total
        else:
            for p, g in zip(self.params, grads):
                p.grad += g
        optimizer.step()
        return loss, outs

    # ---- a whole fit: the training set encoded once, parameters in one flat buffer -----------
    def open(self, X: Sequence[Any], y: Sequence[Any], optimizer: Optimizer,
             batch_size: int, floats: bool = False) -> None:
        """Start a fit over (X, y) with batches given by index (`run`). Between a batch that
        loads them and `sync`, the parameters (and the optimizer's state) live in flat arrays
        updated in place by native kernels; the model is checked at the first batch and after
        each `sync` (user code runs only between batches: callbacks, lr_schedule, validation,
        a live plot), not at every batch. `floats`: X is fit's own lists of exactly floats
        (`arrays.float_rows`), never changed during the fit: the next fit may reuse their
        encoding (`_KeptRows`)."""
        self.in_fit = True  #: a fit is using this step (`fit_step` gives another fit a new one)
        self._X, self._y, self._opt, self._size = X, y, optimizer, batch_size
        self._floats = floats
        self._table: tuple[_Encoding, int, array[float] | None] | None = None
        self._codes: tuple[Decision, Any] | None = None
        self._loaded_none = False  #: `scan` found `_load` gives None for the next batch
        self._flat: FlatState | None = None
        self._check = True

    def run(self, idx: Sequence[int]) -> tuple[float, list[Any]]:
        """One batch (the training rows `idx`, in order): `__call__`'s results and steps."""
        flat = self._flat
        if flat is None and not self._loaded_none:
            flat = self._load(idx)
        self._loaded_none = False
        if flat is not None:
            rows = self._gather(idx)
            enc = self.encoding
            y = self._y
            ts = [y[i] for i in idx] if isinstance(enc, _ValueTargets) and enc.summed else None
            res = None if rows is None else self._replay(rows, flat.data, None, ts)
            if res is not None:
                loss, grads, outs = res
                flat.step(grads)
                return loss, outs
            self.sync()  # this batch goes the interpreter's way (which decides what it means)
        X, y = self._X, self._y
        return self(self.model, [X[i] for i in idx], [y[i] for i in idx], self.loss_fn,
                    self._opt)

    def sync(self) -> None:
        """Write the flat parameters back to the Values' `.data` (and `.grad`, the last batch's
        gradients, as the interpreter leaves them) and the optimizer's state back to it: before
        any user code runs. The next batch reads them again and checks the model first."""
        flat, self._flat = getattr(self, "_flat", None), None
        self._check = True
        self._owner = None  # user code runs next: the optimizer's parameters are compared again
        if flat is not None:
            flat.store()

    def close(self) -> None:
        """End the fit: `sync`, and drop the training set."""
        self.sync()
        self._X = self._y = self._opt = None  # type: ignore[assignment]
        self._owner = None  # (a cached step holds no optimizer: it may hold the model)
        self._table = None
        self._codes = None
        self.in_fit = False

    def _load(self, idx: Sequence[int]) -> FlatState | None:
        """The flat state for the next batches, or None when this batch takes `__call__`'s
        path: not traced or verified yet, the model changed, an optimizer or state the kernels
        do not cover, targets the encoding cannot hold."""
        if self.fallback is not None or self.compiled is None or not self.verified or not idx:
            return None
        if self._check:
            X, y = self._X, self._y
            if not self._fresh([X[i] for i in idx], [y[i] for i in idx]):
                return None  # `__call__` traces again
            self._check = False
            self.traces = 0
        opt = self._opt
        if getattr(opt, "params", None) != self.params or self._encoded() is None:
            return None
        try:
            self._flat = FlatState(self.params, opt, self.backend)
        except NotFlat:
            return None
        return self._flat

    def _encoded(self) -> tuple[_Encoding, int, array[float] | None] | None:
        """The training set as one contiguous buffer of rows (inputs, encoded target, 1/batch
        size), built once per fit and encoding: (encoding, row width, the rows' doubles)."""
        enc = self.encoding
        assert enc is not None
        if self._table is not None and self._table[0] is enc:
            return self._table if self._table[2] is not None else None
        kept = self._kept
        if kept is not None and self._floats and kept.holds(enc, self._size, self._X, self._y):
            self._table, self._codes = kept.table, None
            return self._table
        k = self.n_inputs
        width = k + enc.width + 1
        scale = enc.scale(self._size)
        encode = enc.encode
        items: list[Any] = []
        self._table = (enc, width, None)  # (None: this encoding cannot hold the training set)
        self._codes = None
        if set(map(len, self._X)) != {k}:  # (fit checked X: never, unless called directly)
            return None
        # A target the encoding cannot hold (a label the trace did not see) gets NaN codes: its
        # batch's replay refuses it (a NaN input), so that batch goes `__call__`'s way (the
        # interpreter) and the others are still replayed, scanned included.
        unknown = [math.nan] * enc.width
        try:
            for x, t in zip(self._X, self._y):
                code = encode(t)
                if code is None:
                    code = unknown
                items += x
                items += code
                items.append(scale)
            if len(items) != len(self._X) * width or _holds_values(items):
                return None
            flat = array("d", items)
        except (TypeError, ValueError, OverflowError):
            return None
        self._table = (enc, width, flat)
        self._kept = _KeptRows.of(self._X, self._y, self._size, self._table) \
            if self._floats else None
        return self._table

    def _gather(self, idx: Sequence[int]) -> memoryview[float] | None:
        """Rows `idx` of the encoded training set as an (n, width) buffer, in REVERSE order
        (see the module docstring), 1/n in the last column."""
        table = self._table
        if table is None or table[0] is not self.encoding or table[2] is None:
            return None
        width, flat = table[1], table[2]
        raw = memoryview(flat).cast("B")
        step = 8 * width
        n = len(idx)
        data = bytearray().join([raw[i * step:(i + 1) * step] for i in reversed(idx)])
        out = memoryview(data).cast("d")
        if n != self._size:
            scale = self.encoding.scale(n)
            for j in range(width - 1, n * width, width):
                out[j] = scale
        return out.cast("B").cast("d", [n, width])

    # ---- a whole epoch in one call --------------------------------------------------------------
    def scan(self, order: Sequence[int], rule: Decision | None) -> list[tuple[float, int]]:
        """The first batches of `order` (the fit's batch size; the last may be short) taken
        by one `Compiled.scan_steps` call, as `run` takes them one by one, bit for bit:
        (mean loss, correct predictions at `rule`, 0 without one) per batch done. Fewer (none)
        than all when a batch needs `run`'s path (not loaded or verified yet, a row the native
        step flags, a non-finite loss or gradient of a one-hot encoding, a kernel that needs
        Python, SGD's first momentum step): the caller runs that batch with `run`."""
        size = self._size
        if not order:
            return []
        flat = self._flat if self._flat is not None else self._load(order[:size])
        self._loaded_none = flat is None  # (`run` takes this batch: no second `_load`)
        enc, c = self.encoding, self.compiled
        if flat is None or enc is None or c is None or (
                isinstance(enc, _ValueTargets) and enc.summed):
            return []  # (mse over vector targets: its batch loss is not a sum of rows')
        table = self._encoded()
        decision = None if rule is None else self._decision(rule)
        spec = None if table is None or (rule is not None and decision is None) else \
            flat.scan_args(-(-len(order) // size))
        if spec is None or table is None:
            return []
        kernel, args, outputs = spec
        width, rows = table[1], table[2]
        assert rows is not None  # (`_encoded` gives None otherwise)
        n = len(order)
        sizes = [min(size, n - s) for s in range(0, n, size)]
        scales = array("d", [enc.scale(m) for m in sizes])
        grads = array("d", bytes(8 * len(self.params)))
        count = array("q", [0])  # batches committed into flat's arrays, whatever happens next
        try:
            res = c.scan_steps(
                memoryview(rows).cast("B").cast("d", (len(rows) // width, width)),
                self._indices(order), size,
                params=flat.data, update=kernel, args=args, outputs=outputs, grad=grads,
                column=width - 1, column_values=scales, reverse=True, aux_sum=0,
                decide=None if decision is None else decision[0],
                codes=None if decision is None else decision[1],
                finite=isinstance(enc, (_Choice, _CrossEntropy)), counter=count)
        finally:  # (an interrupt after the native call: its batches counted, then stored)
            flat.advance(count[0], grads)
        out = []
        for b in range(res.done):
            total, m = res.sums[b], sizes[b]
            out.append((total * (1.0 / m) if m > 1 else total,
                        res.correct[b] if decision is not None else 0))
        return out

    def _indices(self, order: Sequence[int]) -> array[int]:
        """`order` (fit's indices: ints, taken as they are) as an array('q'): the last one
        again when `order` equals the list it was made from (an epoch without shuffling:
        ~4 us for 2,000 indices), else packed by struct (~4x faster than array's own
        conversion, 120 us for 2,000)."""
        kept = self._order
        if kept is not None and kept[0] == order:
            return kept[1]
        ids = list(order)
        out = array("q")
        try:
            out.frombytes(struct.pack(f"{len(ids)}q", *ids))
        except struct.error:  # (never from fit) array's own conversion says what is wrong
            out = array("q", ids)
        # (kept while the model lives: bounded as the kept rows are, ~16 bytes an index plus
        # the ints the list holds; a longer order is packed at every scan)
        self._order = (ids, out) if len(ids) <= KEEP_INDICES else None
        return out

    def _decision(self, rule: Decision) -> tuple[tuple[Any, ...], array[int]] | None:
        """`rule` as `scan_steps`' decide and codes (each training target's class code, -1
        for one no prediction equals), cached per fit; None when C cannot apply it (nearest
        labels: `run` and Python decide)."""
        cached = self._codes
        if cached is not None and cached[0] is rule:
            return cached[1]
        c = self.compiled
        assert c is not None
        found: tuple[tuple[Any, ...], array[int]] | None = None
        y = self._y
        try:
            if not self.scalar:
                width = c.n_aux - 1
                codes = [t if type(t) is int and 0 <= t < width else
                         next((j for j in range(width) if t == j), -1) for t in y]
                found = (("argmax", 1, width), array("q", codes))
            elif not rule.nearest and type(rule.threshold) in (int, float) and \
                    float(rule.threshold) == rule.threshold:
                pos, neg = rule.positive, rule.negative
                codes = []
                for t in y:
                    hit_pos, hit_neg = bool(t == pos), bool(t == neg)
                    if hit_pos and hit_neg:
                        raise ValueError  # a target equal to both: Python decides
                    codes.append(1 if hit_pos else 0 if hit_neg else -1)
                found = (("threshold", 1, float(rule.threshold)), array("q", codes))
        except (TypeError, ValueError, OverflowError):
            found = None
        self._codes = (rule, found)
        return found


def _plain_steps(opt: Optimizer) -> bool:
    """Whether `opt.zero_grad(); opt.step()` is `opt.step_with(grads)` after a backward pass:
    neither replaced, in a subclass or on the instance (`opt.step = clipped`)."""
    t = type(opt)
    return t.step is Optimizer.step and t.zero_grad is Optimizer.zero_grad and \
        not {"step", "zero_grad"} & getattr(opt, "__dict__", {}).keys()


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-10)


#: The longest batch order a step keeps for its next scan (`CompiledStep._indices`).
KEEP_INDICES = 1 << 16

#: The most doubles of encoded rows a step keeps for its next fit (8 MB, and the rows it was
#: encoded from: up to ~4x that again when they came from numpy; beyond: encoded again).
KEEP_DOUBLES = 1 << 20


class _KeptRows:
    """A fit's encoded training set, kept by its step for the next fit (a loop of
    `fit(epochs=1)` calls), and the rows and targets it was encoded from: fit's own lists
    (`arrays.float_rows` copies the user's rows, fit never changes them). The next fit reuses
    the encoding only when its rows and targets provably encode to the same bits:

    - the same encoding object and batch size (the codes and the 1/batch-size column);
    - its rows exactly floats (`float_rows` says so: no Value, whose `__eq__` may say
      anything) and equal to the kept rows (list equality, at C speed): equal floats have
      equal bits except 0.0 and -0.0, so the entries that are zeros in the kept rows are
      compared by their bits (a NaN or an infinity never reaches here: rows are finite);
    - its targets all ints (an int's code depends only on its value) equal to the kept ones,
      or all floats with the same bits; any other targets: encoded again.

    The zeros are found at the first check that gets that far (a loop whose data changes
    never pays for it), then kept. Rows with many zeros (more than one entry in 8) are not
    reused: checking them would cost about what encoding does. A column of mostly zeros (the
    digits' blank pixels) is compared whole, at C speed; other zeros one by one."""

    __slots__ = ("X", "y", "size", "table", "zeros", "zero_bits")

    def __init__(self, X: list[list[float]], y: list[int] | bytes, size: int,
                 table: tuple[_Encoding, int, array[float] | None]) -> None:
        self.X, self.size, self.table = X, size, table
        self.y = y  #: the targets (ints), or the bits of the targets (floats)
        #: the columns, and the other (row, column) entries, to compare by their bits (None:
        #: not found yet; False: too many zeros, never reused)
        self.zeros: tuple[list[int], list[tuple[int, int]]] | bool | None = None
        self.zero_bits = b""

    @classmethod
    def of(cls, X: Sequence[Any], y: Sequence[Any], size: int,
           table: tuple[_Encoding, int, array[float] | None]) -> _KeptRows | None:
        """The kept rows of this fit, or None when they cannot be reused (too big, targets
        neither all ints nor all floats, not fit's lists)."""
        flat = table[2]
        if flat is None or len(flat) > KEEP_DOUBLES or type(X) is not list or \
                type(y) is not list:
            return None
        kinds = set(map(type, y))
        if not (kinds <= {int} or kinds <= {float}):
            return None
        return cls(X, y if kinds <= {int} else array("d", y).tobytes(), size, table)

    def holds(self, enc: _Encoding, size: int, X: Sequence[Any], y: Sequence[Any]) -> bool:
        """Whether (X, y), exactly floats rows (the caller knows), encode with `enc` at this
        batch size to exactly the kept table (see the class docstring)."""
        if self.table[0] is not enc or self.size != size or len(X) != len(self.X) or \
                type(y) is not list or self.zeros is False:
            return False
        kinds = set(map(type, y))
        if type(self.y) is bytes:
            same = kinds <= {float} and array("d", y).tobytes() == self.y
        else:
            same = kinds <= {int} and y == self.y
        return same and (X is self.X or X == self.X and self.same_zeros(X))

    def same_zeros(self, X: Sequence[Any]) -> bool:
        """Whether rows equal to the kept ones have the same bits where those hold zeros
        (False, for good, when too many of them do)."""
        zeros = self.zeros
        if zeros is None:
            zeros = self._find_zeros()
            if zeros is None:
                self.zeros = False
                return False
            self.zeros, self.zero_bits = zeros, _zero_bits(self.X, zeros)
        if zeros is False or zeros is True:
            return False
        return _zero_bits(X, zeros) == self.zero_bits

    def _find_zeros(self) -> tuple[list[int], list[tuple[int, int]]] | None:
        """Where the kept rows hold zeros: columns of mostly zeros (found among the first
        rows' zeros, counted at C speed), then the other zeros one by one; None for more
        than one entry in 8."""
        X = self.X
        counts = [r.count(0.0) for r in X]  # (C speed; 0.0 == -0.0)
        if 8 * sum(counts) > len(X) * len(X[0] if X else ()):
            return None
        candidates = {j for i in [i for i, c in enumerate(counts) if c][:8]
                      for j in _zero_columns(X[i], counts[i])}
        whole, in_whole = [], 0
        for j in sorted(candidates):
            c = list(map(itemgetter(j), X)).count(0.0)
            if 3 * c >= len(X):
                whole.append(j)
                in_whole += c
        at: list[tuple[int, int]] = []
        if sum(counts) > in_whole:
            dense = set(whole)
            at = [(i, j) for i, c in enumerate(counts) if c
                  for j in _zero_columns(X[i], c) if j not in dense]
        return whole, at


def kept_rows(model: Module, X: Any, backend: str = "auto") -> list[list[float]] | None:
    """The rows the last compiled fit of `model` encoded (fit's own lists), when `X` (fit's
    argument) is a list of lists of exactly floats with the same bits: fit then takes them
    instead of converting X again (`arrays.rows(X)` would give lists equal to them, bit for
    bit), and their encoding is reused (`_KeptRows`); None otherwise (X is converted)."""
    try:
        entries = _steps.get(model)
    except TypeError:  # not weak-referenceable: no cache
        return None
    old = None if entries is None else entries.get(backend)
    kept = None if old is None or old.in_fit else old._kept
    if kept is None or kept.zeros is False or type(X) is not list or len(X) != len(kept.X) \
            or not set(map(type, X)) <= _LIST:
        return None
    # Types first (an int equal to a float, a float subclass, a Value: converted as always),
    # so that the equality compares floats only: no user `__eq__` runs (one that raises,
    # lies, or changes X while compared).
    if not all(set(map(type, r)) <= _FLOAT for r in X):
        return None
    try:
        if X != kept.X or not kept.same_zeros(X):
            return None
    except Exception:  # (another thread put an entry whose __eq__ raises: `rows` says what)
        return None
    return kept.X


_LIST, _FLOAT = {list}, {float}


def _zero_columns(row: list[float], count: int) -> list[int]:
    """The columns of the `count` zeros (0.0 or -0.0) of `row`."""
    found, j = [], -1
    for _ in range(count):
        j = row.index(0.0, j + 1)
        found.append(j)
    return found


def _zero_bits(X: Sequence[Any], zeros: tuple[list[int], list[tuple[int, int]]]) -> bytes:
    """The bits of X's columns `zeros[0]` and entries `zeros[1]` ((row, column) pairs)."""
    columns, at = zeros
    parts = [array("d", list(map(itemgetter(j), X))).tobytes() for j in columns]
    parts.append(array("d", [X[i][j] for i, j in at]).tobytes())
    return b"".join(parts)


#: model -> {backend: its compiled fit step}, reused by the next `fit` while still valid.
_steps: weakref.WeakKeyDictionary[Module, dict[str, CompiledStep]] = weakref.WeakKeyDictionary()
_steps_lock = threading.Lock()


def _same_targets(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Equal items of equal types, pairwise (1, 1.0 and True differ; a NaN never matches)."""
    if len(a) != len(b) or list(map(type, a)) != list(map(type, b)):
        return False
    if set(map(type, a)) <= {int}:  # labels: list equality, at C speed
        return list(a) == list(b)
    return all(s == t for s, t in zip(a, b))  # (not list ==: it takes a NaN as itself)


def fit_step(model: Module, loss_fn: LossFn, targets: Sequence[Any], backend: str = "auto"
             ) -> CompiledStep:
    """The compiled step for a `fit` of `model` with `loss_fn` on `targets`: the previous
    fit's (its trace, compiled code and verification kept) when it traced this loss (the same
    function, or an equal partial) on the same targets and compiles; a new one otherwise. The
    model is checked against the trace's snapshot at the first batch as always, and traced
    again if it changed. The step returned is claimed (`in_fit`) until its fit's `close`: give
    it to `fit` (its `open` / `close`), or no later fit reuses the cached step."""
    ys = list(targets)
    try:
        entries = _steps.get(model)
    except TypeError:  # not weak-referenceable: no cache
        return CompiledStep(model, loss_fn, backend, ys)
    if _holds(loss_fn, model):  # a cached step holds its loss: it would keep the model alive
        return CompiledStep(model, loss_fn, backend, ys)
    with _steps_lock:  # claimed here (`in_fit`) until its fit's `close`: another thread's fit
        # of the same model, between this and `open`, must not be given the same step
        old = None if entries is None else entries.get(backend)
        if old is not None and not old.in_fit and old.fallback is None and \
                old.compiled is not None and old.verified and \
                _same_loss(old.loss_fn, loss_fn) and old.targets is not None and \
                _same_targets(old.targets, ys):
            old.loss_fn = loss_fn
            old.in_fit = True
            return old
        step = CompiledStep(model, loss_fn, backend, ys)
        step.in_fit = True
        if old is None or not old.in_fit:  # (a fit inside a running fit's callback: not cached)
            _steps.setdefault(model, {})[backend] = step
        return step


def known_output(model: Module, x: Sequence[Any], loss_for: Callable[[Any], LossFn],
                 backend: str = "auto") -> tuple[Any, LossFn] | None:
    """(the output data of `model(x)`, the loss `loss_for(output)` names) from the compiled
    step the last `fit` left for this model (see `fit_step`), so that a fit in a loop checks
    its loss and targets without an interpreter forward pass: the step's replay at `x` is the
    interpreter's output (docs/compiled.md, "The contract") when its snapshot proves the
    model and the loss unchanged since the trace. None (the caller runs the model) when there
    is no such step, `x` is not a row of floats of the traced width, the loss is another, the
    snapshot differs, or the replay raises or gives a non-finite number."""
    try:
        entries = _steps.get(model)
    except TypeError:  # not weak-referenceable: no cache
        return None
    old = None if entries is None else entries.get(backend)
    if old is None or old.in_fit or old.fallback is not None or not old.verified or \
            not getattr(old, "plain_output", False):  # (a tuple output, say: the model's own)
        return None
    # One trace's parts, read once (and checked unchanged at the end: another thread's fit
    # may trace the step again meanwhile).
    c, enc, traced, scalar = old.compiled, old.encoding, old._snapshot, old.scalar
    params, param_set, targets = old.params, old._param_set, old.targets
    if c is None or enc is None or not targets or traced is None or traced.state is None or \
            len(x) != old.n_inputs or not all(type(v) is float for v in x):
        return None
    try:
        code = enc.encode(targets[0])
        if code is None:
            return None
        _, aux = c.forward_batch([[*x, *code, 1.0]])[0]
    except Exception:  # (the interpreter's forward raises its own error, if any)
        return None
    if not all(map(math.isfinite, aux)):
        return None
    sample = aux[1] if scalar else list(aux[1:])
    loss_fn = loss_for(sample)
    if not _same_loss(old.loss_fn, loss_fn):
        return None
    snap = _Snapshot((model, loss_fn), param_set)  # after the replay: it read this state
    if not snap.matches(traced) or (snap.custom and model.parameters() != params):
        return None
    if old.compiled is not c or old._snapshot is not traced:
        return None
    return sample, loss_fn


def _holds(obj: Any, target: Any) -> bool:
    """Whether `obj` (a loss) may hold `target` (the model) through what a `_Snapshot` walks
    (closure cells, defaults, partial arguments, bound methods, containers, modules): True
    also when it holds something the walk cannot read. Module globals are not followed."""
    seen: dict[int, int] = {}
    try:
        _Snapshot.unknown()._walk(obj, [], set(), seen)
    except (_Opaque, RecursionError):
        return True
    return id(target) in seen


def _same_loss(a: LossFn, b: LossFn) -> bool:
    """The same loss function, or partials of one function with equal arguments."""
    if a is b:
        return True
    if isinstance(a, functools.partial) and isinstance(b, functools.partial):
        try:
            return a.func is b.func and _same_targets(a.args, b.args) and \
                set(a.keywords) == set(b.keywords) and all(
                    type(v) is type(b.keywords[k]) and v == b.keywords[k]
                    for k, v in a.keywords.items())
        except Exception:  # an argument that cannot be compared
            return False
    return False


# ---- guards: what an implicit cache depends on -------------------------------------------------
class _Opaque(Exception):
    """An attribute whose state cannot be snapshot (the caller re-traces instead)."""


_MODULE_PARAMS = (Module.parameters, Module.named_parameters, Module._named)


class _Snapshot:
    """Everything a model's forward (and a loss) can read through its own attributes, as one
    comparable tuple: every Module's type and attributes (private ones included), recursively
    through lists, tuples and dicts; its classes' attributes along the whole MRO (dunders such
    as `__call__` included); numbers by type and bits (0.0 is not -0.0, np.float32 or Decimal
    alike); a parameter by identity (its data is read at every call); any other Value by
    identity AND data (replay bakes it in as a constant); functions by identity plus their code,
    defaults, attributes and closure cells; classes held as values by their attributes; numpy
    arrays and lists of floats by a hash of their bytes (cheap: nothing is copied). `state` is
    None when something cannot be snapshot (an arbitrary object): the caller then re-traces to
    compare (`same_graph`). `custom` is True when a module overrides how its parameters are
    found (the caller then compares `parameters()` too). Holds no strong reference to a module
    or a function."""

    __slots__ = ("state", "custom")

    def __init__(self, root: Any, params: set[Value]) -> None:
        self.custom = False
        out: list[Any] = []
        try:
            self._walk(root, out, params, {})
        except (_Opaque, RecursionError):
            self.state: tuple[Any, ...] | None = None
            return
        self.state = tuple(out)

    @classmethod
    def unknown(cls) -> _Snapshot:
        """A snapshot that matches nothing and asks for the re-trace guard."""
        snap = cls.__new__(cls)
        snap.state, snap.custom = None, False
        return snap

    def matches(self, other: _Snapshot) -> bool:
        """Whether both snapshots are known and equal."""
        return self.state is not None and self.state == other.state

    def _walk(self, obj: Any, out: list[Any], params: set[Value], seen: dict[int, int]
              ) -> None:
        # Exact types first (the bulk of a model: floats, names, lists of parameters,
        # functions of its classes); the entries are the same whichever branch writes them.
        t = type(obj)
        if t is float:
            out.append(_bits(obj))
        elif t in _ATOMS:
            out.append((t, obj))
        elif t is list or t is tuple:
            try:
                weights = params.issuperset(obj)  # the common case, at C speed
            except TypeError:  # an unhashable item
                weights = False
            if weights:
                out.append((t, tuple(obj)))
                return
            if len(obj) > 16:
                fast = _table(obj)
                if fast is not None:  # a big table of numbers: a hash of its bytes
                    out.append((t, fast))
                    return
            out.append((t, len(obj)))
            for item in obj:
                ti = type(item)
                if ti is float:
                    out.append(_bits(item))
                elif ti in _ATOMS:
                    out.append((ti, item))
                else:
                    self._walk(item, out, params, seen)
        elif t is types.FunctionType:
            self._walk_function(obj, out, params, seen)
        elif t is dict:
            if len(obj) > 16:
                keys, values = _table(list(obj)), _table(list(obj.values()))
                if keys is not None and values is not None:
                    out.append((t, keys, values))
                    return
            out.append((t, len(obj)))
            for key, value in obj.items():
                self._walk(key, out, params, seen)
                self._walk(value, out, params, seen)
        elif isinstance(obj, Value):
            out.append(obj if obj in params else (obj, _bits(obj.data), obj._prim is None))
        elif isinstance(obj, Module):
            if self._again(obj, out, seen):
                return
            out.append(t)
            if id(t) in seen:  # its whole MRO was walked with it (or with a subclass)
                out.append(("seen", seen[id(t)]))
            else:
                self._walk_class(t, out, params, seen)
            for name, value in vars(obj).copy().items():
                out.append(name)
                tv = type(value)
                if tv is float:
                    out.append(_bits(value))
                elif tv in _ATOMS:
                    out.append((tv, value))
                elif tv is Value and value in params:
                    out.append(value)
                elif tv is list and _all_in(params, value):
                    out.append((list, tuple(value)))  # a neuron's weights
                elif tv is types.FunctionType:
                    self._walk_function(value, out, params, seen)
                else:
                    self._walk(value, out, params, seen)
        elif isinstance(obj, numbers.Number):
            out.append(_number(obj))
        elif isinstance(obj, (staticmethod, classmethod)):
            out.append(t)
            self._walk(obj.__func__, out, params, seen)
        elif isinstance(obj, property):
            out.append(t)
            for accessor in (obj.fget, obj.fset, obj.fdel):
                self._walk(accessor, out, params, seen)
        elif isinstance(obj, types.MethodType):
            out.append(t)
            self._walk(obj.__func__, out, params, seen)
            self._walk(obj.__self__, out, params, seen)
        elif isinstance(obj, types.BuiltinFunctionType) and (
                obj.__self__ is None or isinstance(obj.__self__, types.ModuleType)):
            out.append(obj)  # math.tanh: no state
        elif isinstance(obj, _C_DESCRIPTORS) or obj is NotImplemented or obj is Ellipsis:
            out.append(obj)  # a slot wrapper, a C method of a built-in class: no state
        elif isinstance(obj, type):
            if obj.__flags__ & _HEAPTYPE == 0:  # a built-in class (int, np.float32): immutable
                out.append(obj)
            else:
                self._walk_class(obj, out, params, seen)  # a config namespace: Config.scale
        elif isinstance(obj, functools.partial):
            out.append(t)
            for part in (obj.func, obj.args, obj.keywords):
                self._walk(part, out, params, seen)
        elif t.__module__ == "numpy" and t.__name__ == "ndarray" and not obj.dtype.hasobject:
            out.append((obj.dtype.str, obj.shape, _digest(obj)))
        elif t.__module__ == "numpy" and hasattr(obj, "dtype") and hasattr(obj, "tobytes") \
                and not obj.dtype.hasobject:
            out.append((t, str(obj.dtype), obj.tobytes()))  # np.bool_, np.datetime64, ...
        else:
            raise _Opaque(t.__name__)

    def _walk_function(self, obj: types.FunctionType, out: list[Any], params: set[Value],
                       seen: dict[int, int]) -> None:
        """A function by identity, code object, closure cells, defaults and attributes."""
        key = id(obj)
        if key in seen:
            out.append(("seen", seen[key]))
            return
        seen[key] = len(seen)
        out.append(weakref.ref(obj))
        out.append(obj.__code__)  # replaced by a user: another code object
        for cell in obj.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell
                contents = None
            self._walk(contents, out, params, seen)
        defaults, kwdefaults, attributes = obj.__defaults__, obj.__kwdefaults__, vars(obj)
        if defaults is None and kwdefaults is None and not attributes:  # (most methods)
            out.append(_NO_DEFAULTS)
            return
        self._walk(defaults, out, params, seen)
        self._walk(kwdefaults, out, params, seen)
        self._walk(dict(attributes), out, params, seen)  # attributes: act.k = 2.0

    @staticmethod
    def _again(obj: Any, out: list[Any], seen: dict[int, int]) -> bool:
        """True (and where it was first seen noted) when `obj` was walked before: a cycle, or
        an object reachable twice; else it is marked seen."""
        if id(obj) in seen:
            out.append(("seen", seen[id(obj)]))
            return True
        seen[id(obj)] = len(seen)
        return False

    def _walk_class(self, t: type, out: list[Any], params: set[Value], seen: dict[int, int]
                    ) -> None:
        """A class's own attributes along its whole MRO but `object`, once per snapshot (its
        methods, dunders such as `__call__`, class-level constants, mixins after `Module`): a
        method or a constant replaced on a class is seen. Every Module class on the way that
        finds parameters its own way makes the snapshot `custom`."""
        for cls in t.__mro__:
            if cls is object:
                break
            if id(cls) in seen:
                out.append(("seen", seen[id(cls)]))
                continue
            seen[id(cls)] = len(seen)
            if issubclass(cls, Module) and any(
                    getattr(cls, f.__name__) is not f for f in _MODULE_PARAMS):
                self.custom = True
            if cls.__flags__ & _HEAPTYPE == 0:  # a built-in base (dict, ABC's C parts)
                out.append(cls)
                continue
            if vars(cls).get("__slots__"):
                raise _Opaque(f"{cls.__name__} has __slots__")  # state outside vars()
            out.append(cls)
            for name, value in vars(cls).copy().items():
                if name not in _CLASS_BOOKKEEPING:
                    out.append(name)
                    if type(value) is types.FunctionType:
                        self._walk_function(value, out, params, seen)
                    else:
                        self._walk(value, out, params, seen)


def _all_in(params: set[Value], items: list[Any]) -> bool:
    """Whether every item is one of `params` (False for an unhashable item)."""
    try:
        return params.issuperset(items)
    except TypeError:
        return False


#: Exact types held by value: `(type, value)` tells them apart (1, 1.0 and True differ).
_ATOMS = frozenset({type(None), bool, int, str, bytes})

#: What a function without defaults, keyword defaults or attributes contributes after its
#: code and closure (what walking None, None and {} contributes).
_NO_DEFAULTS = ((type(None), None), (type(None), None), (dict, 0))


#: Class attributes that are bookkeeping, not behaviour: `_abc_impl` is ABCMeta's cache (it
#: changes as isinstance checks run), the others are names, docs and descriptors of `__dict__`.
_CLASS_BOOKKEEPING = frozenset({
    "__dict__", "__weakref__", "__doc__", "__module__", "__qualname__", "__annotations__",
    "__firstlineno__", "__static_attributes__", "__orig_bases__", "__parameters__",
    "_abc_impl", "__abstractmethods__", "__annotate__", "__type_params__"})

_HEAPTYPE = 1 << 9  #: Py_TPFLAGS_HEAPTYPE: a class made by a class statement (mutable)

_C_DESCRIPTORS = (types.WrapperDescriptorType, types.MethodWrapperType,
                  types.MethodDescriptorType, types.ClassMethodDescriptorType,
                  types.GetSetDescriptorType, types.MemberDescriptorType)


def _table(items: list[Any] | tuple[Any, ...]) -> tuple[Any, ...] | None:
    """A list of floats, ints or strs, or of lists of floats (a table), as its length and a
    hash of its contents (read at C speed); None for anything else (walked item by item)."""
    kinds = set(map(type, items))
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    try:
        if kind is float:
            return (kind, len(items), _digest(array("d", items)))
        if kind is int:
            return (kind, len(items), _digest(array("q", items)))
        if kind is str:
            lengths = array("q", map(len, items))
            text = "\0".join(items).encode("utf-8", "surrogatepass")
            return (kind, _digest(lengths), hashlib.sha256(text).digest())
        if kind is list and set(map(type, chain.from_iterable(items))) <= {float}:
            lengths = array("q", map(len, items))
            return (kind, _digest(lengths), _digest(array("d", chain.from_iterable(items))))
    except OverflowError:  # an int beyond 64 bits
        return None
    return None


def _digest(buf: Any) -> bytes:
    """A hash of a buffer's bytes (a numpy array, an array('d')), without copying them when
    it is contiguous."""
    try:
        return hashlib.sha256(memoryview(buf).cast("B")).digest()
    except (TypeError, ValueError):  # not contiguous (a numpy slice): copied once
        return hashlib.sha256(buf.tobytes()).digest()


def _number(x: Any) -> tuple[Any, ...]:
    """A number other than a plain float, int or bool, by type and exact value: 0 and -0
    differ (np.float32, Decimal), a NaN equals itself."""
    t = type(x)
    if isinstance(x, float):  # np.float64, float subclasses
        return (t, _bits(float.__float__(x)))
    if hasattr(x, "dtype") and hasattr(x, "tobytes"):  # numpy scalars
        return (t, str(x.dtype), x.tobytes())
    if isinstance(x, decimal.Decimal):
        return (t, x.as_tuple())
    if isinstance(x, complex):
        return (t, _bits(x.real), _bits(x.imag))
    if isinstance(x, numbers.Rational):  # int subclasses, Fraction
        return (t, int(x.numerator), int(x.denominator))
    if t.__hash__ is None:
        raise _Opaque(t.__name__)
    return (t, x)  # another immutable number class: by its own equality


_PACK_DOUBLE = struct.Struct("<d").pack


def _bits(x: float) -> bytes:
    """A float as its bytes: 0.0 and -0.0 differ, a NaN equals itself."""
    return _PACK_DOUBLE(x)


def _check_leaves(model: Module) -> None:
    """ValueError naming the first parameter of `model` that is not a leaf (compiled replay
    would never read its data: it would be a different model)."""
    for name, p in model.named_parameters():
        if not p.is_leaf:
            op = p.op.name if p.op is not None else "an op"
            raise ValueError(f"{type(model).__name__} parameter {name!r} is not a leaf (it was "
                             f"computed by {op!r}): compiled replay reads a parameter's data, "
                             "so it must be a leaf Value, as optimizers require")



# ---- compiled forward passes: predict / evaluate ----------------------------------------------
class _Entry:
    """A cached compiled forward pass and what it was traced from (see `_fresh`); `traces`:
    how many times in a row this model's forward was traced for this backend (0 once used)."""

    __slots__ = ("n_in", "backend", "compiled", "scalar", "params", "param_set", "snapshot",
                 "traces")

    def __init__(self, n_in: int, backend: str, compiled: Compiled | None, scalar: bool,
                 params: list[Value], snapshot: _Snapshot, traces: int) -> None:
        self.n_in, self.backend, self.compiled, self.scalar = n_in, backend, compiled, scalar
        self.params, self.param_set, self.snapshot = params, set(params), snapshot
        self.traces = traces


#: A model's forward traced this many times in a row, with no call in between that could use
#: the last trace (it changes before every call), is run by the interpreter from then on: every
#: trace can compile a new C library.
MAX_TRACES = 64

#: model -> {backend: its compiled forward}. Nothing in an entry refers to the model (the traced
#: function holds a weak reference), so a model is freed when the user drops it.
_forward_cache: weakref.WeakKeyDictionary[Module, dict[str, _Entry]] = \
    weakref.WeakKeyDictionary()


def _model_forward(model: Module) -> tuple[Callable[..., Any], list[bool]]:
    """(f(*xs) = (first output, all outputs) of the model, a cell set to whether the model
    returns one Value); f reaches the model through a weak reference when it can."""
    try:
        get: Callable[[], Module | None] = weakref.ref(model)
    except TypeError:  # not weak-referenceable: never cached, so a strong one is fine
        def get() -> Module | None:
            return model
    scalar = [False]

    def f(*xs: Value) -> tuple[Value, list[Value]]:
        m = get()
        if m is None:
            raise ReferenceError("nn.compiled: the model was garbage-collected")
        out = m(list(xs))
        scalar[0] = isinstance(out, Value)
        vec = [out] if isinstance(out, Value) else list(out)
        return vec[0], vec

    return f, scalar


def _fresh(entry: _Entry, model: Module, x0: list[float]) -> bool:
    """Whether the cached entry still answers for the model as it is now. The guard: a
    snapshot of the model's attributes equal to the one taken at the trace (and the same
    parameters, when a module finds them its own way); when the model holds an object that
    cannot be snapshot, a re-trace recording exactly the traced graph."""
    snap = _Snapshot(model, entry.param_set)
    if entry.snapshot.state is not None:
        return snap.matches(entry.snapshot) and (
            not snap.custom or model.parameters() == entry.params)
    if entry.compiled is None:
        return True  # the interpreter: always right
    return model.parameters() == entry.params and entry.compiled.same_graph(x0)


def _interpreter_warning(why: str) -> None:
    warnings.warn(f"compiled predict/evaluate: using the interpreter for this model: {why}",
                  RuntimeWarning, stacklevel=5)


def _forward_compiled(model: Module, x0: list[float], backend: str) -> tuple[Compiled | None, bool]:
    """(the model's forward pass compiled, whether it returns one Value rather than a list),
    cached per model and re-checked at every call (`_fresh`); None (the interpreter) when the
    model branches on data (its replay would freeze a branch), uses a Value computed from a
    parameter before the trace, records a different graph at every trace (a random draw), was
    changed by another thread during every attempt to trace it, or was traced MAX_TRACES
    times already."""
    try:
        entries = _forward_cache.get(model)
    except TypeError:  # not weak-referenceable (or unhashable): no cache
        entries = None
    hit = None if entries is None else entries.get(backend)
    if hit is not None and hit.n_in == len(x0) and _fresh(hit, model, x0):
        hit.traces = 0
        return hit.compiled, hit.scalar
    traces = 0 if hit is None else hit.traces
    try:
        _check_leaves(model)
        params = model.parameters()
    except RecursionError:  # a module that holds itself through public attributes
        return None, False
    param_set = set(params)
    entry: _Entry | None = None
    if traces >= MAX_TRACES:
        _interpreter_warning(f"its forward was traced {traces} times in a row (it changes "
                             "before every call)")
        entry = _Entry(len(x0), backend, None, False, params, _Snapshot.unknown(), traces)
    for _ in range(3 if entry is None else 0):
        entry = _trace_forward(model, x0, backend, params, param_set, traces + 1)
        if entry is not None:
            break
    if entry is None:
        _interpreter_warning("its forward records a different graph at every trace (a random "
                             "draw, or another thread changing it)")
        entry = _Entry(len(x0), backend, None, False, params, _Snapshot(model, param_set),
                       traces + 1)
    try:
        _forward_cache.setdefault(model, {})[backend] = entry
    except TypeError:
        pass
    return entry.compiled, entry.scalar


def _trace_forward(model: Module, x0: list[float], backend: str, params: list[Value],
                   param_set: set[Value], traces: int) -> _Entry | None:
    """A new cache entry for the model's forward; None when the model changed while it was
    traced (its snapshots before and after differ: the trace may mix two states)."""
    before = _Snapshot(model, param_set)
    f, scalar = _model_forward(model)
    c: Compiled | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c = compile_grad(f, x0, params=params, has_aux=True, backend=backend)
    except ValueError as e:
        if getattr(e, "foreign_node", None) is None:
            raise  # the model's own error: the interpreter would raise it too
        _interpreter_warning(str(e))
    if c is not None and c.data_dependent:
        c = None
    # Traced twice, the model's snapshot taken before, between and after: a model another
    # thread changed meanwhile (even and back again) or that draws random numbers records two
    # different graphs, or shows a different snapshot. Such a trace is never used.
    between = _Snapshot(model, param_set)
    if c is not None and not c.same_graph(x0):
        return None
    after = _Snapshot(model, param_set)
    if (before.state, between.state) != (after.state, after.state):
        return None
    return _Entry(len(x0), backend, c, scalar[0], params, after, traces)


def outputs(model: Module, X: Sequence[Any], backend: str = "auto") -> list[Any] | None:
    """The model's output data for every row of X (a float, or a list for a vector output),
    computed by one compiled `forward_batch`; None when the model cannot be replayed (it
    branches on data), so the caller uses the interpreter. The compiled forward is cached per
    model and re-checked at every call: a changed model is traced again, never replayed
    stale (see docs/compiled.md, "The contract")."""
    if len(X) == 0:
        return []
    c, scalar = _forward_compiled(model, [float(v) for v in X[0]], backend)
    if c is None:
        return None
    res = c.forward_batch(X)
    if scalar:
        return [aux[0] for _, aux in res]
    return [list(aux) for _, aux in res]
