"""The tape: one row per backward step, as text and HTML, checked against the Step records."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from ...engine.traversal import Step
from ...engine.value import Value, describe
from .steps import CARRIED, _infer_carried, carried_grads, node_ids, node_names, walk


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
