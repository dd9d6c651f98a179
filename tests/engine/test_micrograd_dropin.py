"""`autograd_lite.micrograd`: micrograd's API and numbers, checked against micrograd 0.1.0 itself.

micrograd is the reference for forward values, `_op` strings, reprs and initial weights; torch
(float64) and central differences are independent oracles for gradients. micrograd's own test
file runs from tests/micrograd_upstream/test_engine.py; its two notebooks are executed here,
under the drop-in and (imports changed back) under micrograd, side by side.
"""

from __future__ import annotations

import contextlib
import gc
import io
import math
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite
from autograd_lite.micrograd import nn
from autograd_lite.micrograd.engine import Value
from autograd_lite.micrograd.nn import MLP, Layer, Module, Neuron

micrograd_engine = pytest.importorskip("micrograd.engine")
micrograd_nn = pytest.importorskip("micrograd.nn")
MGValue = micrograd_engine.Value

UPSTREAM = Path(__file__).parent.parent / "micrograd_upstream"


# ---- helpers ----------------------------------------------------------------------------------
def trace(root: Any) -> list[Any]:
    """All nodes reachable through `_prev` (works on micrograd's Value and the drop-in)."""
    seen: dict[int, Any] = {}
    todo = [root]
    while todo:
        v = todo.pop()
        if id(v) not in seen:
            seen[id(v)] = v
            todo.extend(v._prev)
    return list(seen.values())


def op_census(root: Any) -> list[tuple[str, float]]:
    """Sorted (op string, data) of every node: equal for two graphs of the same shape and values."""
    return sorted((v._op, float(v.data)) for v in trace(root))


def adopt(*vs: autograd_lite.Value) -> list[Value]:
    """Inputs that a helper (gradcheck, compile_grad) made as engine Values, entering a drop-in
    graph: `Value(0.0) + v` is a drop-in node, and so is everything computed from it."""
    return [v if type(v) is Value else Value(0.0) + v for v in vs]


# ---- the module layout ------------------------------------------------------------------------
def test_imports_as_micrograd_spells_them() -> None:
    import autograd_lite.micrograd as pkg
    from autograd_lite.micrograd import nn as nn2
    from autograd_lite.micrograd.nn import MLP as MLP2

    assert pkg.engine.Value is Value and pkg.Value is Value
    assert nn2 is nn and MLP2 is MLP
    assert issubclass(Value, autograd_lite.Value)


def test_dropin_class_adds_no_storage_and_keeps_its_class_through_the_hot_path() -> None:
    # + and * are the engine's own: their nodes take the left operand's class.
    assert Value.__slots__ == ()
    assert not hasattr(Value(1.0), "__dict__")
    a = Value(2.0)
    assert type(a + 1) is Value and type(a * a) is Value and type(1 + a) is Value


# ---- Value: construction, repr, structure ----------------------------------------------------
def test_repr_is_micrograds_format() -> None:
    v = Value(2.5)
    assert repr(v) == "Value(data=2.5, grad=0.0)"
    m = MGValue(2.5)
    assert repr(m) == f"Value(data={m.data}, grad={m.grad})"  # the format we copy
    y = v * v
    y.backward()
    assert repr(v) == "Value(data=2.5, grad=5.0)"


def test_label_and_by_hand_nodes() -> None:
    a = Value(2.0, label="a")
    assert a.label == "a"
    b = a * 3
    b.label = "b"
    assert b.label == "b"
    with pytest.raises(TypeError, match="by hand"):
        Value(5.0, (a, b), "+")
    with pytest.raises(TypeError, match="by hand"):
        Value(5.0, _op="+")


@pytest.mark.parametrize("bad", ["2", None, [1.0], True])
def test_bad_data_raises_typeerror(bad: object) -> None:
    with pytest.raises(TypeError, match="Value"):
        Value(bad)  # type: ignore[arg-type]


def test_nan_data_raises_valueerror() -> None:
    with pytest.raises(ValueError, match="NaN"):
        Value(float("nan"))


@pytest.mark.parametrize("op", ["__add__", "__mul__", "__sub__", "__truediv__", "__radd__",
                                "__rmul__", "__rsub__"])
def test_bad_operand_names_the_op(op: str) -> None:
    with pytest.raises(TypeError, match="real number"):
        getattr(Value(1.0), op)("x")


def test_division_by_zero_raises_at_the_op() -> None:
    with pytest.raises(ZeroDivisionError):
        Value(1.0) / 0.0
    with pytest.raises(ZeroDivisionError):
        Value(1.0) / Value(0.0)
    with pytest.raises(ZeroDivisionError):
        1.0 / Value(0.0)


OPS: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("v + w", lambda v, w: v + w), ("v + 2", lambda v, w: v + 2), ("2 + v", lambda v, w: 2 + v),
    ("v - w", lambda v, w: v - w), ("v - 2", lambda v, w: v - 2), ("2 - v", lambda v, w: 2 - v),
    ("v * w", lambda v, w: v * w), ("v * 2", lambda v, w: v * 2), ("2 * v", lambda v, w: 2 * v),
    ("v / w", lambda v, w: v / w), ("v / 2", lambda v, w: v / 2), ("2 / v", lambda v, w: 2 / v),
    ("v ** 2", lambda v, w: v**2), ("v ** -1", lambda v, w: v**-1),
    ("v ** 0.5", lambda v, w: v**0.5), ("-v", lambda v, w: -v), ("v.relu()", lambda v, w: v.relu()),
]


@pytest.mark.parametrize("name,f", OPS, ids=[n for n, _ in OPS])
def test_micrograd_ops_match_micrograd_exactly(name: str, f: Callable[[Any, Any], Any]) -> None:
    # Same graph (op strings and data of every node) and the same result type.
    out = f(Value(1.5), Value(-0.75))
    ref = f(MGValue(1.5), MGValue(-0.75))
    assert type(out) is Value
    assert out.data == ref.data
    assert op_census(out) == op_census(ref)
    assert all(type(v) is Value for v in trace(out))


ENGINE_METHODS = ["tanh", "exp", "log", "log1p", "sigmoid", "softplus", "sin", "cos", "sqrt",
                  "abs", "leaky_relu", "detach", "__abs__", "__pos__"]


@pytest.mark.parametrize("method", ENGINE_METHODS)
def test_engine_methods_return_dropin_values(method: str) -> None:
    v = Value(0.7)
    out = getattr(v, method)()
    assert type(out) is Value
    assert out.data == getattr(autograd_lite.Value(0.7), method)().data
    two = [v.maximum(0.2), v.minimum(Value(0.1)), v ** Value(2.0), 2.0 ** v]
    assert all(type(o) is Value for o in two)


def test_op_strings_are_micrograds_and_the_lectures() -> None:
    x = Value(0.5)
    assert x._op == ""
    assert (x + 1)._op == "+" and (x * 2)._op == "*"
    assert (x**2)._op == "**2" and (x**-1)._op == "**-1" and (x**0.5)._op == "**0.5"
    assert x.relu()._op == "ReLU"
    assert x.tanh()._op == "tanh" and x.exp()._op == "exp"  # the lecture's names
    assert (-x)._op == "*"  # micrograd: -x is x * -1
    assert x.sigmoid()._op == "sigmoid"  # engine ops beyond micrograd: the primitive's name
    assert (x ** Value(2.0))._op == "**"


def test_prev_is_a_set_as_in_micrograd_parents_keep_both_edges() -> None:
    a = Value(3.0)
    s = a + a
    assert s._prev == {a}
    assert s.parents == (a, a)
    s.backward()
    assert a.grad == 2.0  # both edges count (micrograd also gets 2 here)


def test_engine_functions_on_dropin_values_make_dropin_nodes() -> None:
    e = autograd_lite.exp(Value(0.0))  # an engine function on a drop-in Value
    y = Value(1.0) * Value(2.0) + e
    assert type(e) is Value and type(y) is Value
    assert all(type(v) is Value for v in trace(y))


def test_a_plain_engine_value_in_a_dropin_graph_stays_what_it_is() -> None:
    plain = autograd_lite.Value(2.0)
    m = Value(1.0) * plain  # a node of the first operand's class
    y = m + autograd_lite.exp(Value(0.0))
    assert type(m) is Value and type(y) is Value
    assert m in y._prev and all(type(v) is Value for v in y._prev)
    assert plain in m._prev and type(plain) is autograd_lite.Value  # not rewritten in place
    y.backward()
    assert plain.grad == 1.0


def test_backward_matches_micrograd_readme_example() -> None:
    # micrograd's README example: its printed figures are 24.7041, 138.8338, 645.5773.
    def run(V: Any) -> tuple[Any, Any, Any]:
        a, b = V(-4.0), V(2.0)
        g = _readme_g(a, b)
        g.backward()
        return a, b, g

    a, b, g = run(Value)
    ma, mb, mg = run(MGValue)
    assert g.data == mg.data
    assert math.isclose(a.grad, ma.grad, rel_tol=1e-12)
    assert math.isclose(b.grad, mb.grad, rel_tol=1e-12)
    assert op_census(g) == op_census(mg)


def test_manual_backward_steps_as_in_the_lecture() -> None:
    # The lecture's neuron: o = tanh(x1*w1 + x2*w2 + b), backpropagated by hand with _backward.
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.grad = 1.0
    for node in reversed(autograd_lite.topo_order([o])):
        node._backward()
    by_hand = [v.grad for v in (x1, x2, w1, w2, b)]
    for v in (x1, x2, w1, w2, b):
        v.grad = 0.0
    o.backward()
    assert by_hand == [v.grad for v in (x1, x2, w1, w2, b)]
    # with reuse (a feeds three nodes): each step must add, not overwrite
    a, c = Value(1.5), Value(-0.5)
    y = (a * a + a * c).exp() + a
    y.grad = 1.0
    for node in reversed(autograd_lite.topo_order([y])):
        node._backward()
    assert (a.grad, c.grad) == autograd_lite.grad(y, [a, c])
    assert math.isclose(a.grad, (2 * 1.5 - 0.5) * math.exp(1.5 * 1.5 - 0.75) + 1, rel_tol=1e-12)
    torch = pytest.importorskip("torch")
    t = [torch.tensor(v.data, dtype=torch.float64, requires_grad=True) for v in (x1, x2, w1, w2, b)]
    (t[0] * t[2] + t[1] * t[3] + t[4]).tanh().backward()
    for v, tv in zip((x1, x2, w1, w2, b), t):
        assert math.isclose(v.grad, tv.grad.item(), rel_tol=1e-12, abs_tol=1e-15)


# ---- where micrograd is wrong ------------------------------------------------------------------
def _chain(V: Any, n: int) -> tuple[Any, Any]:
    x = V(0.5)
    y = x
    for _ in range(n):
        y = y * 0.999 + 0.001
    return x, y


def test_deep_graph_no_recursion_error_where_micrograd_fails() -> None:
    _, my = _chain(MGValue, 3000)
    with pytest.raises(RecursionError):
        my.backward()
    x, y = _chain(Value, 20_000)
    y.backward()
    assert math.isclose(x.grad, 0.999**20_000, rel_tol=1e-9)


def test_second_backward_doubles_leaves_only() -> None:
    # micrograd: interior grads are not reset, so the second call feeds doubled values down.
    ma = MGValue(2.0)
    my = ma * ma + 1
    my.backward()
    my.backward()
    assert ma.grad == 12.0
    a = Value(2.0)
    y = a * a + 1
    y.backward()
    assert a.grad == 4.0
    y.backward()
    assert a.grad == 8.0  # accumulated twice, each pass right
    assert y.grad == 1.0


def test_tanh_does_not_overflow() -> None:
    x = Value(400.0)
    y = x.tanh()
    y.backward()
    assert y.data == 1.0 and x.grad == 0.0


# ---- random micrograd programs: micrograd, torch and the drop-in agree ------------------------
BINARY = ("add", "sub", "mul", "div", "radd", "rsub", "rmul", "rdiv")
UNARY = ("neg", "relu", "pow2", "pow3", "powm1")


def _apply(kind: str, a: Any, b: Any, c: float, torch_mode: bool = False) -> Any:
    if kind == "add":
        return a + b
    if kind == "sub":
        return a - b
    if kind == "mul":
        return a * b
    if kind == "div":
        return a / b
    if kind == "radd":
        return c + a
    if kind == "rsub":
        return c - a
    if kind == "rmul":
        return c * a
    if kind == "rdiv":
        return c / a
    if kind == "neg":
        return -a
    if kind == "relu":
        return a.relu()
    if kind == "pow2":
        return a**2
    if kind == "pow3":
        return a**3
    return a**-1


@st.composite
def programs(draw: Any) -> tuple[list[float], list[tuple[str, int, int, float]]]:
    """Leaves and safe steps (each result in [-50, 50], no division by |x| < 0.25)."""
    xs = draw(st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=3))
    data = list(xs)
    prog = []
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(BINARY + UNARY))
        i = draw(st.integers(0, len(data) - 1))
        j = draw(st.integers(0, len(data) - 1))
        c = draw(st.sampled_from([-1.5, 0.5, 2.0, 3]))
        a, b = data[i], data[j]
        if (kind == "div" and abs(b) < 0.25) or (kind in ("rdiv", "powm1") and abs(a) < 0.25):
            continue
        v = _apply(kind, _F(a), _F(b), c).x
        if not -50.0 <= v <= 50.0:
            continue
        prog.append((kind, i, j, c))
        data.append(v)
    return xs, prog


class _F:
    """A float with micrograd's relu, to pre-evaluate programs."""

    def __init__(self, x: float) -> None:
        self.x = x

    def __add__(self, o: Any) -> _F:
        return _F(self.x + (o.x if isinstance(o, _F) else o))

    __radd__ = __add__

    def __mul__(self, o: Any) -> _F:
        return _F(self.x * (o.x if isinstance(o, _F) else o))

    __rmul__ = __mul__

    def __neg__(self) -> _F:
        return _F(-self.x)

    def __sub__(self, o: Any) -> _F:
        return self + -o

    def __rsub__(self, o: Any) -> _F:
        return -self + o

    def __truediv__(self, o: Any) -> _F:
        return _F(self.x / (o.x if isinstance(o, _F) else o))

    def __rtruediv__(self, o: Any) -> _F:
        return _F(o / self.x)

    def __pow__(self, p: Any) -> _F:
        return _F(self.x**p)

    def relu(self) -> _F:
        return _F(max(self.x, 0.0))


def _run_program(V: Any, xs: list[float], prog: list[tuple[str, int, int, float]]
                 ) -> tuple[list[Any], Any]:
    leaves = [V(x) for x in xs]
    nodes = list(leaves)
    for kind, i, j, c in prog:
        nodes.append(_apply(kind, nodes[i], nodes[j], c))
    out = nodes[0]
    for v in nodes[1:]:
        out = out + v
    return leaves, out


@given(programs())
def test_random_programs_match_micrograd_and_torch(case: Any) -> None:
    torch = pytest.importorskip("torch")
    xs, prog = case
    leaves, out = _run_program(Value, xs, prog)
    out.backward()
    m_leaves, m_out = _run_program(MGValue, xs, prog)
    m_out.backward()
    t_leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    _, t_out = _run_program(lambda t: t, [t for t in t_leaves], prog)  # type: ignore[arg-type]
    t_out.backward()
    assert out.data == m_out.data  # micrograd's graph, micrograd's float operations
    assert op_census(out) == op_census(m_out)
    assert math.isclose(out.data, t_out.item(), rel_tol=1e-12, abs_tol=1e-12)
    for v, m, t in zip(leaves, m_leaves, t_leaves):
        assert math.isclose(v.grad, m.grad, rel_tol=1e-9, abs_tol=1e-9)
        tg = t.grad.item() if t.grad is not None else 0.0
        assert math.isclose(v.grad, tg, rel_tol=1e-9, abs_tol=1e-9)


# ---- the engine's tools on drop-in Values ----------------------------------------------------
def _readme_g(a: Any, b: Any) -> Any:
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return g


def test_gradcheck_on_dropin_graphs() -> None:
    from autograd_lite.testing import gradcheck

    def f(a: Any, b: Any) -> Any:
        a, b = adopt(a, b)
        out = _readme_g(a, b) + (a * 0.1).tanh() + (b * 0.3).exp()
        assert type(out) is Value
        return out

    assert gradcheck(f, [-4.0, 2.0], rtol=1e-5)
    assert gradcheck(f, [0.7, -1.3], rtol=1e-5)


def test_gradcheck_on_dropin_graph_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    # The check above is not vacuous: a wrong rule for `**` (the -1 dropped) is caught.
    from autograd_lite.testing import GradcheckError, gradcheck

    powc = autograd_lite.PRIMITIVES["powc"]
    monkeypatch.setattr(powc, "partials", (lambda out, x, p: p * x,))
    with pytest.raises(GradcheckError):
        gradcheck(lambda a: adopt(a)[0] ** 3, [1.5])


def test_backward_steps_and_grad_on_dropin_graph() -> None:
    a, b = Value(-4.0), Value(2.0)
    g = _readme_g(a, b)
    steps = list(g.backward_steps())
    assert len(steps) == len(autograd_lite.topo_order([g]))
    stepped = (a.grad, b.grad)
    a.grad = b.grad = 0.0
    g.backward()
    assert stepped == (a.grad, b.grad)
    ga, gb = autograd_lite.grad(g, [a, b])
    assert (ga, gb) == (a.grad, b.grad)
    assert all(type(s.node) is Value for s in steps)


def test_draw_graph_on_dropin_values_and_model() -> None:
    random.seed(0)
    model = MLP(2, [3, 1])
    x = [Value(1.0, label="x0"), Value(-2.0, label="x1")]
    y = model(x)
    y.backward()
    dot = autograd_lite.draw_graph(y)
    src = dot.source
    assert src.count("label=") >= len(autograd_lite.topo_order([y]))
    assert "x0" in src and "relu" in src
    clustered = autograd_lite.draw_graph(y, modules=model).source
    assert "cluster" in clustered and "layers" in clustered


def test_compile_grad_on_dropin_model() -> None:
    random.seed(1)
    model = MLP(2, [4, 1])
    params = model.parameters()

    def loss(x0: Any, x1: Any) -> Any:
        score = model(adopt(x0, x1))
        return (1 + -1 * score).relu() + 0.5 * score * score

    compiled = autograd_lite.compile_grad(loss, [0.3, -0.8], params=params)
    for xs in ([0.3, -0.8], [1.2, 0.4], [-0.5, -1.0]):
        value, grads = compiled.value_and_grad(xs)
        ins = [Value(v) for v in xs]
        model.zero_grad()
        out = loss(*ins)
        out.backward()
        assert math.isclose(_first(value), out.data, rel_tol=1e-12)
        flat = list(_flatten(grads))
        want = [v.grad for v in ins] + [p.grad for p in params]
        assert len(flat) == len(want)
        for got, w in zip(flat, want):
            assert math.isclose(got, w, rel_tol=1e-9, abs_tol=1e-12)


def _first(v: Any) -> float:
    return float(v[0]) if isinstance(v, tuple | list) else float(v)


def _flatten(x: Any) -> Iterator[float]:
    if isinstance(x, tuple | list):
        for item in x:
            yield from _flatten(item)
    else:
        yield float(x)


# ---- nn ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("nin,nouts", [(2, [16, 16, 1]), (3, [4, 4, 1]), (1, [1]), (5, [2, 3])])
def test_seeded_weights_reprs_and_order_are_micrograds(nin: int, nouts: list[int]) -> None:
    random.seed(1337)
    ours = MLP(nin, nouts)
    after_ours = random.random()
    random.seed(1337)
    ref = micrograd_nn.MLP(nin, nouts)
    after_ref = random.random()
    assert [p.data for p in ours.parameters()] == [p.data for p in ref.parameters()]
    assert after_ours == after_ref  # the same number of draws from the global generator
    assert repr(ours) == repr(ref)
    assert [repr(layer) for layer in ours.layers] == [repr(layer) for layer in ref.layers]
    assert repr(ours.layers[0].neurons[0]) == repr(ref.layers[0].neurons[0])
    assert all(type(p) is Value for p in ours.parameters())


def test_neuron_and_layer_match_micrograd() -> None:
    for nonlin in (True, False):
        random.seed(7)
        n = Neuron(3, nonlin=nonlin)
        random.seed(7)
        m = micrograd_nn.Neuron(3, nonlin=nonlin)
        assert repr(n) == repr(m) == ("ReLUNeuron(3)" if nonlin else "LinearNeuron(3)")
        x = [0.5, -1.0, 2.0]
        assert n(x).data == m(x).data
        assert op_census(n(x)) == op_census(m(x))
    random.seed(3)
    layer = Layer(2, 3, nonlin=False)
    random.seed(3)
    ref = micrograd_nn.Layer(2, 3, nonlin=False)
    assert repr(layer) == repr(ref)
    assert [v.data for v in layer([1.0, 2.0])] == [v.data for v in ref([1.0, 2.0])]
    assert isinstance(Layer(2, 1)([1.0, 2.0]), Value)  # one neuron: a Value, not a list


def test_zero_grad_parameters_and_named_parameters() -> None:
    random.seed(0)
    model = MLP(2, [3, 1])
    assert isinstance(model, Module) and Module().parameters() == []
    y = model([1.0, -1.0])
    y.backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())
    names = [n for n, _ in model.named_parameters()]
    assert [p for _, p in model.named_parameters()] == model.parameters()
    assert names[:3] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1",
                         "layers.0.neurons.0.b"]
    assert names[-1] == "layers.1.neurons.0.b"
    assert len(names) == len(model.parameters()) == 3 * 3 + 4


def test_nn_bad_input() -> None:
    random.seed(0)
    with pytest.raises(ValueError, match="takes 2 inputs, got 3"):
        Neuron(2)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="takes 2 inputs, got 1"):
        MLP(2, [3, 1])([1.0])
    with pytest.raises(TypeError, match="nin must be an int"):
        Neuron(2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1"):
        Layer(2, 0)
    with pytest.raises(TypeError, match="list of layer sizes"):
        MLP(2, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        MLP(2, [])
    with pytest.raises(TypeError, match=r"nouts\[1\]"):
        MLP(2, [3, "4"])  # type: ignore[list-item]


# ---- micrograd's notebooks ----------------------------------------------------------------------
def _cells(name: str) -> list[str]:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(UPSTREAM / name, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def _stored_outputs(name: str) -> list[str]:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(UPSTREAM / name, as_version=4)
    return ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
            for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def _execute(cells: list[str], engine: str, replace: dict[str, str] | None = None) -> tuple[
        list[str], dict[str, Any]]:
    """Run notebook code cells in one namespace; `engine="micrograd"` changes the imports back.

    Returns each cell's printed output and the namespace. IPython magics (`%matplotlib`) are
    dropped; matplotlib draws off-screen. micrograd's closures make reference cycles (node ->
    closure -> node), which cost it most of its time in Python's cycle collector (see the
    benchmark). To keep this test short, micrograd runs with the collector off and its
    `backward` (after running unchanged) cuts each node's finished closure and collects the
    youngest generation, so the graph is freed: the same numbers (the demo never calls
    backward twice on one graph), a fraction of the time, bounded memory.
    """
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns: dict[str, Any] = {"__name__": "__notebook__"}
    outs = []
    mg_backward = MGValue.backward
    collecting = gc.isenabled()
    if engine == "micrograd":

        def backward(self: Any) -> None:
            mg_backward(self)
            for v in trace(self):
                v._backward = _noop
            gc.collect(0)  # backward's own recursive build_topo is a cycle holding the graph

        MGValue.backward = backward
        gc.disable()
    try:
        for src in cells:
            src = "\n".join(line for line in src.splitlines() if not line.startswith("%"))
            if engine == "micrograd":
                src = src.replace("autograd_lite.micrograd", "micrograd")
            for old_text, new_text in (replace or {}).items():
                src = src.replace(old_text, new_text)
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                exec(compile(src, f"<{engine} notebook cell>", "exec"), ns)
            outs.append(buf.getvalue())
    finally:
        MGValue.backward = mg_backward
        if collecting:
            gc.enable()
        gc.collect()
        plt.close("all")
    return outs, ns


def _noop() -> None:
    pass


STEP = re.compile(r"^step (\d+) loss (\S+), accuracy (\S+)%$")


def _log(text: str) -> list[tuple[int, float, float]]:
    rows = [STEP.match(line) for line in text.splitlines()]
    assert all(rows), text
    return [(int(m[1]), float(m[2]), float(m[3])) for m in rows if m]


def _same_log(ours: str, ref: str, steps: int) -> None:
    a, b = _log(ours), _log(ref)
    assert len(a) == len(b) == steps
    for (k, loss, acc), (k2, loss2, acc2) in zip(a, b):
        assert k == k2
        assert abs(loss - loss2) <= 1e-9 * abs(loss2), f"step {k}: loss {loss} vs {loss2}"
        assert acc == acc2, f"step {k}: accuracy {acc} vs {acc2}"


def _demo_side_by_side(steps: int, with_boundary: bool) -> None:
    # Imported before the notebook seeds `random`: scikit-learn 1.9's first import of
    # sklearn.datasets draws from `random`, which would shift whichever engine runs first.
    pytest.importorskip("sklearn.datasets")
    cells = _cells("demo.ipynb")
    assert "from autograd_lite.micrograd.engine import Value" in cells[1]
    if not with_boundary:
        cells = cells[:-1]
    shorter = {"range(100)": f"range({steps})"}
    ours, ns = _execute(cells, "dropin", shorter)
    ref, ref_ns = _execute(cells, "micrograd", shorter)
    assert type(ns["model"].parameters()[0]) is Value
    assert type(ref_ns["model"].parameters()[0]) is MGValue
    # cell 5: the model's repr and parameter count, verbatim; cell 6: the first loss
    assert ours[4] == ref[4]
    assert ours[4].startswith("MLP of [Layer of [ReLUNeuron(2)") and "337" in ours[4]
    first, first_ref = ours[5].split(), ref[5].split()
    assert first[0] == first_ref[0]  # "Value(data=0.89...,": forward values to the last bit
    assert first[-1] == first_ref[-1]  # accuracy
    _same_log(ours[6], ref[6], steps)
    # and micrograd's published log (the notebook's stored output), to the same tolerance
    published = _stored_outputs("demo.ipynb")
    assert published[4] == ours[4]
    _same_log(ours[6], "\n".join(published[6].splitlines()[:steps]), steps)
    if with_boundary:
        assert (ns["Z"] == ref_ns["Z"]).all()  # the same decision boundary


def test_demo_notebook_first_steps_match_micrograd() -> None:
    _demo_side_by_side(steps=3, with_boundary=False)


@pytest.mark.slow
def test_demo_notebook_all_100_steps_match_micrograd() -> None:
    _demo_side_by_side(steps=100, with_boundary=True)


def test_trace_graph_notebook_runs_and_draws_micrograds_graph(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    pytest.importorskip("graphviz")
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("needs graphviz's dot program")
    cells = _cells("trace_graph.ipynb")
    monkeypatch.chdir(tmp_path)
    _, ns = _execute(cells, "dropin")
    svg = (tmp_path / "gout.svg").read_text()
    assert "<svg" in svg and "ReLU" in svg and "data 1.0000" in svg
    assert ns["y"]._op == "ReLU" and type(ns["y"]) is Value
    monkeypatch.chdir(tmp_path / "..")
    ref_dir = tmp_path / "micrograd"
    ref_dir.mkdir()
    monkeypatch.chdir(ref_dir)
    _, ref_ns = _execute(cells, "micrograd")

    def labels(dot: Any) -> list[str]:
        return sorted(re.findall(r'label="?([^"\]]+)"?', dot.source))

    # The neuron's picture: the same nodes (data, grad, op) and the same number of edges.
    assert labels(ns["dot"]) == labels(ref_ns["dot"])
    assert ns["dot"].source.count("->") == ref_ns["dot"].source.count("->")


# ---- docs/micrograd.md --------------------------------------------------------------------------
def test_coming_from_micrograd_page_examples_run(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # The page's Python blocks, in order, in one namespace (as tests/docs/test_docs_site.py runs
    # others).
    page = Path(__file__).resolve().parent.parent.parent / "docs" / "micrograd.md"
    blocks = re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "docs_micrograd"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"micrograd.md block {i}", "exec"), namespace)
    assert type(namespace["y"]) is Value


# ---- relu keeps the sign of zero, as micrograd (`0 if x < 0 else x`) and torch do ----------------
def _bits(x: float) -> tuple[float, float]:
    return float(x), math.copysign(1.0, float(x))


@given(st.one_of(st.sampled_from([0.0, -0.0]), st.floats(-1e3, 1e3, allow_nan=False)))
def test_relu_is_micrograds_to_the_bit(x: float) -> None:
    ours, theirs = Value(x), MGValue(x)
    r, m = ours.relu(), theirs.relu()
    assert _bits(r.data) == _bits(m.data)
    (r * 3.0).backward()
    (m * 3.0).backward()
    assert ours.grad == theirs.grad


@pytest.mark.parametrize("x", [-0.0, 0.0, -1.5, 2.0])
def test_engine_relu_keeps_the_sign_of_zero_as_torch(x: float) -> None:
    torch = pytest.importorskip("torch")
    from autograd_lite import compile_grad, relu

    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    torch.relu(t).backward()
    want = (_bits(torch.relu(t).item()), t.grad.item())
    v = autograd_lite.Value(x)
    y = relu(v)
    y.backward()
    assert (_bits(y.data), v.grad) == want
    assert _bits(relu(x)) == want[0]
    for backend in ("python", "auto"):  # compiled replay: the same templates
        value, (g,) = compile_grad(lambda a: relu(a), [1.0], backend=backend).value_and_grad([x])
        assert (_bits(value), g) == want
