"""Pictures as a newcomer sees them: each SVG and HTML page, rendered by Graphviz's dot and by
graphviz-pure, opened in headless Chromium, where every text's bounding box (`getBBox`) must lie
inside its node's shape and cross no field separator or cell border.

A screenshot of each picture is kept: under $AUTOGRAD_LITE_SCREENSHOTS when set, else in the
test's tmp_path (the path is printed; run with -s to see it)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import nn
from autograd_lite import Value, grad
from autograd_lite.viz.export import demo_graph, export_html, unseal
from autograd_lite.viz.render import draw_graph, render_to
from autograd_lite.viz.render.renderers import RENDERER_ENV, _find_pure
from tests.render_helpers import TEXT_FIT_JS, chromium

pytestmark = pytest.mark.browser

#: Tolerance in SVG units (points): anti-aliasing and rounding of Graphviz's coordinates.
EPS = 0.5


def _renderer(name: str) -> str | None:
    return shutil.which("dot") if name == "dot" else _find_pure()


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield d
    d.quit()


@pytest.fixture(params=["dot", "graphviz-pure"])
def renderer(request, monkeypatch) -> str:
    """Each test runs once per renderer, chosen as a user would: $AUTOGRAD_LITE_DOT."""
    path = _renderer(request.param)
    if path is None:
        pytest.skip(f"{request.param} is not installed")
    monkeypatch.setenv(RENDERER_ENV, path)
    return request.param


# ---- the pictures the tests draw ---------------------------------------------------------------
def tanh_neuron() -> Value:
    """`autograd-lite graph "tanh(w*x + b)" x=0.5 w=-1.5 b=1`, a newcomer's example."""
    x, w, b = Value(0.5, label="x"), Value(-1.5, label="w"), Value(1.0, label="b")
    y = (w * x + b).tanh()
    y.backward()
    return y


def _mlp() -> tuple[nn.MLP, Value]:
    model = nn.MLP(3, [4, 4, 1], seed=3)
    out = model([0.5, -1.25, 2.0])
    y = out[0] if isinstance(out, list) else out
    loss = (y - 1.0) ** 2
    loss.backward()
    return model, loss


def mlp_full() -> object:
    model, loss = _mlp()
    return draw_graph(loss, modules=model, color_by_grad=True)


def mlp_neurons() -> object:
    model, loss = _mlp()
    health = {"layers.0.neurons.1": {"saturated": 0.95, "dead": 0.0},
              "layers.1.neurons.2": {"saturated": 0.0, "dead": 1.0}}
    return draw_graph(loss, modules=model, collapse="neuron", color_by_grad=True, health=health)


def mlp_layers() -> object:
    model, loss = _mlp()
    return draw_graph(loss, modules=model, collapse="layer")


def second_derivative() -> object:
    x = Value(1.5, label="x")
    y = (x * x).tanh()
    gx, = grad(y, [x], create_graph=True)
    gx.backward()
    return draw_graph(gx, derivative_of=y)


PICTURES: dict[str, Callable[[], object]] = {
    "neuron": lambda: draw_graph(tanh_neuron()),
    "neuron-tb": lambda: draw_graph(demo_graph(), rankdir="TB"),
    "mlp-full": mlp_full,
    "mlp-neurons": mlp_neurons,
    "mlp-layers": mlp_layers,
    "second-derivative": second_derivative,
}


def _keep(driver, tmp_path: Path, name: str) -> Path:
    """Screenshot the whole picture (the window grown to the document, at most 4000 px)."""
    shot = tmp_path / f"{name}.png"
    w, h = driver.execute_script("const e = document.documentElement; "
                                 "return [e.scrollWidth, e.scrollHeight];")
    driver.set_window_size(min(max(w + 40, 1280), 4000), min(max(h + 140, 1000), 4000))
    try:
        assert driver.save_screenshot(str(shot))
    finally:
        driver.set_window_size(1280, 1000)
    keep = os.environ.get("AUTOGRAD_LITE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shot = Path(shutil.copy(shot, Path(keep) / shot.name))
    print(f"screenshot: {shot}")
    return shot


def _fits(driver, what: str) -> dict:
    found = driver.execute_script(TEXT_FIT_JS, EPS)
    assert found["svgs"] >= 1 and found["texts"] >= 3, f"{what}: nothing measured: {found}"
    shown = "\n".join(str(b) for b in found["bad"][:10])
    assert found["bad"] == [], (f"{what}: {len(found['bad'])} of {found['texts']} texts do not "
                                f"fit their fields in Chromium:\n{shown}")
    return found


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_svg_text_sits_inside_its_field_in_chromium(driver, renderer, tmp_path, name) -> None:
    path = render_to(PICTURES[name](), tmp_path / f"{name}-{renderer}.svg")
    driver.get(path.resolve().as_uri())
    _fits(driver, f"{name} ({renderer})")
    _keep(driver, tmp_path, f"{name}-{renderer}")


@pytest.mark.parametrize("quiz", [False, True], ids=["steps", "quiz"])
def test_html_pages_text_sits_inside_its_field_in_chromium(driver, renderer, tmp_path,
                                                           quiz) -> None:
    """Every frame of the walk-through (the tape's pictures) and of the quiz page."""
    kind = "quiz" if quiz else "steps"
    page = export_html(demo_graph(), tmp_path / f"{kind}-{renderer}.html", quiz=quiz)
    driver.get(page.resolve().as_uri())
    if quiz:  # the quiz seals each picture until its step is shown: open them all first
        shown = driver.execute_script("return document.querySelectorAll('svg').length;")
        assert shown == 1  # at load: the first question's picture only
        sealed = driver.execute_script(
            "return [...document.querySelectorAll('figure[data-sealed]')]"
            ".map(f => [f.id, f.getAttribute('data-sealed')]);")
        assert len(sealed) >= 10
        for fid, text in sealed:
            driver.execute_script("document.getElementById(arguments[0]).innerHTML = "
                                  "arguments[1];", fid, json.loads(unseal(text))["svg"])
    found = _fits(driver, f"{kind} page ({renderer})")
    assert found["svgs"] >= 10  # one per step (and the quiz's before-pictures)
    _keep(driver, tmp_path, f"{kind}-{renderer}")
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_the_checker_sees_text_that_overflows(driver, tmp_path) -> None:
    """The measurement is not vacuous: a field drawn too narrow for its text is reported."""
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="60"><g class="node">'
           "<title>n0</title>"
           '<path d="M0,0 L120,0 L120,30 L0,30 Z" fill="none" stroke="black"/>'
           '<text x="3" y="20" font-family="DejaVu Sans" font-size="11">data -1.5000</text>'
           '<text x="63" y="20" font-family="DejaVu Sans" font-size="11">grad 0.4700</text>'
           '<polygon points="60,2 60,28" stroke="black"/></g></svg>')
    path = tmp_path / "narrow.svg"
    path.write_text(svg, encoding="utf-8")
    driver.get(path.resolve().as_uri())
    found = driver.execute_script(TEXT_FIT_JS, EPS)
    whys = sorted(b["why"] for b in found["bad"])
    assert whys == ["crosses a separator", "outside its shape"], found
