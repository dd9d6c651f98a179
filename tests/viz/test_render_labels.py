"""User text in pictures is drawn literally by every renderer: backslashes stay backslashes
(Graphviz expands `\\G`, `\\N`, `\\n`... in labels), `{ } | < > &` and spaces stay themselves,
characters no renderer can read (controls, lone surrogates) become visible stand-ins instead of
crashing dot or graphviz-pure; and a renderer's error blames the DOT text or the program, rightly.
"""

from __future__ import annotations

import html
import os
import re
import shutil
from unittest import mock

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from autograd_lite import Value, primitive
from autograd_lite.viz import render as R
from autograd_lite.viz.render.labels import visible

from .test_renderers import fake_program, posix_only

RENDERERS = [
    pytest.param(shutil.which("dot"), id="dot", marks=pytest.mark.skipif(
        shutil.which("dot") is None, reason="Graphviz's dot not installed")),
    pytest.param(R._find_pure(), id="graphviz-pure", marks=pytest.mark.skipif(
        R._find_pure() is None, reason="graphviz-pure not installed")),
]


def svg_texts(svg: str) -> list[str]:
    """Each `<text>`'s content, unescaped; no-break spaces read as spaces (dot writes a run of
    spaces as space + U+00A0 so that SVG keeps them)."""
    return [same_spaces(html.unescape(t))
            for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def same_spaces(text: str) -> str:
    return text.replace("\xa0", " ")


def rendered(root: Value, renderer: str, **options: object) -> list[str]:
    with mock.patch.dict(os.environ, {R.RENDERER_ENV: renderer}):
        return svg_texts(R.render_svg(R.draw_graph(root, **options)))


class _Model:
    """A module-like object whose one parameter sits in a module called `name`."""

    def __init__(self, name: str, p: Value) -> None:
        self.name, self.p = name, p

    def named_parameters(self):
        yield f"{self.name}.w", self.p

    def graph_clusters(self):
        return {self.p: (self.name,)}


def _symbol_primitive(symbol: str):
    @primitive("shown", lambda out, x: 2.0, symbol=symbol)
    def shown(x: float) -> float:
        return 2.0 * x

    return shown


AWKWARD = ["\\Gamma", "C:\\Temp\\New", "a\\nb\\lc\\rd", "\\N\\E\\G\\T\\H\\L", "{a|b}<c> d  e",
           "x\x0by\x0cz\x1b\x00w", "tab\there", "line\nbreak\r\n", "\ud800lone", "\x85\x9f\x7f",
           "\ufffe\uffff", '"quoted" \\"', "a\\", "&amp; <b>bold</b>", "]]>", "<>", "  ", "]", "]]"]


@pytest.mark.parametrize("renderer", RENDERERS)
@given(label=st.text(min_size=1), name=st.text(min_size=1).filter(lambda s: "." not in s),
       symbol=st.text(min_size=1))
@example(label="\\Gamma", name="C:\\Temp\\New", symbol="\\N")
@example(label="x\x0by\x0cz\x1b", name="\x00", symbol="\ud800")
@example(label="{a|b}<c> d", name="<b>", symbol="{0}")
@example(label="0", name="0", symbol="]")  # dot's lexer failed on a label starting `<]`
def test_any_text_is_drawn_literally(renderer, label, name, symbol) -> None:
    """A value's label, a module's name (its cluster) and an op's symbol: each drawn as a text
    of its own, character for character (undrawable ones as their visible stand-ins)."""
    p = Value(1.0)
    x = Value(0.5, label=label)
    y = _symbol_primitive(symbol)(x * p)
    y.backward()
    texts = rendered(y, renderer, modules=_Model(name, p))
    assert same_spaces(visible(label)) in texts
    assert same_spaces(visible(name)) in texts
    assert same_spaces(visible(symbol)) in texts


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("text", AWKWARD)
def test_awkward_labels_render_with_every_renderer(renderer, text) -> None:
    x = Value(2.0, label=text)
    y = (x * 3.0).tanh()
    y.label = text + "!"
    y.backward()
    texts = rendered(y, renderer)
    assert same_spaces(visible(text)) in texts
    assert same_spaces(visible(text + "!")) in texts


def test_visible_stand_ins() -> None:
    assert visible("x\x0by\x0cz\x1b\x00") == "x\u240by\u240cz\u241b\u2400"
    assert visible("a\tb\nc\rd\x7f") == "a\u2409b\u240ac\u240dd\u2421"
    assert visible("\x85\ud800\ufffe") == "\\x85\\ud800\\ufffe"
    ok = "\\Gamma {a|b} <c> & \u2028 \U0001f600 \u00e9"
    assert visible(ok) == ok  # drawable text is left alone


@pytest.mark.parametrize("renderer", RENDERERS)
def test_backslash_sequences_are_not_expanded(renderer) -> None:
    """Reported examples: `\\Gamma` is not "autogradamma", `C:\\Temp\\New` not
    `C:\\Tempn0ew` (Graphviz's \\G is the graph's name, \\N the node's)."""
    x = Value(1.0, label="\\Gamma")
    y = x * 2.0
    y.label = "C:\\Temp\\New"
    texts = rendered(y, renderer)
    assert "\\Gamma" in texts and "C:\\Temp\\New" in texts
    assert not any("autograd" in t or "n0" in t for t in texts)


# ---- whose fault is a failed render ----------------------------------------------------------
@pytest.mark.parametrize("renderer", RENDERERS)
def test_bad_dot_text_is_blamed_on_the_text_not_the_renderer(renderer, monkeypatch) -> None:
    monkeypatch.setenv(R.RENDERER_ENV, renderer)
    for bad in ("digraph { a -> }", "digraph { a [label=<<b>x</i>>] }"):
        with pytest.raises(R.RenderFailed) as info:
            R.render_svg(bad)
        msg = str(info.value)
        assert "could not read the DOT text" in msg and "not the program" in msg
        assert "not a working dot program" not in msg


@posix_only
def test_a_crashing_program_is_blamed_and_the_override_named_only_when_set(tmp_path,
                                                                           monkeypatch) -> None:
    fake = fake_program(tmp_path / "bin", "dot", "echo 'Segmentation fault' >&2; exit 139")
    monkeypatch.setenv(R.RENDERER_ENV, fake)
    with pytest.raises(R.RenderFailed) as info:
        R.render_svg("digraph { a }")
    msg = str(info.value)
    assert "failed with exit status 139: Segmentation fault" in msg
    assert f"unset {R.RENDERER_ENV}" in msg
    monkeypatch.delenv(R.RENDERER_ENV)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # the same program, found as `dot`
    with pytest.raises(R.RenderFailed) as info:
        R.render_svg("digraph { a }")
    msg = str(info.value)
    assert "Segmentation fault" in msg and R.RENDERER_ENV not in msg


def test_dot_text_utf8_cannot_carry_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"'\\ud800' at position 20.*lone surrogate"):
        R.run_renderer('digraph { a [label="\ud800"] }', "svg")
