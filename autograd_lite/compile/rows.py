"""Rows: what a compiled function's callers pass, as one flat buffer of doubles (and the
errors for what is not a row of real numbers).

A batch is a sequence of rows (lists, tuples, `array`s, 1-D numpy arrays) or a 2-D buffer of
real numbers (numpy of any float or int dtype, a 2-D memoryview). A C-contiguous buffer of
doubles (numpy float64, a memoryview cast to shape (n, k)) is handed to C as it is: no copy
when it is writable, one `memcpy` when it is not. Any other dtype or layout is converted once,
by numpy when the rows are a numpy array (numpy is never imported here: only used when the
caller's rows already are one), else by `array("d", ...)` over the buffer's values. Rows of
Python numbers are converted in bulk, one number at a time only when a row holds something
that needs checking (bool, str, an object with `__float__`).
"""

from __future__ import annotations

import ctypes
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from itertools import chain
from typing import Any

from ..engine.value import describe, to_float
from .program import exact

#: memoryview formats of real numbers: ints of every width, half, single, double and long
#: double floats (numpy's float128, read as its float64 value, as `Value(x)` reads it).
REAL_FORMATS = frozenset("bBhHiIlLqQnNefdg")

_NOT_SEQUENCES = (str, bytes, bytearray, Mapping, AbstractSet)


class Rows:
    """`n` rows of `k` doubles, row-major: `data` (an `array("d")` or a 1-D memoryview of
    doubles, sliceable) and `address`, where C reads them. `keep` holds what owns the memory."""

    __slots__ = ("data", "n", "address", "keep")

    def __init__(self, data: Any, n: int, address: int, keep: Any = None) -> None:
        self.data = data
        self.n = n
        self.address = address
        self.keep = keep

    @classmethod
    def of(cls, buf: array[float], n: int) -> Rows:
        """Rows held by an `array("d")`."""
        return cls(buf, n, buf.buffer_info()[0] if len(buf) else 0, buf)

    def row(self, r: int, k: int) -> list[float]:
        """Row `r` as a list of floats."""
        return self.data[r * k:(r + 1) * k].tolist()


def row_note(r: int) -> str:
    """The note every backend adds to an error raised while running row `r` of a batch."""
    return f"(in row {r} of the batch)"


def note_row(e: BaseException, r: int) -> None:
    """Add row `r`'s note to `e`, once."""
    note = row_note(r)
    if note not in getattr(e, "__notes__", ()):
        e.add_note(note)


def nan_error(j: int, k: int) -> ValueError:
    """The error for a NaN at index `j` of the flat rows (`k` inputs per row)."""
    e = ValueError(f"compiled input {j % k} of row {j // k}: got NaN, a Value needs a "
                   "number (inf is allowed)")
    e.add_note(row_note(j // k))
    return e


def check_nan(flat: Any, k: int) -> None:
    """Raise `nan_error` for the first NaN of `flat` (a sum first: NaN-free rows cost one pass;
    a numpy array is tested by numpy)."""
    np = sys.modules.get("numpy")
    if np is not None and isinstance(flat, np.ndarray):
        nans = np.flatnonzero(np.isnan(flat))
        if len(nans):
            raise nan_error(int(nans[0]), k)
        return
    total = sum(flat)
    if total == total:
        return
    for j, v in enumerate(flat):
        if v != v:
            raise nan_error(j, k)


def _sequence_error(k: int, rows: Any) -> TypeError:
    return TypeError(f"compiled function: rows must be a sequence of rows of {k} real numbers "
                     f"(a list of lists, or a 2-D array), got {describe(rows)}")


def _buffer(rows: Any) -> memoryview | None:
    """`rows`' buffer, or None (no buffer, or Python objects: each one is checked)."""
    try:
        mv = memoryview(rows)
    except (TypeError, ValueError):  # no buffer (numpy raises ValueError for some dtypes)
        return None
    return None if mv.format == "O" else mv


def _address(mv: memoryview) -> int | None:
    """Where a writable C-contiguous buffer's bytes are (None when read-only)."""
    if mv.readonly:
        return None
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(mv))
    except (TypeError, ValueError, BufferError):
        return None


def _numpy_doubles(rows: Any, k: int) -> Rows | None:
    """A writable C-contiguous numpy array of native float64 of shape (n, k), as Rows over its
    own memory (the common case, checked first and cheaply); None for anything else."""
    np = sys.modules.get("numpy")
    if np is None or type(rows) is not np.ndarray or rows.ndim != 2 or rows.shape[1] != k:
        return None
    dtype, flags = rows.dtype, rows.flags
    if not (dtype.char == "d" and dtype.isnative and flags.c_contiguous and flags.writeable
            and rows.size):
        return None
    try:
        address = ctypes.addressof(ctypes.c_char.from_buffer(rows))
    except (TypeError, ValueError, BufferError):
        return None
    return Rows(rows.reshape(-1), rows.shape[0], address, rows)


def _from_buffer(rows: Any, mv: memoryview, k: int) -> Rows:
    """A 2-D buffer of real numbers as Rows: zero-copy for writable C-contiguous doubles."""
    if mv.format.lstrip("@=<>!") not in REAL_FORMATS:
        dtype = getattr(rows, "dtype", None)
        got = f"dtype {dtype}" if dtype is not None else f"format {mv.format!r}"
        raise TypeError(f"compiled function: rows must hold real numbers (float or int), got "
                        f"a buffer of {got}")
    if mv.ndim != 2 or mv.shape is None or mv.shape[1] != k:
        raise ValueError(f"compiled function: rows must be a 2-D array of shape (n, {k}), got "
                         f"shape {mv.shape}")
    n = mv.shape[0]
    if n == 0 or k == 0:  # no numbers to read (a function of no inputs: n rows)
        return Rows.of(array("d"), n)
    if mv.format in ("d", "@d") and mv.c_contiguous:
        address = _address(mv)
        if address is not None:
            return Rows(mv.cast("B").cast("d"), n, address, mv)
        buf = array("d")
        buf.frombytes(mv.cast("B"))
        return Rows.of(buf, n)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(rows, np.ndarray):
        # One vectorised conversion (any real dtype, byte order or layout; exact for floats
        # and, rounding to nearest as float(int) does, for ints).
        return _from_buffer(rows, memoryview(np.ascontiguousarray(rows, dtype=np.float64)), k)
    try:
        nested: Any = mv.tolist()
        buf = array("d", chain.from_iterable(nested))
    except (NotImplementedError, TypeError, ValueError, OverflowError):  # e.g. big-endian
        items = [v for r in rows for v in r]
        buf = array("d", [exact(v) if isinstance(v, float) else
                          to_float(v, f"compiled input {j % k} of row {j // k}")
                          for j, v in enumerate(items)])
    return Rows.of(buf, n)


def _joined(rows: list[Any], k: int) -> array[float] | None:
    """Rows that are each a C-contiguous buffer of k doubles (`array("d")`, float64 numpy),
    joined by one copy; None when they are not all that."""
    if not all(type(r) is array and r.typecode == "d" and len(r) == k for r in rows):
        np = sys.modules.get("numpy")
        if np is None or not all(isinstance(r, np.ndarray) and r.dtype == np.float64
                                 and r.shape == (k,) for r in rows):
            return None
    buf = array("d")
    try:
        buf.frombytes(b"".join(rows))
    except (TypeError, ValueError, BufferError):  # (a strided numpy row)
        return None
    return buf


def as_rows(rows: Any, k: int, nan_check: bool = True) -> Rows:
    """Rows of `k` real numbers as one flat buffer of doubles (see the module's docstring).
    A NaN raises ValueError naming its row (`nan_check=False`: the C function checks)."""
    out = _numpy_doubles(rows, k)
    if out is not None:
        if nan_check:
            check_nan(out.data, k)
        return out
    if isinstance(rows, _NOT_SEQUENCES):
        raise _sequence_error(k, rows)
    mv = _buffer(rows)
    if mv is not None:
        out = _from_buffer(rows, mv, k)
    else:
        if not isinstance(rows, Iterable):
            raise _sequence_error(k, rows)
        rows = list(rows)
        out = _from_sequences(rows, k)
    if nan_check:
        check_nan(out.data, k)
    return out


def _from_sequences(rows: list[Any], k: int) -> Rows:
    n = len(rows)
    kinds = set(map(type, rows))
    if kinds <= {list, tuple}:
        if not set(map(len, rows)) <= {k}:
            check_rows(rows, k)
    elif n and k:
        joined = _joined(rows, k)
        if joined is not None:
            return Rows.of(joined, n)
        check_rows(rows, k)
    else:
        check_rows(rows, k)
    items = list(chain.from_iterable(rows))
    flat: array[float] | None = None
    if set(map(type, items)) <= {float, int}:
        try:
            flat = array("d", items)
        except OverflowError:
            flat = None
    if flat is None:
        flat = array("d", [to_float(v, f"compiled input {j % k} of row {j // k}")
                           for j, v in enumerate(items)])
    return Rows.of(flat, n)


def check_rows(rows: list[Any], k: int) -> None:
    """Raise TypeError for a row that is not a 1-D sequence, ValueError for a wrong length."""
    for i, row in enumerate(rows):
        if isinstance(row, _NOT_SEQUENCES) or not (
                hasattr(row, "__len__") and hasattr(row, "__getitem__")) or getattr(
                row, "ndim", 1) != 1:
            raise TypeError(f"compiled function: row {i} must be a sequence of {k} real "
                            f"numbers, got {describe(row)}")
        if len(row) != k:
            raise ValueError(f"compiled function takes {k} inputs, got {len(row)} in row {i}")


def as_inputs(xs: Sequence[Any], k: int) -> list[float]:
    """One call's inputs as a list of `k` plain floats (checked: TypeError, ValueError)."""
    if isinstance(xs, _NOT_SEQUENCES) or not (
            hasattr(xs, "__len__") and hasattr(xs, "__getitem__")):
        raise TypeError(f"compiled function: inputs must be a sequence of {k} real numbers, "
                        f"got {describe(xs)}")
    if len(xs) != k:
        raise ValueError(f"compiled function takes {k} inputs, got {len(xs)}")
    return [x if type(x) is float and x == x else to_float(x, f"compiled input {i}")
            for i, x in enumerate(xs)]


def as_param_data(param_data: Sequence[Any], m: int) -> array[float]:
    """`param_data` as an array("d") of one plain float per parameter (checked)."""
    if isinstance(param_data, array) and type(param_data) is not array:
        # A subclass: its own buffer's items (C reads the buffer, not an overridden __len__,
        # typecode or buffer_info), checked as any other sequence of numbers.
        param_data = array.tolist(param_data)
    if isinstance(param_data, _NOT_SEQUENCES) or not (
            hasattr(param_data, "__len__") and hasattr(param_data, "__getitem__")):
        raise TypeError(f"param_data must be a sequence of {m} real numbers, got "
                        f"{describe(param_data)}")
    if len(param_data) != m:
        raise ValueError(f"compiled function has {m} parameters, param_data has "
                         f"{len(param_data)}")
    if type(param_data) is array and param_data.typecode == "d":
        return param_data
    if set(map(type, param_data)) <= {float, int}:  # (not bool: not a real number here)
        try:
            return array("d", param_data)
        except OverflowError:
            pass
    return array("d", [exact(v) if isinstance(v, float) else to_float(v, f"param_data[{j}]")
                       for j, v in enumerate(param_data)])


def pinned(a: array[Any], what: str) -> memoryview:
    """`a` pinned: a buffer export the caller holds (`with`) while C uses the array (ctypes
    releases the GIL: another thread resizing it gets BufferError instead of moving it under
    the loop). Read its address and length after pinning, from the buffer itself
    (`array.buffer_info(a)`: an array subclass's `buffer_info` or `__len__` may say otherwise),
    and compare the length with the one checked before. A `__buffer__` exporting another
    buffer (Python 3.12+) is a TypeError naming `what`."""
    pin = memoryview(a)
    if type(a) is not array and pin.obj is not a:
        pin.release()
        raise TypeError(f"{what}'s buffer is not its array's own (its class overrides "
                        "__buffer__)")
    return pin


def overlap(a: array[float], b: array[float]) -> bool:
    """Whether two arrays share memory (one is the other: C would read what it writes)."""
    (pa, na), (pb, nb) = a.buffer_info(), b.buffer_info()
    return na > 0 and nb > 0 and pa < pb + 8 * nb and pb < pa + 8 * na
