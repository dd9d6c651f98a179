"""Frames, one drawing per backward step, and the Jupyter widget that steps through them."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from ...engine.traversal import Step
from ...engine.value import Value
from .steps import CARRIED, DEFAULT_MAX_STEPS, _check, carried_grads, node_ids, node_names, walk
from .tape import Tape, _num


# ---- frames ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    """The graph after one step: active node and just-used edges highlighted, grads so far."""

    step: Step
    active: str  #: id of the active node, "n7"
    name: str  #: its readable name (label, or the id)
    edges: tuple[tuple[str, str], ...]  #: (parent id, node id) for each edge just used
    dot: str  #: Graphviz DOT source of the frame
    svg: str | None  #: rendered SVG, when asked for
    #: (leaf id, gradient) of each leaf drawn "carried over from before"
    carried: tuple[tuple[str, float], ...] = ()
    #: with `before=True`: the graph as this step finds it (active node highlighted, none of
    #: its contributions added yet), for a quiz that asks before revealing
    before_dot: str | None = None
    before_svg: str | None = None


def mark_carried(graph: Any, ids: dict[Value, str], carried: dict[Value, float],
                 fmt: str = ".4g") -> None:
    """Attach a dashed note "carried over from before: g" to each leaf of `carried` in a
    `draw_graph` picture (ids as `node_ids`): the gradient `backward()` will add to."""
    for v, g in carried.items():
        nid = ids[v]
        graph.node(f"{nid}carry", label=f"{CARRIED}: {_num(g, fmt)}", shape="note",
                   style="dashed,filled", fillcolor="#fff5f5", color="#c92a2a",
                   fontcolor="#c92a2a", fontsize="10", margin="0.06,0.03")
        graph.edge(f"{nid}carry", nid, style="dashed", color="#c92a2a", arrowhead="none")


def frames(
    root: Value,
    gradient: float = 1.0,
    *,
    svg: bool = True,
    max_steps: int = DEFAULT_MAX_STEPS,
    name_nodes: bool = True,
    carry: bool = False,
    before: bool = False,
    **draw_options: Any,
) -> list[Frame]:
    """One `Frame` per backward step of root's graph, drawn with `draw_graph(**draw_options)`.

    The frames are captured on the live graph while `walk()` runs, so each shows the gradients
    filled in so far; afterwards every `.grad` is restored (no side effect). With `name_nodes`,
    unlabelled or same-labelled nodes are drawn with their tape names (labels restored after).
    `carry=True` starts from the leaves' current `.grad` (as `backward()` would) and notes each
    leaf that holds one "carried over from before"; `before=True` also draws, for every step
    of an op node, the graph just before that step (`Frame.before_dot` / `before_svg`).
    """
    from ..render import draw_graph, render_svg

    root = _check(root, "frames()")
    ids = node_ids(root)
    names = node_names(root)
    if len(ids) > max_steps:
        raise ValueError(f"frames(): the graph has {len(ids)} nodes, more than max_steps="
                         f"{max_steps}; each frame draws the whole graph, so pass a larger "
                         "max_steps if you mean it")
    held = carried_grads(root) if carry else {}
    held_ids = tuple((ids[v], g) for v, g in held.items())
    order = list(reversed(list(ids)))  # backward's processing order: step k is order[k]

    def draw(node: Value, edges: tuple[tuple[Value, Value], ...]) -> tuple[str, str | None]:
        graph = draw_graph(root, highlight=(node,), highlight_edges=edges, **draw_options)
        mark_carried(graph, ids, held)
        return graph.source, render_svg(graph) if svg else None

    out: list[Frame] = []
    pre: dict[int, tuple[str, str | None]] = {}
    relabel = {v: v.label for v in names if name_nodes and v.label != names[v]}
    try:
        for v in relabel:
            v.label = names[v]  # drawn as the tape names them: `n5`, `w@n2`
        if before and root.op is not None:  # the state before step 0, as backward sets it up
            saved = {v: v.grad for v in ids}
            try:
                for v in ids:
                    v.grad = held.get(v, 0.0)
                root.grad += float(gradient)
                pre[0] = draw(root, ())
            finally:
                for v, g in saved.items():
                    v.grad = g
        for step in walk(root, gradient, carry=carry):
            node = step.node
            edges = tuple(dict.fromkeys((c.parent, node) for c in step.contributions))
            dot, picture = draw(node, edges)
            k = step.index + 1
            if before and k < len(order) and order[k].op is not None:
                pre[k] = draw(order[k], ())  # what step k finds: this step's state
            b_dot, b_svg = pre.get(step.index, (None, None))
            out.append(Frame(step, ids[node], names[node],
                             tuple((ids[p], ids[c]) for p, c in edges), dot, picture, held_ids,
                             b_dot, b_svg))
    finally:
        for v, label in relabel.items():
            v.label = label
    return out


# ---- Jupyter -----------------------------------------------------------------------------------
def step_widget(root: Value, gradient: float = 1.0, *, carry: bool = False,
                **draw_options: Any) -> Any:
    """An ipywidgets box to step through root's backward pass: slider, prev/next, frame, tape.

    All frames are rendered up front (see `frames`), so the graph's `.grad`s are untouched.
    """
    try:
        import ipywidgets as widgets
    except ImportError as e:
        raise ImportError("step_widget() needs ipywidgets: pip install 'autograd-lite[notebooks]'"
                          ) from e
    root = _check(root, "step_widget()")
    held = carried_grads(root) if carry else {}
    fs = frames(root, gradient, carry=carry, **draw_options)
    tp = Tape([f.step for f in fs], carried=held)
    n = len(fs)
    slider = widgets.IntSlider(value=0, min=0, max=n - 1, description="step",
                               continuous_update=True)
    prev = widgets.Button(description="◀ prev", tooltip="previous step")
    nxt = widgets.Button(description="next ▶", tooltip="next step")
    caption = widgets.HTML()
    picture = widgets.HTML()
    rows = widgets.HTML()

    def show(k: int) -> None:
        f = fs[k]
        row = next(r for r in tp.rows if r.step == k)
        caption.value = (f'<b data-active="{f.active}">step {k} / {n - 1}:</b> '
                         f"<code>{html.escape(row.node_text)}</code> received "
                         f"{html.escape(row.received)}")
        picture.value = f'<div class="al-frame" data-active="{f.active}">{_inline_svg(f)}</div>'
        rows.value = tp.to_html(step=k)
        prev.disabled = k == 0
        nxt.disabled = k == n - 1

    def on_slide(change: dict[str, Any]) -> None:
        show(change["new"])

    slider.observe(on_slide, names="value")
    prev.on_click(lambda _b: setattr(slider, "value", max(0, slider.value - 1)))
    nxt.on_click(lambda _b: setattr(slider, "value", min(n - 1, slider.value + 1)))
    show(0)
    box = widgets.VBox([widgets.HBox([prev, slider, nxt]), caption, picture, rows])
    box.frames = fs  # for tests and for users who want the raw frames
    box.slider, box.prev, box.next = slider, prev, nxt
    return box


def _inline_svg(frame: Frame) -> str:
    """The frame's SVG ready to inline in HTML: prolog, comments and namespace URLs removed."""
    if frame.svg is None:
        raise ValueError("this frame has no SVG: build frames with svg=True")
    return clean_svg(frame.svg)


def clean_svg(svg: str) -> str:
    """Strip the XML prolog, DOCTYPE, comments and xmlns attributes: inline SVG needs none,
    and they are the only URLs Graphviz writes."""
    import re

    start = svg.find("<svg")
    if start < 0:
        raise ValueError("not an SVG document: no <svg element")
    body = re.sub(r"<!--.*?-->", "", svg[start:], flags=re.S)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", body).strip()
