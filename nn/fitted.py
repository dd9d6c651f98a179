"""What `fit` leaves on a model: a plain-data marker (the loss by name, its options, the
decision rule) that `save` writes, `load` checks, `predict`/`evaluate` read back and
nn/compiled.py's snapshot compares. Apart from nn/train.py so that `Module.load` checks a
file's marker without importing the training loop.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autograd_lite import Value

from . import losses as _losses
from .metrics import Decision

if TYPE_CHECKING:  # pragma: no cover
    from .step import LossFn

__all__ = ["fitted_state"]


class _Fitted:
    """What `fit` left on a model, read back from its plain-data marker (see `_remember`):
    the loss (a built-in one, else None), its name and options, and the decision rule (None
    for regression targets)."""

    __slots__ = ("loss", "name", "options", "rule")

    def __init__(self, name: str | None, options: dict[str, Any], rule: Decision | None
                 ) -> None:
        self.name, self.options, self.rule = name, options, rule
        self.loss: LossFn | None = None
        if name is not None:
            fn: Callable[..., Value] = _losses.LOSSES[name]  # type: ignore[assignment]
            self.loss = functools.partial(fn, **options) if options else fn

    def labels(self) -> list[Any]:
        """The class labels of the rule (for a vector output's argmax rule: 0 and 1)."""
        rule = self.rule or Decision()
        return list(rule.nearest) if rule.nearest else [rule.negative, rule.positive]

    def same_loss(self, loss_fn: LossFn) -> bool:
        """Whether `loss_fn` is the built-in loss (with the same options) fit used."""
        return self.name is not None and _loss_name(loss_fn) == (self.name, self.options)


def _plain_number(v: Any) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def _loss_name(loss_fn: Any) -> tuple[str, dict[str, Any]] | None:
    """(canonical name, keyword options) of a built-in loss (or a `functools.partial` of one
    with number or string keywords), else None: a loss of the user's."""
    options: dict[str, Any] = {}
    while isinstance(loss_fn, functools.partial):
        if loss_fn.args:
            return None
        options = {**loss_fn.keywords, **options}  # an outer partial's keywords win
        loss_fn = loss_fn.func
    if not all(_plain_number(v) or type(v) is str for v in options.values()):
        return None
    for name, fn in _losses.LOSSES.items():  # the first name of a function is its canonical one
        if fn is loss_fn:
            return name, options
    return None


def fitted_state(obj: Any, where: str = "fitted") -> _Fitted:
    """Read a fitted-model marker (the plain JSON data `fit` stores on a model and `save`
    writes: `{"loss": name or null, "options": {...}, "rule": null or {"threshold",
    "negative", "positive", "nearest"}}`); ValueError naming what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(obj).__name__}")
    extra = sorted(set(obj) - {"loss", "options", "rule"})
    if extra:
        raise ValueError(f"{where}: unexpected entries {extra}")
    name, options, rule = obj.get("loss"), obj.get("options", {}), obj.get("rule")
    if name is not None and (type(name) is not str or name not in _losses.LOSSES):
        raise ValueError(f"{where}: loss must be null or one of {sorted(_losses.LOSSES)}, "
                         f"got {name!r}")
    if not isinstance(options, dict) or not all(
            type(k) is str and (_plain_number(v) or type(v) is str) for k, v in options.items()):
        raise ValueError(f"{where}: options must map names to numbers or strings, got "
                         f"{options!r}")
    if options and name is None:
        raise ValueError(f"{where}: options {options!r} without a loss")
    if name is not None and options:
        try:
            fn: Callable[..., Value] = _losses.LOSSES[name]  # type: ignore[assignment]
            inspect.signature(fn).bind_partial(None, None, **options)
        except TypeError:
            raise ValueError(f"{where}: {name} takes no options {sorted(options)}") from None
    decision = None
    if rule is not None:
        if not isinstance(rule, dict) or set(rule) != {"threshold", "negative", "positive",
                                                       "nearest"}:
            raise ValueError(f"{where}: rule must be null or an object with threshold, "
                             f"negative, positive and nearest, got {rule!r}")
        near = rule["nearest"]
        values = [rule["threshold"], rule["negative"], rule["positive"]]
        if not isinstance(near, list) or not all(_plain_number(v) for v in [*values, *near]):
            raise ValueError(f"{where}: rule entries must be finite numbers (nearest a list "
                             f"of them), got {rule!r}")
        if near != sorted(near):
            raise ValueError(f"{where}: rule nearest labels must be sorted, got {near!r}")
        decision = Decision(rule["threshold"], rule["negative"], rule["positive"], tuple(near))
    return _Fitted(name, dict(options), decision)


def _fitted(model: Any) -> _Fitted | None:
    marker = getattr(model, "_nn_fitted", None)
    if marker is None:
        return None
    try:
        return fitted_state(marker)
    except ValueError:  # not fit's marker (an attribute of the user's with this name)
        return None


def _remember(model: Any, loss_fn: LossFn, rule: Decision | None) -> None:
    """Leave the loss and the rule on the model as plain JSON data (strings, numbers, lists):
    it pickles, `save` writes it, and nn.compiled's snapshot reads it (no re-trace)."""
    known = _loss_name(loss_fn)
    marker: dict[str, Any] = {"loss": None if known is None else known[0],
                              "options": {} if known is None else dict(known[1]),
                              "rule": None if rule is None else {
                                  "threshold": rule.threshold, "negative": rule.negative,
                                  "positive": rule.positive, "nearest": list(rule.nearest)}}
    try:
        fitted_state(marker)
    except ValueError:  # labels that JSON cannot hold as numbers: no rule remembered
        marker["rule"] = None
    try:
        model._nn_fitted = marker
    except AttributeError:  # a module with __slots__: nothing remembered
        pass
