"""Frames (one drawing per backward step), the standalone HTML export and the Jupyter widget,
checked against Step records taken independently on a twin graph."""

from __future__ import annotations

import json
import re
import sys

import pytest
from hypothesis import given, settings

from autograd_lite import Value, backward_steps, topo_order
from autograd_lite.testing import expressions
from autograd_lite.viz.export import demo_graph, export_html, main, unseal
from autograd_lite.viz.render import _HIGHLIGHT  # draw_graph's highlight colour
from autograd_lite.viz.stepping import Tape, frames, node_ids, step_widget


@pytest.fixture(autouse=True)
def _renderer() -> None:
    from autograd_lite.viz.render import RendererNotFound, find_renderer

    try:
        find_renderer()
    except RendererNotFound as e:
        pytest.skip(f"no Graphviz renderer: {e}")


def build(expr) -> Value:
    return expr(*[Value(x, label=f"x{i}") for i, x in enumerate(expr.inputs)])


def twin_records(root: Value) -> list[tuple[int, float, list[tuple[int, float, float, float]]]]:
    """Each step as (node's topological index, upstream, [(parent index, local, contribution,
    parent .grad)]): comparable across two separately built copies of a graph."""
    pos = {v: i for i, v in enumerate(topo_order([root]))}
    return [(pos[s.node], s.upstream,
             [(pos[c.parent], c.local, c.contribution, c.parent_grad) for c in s.contributions])
            for s in backward_steps(root)]


def grads_after_each_step(root: Value) -> list[dict[int, float]]:
    """Every node's .grad (by topological index) after each step, replayed from the records."""
    order = topo_order([root])
    pos = {v: i for i, v in enumerate(order)}
    now = {i: 0.0 for i in range(len(order))}
    now[pos[root]] = 1.0
    out = []
    for s in backward_steps(root):
        for c in s.contributions:
            now[pos[c.parent]] = c.parent_grad
        out.append(dict(now))
    return out


def node_line(dot: str, node_id: str) -> str:
    m = re.search(rf"^\s*{node_id} \[.*$", dot, flags=re.M)
    assert m is not None, f"{node_id} not in the DOT source"
    return m.group(0)


# ---- frames ------------------------------------------------------------------------------------
@given(expr=expressions())
def test_frames_follow_the_steps_and_show_the_gradients_so_far(expr) -> None:
    root = build(expr)
    before = [v.grad for v in topo_order([root])]
    fs = frames(root, svg=False, show=("grad",), fmt=".6f")
    assert [v.grad for v in topo_order([root])] == before  # restored
    twin = build(expr)
    want = twin_records(twin)
    order = topo_order([root])
    assert len(fs) == len(want) == len(order)
    for f, (node, upstream, contribs), grads in zip(fs, want, grads_after_each_step(build(expr))):
        assert f.active == f"n{node}" and f.step.node is order[node]
        assert f.step.upstream == upstream
        assert {e for e in f.edges} == {(f"n{p}", f"n{node}") for p, *_ in contribs}
        for i, g in grads.items():  # the gradients filled in so far, not the final ones
            line = node_line(f.dot, f"n{i}")
            assert f"{g:.6f}" in line, (f.step.index, i)
            assert (_HIGHLIGHT in line) == (i == node), (f.step.index, i)  # only the active one


def test_frames_draw_nodes_with_their_tape_names_and_restore_labels() -> None:
    a = Value(1.5)
    b = Value(-0.5, label="w")
    c = Value(2.0, label="w")
    y = a * a + b * c
    fs = frames(y, svg=False)
    assert [v.label for v in (a, b, c, y)] == ["", "w", "w", ""]  # restored
    ids = node_ids(y)
    for node, name in ((a, "n0"), (b, "w@n2"), (c, "w@n3"), (y, "n5")):
        assert f">{name}<" in node_line(fs[0].dot, ids[node]), name
    plain = frames(y, svg=False, name_nodes=False)[0].dot
    assert "w@n2" not in plain and ">n0<" not in plain


def test_frames_refuse_huge_graphs_unless_asked() -> None:
    x = Value(0.5)
    y = x
    for _ in range(30):
        y = y * 1.01
    with pytest.raises(ValueError, match="max_steps"):
        frames(y, svg=False, max_steps=10)
    assert len(frames(y, svg=False, max_steps=100)) == len(topo_order([y]))


# ---- the HTML export ---------------------------------------------------------------------------
REMOTE = re.compile(r"https?:|ftp:|//cdn|src\s*=|<link|@import|url\(|\bhref\s*=|['\"(]//",
                    flags=re.I)
FIGURE = re.compile(r'<figure class="frame" id="frame-(\d+)" data-step="(\d+)" '
                    r'data-active-id="(n\d+)"(.*?)</figure>', flags=re.S)


def check_page(page: str, twin: Value) -> None:
    assert REMOTE.search(page) is None, REMOTE.search(page)
    want = twin_records(twin)
    figures = FIGURE.findall(page)
    assert len(figures) == len(want) == page.count("<svg")  # one frame per step
    for k, (fid, step, active, body) in enumerate(figures):
        assert int(fid) == int(step) == k and active == f"n{want[k][0]}"
        marked = re.findall(r'<g\b[^>]*data-active="true"><title>([^<]*)</title>', body)
        assert marked == [active]
        assert re.search(r"\bhidden\b", body.split(">", 1)[0]) is not None or k == 0
    assert page.count("<tr class") + page.count("<tr data-step") == len(Tape(
        list(backward_steps(twin))))


def test_export_of_the_demo_is_self_contained_with_one_frame_per_step(tmp_path) -> None:
    root = demo_graph()
    root.backward()
    grads = [v.grad for v in topo_order([root])]
    path = export_html(root, tmp_path / "demo.html", title="Demo <neuron> & co")
    assert [v.grad for v in topo_order([root])] == grads  # the export has no side effect
    page = path.read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>Demo &lt;neuron&gt; &amp; co</title>"
    assert "<script>" in page and "<style>" in page and "{{" not in page
    check_page(page, demo_graph())
    assert "dL/dw1 += dL/dx1w1 · dx1w1/dw1 = 0.5 · 2 = 1" in page


@settings(max_examples=6)  # each example renders one SVG per node with Graphviz
@given(expr=expressions(n_nodes=(1, 6)))
def test_export_of_random_graphs_marks_each_steps_node(tmp_path_factory, expr) -> None:
    path = export_html(build(expr), tmp_path_factory.mktemp("x") / "page.html")
    check_page(path.read_text("utf-8"), build(expr))


def test_export_command_writes_the_demo(tmp_path, capsys) -> None:
    assert main([str(tmp_path / "out.html")]) == 0
    assert "wrote" in capsys.readouterr().out
    check_page((tmp_path / "out.html").read_text("utf-8"), demo_graph())


def test_export_rejects_bad_input(tmp_path) -> None:
    with pytest.raises(TypeError, match="export_html"):
        export_html(3.0, tmp_path / "x.html")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="title"):
        export_html(Value(1.0), tmp_path / "x.html", title=3)  # type: ignore[arg-type]


# ---- the widget --------------------------------------------------------------------------------
def test_widget_buttons_and_slider_move_between_frames() -> None:
    pytest.importorskip("ipywidgets")
    root = demo_graph()
    w = step_widget(root)
    want = twin_records(demo_graph())
    n = len(want)
    assert w.slider.max == n - 1 and w.prev.disabled and not w.next.disabled

    def active() -> str:
        return re.search(r'class="al-frame" data-active="(n\d+)"', w.children[2].value).group(1)

    assert active() == f"n{want[0][0]}"
    w.next.click()
    w.next.click()
    assert w.slider.value == 2 and active() == f"n{want[2][0]}"
    assert 'data-step="2"' in w.children[3].value and 'data-step="1"' not in w.children[3].value
    w.prev.click()
    assert w.slider.value == 1 and active() == f"n{want[1][0]}"
    w.slider.value = n - 1
    assert w.next.disabled and active() == f"n{want[-1][0]}"
    w.next.click()
    assert w.slider.value == n - 1
    assert all(v.grad == 0.0 for v in topo_order([root]))


def test_widget_without_ipywidgets_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.raises(ImportError, match=r"autograd-lite\[notebooks\]"):
        step_widget(Value(1.0))


# ---- the quiz page (static checks; tests/viz/test_stepping_page_in_browser.py answers it in
# Chromium)
QUESTION = re.compile(r'<div class="q" data-step="(\d+)" data-arg="(\d+)" data-answer="([^"]*)">')


@settings(max_examples=4)
@given(expr=expressions(n_nodes=(1, 5)))
def test_quiz_page_asks_one_question_per_contribution(tmp_path_factory, expr) -> None:
    page = export_html(build(expr), tmp_path_factory.mktemp("q") / "quiz.html",
                       quiz=True).read_text("utf-8")
    twin = build(expr)
    steps = list(backward_steps(twin))
    want = [(s.index, c.index, c.local, c.contribution, s.upstream)
            for s in steps for c in s.contributions]
    sealed = QUESTION.findall(page)
    answers = [json.loads(unseal(a)) for _, _, a in sealed]
    got = [(int(k), int(i), float(a["local"]), float(a["contribution"]), float(a["upstream"]))
           for (k, i, _), a in zip(sealed, answers)]
    assert got == want  # exact: the numbers are written with repr
    asks = re.findall(r'<figure class="frame ask" id="ask-(\d+)"', page)
    assert [int(k) for k in asks] == [s.index for s in steps if s.contributions]
    figures = re.findall(r'<figure [^>]*data-sealed="([^"]*)"', page)
    assert "<svg" not in page  # every picture sealed: they show gradients yet to be found
    assert len(figures) == len(steps) + len(asks)
    assert all(json.loads(unseal(f))["svg"].count("<svg") == 1 for f in figures)
    assert REMOTE.search(page) is None
    assert re.search(r"\son[a-z]+\s*=", page) is None  # no inline event handlers
    assert "default-src 'none'" in page  # the CSP stays
    assert 'class="quiz" data-ask="local" data-rtol="0.01" data-atol="0.001"' in page


def test_quiz_options_and_command_line(tmp_path, capsys) -> None:
    page = export_html(demo_graph(), tmp_path / "c.html", quiz="contribution", rtol=0.05,
                       atol=0.0).read_text("utf-8")
    assert 'data-ask="contribution" data-rtol="0.05" data-atol="0.0"' in page
    assert "within 5 % of the true value" in page
    plain = export_html(demo_graph(), tmp_path / "p.html").read_text("utf-8")
    assert 'class="q"' not in plain and "frame ask" not in plain and 'data-rtol=' not in plain
    with pytest.raises(ValueError, match="quiz must be"):
        export_html(demo_graph(), tmp_path / "x.html", quiz="hard")
    with pytest.raises(ValueError, match="rtol"):
        export_html(demo_graph(), tmp_path / "x.html", quiz=True, rtol=-1)
    assert main([str(tmp_path / "cli.html"), "--quiz"]) == 0
    assert 'data-ask="local"' in (tmp_path / "cli.html").read_text("utf-8")
    assert main([str(tmp_path / "cli2.html"), "--quiz", "contribution"]) == 0
    assert 'data-ask="contribution"' in (tmp_path / "cli2.html").read_text("utf-8")
    capsys.readouterr()
