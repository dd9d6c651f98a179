"""Every primitive in the table, found by iterating it, checked at first and second order against
central differences (gradcheck) and against sympy's exact derivatives."""

from __future__ import annotations

import math

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import PRIMITIVES, Value, grad
from autograd_lite.testing import PARAMETERS, gradcheck, gradgradcheck, primitive_inputs

from ..oracles import ORACLES, close, exact, symbolic, symbols

NAMES = sorted(PRIMITIVES)


def test_every_primitive_has_an_oracle_and_parameter_strategy() -> None:
    # A primitive added to the table without an oracle fails here, so it cannot ship untested.
    assert ORACLES == set(PRIMITIVES)
    for name, prim in PRIMITIVES.items():
        if prim.nparams:
            assert name in PARAMETERS, f"{name} has parameters but no safe parameter strategy"


def _fn(prim: al.Primitive, params: tuple[float, ...]):
    return lambda *vs: prim(*vs, *params)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_first_order_matches_finite_differences(name: str, data: st.DataObject) -> None:
    prim = PRIMITIVES[name]
    args, params = data.draw(primitive_inputs(prim))
    assert gradcheck(_fn(prim, params), args)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_second_order_matches_finite_differences(name: str, data: st.DataObject) -> None:
    prim = PRIMITIVES[name]
    args, params = data.draw(primitive_inputs(prim))
    assert gradgradcheck(_fn(prim, params), args)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_value_and_derivatives_match_sympy(name: str, data: st.DataObject) -> None:
    prim = PRIMITIVES[name]
    args, params = data.draw(primitive_inputs(prim))
    syms = symbols(len(args))
    expr = symbolic(name, syms, args, params)
    xs = [Value(a) for a in args]
    out = prim(*xs, *params)
    assert close(out.data, exact(expr, syms, args))
    firsts = grad(out, xs, create_graph=True, materialize_grads=True)
    for i, s in enumerate(syms):
        d = sp.diff(expr, s)
        assert close(float(firsts[i]), exact(d, syms, args)), (name, i, args, params)
        seconds = grad(firsts[i], xs, allow_unused=True, materialize_grads=True)
        for j, t in enumerate(syms):
            want = exact(sp.diff(d, t), syms, args)
            assert close(float(seconds[j]), want, scale=abs(want)), (name, i, j, args, params)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_float_call_equals_value_call(name: str, data: st.DataObject) -> None:
    # Functions take floats too and give the same number as the recorded op.
    prim = PRIMITIVES[name]
    args, params = data.draw(primitive_inputs(prim))
    as_float = prim(*args, *params)
    assert type(as_float) is float
    assert as_float == prim(*[Value(a) for a in args], *params).data


def test_functions_are_exported_and_match_methods() -> None:
    x = 0.7
    for name in ["exp", "log", "log1p", "tanh", "sigmoid", "softplus", "relu", "sin", "cos",
                 "sqrt", "abs"]:
        fn = getattr(al, name)
        method = getattr(Value(x), name)
        assert fn(Value(x)).data == method().data == fn(x)
    assert al.leaky_relu(-2.0, 0.1) == Value(-2.0).leaky_relu(0.1).data == pytest.approx(-0.2)
    assert al.maximum(1.0, 2.0) == Value(1.0).maximum(2.0).data == 2.0
    assert al.minimum(1.0, 2.0) == Value(1.0).minimum(Value(2.0)).data == 1.0


@pytest.mark.parametrize(
    "build, want",
    [
        # Documented subgradients at kinks and ties (PyTorch/JAX conventions).
        (lambda x: x.relu(), 0.0),
        (lambda x: abs(x), 0.0),
        (lambda x: x.leaky_relu(0.2), 0.2),
        (lambda x: x.maximum(0.0), 0.5),
        (lambda x: x.minimum(0.0), 0.5),
    ],
)
def test_subgradients_at_zero(build, want: float) -> None:
    x = Value(0.0)
    build(x).backward()
    assert x.grad == want


def test_sqrt_at_zero_forward_ok_backward_is_inf_as_in_pytorch() -> None:
    x = Value(0.0)
    y = x.sqrt()
    assert y.data == 0.0
    y.backward()
    assert x.grad == math.inf


def test_composed_sugar_uses_primitives() -> None:
    a, b = Value(3.0), Value(4.0)
    d = a / b
    assert d.op.name == "div" and d.parents == (a, b)  # division is a primitive
    s = a - b
    assert s.op.name == "add" and s.parents[1].op.name == "neg"
    assert math.isclose(d.data, 0.75) and s.data == -1.0
    r = 2 - a
    assert r.data == -1.0
    q = 2 / a
    assert math.isclose(q.data, 2 / 3)
    p = 2**a
    assert p.op.name == "rpow" and p.data == 8.0
    q.backward()
    assert math.isclose(a.grad, -2 / 9)
