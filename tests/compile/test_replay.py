"""Compiled replay (`autograd_lite.compile`) against the interpreter, its reference.

The oracle is the interpreter itself: `grad()` on the graph `f` records at the same inputs.
The compiled sweep mirrors its order, so values and gradients must be equal, not just close.
"""

from __future__ import annotations

import math
import random
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import PRIMITIVES, Value, grad, primitive
from autograd_lite.compile import (
    Compiled,
    DataDependenceWarning,
    GraphChangedError,
    compile_grad,
)
from autograd_lite.testing import expressions, finite_floats

from ..oracles import interpret


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def assert_same(got, want):
    assert len(got[1]) == len(want[1])
    assert same(got[0], want[0]), (got, want)
    for g, w in zip(got[1], want[1]):
        assert same(g, w), (got, want)


def outcome(fn):
    """The result of `fn()`, or (exception type, message) if it raises."""
    try:
        return fn()
    except (ArithmeticError, ValueError) as e:
        return type(e), str(e)


@given(expressions(n_nodes=(1, 12)))
def test_matches_interpreter_on_random_graphs(e):
    c = compile_grad(e, e.inputs)
    assert_same(c.value_and_grad(e.inputs), interpret(e, e.inputs))
    assert same(c.forward(e.inputs), e(*e.inputs))


@given(expressions(n_nodes=(1, 10)), st.lists(finite_floats(-2.0, 2.0), min_size=3, max_size=3))
def test_replay_at_new_inputs_matches_or_raises_like_interpreter(e, new):
    """At other inputs the replay gives the interpreter's numbers, or raises its error."""
    c = compile_grad(e, e.inputs)
    xs = new[: len(e.inputs)]
    got = outcome(lambda: c.value_and_grad(xs))
    want = outcome(lambda: interpret(e, xs))
    if isinstance(want[0], type):
        if not isinstance(got[0], type):
            # Only nodes the output depends on are replayed: the error must be in a dead one.
            assert not all_nodes_live(e)
        else:
            assert got == want
    else:
        assert_same(got, want)


def all_nodes_live(e) -> bool:
    n = len(e.inputs)
    live = {n + len(e.nodes) - 1}
    for k in range(n + len(e.nodes) - 1, n - 1, -1):
        if k in live:
            live.update(i for i in e.nodes[k - n][1] if i >= n)
    return len(live) == len(e.nodes)


def test_every_builtin_primitive_is_compiled_and_matches():
    # One graph per primitive at a point inside its domain (not on a kink or tie).
    points = {"log": 1.3, "log1p": 0.4, "sqrt": 2.2}
    for name, prim in PRIMITIVES.items():
        x0 = points.get(name, 0.7)
        if prim.nargs == 2:
            def f(x, y, prim=prim):
                return prim(x, y + 0.25)
            xs = [x0, 1.1]
        else:
            params = (2.5,) if prim.nparams else ()

            def f(x, prim=prim, params=params):
                return prim(x * 1.0, *params)
            xs = [x0]
        c = compile_grad(f, xs)
        assert_same(c.value_and_grad(xs), interpret(f, xs))
        assert "P[" not in c.source, f"{name} fell back to the generic call"


def test_user_primitive_without_template():
    @primitive("cube", lambda out, x: 3 * x**2)
    def cube(x):
        return x**3

    @primitive("tanh", lambda out, x: 2.0)  # same name as a built-in: must not use its template
    def fake_tanh(x):
        return 2.0 * x

    @primitive("lerp", lambda out, a, b, t: 1.0 - t, lambda out, a, b, t: t,
               lambda out, a, b, t: b - a)
    def lerp(a, b, t):
        return a + (b - a) * t

    def f(x, y):
        return fake_tanh(cube(x) * y) + lerp(x, y, x * 0.5)

    c = compile_grad(f, [0.4, -1.3])
    for xs in ([0.4, -1.3], [1.5, 0.2]):
        assert_same(c.value_and_grad(xs), interpret(f, xs))
    assert "P[" in c.source


def test_params_are_read_at_each_call_and_accumulate_like_backward():
    w = [Value(0.3), Value(-0.8)]
    b = Value(0.1)

    def f(x0, x1):
        return ((w[0] * x0 + w[1] * x1 + b).tanh() - 0.5) ** 2

    c = compile_grad(f, [1.0, 2.0], params=w + [b])
    assert isinstance(c, Compiled)
    for step in range(3):
        xs = [0.5 * step, -1.0 + step]
        assert_same(c.value_and_grad(xs), interpret(f, xs, w + [b]))
        w[0].data += 0.2  # an optimizer's update is seen by the next call
    for p in w + [b]:
        p.grad = 0.0
    value = c.backward([0.2, 0.9])
    out = f(Value(0.2), Value(0.9))
    want = [0.0] * 3
    for p in w + [b]:
        p.grad, old = 0.0, p.grad
        want[(w + [b]).index(p)] = old
    out.backward()
    assert value == out.data
    assert want == [p.grad for p in w + [b]]


def test_mlp_matches_interpreter():
    rng = random.Random(1)
    sizes = [3, 5, 4, 1]
    params = []
    layers = []
    for nin, nout in zip(sizes, sizes[1:]):
        layer = [([Value(rng.uniform(-1, 1)) for _ in range(nin)], Value(rng.uniform(-1, 1)))
                 for _ in range(nout)]
        for ws, bias in layer:
            params += [*ws, bias]
        layers.append(layer)

    def mlp(*x):
        h = list(x)
        for k, layer in enumerate(layers):
            outs = [sum((wi * hi for wi, hi in zip(ws, h)), bias) for ws, bias in layer]
            h = outs if k == len(layers) - 1 else [o.relu() if k else o.tanh() for o in outs]
        return (h[0] - 0.3) ** 2 + 1e-3 * sum(p * p for p in params)

    c = compile_grad(mlp, [0.1, 0.2, 0.3], params=params)
    for _ in range(5):
        xs = [rng.uniform(-2, 2) for _ in range(3)]
        assert_same(c.value_and_grad(xs), interpret(mlp, xs, params))


def test_unused_input_and_constant_output_have_zero_gradient():
    c = compile_grad(lambda x, y: x * 2.0, [1.0, 5.0])
    assert c.value_and_grad([3.0, 7.0]) == (6.0, (2.0, 0.0))
    c = compile_grad(lambda x: x, [1.5])
    assert c.value_and_grad([2.5]) == (2.5, (1.0,))


def test_domain_error_at_replay_raises_like_interpreter():
    def f(x):
        return (x - 1.0).log() + (x * x).sqrt()

    c = compile_grad(f, [3.0])
    for bad in ([1.0], [0.5]):
        with pytest.raises(ValueError) as got:
            c.value_and_grad(bad)
        with pytest.raises(ValueError) as want:
            interpret(f, bad)
        assert str(got.value) == str(want.value)
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        compile_grad(lambda x: 1.0 / x, [2.0]).forward([0.0])
    # Overflow is not a domain error: inf, as the interpreter gives (README, non-finite values).
    assert compile_grad(lambda x: x.exp(), [2.0]).value_and_grad([1000.0]) == (
        math.inf, (math.inf,))


def test_data_dependent_branch_warns_and_check_detects_it():
    def f(x):
        return x * x if x > 0 else -x

    with pytest.warns(DataDependenceWarning):
        c = compile_grad(f, [2.0])
    assert c.data_dependent
    assert c.value_and_grad([-3.0]) == (9.0, (-6.0,))  # frozen branch: documented
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDependenceWarning)
        checked = compile_grad(f, [2.0], check=True)
    assert checked.value_and_grad([3.0]) == (9.0, (6.0,))
    with pytest.raises(GraphChangedError):
        checked.value_and_grad([-3.0])


def test_no_warning_without_data_dependence():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = compile_grad(lambda x: (x * 3.0).relu(), [1.0])
    assert not c.data_dependent
    assert c.value_and_grad([-1.0]) == (0.0, (0.0,))


def test_bad_arguments():
    with pytest.raises(TypeError, match="must return a Value"):
        compile_grad(lambda x: 3.0, [1.0])
    with pytest.raises(TypeError, match="callable"):
        compile_grad(3, [1.0])
    with pytest.raises(TypeError, match="input 0"):
        compile_grad(lambda x: x, ["a"])
    with pytest.raises(TypeError, match="params"):
        compile_grad(lambda x: x, [1.0], params=[1.0])
    c = compile_grad(lambda x: x, [1.0])
    with pytest.raises(ValueError, match="takes 1 inputs"):
        c.value_and_grad([1.0, 2.0])


def test_source_holds_no_user_text():
    label = "__import__('os')"
    v = Value(2.0, label=label)
    c = compile_grad(lambda x: x * v, [1.0])
    assert label not in c.source and "import" not in c.source


def test_non_finite_constants_and_params():
    c = compile_grad(lambda x: (x + math.inf).tanh() + x ** 3, [0.5])
    assert_same(c.value_and_grad([0.7]), interpret(lambda x: (x + math.inf).tanh() + x ** 3,
                                                   [0.7]))


def test_has_aux_returns_extra_values_like_jax():
    w = Value(0.5)

    def f(x):
        h = (w * x).tanh()
        return (h - 1.0) ** 2, [h, x * 3.0, 2.0]

    c = compile_grad(f, [1.0], params=[w], has_aux=True)
    (value, aux), grads = c.value_and_grad([0.4])
    x = Value(0.4)
    loss, (h, x3, two) = f(x)
    gx, gw = grad(loss, [x, w])
    assert (value, aux, grads) == (loss.data, (h.data, x3.data, 2.0), (gx, gw))
    assert c.forward([0.4]) == (value, aux)
    with pytest.raises(TypeError, match="has_aux"):
        compile_grad(lambda x: x, [1.0], has_aux=True)


def test_frozen_constant_that_overflows_falls_back_to_the_interpreter():
    # A log-sum-exp shift read from .data is frozen at the trace; when the replay overflows
    # because of it, the interpreter (which recomputes the shift) gives the answer.
    def lse(x, y):
        m = max(x.data, y.data)
        return ((x - m).exp() + (y - m).exp()).log() + m

    c = compile_grad(lse, [0.0, 1.0])
    value, grads = c.value_and_grad([800.0, 801.0])
    assert_same((value, grads), interpret(lse, [800.0, 801.0]))


@given(expressions(n_inputs=3, n_nodes=(1, 12)), st.integers(0, 3),
       st.lists(st.lists(finite_floats(-2.0, 2.0), min_size=3, max_size=3), max_size=3))
def test_batch_without_input_grads_equals_the_full_sweep(e, n_params, rows):
    # Python replay of value_and_grad_batch(input_grads=False): the last n_params inputs of a
    # random graph become parameters; values and summed parameter gradients equal the full
    # program's bit for bit (or its exact error), and no input gradients come back.
    k = 3 - n_params
    params = [Value(v) for v in e.inputs[k:]]

    def f(*xs):
        return e(*xs, *params)

    c = compile_grad(f, e.inputs[:k], params=params, backend="python")
    batch = [list(e.inputs[:k]), *(row[:k] for row in rows)]
    want = outcome(lambda: c.value_and_grad_batch(batch))
    got = outcome(lambda: c.value_and_grad_batch(batch, input_grads=False))
    if isinstance(want[0], type):
        if not isinstance(got[0], type):
            # The full sweep failed in an input's gradient (e.g. d/dx x ** 0.5 at 0) and the
            # interpreter re-ran the row, raising in a node the output does not depend on.
            assert not all_nodes_live(e)
        else:
            assert got == want
        return
    assert got[1] is None and len(want[1]) == len(batch)
    assert len(got[0]) == len(want[0]) and all(map(same, got[0], want[0]))
    assert len(got[2]) == len(want[2]) and all(map(same, got[2], want[2]))
    assert all(math.copysign(1, a) == math.copysign(1, b) for a, b in zip(got[2], want[2]))
