"""Transforms composed with transforms, to any depth: the perturbation-confusion examples from
the literature, nested compositions of random expressions against the non-nested tape
(`grad(create_graph=True)` twice), sympy and torch.func (float64), and Hessians by every route.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import sympy as sp
import torch
import torch.func as tf
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import Value, grad, hessian, hvp, jacfwd, jacrev, jvp, value_and_grad
from autograd_lite.engine import func
from autograd_lite.testing import Expression, expressions

from ..differential import TORCH
from ..oracles import close, exact, sympy_hessian, to_sympy

DT = torch.float64


def _t(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=DT)


# ---- the literature's examples and the classic perturbation-confusion cases ---------------------
def test_nesting_examples_give_jax_answers() -> None:
    assert value_and_grad(lambda x: x * value_and_grad(lambda y: x * y)(2.0)[1])(1.0) == (1.0, 2.0)
    assert jvp(lambda x: x * jvp(lambda y: y * x, [1.0], [1.0])[1], [3.0], [1.0]) == (9.0, 6.0)


# d/dx [x * d/dy (x + y) |_{y=1}] at x=1 = 1 (Siskind and Pearlmutter 2005); a naive nesting
# that confuses the two perturbations answers 2. Every pairing of the two modes.
def _d_grad(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return func.grad(f)


def _d_jvp(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda x: func.jvp(f, (x,), (1.0,))[1]


def _d_vjp(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda x: func.vjp(f, x)[1](1.0)[0]


def _d_fwd(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return func.jacfwd(f)


def _d_old(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda x: value_and_grad(f)(x)[1]


DERIVATIVES = {"grad": _d_grad, "jvp": _d_jvp, "vjp": _d_vjp, "jacfwd": _d_fwd,
               "old value_and_grad": _d_old, "jacrev": lambda f: func.jacrev(f)}


@pytest.mark.parametrize("outer", DERIVATIVES)
@pytest.mark.parametrize("inner", DERIVATIVES)
def test_siskind_pearlmutter_perturbation_confusion(outer: str, inner: str) -> None:
    D, d = DERIVATIVES[outer], DERIVATIVES[inner]
    assert D(lambda x: x * d(lambda y: x + y)(1.0))(1.0) == 1.0
    # d/dx [x * d/dy (x y)] = d/dx x^2 = 2x; with y at the outer x itself: still 2x
    assert D(lambda x: x * d(lambda y: x * y)(2.0))(3.0) == 6.0
    assert D(lambda x: x * d(lambda y: x * y)(x))(3.0) == 6.0
    # the inner variable at the outer one, its own derivative: d/dx [x * 2x] = 4x
    assert D(lambda x: x * d(lambda y: y * y)(x))(3.0) == 12.0
    # the closure alone: d/dx d/dy (x y) = 1
    assert D(lambda x: d(lambda y: x * y)(x))(3.0) == 1.0


def test_three_levels_keep_their_perturbations_apart() -> None:
    # d/dx [ x * d/dy [ y * d/dz (x y z) ] ] = d/dx [x * d/dy (x y^2)] = d/dx [2 x^2 y] at y=1
    def inner(x: Any) -> Any:
        return func.grad(lambda y: y * func.grad(lambda z: x * y * z)(5.0))(1.0)

    assert func.grad(lambda x: x * inner(x))(3.0) == 12.0   # d/dx 2x^2 = 4x
    assert jvp(lambda x: x * inner(x), [3.0], [1.0]) == (18.0, 12.0)


def test_torch_func_agrees_on_the_confusion_examples() -> None:
    def torch_case(x: torch.Tensor) -> torch.Tensor:
        return x * tf.grad(lambda y: x + y)(_t(1.0))

    def ours(x: Any) -> Any:
        return x * func.grad(lambda y: x + y)(1.0)

    assert func.grad(ours)(1.0) == tf.grad(torch_case)(_t(1.0)).item() == 1.0
    nested = tf.jvp(lambda x: x * tf.jvp(lambda y: y * x, (_t(1.0),), (_t(1.0),))[1],
                    (_t(3.0),), (_t(1.0),))
    assert jvp(lambda x: x * jvp(lambda y: y * x, [1.0], [1.0])[1], [3.0], [1.0]) == (
        nested[0].item(), nested[1].item())


def test_depth_four_derivatives_of_every_mode_agree_with_sympy() -> None:
    f = lambda x: (x * x).sin() * x.exp()   # noqa: E731
    s = sp.Symbol("s")
    F = sp.sin(s * s) * sp.exp(s)
    for order in range(1, 5):
        want = float(sp.diff(F, s, order).evalf(40, subs={s: sp.Float(0.7, 50)}))
        for D in DERIVATIVES.values():
            g: Callable[[Any], Any] = f
            for _ in range(order):
                g = D(g)
            assert close(g(0.7), want, scale=abs(want)), (order, D)


# ---- random nested compositions ------------------------------------------------------------
SMOOTH = [al.PRIMITIVES[n] for n in ("add", "mul", "neg", "tanh", "sin", "cos", "sigmoid",
                                     "erf")]


def _naive_tape(e1: Expression, e2: Expression, x0: float, c: float) -> float:
    """The non-nested equivalent: one tape, grad(create_graph=True) for the inner derivative."""
    x, y = Value(x0), Value(c)
    (h,) = grad(e2(x, y), [y], create_graph=True, materialize_grads=True)
    (d,) = grad(e1(x, h), [x], allow_unused=True, materialize_grads=True)
    return float(d)


def _sympy_nested(e1: Expression, e2: Expression, x0: float, c: float) -> float:
    (x_0, x_1), E1 = to_sympy(e1)
    _, E2 = to_sympy(e2)
    a, b = sp.symbols("a b", real=True)
    inner = sp.diff(E2.subs({x_0: a, x_1: b}, simultaneous=True), b).subs(b, sp.Float(c, 50))
    outer = E1.subs({x_0: a, x_1: inner}, simultaneous=True)
    return exact(sp.diff(outer, a), [a], [x0])


def _torch_nested(e1: Expression, e2: Expression, x0: float, c: float) -> float:
    def outer(x: torch.Tensor) -> torch.Tensor:
        h = tf.grad(lambda y: e2.evaluate([x, y], TORCH))(_t(c))
        return e1.evaluate([x, h], TORCH)

    return float(tf.grad(outer)(_t(x0)))


@given(expressions(n_inputs=2, n_nodes=(1, 4), primitives=SMOOTH),
       expressions(n_inputs=2, n_nodes=(1, 5)), st.sampled_from(["grad", "jvp", "vjp"]),
       st.sampled_from(["grad", "jvp", "jacrev"]))
def test_closure_over_the_outer_input_matches_tape_sympy_and_torch(
        e1: Expression, e2: Expression, inner: str, outer: str) -> None:
    # g(x) = e1(x, d/dy e2(x, y) at y=c): the inner derivative closes over the outer x.
    x0, c = e2.inputs
    d_in, d_out = DERIVATIVES[inner], DERIVATIVES[outer]
    got = d_out(lambda x: e1(x, d_in(lambda y: e2(x, y))(c)))(x0)
    tape = _naive_tape(e1, e2, x0, c)
    want = _sympy_nested(e1, e2, x0, c)
    assert close(got, tape, scale=abs(tape))
    assert close(got, want, scale=abs(want))
    torch_got = _torch_nested(e1, e2, x0, c)
    assert math.isclose(got, torch_got, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, abs(want)))


def _tape_hessian(e: Expression) -> list[list[float]]:
    xs = [Value(x) for x in e.inputs]
    first = grad(e(*xs), xs, create_graph=True, materialize_grads=True)
    return [[float(h) for h in grad(g, xs, allow_unused=True, materialize_grads=True)]
            for g in first]


def _assert_matrix_close(got: Any, want: list[list[float]], scale: float) -> None:
    for row_g, row_w in zip(got, want, strict=True):
        for g, w in zip(row_g, row_w, strict=True):
            assert math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-9 * scale), (got, want)


@given(expressions(n_inputs=(1, 3), n_nodes=(1, 6)))
def test_hessians_by_every_route_agree(e: Expression) -> None:
    n = len(e.inputs)
    nums = tuple(range(n))
    want = sympy_hessian(e)
    scale = 1 + sum(abs(x) for row in want for x in row)
    routes = {
        "tape": _tape_hessian(e),
        "hessian": hessian(e, e.inputs),
        "func.hessian": func.hessian(e, argnums=nums)(*e.inputs),
        "fwd-over-rev": func.jacfwd(func.jacrev(e, argnums=nums), argnums=nums)(*e.inputs),
        "rev-over-fwd": func.jacrev(func.jacfwd(e, argnums=nums), argnums=nums)(*e.inputs),
        "rev-over-rev": func.jacrev(func.jacrev(e, argnums=nums), argnums=nums)(*e.inputs),
        "fwd-over-fwd": func.jacfwd(func.jacfwd(e, argnums=nums), argnums=nums)(*e.inputs),
        "old jacfwd(jacrev)": jacfwd(jacrev(e))(*e.inputs),
    }
    torch_h = tf.hessian(lambda *xs: e.evaluate(xs, TORCH), argnums=nums)(
        *[_t(x) for x in e.inputs])
    routes["torch.func"] = [[float(h) for h in row] for row in torch_h]
    for name, h in routes.items():
        assert len(h) == n, name
        _assert_matrix_close(h, want, scale)


@given(expressions(n_inputs=(1, 3), n_nodes=(1, 6)), st.data())
def test_hvp_forward_over_reverse_and_reverse_over_forward(e: Expression,
                                                           data: st.DataObject) -> None:
    n = len(e.inputs)
    v = [data.draw(st.sampled_from([-1.0, 0.5, 2.0])) for _ in range(n)]
    want = [sum(h * vj for h, vj in zip(row, v)) for row in sympy_hessian(e)]
    nums = tuple(range(n))
    # forward over reverse: jvp of the gradient; reverse over forward: grad of the jvp
    fwd_rev = func.jvp(func.grad(e, argnums=nums), tuple(e.inputs), tuple(v))[1]
    rev_fwd = func.grad(lambda *xs: func.jvp(e, xs, tuple(v))[1], argnums=nums)(*e.inputs)
    old = [hvp(e, e.inputs, v), hvp(e, e.inputs, v, mode="fwd-rev")]
    scale = (1 + sum(map(abs, want))) * (1 + sum(map(abs, v)))
    for got in (fwd_rev, rev_fwd, *old):
        for g, w in zip(got, want, strict=True):
            assert math.isclose(g, w, rel_tol=1e-8, abs_tol=1e-9 * scale)


# ---- conventions: JAX / torch.func ---------------------------------------------------------
def test_func_conventions_match_torch_func() -> None:
    def f(x: Any, y: Any, scale: float = 1.0) -> Any:
        return (x * y).sin() * scale + x * x

    def tf_f(x: torch.Tensor, y: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return torch.sin(x * y) * scale + x * x

    args, targs = (0.4, -1.3), (_t(0.4), _t(-1.3))
    assert func.grad(f)(*args, scale=2.0) == pytest.approx(
        tf.grad(tf_f)(*targs, scale=2.0).item(), rel=1e-15)
    gx, gy = func.grad(f, argnums=(0, 1))(*args)
    tx, ty = tf.grad(tf_f, argnums=(0, 1))(*targs)
    assert (gx, gy) == pytest.approx((tx.item(), ty.item()), rel=1e-15)
    g, aux = func.grad(lambda x: (x * x, {"x": x, "n": 3}), has_aux=True)(1.5)
    assert g == 3.0 and aux == {"x": 1.5, "n": 3}      # aux Values read as floats at the top
    (value, aux), g = func.value_and_grad(lambda x: (x.exp(), x + 1), has_aux=True)(0.0)
    assert (value, aux, g) == (1.0, 1.0, 1.0)
    h = func.hessian(f, argnums=(0, 1))(*args)
    th = tf.hessian(tf_f, argnums=(0, 1))(*targs)
    assert [float(v) for row in h for v in row] == pytest.approx(
        [float(v) for row in th for v in row], rel=1e-13)


def test_jacobian_layouts_follow_jax() -> None:
    def f(x: Any, y: Any) -> Any:
        return [x * y, x + y]

    def tf_f(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (x * y, x + y)

    for ours, theirs in ((func.jacfwd, tf.jacfwd), (func.jacrev, tf.jacrev)):
        assert ours(f)(2.0, 3.0) == [3.0, 1.0]                    # argnums=0: per output
        assert ours(f, argnums=(0, 1))(2.0, 3.0) == [(3.0, 2.0), (1.0, 1.0)]
        t = theirs(tf_f, argnums=(0, 1))(_t(2.0), _t(3.0))
        assert [tuple(float(v) for v in row) for row in t] == [(3.0, 2.0), (1.0, 1.0)]
        # a list argument: the gradient has its structure
        assert ours(lambda p: p[0] * p[1])([2.0, 3.0]) == [3.0, 2.0]


def test_vjp_and_jvp_with_pytrees_and_aux() -> None:
    out, vjp_fn = func.vjp(lambda x, y: {"s": x * y, "d": x - y}, 2.0, 5.0)
    assert out == {"s": 10.0, "d": -3.0}
    assert vjp_fn({"s": 1.0, "d": 2.0}) == (5.0 + 2.0, 2.0 - 2.0)
    value, tangent, aux = func.jvp(lambda p: (p[0] * p[1], "aux"), ([2.0, 3.0],), ([1.0, 0.0],),
                                   has_aux=True)
    assert (value, tangent, aux) == (6.0, 3.0, "aux")
    with pytest.raises(ValueError, match="cotangent"):
        vjp_fn([1.0])
    with pytest.raises(TypeError, match="tuple or list"):
        func.jvp(lambda x: x, 1.0, 1.0)  # type: ignore[arg-type]


def test_vjp_fn_is_differentiable_in_its_cotangent() -> None:
    _, vjp_fn = func.vjp(lambda x: x.sin(), 0.3)
    # d/dc [c cos(0.3)] = cos(0.3), the function of c being traced by the outer grad
    assert func.grad(lambda c: vjp_fn(c)[0])(2.0) == math.cos(0.3)


def test_values_given_at_the_top_stay_connected_as_in_torch_func() -> None:
    x = Value(0.8)
    g = func.grad(lambda y: y * y * y)(x)           # 3x^2, a Value over x
    assert isinstance(g, Value) and g.data == pytest.approx(3 * 0.64)
    (gg,) = grad(g, [x])
    t = _t(0.8).requires_grad_()
    (tg,) = torch.autograd.grad(tf.grad(lambda y: y ** 3)(t), [t])
    assert gg == pytest.approx(tg.item(), rel=1e-15) == 6 * 0.8
    assert x.grad == 0.0


def test_constant_output_has_zero_derivative_as_in_jax() -> None:
    assert func.grad(lambda x: 3.0)(1.0) == 0.0
    assert func.jvp(lambda x: 3.0, (1.0,), (1.0,)) == (3.0, 0.0)
    assert func.jacrev(lambda x, y: [x, 2.0], argnums=(0, 1))(1.0, 2.0) == [(1.0, 0.0),
                                                                              (0.0, 0.0)]


@pytest.mark.parametrize("jac", [jacfwd, jacrev, func.jacfwd, func.jacrev, func.grad,
                                 func.value_and_grad, func.hessian, value_and_grad])
def test_empty_argnums_is_refused_as_jax_and_torch_func_do(jac: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match="argnums must be non-empty"):
        jac(lambda x, y: x * y, argnums=())(2.0, 3.0)
    with pytest.raises(IndexError, match="out of range"):
        jac(lambda x, y: x * y, argnums=2)(2.0, 3.0)
    with pytest.raises(ValueError, match="out of range"):   # JAX's type, and IndexError's
        jac(lambda x, y: x * y, argnums=-3)(2.0, 3.0)
    with pytest.raises(TypeError, match="argnums"):
        jac(lambda x, y: x * y, argnums="0")(2.0, 3.0)


def test_bad_outputs_and_aux_say_what_was_wrong() -> None:
    with pytest.raises(TypeError, match="one scalar"):
        func.grad(lambda x: [x, x])(1.0)
    with pytest.raises(TypeError, match="must return a Value"):
        func.grad(lambda x: "x")(1.0)
    with pytest.raises(TypeError, match="pair"):
        func.grad(lambda x: x, has_aux=True)(1.0)
    with pytest.raises(TypeError, match="real number"):
        func.grad(lambda x: x)("1.0")


def test_naive_nesting_is_wrong_and_the_lifted_variable_is_right() -> None:
    # What the docs page draws: the inner derivative taken w.r.t. the outer node itself mixes
    # the closure's dependence in (2); w.r.t. its own variable over it, it does not (1).
    x = Value(1.0, label="x")
    (naive,) = grad(x + x, [x], create_graph=True)       # y := x, the same node
    (outer_naive,) = grad(x * naive, [x])
    y = al.engine.transforms.LIFT.apply1(x)
    (inner,) = grad(x + y, [y], create_graph=True)
    (outer,) = grad(x * inner, [x])
    assert (outer_naive, outer) == (2.0, 1.0)


# ---- the docs page's pictures --------------------------------------------------------------
def _texts(svg: str) -> list[str]:
    import re

    return sorted(re.findall(r"<text[^>]*>([^<]*)</text>", svg))


def test_nested_transforms_pictures_are_current() -> None:
    # docs/nested-transforms.md shows SVGs drawn by scripts/nested_pictures.py; drawn again
    # now, they must show the same nodes and numbers (layout may differ between Graphviz builds).
    import importlib.util
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent.parent
    spec = importlib.util.spec_from_file_location("nested_pictures",
                                                  root / "scripts" / "nested_pictures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graphs = module.pictures()
    assert set(graphs) == {"nested-naive", "nested-levels", "nested-connected"}
    sources = {name: g.source for name, g in graphs.items()}
    assert "grad 2.0000" in sources["nested-naive"]          # the naive inner derivative
    assert "lift" in sources["nested-levels"] and "grad 1.0000" in sources["nested-levels"]
    assert "grad 6.0000" in sources["nested-connected"]      # d/dx x^2 at 3
    if shutil.which("dot") is None:
        pytest.skip("Graphviz dot is not installed: the SVG comparison needs it")
    for name, g in graphs.items():
        fresh = g.pipe(format="svg").decode()
        stored = (root / "docs" / "images" / f"{name}.svg").read_text()
        assert _texts(fresh) == _texts(stored), f"run scripts/nested_pictures.py ({name})"


def test_numpy_arrays_in_and_out_as_jax_with_numpy_code() -> None:
    np = pytest.importorskip("numpy")

    def f(x: Any) -> Any:   # JAX-style numpy code, run on object arrays of Values
        return np.sum(np.tanh(x) * x) + x[0] * x[2]

    def tf_f(x: torch.Tensor) -> torch.Tensor:
        return torch.sum(torch.tanh(x) * x) + x[0] * x[2]

    a = np.array([0.1, -0.4, 0.7])
    t = torch.tensor(a, dtype=DT)
    g = func.grad(f)(a)
    assert isinstance(g, np.ndarray) and g.dtype == float and g.shape == (3,)
    assert g == pytest.approx(tf.grad(tf_f)(t).numpy(), rel=1e-14)
    h = func.hessian(f)(a)
    assert h.shape == (3, 3)
    assert h.ravel() == pytest.approx(tf.hessian(tf_f)(t).numpy().ravel(), rel=1e-13, abs=1e-15)
    jac = func.jacrev(lambda x: np.exp(x) * x[1])(a.reshape(3, 1))
    assert jac.shape == (3, 1, 3, 1)                     # output's shape, then the input's
    want = tf.jacrev(lambda x: torch.exp(x) * x[1])(t.reshape(3, 1)).numpy()
    assert jac.ravel() == pytest.approx(want.ravel(), rel=1e-14)
    value, tangent = func.jvp(np.exp, (a,), (np.ones(3),))
    assert value.tolist() == tangent.tolist() == np.exp(a).tolist()




@given(expressions(n_inputs=1, n_nodes=(1, 5)),
       st.lists(st.sampled_from(sorted(DERIVATIVES)), min_size=1, max_size=3))
def test_random_towers_of_transforms_match_the_tape_and_sympy(e: Expression,
                                                              tower: list[str]) -> None:
    # D1(D2(...Dk(f))) with each D any transform: the k-th derivative, whatever the mix.
    g: Callable[[Any], Any] = e
    for name in tower:
        g = DERIVATIVES[name](g)
    (x0,) = e.inputs
    got = g(x0)
    x = Value(x0)
    d: Any = e(x)
    for _ in tower:   # the non-nested equivalent: grad(create_graph=True) again and again
        (d,) = grad(d, [x], create_graph=True, allow_unused=True, materialize_grads=True)
    (s,), expr = to_sympy(e)
    want = exact(sp.diff(expr, s, len(tower)), [s], [x0])
    assert close(got, float(d), scale=abs(want))
    assert close(got, want, scale=abs(want))


def test_the_original_transforms_nest_inside_func_and_each_other() -> None:
    # d/dx of the Hessian of y -> x y^3 at y = 1: d/dx 6 x y = 6
    assert func.grad(lambda x: hessian(lambda y: x * y ** 3, [1.0])[0][0])(2.0) == 6.0
    # d/dx (H v) for H of y -> x y^2 (2x) and v = 3: 6, by both hvp modes
    for mode in ("rev-rev", "fwd-rev"):
        assert func.grad(lambda x, m=mode: hvp(lambda y: x * y * y, [1.0], [3.0], mode=m)[0])(
            5.0) == 6.0
    # jacfwd/jacrev of a function whose inner Jacobian closes over the outer input
    inner = lambda x: jacrev(lambda y, z: [x * y * z, y + z])(x, 2.0)   # noqa: E731
    assert jacfwd(lambda x: inner(x)[0])(3.0) == [[2.0], [6.0]]         # d/dx [x z, x y] at y=x
    assert jvp(lambda x: jacfwd(lambda y: x * y.sin())(0.0)[0], [2.0], [1.0]) == (2.0, 1.0)
