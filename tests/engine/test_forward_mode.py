"""Forward mode: `jvp` pushes tangents through the recorded graph with the table's
partials. Checked against reverse mode on random graphs, against sympy's directional
derivatives, and forward-over-reverse against the Hessian."""

from __future__ import annotations

import math

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import Value, grad, hessian, hvp, jacfwd, jacrev, jvp
from autograd_lite.testing import expressions, finite_floats

from ..oracles import close, exact, to_sympy


def survey_f(x1: Value, x2: Value) -> Value:
    """Baydin et al. (2018), the AD survey's running example."""
    return x1.log() + x1 * x2 - x2.sin()


def test_ad_survey_example_published_numbers() -> None:
    # Published (Table 2 and 3): f(2, 5) = 11.652, df/dx1 = 5.5, df/dx2 = 1.716.
    value, dx1 = jvp(survey_f, [2.0, 5.0], [1.0, 0.0])
    _, dx2 = jvp(survey_f, [2.0, 5.0], [0.0, 1.0])
    assert round(value, 3) == 11.652 and dx1 == 5.5 and round(dx2, 3) == 1.716
    assert dx2 == 2.0 - math.cos(5.0)


@given(expressions(), st.data())
def test_jvp_equals_gradient_dot_tangent(e, data: st.DataObject) -> None:
    ts = [data.draw(finite_floats(-2.0, 2.0)) for _ in e.inputs]
    value, tangent = jvp(e, e.inputs, ts)
    xs = [Value(x) for x in e.inputs]
    out = e(*xs)
    gs = grad(out, xs, allow_unused=True, materialize_grads=True)
    assert value == out.data
    want = sum(g * t for g, t in zip(gs, ts))
    assert math.isclose(tangent, want, rel_tol=1e-9, abs_tol=1e-9 * (1 + sum(map(abs, gs))))


@given(expressions(n_nodes=(1, 5)), st.data())
def test_jvp_matches_sympy_directional_derivative(e, data: st.DataObject) -> None:
    ts = [data.draw(st.sampled_from([-1.0, 0.5, 1.0, 2.0])) for _ in e.inputs]
    syms, expr = to_sympy(e)
    want = exact(sum(sp.diff(expr, s) * sp.Float(t) for s, t in zip(syms, ts)), syms, e.inputs)
    _, tangent = jvp(e, e.inputs, ts)
    assert close(tangent, want, scale=abs(want))


@given(expressions(n_inputs=(1, 3), n_nodes=(1, 5)), st.data())
def test_forward_over_reverse_equals_hessian_times_vector(e, data: st.DataObject) -> None:
    v = [data.draw(finite_floats(-2.0, 2.0)) for _ in e.inputs]
    h = hessian(e, e.inputs)
    want = [sum(hij * vj for hij, vj in zip(row, v)) for row in h]
    got = hvp(e, e.inputs, v, mode="fwd-rev")
    rev = hvp(e, e.inputs, v)
    for g, r, w in zip(got, rev, want):
        tol = 1e-9 * (1 + sum(abs(x) for row in h for x in row) * (1 + sum(map(abs, v))))
        assert math.isclose(g, w, rel_tol=1e-9, abs_tol=tol)
        assert math.isclose(r, w, rel_tol=1e-9, abs_tol=tol)


def test_jvp_of_a_function_taking_gradients_inside() -> None:
    def gradient_norm(x: Value, y: Value) -> Value:
        f = x * x * y + y.sin()
        gx, gy = grad(f, [x, y], create_graph=True)
        return gx * gx + gy * gy

    point, v = [0.7, -1.2], [1.0, 0.5]
    _, tangent = jvp(gradient_norm, point, v)
    x, y = sp.symbols("x y", real=True)
    f = x * x * y + sp.sin(y)
    norm = sp.diff(f, x) ** 2 + sp.diff(f, y) ** 2
    want = exact(sp.diff(norm, x) * v[0] + sp.diff(norm, y) * v[1], [x, y], point)
    assert close(tangent, want, scale=abs(want))


def test_jacfwd_equals_jacrev_for_vector_functions() -> None:
    def f(a: Value, b: Value, c: Value) -> list[Value]:
        return [a * b, (b + c).tanh(), a.exp() / c, al.erf(a - c)]

    point = [0.3, -0.8, 1.7]
    fwd = jacfwd(f)(*point)
    rev = jacrev(f)(*point)
    assert len(fwd) == 4 and all(len(r) == 3 for r in fwd)
    for rf, rr in zip(fwd, rev):
        assert rf == pytest.approx(rr, rel=1e-12, abs=1e-15)
    assert fwd[0] == [-0.8, 0.3, 0.0]
    assert jacfwd(f, argnums=1)(*point) == [[r[1]] for r in fwd]
    assert jacfwd(survey_f)(2.0, 5.0) == pytest.approx([5.5, 2.0 - math.cos(5.0)])


def test_jvp_works_for_a_user_primitive() -> None:
    cube = al.primitive("cube", lambda out, x: 3 * x**2)(lambda x: x**3)
    assert jvp(lambda x: cube(x).sin(), [1.5], [2.0])[1] == pytest.approx(
        math.cos(1.5**3) * 3 * 1.5**2 * 2.0, rel=1e-14)


def test_jvp_bad_arguments() -> None:
    with pytest.raises(ValueError, match="2 primals but 1 tangents"):
        jvp(survey_f, [1.0, 2.0], [1.0])
    assert jvp(lambda x: 3.0, [1.0], [1.0]) == (3.0, 0.0)  # a constant, as jax.jvp
    with pytest.raises(TypeError, match="must return a Value"):
        jvp(lambda x: "3", [1.0], [1.0])
    with pytest.raises(TypeError, match="real number"):
        jvp(survey_f, [1.0, "x"], [1.0, 1.0])
    with pytest.raises(ValueError, match="mode"):
        hvp(survey_f, [1.0, 2.0], [1.0, 1.0], mode="rev-fwd")
