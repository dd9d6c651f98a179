"""A user's data as the plain Python lists the rest of `nn` works on.

Every `nn` entry point (fit, evaluate, predict, accuracy, the losses, the data helpers,
neuron_health) reads its data through these functions, so they all accept what scikit-learn
accepts: lists, tuples, `array.array`, numpy arrays of any real dtype (and anything with
`__array__`: pandas frames, CPU tensors), numpy scalars; bools are read as 0 and 1, as
scikit-learn does. numpy stays optional: an array is recognised by its `__array__` method and
numpy is imported only when such an object arrives (it is then already loaded).

Conversion happens once, at the boundary: numpy integers become Python ints (so `np.int64`
labels are classes), numpy floats become Python floats (float16 and float32 exactly), and
complex numbers, strings where numbers belong, NaN or infinite inputs, ragged rows and arrays
of the wrong rank raise TypeError or ValueError naming the entry point and the position.
"""

from __future__ import annotations

import array
import math
import numbers
import sys
from collections.abc import Sequence
from typing import Any

from autograd_lite import Value

#: numpy dtype kinds that hold real numbers (bool read as 0/1, signed, unsigned, float).
_REAL_KINDS = "biuf"
_KIND_NAMES = {"c": "complex", "U": "string", "S": "bytes", "M": "datetime",
               "m": "timedelta", "V": "structured"}


def is_array(x: object) -> bool:
    """True for a numpy array or anything numpy reads as one through `__array__` (pandas,
    CPU tensors), but not for lists, tuples, strings, Values or numbers."""
    if isinstance(x, list | tuple | str | bytes | array.array | Value | numbers.Number):
        return False
    return hasattr(x, "__array__") or (hasattr(x, "dtype") and hasattr(x, "shape"))


def _numpy() -> Any:
    np = sys.modules.get("numpy")
    if np is None:  # an object with __array__ from a library that does not load numpy itself
        try:
            import numpy as np
        except ImportError as e:  # pragma: no cover - needs an __array__ object without numpy
            raise TypeError("reading an array-like object needs numpy: pip install numpy") from e
    return np


def to_ndarray(x: Any, where: str, strings: bool = False) -> Any:
    """`x` as a numpy array of a real dtype (or object dtype, checked later entry by entry;
    `strings=True`: string arrays too, for class labels)."""
    np = _numpy()
    try:
        a = np.asarray(x)
    except Exception as e:  # e.g. a tensor that requires grad: say which argument it was
        raise TypeError(f"{where}: cannot read {type(x).__name__} as an array: {e}") from None
    kind = a.dtype.kind
    if kind not in _REAL_KINDS and kind != "O" and not (strings and kind in "US"):
        raise TypeError(f"{where} must hold real numbers, got a {_KIND_NAMES.get(kind, kind)} "
                        f"array (dtype {a.dtype})")
    return a


def _plain(a: Any) -> Any:
    """A real numpy array as nested Python lists: bool -> int, longdouble -> float."""
    kind = a.dtype.kind
    if kind == "b":
        return a.astype("int64").tolist()
    if kind == "f" and a.dtype.itemsize > 8:
        return a.astype("float64").tolist()
    return a.tolist()


def scalar(v: Any) -> Any:
    """A numpy scalar as the Python number it holds (bool as 0/1); anything else unchanged."""
    if type(v) in (int, float) or isinstance(v, Value):
        return v
    if isinstance(v, bool):
        return int(v)
    if is_array(v) and getattr(v, "ndim", None) == 0:
        a = to_ndarray(v, "value")
        return _plain(a)
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    return v


def _describe(v: object) -> str:
    text = repr(v)
    return f"{type(v).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _feature(v: Any, where: str) -> Any:
    """One input entry as a finite float (a Value is kept as it is)."""
    if isinstance(v, Value):
        return v
    if type(v) is not float:
        if isinstance(v, numbers.Real) or isinstance(v, bool) or \
                (is_array(v) and getattr(v, "ndim", None) == 0):
            v = scalar(v)
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            if _is_row(v):
                raise ValueError(f"{where} is a sequence: X must be 2-D (samples x features), "
                                 f"got deeper nesting ({_describe(v)})")
            raise TypeError(f"{where} must be a real number, got {_describe(v)}")
        try:
            v = float(v)
        except OverflowError:
            raise ValueError(f"{where} is {_describe(v)}, beyond the float range (1.8e308); "
                             "inputs must be finite") from None
    if not math.isfinite(v):
        raise ValueError(f"{where} is {v!r}; inputs must be finite (drop or impute NaN and "
                         "infinite entries first)")
    return v


_FLOAT = {float}


def _finite_floats(r: Any) -> list[float] | None:
    """A row of plain floats as a new list of them, checked and copied at C speed (one copy,
    one pass for the types, one float sum for finiteness: a NaN or an infinity makes the sum
    non-finite); None when an entry is not exactly a float (an int, a Value, a string, a float
    subclass such as np.float64, whose `__float__` `_feature` calls) or the sum is not finite
    (a NaN or infinite entry, or finite entries whose sum overflows)."""
    row = list(r)
    if set(map(type, row)) <= _FLOAT and math.isfinite(sum(row, 0.0)):
        return row
    return None


def _is_row(x: object) -> bool:
    return is_array(x) or (isinstance(x, Sequence | array.array) and not isinstance(x, str))


def rows(X: Any, where: str = "X") -> list[list[Any]]:
    """`X` (n samples by d features: a 2-D array or a sequence of equal-length rows) as a list
    of lists of finite floats; Values in rows are kept. Raises TypeError/ValueError naming
    the position of a bad entry, a ragged row, or an array that is not 2-D."""
    return float_rows(X, where)[0]


def float_rows(X: Any, where: str = "X") -> tuple[list[list[Any]], bool]:
    """`rows(X, where)` and whether every entry is exactly a float (no Value): known as a
    by-product of the conversion, so a compiled fit can compare the rows with a previous
    fit's by list equality at C speed without a scan for Values of its own."""
    if is_array(X):
        a = to_ndarray(X, where)
        if a.ndim != 2:
            hint = (" (reshape with X.reshape(-1, 1) for a single feature or X.reshape(1, -1) "
                    "for a single sample)" if a.ndim == 1 else "")
            raise ValueError(f"{where} must be a 2-D array (samples x features), got a "
                             f"{a.ndim}-D array of shape {tuple(a.shape)}{hint}")
        if a.dtype.kind == "f":
            np = _numpy()
            if a.dtype.itemsize > 8:  # longdouble: finite there may be beyond float64's range
                with np.errstate(over="ignore"):
                    a = a.astype("float64")
            bad = np.argwhere(~np.isfinite(a))
            if len(bad):
                i, j = (int(k) for k in bad[0])
                raise ValueError(f"{where}[{i}][{j}] is {float(a[i, j])!r}; inputs must be "
                                 "finite (drop or impute NaN and infinite entries first; "
                                 "a longdouble beyond 1.8e308 is infinite as a float)")
            return _plain(a), True
        if a.dtype.kind in "biu":
            return [[float(v) for v in r] for r in _plain(a)], True
        X = a.tolist()  # object array: checked entry by entry below
    if isinstance(X, memoryview):
        X = X.tolist()  # any number of dimensions (iterating a 2-D memoryview is refused)
    if isinstance(X, str) or not isinstance(X, Sequence):
        raise TypeError(f"{where} must be a 2-D array or a list of rows, got {_describe(X)}")
    out: list[list[Any]] = []
    width = -1
    floats = True
    for i, r in enumerate(X):
        if type(r) is not list and not _is_row(r):
            raise ValueError(f"{where}[{i}] must be a row of numbers (X is samples x features), "
                             f"got {_describe(r)}; for a single feature use [[x] for x in X]")
        if type(r) is not list and is_array(r):
            a = to_ndarray(r, f"{where}[{i}]")
            if a.ndim != 1:
                raise ValueError(f"{where}[{i}] must be a 1-D row, got shape {tuple(a.shape)}")
            r = _plain(a)
        row = _finite_floats(r)
        if row is None:  # not all floats, or not all finite: entry by entry (which says where)
            row = [_feature(v, f"{where}[{i}][{j}]") for j, v in enumerate(r)]
            floats = floats and not any(isinstance(v, Value) for v in row)
        if width < 0:
            width = len(row)
        elif len(row) != width:
            raise ValueError(f"{where} is ragged: row {i} has {len(row)} features, row 0 has "
                             f"{width}")
        out.append(row)
    return out, floats


def _target(v: Any, where: str) -> Any:
    """One target or label: numpy scalars as Python numbers, rows as lists of numbers."""
    if type(v) in (int, float, str) or isinstance(v, Value):
        return v
    if _is_row(v) and not (is_array(v) and getattr(v, "ndim", None) == 0):
        if is_array(v):
            a = to_ndarray(v, where, strings=True)
            if a.ndim != 1:
                raise ValueError(f"{where} must be a number or a 1-D row, got shape "
                                 f"{tuple(a.shape)}")
            v = _plain(a)
        return [_target(t, f"{where}[{j}]") for j, t in enumerate(v)]
    v = scalar(v)
    if isinstance(v, complex):
        raise TypeError(f"{where} must be a real number or a class label, got {_describe(v)}")
    return v


def targets(y: Any, where: str = "y") -> list[Any]:
    """`y` (one target per sample: a 1-D array or sequence of labels or numbers, or a 2-D
    array / list of vectors) as a list of Python ints, floats, other labels or lists."""
    if is_array(y):
        a = to_ndarray(y, where, strings=True)
        if a.ndim not in (1, 2):
            raise ValueError(f"{where} must be a 1-D array of targets (or 2-D, one vector per "
                             f"sample), got a {a.ndim}-D array of shape {tuple(a.shape)}")
        if a.dtype.kind != "O":
            return _plain(a)
        y = a.tolist()
    if isinstance(y, memoryview):
        y = y.tolist()
    if isinstance(y, str) or not isinstance(y, Sequence | array.array):
        raise TypeError(f"{where} must be a sequence of targets, got {_describe(y)}")
    if type(y) is list and set(map(type, y)) <= _PLAIN_TARGETS:
        return y[:]  # ints, floats and strings are kept as they are (checked at C speed)
    return [_target(v, f"{where}[{i}]") for i, v in enumerate(y)]


#: Targets `_target` returns unchanged.
_PLAIN_TARGETS = {int, float, str}


_PLAIN = (list, tuple, float, int, str, Value)


def labels_or_values(x: Any, where: str) -> Any:
    """For the losses: an array-like argument as (nested) lists, a numpy scalar as a Python
    number; Values, lists and numbers are returned as they are."""
    if type(x) in _PLAIN:
        return x
    if is_array(x):
        a = to_ndarray(x, where)
        return _plain(a) if a.dtype.kind != "O" else a.tolist()
    if isinstance(x, array.array):
        return list(x)
    if isinstance(x, numbers.Number) and type(x) not in (int, float):
        return scalar(x)
    return x


def count(n: Any, what: str, minimum: int = 1) -> int:
    """An int argument >= minimum (numpy ints too); ValueError otherwise."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or int(n) < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {n!r}")
    return int(n)
