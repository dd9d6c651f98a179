"""Stale gradients: a backward pass over leaves that already hold gradients (a forgotten
`zero_grad()`) is shown as such by the tape, the frames and the page ("carried over from
before", with the carried value), while `backward()` keeps PyTorch's accumulate semantics."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograd_lite import Value, grad, topo_order
from autograd_lite.testing import expressions
from autograd_lite.viz.export import export_html
from autograd_lite.viz.stepping import CARRIED, carried_grads, frames, node_ids, tape, walk


def build(expr) -> tuple[list[Value], Value]:
    xs = [Value(x, label=f"x{i}") for i, x in enumerate(expr.inputs)]
    return xs, expr(*xs)


def graph() -> tuple[Value, Value, Value]:
    """y = x*w + x at x = 2, w = -3: dy/dx = w + 1 = -2, dy/dw = x = 2 (by hand)."""
    x = Value(2.0, label="x")
    w = Value(-3.0, label="w")
    xw = x * w
    xw.label = "xw"
    y = xw + x
    y.label = "y"
    return x, w, y


def test_backward_still_accumulates_into_leaves_like_pytorch() -> None:
    torch = pytest.importorskip("torch")
    x, w, y = graph()
    y.backward()
    y.backward()
    tx = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(-3.0, dtype=torch.float64, requires_grad=True)
    ty = tx * tw + tx
    ty.backward(retain_graph=True)
    ty.backward()
    assert (x.grad, w.grad) == (tx.grad.item(), tw.grad.item()) == (2 * -2.0, 2 * 2.0)


def test_tape_of_a_second_backward_marks_the_carried_leaves() -> None:
    x, w, y = graph()
    y.backward()  # x.grad = -2, w.grad = 2: the "before"
    steps = list(y.backward_steps())  # a second pass, as backward() would run it
    assert (x.grad, w.grad) == (-4.0, 4.0)  # semantics unchanged: accumulated
    t = tape(steps)
    assert t.carried == {x: -2.0, w: 2.0}
    text = str(t)
    assert f"x.grad = -4 = -2 {CARRIED} + -2" in text
    assert f"w.grad = 4 = 2 {CARRIED} + 2" in text
    # the received column keeps the true derivative of this pass, not .grad
    assert "dy/dx = -2" in text and "dy/dw = 2" in text
    leaf_rows = {r.node: r for r in t.rows if r.parent is None}
    assert leaf_rows[x].carried == -2.0 and leaf_rows[w].carried == 2.0
    assert "carried" not in str(tape(y))  # the default walk starts from zero: a clean pass
    html = t.to_html()
    assert html.count('class="al-carried"') + html.count("al-first al-carried") >= 4


def test_walk_with_carry_runs_what_backward_would_and_restores() -> None:
    x, w, y = graph()
    x.grad, w.grad = 10.0, 0.0
    seen = [(x.grad, w.grad) for _ in walk(y, carry=True)]
    assert seen[-1] == (10.0 - 2.0, 2.0)
    assert (x.grad, w.grad) == (10.0, 0.0)  # restored
    t = tape(y, carry=True)
    assert t.carried == {x: 10.0} and carried_grads(y) == {x: 10.0}
    assert f"x.grad = 8 = 10 {CARRIED} + -2" in str(t)
    assert f"w.grad = 2 = 0 {CARRIED}" not in str(t) and "dy/dw = 2" in str(t)


@settings(max_examples=30)
@given(expr=expressions(), data=st.data())
def test_carried_tape_equals_a_real_second_pass_and_its_sums(expr, data) -> None:
    xs, root = build(expr)
    old = [data.draw(st.sampled_from([0.0, 1.0, -2.5, 0.125])) for _ in xs]
    for x, g in zip(xs, old):
        x.grad = g
    fresh = grad(root, xs, allow_unused=True)  # this pass alone, independently
    text = str(tape(root, carry=True, fmt=".17g"))
    assert [x.grad for x in xs] == old  # the walk put everything back
    used = set(topo_order([root]))
    twin_xs, twin = build(expr)
    for x, g in zip(twin_xs, old):
        x.grad = g
    real = tape(list(twin.backward_steps()), fmt=".17g")  # the carried values found, not given
    for i, (x, g, f) in enumerate(zip(xs, old, fresh)):
        marked = f"x{i}.grad = " in text
        assert marked == (g != 0.0 and x in used), (i, g)
        if marked:
            final = twin_xs[i].grad  # what backward() really left
            assert math.isclose(final, g + f, rel_tol=1e-9, abs_tol=1e-12)
            assert f"x{i}.grad = {final:.17g} = {g:.17g} {CARRIED} + " in text
            assert real.carried[twin_xs[i]] == pytest.approx(g, rel=1e-12, abs=1e-12)
    assert "carried" not in str(tape(root))


@pytest.fixture
def _renderer() -> None:
    from autograd_lite.viz.render import RendererNotFound, find_renderer

    try:
        find_renderer()
    except RendererNotFound as e:
        pytest.skip(f"no Graphviz renderer: {e}")


def test_frames_note_each_carried_leaf_and_draw_its_running_grad(_renderer) -> None:
    x, w, y = graph()
    x.grad = 0.5
    ids = node_ids(y)
    fs = frames(y, svg=False, carry=True, show=("grad",), fmt=".4f")
    assert x.grad == 0.5 and w.grad == 0.0
    for f in fs:
        assert f.carried == ((ids[x], 0.5),)
        assert re.search(rf'{ids[x]}carry \[.*label="{CARRIED}: 0.5"', f.dot)
        assert f"{ids[x]}carry -> {ids[x]}" in f.dot
        assert f"{ids[w]}carry" not in f.dot
    last = fs[-1].dot  # x.grad drawn as carried + this pass: 0.5 + (-2)
    assert re.search(rf"^\s*{ids[x]} \[.*grad -1.5000", last, flags=re.M)
    plain = frames(y, svg=False)
    assert all("carry" not in f.dot and f.carried == () for f in plain)


def test_page_marks_carried_leaves(_renderer, tmp_path) -> None:
    x, w, y = graph()
    y.backward()
    page = export_html(y, tmp_path / "stale.html", carry=True).read_text("utf-8")
    assert (x.grad, w.grad) == (-2.0, 2.0)
    assert f"2 leaves hold gradients {CARRIED}" in page
    assert f"x.grad = -4 = -2 {CARRIED} + -2" in page
    # the notes in every frame's SVG (Graphviz writes a minus sign as &#45;)
    assert len(re.findall(f"{CARRIED}: (?:-|&#45;)2<", page)) == page.count("<svg")
    assert len(re.findall(f"{CARRIED}: 2<", page)) == page.count("<svg")
    clean = export_html(y, tmp_path / "clean.html").read_text("utf-8")
    assert CARRIED not in clean
