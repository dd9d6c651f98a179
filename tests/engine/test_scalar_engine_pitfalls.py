"""Regression tests for the known failures of scalar engines, each named after the bug."""

from __future__ import annotations

import gc
import math
import sys

import pytest

import autograd_lite as al
from autograd_lite import Value, grad, topo_order


def test_backward_twice_accumulates_leaves_like_pytorch() -> None:
    # micrograd gives 12 here: its interior gradients are never reset.
    a = Value(2.0)
    c = a * a + 1
    c.backward()
    c.backward()
    assert a.grad == 8.0
    assert c.grad == 1.0  # interior: reset, then this pass's value


def test_self_add_keeps_both_edges() -> None:
    a = Value(3.0)
    b = a + a
    assert b.parents == (a, a)
    b.backward()
    assert a.grad == 2.0


def test_self_mul_keeps_both_edges() -> None:
    a = Value(3.0)
    (a * a).backward()
    assert a.grad == 6.0


def test_diamond_reuse_accumulates() -> None:
    x = Value(1.5)
    u = x * 2.0
    v = x.exp()
    y = u * v + u  # x reaches y along three paths
    y.backward()
    assert math.isclose(x.grad, 2 * math.exp(1.5) + 2 * 1.5 * math.exp(1.5) + 2)


def test_interior_node_reused_by_two_outputs() -> None:
    x = Value(0.5)
    h = x.tanh()
    y1 = h * 3
    y2 = h * h
    y1.backward()
    assert math.isclose(h.grad, 3.0)
    y2.backward()  # h is interior: reset, so it holds d y2 / d h only
    assert math.isclose(h.grad, 2 * math.tanh(0.5))
    assert math.isclose(x.grad, (3 + 2 * math.tanh(0.5)) * (1 - math.tanh(0.5) ** 2))


def test_backward_on_a_leaf_accumulates_seed() -> None:
    x = Value(1.0)
    x.backward()
    x.backward(2.5)
    assert x.grad == 3.5


def test_backward_gradient_seed_scales() -> None:
    x = Value(2.0)
    y = x * x
    y.backward(gradient=0.5)
    assert x.grad == 2.0 and y.grad == 0.5


def test_topological_order_matches_recursive_dfs() -> None:
    # Same order as micrograd's recursive build_topo, without recursion.
    def recursive(root: Value) -> list[Value]:
        seen: set[Value] = set()
        out: list[Value] = []

        def build(v: Value) -> None:
            if v not in seen:
                seen.add(v)
                for p in v.parents:
                    build(p)
                out.append(v)

        build(root)
        return out

    x, w, b = Value(1.0), Value(2.0), Value(3.0)
    n = (x * w + b) * x + (w - b).tanh()
    assert topo_order([n]) == recursive(n)


@pytest.mark.slow
def test_million_node_chain_needs_no_recursion() -> None:
    a, b = Value(0.999999), Value(1e-6)
    y = Value(1.0)
    n = 500_000  # two nodes per step: a million nodes
    for _ in range(n):
        y = y * a + b
    limit = sys.getrecursionlimit()
    y.backward()
    assert sys.getrecursionlimit() == limit
    # d y_n / d b = sum_{k<n} a^k = (1 - a^n) / (1 - a)
    assert math.isclose(b.grad, (1 - 0.999999**n) / (1 - 0.999999), rel_tol=1e-6)
    del y  # freeing a million-deep chain must not crash either


def test_deep_chain_of_unary_ops() -> None:
    x = Value(0.1)
    y = x
    for _ in range(20_000):
        y = y.sin()
    y.backward()
    # derivative of iterated sin is the product of cosines along the way: check by floats
    d, v = 1.0, 0.1
    for _ in range(20_000):
        d *= math.cos(v)
        v = math.sin(v)
    assert math.isclose(x.grad, d, rel_tol=1e-9)


@pytest.mark.parametrize("x", [1000.0, -1000.0, 400.0, -400.0, 745.0, -745.0])
def test_no_overflow_at_large_inputs(x: float) -> None:
    v = Value(x)
    s = v.sigmoid()
    sp = v.softplus()
    t = v.tanh()
    # exp(-|x|) underflows gracefully to tiny or zero; nothing overflows.
    tail = math.exp(-abs(x))
    assert math.isclose(s.data, 1.0 - tail if x > 0 else tail, rel_tol=1e-12)
    assert math.isclose(sp.data, x + tail if x > 0 else tail, rel_tol=1e-12)
    assert t.data == math.copysign(1.0, x)
    (s + sp + t).backward()
    assert math.isfinite(v.grad)


def test_graph_has_no_reference_cycles() -> None:
    gc.collect()
    gc.disable()
    try:
        x = Value(1.0)
        y = x
        for _ in range(100):
            y = (y * 1.01 + x).tanh()
        y.backward()
        gs = grad(y, [x], create_graph=True)
        del y, gs
        assert gc.collect() == 0, "graph memory was held by reference cycles"
    finally:
        gc.enable()


def test_values_hash_and_compare_by_identity() -> None:
    a, b = Value(1.0), Value(1.0)
    assert a != b and a == a
    assert len({a, b, a}) == 2
    assert float(a) == 1.0 and a.item() == 1.0
    assert a < Value(2.0) and a <= 1.0 and a >= 1 and not a > 1.0


def test_interior_grads_shown_after_backward() -> None:
    x = Value(2.0, label="x")
    h = x * 3
    y = h.tanh()
    y.backward()
    assert y.grad == 1.0
    assert math.isclose(h.grad, 1 - math.tanh(6.0) ** 2)


def test_detach_cuts_the_graph() -> None:
    x = Value(2.0, label="x")
    d = (x * x).detach()
    assert d.is_leaf and d.data == 4.0 and d.parents == ()
    (d * x).backward()
    assert x.grad == 4.0


def test_repr_names_data_grad_label_op() -> None:
    x = Value(2.0, label="x")
    assert repr(x) == "Value(data=2.0, grad=0.0, label='x')"
    assert "op='mul'" in repr(x * x)


def test_pow_with_value_exponent_and_number_base() -> None:
    a, b = Value(2.0), Value(3.0)
    y = a**b
    y.backward()
    assert y.data == 8.0 and a.grad == 12.0 and math.isclose(b.grad, 8 * math.log(2))
    c = Value(-2.0)
    z = c**3
    z.backward()
    assert z.data == -8.0 and c.grad == 12.0
    w = Value(3.0)
    (al.exp(w) * 2).backward()
    assert math.isclose(w.grad, 2 * math.exp(3))


def test_negative_infinity_to_a_fractional_power_is_ieee():
    """(-inf) ** p for a non-integer p is C's and torch's value, not a domain error; p = +-0.5
    is a square root of a negative number (torch: nan), which raises as sqrt does."""
    import math

    import pytest

    from autograd_lite import Value

    for p, want in ((-0.75, 0.0), (0.75, math.inf), (-1.5, 0.0), (2.5, math.inf)):
        x = Value(-math.inf)
        y = x ** p
        assert y.data == want == math.pow(-math.inf, p)
    for p in (0.5, -0.5):
        with pytest.raises(ValueError, match="non-integer exponent"):
            Value(-math.inf) ** p
