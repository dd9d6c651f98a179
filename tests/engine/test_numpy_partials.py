"""A user primitive whose partial derivatives return numpy scalars (np.float64, np.float32,
np.int64), ints or bools: every gradient the engine hands out is a plain Python float, equal
to the one from the same partial written with floats; the quiz page embeds only numbers."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import Value, backward_steps, grad, jvp, primitive
from autograd_lite.compile import compile_grad
from autograd_lite.viz.export import export_html, unseal

np = pytest.importorskip("numpy")

KINDS = {
    "float64": np.float64,
    "float32": np.float32,
    "0-d array": lambda x: np.array(x),
    "float": float,
}


def cube(kind):
    """x**3 as a user primitive whose partial returns `kind(3 x^2)`."""
    make = KINDS[kind]

    @primitive("cube", lambda out, x: make(3.0 * x * x) if isinstance(x, float) else 3 * x * x)
    def cube(x: float) -> float:
        return x * x * x

    return cube


def mul(kind):
    """a * b with partials of type `kind`."""
    make = KINDS[kind]

    @primitive("mul_np", lambda out, a, b: make(b) if isinstance(b, float) else b,
               lambda out, a, b: make(a) if isinstance(a, float) else a)
    def mul_np(a: float, b: float) -> float:
        return a * b

    return mul_np


def graph(kind, x0: float, w0: float):
    x, w = Value(x0, label="x"), Value(w0, label="w")
    y = (mul(kind)(cube(kind)(x), w) + x).tanh()
    return x, w, y


finite = st.floats(-3, 3, allow_nan=False)


@pytest.mark.parametrize("kind", ["float64", "float32", "0-d array"])
@given(x0=finite, w0=finite)
def test_gradients_are_floats_equal_to_the_float_twin(kind, x0, w0) -> None:
    x, w, y = graph(kind, x0, w0)
    y.backward()
    tx, tw, ty = graph("float", x0, w0)
    ty.backward()
    for v in (x, w, y):
        assert type(v.grad) is float
    if kind == "float32":  # the partial itself was rounded to float32
        assert x.grad == pytest.approx(tx.grad, rel=1e-6, abs=1e-6)
        assert w.grad == pytest.approx(tw.grad, rel=1e-6, abs=1e-6)
    else:
        assert (x.grad, w.grad) == (tx.grad, tw.grad)


@pytest.mark.parametrize("kind", ["float64", "float32"])
def test_every_way_to_a_gradient_gives_floats(kind) -> None:
    x, w, y = graph(kind, 0.7, -1.3)
    gx, gw = grad(y, [x, w])
    assert type(gx) is float and type(gw) is float
    for s in backward_steps(y):
        assert type(s.upstream) is float
        for c in s.contributions:
            assert type(c.local) is float and type(c.contribution) is float
            assert type(c.parent_grad) is float
    _, tangent = jvp(lambda a: cube(kind)(a) * 2.0, (0.7,), (1.0,))
    assert type(tangent) is float and tangent == pytest.approx(6 * 0.7 ** 2)
    # differentiating the derivative: partials called on Values return Values, untouched
    a = Value(0.7)
    ga, = grad(cube(kind)(a), [a], create_graph=True)
    gaa, = grad(ga, [a])
    assert type(gaa) is float and gaa == pytest.approx(6 * 0.7)


def test_compiled_replay_gives_floats() -> None:
    x = Value(0.7)
    f = compile_grad(lambda a: cube("float64")(a) * 2.0, [x], backend="python")
    value, grads = f.value_and_grad([0.7])
    assert type(value) is float and all(type(g) is float for g in grads)


def test_ints_and_bools_from_a_partial_are_floats_too() -> None:
    @primitive("step_relu", lambda out, x: x > 0 if isinstance(x, float) else 1.0)
    def step_relu(x: float) -> float:
        return max(x, 0.0)

    @primitive("twice", lambda out, x: 2)
    def twice(x: float) -> float:
        return 2.0 * x

    x = Value(1.5)
    (step_relu(x) + twice(x)).backward()
    assert type(x.grad) is float and x.grad == 3.0


@pytest.mark.parametrize("bad", ["2", 2 + 0j, None, [1.0]])
def test_a_partial_returning_a_non_number_names_the_primitive(bad) -> None:
    @primitive("odd", lambda out, x: bad)
    def odd(x: float) -> float:
        return x

    x = Value(1.0)
    with pytest.raises(TypeError, match=r"primitive 'odd': partial derivative 0 returned"):
        odd(x).backward()


_NUM_ATTR = re.compile(r'data-(?:upstream|rtol|atol)="([^"]*)"')
_ANSWER = re.compile(r'data-answer="([^"]*)"')  # the sealed local and contribution


def _answers(page: str) -> list[dict[str, str]]:
    return [json.loads(unseal(sealed)) for sealed in _ANSWER.findall(page)]


def _numbers(page: str) -> list[str]:
    """Every number the page's script reads: attributes and the sealed answers."""
    return _NUM_ATTR.findall(page) + [a[k] for a in _answers(page)
                                      for k in ("local", "contribution")]


def test_quiz_page_embeds_only_numbers(tmp_path) -> None:
    """Every number the page's script reads is a JSON number (or inf/-inf/nan, which its
    parser reads): no `np.float64(...)`, and equal to the engine's own float."""
    x, w, y = graph("float64", 0.7, -1.3)
    page = export_html(y, tmp_path / "quiz.html", quiz=True).read_text("utf-8")
    assert "np.float" not in page and "float64" not in page
    found = _numbers(page)
    assert len(found) > 10
    for text in found:
        assert isinstance(json.loads(text), int | float), text
    tx, tw, ty = graph("float", 0.7, -1.3)
    locals_ = [c.local for s in backward_steps(ty) for c in s.contributions]
    shown = [float(a["local"]) for a in _answers(page)]
    assert shown == locals_


def test_quiz_page_numbers_for_non_finite_values(tmp_path) -> None:
    """inf and nan gradients are written as the page's parser reads them (never `np.inf`)."""
    x = Value(0.0, label="x")
    y = x.sqrt() * 2.0  # d sqrt / dx at 0 is inf
    page = export_html(y, tmp_path / "quiz.html", quiz=True).read_text("utf-8")
    found = _numbers(page)
    assert "inf" in found
    for text in found:
        assert text in ("inf", "-inf", "nan") or math.isfinite(json.loads(text)), text
