"""Watch backprop happen: forward steps, the tape (chain rule written out), graph frames, a widget.

Built on `backward_steps` and `draw_graph`; the engine knows nothing of this module. Walks made
here from a root (`tape(root)`, `frames`, `step_widget`, and the HTML export) show one backward
pass starting from zero gradients, then put every `.grad` back: they leave the graph untouched.
With `carry=True` they start instead from the leaves' current `.grad`, exactly as `backward()`
would now, and mark each leaf holding a gradient "carried over from before" (the forgotten
`zero_grad()`). A tape made from Step records of a real `backward_steps()` run finds those
leaves by itself.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .backward import Step, backward_steps, topo_order
from .core import Value, describe

__all__ = [
    "ForwardStep", "TapeRow", "Tape", "Frame", "forward_steps", "node_ids", "node_names", "tape",
    "walk", "frames", "step_widget", "carried_grads", "mark_carried", "CARRIED",
]

DEFAULT_MAX_STEPS = 400  # frames render the whole graph once per node: quadratic in its size


# ---- names -------------------------------------------------------------------------------------
def node_ids(root: Value) -> dict[Value, str]:
    """`n{i}` for each node, i its index in `topo_order([root])`: the ids `draw_graph` uses."""
    return {v: f"n{i}" for i, v in enumerate(topo_order([_check(root, "node_ids()")]))}


def node_names(root: Value) -> dict[Value, str]:
    """A readable, unique name per node: its label, `label@n7` if shared, else its id `n7`."""
    order = topo_order([_check(root, "node_names()")])
    counts = Counter(v.label for v in order if v.label)
    names: dict[Value, str] = {}
    for i, v in enumerate(order):
        if not v.label:
            names[v] = f"n{i}"
        elif counts[v.label] == 1:
            names[v] = v.label
        else:
            names[v] = f"{v.label}@n{i}"
    return names


def _check(root: object, where: str) -> Value:
    if not isinstance(root, Value):
        raise TypeError(f"{where} needs a Value, got {describe(root)}")
    return root


# ---- forward -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ForwardStep:
    """One node of the forward pass, in the order values were computed (`topo_order`)."""

    index: int  #: topological index: the node's id is f"n{index}"
    node: Value
    op: str | None  #: primitive name, None for a leaf
    inputs: tuple[Value, ...]  #: the op's arguments, in order (`a + a` lists `a` twice)
    params: tuple[Any, ...]  #: static parameters (the exponent of `x ** 3`)
    value: float  #: the node's data


def forward_steps(root: Value) -> Iterator[ForwardStep]:
    """Yield one `ForwardStep` per node of root's graph, each after its inputs (`topo_order`)."""
    for i, v in enumerate(topo_order([_check(root, "forward_steps()")])):
        op = v.op
        yield ForwardStep(i, v, op.name if op is not None else None, v.parents, v.params, v.data)


# ---- walking -----------------------------------------------------------------------------------
def walk(root: Value, gradient: float = 1.0, *, carry: bool = False) -> Iterator[Step]:
    """`backward_steps(root)` from zero gradients (with `carry`, from the leaves' current
    `.grad`, as `backward()` would run now); when it ends (or is closed) every `.grad` is
    restored. While it runs, `.grad` values are live: the state after the step just yielded."""
    root = _check(root, "walk()")
    order = topo_order([root])
    saved = [v.grad for v in order]
    try:
        if not carry:
            for v in order:
                if v.is_leaf:
                    v.grad = 0.0  # interior nodes are reset by backward_steps itself
        yield from backward_steps(root, gradient)
    finally:
        for v, g in zip(order, saved):
            v.grad = g


def carried_grads(root: Value) -> dict[Value, float]:
    """The leaves of root's graph whose `.grad` is not zero: what `backward()` would add to
    (gradients "carried over from before", e.g. from a previous pass without `zero_grad()`);
    a `.grad` of None (no gradient yet, as PyTorch's) carries nothing."""
    return {v: v.grad for v in topo_order([_check(root, "carried_grads()")])
            if v.is_leaf and v.grad is not None and v.grad != 0.0}


def _infer_carried(steps: Sequence[Step]) -> dict[Value, float]:
    """Leaves that held a gradient before these steps: their first contribution found .grad
    non-zero (`parent_grad - contribution`; exactly 0.0 for a leaf that started at zero)."""
    out: dict[Value, float] = {}
    seen: set[Value] = set()
    for s in steps:
        for c in s.contributions:
            if c.parent in seen:
                continue
            seen.add(c.parent)
            before = c.parent_grad - c.contribution
            if c.parent.is_leaf and before != 0.0 and math.isfinite(before):
                out[c.parent] = before
    return out


# ---- the tape ----------------------------------------------------------------------------------
CARRIED = "carried over from before"


def _num(x: float | None, fmt: str) -> str:
    if x is None:  # a .grad of None: no gradient yet
        return "None"
    return format(x, fmt) if math.isfinite(x) else repr(x)


def _factor(x: float, fmt: str) -> str:
    s = _num(x, fmt)
    return f"({s})" if s.startswith("-") else s


def _describe_node(node: Value, names: dict[Value, str], fmt: str) -> str:
    op = node.op
    if op is None:
        return f"{names[node]} = {_num(node.data, fmt)} (leaf)"
    args = [names[p] for p in node.parents] + [_num(float(p), fmt) if isinstance(p, int | float)
                                                else str(p) for p in node.params]
    return f"{names[node]} = {op.name}({', '.join(args)})"


@dataclass(frozen=True)
class TapeRow:
    """One line of the tape: a contribution (or, for a leaf, its final gradient)."""

    step: int  #: Step.index
    node: Value
    upstream: float  #: Step.upstream
    index: int | None  #: argument position of the parent, None on a leaf's row
    parent: Value | None
    local: float | None
    contribution: float | None
    parent_grad: float | None
    node_text: str  #: "z = mul(w1, x)"
    received: str  #: "dL/dz = 0.42"
    chain: str  #: "dL/dw1 += dL/dz · dz/dw1 = 0.42 · 1.5 = 0.63"
    running: str  #: "dL/dw1 = 0.63" (the parent's .grad after the addition)
    #: the gradient the parent (on a leaf's row: the leaf) held before this pass, if not zero
    carried: float | None = None


class Tape:
    """The backward pass as a table, one row per contribution, chain rule written with numbers.

    `str(tape)` is plain text for a terminal, `tape._repr_html_()` an HTML table for Jupyter.
    `carried` maps leaves to the gradient they held before the pass (found from the steps when
    not given); their rows read "w.grad = 4.6 = 4 carried over from before + 0.6".
    """

    def __init__(self, steps: Sequence[Step], fmt: str = ".4g",
                 carried: dict[Value, float] | None = None) -> None:
        self.steps: tuple[Step, ...] = tuple(steps)
        self.fmt = fmt
        self.carried: dict[Value, float] = (_infer_carried(self.steps) if carried is None else
                                            {v: g for v, g in carried.items() if g != 0.0})
        if not self.steps:
            self.names: dict[Value, str] = {}
            self.ids: dict[Value, str] = {}
            self.rows: tuple[TapeRow, ...] = ()
            return
        root = self.steps[0].node
        self.names = node_names(root)
        self.ids = node_ids(root)
        self.rows = tuple(self._rows())

    def _rows(self) -> Iterator[TapeRow]:
        fmt, names, carried = self.fmt, self.names, self.carried
        top = names[self.steps[0].node]
        fresh: dict[Value, float] = {}  # each carried leaf's gradient from this pass alone
        for s in self.steps:
            node = s.node
            name = names.get(node)
            if name is None:
                raise ValueError(f"tape(): step {s.index}'s node {node!r} is not in the graph of "
                                 f"step 0's node: pass the steps of one backward pass")
            old = carried.get(node)
            if old is not None and node not in fresh:  # a leaf root: seeded on top of its .grad
                fresh[node] = s.upstream - old
            received = f"d{top}/d{name} = {_num(fresh.get(node, s.upstream), fmt)}"
            if s.index == 0:
                received += " (seed)"
            text = _describe_node(node, names, fmt)
            if not s.contributions:
                chain = "leaf: gradient complete"
                if old is not None:
                    chain += (f"; {name}.grad = {_num(s.upstream, fmt)} = {_num(old, fmt)} "
                              f"{CARRIED} + {_num(fresh[node], fmt)}")
                yield TapeRow(s.index, node, s.upstream, None, None, None, None, None, text,
                              received, chain, "", old)
            for c in s.contributions:
                p = names[c.parent]
                chain = (f"d{top}/d{p} += d{top}/d{name} · d{name}/d{p} = "
                         f"{_factor(s.upstream, fmt)} · {_factor(c.local, fmt)} = "
                         f"{_num(c.contribution, fmt)}")
                was = carried.get(c.parent)
                if was is None:
                    running = f"d{top}/d{p} = {_num(c.parent_grad, fmt)}"
                else:
                    fresh[c.parent] = fresh.get(c.parent, 0.0) + c.contribution
                    running = (f"{p}.grad = {_num(c.parent_grad, fmt)} = {_num(was, fmt)} "
                               f"{CARRIED} + {_num(fresh[c.parent], fmt)}")
                yield TapeRow(s.index, node, s.upstream, c.index, c.parent, c.local,
                              c.contribution, c.parent_grad, text, received, chain, running, was)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[TapeRow]:
        return iter(self.rows)

    def __repr__(self) -> str:
        return f"<Tape: {len(self.steps)} steps, {len(self.rows)} rows>"

    HEADERS = ("step", "node", "received", "chain rule", "parent .grad now")

    def __str__(self) -> str:
        table = [self.HEADERS]
        last = None
        for r in self.rows:
            first = r.step != last
            last = r.step
            table.append((str(r.step) if first else "", r.node_text if first else "",
                          r.received if first else "", r.chain, r.running))
        widths = [max(len(row[k]) for row in table) for k in range(len(self.HEADERS))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                 for row in table]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def to_html(self, style: bool = True, step: int | None = None, start: int = 0) -> str:
        """The tape as an HTML table (only one step's rows if `step` is given); rows carry
        data-step and data-node (the node's id, `n7`); the step column counts from `start`
        (the exported page numbers steps from 1)."""
        esc = html.escape
        out = []
        if style:
            out.append(f"<style>{TAPE_CSS}</style>")
        out.append('<table class="al-tape"><thead><tr>')
        out.extend(f"<th>{esc(h)}</th>" for h in self.HEADERS)
        out.append("</tr></thead><tbody>")
        last = None
        for r in self.rows:
            if step is not None and r.step != step:
                continue
            first = r.step != last
            last = r.step
            classes = " ".join(c for c, on in (("al-first", first),
                                               ("al-carried", r.carried is not None)) if on)
            cls = f' class="{classes}"' if classes else ""
            out.append(
                f'<tr{cls} data-step="{r.step}" data-node="{self.ids[r.node]}">'
                f"<td>{r.step + start if first else ''}</td>"
                f"<td><code>{esc(r.node_text) if first else ''}</code></td>"
                f'<td class="al-received">{esc(r.received) if first else ""}</td>'
                f'<td class="al-chain"><code>{esc(r.chain)}</code></td>'
                f'<td class="al-running">{esc(r.running)}</td></tr>'
            )
        out.append("</tbody></table>")
        return "".join(out)

    def _repr_html_(self) -> str:
        return self.to_html()


TAPE_CSS = (
    ".al-tape{border-collapse:collapse;font:13px/1.4 system-ui,sans-serif}"
    ".al-tape th,.al-tape td{padding:2px 10px;text-align:left;white-space:nowrap}"
    ".al-tape th{border-bottom:2px solid #888}"
    ".al-tape tr.al-first td{border-top:1px solid #ccc}"
    ".al-tape code{font-size:12px}"
    ".al-tape tr.al-carried td.al-running,.al-tape tr.al-carried td.al-chain{color:#c92a2a}"
)


def tape(root_or_steps: Value | Iterable[Step], gradient: float = 1.0, fmt: str = ".4g", *,
         carry: bool = False) -> Tape:
    """The steps of a backward pass as a `Tape` table.

    Given a Value, walks it with `walk()` (from zero gradients, or with `carry=True` from the
    leaves' current `.grad`; `.grad`s restored afterwards); given Step records (e.g.
    `list(y.backward_steps())`), shows exactly those numbers, leaves that already held a
    gradient marked "carried over from before".
    """
    if isinstance(root_or_steps, Value):
        held = carried_grads(root_or_steps) if carry else {}
        return Tape(list(walk(root_or_steps, gradient, carry=carry)), fmt, held)
    if isinstance(root_or_steps, str | bytes) or not isinstance(root_or_steps, Iterable):
        raise TypeError(f"tape() needs a Value or Step records, got {describe(root_or_steps)}")
    steps = list(root_or_steps)
    for i, s in enumerate(steps):
        if not isinstance(s, Step):
            raise TypeError(f"tape(): item {i} is not a Step, got {describe(s)}")
    return Tape(steps, fmt)


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
    from .render import draw_graph, render_svg

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
