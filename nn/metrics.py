"""From outputs to classes, and scores on classes: the decision rule that matches a loss,
`accuracy` and `confusion_matrix` (scikit-learn's conventions).

One rule per loss, held as a `Decision` and used alike by `fit`'s History, `evaluate` and
`predict(..., loss=...)`, so the three always agree:

- binary cross-entropy on probabilities: 1 when the output is above 0.5, else 0;
- binary cross-entropy on logits: 1 above 0, else 0;
- hinge: +1 above 0, else -1;
- mean squared error on class labels: the nearest label (two labels lo < hi: hi above their
  midpoint, so 0/1 labels are split at 0.5 and -1/+1 labels at 0);
- a vector output (cross-entropy, multi-margin, ...): the argmax;
- a loss of your own: read as a score, split at 0, for labels 0/1 (or -1/+1 when -1
  occurs); for any other labels, the nearest label, as for mse (a score at 0 means nothing
  for labels 1 and 2).

Class labels follow scikit-learn's `type_of_target`: ints, and floats that are all whole
numbers (0.0/1.0, 1.0/2.0/3.0), are classes; any fractional value makes `y` regression
targets (no accuracy). Cross-entropy and multi-margin take int labels only.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import arrays as _arrays
from . import losses as _losses

#: Losses whose float targets 0.0/1.0 (or -1.0/+1.0) are class labels, as PyTorch feeds them.
_BINARY_LOSSES = (_losses.binary_cross_entropy, _losses.binary_cross_entropy_with_logits,
                  _losses.hinge)
#: Losses whose targets are int class indices.
_INDEX_LOSSES = (_losses.cross_entropy, _losses.multi_margin)


def _argmax(xs: Sequence[float]) -> int:
    best = 0
    for i in range(1, len(xs)):
        if xs[i] > xs[best]:
            best = i
    return best


@dataclass(frozen=True)
class Decision:
    """How one output becomes a class: the argmax of a vector; a scalar above `threshold` is
    `positive`, else `negative`; with `nearest` labels (more than two classes and a scalar
    output, under mse), the nearest of them (the larger on a tie)."""

    threshold: float = 0.0
    negative: Any = 0
    positive: Any = 1
    nearest: tuple[Any, ...] = ()

    def classes(self, outputs: Sequence[Any]) -> list[Any]:
        """The class of each output (a float, or a list of floats for a vector output)."""
        t, neg, pos, near = self.threshold, self.negative, self.positive, self.nearest
        out: list[Any] = []
        for o in outputs:
            if isinstance(o, list):
                out.append(_argmax(o))
            elif near:
                out.append(_nearest(near, o))
            else:
                out.append(pos if o > t else neg)
        return out


def _nearest(labels: tuple[Any, ...], o: float) -> Any:
    """The label nearest to `o`, the larger one on a tie (labels sorted ascending)."""
    best = labels[-1]
    for c in reversed(labels):
        if abs(o - c) < abs(o - best):
            best = c
    return best


def base_loss(loss_fn: Any) -> Any:
    """The loss function under `functools.partial(nn.hinge, margin=2)` and the like."""
    while isinstance(loss_fn, functools.partial):
        loss_fn = loss_fn.func
    return loss_fn


_INT = {int}


def class_labels(y: Sequence[Any], loss_fn: Any = None) -> list[Any] | None:
    """The sorted distinct class labels of `y`, or None when `y` holds no classes: ints are
    labels; floats that are all whole numbers are too (scikit-learn's `type_of_target`: kept
    as floats, as scikit-learn keeps the classes of a float `y`); under BCE and hinge, float
    0.0/1.0 or -1.0/+1.0 are read as the ints (PyTorch's float targets)."""
    if not y:
        return None
    if set(map(type, y)) <= _INT:  # (at C speed: fit in a loop reads its labels each call)
        return sorted(set(y))
    if not all(type(c) is int or (type(c) is float and math.isfinite(c) and c.is_integer())
               for c in y):
        return None
    base = base_loss(loss_fn)
    if base in _BINARY_LOSSES and all(c in (-1, 0, 1) for c in y):
        return sorted({int(c) for c in y})
    if base in _INDEX_LOSSES:
        return None  # int class indices only: float targets are refused by the loss itself
    return sorted({float(c) for c in y})


def _nearest_rule(ls: list[Any]) -> Decision:
    """The nearest of the labels `ls` (sorted, at least one): two labels split at their
    midpoint; one label seen is paired with its binary partner (0/1 or -1/+1)."""
    if len(ls) == 1:  # one class seen: its binary partner is 0/1 or -1/+1
        ls = [-1, 1] if ls[0] == -1 else [0, 1] if ls[0] in (0, 1) else ls
    if len(ls) == 2:
        return Decision((ls[0] + ls[1]) / 2, ls[0], ls[1])
    return Decision(nearest=tuple(ls))


def decision_rule(loss_fn: Any, labels: Sequence[Any] | None) -> Decision:
    """The `Decision` that turns outputs into classes for `loss_fn` on these class labels."""
    base = base_loss(loss_fn)
    if base is _losses.binary_cross_entropy:
        return Decision(0.5, 0, 1)
    if base is _losses.binary_cross_entropy_with_logits:
        return Decision(0.0, 0, 1)
    if base is _losses.hinge:
        return Decision(0.0, -1, 1)
    ls = sorted(set(labels or ()))
    if base is _losses.mse and ls:
        return _nearest_rule(ls)
    if ls and base not in _losses.LOSSES.values() and \
            not (set(ls) <= {0, 1} or set(ls) <= {-1, 1}):
        return _nearest_rule(ls)  # a loss of the user's on labels 1/2, 0/1/2...: no score at 0
    return Decision(0.0, -1 if -1 in ls else 0, 1)


def classes_from_outputs(outputs: Sequence[Any], threshold: float = 0.0,
                         negative: int = 0) -> list[int]:
    """Predicted classes from output data: argmax of a vector; for a scalar, 1 above
    `threshold`, else `negative` (0, or -1 for hinge-style labels)."""
    return Decision(threshold, negative, 1).classes(outputs)


def _labels(y: Any, name: str, where: str) -> list[Any]:
    out = _arrays.targets(y, f"{name}: {where}")
    if out and all(isinstance(v, list) and len(v) == 1 for v in out):
        out = [v[0] for v in out]  # a column vector (n, 1) is n labels, as scikit-learn reads it
    for i, v in enumerate(out):
        if isinstance(v, float) and not v.is_integer():
            raise ValueError(f"{name}: {where}[{i}] = {v!r} is not a class label (continuous "
                             "values; turn outputs into classes first, e.g. "
                             "predict(model, X, loss=...))")
        if isinstance(v, list):
            out[i] = tuple(v)  # a row of a label-indicator matrix compares as a whole
    return out


def _pair(y_true: Any, y_pred: Any, name: str) -> tuple[list[Any], list[Any]]:
    t = _labels(y_true, name, "y_true")
    p = _labels(y_pred, name, "y_pred")
    if len(t) != len(p):
        raise ValueError(f"{name}: {len(t)} labels but {len(p)} predictions")
    return t, p


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of positions where the prediction equals the label (scikit-learn's
    `accuracy_score`): lists, tuples or arrays of class labels (ints, numpy ints, strings,
    integral floats); continuous values raise ValueError."""
    t, p = _pair(y_true, y_pred, "accuracy")
    if not t:
        raise ValueError("accuracy: no labels")
    return sum(1 for a, b in zip(t, p) if a == b) / len(t)


def confusion_matrix(y_true: Any, y_pred: Any, labels: Any = None) -> list[list[int]]:
    """Counts `m[i][j]` of samples with true label `labels[i]` predicted as `labels[j]`
    (scikit-learn's convention; labels default to the sorted labels that occur)."""
    t, p = _pair(y_true, y_pred, "confusion_matrix")
    if labels is None:
        try:
            order = sorted(set(t) | set(p))
        except TypeError:  # labels of mixed kinds
            order = sorted(set(t) | set(p), key=repr)
    else:
        order = _labels(labels, "confusion_matrix", "labels")
    index = {c: i for i, c in enumerate(order)}
    m = [[0] * len(order) for _ in order]
    for a, b in zip(t, p):
        if a in index and b in index:
            m[index[a]][index[b]] += 1
    return m
