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


# ---- headless Chromium (Debian's chromium + chromium-driver, driven by selenium) ----------------
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1280,1000")


def chromium(profile_dir: object):
    """A headless Chromium driver (skips the test when chromium, its driver or selenium is
    missing); selenium-manager is never consulted, nothing is downloaded."""
    import os

    import pytest

    for exe, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(exe, os.X_OK):
            pytest.skip(f"browser test needs {exe} (apt-get install {pkg})")
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="browser test needs selenium (the dev extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


#: In every Graphviz SVG of the page (each `<svg>`, hidden frames shown while measured): each
#: node's and cluster's text boxes (`getBBox`), the box of the node's outline (its largest
#: shape), and the straight segments drawn inside it (field separators, cell borders). Returns
#: the text boxes and the faults: text outside its outline, or crossing a segment.
TEXT_FIT_JS = """
const EPS = arguments[0];
const out = {texts: 0, svgs: 0, bad: []};
const area = b => b.width * b.height;
const segments = el => {
  const p = (el.getAttribute('points') || '').trim().split(/\\s+/).filter(Boolean)
    .map(q => q.split(',').map(Number));
  const s = [];
  for (let i = 0; i + 1 < p.length; i++) s.push([p[i], p[i + 1]]);
  return s;
};
for (const svg of document.querySelectorAll('svg')) {
  const hidden = [];
  for (let e = svg; e; e = e.parentElement) if (e.hidden) { hidden.push(e); e.hidden = false; }
  out.svgs += 1;
  const where = (svg.closest('[id]') || {}).id || 'page';
  for (const g of svg.querySelectorAll('g.node, g.cluster')) {
    const title = (g.querySelector(':scope > title') || {}).textContent;
    const texts = [...g.querySelectorAll('text')];
    if (!texts.length) continue;
    const shapes = [...g.querySelectorAll('path, polygon, ellipse, polyline')];
    let outline = null;
    for (const s of shapes)
      if (!outline || area(s.getBBox()) > area(outline.getBBox())) outline = s;
    const ob = outline ? outline.getBBox() : null;
    const lines = [];
    for (const el of g.querySelectorAll('polygon, polyline'))
      for (const [a, c] of segments(el))
        if (Math.abs(a[0] - c[0]) > 1e-6 || Math.abs(a[1] - c[1]) > 1e-6) lines.push([a, c]);
    for (const t of texts) {
      if (!t.textContent.trim()) continue;  // a colour swatch's blank: nothing drawn
      const b = t.getBBox();
      out.texts += 1;
      const r = {where: where, node: title, text: t.textContent,
                 box: [b.x, b.y, b.width, b.height].map(v => +v.toFixed(2))};
      if (!ob || b.x < ob.x - EPS || b.y < ob.y - EPS || b.x + b.width > ob.x + ob.width + EPS ||
          b.y + b.height > ob.y + ob.height + EPS) {
        out.bad.push({...r, why: 'outside its shape',
                      shape: ob && [ob.x, ob.y, ob.width, ob.height].map(v => +v.toFixed(2))});
        continue;
      }
      for (const [a, c] of lines) {
        const vertical = Math.abs(a[0] - c[0]) < 1e-6, horizontal = Math.abs(a[1] - c[1]) < 1e-6;
        let hit = false;
        if (vertical) {
          const x = a[0], lo = Math.min(a[1], c[1]), hi = Math.max(a[1], c[1]);
          hit = x > b.x + EPS && x < b.x + b.width - EPS && hi > b.y + EPS &&
                lo < b.y + b.height - EPS;
        } else if (horizontal) {
          const y = a[1], lo = Math.min(a[0], c[0]), hi = Math.max(a[0], c[0]);
          hit = y > b.y + EPS && y < b.y + b.height - EPS && hi > b.x + EPS &&
                lo < b.x + b.width - EPS;
        }
        if (hit) { out.bad.push({...r, why: 'crosses a separator', line: [a, c]}); break; }
      }
    }
  }
  for (const e of hidden) e.hidden = true;
}
return out;
"""
