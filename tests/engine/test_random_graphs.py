"""Random expression graphs from the primitive table: backward and grad against sympy's exact
derivatives (first and second order) and against central differences."""

from __future__ import annotations

from hypothesis import given

from autograd_lite import Value, grad, hessian
from autograd_lite.testing import Expression, expressions, gradcheck

from ..oracles import close, sympy_gradient, sympy_hessian


@given(expressions())
def test_backward_matches_sympy(e: Expression) -> None:
    xs = [Value(x) for x in e.inputs]
    e(*xs).backward()
    want = sympy_gradient(e)
    for i, (x, w) in enumerate(zip(xs, want)):
        assert close(x.grad, w, scale=abs(w)), (str(e), i, x.grad, w)


@given(expressions())
def test_functional_grad_matches_backward_and_leaves_grad_alone(e: Expression) -> None:
    xs = [Value(x) for x in e.inputs]
    out = e(*xs)
    gs = grad(out, xs, materialize_grads=True)
    assert all(x.grad == 0.0 for x in xs)
    out.backward()
    assert list(gs) == [x.grad for x in xs]


@given(expressions(n_nodes=(1, 6)))
def test_hessian_matches_sympy(e: Expression) -> None:
    got = hessian(e, e.inputs)
    want = sympy_hessian(e)
    for i, row in enumerate(want):
        for j, w in enumerate(row):
            assert close(got[i][j], w, scale=abs(w)), (str(e), i, j, got[i][j], w)


@given(expressions())
def test_gradcheck_on_random_graphs(e: Expression) -> None:
    assert gradcheck(e, e.inputs)


@given(expressions(n_inputs=2, n_nodes=(2, 6)))
def test_hessian_is_symmetric(e: Expression) -> None:
    h = hessian(e, e.inputs)
    assert close(h[0][1], h[1][0], scale=abs(h[0][1]))
