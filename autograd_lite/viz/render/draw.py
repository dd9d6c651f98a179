"""`draw_graph`: a Value's graph as a `Graph` (Graphviz DOT), one `_Drawing` per call.

Reads only the engine's public structure (`.parents`, `.op`, `.params`, `.data`, `.grad`,
`.label`, `topo_order`). Value node ids are `n{i}` (i = index in `topo_order([root])`), op nodes
`n{i}op`, collapsed boxes `m_<module>`: the same graph gives the same source.

Why one file past ~400 lines: it is one idea, one drawing (`_Drawing`). Node shapes, labels,
clusters and collapsed boxes decide together how each node looks and where it goes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ... import Value, topo_order
from . import labels as L
from .clusters import (
    Box,
    Clusters,
    Path,
    assign_clusters,
    collapse_boxes,
    modules_clusters,
    placed_nodes,
    safe,
    unique,
)
from .graph import Graph
from .renderers import graphviz  # imported there, with the install hint if missing

FIELDS = ("label", "data", "grad")
RANKDIRS = ("LR", "RL", "TB", "BT")
COLLAPSE = ("neuron", "layer")
#: draw_graph's default for marking a neuron: saturated or dead on this fraction of the batch.
HEALTH_THRESHOLD = 0.9


def _grad(v: Value) -> float:
    """v's gradient for colouring: a `.grad` of None (no gradient yet) counts as 0."""
    g = v.grad
    return 0.0 if g is None else g


def node_id(index: int) -> str:
    """The DOT id of the value node at `index` in `topo_order([root])` (its op node: + "op")."""
    return f"n{index}"


@dataclass
class _Cluster:
    key: Path
    name: str
    nodes: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    children: list[_Cluster] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Health:
    """One neuron's figures as draw_graph reads them (fractions of the batch, or None)."""

    saturated: float | None
    dead: float | None


def _check_options(root: Any, rankdir: Any, show: Any, fmt: Any, collapse: Any, grouped: bool,
                   max_nodes: Any) -> tuple[str, ...]:
    if not isinstance(root, Value):
        raise TypeError(f"draw_graph() needs a Value, got {type(root).__name__}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"draw_graph(): rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    if isinstance(show, str):
        show = (show,)
    show = tuple(show)
    for f in show:
        if f not in FIELDS:
            raise ValueError(f"draw_graph(): show has unknown field {f!r}; choose from {FIELDS}")
    if not isinstance(fmt, str):
        raise TypeError(f"draw_graph(): fmt must be a format spec str like '.4f', got {fmt!r}")
    try:
        format(1.5, fmt)
    except ValueError:
        raise ValueError(f"draw_graph(): fmt {fmt!r} is not a float format spec (try '.4f' or "
                         "'.3g')") from None
    if collapse is not None and collapse not in COLLAPSE:
        raise ValueError(f"draw_graph(): collapse must be None, 'neuron' or 'layer', got "
                         f"{collapse!r}")
    if collapse is not None and not grouped:
        raise ValueError("draw_graph(): collapse= needs modules= (e.g. your nn model) or "
                         "clusters= to know which nodes form a neuron or layer")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"draw_graph(): max_nodes must be a positive int, got {max_nodes!r}")
    return show


def _too_many(n: int, max_nodes: int, collapse: str | None, grouped: bool) -> ValueError:
    if collapse == "layer":
        hint = "raise max_nodes"
    elif collapse == "neuron":
        hint = "use collapse='layer', or raise max_nodes"
    elif not grouped:
        hint = ("pass modules=<your nn model> with collapse='neuron' or collapse='layer' to "
                "draw each neuron or layer as one box, or raise max_nodes")
    else:
        hint = ("pass collapse='neuron' or collapse='layer' to draw each neuron or layer as one "
                "box, or raise max_nodes")
    return ValueError(f"draw_graph(): {n} nodes to draw, more than max_nodes={max_nodes}; {hint} "
                      "(laying out thousands of nodes takes minutes and is unreadable)")


def _values(arg: Any, what: str) -> list[Value]:
    items = [arg] if isinstance(arg, Value) else list(arg)
    for v in items:
        if not isinstance(v, Value):
            raise TypeError(f"draw_graph(): {what} must be a Value or Values, got "
                            f"{type(v).__name__}")
    return items


def derivative_levels(order: list[Value], derivative_of: Any = None) -> dict[Value, int]:
    """Which nodes belong to a derivative computation, and its order (1 = first derivative).

    With `derivative_of` (the forward output(s) that `grad(..., create_graph=True)` was taken
    of): every node of `order` outside the forward graph of those outputs was built by `grad`,
    level 1. Without it, the engine's record is used where it keeps one (a node's
    `derivative_order`, set by `grad(create_graph=True)` on the nodes it builds)."""
    if derivative_of is not None:
        forward = set(topo_order(_values(derivative_of, "derivative_of")))
        return {v: 1 for v in order if v not in forward}
    found: dict[Value, int] = {}
    for v in order:
        k = getattr(v, "derivative_order", 0)
        if isinstance(k, int) and not isinstance(k, bool) and k > 0:
            found[v] = k
    return found


def _fraction(figures: Any, name: str, key: str) -> float | None:
    x = figures.get(key) if isinstance(figures, Mapping) else getattr(figures, key, None)
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, int | float) or not 0.0 <= x <= 1.0:
        raise ValueError(f"draw_graph(): health[{name!r}].{key} must be a fraction in [0, 1], "
                         f"got {x!r}")
    return float(x)


def _read_health(health: Any, grouped: bool) -> dict[str, _Health]:
    if not grouped:
        raise ValueError("draw_graph(): health= needs modules= (your nn model) or clusters= to "
                         "find the neurons it names")
    if not isinstance(health, Mapping):
        raise TypeError("draw_graph(): health must map neuron names (e.g. 'layers.0.neurons.3') "
                        f"to their figures, as nn.neuron_health returns; got "
                        f"{type(health).__name__}")
    return {str(k): _Health(_fraction(f, str(k), "saturated"), _fraction(f, str(k), "dead"))
            for k, f in health.items()}


def _threshold_text(health: Any, key: str) -> str:
    """' (|out| > 0.97)' from the figures' own thresholds, when they state them."""
    seen = set()
    for f in health.values():
        x = f.get(key) if isinstance(f, Mapping) else getattr(f, key, None)
        if isinstance(x, int | float) and not isinstance(x, bool):
            seen.add(float(x))
    if len(seen) != 1:
        return ""
    t = seen.pop()
    return f": |out| > {t:g}" if key == "saturation_threshold" else f": out <= {t:g}"


class _Drawing:
    """The state of one draw_graph call: node ids, boxes, clusters, marks; `graph()` emits."""

    def __init__(self, root: Value, order: list[Value], show: tuple[str, ...], fmt: str,
                 params: Mapping[Value, Path], where: Mapping[Value, Path],
                 boxes: dict[Path, Box], box_of: dict[Value, Box], color_by_grad: bool,
                 derivative: Mapping[Value, int], health: Mapping[str, _Health],
                 health_threshold: float, health_text: tuple[str, str] = ("", "")) -> None:
        self.root, self.order, self.show, self.fmt = root, order, show, fmt
        self.params, self.where, self.boxes, self.box_of = params, where, boxes, box_of
        self.index = {v: i for i, v in enumerate(order)}
        self.color_by_grad = color_by_grad
        self.derivative = derivative
        self.health, self.health_threshold = health, health_threshold
        self.health_text = health_text  # the figures' own per-sample thresholds, for the legend
        self.hl_nodes: set[str] = set()
        self.hl_edges: set[tuple[str, str]] = set()
        self.coloured: list[float] = []
        self.top = 0.0
        if color_by_grad:
            self.coloured = [_grad(v) for v in order if v not in box_of]
            self.coloured += [self.box_grad(b) for b in boxes.values()]
            self.top = max((abs(g) for g in self.coloured if math.isfinite(g)), default=0.0)
        self.clusters: dict[Path, _Cluster] = {(): _Cluster((), "")}
        self.used_names: set[str] = set()

    # -- ids ---------------------------------------------------------------------------------
    def rep(self, v: Value) -> str:
        """The DOT node that stands for v: its box, or its value node."""
        b = self.box_of.get(v)
        return b.id if b is not None else node_id(self.index[v])

    def target(self, v: Value) -> str:
        """Where an edge into v ends: its box or its op node."""
        b = self.box_of.get(v)
        return b.id if b is not None else node_id(self.index[v]) + "op"

    def add_highlights(self, nodes: Iterable[Value], edges: Iterable[Any]) -> None:
        for v in nodes:
            if v not in self.index:
                raise ValueError(f"draw_graph(): highlight has {v!r}, which is not in root's "
                                 "graph")
            self.hl_nodes.add(self.rep(v))
        for pair in edges:
            try:
                p, c = pair
            except (TypeError, ValueError):
                raise TypeError("draw_graph(): highlight_edges must hold (parent, child) pairs "
                                f"of Values, got {pair!r}") from None
            if c not in self.index or not any(q is p for q in getattr(c, "parents", ())):
                raise ValueError(f"draw_graph(): highlight_edges has ({p!r}, {c!r}), which is "
                                 "not an edge of root's graph (parent, child)")
            self.hl_edges.add((self.rep(p), self.target(c)))

    # -- look --------------------------------------------------------------------------------
    @staticmethod
    def box_grad(b: Box) -> float:
        return max((abs(_grad(o)) for o in b.outputs), default=0.0)

    def fill(self, v: Value) -> str:
        if self.color_by_grad:
            return L.grad_colour(_grad(v), self.top)
        if v in self.params:
            return L.FILL_PARAM
        return L.FILL_LEAF if v.op is None else L.FILL_VALUE

    def outline(self, attrs: dict[str, str], nid: str, base: str = "1", level: int = 0
                ) -> dict[str, str]:
        if nid in self.hl_nodes:
            attrs.update(color=L.HIGHLIGHT, penwidth="3")
        elif level:
            attrs.update(color=L.DERIVATIVE, penwidth=str(max(float(base), 1.0 + level)))
        elif base != "1":
            attrs.update(penwidth=base)
        if level:
            attrs["style"] = attrs.get("style", "filled,rounded") + ",dashed"
        return attrs

    def cluster(self, path: Path) -> _Cluster:
        c = self.clusters.get(path)
        if c is None:
            parent = self.cluster(path[:-1])
            c = _Cluster(path, unique("cluster_" + safe(path[-1]), self.used_names))
            self.clusters[path] = c
            parent.children.append(c)
        return c

    def health_of(self, key: Path) -> tuple[str, str]:
        """(mark, note) of a neuron module: mark is 'saturated', 'dead' or ''."""
        h = self.health.get(key[-1]) if key else None
        if h is None:
            return "", ""
        t = self.health_threshold
        if h.dead is not None and h.dead >= t:
            return "dead", f"dead on {h.dead:.0%}"
        if h.saturated is not None and h.saturated >= t:
            return "saturated", f"saturated on {h.saturated:.0%}"
        return "", ""

    def layer_note(self, key: Path) -> str:
        """For a layer box: how many of the clusters inside it are marked."""
        counts = {"saturated": 0, "dead": 0}
        inside = {path for path in self.where.values() if len(path) > 1 and path[0] == key[0]}
        for name in sorted({path[-1] for path in inside}):
            mark, _ = self.health_of((key[0], name))
            if mark:
                counts[mark] += 1
        return ", ".join(f"{n} {m}" for m, n in counts.items() if n)

    # -- nodes -------------------------------------------------------------------------------
    def box_node(self, box: Box) -> None:
        mark, note = self.health_of(box.key)
        if not mark and len(box.key) == 1 and self.health:
            note = self.layer_note(box.key)
        fill = (L.grad_colour(self.box_grad(box), self.top) if self.color_by_grad
                else L.FILL_BOX)
        attrs = {"label": L.box_label(box, self.show, self.fmt, note), "fillcolor": fill}
        level = max((self.derivative.get(v, 0) for v in box.members), default=0)
        self.outline(attrs, box.id, "2" if box.id == self.rep(self.root) else "1", level)
        if mark == "saturated" and box.id not in self.hl_nodes:
            attrs.update(color=L.SATURATED, penwidth="3")
        elif mark == "dead":
            attrs.update(color=L.DEAD, penwidth="3", fillcolor=L.FILL_DEAD)
        self.cluster(box.key[:-1]).nodes.append((box.id, attrs))

    def value_nodes(self, v: Value) -> None:
        nid = node_id(self.index[v])
        place = self.cluster(self.where.get(v, ()))
        level = self.derivative.get(v, 0)
        if v.op is not None:
            op_attrs = {"label": f"<{L.html_text(L.op_symbol(v))}>", "shape": "ellipse",
                        "style": "filled", "fillcolor": L.FILL_OP, "fontsize": "10",
                        "width": "0.3", "height": "0.3", "margin": "0.04,0.02"}
            self.outline(op_attrs, nid, level=level)
            place.nodes.append((nid + "op", op_attrs))
        label = L.value_label(v, self.show, self.fmt, self.where[v][-1] if v in self.where else "")
        if label is None:
            attrs = {"shape": "point", "width": "0.12", "label": "", "style": "filled",
                     "fillcolor": self.fill(v)}
        else:
            attrs = {"label": label}
            if self.color_by_grad or self.fill(v) != L.FILL_VALUE:
                attrs["fillcolor"] = self.fill(v)
        self.outline(attrs, nid, "2" if v is self.root else "1", level)
        place.nodes.append((nid, attrs))

    def place_nodes(self) -> None:
        seen: set[str] = set()
        for v in self.order:
            box = self.box_of.get(v)
            if box is None:
                self.value_nodes(v)
            elif box.id not in seen:
                seen.add(box.id)
                self.box_node(box)

    # -- emitting ----------------------------------------------------------------------------
    def emit(self, g: graphviz.Digraph, c: _Cluster) -> None:
        for nid, attrs in c.nodes:
            g.node(nid, **attrs)
        boxes_here = [b.id for b in sorted(self.boxes.values(), key=lambda b: _natural(b.key))
                      if b.key[:-1] == c.key and len(b.key) > 1]
        if len(boxes_here) > 1:
            # A layer's neurons in their order 0..n along the rank (top to bottom in LR):
            # one rank, chained by invisible edges (dot lays a flat edge's head first in LR/RL).
            if self.rankdir in ("LR", "RL"):
                boxes_here.reverse()
            with g.subgraph() as same:
                same.attr(rank="same")
                for a, b in zip(boxes_here, boxes_here[1:]):
                    same.edge(a, b, style="invis")
        for child in sorted(c.children, key=lambda ch: _natural(ch.key)):
            with g.subgraph(name=child.name) as sub:
                short = child.key[-1]
                if len(child.key) > 1 and short.startswith(child.key[-2] + "."):
                    short = short[len(child.key[-2]) + 1:]
                mark, note = self.health_of(child.key)
                if len(child.key) == 1:
                    look = {"label": L.dot_text(short), "style": "rounded,filled",
                            "fillcolor": L.FILL_LAYER, "color": "#8a9bb0", "fontsize": "12",
                            "labeljust": "l", "margin": "10"}
                else:
                    look = {"label": L.dot_text(short + (f" ({note})" if note else "")),
                            "style": "rounded,dashed", "color": "#a0a0a0", "fontsize": "10",
                            "labeljust": "l", "margin": "6"}
                if mark == "saturated":
                    look.update(style="rounded", color=L.SATURATED, penwidth="2.5")
                elif mark == "dead":
                    look.update(style="rounded,filled", color=L.DEAD, fillcolor=L.FILL_DEAD,
                                penwidth="2.5")
                sub.attr(**look)
                self.emit(sub, child)

    def edges(self, g: graphviz.Digraph) -> None:
        """Edges in forward order of their heads; parallel edges (a + a) kept except between
        boxes."""
        box_edges: set[tuple[str, str]] = set()
        for v in self.order:
            box = self.box_of.get(v)
            if box is not None:
                for p in v.parents:
                    src = self.rep(p)
                    if src != box.id and (src, box.id) not in box_edges:
                        box_edges.add((src, box.id))
                        g.edge(src, box.id, **_edge_style((src, box.id) in self.hl_edges,
                                                          L.BOX_EDGE))
                continue
            if v.op is None:
                continue
            nid = node_id(self.index[v])
            for p in v.parents:
                src = self.rep(p)
                g.edge(src, nid + "op", **_edge_style((src, nid + "op") in self.hl_edges))
            g.edge(nid + "op", nid, **_edge_style(nid in self.hl_nodes))

    def legend(self, g: graphviz.Digraph) -> None:
        sections = []
        if self.color_by_grad:
            nonfinite = any(not math.isfinite(x) for x in self.coloured)
            sections.append(L.grad_legend_rows(self.top, nonfinite, bool(self.boxes)))
        if self.derivative:
            sections.append(L.derivative_legend_rows(sorted(set(self.derivative.values()))))
        if self.health:
            sections.append(L.health_legend_rows(self.health_threshold, *self.health_text))
        if sections:
            with g.subgraph(name="cluster_legend") as leg:
                leg.attr(label="", style="invis")
                leg.node("legend", label=L.legend_label(sections), shape="plain")

    def graph(self, attrs: dict[str, str]) -> Graph:
        self.rankdir = attrs.get("rankdir", "LR")
        self.place_nodes()
        g = Graph(name="autograd", format="svg", graph_attr=attrs,
                  node_attr={"fontname": L.FONT, "fontsize": "11", "shape": "box",
                             "style": "filled,rounded", "margin": "0", "color": L.BORDER,
                             "penwidth": "1", "fillcolor": L.FILL_VALUE},
                  edge_attr={"color": L.EDGE, "arrowsize": "0.6"})
        self.emit(g, self.clusters[()])
        self.legend(g)
        self.edges(g)
        return g


def _natural(key: Path) -> list[Any]:
    """Sort key that puts `neurons.2` before `neurons.10`."""
    return [int(t) if t.isdecimal() else t for part in key for t in re.split(r"(\d+)", part)]


def _edge_style(highlighted: bool, plain: dict[str, str] | None = None) -> dict[str, str]:
    return {"color": L.HIGHLIGHT, "penwidth": "3"} if highlighted else (plain or {})


def draw_graph(
    root: Value,
    *,
    rankdir: str = "LR",
    show: Iterable[str] = FIELDS,
    fmt: str = ".4f",
    highlight: Iterable[Value] = (),
    highlight_edges: Iterable[tuple[Value, Value]] = (),
    color_by_grad: bool = False,
    modules: Any = None,
    clusters: Clusters | None = None,
    collapse: str | None = None,
    max_nodes: int = 2000,
    size: str | tuple[float, float] | None = None,
    graph_attr: Mapping[str, str] | None = None,
    derivative_of: Value | Iterable[Value] | None = None,
    health: Mapping[str, Any] | None = None,
    health_threshold: float = HEALTH_THRESHOLD,
) -> Graph:
    """The graph of `root` as a `Graph` (a graphviz.Digraph): Jupyter shows it, `.render()`
    writes it. Value node ids are `n{i}` (i = index in `topo_order([root])`), op nodes `n{i}op`.

    `show`: fields of value nodes; `fmt`: number format; `highlight` / `highlight_edges`:
    Values and (parent, child) pairs drawn in blue; `color_by_grad`: fill by |grad| with a
    legend; `clusters`: where nodes are grouped, a mapping from Values to cluster paths (names,
    outermost first: `{w: ("layer 0", "neuron 3")}`) or a function of a Value returning its path
    or None, the other nodes placed by the rules of docs/rendering.md; `modules`: an object that
    says its own clusters through `graph_clusters()` (an nn model: a cluster per layer and
    neuron); without either, no clusters. `collapse`: "neuron" or "layer" draws each innermost
    or outermost cluster as one box; more than `max_nodes` drawn nodes: ValueError.
    `derivative_of`: the forward output(s) a `grad(..., create_graph=True)` result was taken of;
    nodes built by that grad are outlined (dashed purple, in the legend). `health`: per-neuron
    figures by cluster name (`nn.neuron_health(model, X)`: name -> {"saturated": f, "dead": f});
    neurons past `health_threshold` of the batch are marked saturated (red) or dead (grey).
    """
    if modules is not None and clusters is not None:
        raise ValueError("draw_graph(): pass modules= or clusters=, not both (modules=m is "
                         "clusters=m.graph_clusters())")
    grouped = modules is not None or clusters is not None
    show = _check_options(root, rankdir, show, fmt, collapse, grouped, max_nodes)
    if isinstance(health_threshold, bool) or not isinstance(health_threshold, int | float) \
            or not 0.0 < health_threshold <= 1.0:
        raise ValueError("draw_graph(): health_threshold must be a fraction in (0, 1], got "
                         f"{health_threshold!r}")
    order = topo_order([root])
    if collapse is None and len(order) > max_nodes:
        raise _too_many(len(order), max_nodes, collapse, grouped)
    if modules is not None:
        clusters = modules_clusters(modules)
    placed = placed_nodes(order, clusters) if clusters is not None else {}
    where = assign_clusters(order, placed) if placed else {}
    params = {v: path for v, path in placed.items() if v.op is None}  # drawn as parameters
    boxes, box_of = (collapse_boxes(order, root, where, params, collapse) if collapse
                     else ({}, {}))
    if collapse is not None:
        drawn = len(order) - len(box_of) + len(boxes)
        if drawn > max_nodes:
            raise _too_many(drawn, max_nodes, collapse, grouped)
    figures = _read_health(health, grouped) if health is not None else {}
    if figures:
        known = {p for path in where.values() for p in path}
        unknown = sorted(set(figures) - known)
        if unknown:
            raise ValueError(f"draw_graph(): health names {unknown[0]!r}, which is not a module "
                             f"of this graph (e.g. {sorted(known)[-1]!r}); pass the figures of "
                             "the model drawn" if known else "draw_graph(): health names "
                             f"{unknown[0]!r} but no node of this graph is in a cluster")
    d = _Drawing(root, order, show, fmt, params, where, boxes, box_of, color_by_grad,
                 derivative_levels(order, derivative_of), figures, float(health_threshold),
                 (_threshold_text(health, "saturation_threshold"),
                  _threshold_text(health, "dead_threshold")) if health else ("", ""))
    d.add_highlights(highlight, highlight_edges)

    attrs = {"rankdir": rankdir, "bgcolor": "white", "fontname": L.FONT, "fontsize": "11",
             "nodesep": "0.15", "ranksep": "0.3" if collapse is None else "1.4"}
    if collapse == "neuron":  # keep each layer's neurons in order (see _Drawing.emit)
        attrs["remincross"] = "false"
    if size is not None:
        attrs["size"] = f"{size[0]},{size[1]}" if isinstance(size, tuple) else str(size)
    if graph_attr:
        attrs.update({str(k): str(val) for k, val in graph_attr.items()})
    return d.graph(attrs)
