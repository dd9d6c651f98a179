"""A small reader for the DOT text `draw_graph` writes (one statement per line, as the graphviz
package emits it), so render tests check structure without a Graphviz program."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from autograd_lite import Value

_NODE = re.compile(r"^\s*(\"[^\"]+\"|[\w.]+) \[(.*)\]$")
_EDGE = re.compile(r"^\s*(\"[^\"]+\"|[\w.]+) -> (\"[^\"]+\"|[\w.]+)(?: \[(.*)\])?$")
_SUB = re.compile(r"^\s*subgraph (\"[^\"]+\"|\w+) \{$")
_ATTR = re.compile(r"([\w]+)=(<<.*?>>(?= \w+=|$)|<[^<>]*>(?= \w+=|$)|\"(?:[^\"\\]|\\.)*\"|[^ ]+)")


def _unquote(s: str) -> str:
    return s[1:-1] if s.startswith('"') and s.endswith('"') else s


def attrs(text: str) -> dict[str, str]:
    """`a=1 label=<<b>x</b>> color="#fff"` -> {"a": "1", "label": "<<b>x</b>>", ...}."""
    return {k: _unquote(v) for k, v in _ATTR.findall(text or "")}


def text_of(label: str) -> str:
    """The visible text of an HTML-like label: tags removed, cells joined by ' | '."""
    if label.startswith("<") and label.endswith(">"):
        label = label[1:-1]  # the HTML-like label's own brackets
    t = re.sub(r"</td>\s*(<vr/>)?\s*<td[^>]*>", " | ", label)
    t = re.sub(r"<[^>]+>", " ", t)
    return html.unescape(re.sub(r"\s+", " ", t)).strip()


@dataclass
class Dot:
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    clusters: dict[str, tuple[str, ...]] = field(default_factory=dict)  #: node -> cluster labels
    cluster_names: list[str] = field(default_factory=list)

    def label(self, nid: str) -> str:
        return text_of(self.nodes[nid].get("label", ""))


def parse(source: str) -> Dot:
    dot = Dot()
    stack: list[str] = []
    for line in source.splitlines()[1:]:
        if m := _SUB.match(line):
            dot.cluster_names.append(_unquote(m.group(1)))
            stack.append("")
            continue
        if line.strip() == "}":
            if stack:
                stack.pop()
            continue
        if stack and not stack[-1] and "[" not in line and "->" not in line:
            stack[-1] = attrs(line.strip()).get("label", "") or "?"
            continue
        if m := _EDGE.match(line):
            dot.edges.append((_unquote(m.group(1)), _unquote(m.group(2)), attrs(m.group(3))))
        elif m := _NODE.match(line):
            name = _unquote(m.group(1))
            if name in ("graph", "node", "edge"):
                continue
            dot.nodes[name] = attrs(m.group(2))
            dot.clusters[name] = tuple(s for s in stack if s)
    return dot


def neuron() -> tuple[Value, dict[str, Value]]:
    """micrograd's neuron, o = tanh(x1*w1 + x2*w2 + b), with gradients filled in."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    n = x1 * w1 + x2 * w2 + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    o.backward()
    return o, {"x1": x1, "x2": x2, "w1": w1, "w2": w2, "b": b, "n": n, "o": o}


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (no imaging library needed)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def svg_size_pt(svg: str) -> tuple[float, float]:
    m = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    assert m, "SVG without width/height in pt"
    return float(m.group(1)), float(m.group(2))
