"""Grouping a graph's nodes into clusters the caller names: `draw_graph(clusters=...)` (or
`modules=`, an object whose `graph_clusters()` says it), the rules that place the nodes the
caller leaves out, and the boxes of a collapsed drawing (one per innermost or outermost cluster).

A cluster path is a tuple of cluster names, outermost first, such as nn's
("layers.0", "layers.0.neurons.3"). This module reads no meaning into the names: what a model
calls its parts is the model's to say (nn's `Module.graph_clusters()`); this package never
imports `nn`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ... import Value

#: A node's cluster path: cluster names, outermost first, e.g. ("layers.0", "layers.0.neurons.3").
Path = tuple[str, ...]

#: What `draw_graph(clusters=...)` takes: a mapping from nodes to cluster paths, or a function
#: of a node returning its path (None: let the rules place it).
Clusters = Mapping[Value, Sequence[str]] | Callable[[Value], Sequence[str] | None]


def _path(v: Value, path: Any) -> Path:
    """`path` checked: a sequence of non-empty str names (a str alone is refused)."""
    if isinstance(path, str) or not isinstance(path, Sequence):
        raise TypeError(f"draw_graph(): clusters gives {v!r} the path {path!r}; a path is a "
                        "tuple of cluster names, outermost first, e.g. ('layer 0', 'neuron 3')")
    for name in path:
        if not isinstance(name, str) or not name:
            raise TypeError(f"draw_graph(): clusters gives {v!r} the path {tuple(path)!r}; each "
                            "cluster name must be a non-empty str")
    return tuple(path)


def modules_clusters(modules: Any) -> Clusters:
    """What `modules=` says through its `graph_clusters()` hook (nn's modules have it)."""
    hook = getattr(modules, "graph_clusters", None)
    if not callable(hook):
        raise TypeError("draw_graph(): modules= needs an object with graph_clusters() (an "
                        "nn.Module or a micrograd drop-in module), got "
                        f"{type(modules).__name__}; for another model pass clusters={{value: "
                        "('layer 0', 'neuron 3'), ...} or a function of a Value")
    return hook()


def placed_nodes(order: list[Value], clusters: Clusters) -> dict[Value, Path]:
    """The nodes of `order` the caller places, each with its checked path (() = outside every
    cluster); nodes it leaves out (absent, or None from a function) are not in the result."""
    if isinstance(clusters, Mapping):
        get: Callable[[Value], Any] = clusters.get
    elif callable(clusters):
        get = clusters
    else:
        raise TypeError("draw_graph(): clusters must map Values to cluster paths or be a "
                        f"function of a Value, got {type(clusters).__name__}")
    placed: dict[Value, Path] = {}
    for v in order:
        path = get(v)
        if path is not None:
            placed[v] = _path(v, path)
    return placed


def _common_prefix(paths: list[Path]) -> Path:
    first = paths[0]
    n = len(first)
    for p in paths[1:]:
        n = min(n, len(p))
        for k in range(n):
            if p[k] != first[k]:
                n = k
                break
    return first[:n]


def assign_clusters(order: list[Value], placed: Mapping[Value, Path]) -> dict[Value, Path]:
    """Cluster path of every node, in one pass over the forward order.

    A node the caller placed sits where it was put; a placed computed node is its cluster's
    output, so the cluster ends there (a loss's `softplus(-output)` stays outside it). Other
    computed nodes: one fed directly by placed leaves (a neuron's weights) joins the innermost
    cluster those share; any other joins a cluster only if all its parents are in that same
    cluster and none is a cluster's output (so a loss computed from the output and a target
    stays outside). Unplaced leaves (inputs, constants) stay outside.
    """
    where: dict[Value, Path] = {}
    closed: set[Value] = set()
    for v in order:
        if v in placed:
            path = placed[v]
            if path and v.op is not None:
                closed.add(v)
        elif v.op is None:
            continue
        else:
            parents = v.parents
            fed = [placed[p] for p in parents if p in placed and p.op is None]
            if fed:
                path = _common_prefix(fed)
            elif any(p in closed for p in parents):
                path = ()
            else:
                first = where.get(parents[0], ())
                path = first if all(where.get(p, ()) == first for p in parents) else ()
        if path:
            where[v] = path
    return where


@dataclass
class Box:
    """One box of a collapsed drawing: a neuron's or a layer's nodes drawn as one node."""

    key: Path
    id: str
    members: list[Value] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    nparams: int = 0


def unique(name: str, used: set[str]) -> str:
    """`name`, with underscores appended until it is not in `used`; recorded as used."""
    while name in used:
        name += "_"
    used.add(name)
    return name


def safe(name: str) -> str:
    """`name` with every character that is not a word character replaced by `_` (a DOT id)."""
    return re.sub(r"\W", "_", name)


def collapse_boxes(order: list[Value], root: Value, where: Mapping[Value, Path],
                   params: Mapping[Value, Path], collapse: str
                   ) -> tuple[dict[Path, Box], dict[Value, Box]]:
    """The boxes of a collapsed drawing and each hidden node's box: "neuron", one box per
    innermost cluster; "layer", one per outermost cluster. `params`: the placed leaves (each
    box counts its own).

    A box's outputs are its nodes used outside it (or the root), in forward order."""
    boxes: dict[Path, Box] = {}
    box_of: dict[Value, Box] = {}
    used: set[str] = set()
    for v in order:
        path = where.get(v)
        if not path:
            continue
        key = path if collapse == "neuron" else path[:1]
        box = boxes.get(key)
        if box is None:
            box = boxes[key] = Box(key, unique("m_" + safe(key[-1]), used))
        box.members.append(v)
        box_of[v] = box
        if v in params:
            box.nparams += 1
    outputs: set[Value] = {root}
    for v in order:
        b = box_of.get(v)
        for p in v.parents:
            pb = box_of.get(p)
            if pb is not None and pb is not b:
                outputs.add(p)
    for box in boxes.values():
        box.outputs = [v for v in box.members if v in outputs]
    return boxes, box_of


def short_name(key: Path) -> str:
    """A cluster's name as drawn inside its parent: a name that starts with the parent's name
    and a dot is shown without them (`layers.0.neurons.3` in `layers.0` reads `neurons.3`)."""
    name = key[-1]
    outer = key[-2] if len(key) > 1 else ""
    return name[len(outer) + 1:] if outer and name.startswith(outer + ".") else name
