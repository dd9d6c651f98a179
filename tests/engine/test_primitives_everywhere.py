"""User primitives of every arity, the non-finite policy, division as a primitive, data
reads while tracing, no_grad objects; and a primitive declared once works everywhere."""

from __future__ import annotations

import asyncio
import math
import threading
from fractions import Fraction

import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import AnomalyError, Value, detect_anomaly, grad, no_grad
from autograd_lite.compile.trace import count_data_reads
from autograd_lite.testing import finite_floats, gradcheck, gradgradcheck, primitive_inputs

from ..oracles import close

# ---- 1. user primitives with parameters, every arity ---------------------------------------


def _user_primitive(nargs: int, nparams: int) -> tuple[al.Primitive, sp.Expr, list[sp.Symbol]]:
    """f(x0.., p0..) = sum_i (p-weighted) x_i^2 * sin(x_{i+1}) + p_j * x_0, with its sympy twin."""
    xs = list(sp.symbols(f"x0:{nargs}", real=True))
    ps = list(sp.symbols(f"p0:{nparams}", real=True)) if nparams else []
    scale = 1 + sum(ps)
    expr = sum(scale * xs[i] ** 2 * sp.sin(xs[(i + 1) % nargs]) for i in range(nargs))
    expr = expr + sum(p * xs[0] for p in ps)
    fwd = sp.lambdify(xs + ps, expr, "math")
    partials = []
    for i in range(nargs):
        d = sp.diff(expr, xs[i])
        # Written with operators and autograd_lite functions so it serves Values too.
        partials.append(sp.lambdify(xs + ps, d, {"sin": al.sin, "cos": al.cos}))

    def wrap(d):  # partial signature: (out, *inputs, *params)
        return lambda out, *args: d(*args)

    prim = al.Primitive(f"user_{nargs}_{nparams}", fwd, [wrap(d) for d in partials],
                        nparams=nparams)
    return prim, expr, xs + ps


ARITIES = [(n, k) for n in (1, 2, 3) for k in (0, 1, 2)]


@pytest.mark.parametrize("nargs, nparams", ARITIES)
def test_user_primitive_every_arity_through_every_entry_point(nargs: int, nparams: int) -> None:
    prim, expr, syms = _user_primitive(nargs, nparams)
    point = [0.7, -0.4, 1.3][:nargs]
    params = [3.0, 1.0][:nparams]
    want_grad = [float(sp.diff(expr, s).subs(dict(zip(syms, point + params)))) for s in
                 syms[:nargs]]
    xs = [Value(x) for x in point]
    y = prim(*xs, *params)
    assert y.params == tuple(params)
    assert y.parents == tuple(xs)
    y.backward()
    assert all(close(x.grad, w) for x, w in zip(xs, want_grad))
    fresh = [Value(x) for x in point]
    got = grad(prim(*fresh, *params), fresh)
    assert all(close(g, w) for g, w in zip(got, want_grad))
    f = lambda *vs: prim(*vs, *params)  # noqa: E731
    assert gradcheck(f, point) and gradgradcheck(f, point)
    hess = al.hessian(f, point)
    for i in range(nargs):
        for j in range(nargs):
            want = float(sp.diff(expr, syms[i], syms[j]).subs(dict(zip(syms, point + params))))
            assert close(hess[i][j], want)
    steps = list(prim(*[Value(x) for x in point], *params).backward_steps())
    assert [c.local for c in steps[0].contributions] == pytest.approx(want_grad, rel=1e-12)
    c = al.compile_grad(f, point)
    value, gs = c.value_and_grad(point)
    assert value == y.data and all(close(g, w) for g, w in zip(gs, want_grad))
    _, tangent = al.jvp(f, point, [1.0] * nargs)
    assert close(tangent, sum(want_grad))


def test_user_primitive_params_render_and_step() -> None:
    affine = al.primitive("affine", lambda out, x, a, b: a, nparams=2)(lambda x, a, b: a * x + b)
    y = affine(Value(2.0), 3.0, 1.0)
    assert y.params == (3.0, 1.0) and y.data == 7.0
    assert y.op.label(y.params) == "affine(3, 1)"
    y.backward()
    assert y.parents[0].grad == 3.0


# ---- 3. the non-finite policy ------------------------------------------------------------------


def _torch_grad(f, *xs: float) -> list[float]:
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    f(*ts).backward()
    return [t.grad.item() for t in ts]


def test_relu_mask_wins_over_infinite_sqrt_derivative() -> None:
    x = Value(-1.0)
    al.relu(x).sqrt().backward()
    assert x.grad == 0.0 == _torch_grad(lambda t: torch.relu(t).sqrt(), -1.0)[0]


@pytest.mark.parametrize("build, torch_build", [
    (lambda x: x.sqrt(), lambda t: t.sqrt()),
    (lambda x: x ** 0.5, lambda t: t ** 0.5),
    (lambda x: x ** 1.5 * 0.0 + x.sqrt(), lambda t: t ** 1.5 * 0.0 + t.sqrt()),
])
def test_backward_at_valid_forward_gives_ieee_values_like_torch(build, torch_build) -> None:
    x = Value(0.0)
    build(x).backward()
    assert x.grad == _torch_grad(torch_build, 0.0)[0] == math.inf


def test_anomaly_mode_raises_anomaly_error_not_zero_division() -> None:
    x = Value(0.0)
    y = x.sqrt()
    with detect_anomaly(), pytest.raises(AnomalyError, match="sqrt"):
        y.backward()
    with detect_anomaly(), pytest.raises(AnomalyError, match="sqrt"):
        list(y.backward_steps())


@pytest.mark.parametrize("build, want", [
    (lambda: Value(1e308) * 10, math.inf),
    (lambda: Value(math.inf) - Value(math.inf), math.nan),
    (lambda: Value(1000.0).exp(), math.inf),
    (lambda: Value(10.0) ** 400, math.inf),
    (lambda: Value(-10.0) ** 401, -math.inf),
    (lambda: 2.0 ** Value(5000.0), math.inf),
    (lambda: Value(math.inf).sin(), math.nan),
])
def test_overflow_and_invalid_arithmetic_follow_one_policy(build, want: float) -> None:
    got = build().data
    assert got == want or (math.isnan(got) and math.isnan(want))


@pytest.mark.parametrize("build, op", [
    (lambda: Value(1e308) * 10, "mul"),
    (lambda: Value(1e308) + Value(1e308), "add"),
    (lambda: Value(1000.0).exp(), "exp"),
    (lambda: Value(10.0) ** 400, "powc"),
    (lambda: Value(1e300) / Value(1e-300), "div"),
])
def test_anomaly_mode_names_forward_op_making_non_finite(build, op: str) -> None:
    with detect_anomaly(), pytest.raises(AnomalyError, match=op):
        build()


def test_non_finite_input_propagates_without_anomaly() -> None:
    with detect_anomaly():
        assert (Value(math.inf) * 2).data == math.inf  # not made here: no anomaly


@pytest.mark.parametrize("kink", ["relu", "abs", "maximum", "minimum", "leaky_relu"])
def test_kink_ops_mask_an_infinite_upstream(kink: str) -> None:
    x = Value(0.0) if kink != "maximum" else Value(-1.0)
    z = Value(0.0)
    if kink == "relu":
        y = al.relu(x - 1.0)  # local 0
    elif kink == "abs":
        y = abs(x)  # abs'(0) = 0
    elif kink == "leaky_relu":
        y = al.leaky_relu(x - 1.0, 0.0)
    elif kink == "maximum":
        y = al.maximum(x, z + 1.0)  # x loses
    else:
        y = al.minimum(x + 5.0, z)  # x loses
    out = y.sqrt() if kink != "minimum" else (y * 1.0).sqrt()
    out.backward()
    assert x.grad == 0.0


# ---- 4. division is a primitive -----------------------------------------------------------


@given(finite_floats(1.0, 2.0))
def test_x_over_x_is_one(x: float) -> None:
    assert (Value(x) / x).data == 1.0
    assert (Value(x) / Value(x)).data == 1.0


def test_division_is_correctly_rounded_and_does_not_overflow() -> None:
    assert (Value(49.0) / 49).data == 1.0
    assert (1e-300 / Value(1e-310)).data == 1e-300 / 1e-310
    x = Value(1e-160)
    (x / x).backward()
    assert x.grad == 0.0
    a, b = Value(3.0), Value(7.0)
    (a / b).backward()
    assert a.grad == 1.0 / 7.0 and b.grad == -(3.0 / 7.0) / 7.0


@given(finite_floats(-1e3, 1e3), finite_floats(-1e3, 1e3))
def test_division_matches_torch(a: float, b: float) -> None:
    if b == 0.0:
        with pytest.raises(ZeroDivisionError, match="div"):
            Value(a) / Value(b)
        return
    va, vb = Value(a), Value(b)
    y = va / vb
    y.backward()
    ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, b))
    (ta / tb).backward()
    assert y.data == a / b
    assert va.grad == ta.grad.item() and vb.grad == pytest.approx(tb.grad.item(), rel=1e-15)


# ---- 5. data reads while tracing, per trace ----------------------------------------------------


def test_data_reads_are_counted_for_user_code_only() -> None:
    x = Value(2.0)
    with count_data_reads() as reads:
        y = (x * 3).tanh() / x  # the engine reads data everywhere: not counted
        assert reads.count == 0
        _ = y.data > 0  # a user branch on .data
        assert reads.count == 1
        _ = x < 1.0
        _ = float(x)
        assert reads.count == 3
    assert x.data == 2.0  # plain slot again


def test_another_threads_reads_do_not_count() -> None:
    stop = threading.Event()

    def busy() -> None:
        v = Value(1.0)
        while not stop.is_set():
            _ = v.data > 0 and v < 2.0

    t = threading.Thread(target=busy)
    t.start()
    try:
        for _ in range(5):
            with count_data_reads() as reads:
                x = Value(0.5)
                for _ in range(200):
                    x = (x * 1.01).tanh()
            assert reads.count == 0
    finally:
        stop.set()
        t.join()


def test_compile_warns_on_data_branch() -> None:
    from autograd_lite.compile import DataDependenceWarning

    with pytest.warns(DataDependenceWarning):
        al.compile_grad(lambda x: x * 2 if x.data > 0 else x * 3, [1.0])


# ---- 6. no_grad objects --------------------------------------------------------------------


def test_one_no_grad_object_in_interleaved_tasks() -> None:
    ng = no_grad()

    async def task(delay: float) -> bool:
        with ng:
            await asyncio.sleep(delay)
            inside = al.is_grad_enabled()
            await asyncio.sleep(delay)
        return inside

    async def main() -> list[bool]:
        return list(await asyncio.gather(task(0.01), task(0.005), task(0.0)))

    assert asyncio.run(main()) == [False, False, False]
    assert al.is_grad_enabled()


def test_no_grad_decorates_generators_and_coroutines() -> None:
    @no_grad()
    def gen():
        for _ in range(2):
            yield al.is_grad_enabled()

    assert list(gen()) == [False, False]

    @no_grad()
    async def coro() -> bool:
        await asyncio.sleep(0)
        return al.is_grad_enabled()

    assert asyncio.run(coro()) is False
    assert al.is_grad_enabled()


def test_no_grad_generator_does_not_leak_between_steps() -> None:
    @no_grad()
    def gen():
        yield (Value(1.0) * 2).is_leaf
        yield (Value(1.0) * 2).is_leaf

    g = gen()
    assert next(g) is True
    assert (Value(1.0) * 2).is_leaf is False  # recording is on between the generator's steps
    assert next(g) is True


# ---- small siblings ------------------------------------------------------------------------


def test_format_spec_abs_negative_zero_and_draw_graph_name() -> None:
    assert format(Value(3.14159), ".2f") == "3.14"
    assert f"{Value(2.5):>6}" == "   2.5"
    assert math.copysign(1.0, abs(Value(-0.0)).data) == 1.0
    assert "draw_graph" in al.__all__ and "draw_graph" in dir(al)


def test_hostile_float_subclass_becomes_a_plain_float() -> None:
    class Evil(float):
        def __repr__(self) -> str:
            raise RuntimeError("repr called")

    v = Value(Evil(1.5))
    assert type(v.data) is float
    assert Value(Fraction(1, 4)).data == 0.25


# ---- one entry in the table works everywhere ----------------------------------------


@given(st.data())
def test_erf_declared_once_works_everywhere(data: st.DataObject) -> None:
    (x,), _ = data.draw(primitive_inputs(al.PRIMITIVES["erf"]))
    s = sp.Symbol("x", real=True)
    want1 = float(sp.diff(sp.erf(s), s).subs(s, sp.Float(x, 40)))
    want2 = float(sp.diff(sp.erf(s), s, 2).subs(s, sp.Float(x, 40)))
    v = Value(x)
    y = al.erf(v)
    y.backward()
    assert close(v.grad, want1)
    w = Value(x)
    g1, = grad(al.erf(w), [w], create_graph=True)
    g2, = grad(g1, [w])
    assert close(g2, want2, scale=abs(want2))
    assert close(al.jvp(al.erf, [x], [1.0])[1], want1)
    c = al.compile_grad(al.erf, [x], backend="python")
    assert c.value_and_grad([x]) == (y.data, (v.grad,))


def test_erf_in_pictures_tapes_strategies_and_expressions() -> None:
    from autograd_lite.cli.expression import build
    from autograd_lite.testing import expressions
    from autograd_lite.viz.stepping import tape

    y = build("erf(x * 2)", {"x": 0.3})
    assert y.op is al.PRIMITIVES["erf"]
    assert "erf" in al.draw_graph(y).source
    assert "erf" in str(tape(y))
    seen = []

    @given(expressions(primitives=[al.PRIMITIVES["erf"], al.PRIMITIVES["mul"]]))
    def collect(e) -> None:
        seen.append("erf" in e.used)

    collect()
    assert any(seen)


def test_parameters_by_name_as_pytorch_spells_them() -> None:
    x = Value(-2.0)
    assert al.leaky_relu(x, negative_slope=0.2).data == -0.4
    assert al.leaky_relu(-2.0) == -0.02 and al.leaky_relu(-2.0, 0.3) == -0.6
    affine = al.primitive("affine", lambda out, x, a, b: a, nparams=2)(lambda x, a, b: a * x + b)
    assert affine.param_names == ("a", "b")
    assert affine(Value(2.0), b=1.0, a=3.0).data == 7.0
    with pytest.raises(TypeError, match="unexpected keyword argument 'slope'"):
        al.leaky_relu(x, slope=0.1)
    with pytest.raises(TypeError, match="missing parameter 'a'"):
        affine(x, b=1.0)
    with pytest.raises(TypeError, match="multiple values for 'negative_slope'"):
        al.leaky_relu(x, 0.1, negative_slope=0.2)


def test_backward_takes_pytorchs_keywords() -> None:
    a, b = Value(2.0), Value(3.0)
    y = a * b + a
    y.backward(retain_graph=True)  # accepted: backward never frees a graph
    assert (a.grad, b.grad) == (4.0, 2.0)
    y.backward(inputs=[b])  # only b accumulates, as torch's inputs=
    assert (a.grad, b.grad) == (4.0, 4.0)
    y.backward(2.0, inputs=[a])
    assert a.grad == 12.0
    with pytest.raises(TypeError, match="create_graph"):
        y.backward(create_graph=True)
    ta = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    ty = ta * tb + ta
    ty.backward(retain_graph=True)
    ty.backward(inputs=[tb])
    assert (ta.grad.item(), tb.grad.item()) == (4.0, 4.0)


def test_steps_record_what_leaves_carried_from_before() -> None:
    a, b = Value(2.0), Value(3.0)
    y = a * b
    y.backward()
    steps = {s.node: s for s in y.backward_steps()}  # a second pass: a and b carry 3 and 2
    assert (steps[a].carried, steps[b].carried, steps[y].carried) == (3.0, 2.0, 0.0)
    assert (a.grad, b.grad) == (6.0, 4.0)
    leaf = Value(1.5)
    leaf.grad = 4.0
    (step,) = list(leaf.backward_steps())
    assert step.carried == 4.0 and leaf.grad == 5.0
