"""The quiz page keeps its answers out of the page source (sealed, read back by the page's
script once the learner has answered) and numbers steps from 1.

Oracles: `backward_steps` of a twin graph (the exact local derivatives and contributions) and
`export.unseal`, the reading the page's script does (tests/viz/test_stepping_page_in_browser.py
answers the page in Chromium, which reads the same sealed text).
"""

from __future__ import annotations

import html
import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from autograd_lite import backward_steps
from autograd_lite.testing import expressions
from autograd_lite.viz.export import demo_graph, export_html, seal, unseal

from .test_stepping_frames import build  # an expression's graph, as the page tests build it


@given(st.text(), st.text(min_size=1))
def test_seal_round_trips_any_text(text, salt):
    sealed = seal(text, salt)
    assert unseal(sealed) == text
    assert re.fullmatch(r"\d+:[A-Za-z0-9+/=]*", sealed)
    assert seal(text, salt) == sealed  # deterministic: the same graph gives the same page


def test_sealed_number_is_not_in_plain_view():
    text = json.dumps({"local": "0.9400148488", "contribution": "-1.410022273"})
    sealed = seal(text, "page|0|0")
    assert "0.94" not in sealed and "1.41" not in sealed and "local" not in sealed


def _quiz_section(page: str) -> str:
    return page[page.index('<section id="quiz">'):page.index('<main id="frames"')]


@settings(max_examples=5, deadline=None)
@given(expr=expressions(n_nodes=(1, 6)))
def test_quiz_answers_are_sealed_and_read_back_exactly(tmp_path_factory, expr):
    page = export_html(build(expr), tmp_path_factory.mktemp("q") / "quiz.html",
                       quiz=True).read_text("utf-8")
    steps = list(backward_steps(build(expr)))
    quiz = _quiz_section(page)
    assert "data-local=" not in page and "data-contribution=" not in page
    sealed = re.findall(r'data-answer="([^"]*)"', quiz)
    answers = [json.loads(unseal(s)) for s in sealed]
    want = [(c.local, c.contribution) for s in steps for c in s.contributions]
    got = [(float(a["local"]), float(a["contribution"])) for a in answers]
    assert len(got) == len(want)
    for (gl, gc), (wl, wc) in zip(got, want):
        assert (gl == wl or gl != gl and wl != wl) and (gc == wc or gc != gc and wc != wc)
    chains = re.findall(r'<code class="q-chain" data-sealed="([^"]*)" hidden></code>', quiz)
    assert len(chains) == len(want)
    for c in chains:
        text = unseal(c)
        assert "+=" in text and text not in quiz  # the chain-rule line only sealed


def test_steps_are_numbered_from_one(tmp_path):
    page = export_html(demo_graph(), tmp_path / "quiz.html", quiz=True).read_text("utf-8")
    steps = list(backward_steps(demo_graph()))
    headings = [int(k) for k in re.findall(r"<p>Step (\d+): <code>", page)]
    assert headings == [s.index + 1 for s in steps if s.contributions]
    assert headings[0] == 1
    tape_numbers = [int(k) for k in
                    re.findall(r'<tr[^>]*data-step="\d+"[^>]*><td>(\d+)</td>', page)]
    assert tape_numbers == [s.index + 1 for s in steps]
    assert '"step " + (k + 1) + " of " + frames.length' in page  # the counter: 1 .. n


@settings(max_examples=4, deadline=None)
@given(expr=expressions(n_nodes=(1, 6)))
def test_quiz_tape_cells_are_sealed_and_read_back_as_the_plain_tape(tmp_path_factory, expr):
    from autograd_lite.viz.stepping import Tape

    page = export_html(build(expr), tmp_path_factory.mktemp("t") / "quiz.html",
                       quiz=True).read_text("utf-8")
    tape = page[page.index('<div id="tape-wrap">'):]
    plain = Tape(list(backward_steps(build(expr)))).to_html(style=False, start=1)
    cell = r'<td class="(al-received|al-chain|al-running)"{}>(.*?)</td>'
    want = re.findall(cell.format(""), plain)
    got = [(kind, unseal(sealed)) for kind, sealed, _ in
           re.findall(cell.format(r' data-sealed="([^"]*)"'), tape)]
    assert got == want and len(got) > 0
    for kind, text in want:
        if kind == "al-chain" and "+=" in text:
            assert text not in page  # the answer key is not in the source
    walk = export_html(build(expr), tmp_path_factory.mktemp("w") / "steps.html").read_text()
    assert 'data-sealed="' not in walk  # the plain walk-through shows everything


def _figures(page: str) -> dict[str, dict]:
    """Each sealed <figure>'s id and its opened content (what the page's script reads)."""
    return {fid: json.loads(unseal(sealed)) for fid, sealed in
            re.findall(r'<figure [^>]*\sid="([^"]+)"[^>]*data-sealed="([^"]*)"', page)}


@settings(max_examples=4, deadline=None)
@given(expr=expressions(n_nodes=(1, 6)))
def test_quiz_frames_pictures_and_gradients_are_sealed(tmp_path_factory, expr):
    # A later frame's picture shows the gradients (answers) found so far: none is in plain
    # view; opened, each is the walk-through's picture of that step, with its numbers.
    page = export_html(build(expr), tmp_path_factory.mktemp("q") / "quiz.html",
                       quiz=True).read_text("utf-8")
    walk = export_html(build(expr), tmp_path_factory.mktemp("w") / "steps.html").read_text()
    steps = list(backward_steps(build(expr)))
    assert "<svg" not in page and "data-upstream=" not in page
    assert not re.search(r"grad -?\d", page)
    opened = _figures(page)
    assert len(opened) == len(steps) + sum(1 for s in steps if s.contributions)
    plain = dict(re.findall(r'<figure class="frame" id="(frame-\d+)"[^>]*>\n(.*?)\n</figure>',
                            walk, flags=re.S))
    received = dict(re.findall(r'<figure class="frame" id="(frame-\d+)"[^>]*'
                               r'data-received="([^"]*)"', walk))
    for s in steps:
        fid = f"frame-{s.index}"
        assert opened[fid]["svg"] == plain[fid]  # the same picture as the walk-through's
        assert float(opened[fid]["upstream"]) == s.upstream
        assert html.escape(opened[fid]["received"]) == received[fid]
        if s.contributions:
            assert opened[f"ask-{s.index}"]["svg"].count("<svg") == 1


def test_quiz_sections_seal_what_each_step_received(tmp_path):
    # "Step 2 received dL/dn = 0.5" is the sum of step 1's answers: sealed until step 2 shows.
    page = export_html(demo_graph(), tmp_path / "quiz.html", quiz=True).read_text("utf-8")
    quiz = _quiz_section(page)
    steps = [s for s in backward_steps(demo_graph()) if s.contributions]
    texts = [unseal(t) for t in re.findall(r'received <span data-sealed="([^"]*)"></span>', quiz)]
    assert len(texts) == len(steps)
    for s, text in zip(steps, texts):
        assert f"= {s.upstream:.4g}" in text or s.index == 0
        assert text not in quiz
    prompts = [unseal(t) for t in re.findall(
        r'<span class="q-ask-contribution">[^<]*<span data-sealed="([^"]*)">', quiz)]
    assert len(prompts) == sum(len(s.contributions) for s in steps)
    assert all("· ? =" in p for p in prompts)
