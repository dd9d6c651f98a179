"""A base made negative after the forward pass (`x.data = -2.0`) gives x ** p's derivative as
a real number, never a complex one: nan where C `pow` and torch give nan."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al

#: exponents p whose p - 1 is not a whole number in floating point (x ** (p - 1) is not real)
_EXPONENTS = st.floats(-3.0, 3.0).filter(lambda p: not (p - 1.0).is_integer())


@given(p=_EXPONENTS, x=st.floats(-5.0, -0.1))
def test_backward_gives_a_real_number(p: float, x: float) -> None:
    a = al.Value(2.0)
    y = a ** p
    a.data = x
    y.backward()
    assert type(a.grad) is float and math.isnan(a.grad)


@given(p=_EXPONENTS, x=st.floats(-5.0, -0.1))
def test_a_value_exponent_gives_real_numbers(p: float, x: float) -> None:
    a, e = al.Value(2.0), al.Value(p)
    y = a ** e
    a.data = x
    y.backward()
    assert type(a.grad) is float and math.isnan(a.grad)
    assert type(e.grad) is float


@pytest.mark.parametrize("p", [1.5, 0.5, -0.5, 2.25])
def test_grad_and_backward_steps_agree_with_backward(p: float) -> None:
    a = al.Value(2.0)
    y = (a ** p) * 3.0
    a.data = -2.0
    (g,) = al.grad(y, [a])
    assert type(g) is float and math.isnan(g)
    steps = list(al.backward_steps(y))
    assert steps and all(not isinstance(getattr(s, "grad", 0.0), complex) for s in steps)
    assert type(a.grad) is float and math.isnan(a.grad)


@given(p=st.floats(-3.0, 3.0), x=st.floats(0.1, 5.0))
def test_a_positive_base_keeps_its_numbers(p: float, x: float) -> None:
    a = al.Value(2.0)
    y = a ** p
    a.data = x
    y.backward()
    want = 0.0 if p == 0.0 else p * x ** (p - 1.0)
    assert a.grad == want or (math.isnan(a.grad) and math.isnan(want))
