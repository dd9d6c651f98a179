"""A standalone HTML walk-through of backward: every frame as inline SVG, the tape, controls.

One self-contained file (CSS and JS inline, no URL, no kernel): open it in any browser or share
it. `python -m autograd_lite.export walkthrough.html` writes one for a small neuron.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from .core import Value, describe
from .examples import neuron
from .stepping import DEFAULT_MAX_STEPS, Frame, Tape, clean_svg, frames

__all__ = ["export_html", "render_page", "mark_active", "demo_graph", "main"]


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


def _frame_html(frame: Frame, tp: Tape) -> str:
    esc = html.escape
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
    return (
        f'<figure class="frame" id="frame-{step.index}" data-step="{step.index}" '
        f'data-active-id="{frame.active}" data-active-label="{esc(frame.name)}" '
        f'data-edges="{esc(used)}" data-upstream="{step.upstream!r}" '
        f'data-node-text="{esc(row.node_text)}" data-received="{esc(row.received + passes)}"'
        f"{' hidden' if step.index else ''}>\n{svg}\n</figure>"
    )


def render_page(fs: Sequence[Frame], title: str, subtitle: str = "") -> str:
    """The page's HTML for already-rendered frames (see `stepping.frames(..., svg=True)`)."""
    if not fs:
        raise ValueError("render_page() needs at least one frame")
    from . import __version__

    tp = Tape([f.step for f in fs])
    template = resources.files("autograd_lite").joinpath("stepping.html").read_text("utf-8")
    fields = {
        "TITLE": html.escape(title),
        "SUBTITLE": html.escape(subtitle),
        "VERSION": __version__,
        "N": str(len(fs)),
        "MAX": str(len(fs) - 1),
        "FRAMES": "\n".join(_frame_html(f, tp) for f in fs),
        "TAPE": tp.to_html(style=False),
    }
    # One pass, so text inserted for one field is never read as another placeholder.
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: fields[m.group(1)], template)


def export_html(
    root: Value,
    path: str | Path,
    title: str = "Backpropagation, step by step",
    gradient: float = 1.0,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    **draw_options: Any,
) -> Path:
    """Write the step-through of root's backward pass to one self-contained HTML file.

    Frames are drawn with `draw_graph(root, **draw_options)`; the graph's `.grad`s are left as
    they were. Returns the path written.
    """
    if not isinstance(root, Value):
        raise TypeError(f"export_html() needs a Value, got {describe(root)}")
    if not isinstance(title, str):
        raise TypeError(f"export_html(): title must be a str, got {describe(title)}")
    out = Path(path)
    fs = frames(root, gradient, svg=True, max_steps=max_steps, **draw_options)
    name = fs[0].name
    sub = (f"Backward pass of {name} = {root.data:.4g}: {len(fs)} steps, one per node, in the "
           "order backward() processes them.")
    out.write_text(render_page(fs, title, sub), encoding="utf-8")
    return out


#: The example the command line exports (kept under its first name).
demo_graph = neuron


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m autograd_lite.export [PATH]`: write the demo neuron's walk-through."""
    parser = argparse.ArgumentParser(prog="python -m autograd_lite.export",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="backprop-steps.html")
    parser.add_argument("--title", default="Backpropagation through a neuron, step by step")
    args = parser.parse_args(argv)
    written = export_html(demo_graph(), args.path, title=args.title)
    print(f"wrote {written} ({written.stat().st_size} bytes): open it in a browser")
    return 0


if __name__ == "__main__":
    sys.exit(main())
