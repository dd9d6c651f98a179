"""The drop-in's micrograd unary methods (tanh, exp, relu) against torch float64, forward and
gradient, as micrograd's later test file checks them (tests/micrograd_upstream holds the 0.1.0
file, which has no unary check), with micrograd's `_op` and `_prev` on the result."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite.micrograd.engine import Value

torch = pytest.importorskip("torch")

METHODS = {"tanh": "tanh", "exp": "exp", "relu": "ReLU"}


@pytest.mark.parametrize("method", sorted(METHODS))
@given(x=st.floats(-30.0, 30.0))
def test_unary_method_matches_torch_float64(method: str, x: float) -> None:
    v = Value(x)
    y = getattr(v, method)()
    y.backward()
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ty = getattr(t, method)()
    ty.backward()
    assert type(y) is Value and y._op == METHODS[method] and y._prev == {v}
    assert math.isclose(y.data, ty.item(), rel_tol=4e-16, abs_tol=1e-300)
    assert t.grad is not None
    # tanh's 1 - y*y cancels for large |x| (torch's too, rounded differently): absolute
    # closeness there, as micrograd's own check (1e-6) has it
    assert math.isclose(v.grad, t.grad.item(), rel_tol=4e-16, abs_tol=1e-15)
