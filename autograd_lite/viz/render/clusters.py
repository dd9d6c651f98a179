"""Grouping a graph's nodes by module: clusters from dotted parameter names
(`layers.0.neurons.3.w.1`) and the boxes of a collapsed drawing (one per neuron or layer).

Works on any object with `named_parameters()` yielding (name, Value) pairs, such as an
`nn.Module`; this package never imports `nn`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ... import Value

#: A node's cluster path: its module levels, outermost first,
#: e.g. ("layers.0", "layers.0.neurons.3").
Path = tuple[str, ...]


def levels(name: str) -> Path:
    """Module levels of a dotted parameter name, outermost first:
    `layers.0.neurons.3.w.1` -> ("layers.0", "layers.0.neurons.3"); `w.1` -> ()."""
    parts = name.split(".")
    while parts and parts[-1].isdigit():
        parts.pop()
    parts = parts[:-1]  # the attribute (`w`, `b`)
    found = [".".join(parts[:k + 1]) for k, p in enumerate(parts) if p.isdigit()]
    if parts and (not found or found[-1] != ".".join(parts)):
        found.append(".".join(parts))
    return tuple(found)


def parameter_paths(modules: Any) -> dict[Value, Path]:
    """Each parameter of `modules` (anything with `named_parameters()`) and its cluster path."""
    named = getattr(modules, "named_parameters", None)
    if not callable(named):
        raise TypeError("draw_graph(): modules must have named_parameters() (an nn.Module), got "
                        f"{type(modules).__name__}")
    paths: dict[Value, Path] = {}
    for item in named():
        try:
            name, p = item
        except (TypeError, ValueError):
            raise TypeError("draw_graph(): named_parameters() must yield (name, Value) pairs, "
                            f"got {item!r}") from None
        if not isinstance(name, str) or not isinstance(p, Value):
            raise TypeError("draw_graph(): named_parameters() must yield (str, Value) pairs, "
                            f"got ({type(name).__name__}, {type(p).__name__})")
        paths.setdefault(p, levels(name))  # a tied parameter stays with its first name
    return paths


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


def assign_clusters(order: list[Value], params: Mapping[Value, Path]) -> dict[Value, Path]:
    """Cluster path of every node, in one pass over the forward order.

    A parameter sits in its module; a node fed directly by parameters joins the module they
    share (their neuron); any other node joins a cluster only if all its parents are in that
    same cluster (so a loss computed from the output neuron and a target stays outside). A node
    labelled with its module's name (`nn` labels each neuron's output so) is that module's
    output: the cluster ends there, so `softplus(-output)` in a loss stays outside too.
    """
    where: dict[Value, Path] = {}
    closed: set[Value] = set()
    for v in order:
        if v in params:
            path = params[v]
        elif v.op is None:
            continue
        else:
            parents = v.parents
            fed = [params[p] for p in parents if p in params]
            if fed:
                path = _common_prefix(fed)
            elif any(p in closed for p in parents):
                path = ()
            else:
                first = where.get(parents[0], ())
                path = first if all(where.get(p, ()) == first for p in parents) else ()
        if path:
            where[v] = path
            if v.label and v.label == path[-1]:
                closed.add(v)
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
    """The boxes of a collapsed drawing (one per neuron or layer) and each hidden node's box.

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
    """A module's name inside its parent: `layers.0.neurons.3` in `layers.0` reads `neurons.3`."""
    name = key[-1]
    outer = key[-2] if len(key) > 1 else ""
    return name[len(outer) + 1:] if outer and name.startswith(outer + ".") else name
