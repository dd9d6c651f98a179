"""Grad mode and anomaly mode, held in context variables so threads and asyncio tasks don't mix."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_GRAD_ENABLED: ContextVar[bool] = ContextVar("autograd_lite_grad_enabled", default=True)
_ANOMALY: ContextVar[bool] = ContextVar("autograd_lite_anomaly", default=False)

# Bound C methods: the engine calls these on every op, so look them up once.
grad_enabled = _GRAD_ENABLED.get
anomaly_enabled = _ANOMALY.get


def is_grad_enabled() -> bool:
    """True when new operations are recorded into the graph (the default)."""
    return _GRAD_ENABLED.get()


class _GradMode(contextlib.ContextDecorator):
    """Context manager and decorator that sets grad mode, restoring the old one on exit."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._tokens: list[Any] = []

    def __enter__(self) -> _GradMode:
        self._tokens.append(_GRAD_ENABLED.set(self.enabled))
        return self

    def __exit__(self, *exc: object) -> None:
        _GRAD_ENABLED.reset(self._tokens.pop())

    def __call__(self, func: F) -> F:  # type: ignore[override]
        # A fresh instance per call keeps the decorator re-entrant across threads and tasks.
        enabled = self.enabled

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _GradMode(enabled):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def no_grad() -> _GradMode:
    """Evaluate without recording a graph: `with no_grad(): ...` or `@no_grad()`."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Record a graph again inside a `no_grad` block."""
    return _GradMode(True)


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise AnomalyError at the first primitive whose backward makes a non-finite gradient."""
    token = _ANOMALY.set(True)
    try:
        yield
    finally:
        _ANOMALY.reset(token)
