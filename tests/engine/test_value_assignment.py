"""What users assign and ask of a Value: `.data` checked and converted on assignment, `.grad`
set to None (PyTorch's "no gradient yet"), `bool(v)` the truth of the data, and `grad()` given
something that is not a Value.

Oracles: torch float64 (`bool(tensor)`, gradients after `t.grad = None`) and the engine's own
results on fresh Values (a Value whose data was assigned behaves as one built with that data).
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import Value, grad, no_grad
from autograd_lite.compile.trace import count_data_reads

torch = pytest.importorskip("torch")

finite = st.floats(-1e6, 1e6, allow_nan=False)
anything_real = st.one_of(
    st.floats(allow_nan=True), st.integers(-(2**60), 2**60),
    st.fractions(max_denominator=1000),
)


def _f(x: float) -> Value:
    return (x * x + 1.0).tanh() * x


# ---- .data ------------------------------------------------------------------------------------
@given(anything_real)
def test_assigned_data_is_stored_as_the_float_of_the_number(v):
    x = Value(0.5)
    x.data = v
    assert type(x.data) is float
    want = float(v)
    assert x.data == want or (math.isnan(x.data) and math.isnan(want))


@given(finite, st.integers(-1000, 1000))
def test_a_value_with_assigned_data_computes_as_a_fresh_one(start, n):
    x = Value(start)
    x.data = n  # an int: float arithmetic from here on, as Value(n) would do
    y = _f(x)
    fresh = Value(float(n))
    want = _f(fresh)
    y.backward()
    want.backward()
    assert type(y.data) is float and y.data == want.data
    assert type(x.grad) is float and x.grad == fresh.grad


def test_numpy_scalars_become_floats():
    np = pytest.importorskip("numpy")
    x = Value(1.0)
    for v in (np.float64(0.1), np.float32(0.25), np.int64(3), np.int8(-2)):
        x.data = v
        assert type(x.data) is float and x.data == float(v)


@pytest.mark.parametrize("bad, shown", [
    ("a", "str 'a'"), (True, "bool True"), (None, "NoneType None"), (1 + 2j, "complex"),
    ([1.0], "list [1.0]"), (Value(2.0), "Value(data=2.0"),
])
def test_assigning_a_non_number_is_a_type_error_naming_it(bad, shown):
    x = Value(1.5)
    with pytest.raises(TypeError, match=r"Value\.data must be a real number") as info:
        x.data = bad
    assert shown in str(info.value)
    assert x.data == 1.5  # unchanged


def test_assigning_a_value_suggests_its_data():
    x = Value(1.0)
    with pytest.raises(TypeError, match=r"use its \.data"):
        x.data = Value(2.0)


def test_an_int_too_large_for_a_float_is_an_overflow_error():
    x = Value(1.0)
    with pytest.raises(OverflowError, match="too large for a float"):
        x.data = 10**400


@pytest.mark.parametrize("v", [math.inf, -math.inf, math.nan])
def test_non_finite_assignments_are_kept(v):
    # An optimizer step can make them; the constructor's NaN check guards user input only.
    x = Value(1.0)
    x.data = v
    assert x.data == v or (math.isnan(v) and math.isnan(x.data))


def test_assignment_is_checked_while_data_reads_are_counted():
    x = Value(1.0)
    with count_data_reads() as reads:
        x.data = 3  # converted by the counting property too
        assert type(x.data) is float
        with pytest.raises(TypeError):
            x.data = "a"
    assert reads.count == 1  # the one read of x.data above
    assert type(Value.__dict__["data"]) is property
    x.data = 2
    assert type(x.data) is float


# ---- .grad = None -----------------------------------------------------------------------------
@given(finite, finite)
def test_grad_none_then_backward_matches_torch(a, b):
    x, w = Value(a), Value(b)
    tx = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    for _ in range(2):  # a first pass leaves gradients behind; None then means "none yet"
        y = (x * w + x).tanh() * w
        ty = (tx * tw + tx).tanh() * tw
        x.grad = None
        w.grad = None
        tx.grad = None
        tw.grad = None
        y.backward()
        ty.backward()
        # Near tanh's saturation 1 - y**2 cancels: both libraries' tanh agree to an ulp, so
        # the gradients agree to an ulp of 1 times their factors, (1 + |a|)(1 + |b|)**2.
        tol = 1e-14 * (1 + abs(a)) * (1 + abs(b)) ** 2
        assert x.grad == pytest.approx(tx.grad.item(), rel=1e-12, abs=tol)
        assert w.grad == pytest.approx(tw.grad.item(), rel=1e-12, abs=tol)


def test_grad_none_then_backward_twice_accumulates():
    x = Value(2.0)
    y = x * x + 1
    x.grad = None
    y.backward()
    y.backward()
    assert x.grad == 8.0


def test_grad_none_on_the_root_and_on_an_unused_leaf():
    x, unused = Value(3.0), Value(1.0)
    x.grad = None
    unused.grad = None
    x.backward()  # the root is the leaf itself
    assert x.grad == 1.0
    (x * 2).backward()
    assert x.grad == 3.0
    assert unused.grad is None  # not in the graph: still "no gradient", as in PyTorch


def test_grad_none_with_backward_inputs_and_steps():
    x, w = Value(2.0), Value(-1.5)
    y = (x * w).exp()
    want = grad(y, [x, w])
    x.grad = None
    y.backward(inputs=[x])
    assert x.grad == want[0]
    x.grad = None
    w.grad = None
    steps = list(y.backward_steps())
    assert (x.grad, w.grad) == want
    assert all(s.carried == 0.0 for s in steps)


def test_grad_none_on_an_interior_node_is_reset():
    x = Value(0.3)
    h = x.tanh()
    y = h * h
    h.grad = None
    y.backward()
    assert h.grad == 2 * h.data
    assert x.grad == pytest.approx(2 * h.data * (1 - h.data**2))


# ---- .grad assigned ---------------------------------------------------------------------------
@given(anything_real)
def test_assigned_grad_is_stored_as_the_float_of_the_number(v):
    x = Value(0.5)
    x.grad = v
    assert type(x.grad) is float
    want = float(v)
    assert x.grad == want or (math.isnan(x.grad) and math.isnan(want))


@pytest.mark.parametrize(("bad", "named"), [
    ("a", "str 'a'"), (True, "bool True"), (Value(2.0), "Value"), ([1.0], "list"),
    (1 + 2j, "complex"),
])
def test_assigned_grad_that_is_not_a_real_number_is_a_type_error_naming_it(bad, named):
    x = Value(0.5)
    x.grad = 1.5
    with pytest.raises(TypeError, match=r"Value\.grad must be a real number or None, got "
                       + re.escape(named)):
        x.grad = bad
    assert x.grad == 1.5  # unchanged


def test_assigned_grad_int_and_numpy_accumulate_as_floats():
    np = pytest.importorskip("numpy")
    for start in (3, np.float32(0.25), np.int64(-2), np.float64(1.5)):
        x = Value(2.0)
        x.grad = start
        assert type(x.grad) is float
        (x * x).backward()  # accumulates onto the assigned gradient, in float
        assert type(x.grad) is float and x.grad == float(start) + 4.0


def test_grad_none_is_kept_until_backward():
    x = Value(1.0)
    x.grad = None
    assert x.grad is None
    (x * 3.0).backward()
    assert x.grad == 3.0


def test_grad_too_large_for_a_float_is_an_overflow_error():
    x = Value(1.0)
    with pytest.raises(OverflowError, match=r"Value\.grad"):
        x.grad = 10**400


# ---- bool -------------------------------------------------------------------------------------
@given(st.floats(allow_nan=True))
def test_truth_is_the_datas_as_in_torch(v):
    x = Value(0.0)
    x.data = v
    assert bool(x) is bool(torch.tensor(v, dtype=torch.float64))


def test_if_on_a_value_follows_its_data():
    taken = []
    for v in (Value(0.0), Value(-0.0), Value(1e-300), Value(-2.0), Value(1.0) - 1.0):
        if v:
            taken.append(v.data)
    assert taken == [1e-300, -2.0]


def test_truth_of_a_computed_value_under_no_grad():
    with no_grad():
        assert not Value(3.0) - 3.0
        assert Value(3.0) * 2


def test_truth_is_a_data_read_in_a_trace():
    x = Value(1.0)
    with count_data_reads() as reads:
        bool(x * 0.0)
    assert reads.count == 1


# ---- grad() given numbers -----------------------------------------------------------------------
@pytest.mark.parametrize("outputs, inputs, what, shown", [
    (3.0, None, "outputs", "float 3.0"), ("y", None, "outputs", "str 'y'"),
    (None, None, "outputs", "NoneType None"), (None, 2, "inputs", "int 2"),
])
def test_grad_of_a_plain_number_is_a_clear_type_error(outputs, inputs, what, shown):
    x = Value(1.0)
    out = (x * 2) if outputs is None else outputs
    ins = [x] if inputs is None else inputs
    if outputs is None and inputs is None:
        out = None
    with pytest.raises(TypeError, match=f"grad\\(\\): {what} must be a Value") as info:
        grad(out, ins)
    assert shown in str(info.value)
    assert "not iterable" not in str(info.value)


def test_grad_of_a_list_holding_a_number_names_the_item():
    x = Value(1.0)
    with pytest.raises(TypeError, match=r"outputs\[0\] must be a Value, got float 3.0"):
        grad([3.0], [x])


def test_grad_accepts_tuples_and_generators_of_values():
    x = Value(1.5)
    y = x * x
    assert grad((y,), (v for v in [x])) == (3.0,)
