"""numpy ufuncs on Values, never silent: `Value.__array_ufunc__` looks the ufunc up here.

A ufunc with a primitive (or an exact composition of primitives: `square` is `x * x`,
`log2` is `log(x) / log(2)`) records nodes, so `np.maximum(v, 0.0)` is differentiable; any
other ufunc, method (`reduce`, `outer`, ...) or keyword (`out=`, `where=`) raises TypeError
naming it. numpy arrays among the operands (object arrays of Values included) broadcast: the
result is an object array, one engine call per element. This module imports numpy, so only
`Value.__array_ufunc__` imports it, when numpy is already calling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import ops
from .value import Value

_LN2, _LN10 = math.log(2.0), math.log(10.0)


def _ordering(op: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    """A comparison on data (not differentiable), as Value's own `<`, `>`."""
    def compare(a: Any, b: Any) -> bool:
        return op(a.data if isinstance(a, Value) else a, b.data if isinstance(b, Value) else b)
    return compare


#: ufunc -> the engine's elementwise function (Values or numbers in).
UFUNCS: dict[Any, Callable[..., Any]] = {
    np.exp: ops.exp, np.log: ops.log, np.log1p: ops.log1p, np.tanh: ops.tanh,
    np.sin: ops.sin, np.cos: ops.cos, np.sqrt: ops.sqrt, np.absolute: ops.abs,
    np.fabs: ops.abs, np.maximum: ops.maximum, np.minimum: ops.minimum,
    np.negative: lambda x: -x, np.positive: lambda x: +x,
    np.add: lambda a, b: a + b, np.subtract: lambda a, b: a - b,
    np.multiply: lambda a, b: a * b, np.true_divide: lambda a, b: a / b,
    np.power: lambda a, b: a ** b, np.float_power: lambda a, b: a ** b,
    np.square: lambda x: x * x, np.reciprocal: lambda x: 1.0 / x,
    np.exp2: lambda x: 2.0 ** x, np.log2: lambda x: ops.log(x) / _LN2,
    np.log10: lambda x: ops.log(x) / _LN10,
    np.greater: _ordering(lambda a, b: a > b), np.greater_equal: _ordering(lambda a, b: a >= b),
    np.less: _ordering(lambda a, b: a < b), np.less_equal: _ordering(lambda a, b: a <= b),
}


def _plain(x: Any) -> Any:
    """A numpy scalar as a Python number (else `a * b` would call numpy, and numpy us, again)."""
    return x.item() if isinstance(x, np.generic) else x


def array_ufunc(ufunc: Any, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Apply `ufunc` to operands among which is a Value: elementwise through the engine."""
    name = getattr(ufunc, "__name__", repr(ufunc))
    fn = UFUNCS.get(ufunc)
    if fn is None:
        raise TypeError(f"numpy.{name} has no autograd-lite primitive, so it cannot be "
                        "differentiated; use the engine's functions (autograd_lite.exp, "
                        "maximum, ...) or declare one with @autograd_lite.primitive")
    if method != "__call__":
        raise TypeError(f"numpy.{name}.{method} is not supported on Values (only elementwise "
                        f"calls such as numpy.{name}(v, ...))")
    if kwargs:
        raise TypeError(f"numpy.{name}: keyword(s) {', '.join(sorted(kwargs))} not supported "
                        "on Values (the result is a new Value or object array)")
    if not any(isinstance(x, np.ndarray) for x in inputs):
        return fn(*map(_plain, inputs))
    arrays = [np.asarray(x, dtype=object) for x in inputs]
    b = np.broadcast(*arrays)
    out = np.empty(b.shape, dtype=object)
    flat = out.reshape(-1)
    for i, elems in enumerate(b):
        flat[i] = fn(*map(_plain, elems))
    return out


class ValueArray(np.ndarray):
    """An object array of Values whose elementwise ufuncs go through the engine's table, as a
    bare Value's do: `np.maximum(x, 0.0)` records maximum nodes (a tie splits the gradient, as
    in JAX) instead of numpy's object loop picking one operand. The transforms hand a
    function its array arguments as this; anything else (reductions, other ufuncs, indexing)
    is numpy's object-array behaviour."""

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        plain = tuple(x.view(np.ndarray) if isinstance(x, ValueArray) else x for x in inputs)
        if method == "__call__" and not kwargs and ufunc in UFUNCS:
            out = array_ufunc(ufunc, method, plain, kwargs)
            return out.view(ValueArray) if isinstance(out, np.ndarray) and out.dtype == object \
                else out
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, ValueArray) else o
                                  for o in kwargs["out"])
        out = getattr(ufunc, method)(*plain, **kwargs)
        if isinstance(out, np.ndarray) and out.dtype == object:
            return out.view(ValueArray)
        return out
