"""`fit`: mini-batch training with a progress bar and a returned `History`; and evaluation
helpers `predict`, `accuracy`, `confusion_matrix`, `evaluate`.

The work on one mini-batch lives in one function, `train_batch` (forward, loss, backward,
optimizer step); `fit(step=...)` accepts a replacement with the same signature, such as a
compiled fast path.

Why one file past ~400 lines: it is one idea, the training loop and the evaluation that
reports on it (`fit`, `History`, `predict`, `evaluate`), which share the decision rules.
"""

from __future__ import annotations

import numbers
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from typing import Any

from autograd_lite import Value, no_grad

from . import arrays as _arrays
from . import losses as _losses
from .fitted import _Fitted, _fitted, _loss_name, _remember
from .layers import MLP, Layer, Neuron
from .metrics import (
    Decision,
    accuracy,
    class_labels,
    classes_from_outputs,
    confusion_matrix,
    decision_rule,
)
from .module import Module
from .optim import Adam, Optimizer
from .step import LossFn, StepFn, train_batch
from .step import output_data as _data

__all__ = ["History", "train_batch", "fit", "evaluate", "predict", "resolve_loss", "accuracy",
           "confusion_matrix", "classes_from_outputs", "Decision", "decision_rule", "LossFn",
           "StepFn"]


@dataclass
class History:
    """Per-epoch records of a `fit` run; `accuracy` entries are None for non-class targets."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)  #: seconds per epoch (training only)

    @property
    def epochs(self) -> int:
        """Number of epochs run."""
        return len(self.loss)

    @property
    def wall_time(self) -> float:
        """Total training seconds over all epochs."""
        return sum(self.epoch_time)


def _compiled_outputs(model: Module, X: Sequence[Any]) -> list[Any] | None:
    """Output data of every row by one compiled forward pass (nn.compiled), or None."""
    from .compiled import outputs

    return outputs(model, X)


def predict(model: Module, X: Any, threshold: float | None = None,
            negative: int | None = None, *, loss: str | LossFn | None = None,
            labels: Any = None, compiled: bool = False) -> list[Any]:
    """Class predictions for each row of X (a 2-D array or a list of rows), evaluated without
    recording a graph (`compiled=True`: by one compiled, native when possible, forward pass
    over all rows, re-checked against the model's state at every call; module globals the
    forward reads are not re-checked: docs/compiled.md).

    The rule is the one `fit` and `evaluate` use for `loss` (see nn/metrics.py): 0.5 for
    "bce", 0 for logits, -1/+1 for "hinge", the nearest of `labels` (default 0 and 1) for
    "mse", the argmax for a vector output. Without `loss`: the rule of the model's last `fit`
    (so `accuracy(y, predict(model, X))` agrees with `fit` and `evaluate`; `save`/`load` keep
    it); for a model never fitted, a scalar above `threshold` (default 0; 0.5 when the output
    activation is sigmoid) is 1, else `negative` (default 0). With the loss `fit` used, its
    rule; `labels` default to the fitted ones (else 0 and 1). A given `threshold`/`negative`
    wins.
    """
    X = _arrays.rows(X, "predict: X")
    _check_width(model, X, "predict")
    outs = _compiled_outputs(model, X) if compiled else None
    if outs is None:
        with no_grad():
            outs = [_data(model(x)) for x in X]
    fitted = _fitted(model)
    if loss is None:
        if fitted is not None and fitted.rule is not None:
            rule = fitted.rule
        else:
            rule = Decision(0.5) if output_activation(model) == "sigmoid" else Decision()
    else:
        known = (_labels_for(labels) if labels is not None or fitted is None
                 else fitted.labels())
        with no_grad():
            loss_fn = resolve_loss(loss, model(X[0]) if X else 0.0, known, model=model)
        if labels is None and fitted is not None and fitted.rule is not None and \
                fitted.same_loss(loss_fn):
            rule = fitted.rule  # the loss fit used: its rule, whatever labels are at hand
        else:
            rule = decision_rule(loss_fn, known)
    if threshold is not None or negative is not None:
        rule = replace(rule, threshold=rule.threshold if threshold is None else threshold,
                       negative=rule.negative if negative is None else negative, nearest=())
    return rule.classes(outs)


def _labels_for(labels: Any) -> list[Any]:
    """The class labels given to predict (default 0 and 1), as Python values."""
    return [0, 1] if labels is None else _arrays.targets(labels, "predict: labels")


def _is_class_labels(y: Sequence[Any]) -> bool:
    return set(map(type, y)) <= {int}


def output_activation(model: Any) -> str | None:
    """The activation of a built-in model's output ("sigmoid", "linear", ...): an MLP's
    `output_activation`, a Layer's or Neuron's `activation`; None for other modules."""
    if isinstance(model, MLP):
        return model.output_activation
    if isinstance(model, Layer | Neuron):
        return model.activation
    return None


def resolve_loss(loss: str | LossFn, sample_output: Any, y: Sequence[Any], *,
                 model: Module | None = None) -> LossFn:
    """The loss function for `fit(loss=...)`: a callable, a name from `losses.LOSSES`, or
    "auto": cross-entropy for vector outputs with int labels; for a scalar output with 0/1
    labels, BCE on probabilities when `model`'s output activation is sigmoid, else BCE on
    logits; hinge for -1/+1 labels; else (e.g. vector targets) mean squared error."""
    if callable(loss):
        return loss
    if loss == "auto":
        if isinstance(sample_output, list) and _is_class_labels(y):
            return _losses.cross_entropy
        labels = set(y) if _is_class_labels(y) else None  # targets may be lists (unhashable)
        if labels is not None and labels <= {0, 1}:
            if output_activation(model) == "sigmoid":
                return _losses.binary_cross_entropy  # outputs are probabilities already
            return _losses.binary_cross_entropy_with_logits
        if labels is None and not isinstance(sample_output, list) and \
                output_activation(model) == "sigmoid" and y and \
                all(type(c) in (int, float) and c in (0, 1) for c in y):
            return _losses.binary_cross_entropy
        if labels is not None and labels <= {-1, 1}:
            return _losses.hinge
        return _losses.mse
    if isinstance(loss, str) and loss in _losses.LOSSES:
        return _losses.LOSSES[loss]  # type: ignore[return-value]  # defaults fill the rest
    raise ValueError(f"unknown loss {loss!r}; use a callable, 'auto' or one of "
                     f"{sorted(_losses.LOSSES)}")


def _check_width(model: Module, X: list[list[Any]], name: str) -> None:
    """ValueError naming X's column count when the model takes another number of inputs."""
    nin = getattr(model, "nin", None)
    if type(nin) is int and X and len(X[0]) != nin:
        raise ValueError(f"{name}: X has {len(X[0])} columns, but {type(model).__name__} takes "
                         f"{nin} inputs per sample")


def _as_data(model: Module, X: Any, y: Any, name: str) -> tuple[list[list[Any]], list[Any]]:
    """X as rows and y as targets (column vectors flattened for a scalar-output model), both
    checked: equal lengths, at least one sample."""
    X, y, _ = _as_float_data(model, X, y, name)
    return X, y


def _as_float_data(model: Module, X: Any, y: Any, name: str,
                   rows: list[list[float]] | None = None
                   ) -> tuple[list[list[Any]], list[Any], bool]:
    """`_as_data`'s (X, y) and whether X's entries are all exactly floats (no Value): a
    compiled fit then may reuse the previous fit's encoded rows when X equals them. `rows`:
    X already converted, exactly floats (nn.compiled's `kept_rows`)."""
    X, floats = _arrays.float_rows(X, f"{name}: X") if rows is None else (rows, True)
    _check_width(model, X, name)
    y = _arrays.targets(y, f"{name}: y")
    if len(X) != len(y):
        raise ValueError(f"{name}: {len(X)} inputs but {len(y)} labels")
    if not X:
        raise ValueError(f"{name}: no data")
    if any(map(isinstance, y, repeat(str))):  # (at C speed: fit in a loop checks y each call)
        i, t = next((i, t) for i, t in enumerate(y) if isinstance(t, str))
        raise TypeError(f"{name}: y[{i}] is the string {t!r}; nn trains on numbers: encode "
                        "class names as ints 0 .. k-1 (e.g. sklearn's LabelEncoder)")
    if all(isinstance(t, list) and len(t) == 1 for t in y):
        with no_grad():
            out = model(X[0])
        if not (isinstance(out, list) and len(out) == 1):  # y of shape (n, 1): n labels,
            y = [t[0] for t in y]  # as scikit-learn ravels a column (unless 1-vector outputs)
    return X, y, floats


def evaluate(model: Module, X: Any, y: Any, loss: str | LossFn | None = None, *,
             compiled: bool = False) -> tuple[float, float | None]:
    """(mean loss, accuracy or None) of the model on (X, y), without recording a graph
    (`compiled=True`: the outputs by one compiled forward pass, the loss on them as usual;
    the model's state is re-checked at every call, module globals its forward reads are not:
    docs/compiled.md).

    `loss` None: the loss of the model's last `fit` (a built-in one), else "auto". The
    accuracy is at the decision rule of the loss (nn/metrics.py), as in `fit`'s History (the
    fitted rule when `loss` is the one fit used, so a subset holding only some labels scores
    alike); None when y holds no class labels (regression targets)."""
    X, y = _as_data(model, X, y, "evaluate")
    fitted = _fitted(model)
    if loss is None:
        loss = fitted.loss if fitted is not None and fitted.loss is not None else "auto"
        rule = fitted.rule if fitted is not None else None
        return _evaluate(model, X, y, loss, compiled, rule)
    return _evaluate(model, X, y, loss, compiled, None, fitted)


def _evaluate(model: Module, X: list[Any], y: list[Any], loss: str | LossFn, compiled: bool,
              rule: Decision | None, fitted: _Fitted | None = None
              ) -> tuple[float, float | None]:
    """Loss and accuracy at `rule` (None: the fitted rule when `loss` is the loss fit used,
    else the rule of the loss on these labels)."""
    data = _compiled_outputs(model, X) if compiled else None
    with no_grad():
        if data is None:
            outs = [model(x) for x in X]
        else:
            outs = [Value(o) if not isinstance(o, list) else [Value(v) for v in o]
                    for o in data]
        loss_fn = resolve_loss(loss, outs[0], y, model=model)
        value = loss_fn(outs, list(y)).data
    labels = class_labels(y, loss_fn)
    if labels is None:
        return value, None
    if rule is None and fitted is not None and fitted.rule is not None and \
            fitted.same_loss(loss_fn):
        rule = fitted.rule  # the loss fit used: its rule, not one re-derived from this subset
    if rule is None:
        rule = decision_rule(loss_fn, labels)
    return value, accuracy(y, rule.classes([_data(o) for o in outs]))


def _shape(out: Any) -> Any:
    """An output's shape: 0.0 for a number or a Value, a list of shapes for a vector."""
    return [_shape(o) for o in out] if isinstance(out, list | tuple) else 0.0


def _check_target(base: Any, out: Any, t: Any) -> None:
    """Raise the error `base` (a built-in loss) would raise for target `t` against an output
    shaped as `out` (a float or a list), without building any graph (cheap per sample)."""
    name = base.__name__
    if base in (_losses.cross_entropy, _losses.multi_margin):
        if isinstance(out, list):
            _losses._label(t, len(out), name, "")
        return  # a scalar output: the loss itself says what is wrong
    if isinstance(out, list) or isinstance(t, list):
        if not (isinstance(out, list) and isinstance(t, list)):
            what = "a vector" if isinstance(out, list) else "a single number"
            raise ValueError(f"{name}: the model's output is {what}, the target is not")
        if len(out) != len(t):
            raise ValueError(f"{name}: {len(out)} outputs but {len(t)} targets")
        for o, u in zip(out, t):
            _check_target(base, o, u)
        return
    if base is _losses.mse:
        if type(t) is not Value:
            _losses._number(t, name, "")
    elif base is _losses.hinge:
        if _losses._number(t, name, "") not in (-1.0, 1.0):
            raise ValueError(f"hinge: target must be -1 or +1, got {t!r} (for 0/1 labels pass "
                             "2 * y - 1)")
    else:
        _losses._unit_target(t, name, "")


def _check_targets(loss_fn: LossFn, sample: Any, y: list[Any], where: str) -> None:
    """Check every target against a built-in loss before training starts, so a bad `y[57]`
    is named as such and the model is left untouched (a loss of the user's is not called)."""
    known = _loss_name(loss_fn)
    if known is None:
        return
    base, out = _losses.LOSSES[known[0]], _shape(sample)
    if base in (_losses.cross_entropy, _losses.multi_margin) and isinstance(out, list) and \
            y and set(map(type, y)) == {int} and 0 <= min(y) and max(y) < len(out):
        return  # class indices in range, checked at C speed (fit in a loop checks them each call)
    for i, t in enumerate(y):
        try:
            _check_target(base, out, t)
        except (TypeError, ValueError) as e:
            msg = e.args[0] if e.args else str(e)
            raise type(e)(f"{where}[{i}] = {t!r} is not a target for this loss: {msg}") \
                from None


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is the optional "train" extra: train without a bar
        return None
    return tqdm(total=total, unit="batch", file=sys.stderr, dynamic_ncols=True)


def fit(model: Module, X: Sequence[Any], y: Sequence[Any], *, loss: str | LossFn = "auto",
        optimizer: Optimizer | None = None, epochs: int = 10, batch_size: int = 32,
        seed: int = 0, shuffle: bool = True, progress: bool = True,
        validation: tuple[Sequence[Any], Sequence[Any]] | None = None,
        lr_schedule: Callable[[int], float] | None = None,
        step: StepFn = train_batch, compiled: bool = False, live: bool = False) -> History:
    """Train `model` on (X, y) with mini-batches for `epochs` epochs; return a `History`.

    `loss`: a function `(outputs, targets) -> Value` or a name (see `resolve_loss`).
    `optimizer` defaults to `Adam(model.parameters(), lr=0.01)`. Batches are reshuffled each
    epoch with `random.Random(seed)`. `progress` shows a tqdm bar with the running loss and
    accuracy (no bar when tqdm is not installed). `validation=(X_val, y_val)` is evaluated
    after each epoch. `lr_schedule(epoch)` (epoch from 0), if given, sets `optimizer.lr` at
    the start of each epoch. Training accuracy is measured on the outputs seen during the epoch.
    `compiled=True` replays compiled per-sample gradients (autograd_lite.compile_grad) where the
    model and loss allow, else uses the interpreter; see nn/compiled.py.
    `live=True` in Jupyter redraws loss and accuracy curves (and, for 2-D inputs, the decision
    boundary) in one updating output, a few times per second at most (needs matplotlib: the
    plot extra); outside Jupyter it shows the progress bar instead. See nn/live.py.
    """
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"fit: {name} must be a positive int, got {v!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"fit: seed must be an int, got {seed!r}")
    epochs, batch_size, seed = int(epochs), int(batch_size), int(seed)
    kept = None
    if compiled and step is train_batch:  # a fit in a loop on the same rows: the last
        from .compiled import kept_rows  # fit's, not converted again

        kept = kept_rows(model, X)
    X, y, floats = _as_float_data(model, X, y, "fit", kept)
    if validation is not None:
        if isinstance(validation, str) or not isinstance(validation, Sequence) or \
                len(validation) != 2:
            raise TypeError("fit: validation must be a pair (X_val, y_val)")
        validation = _as_data(model, validation[0], validation[1], "fit: validation")
    known = None
    if compiled and step is train_batch:  # a fit in a loop: the last fit's step knows the
        from .compiled import known_output  # output, if the model is unchanged

        known = known_output(model, X[0], lambda out: resolve_loss(loss, out, y, model=model))
    if known is not None:
        sample, loss_fn = known
    else:
        with no_grad():
            sample = model(X[0])
            loss_fn = resolve_loss(loss, sample, y, model=model)
    _check_targets(loss_fn, sample, y, "fit: y")
    if validation is not None:
        _check_targets(loss_fn, sample, validation[1], "fit: validation y")
    if optimizer is None:
        optimizer = Adam(model.parameters(), lr=0.01)
    labels = class_labels(y, loss_fn)
    classify = labels is not None
    rule = decision_rule(loss_fn, labels)
    _remember(model, loss_fn, rule if classify else None)
    plot = None
    if live:
        from . import live as _live

        plot = _live.start(model, X, y, epochs=epochs, classify=classify,
                           to_classes=rule.classes)
        progress = progress or plot is None  # outside Jupyter: the progress bar instead
    rng = random.Random(seed)
    order = list(range(len(X)))
    n_batches = -(-len(X) // batch_size)
    history = History()
    if compiled and step is train_batch:
        from .compiled import fit_step

        step = fit_step(model, loss_fn, y)  # the last fit's, when still valid (claimed until
        # `session.close()`: nothing may raise between here and the `try`)
        step.progress = None if progress else False  # its builds: shown as fit's own bar
    session = _compiled_session(step, model, loss_fn)
    if session is not None:  # batches by index; parameters in flat buffers between syncs
        session.open(X, y, optimizer, batch_size, floats=floats)
    bar = None
    try:
        bar = _progress_bar(epochs * n_batches, progress and plot is None)
        for epoch in range(epochs):
            if bar is not None:
                bar.set_description(f"epoch {epoch + 1}/{epochs}")
            if lr_schedule is not None:
                optimizer.lr = float(lr_schedule(epoch))
            if shuffle:
                if epoch == 0:
                    _first_shuffle(rng, order)
                else:
                    rng.shuffle(order)
            start = time.perf_counter()
            total_loss = 0.0
            correct = 0
            seen = 0
            scanned: list[tuple[float, int]] = []  # batches done by the session's scan
            # Batches the next scan is offered (0: the rest of the epoch). After a scan that
            # stopped short, 64, then 4x per scan that did all it was offered: each stop
            # would otherwise build the per-batch arrays of the whole rest of the epoch again
            # (quadratic in an epoch with many batches the scan cannot do).
            limit = 0
            for b in range(n_batches):
                idx = order[b * batch_size:(b + 1) * batch_size]
                if session is not None and plot is None and not scanned:
                    # the next batches in one native call (as many as it can do; none: `run`)
                    take = min(limit, n_batches - b) if limit else n_batches - b
                    scanned = session.scan(order[b * batch_size:(b + take) * batch_size],
                                           rule if classify else None)
                    limit = 64 if len(scanned) < take else 4 * limit
                    scanned.reverse()
                if scanned:
                    batch_loss, hits = scanned.pop()
                    total_loss += batch_loss * len(idx)
                    seen += len(idx)
                    correct += hits
                else:
                    yb = [y[i] for i in idx]
                    if session is not None:
                        batch_loss, outs = session.run(idx)
                    else:
                        batch_loss, outs = step(model, [X[i] for i in idx], yb, loss_fn,
                                                optimizer)
                    total_loss += batch_loss * len(idx)
                    seen += len(idx)
                    if classify:
                        pred = rule.classes(outs)
                        correct += sum(1 for t, p in zip(yb, pred) if t == p)
                if bar is not None:
                    post = {"loss": f"{total_loss / seen:.4f}"}
                    if classify:
                        post["acc"] = f"{correct / seen:.3f}"
                    bar.set_postfix(post, refresh=False)
                    bar.update(1)
                if plot is not None:
                    drawing = time.perf_counter()
                    if session is not None:
                        session.sync()  # the plot reads the model
                    plot.update(history, epoch + (b + 1) / n_batches, total_loss / seen,
                                correct / seen if classify else None)
                    start += time.perf_counter() - drawing  # epoch_time is training only
            if session is not None and (validation is not None or plot is not None or (
                    lr_schedule is not None and epoch + 1 < epochs)):
                session.sync()  # user code runs next: it sees current parameters
            history.epoch_time.append(time.perf_counter() - start)
            history.loss.append(total_loss / seen)
            history.accuracy.append(correct / seen if classify else None)
            if validation is not None:
                vl, va = _evaluate(model, validation[0], validation[1], loss_fn, compiled, rule)
                history.val_loss.append(vl)
                history.val_accuracy.append(va)
                if bar is not None:
                    bar.set_postfix({**post, "val_loss": f"{vl:.4f}",
                                     **({"val_acc": f"{va:.3f}"} if va is not None else {})})
        if plot is not None and history.loss:
            plot.update(history, float(history.epochs), history.loss[-1], history.accuracy[-1],
                        force=True)  # the final state, whatever the throttle says
    finally:
        if session is not None:
            session.close()  # parameters and optimizer state written back, also on an error
        if bar is not None:
            bar.close()
    return history


#: fit's last first-epoch shuffle: (generator state before, order before, after, state after).
_last_shuffle: tuple[Any, list[int], list[int], Any] | None = None


def _first_shuffle(rng: random.Random, order: list[int]) -> None:
    """`rng.shuffle(order)` for fit's own generator (exactly `random.Random`), taken from the
    last call when the generator's state and the order are equal to that call's (a loop of
    `fit(epochs=1)` calls with one seed shuffles the same way each time): the same permutation
    and the same state after, without shuffling again (~0.3 ms for 1,347 rows)."""
    global _last_shuffle
    state = rng.getstate()
    last = _last_shuffle
    if last is not None and last[0] == state and last[1] == order:
        order[:] = last[2]
        rng.setstate(last[3])
        return
    if len(order) > SHUFFLE_KEEP:  # (kept for good, whatever the model: a bounded size)
        rng.shuffle(order)
        return
    before = order[:]
    rng.shuffle(order)
    _last_shuffle = (state, before, order[:], rng.getstate())


#: The longest order `_first_shuffle` keeps: module state that outlives every model and fit
#: (~48 bytes a row: two lists and their ints), so at most ~3 MB; longer ones are shuffled.
SHUFFLE_KEEP = 1 << 16


def _compiled_session(step: Any, model: Module, loss_fn: LossFn) -> Any:
    """`step` when it is nn.compiled's CompiledStep for this model and loss (fit then gives it
    batches by index: see `CompiledStep.open`), else None (each batch through `step`)."""
    mod = sys.modules.get(f"{__package__}.compiled")  # loaded whenever a CompiledStep exists
    if mod is None or not isinstance(step, mod.CompiledStep):
        return None
    return step if step.model is model and step.loss_fn is loss_fn else None
