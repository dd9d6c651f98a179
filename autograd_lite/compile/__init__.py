"""Compiled replay: trace -> program -> emit (Python | C) -> toolchain and cache (`native`) ->
`Compiled`, the public face (`compile_grad`)."""

from __future__ import annotations

from .compiled import Compiled, DataDependenceWarning, GraphChangedError, compile_grad
from .native import NativeUnavailableError, NativeUnavailableWarning

__all__ = ["compile_grad", "Compiled", "GraphChangedError", "DataDependenceWarning",
           "NativeUnavailableError", "NativeUnavailableWarning"]
