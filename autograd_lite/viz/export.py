"""A standalone HTML walk-through of backward: every frame as inline SVG, the tape, controls.

One self-contained file (CSS and JS inline, no URL, no kernel): open it in any browser or share
it. `python -m autograd_lite.viz.export walkthrough.html` writes one for a small neuron
(`--quiz` for the quiz page: the learner types each local derivative or contribution first).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
import re
import sys
import zlib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ..engine.value import Value, describe
from .examples import neuron
from .stepping.frames import Frame, clean_svg, frames
from .stepping.steps import CARRIED, DEFAULT_MAX_STEPS, node_ids
from .stepping.tape import Tape

__all__ = ["export_html", "render_page", "mark_active", "demo_graph", "main", "QUIZ_ASK",
           "QUIZ_RTOL", "QUIZ_ATOL"]

#: What a quiz asks at each contribution: the local derivative d node / d parent, or the
#: contribution upstream * local added to the parent's gradient (the learner can switch).
QUIZ_ASK = ("local", "contribution")
#: An answer counts when |answer - truth| <= QUIZ_RTOL * |truth| + QUIZ_ATOL: 1 % relative,
#: with 0.001 absolute for answers near zero (the pictures show numbers to 4 decimals).
QUIZ_RTOL = 0.01
QUIZ_ATOL = 1e-3


def _number(x: object) -> str:
    """A number as the page's data attributes hold it: a JSON number (`0.25`, `-1e-08`), or
    `inf`, `-inf`, `nan` (which the page's parser reads), never a repr like `np.float64(...)`."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"expected a real number for the page, got {type(x).__name__} {x!r}")
    f = float(x)
    return repr(f) if math.isfinite(f) else ("nan" if f != f else ("inf" if f > 0 else "-inf"))


def _keystream(seed: int, n: int) -> bytes:
    """n bytes of xorshift32 from `seed` (the page's script runs the same generator)."""
    x = seed & 0xFFFFFFFF or 1
    out = bytearray()
    for _ in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out.append(x & 0xFF)
    return bytes(out)


def seal(text: str, salt: str) -> str:
    """A quiz answer kept out of plain view in the page's source: `SEED:BASE64` of the UTF-8
    text XORed with a keystream seeded by `salt` (a scrambling, not a secret: the page's script
    reads it back when the learner has answered)."""
    seed = zlib.crc32(salt.encode("utf-8")) or 1
    data = text.encode("utf-8")
    mixed = bytes(a ^ b for a, b in zip(data, _keystream(seed, len(data))))
    return f"{seed}:{base64.b64encode(mixed).decode('ascii')}"


def unseal(sealed: str) -> str:
    """The text of `seal(text, salt)` (what the page's script does; for tests and tools)."""
    seed, _, b64 = sealed.partition(":")
    mixed = base64.b64decode(b64)
    return bytes(a ^ b for a, b in zip(mixed, _keystream(int(seed), len(mixed)))).decode("utf-8")


def mark_active(svg: str, node_id: str) -> str:
    """Tag the SVG group of node `node_id` (its `<title>`) with class `al-active` and
    `data-active="true"`, so the page and its tests can find the highlighted node."""
    m = re.search(rf"<g\b([^>]*)>\s*<title>{re.escape(node_id)}</title>", svg)
    if m is None:
        raise ValueError(f"node {node_id!r} not found in the rendered SVG")
    attrs = m.group(1)
    if 'class="' in attrs:
        attrs = attrs.replace('class="', 'class="al-active ', 1)
    else:
        attrs += ' class="al-active"'
    return f'{svg[:m.start()]}<g{attrs} data-active="true"><title>{node_id}</title>' + \
        svg[m.end():]


def _figure(step_index: int, active: str, name: str, edges: str, upstream: float, node_text: str,
            received: str, svg: str, hidden: bool, ask: bool = False,
            salt: str | None = None) -> str:
    """One frame's <figure>; with a `salt` (a quiz page), its picture and numbers sealed (they
    show gradients the learner has yet to find), opened by the page's script when shown."""
    esc = html.escape
    cls, fid = ("frame ask", f"ask-{step_index}") if ask else ("frame", f"frame-{step_index}")
    head = (f'<figure class="{cls}" id="{fid}" data-step="{step_index}" '
            f'data-active-id="{active}" data-active-label="{esc(name)}" '
            f'data-edges="{esc(edges)}" ')
    shut = f"{' hidden' if hidden else ''}>"
    if salt is not None:
        sealed = json.dumps({"upstream": _number(upstream), "received": received, "svg": svg})
        return (f'{head}data-node-text="{esc(node_text)}" '
                f'data-sealed="{seal(sealed, f"{salt}|{fid}")}"{shut}\n</figure>')
    return (f'{head}data-upstream="{_number(upstream)}" data-node-text="{esc(node_text)}" '
            f'data-received="{esc(received)}"{shut}\n{svg}\n</figure>')


def _frame_html(frame: Frame, tp: Tape, quiz: bool = False) -> str:
    step = frame.step
    row = next(r for r in tp.rows if r.step == step.index)
    if frame.svg is None:
        raise ValueError("export needs frames rendered with svg=True")
    svg = mark_active(clean_svg(frame.svg), frame.active)
    used = " ".join(f"{p}->{c}" for p, c in frame.edges)
    to = list(dict.fromkeys(tp.names[c.parent] for c in step.contributions))
    passes = ("; passes it on to " + ", ".join(to)) if to else (
        "; the root, with nothing to pass on" if step.index == 0 else
        "; a leaf: its gradient is complete")
    if row.carried is not None and not step.contributions:
        passes += f" ({tp.names[step.node]}.grad also holds {row.carried:.4g} {CARRIED})"
    received = row.received + passes
    salt = str(tp) if quiz else None
    out = _figure(step.index, frame.active, frame.name, used, step.upstream, row.node_text,
                  received, svg, step.index > 0 or (quiz and frame.before_svg is not None),
                  salt=salt)
    if quiz and frame.before_svg is not None:
        before = mark_active(clean_svg(frame.before_svg), frame.active)
        out = _figure(step.index, frame.active, frame.name, "", step.upstream, row.node_text,
                      received, before, step.index > 0, ask=True, salt=salt) + "\n" + out
    return out


def _quiz_html(tp: Tape) -> str:
    """One section per step with contributions: a question per contribution, the answers and
    the chain-rule line sealed (`seal`: not readable in the page's source) in data attributes
    the page's script reads back once the learner has answered. Steps are numbered from 1."""
    esc = html.escape
    names = tp.names
    top = names[tp.steps[0].node]
    salt = str(tp)  # deterministic: the same graph gives the same page
    out = []
    for s in tp.steps:
        if not s.contributions:
            continue
        name = names[s.node]
        rows = [r for r in tp.rows if r.step == s.index]
        counts: dict[str, int] = {}
        for c in s.contributions:
            counts[names[c.parent]] = counts.get(names[c.parent], 0) + 1
        qs = []
        for c, r in zip(s.contributions, rows):
            p = names[c.parent]
            which = f" (argument {c.index + 1})" if counts[p] > 1 else ""
            local = f"d{name}/d{p}{which}"
            up = format(s.upstream, ".4g")
            answer = json.dumps({"local": _number(c.local),
                                 "contribution": _number(c.contribution),
                                 "upstream": _number(s.upstream)})
            where = f"{salt}|{s.index}|{c.index}"
            # The upstream gradient is the sum of earlier answers: sealed, opened when shown.
            prompt = f"d{esc(top)}/d{esc(name)} · {esc(local)} = {esc(up)} · ? ="
            qs.append(
                f'<div class="q" data-step="{s.index}" data-arg="{c.index}" '
                f'data-answer="{seal(answer, where)}">'
                f'<label><span class="q-ask-local">{esc(local)} =</span>'
                f'<span class="q-ask-contribution">contribution to d{esc(top)}/d{esc(p)}{which}: '
                f'<span data-sealed="{seal(prompt, where + "|prompt")}"></span></span> '
                f'<input class="q-input" type="text" inputmode="decimal" autocomplete="off" '
                f'spellcheck="false" aria-label="{esc(local)}"></label> '
                f'<button class="q-check" type="button">check</button> '
                f'<button class="q-show" type="button">show answer</button>'
                f'<span class="q-result" aria-live="polite"></span>'
                f'<code class="q-chain" data-sealed="{seal(r.chain, where + "|chain")}" '
                f"hidden></code></div>"
            )
        out.append(
            f'<section class="q-step" data-step="{s.index}" hidden>'
            f"<p>Step {s.index + 1}: <code>{esc(rows[0].node_text)}</code> received "
            f'<span data-sealed="{seal(esc(rows[0].received), f"{salt}|{s.index}|received")}">'
            "</span>. Before the answer is shown, type "
            f'<span class="q-ask-local">each local derivative</span>'
            f'<span class="q-ask-contribution">each contribution (upstream × local)</span>:</p>'
            + "".join(qs) + "</section>"
        )
    return "\n".join(out)


def _sealed_tape(tp: Tape) -> str:
    """The tape for a quiz page: each row's gradient received (which holds earlier answers),
    chain-rule line and running gradient sealed (see `seal`); the page's script opens the
    first when the row's step is shown, the others once it is answered. Steps from 1."""
    salt = str(tp)

    def seal_row(row: re.Match[str]) -> str:
        step = row.group(1)
        return re.sub(r'<td class="(al-received|al-chain|al-running)">(.*?)</td>',
                      lambda c: (f'<td class="{c.group(1)}" data-sealed="'
                                 f'{seal(c.group(2), f"{salt}|{step}|{c.group(1)}|{c.start()}")}'
                                 '"></td>'),
                      row.group(0))

    return re.sub(r'<tr[^>]*\sdata-step="(\d+)"[^>]*>.*?</tr>', seal_row,
                  tp.to_html(style=False, start=1))


QUIZ_PANEL = """<section id="quiz">
  <p class="quiz-head">Quiz: <label>ask for <select id="quiz-ask">
    <option value="local">the local derivative</option>
    <option value="contribution">the contribution (upstream × local)</option></select></label>
    <span id="score" data-correct="0" data-answered="0" data-total="{total}">score 0 / 0
    ({total} questions)</span>
    <span class="quiz-tol">An answer counts when it is within {rtol_pct:g} % of the true value
    (or within {atol:g} of it); fractions like 1/3 are fine.</span></p>
{sections}
</section>"""


def render_page(fs: Sequence[Frame], title: str, subtitle: str = "", *,
                quiz: bool | str = False, rtol: float = QUIZ_RTOL,
                atol: float = QUIZ_ATOL) -> str:
    """The page's HTML for already-rendered frames (see `stepping.frames(..., svg=True)`).

    With `quiz` (True or one of `QUIZ_ASK`), the frames need `before=True` pictures: each step
    first shows the graph before it and asks for its numbers (see `export_html`)."""
    if not fs:
        raise ValueError("render_page() needs at least one frame")
    from .. import __version__

    ask = _quiz_mode(quiz)
    ids = {i: v for v, i in node_ids(fs[0].step.node).items()}
    carried = {ids[i]: g for i, g in fs[0].carried}
    tp = Tape([f.step for f in fs], carried=carried)
    template = resources.files("autograd_lite").joinpath("stepping.html").read_text("utf-8")
    quiz_html, attrs = "", ""
    if ask is not None:
        total = sum(len(f.step.contributions) for f in fs)
        quiz_html = QUIZ_PANEL.format(total=total, rtol_pct=100 * rtol, atol=atol,
                                      sections=_quiz_html(tp))
        attrs = (f' class="quiz" data-ask="{ask}" data-rtol="{_number(rtol)}" '
                 f'data-atol="{_number(atol)}"')
    fields = {
        "TITLE": html.escape(title),
        "SUBTITLE": html.escape(subtitle),
        "VERSION": __version__,
        "N": str(len(fs)),
        "MAX": str(len(fs) - 1),
        "FRAMES": "\n".join(_frame_html(f, tp, ask is not None) for f in fs),
        "TAPE": _sealed_tape(tp) if ask is not None else tp.to_html(style=False, start=1),
        "QUIZ": quiz_html,
        "BODYATTRS": attrs,
    }
    # One pass, so text inserted for one field is never read as another placeholder.
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: fields[m.group(1)], template)


def _quiz_mode(quiz: object) -> str | None:
    if quiz is False or quiz is None:
        return None
    if quiz is True:
        return QUIZ_ASK[0]
    if isinstance(quiz, str) and quiz in QUIZ_ASK:
        return quiz
    raise ValueError(f"quiz must be True, False or one of {QUIZ_ASK}, got {quiz!r}")


def export_html(
    root: Value,
    path: str | Path,
    title: str = "Backpropagation, step by step",
    gradient: float = 1.0,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    carry: bool = False,
    quiz: bool | str = False,
    rtol: float = QUIZ_RTOL,
    atol: float = QUIZ_ATOL,
    **draw_options: Any,
) -> Path:
    """Write the step-through of root's backward pass to one self-contained HTML file.

    Frames are drawn with `draw_graph(root, **draw_options)`; the graph's `.grad`s are left as
    they were. `carry=True` starts from the leaves' current `.grad` (as `backward()` would now)
    and marks those leaves "carried over from before". `quiz=True` (or "local" /
    "contribution", the question asked first; the page can switch) makes a quiz: each step
    first shows the graph before it, the learner types the local derivative or contribution
    for each input, answers within `rtol * |truth| + atol` count, a wrong one shows the
    chain-rule line with the numbers, and a score is kept. Returns the path written.
    """
    if not isinstance(root, Value):
        raise TypeError(f"export_html() needs a Value, got {describe(root)}")
    if not isinstance(title, str):
        raise TypeError(f"export_html(): title must be a str, got {describe(title)}")
    ask = _quiz_mode(quiz)
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if isinstance(tol, bool) or not isinstance(tol, int | float) or not tol >= 0 \
                or tol == float("inf"):
            raise ValueError(f"export_html(): {name} must be a finite number >= 0, got {tol!r}")
    out = Path(path)
    fs = frames(root, gradient, svg=True, max_steps=max_steps, carry=carry,
                before=ask is not None, **draw_options)
    name = fs[0].name
    sub = (f"Backward pass of {name} = {root.data:.4g}: {len(fs)} steps, one per node, in the "
           "order backward() processes them.")
    if fs[0].carried:
        n = len(fs[0].carried)
        sub += (f" {n} lea{'f holds a gradient' if n == 1 else 'ves hold gradients'} "
                f"{CARRIED} (no zero_grad()): backward() adds to {'it' if n == 1 else 'them'}.")
    if ask is not None:
        sub += " Quiz: answer each step's questions to see its result and go on."
    out.write_text(render_page(fs, title, sub, quiz=ask or False, rtol=rtol, atol=atol),
                   encoding="utf-8")
    return out


#: The example the command line exports (kept under its first name).
demo_graph = neuron


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m autograd_lite.viz.export [PATH]`: write the demo neuron's walk-through."""
    parser = argparse.ArgumentParser(prog="python -m autograd_lite.viz.export",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="backprop-steps.html")
    parser.add_argument("--title", default="Backpropagation through a neuron, step by step")
    parser.add_argument("--quiz", nargs="?", const=QUIZ_ASK[0], choices=QUIZ_ASK, default=None,
                        help="a quiz page: type each local derivative (or contribution) before "
                             "it is shown; the page keeps a score")
    args = parser.parse_args(argv)
    written = export_html(demo_graph(), args.path, title=args.title, quiz=args.quiz or False)
    print(f"wrote {written} ({written.stat().st_size} bytes): open it in a browser")
    return 0


if __name__ == "__main__":
    sys.exit(main())
