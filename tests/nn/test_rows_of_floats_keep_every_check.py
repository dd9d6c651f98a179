"""`nn.arrays.rows` reads a row of plain floats at C speed and every other row entry by entry:
whichever way a row goes, the result is the same (plain Python floats, equal bit for bit to
`float(entry)`, Values kept) and so is the error (its type, and the position it names)."""

from __future__ import annotations

import math
import struct
from array import array
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import Value
from nn import arrays

finite = st.floats(allow_nan=False, allow_infinity=False)


class Half(float):
    """A float subclass (as np.float64 is): read as its value."""


class Doubled(float):
    """A float subclass whose `__float__` is its own: read through it, as `float()` reads it."""

    def __float__(self) -> float:
        return float.__float__(self) * 2.0


class NotANumber(float):
    """A finite float whose `__float__` says NaN: refused, as `float()` of it is NaN."""

    def __float__(self) -> float:
        return math.nan


#: entry -> None (accepted as float(entry)) or the exception it raises.
ODD = {
    "int": (lambda: 3, None),
    "bool": (lambda: True, None),
    "big int": (lambda: 2**80 + 1, None),
    "np.float64": (lambda: np.float64(0.1), None),
    "np.float32": (lambda: np.float32(0.1), None),
    "np.int64": (lambda: np.int64(-7), None),
    "Fraction": (lambda: Fraction(1, 3), None),
    "float subclass": (lambda: Half(-0.0), None),
    "float subclass with its own __float__": (lambda: Doubled(0.75), None),
    "float subclass whose __float__ is nan": (lambda: NotANumber(1.0), ValueError),
    "Value": (lambda: Value(2.5), None),
    "nan": (lambda: math.nan, ValueError),
    "inf": (lambda: -math.inf, ValueError),
    "np.nan": (lambda: np.float64("nan"), ValueError),
    "int beyond floats": (lambda: 10**400, ValueError),
    "str": (lambda: "1.5", TypeError),
    "Decimal": (lambda: Decimal("1.5"), TypeError),
    "complex": (lambda: 1j, TypeError),
    "None": (lambda: None, TypeError),
    "nested row": (lambda: [1.0], ValueError),
}


def same(a, b):
    """Equal entries: Values by identity, numbers as plain floats with the same bits."""
    if isinstance(b, Value):
        return a is b
    return type(a) is float and struct.pack("<d", a) == struct.pack("<d", float(b))


@given(st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=6),
       st.sampled_from(sorted(ODD)), st.data(), st.sampled_from([list, tuple]))
def test_an_odd_entry_anywhere_is_read_or_named_as_before(X, kind, data, container):
    i = data.draw(st.integers(0, len(X) - 1))
    j = data.draw(st.integers(0, 2))
    make, error = ODD[kind]
    X[i][j] = make()
    X = [container(r) for r in X]
    if error is not None:
        with pytest.raises(error, match=rf"X\[{i}\]\[{j}\]"):
            arrays.rows(X)
        return
    out = arrays.rows(X)
    assert [len(r) for r in out] == [3] * len(X)
    assert all(same(a, b) for r, s in zip(out, X) for a, b in zip(r, s))


@given(st.lists(st.lists(finite, min_size=2, max_size=2), min_size=1, max_size=5))
def test_rows_of_floats_are_new_lists_of_the_same_floats(X):
    out = arrays.rows(X)
    assert out == X and all(a is not b for a, b in zip(out, X))
    assert all(x is y for a, b in zip(out, X) for x, y in zip(a, b))  # nothing re-boxed
    first = out[0][0]
    X[0][0] = 123.5  # the user's data changed afterwards: the rows read before are kept
    assert out[0][0] is first


def test_finite_entries_whose_sum_overflows_are_accepted():
    X = [[1e308, 1e308, -0.0], [1.0, 2.0, 3.0]]
    out = arrays.rows(X)
    assert out == X and struct.pack("<d", out[0][2]) == struct.pack("<d", -0.0)


def test_the_first_non_finite_entry_of_a_row_is_the_one_named():
    with pytest.raises(ValueError, match=r"X\[1\]\[1\] is nan"):
        arrays.rows([[0.0, 1.0, 2.0], [1e308, math.nan, math.inf]])


@pytest.mark.parametrize("row", [[1.0, 2.0], (1.0, 2.0), array("d", [1.0, 2.0]),
                                 array("f", [1.0, 2.0]), np.array([1.0, 2.0]),
                                 np.array([1, 2], dtype=np.int8)])
def test_ragged_rows_are_named_whatever_the_row_type(row):
    with pytest.raises(ValueError, match="ragged: row 1 has 2 features, row 0 has 3"):
        arrays.rows([[0.0, 1.0, 2.0], row])
    out = arrays.rows([row, [3.0, 4.0]])
    assert out == [[1.0, 2.0], [3.0, 4.0]] and all(type(v) is float for v in out[0])


def test_int_targets_are_copied_and_odd_ones_converted():
    y = [0, 2, 1]
    got = arrays.targets(y)
    assert got == y and got is not y
    assert arrays.targets([np.int64(1), True, 2.5, "a"]) == [1, 1, 2.5, "a"]
    assert [type(t) for t in arrays.targets([np.int64(1), True])] == [int, int]


@pytest.mark.parametrize("make", [list, tuple, lambda r: np.array(r, dtype=object)])
def test_a_float_subclass_is_read_through_its_own_float(make):
    X = [make([Doubled(0.75), 1.0]), make([2.0, 3.0])]
    assert arrays.rows(X) == [[1.5, 1.0], [2.0, 3.0]]
    with pytest.raises(ValueError, match=r"X\[1\]\[0\] is nan"):
        arrays.rows([make([1.0, 2.0]), make([NotANumber(1.0), 3.0])])
