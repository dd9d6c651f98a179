"""numpy ufuncs on Values, never silent: every ufunc in the table records nodes with numpy's
value and the right derivative; every other ufunc, method or keyword raises TypeError naming
it; arrays (object arrays of Values included) work elementwise; numpy stays optional."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import Value, grad
from autograd_lite.engine import func
from autograd_lite.engine.numpy_interop import UFUNCS, ValueArray

ORDERINGS = {np.greater, np.greater_equal, np.less, np.less_equal}
DIFFERENTIABLE = [u for u in UFUNCS if u not in ORDERINGS]


def _point(u: np.ufunc) -> tuple[float, ...]:
    return (0.7, 1.3)[:u.nin]


@pytest.mark.parametrize("u", DIFFERENTIABLE, ids=lambda u: u.__name__)
def test_every_mapped_ufunc_records_numpys_value_and_derivative(u: np.ufunc) -> None:
    point = _point(u)
    xs = [Value(x) for x in point]
    out = u(*xs)
    assert isinstance(out, Value) and (not out.is_leaf or u is np.positive)  # +v is v
    assert out.data == pytest.approx(float(u(*point)), rel=1e-15)
    grads = grad(out, xs)
    h = 1e-6
    for i, g in enumerate(grads):
        up = list(point)
        down = list(point)
        up[i] += h
        down[i] -= h
        numeric = (float(u(*up)) - float(u(*down))) / (2 * h)
        assert g == pytest.approx(numeric, rel=1e-6, abs=1e-8), (u.__name__, i)


@pytest.mark.parametrize("u", [u for u in DIFFERENTIABLE if u.nin == 2], ids=lambda u: u.__name__)
def test_mixed_operands_numpy_scalars_and_floats(u: np.ufunc) -> None:
    v = Value(0.7)
    for other in (1.3, np.float64(1.3), np.int64(2)):
        left, right = u(v, other), u(other, v)
        assert isinstance(left, Value) and isinstance(right, Value)
        assert left.data == pytest.approx(float(u(0.7, other)), rel=1e-15)
        assert right.data == pytest.approx(float(u(other, 0.7)), rel=1e-15)


def test_maximum_with_a_constant_records_a_node_relu_like() -> None:
    v, w = Value(-1.5), Value(2.0)
    lo, hi = np.maximum(v, 0.0), np.maximum(w, 0.0)
    assert lo.op is not None and lo.op.name == "maximum" and lo.data == 0.0
    assert grad(lo, [v]) == (0.0,) and grad(hi, [w]) == (1.0,)
    assert grad(np.minimum(w, 0.0), [w]) == (0.0,)
    # inside a transform, too: d/dx max(x, 0)^2 at 3 = 6
    assert func.grad(lambda x: np.maximum(x, 0.0) ** 2)(3.0) == 6.0


def test_orderings_compare_data_like_values_do() -> None:
    v = Value(0.5)
    assert np.greater(v, 0.0) is True and np.less(v, 0.0) is False
    assert np.greater_equal(0.5, v) is True and np.less_equal(v, 0.4) is False


def _unmapped() -> list[np.ufunc]:
    every = {getattr(np, n) for n in dir(np) if isinstance(getattr(np, n), np.ufunc)}
    return sorted(every - set(UFUNCS), key=lambda u: u.__name__)


@pytest.mark.parametrize("u", _unmapped(), ids=lambda u: u.__name__)
def test_every_other_ufunc_raises_naming_itself(u: np.ufunc) -> None:
    args = [Value(0.5)] + [0.5] * (u.nin - 1)
    with pytest.raises(TypeError, match=rf"numpy\.{u.__name__} has no autograd-lite primitive"):
        u(*args)


def test_methods_and_keywords_raise_naming_them() -> None:
    v = Value(1.0)
    with pytest.raises(TypeError, match=r"numpy\.add\.outer"):
        np.add.outer(v, v)
    with pytest.raises(TypeError, match=r"numpy\.add\.reduce"):
        np.add.reduce(v)
    with pytest.raises(TypeError, match="out"):
        np.exp(v, out=np.empty(()))


def test_object_arrays_of_values_work_elementwise() -> None:
    v1, v2 = Value(0.5), Value(-1.0)
    ys = np.exp(np.array([v1, v2], dtype=object))
    assert ys.dtype == object and all(isinstance(y, Value) for y in ys)
    assert [y.data for y in ys] == [math.exp(0.5), math.exp(-1.0)]
    total = ys.sum()
    assert grad(total, [v1, v2]) == (math.exp(0.5), math.exp(-1.0))
    # a float array against a Value broadcasts through the engine, one node per element
    prod = np.multiply(np.array([[1.0, 2.0], [3.0, 4.0]]), v1)
    assert prod.shape == (2, 2) and all(p.op.name == "mul" for p in prod.flat)
    assert grad(prod.sum(), [v1]) == (10.0,)
    assert grad((np.array([1.0, 2.0]) * v2).sum(), [v2]) == (3.0,)
    mixed = np.maximum(np.array([v1, 0.25], dtype=object), Value(0.0))
    assert [m.data for m in mixed] == [0.5, 0.25] and all(m.op.name == "maximum" for m in mixed)


def test_numpy_is_not_imported_by_the_engine() -> None:
    code = ("import sys, autograd_lite as al; x = al.Value(2.0); (x * x).backward(); "
            "al.func.grad(lambda y: y.exp())(1.0); print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "False"


#: numpy has no object loop for float_power (only float and complex ones), so an object array
#: of Values cannot reach the engine there: np.power is the spelling that works.
NO_OBJECT_LOOP = {np.float_power}


@pytest.mark.parametrize("u", [u for u in DIFFERENTIABLE if u not in NO_OBJECT_LOOP],
                         ids=lambda u: u.__name__)
@given(st.lists(st.floats(0.2, 3.0), min_size=2, max_size=2))
def test_every_mapped_ufunc_works_on_object_arrays_as_on_a_value(u: np.ufunc,
                                                                 point: list[float]) -> None:
    # a plain object array: numpy calls the Value method of the ufunc's name (maximum and
    # minimum are numpy's compare-and-pick there, so they need the engine's ValueArray)
    xs = [Value(x) for x in point[:u.nin]]
    one = u(*xs)
    arr = ValueArray if u in (np.maximum, np.minimum) else np.ndarray
    for args in ([np.array([x], dtype=object).view(arr) for x in xs],           # arrays only
                 [np.array([xs[0]], dtype=object).view(arr), *point[1:u.nin]]):  # and a float
        out = u(*args)
        assert isinstance(out, np.ndarray) and out.shape == (1,)
        elem = out[0]
        assert isinstance(elem, Value) and elem.data == pytest.approx(one.data, rel=1e-15)
        assert grad(elem, [xs[0]]) == pytest.approx(grad(one, [xs[0]]), rel=1e-15)


def test_float_power_on_a_value_works_and_object_arrays_are_numpys_refusal() -> None:
    v = Value(0.7)
    assert np.float_power(v, 2.0).data == pytest.approx(0.49)
    with pytest.raises(TypeError, match="float_power"):
        np.float_power(np.array([v], dtype=object), 2.0)


def test_maximum_inside_transforms_records_maximum_nodes_as_jax() -> None:
    # the arrays a transform hands f send their ufuncs through the engine: a tie splits
    # the gradient (JAX: [0.5, 0, 1] and [1.5, 1]); numpy's object loop would pick one side
    g = func.grad(lambda x: np.sum(np.maximum(x, 0.0)))(np.array([0.0, -1.0, 2.0]))
    assert g.tolist() == [0.5, 0.0, 1.0]
    g = func.grad(lambda x: np.sum(np.maximum(x, x * x)))(np.array([1.0, 0.5]))
    assert g.tolist() == [1.5, 1.0]
    g = func.grad(lambda x: np.sum(np.minimum(2.0 * x, 1.0) * x[::-1]))(np.array([0.5, 3.0]))
    assert g.tolist() == [0.5 * 2 * 3.0 + 1.0, 1.0 * 0.0 + 1.0]  # d/dx0, d/dx1
