"""The engine's numbers and errors: the `Number` type and the exceptions every layer raises."""

from __future__ import annotations

Number = int | float


class AutogradError(Exception):
    """Base of the engine's own errors."""


class AnomalyError(AutogradError, FloatingPointError):
    """Raised in `detect_anomaly()` where an op makes a non-finite value or gradient."""


class UnusedInputError(AutogradError, ValueError):
    """Raised by `grad` when an input does not reach the output and `allow_unused` is False."""
