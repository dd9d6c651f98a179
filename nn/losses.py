"""Loss functions on Values, each returning one scalar Value (the mean over a batch by default).

Shapes: `mse`, `binary_cross_entropy`, `binary_cross_entropy_with_logits` and `hinge` take one
prediction (a Value) and one target, or equally nested lists of them (a batch of outputs, a
batch of vectors). `cross_entropy` and `multi_margin` take one vector of logits and an int
label, or a batch: a list of vectors and a list of labels. Mismatched lengths and labels out of
range raise ValueError naming the loss and the position.

All are computed stably: the softmax family through log-sum-exp, BCE on logits through
softplus; they match PyTorch's `reduction="mean"` definitions.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from autograd_lite import Value, maximum

from . import arrays as _arrays

_REDUCTIONS = ("mean", "sum")


def _lift(x: Any, where: str) -> Value:
    if type(x) is Value:
        return x
    x = _arrays.scalar(x)
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{where} must be a Value or a number, got {type(x).__name__} {x!r}")
    return Value(float(x))


def _is_seq(x: Any) -> bool:
    return isinstance(x, Sequence) and not isinstance(x, str)


def _pairs(pred: Any, target: Any, name: str, where: str = "") -> list[tuple[Value, Any]]:
    """Flatten equally nested predictions and targets into (Value, target) pairs; arrays
    (numpy, array.array) are read as the nested lists they hold."""
    pred = _arrays.labels_or_values(pred, f"{name}: predictions{where}")
    target = _arrays.labels_or_values(target, f"{name}: targets{where}")
    if _is_seq(pred) or _is_seq(target):
        if not (_is_seq(pred) and _is_seq(target)):
            what = "targets" if _is_seq(pred) else "predictions"
            raise ValueError(f"{name}: predictions{where} and targets{where} have different "
                             f"shapes ({what}{where} is not a list)")
        if len(pred) != len(target):
            raise ValueError(f"{name}: {len(pred)} predictions{where} but {len(target)} targets")
        out = []
        for i, (p, t) in enumerate(zip(pred, target)):
            out.extend(_pairs(p, t, name, f"{where}[{i}]"))
        return out
    return [(_lift(pred, f"{name}: prediction{where}"), (where, target))]


def _reduce(terms: list[Value], reduction: str, name: str) -> Value:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not terms:
        raise ValueError(f"{name}: empty input")
    total = sum(terms[1:], terms[0])
    return total if reduction == "sum" or len(terms) == 1 else total * (1.0 / len(terms))


def _number(t: Any, name: str, where: str) -> float:
    if isinstance(t, bool):  # a boolean target is the label 0 or 1, as scikit-learn reads it
        return float(t)
    if not isinstance(t, numbers.Real):
        raise TypeError(f"{name}: target{where} must be a number, got {type(t).__name__} {t!r}")
    f = float(t)
    if not math.isfinite(f):
        raise ValueError(f"{name}: target{where} is not finite: {t!r}")
    return f


def mse(pred: Any, target: Any, reduction: str = "mean") -> Value:
    """Mean squared error: mean of (pred - target)**2 over all entries; targets may be Values."""
    terms = []
    for p, (where, t) in _pairs(pred, target, "mse"):
        t = t if type(t) is Value else _number(t, "mse", where)
        terms.append((p - t) ** 2)
    return _reduce(terms, reduction, "mse")


def _unit_target(t: Any, name: str, where: str) -> float:
    f = _number(t, name, where)
    if not 0.0 <= f <= 1.0:
        raise ValueError(f"{name}: target{where} must be in [0, 1], got {t!r}")
    return f


def binary_cross_entropy(prob: Any, target: Any, reduction: str = "mean") -> Value:
    """-(t log p + (1 - t) log(1 - p)) on probabilities p in (0, 1), targets t in [0, 1].

    A probability of exactly 0 or 1 (a saturated sigmoid) raises ValueError; train on logits
    with `binary_cross_entropy_with_logits` instead, which is stable everywhere.
    """
    name = "binary_cross_entropy"
    terms = []
    for p, (where, t) in _pairs(prob, target, name):
        t = _unit_target(t, name, where)
        if not 0.0 < p.data < 1.0:
            raise ValueError(f"{name}: probability{where} must be in (0, 1), got {p.data!r}; "
                             "use binary_cross_entropy_with_logits for saturated outputs")
        term = None
        if t != 0.0:
            term = p.log() * -t
        if t != 1.0:
            q = (-p).log1p() * -(1.0 - t)  # log(1 - p), accurate for small p
            term = q if term is None else term + q
        terms.append(term)
    return _reduce(terms, reduction, name)  # type: ignore[arg-type]  # every term was set


def binary_cross_entropy_with_logits(logit: Any, target: Any, reduction: str = "mean") -> Value:
    """BCE of sigmoid(z) against t, computed from the logit z as softplus(z) - t z (stable)."""
    name = "binary_cross_entropy_with_logits"
    terms = []
    for z, (where, t) in _pairs(logit, target, name):
        t = _unit_target(t, name, where)
        if t == 0.0:
            terms.append(z.softplus())
        elif t == 1.0:
            terms.append((-z).softplus())
        else:
            terms.append(z.softplus() - z * t)
    return _reduce(terms, reduction, name)


def hinge(score: Any, target: Any, margin: float = 1.0, reduction: str = "mean") -> Value:
    """Binary max-margin loss: mean of max(0, margin - t * score) with targets t in {-1, +1}."""
    terms = []
    for s, (where, t) in _pairs(score, target, "hinge"):
        f = _number(t, "hinge", where)
        if f not in (-1.0, 1.0):
            raise ValueError(f"hinge: target{where} must be -1 or +1, got {t!r} "
                             "(for 0/1 labels pass 2 * y - 1)")
        terms.append((s * -f + margin).relu())
    return _reduce(terms, reduction, "hinge")


def _vector(z: Any, name: str, where: str = "") -> list[Value]:
    z = _arrays.labels_or_values(z, f"{name}: logits{where}")
    if not _is_seq(z):
        raise TypeError(f"{name}: logits{where} must be a list of Values, got {type(z).__name__}")
    if not z:
        raise ValueError(f"{name}: logits{where} is empty")
    return [_lift(v, f"{name}: logits{where}[{i}]") for i, v in enumerate(z)]


def _shifted_lse(z: list[Value]) -> tuple[list[Value], Value]:
    """(z_i - m for each i, log sum_i exp(z_i - m)) with m = max z recorded as a node."""
    m = _shift(z)
    shifted = [zi - m for zi in z]
    exps = [s.exp() for s in shifted]
    return shifted, sum(exps[1:], exps[0]).log()


def log_softmax(logits: Sequence[Any]) -> list[Value]:
    """log(softmax(z))_i = (z_i - max z) - log sum_j exp(z_j - max z), as PyTorch computes it
    (never adding the shift back, so a dominant class keeps its tiny log-probability exact)."""
    z = _vector(logits, "log_softmax")
    shifted, lse = _shifted_lse(z)
    return [s - lse for s in shifted]


def _shift(z: list[Value]) -> Value:
    """max(z) as a node of the graph (a chain of `maximum`), so compiled replay recomputes it
    from the logits instead of freezing the traced maximum as a constant."""
    m = z[0]
    for v in z[1:]:
        m = maximum(m, v)
    return m


def softmax(logits: Sequence[Any]) -> list[Value]:
    """exp(z_i - max z) / sum_j exp(z_j - max z): probabilities that sum to 1.

    The shift is a `maximum` node; its gradient cancels (softmax does not depend on it).
    """
    z = _vector(logits, "softmax")
    m = _shift(z)
    exps = [(zi - m).exp() for zi in z]
    total = sum(exps[1:], exps[0])
    return [e / total for e in exps]


def logsumexp(logits: Sequence[Any]) -> Value:
    """log(sum_i exp(z_i)), computed as m + log(sum_i exp(z_i - m)) with m = max z.

    m is recorded (a chain of `maximum` nodes), so a compiled replay shifts by the replayed
    logits' maximum and never underflows; the gradient reaching m is 1 - sum softmax(z),
    zero up to rounding, so d/dz_i is softmax(z)_i as PyTorch's.
    """
    z = _vector(logits, "logsumexp")
    m = _shift(z)
    exps = [(zi - m).exp() for zi in z]
    return sum(exps[1:], exps[0]).log() + m


def _label(y: Any, n: int, name: str, where: str) -> int:
    if isinstance(y, bool) or not isinstance(y, numbers.Integral):
        raise TypeError(f"{name}: label{where} must be an int class index, got "
                        f"{type(y).__name__} {y!r}")
    if not 0 <= int(y) < n:
        raise ValueError(f"{name}: label{where} = {y} is out of range for {n} classes "
                         f"(0 .. {n - 1})")
    return int(y)


def _batch(logits: Any, labels: Any, name: str) -> list[tuple[list[Value], int]]:
    """(logit vector, label) pairs from one sample or a batch (lists or arrays)."""
    labels = _arrays.labels_or_values(labels, f"{name}: labels")
    logits = _arrays.labels_or_values(logits, f"{name}: logits")
    if isinstance(labels, numbers.Integral) and not isinstance(labels, bool):
        z = _vector(logits, name)
        return [(z, _label(labels, len(z), name, ""))]
    if not _is_seq(labels):
        raise TypeError(f"{name}: labels must be an int or a list of ints, got "
                        f"{type(labels).__name__} {labels!r}")
    if not _is_seq(logits):
        raise TypeError(f"{name}: logits must be a list of vectors for a list of labels")
    if len(logits) != len(labels):
        raise ValueError(f"{name}: {len(logits)} logit vectors but {len(labels)} labels")
    out = []
    for i, (z, y) in enumerate(zip(logits, labels)):
        zs = _vector(z, name, f"[{i}]")
        out.append((zs, _label(y, len(zs), name, f"[{i}]")))
    return out


def cross_entropy(logits: Any, labels: Any, reduction: str = "mean") -> Value:
    """Softmax cross-entropy: -log_softmax(z)[label], per sample, averaged over the batch.

    `logits` is one vector with an int `labels`, or a list of vectors with a list of ints.
    """
    terms = []
    for z, y in _batch(logits, labels, "cross_entropy"):
        shifted, lse = _shifted_lse(z)
        terms.append(lse - shifted[y])
    return _reduce(terms, reduction, "cross_entropy")


def multi_margin(logits: Any, labels: Any, margin: float = 1.0, reduction: str = "mean") -> Value:
    """Multi-class max-margin (hinge) loss, as `torch.nn.functional.multi_margin_loss`:
    sum over j != label of max(0, margin - z[label] + z[j]), divided by the number of classes."""
    terms = []
    for z, y in _batch(logits, labels, "multi_margin"):
        parts = [(zj - z[y] + margin).relu() for j, zj in enumerate(z) if j != y]
        if not parts:
            raise ValueError("multi_margin: needs at least 2 classes")
        terms.append(sum(parts[1:], parts[0]) * (1.0 / len(z)))
    return _reduce(terms, reduction, "multi_margin")


#: Short names for `fit(loss=...)`.
LOSSES = {
    "mse": mse,
    "bce": binary_cross_entropy,
    "binary_cross_entropy": binary_cross_entropy,
    "bce_with_logits": binary_cross_entropy_with_logits,
    "binary_cross_entropy_with_logits": binary_cross_entropy_with_logits,
    "cross_entropy": cross_entropy,
    "hinge": hinge,
    "multi_margin": multi_margin,
}
