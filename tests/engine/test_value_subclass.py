"""A subclass of Value keeps its class through every kind of op: the node is of the class of the
op's first Value operand, numbers are lifted to that class, and the numbers are the engine's."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import PRIMITIVES, Value, no_grad, primitive
from autograd_lite.micrograd.engine import Value as DropIn


class Tagged(Value):
    """A user's subclass with no extra storage, as micrograd's drop-in is."""

    __slots__ = ()


@primitive("fma3", lambda out, a, b, c: b, lambda out, a, b, c: a, lambda out, a, b, c: 1.0)
def fma3(a: float, b: float, c: float) -> float:
    return a * b + c


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b, "mul": lambda a, b: a * b, "sub": lambda a, b: a - b,
    "div": lambda a, b: a / b, "pow": lambda a, b: a ** b,
    "maximum": lambda a, b: a.maximum(b), "minimum": lambda a, b: a.minimum(b),
}
REFLECTED: dict[str, Callable[[Any], Any]] = {
    "radd": lambda a: 2.0 + a, "rmul": lambda a: 2 * a, "rsub": lambda a: 2.0 - a,
    "rdiv": lambda a: 2.0 / a, "rpow": lambda a: 2.0 ** a,
    "maximum(number, v)": lambda a: al.maximum(0.25, a),
}
UNARY: dict[str, Callable[[Any], Any]] = {
    "neg": lambda a: -a, "abs": abs, "pow const": lambda a: a ** 3, "pow int": lambda a: a ** 2,
    "exp2": lambda a: a.exp2(), "log2": lambda a: a.log2(), "log10": lambda a: a.log10(),
    "fabs": lambda a: a.fabs(), "leaky_relu": lambda a: a.leaky_relu(0.2),
    "detach": lambda a: a.detach(), "user primitive (3 inputs)": lambda a: fma3(a, 2.0, a),
}


def unary_primitives() -> list[str]:
    return [name for name, p in PRIMITIVES.items() if p.nargs == 1 and p.function]


def every_node(root: Value) -> list[Value]:
    return al.topo_order([root])


@pytest.mark.parametrize("cls", [Tagged, DropIn])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_keep_the_first_operands_class(cls: type[Value], name: str) -> None:
    a, b = cls(0.75), cls(1.5)
    for other in (b, 1.5, 2):  # a Value of the class, a float, an int
        y = BINARY[name](a, other)
        assert type(y) is cls
        assert all(type(v) is cls for v in every_node(y))  # numbers lifted to the class


@pytest.mark.parametrize("cls", [Tagged, DropIn])
@pytest.mark.parametrize("name", sorted(REFLECTED))
def test_reflected_ops_keep_the_values_class(cls: type[Value], name: str) -> None:
    y = REFLECTED[name](cls(0.75))
    assert type(y) is cls
    assert all(type(v) is cls for v in every_node(y))


@pytest.mark.parametrize("cls", [Tagged, DropIn])
@pytest.mark.parametrize("name", sorted(UNARY) + unary_primitives())
def test_unary_ops_methods_and_functions_keep_the_class(cls: type[Value], name: str) -> None:
    a = cls(0.75)
    fn = UNARY.get(name) or PRIMITIVES[name]
    y = fn(a)
    assert type(y) is cls
    assert all(type(v) is cls for v in every_node(y))
    if name in PRIMITIVES:  # the method of the same name, where Value has one
        method = getattr(a, name, None)
        if method is not None:
            assert type(method()) is cls


@pytest.mark.parametrize("cls", [Tagged, DropIn])
def test_no_grad_and_deepcopy_keep_the_class(cls: type[Value]) -> None:
    a = cls(0.5)
    with no_grad():
        y = (a * 2.0).tanh() + 1.0
    assert type(y) is cls and y.is_leaf
    z = (a * a).exp()
    c = copy.deepcopy(z)
    assert type(c) is cls and all(type(v) is cls for v in every_node(c))


def test_the_first_value_operand_decides_the_class() -> None:
    plain, tagged = Value(1.0), Tagged(2.0)
    assert type(plain + tagged) is Value and type(plain * tagged) is Value
    assert type(tagged + plain) is Tagged and type(tagged / plain) is Tagged
    assert type(al.maximum(plain, tagged)) is Value
    assert type(al.maximum(0.0, tagged)) is Tagged  # a number is not a Value operand
    assert type(plain ** tagged) is Value and type(tagged ** plain) is Tagged


def test_numpy_ufuncs_keep_the_class() -> None:
    np = pytest.importorskip("numpy")
    a = Tagged(0.5)
    for y in (np.exp(a), np.add(a, 1.0), np.maximum(a, 0.0), np.square(a), np.multiply(2.0, a)):
        assert type(y) is Tagged, y
    arr = np.array([Tagged(0.5), Tagged(-1.0)], dtype=object)
    assert all(type(v) is Tagged for v in np.tanh(arr))


@given(st.floats(-2.0, 2.0), st.floats(0.5, 2.0))
def test_a_subclass_computes_the_same_numbers_as_value(x: float, y: float) -> None:
    def f(cls: type[Value]) -> tuple[float, float, float]:
        a, b = cls(x), cls(y)
        out = ((a * b + 1.0).tanh() - a / b + (2.0 - a) ** 2 + b.log() + fma3(a, b, a)).exp2()
        out.backward()
        return out.data, a.grad, b.grad

    assert f(Tagged) == f(Value)  # the same floats, to the bit


def test_dropin_prev_members_are_dropin_values_through_every_op() -> None:
    a, b = DropIn(0.75), DropIn(1.5)
    graphs = [BINARY[n](a, b) for n in BINARY] + [REFLECTED[n](a) for n in REFLECTED]
    graphs += [UNARY[n](a) for n in UNARY] + [PRIMITIVES[n](a) for n in unary_primitives()]
    for y in graphs:
        todo, seen = [y], set()
        while todo:
            v = todo.pop()
            assert type(v) is DropIn, v
            if v not in seen:
                seen.add(v)
                todo.extend(v._prev)


def test_a_user_partial_that_reads_a_number_is_refused_even_inside_a_broad_except() -> None:
    @primitive("hidden_cos", lambda out, x: _guarded_cos(x))
    def hidden_sin(x: float) -> float:
        return math.sin(x)

    assert al.func.grad(hidden_sin)(0.3) == math.cos(0.3)
    with pytest.raises(TypeError, match="partial derivative 0 read a Value's number"):
        al.func.grad(al.func.grad(hidden_sin))(0.3)


def _guarded_cos(x: Any) -> float:
    try:
        return math.cos(x)
    except Exception:  # noqa: BLE001 - the case under test: a partial that swallows errors
        return 0.0
