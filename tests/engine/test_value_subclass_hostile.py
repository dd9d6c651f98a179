"""Mixing a plain Value with a subclass that overrides the reflected operators (the micrograd
drop-in): Python asks the subclass's reflected method first (`plain - dropin` calls
`dropin.__rsub__(plain)`), and the plain Value must stay a graph operand, never a number."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import Value
from autograd_lite.micrograd.engine import Value as DropIn

MIXED: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": lambda a, b: a ** b,
}
FINITE = st.floats(0.25, 4.0)


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


@pytest.mark.parametrize("name", sorted(MIXED))
@given(x=FINITE, y=FINITE)
def test_a_plain_value_left_of_a_dropin_keeps_its_gradient(name: str, x: float, y: float) -> None:
    f = MIXED[name]
    a, b = Value(x), DropIn(y)
    out = f(a, b)
    out.backward()
    ra, rb = Value(x), Value(y)  # the same expression on plain Values: the reference
    ref = f(ra, rb)
    ref.backward()
    assert bits(out.data) == bits(ref.data)
    assert (bits(a.grad), bits(b.grad)) == (bits(ra.grad), bits(rb.grad))
    assert a.grad != 0.0  # the plain operand was not turned into a constant


@pytest.mark.parametrize("name", sorted(MIXED))
def test_the_plain_left_operand_decides_the_class_and_comes_first(name: str) -> None:
    a, b = Value(3.0), DropIn(2.0)
    out = MIXED[name](a, b)
    assert type(out) is Value
    assert out.parents[0] is a


@pytest.mark.parametrize("number", [2, 2.0], ids=["int", "float"])
def test_numbers_on_the_left_of_a_dropin_still_build_micrographs_graphs(number: float) -> None:
    b = DropIn(2.0)
    for out in (number + b, number * b, number - b, number / b):
        assert type(out) is DropIn
    assert (number + b).parents[0] is b  # micrograd's `other + self` is `self + other`


def test_sum_of_mixed_values_reaches_every_leaf() -> None:
    a, b, c = Value(1.0), DropIn(2.0), Value(3.0)
    out = sum([a, b, c]) - a / b
    out.backward()
    assert (a.grad, b.grad, c.grad) == (1.0 - 1 / 2.0, 1.0 + 1 / 4.0, 1.0)


def test_a_subclass_hashing_by_data_is_refused_where_it_is_defined() -> None:
    # Two nodes with equal data would be one in backward's sets: silently wrong gradients.
    with pytest.raises(TypeError, match="ByData must hash by identity"):
        class ByData(Value):
            __slots__ = ()

            def __hash__(self) -> int:
                return hash(self._d)

    with pytest.raises(TypeError, match="must hash by identity"):
        class EqOnly(Value):  # __eq__ alone makes the class unhashable
            __slots__ = ()

            def __eq__(self, other: object) -> bool:
                return isinstance(other, Value) and self._d == other._d


def test_a_subclass_with_its_own_eq_and_identity_hash_gets_exact_gradients() -> None:
    class EqByData(Value):
        __slots__ = ()
        __hash__ = Value.__hash__

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Value) and self._d == other._d

    a, b, c, d = EqByData(2.0), EqByData(3.0), EqByData(3.0), EqByData(2.0)
    y = a * b + c * d  # a * b and c * d have equal data
    y.backward()
    assert (a.grad, b.grad, c.grad, d.grad) == (3.0, 2.0, 2.0, 3.0)
