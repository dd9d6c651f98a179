"""Grad, anomaly and IEEE modes, held in context variables so threads and asyncio tasks don't mix.

A `no_grad()` object keeps no state of its own: what it restores on exit lives in the
context, so one object may be entered by several tasks or threads at once, and `@no_grad()`
works on plain functions, generators, coroutines and async generators (the mode holds while
their code runs, not between their steps), as PyTorch's does.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_GRAD_ENABLED: ContextVar[bool] = ContextVar("autograd_lite_grad_enabled", default=True)
_SAVED: ContextVar[tuple[bool, ...]] = ContextVar("autograd_lite_grad_saved", default=())
_ANOMALY: ContextVar[bool] = ContextVar("autograd_lite_anomaly", default=False)
_IEEE: ContextVar[bool] = ContextVar("autograd_lite_ieee", default=False)

# Bound C methods: the engine calls these on every op, so look them up once.
grad_enabled = _GRAD_ENABLED.get
anomaly_enabled = _ANOMALY.get
ieee_enabled = _IEEE.get


def is_grad_enabled() -> bool:
    """True when new operations are recorded into the graph (the default)."""
    return _GRAD_ENABLED.get()


class _GradMode(contextlib.ContextDecorator):
    """Context manager and decorator that sets grad mode, restoring the old one on exit."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> _GradMode:
        _SAVED.set((*_SAVED.get(), _GRAD_ENABLED.get()))
        _GRAD_ENABLED.set(self.enabled)
        return self

    def __exit__(self, *exc: object) -> None:
        saved = _SAVED.get()
        if not saved:
            raise RuntimeError("grad mode exited more often than entered in this context")
        _GRAD_ENABLED.set(saved[-1])
        _SAVED.set(saved[:-1])

    def __call__(self, func: F) -> F:
        mode = _GradMode(self.enabled)
        if inspect.isasyncgenfunction(func):
            return _async_gen_wrapper(func, mode)  # type: ignore[return-value]
        if inspect.isgeneratorfunction(func):
            return _gen_wrapper(func, mode)  # type: ignore[return-value]
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def coroutine(*args: Any, **kwargs: Any) -> Any:
                with mode:
                    return await func(*args, **kwargs)

            return coroutine  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with mode:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def _gen_wrapper(func: Callable[..., Generator[Any, Any, Any]],
                 mode: _GradMode) -> Callable[..., Generator[Any, Any, Any]]:
    @functools.wraps(func)
    def generator(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        with mode:
            gen = func(*args, **kwargs)
        try:
            with mode:
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with mode:
                        gen.close()
                    raise
                except BaseException as e:  # noqa: BLE001 - passed into the generator
                    with mode:
                        response = gen.throw(e)
                else:
                    with mode:
                        response = gen.send(request)
        except StopIteration as stop:
            return stop.value

    return generator


def _async_gen_wrapper(func: Callable[..., AsyncGenerator[Any, Any]],
                       mode: _GradMode) -> Callable[..., AsyncGenerator[Any, Any]]:
    @functools.wraps(func)
    async def generator(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        with mode:
            gen = func(*args, **kwargs)
        try:
            with mode:
                response = await gen.asend(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with mode:
                        await gen.aclose()
                    raise
                except BaseException as e:  # noqa: BLE001 - passed into the generator
                    with mode:
                        response = await gen.athrow(e)
                else:
                    with mode:
                        response = await gen.asend(request)
        except StopAsyncIteration:
            return

    return generator


def no_grad() -> _GradMode:
    """Evaluate without recording a graph: `with no_grad(): ...` or `@no_grad()`."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Record a graph again inside a `no_grad` block."""
    return _GradMode(True)


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise AnomalyError at the first op whose value (from finite inputs) or gradient is not
    finite, naming the op: for debugging training that produces inf or nan."""
    token = _ANOMALY.set(True)
    try:
        yield
    finally:
        _ANOMALY.reset(token)


@contextlib.contextmanager
def ieee_mode() -> Iterator[None]:
    """While differentiating: a primitive's domain error gives its IEEE inf/nan instead."""
    token = _IEEE.set(True)
    try:
        yield
    finally:
        _IEEE.reset(token)
