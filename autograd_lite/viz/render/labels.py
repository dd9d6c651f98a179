"""What nodes say and how they look: op symbols (asked of the primitive record), value and box
labels, the colour scales, and the legend."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from typing import Any

from ... import Value
from .clusters import Box, short_name
from .renderers import graphviz

# ---- look -------------------------------------------------------------------------------------
FONT = "Helvetica"
HIGHLIGHT = "#1f6fd1"  # blue: distinct from the orange gradient scale
EDGE = "#707070"
BORDER = "#404040"
FILL_VALUE = "#ffffff"
FILL_LEAF = "#eaf2fb"  # inputs and constants
FILL_PARAM = "#e2f2e5"  # parameters of `modules`
FILL_OP = "#f0f0f0"
BOX_EDGE = {"color": "#8c8c8c", "penwidth": "0.7"}  # many edges between boxes: keep them light
FILL_BOX = "#fbfbfb"
FILL_LAYER = "#f5f7fa"
#: A diverging scale that keeps the sign: (lower bound of |grad| as a fraction of the largest
#: |grad| drawn, colour) for positive gradients (oranges) and negative ones (blues); 0 and
#: inf/nan apart. The scale is relative to each picture's largest |grad|: the legend says so.
GRAD_SCALE = ((0.5, "#fd8d3c"), (0.1, "#fdae6b"), (0.01, "#fdd0a2"), (0.0, "#feede0"))
GRAD_SCALE_NEG = ((0.5, "#6baed6"), (0.1, "#9ecae1"), (0.01, "#c6dbef"), (0.0, "#eff3ff"))
GRAD_ZERO = "#ffffff"
GRAD_NONFINITE = "#d4a6f0"
#: Nodes built by grad(..., create_graph=True): the derivative computation.
DERIVATIVE = "#7b3fa0"
#: Neuron health marks: saturated tanh/sigmoid units and dead ReLU units.
SATURATED = "#d62728"
DEAD = "#555555"
FILL_DEAD = "#d9d9d9"

# ---- user text, drawn literally by every renderer -----------------------------------------------
#: Characters no renderer can draw from a DOT file: C0 and C1 controls (the DOT lexer or XML
#: rejects them; a NUL ends the text), lone surrogates (not UTF-8), U+FFFE and U+FFFF (not XML).
_UNDRAWABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _stand_in(m: re.Match[str]) -> str:
    o = ord(m.group())
    if o < 0x20:
        return chr(0x2400 + o)  # its Unicode control picture: \x0b -> U+240B
    if o == 0x7F:
        return "\u2421"
    return f"\\x{o:02x}" if o <= 0xFF else f"\\u{o:04x}"


def visible(text: str) -> str:
    r"""`text` with the characters no renderer can draw shown by visible stand-ins: C0 controls
    and DEL as their control pictures (`\x0b` as U+240B), others escaped (`\x85`, `\ud800`)."""
    return _UNDRAWABLE.sub(_stand_in, text)


def html_text(text: str) -> str:
    r"""User text for an HTML-like label, drawn literally: XML-escaped, undrawable characters
    made `visible`, backslashes doubled (Graphviz expands `\G`, `\N`, ... even there), and `]` as
    a character reference (dot's lexer fails on a label that starts `<]`)."""
    return html.escape(visible(text)).replace("\\", "\\\\").replace("]", "&#93;")


def dot_text(text: str) -> str:
    r"""User text for a quoted DOT string (a cluster's label), drawn literally: backslashes and
    `<...>` lose their meaning, undrawable characters are made `visible`."""
    return graphviz.escape(visible(text))


def op_symbol(v: Value) -> str:
    """How an op node reads, from its primitive's `symbol` (default: its name): `+`, `*`,
    `tanh`, `**3` (powc's `**{0}`), `2**` (rpow's `{0}**`); other params as `name(p, ...)`."""
    op = v.op
    if op is None:
        return ""
    symbol = op.symbol
    nums = [num(p) for p in v.params]
    if "{" in symbol and nums:  # a template with slots for the params; else literal text
        try:
            return symbol.format(*nums)
        except (IndexError, KeyError, ValueError):  # a symbol with braces that are not slots
            return symbol
    return symbol + ("(" + ", ".join(nums) + ")" if nums else "")


def num(x: Any) -> str:
    """A parameter as text: `3`, `0.5`, `1e-08`."""
    return format(x, "g") if isinstance(x, int | float) else str(x)


def cell(text: str, bold: bool = False) -> str:
    """One table cell of an HTML-like label holding `text` literally."""
    t = html_text(text)
    return f"<td>{'<b>' + t + '</b>' if bold else t}</td>"


_TABLE = '<<table border="0" cellborder="0" cellspacing="0" cellpadding="3">'


def field(v: Value, name: str, fmt: str) -> str:
    """`data 1.5000` or `grad 0.2500`; a `.grad` of None (no gradient yet, as PyTorch's) reads
    `grad None`."""
    x = getattr(v, name)
    return f"{name} None" if x is None else f"{name} {format(x, fmt)}"


def value_label(v: Value, show: Sequence[str], fmt: str, within: str = "") -> str | None:
    """A value node's HTML-like label: the `show` fields side by side; None if nothing to show.

    Inside a module's cluster (`within`), a label starting with its name is shortened."""
    cells = []
    for f in show:
        if f == "label":
            if v.label:
                text = v.label  # `layers.0.neurons.3.w.1` reads `w.1` inside its neuron's box
                if within and text.startswith(within + ".") and len(text) > len(within) + 1:
                    text = text[len(within) + 1:]
                cells.append(cell(text, bold=True))
        else:
            cells.append(cell(field(v, f, fmt)))
    if not cells:
        return None
    return _TABLE + "<tr>" + "<vr/>".join(cells) + "</tr></table>>"


BOX_SHOWN_OUTPUTS = 3


def box_label(box: Box, show: Sequence[str], fmt: str, note: str = "") -> str:
    """A collapsed neuron's or layer's label: name, size, its outputs' data and grad, `note`."""
    name = short_name(box.key)
    k = len(box.outputs)
    fields = [f for f in show if f in ("data", "grad")]
    ncol = 1 + len(fields)
    summary = f"{box.nparams} params, {len(box.members)} nodes" + (
        f", {k} outputs" if k != 1 else "")
    head = [f'<tr><td colspan="{ncol}"><b>{html_text(name)}</b></td></tr>',
            f'<tr><td colspan="{ncol}"><font point-size="9">{html_text(summary)}</font></td>'
            "</tr>"]
    if note:
        head.append(f'<tr><td colspan="{ncol}"><font point-size="9">{html_text(note)}'
                    "</font></td></tr>")
    rows = []
    if fields:
        for j, o in enumerate(box.outputs[:BOX_SHOWN_OUTPUTS]):
            which = "out" if k == 1 else f"out {j}"
            cells = [cell(which)] + [cell(field(o, f, fmt)) for f in fields]
            rows.append("<tr>" + "<vr/>".join(cells) + "</tr>")
        if k > BOX_SHOWN_OUTPUTS:
            more = k - BOX_SHOWN_OUTPUTS
            rows.append(f'<tr><td colspan="{ncol}">+ {more} more output{"s" * (more != 1)}'
                        "</td></tr>")
    body = "".join(head) + ("<hr/>" + "".join(rows) if rows else "")
    return _TABLE + body + "</table>>"


def grad_colour(g: float, top: float) -> str:
    """The fill for g: its sign picks the scale (orange +, blue -), |g| the shade, relative to
    the largest finite |grad| drawn (a grad of None, no gradient yet, as 0)."""
    if g is None:
        return GRAD_ZERO
    if not math.isfinite(g):
        return GRAD_NONFINITE
    a = abs(g)
    if a == 0.0:
        return GRAD_ZERO
    scale = GRAD_SCALE if g > 0.0 else GRAD_SCALE_NEG
    for frac, colour in scale:
        if a >= frac * top:
            return colour
    return scale[-1][1]


def _swatch(fill: str, text: str, border: str = "") -> str:
    extra = f' color="{border}"' if border else ""
    return (f'<tr><td bgcolor="{fill}" width="18"{extra}> </td>'
            f'<td align="left">{html_text(text)}</td></tr>')


def _title(text: str) -> str:
    return f'<tr><td colspan="2"><b>{html_text(text)}</b></td></tr>'


def grad_legend_rows(top: float, nonfinite: bool, boxes: bool) -> list[str]:
    """The legend rows of the colour scale: positive gradients first (largest first), then
    negative ones, then zero; shades are relative to this picture's largest |grad|."""
    rows = [_title("colour: grad (orange +, blue -), relative to the largest |grad| here")]
    if top > 0.0:
        for scale, sign in ((GRAD_SCALE, "+"), (GRAD_SCALE_NEG, "-")):
            prev = None
            for frac, colour in scale:
                if frac > 0.0:
                    lo = frac * top
                    text = (f"{sign} {lo:.3g} <= |grad|"
                            + (f" < {prev:.3g}" if prev else f" <= {top:.3g}"))
                    text += f" ({frac:.0%}+ of max)"
                    prev = lo
                else:
                    text = f"{sign} 0 < |grad| < {prev:.3g}"
                rows.append(_swatch(colour, text))
    rows.append(_swatch(GRAD_ZERO, "|grad| = 0"))
    if nonfinite:
        rows.append(_swatch(GRAD_NONFINITE, "inf or nan"))
    if boxes:
        rows.append('<tr><td colspan="2">boxes: largest |grad| of their outputs</td></tr>')
    return rows


def derivative_legend_rows(levels: Sequence[int]) -> list[str]:
    """Legend rows for nodes built by `grad(..., create_graph=True)`."""
    top = max(levels)
    what = "derivative" if top == 1 else f"derivatives (order 1..{top}: thicker is higher)"
    return [_title("dashed purple outline"),
            _swatch(FILL_VALUE, f"built by grad(create_graph=True): the {what} computation",
                    border=DERIVATIVE)]


def health_legend_rows(threshold: float, saturation: str, dead: str) -> list[str]:
    """Legend rows for neuron health marks, with the thresholds that decide them."""
    rows = [_title(f"neuron health (marked at >= {threshold:.0%} of the batch)")]
    rows.append(_swatch(FILL_VALUE, "saturated tanh/sigmoid unit" + saturation,
                        border=SATURATED))
    rows.append(_swatch(FILL_DEAD, "dead ReLU unit" + dead, border=DEAD))
    return rows


def legend_label(sections: Sequence[list[str]]) -> str:
    """One legend table from its sections' rows."""
    rows = [r for s in sections for r in s]
    return ('<<table border="1" cellborder="1" cellspacing="0" cellpadding="3" color="#909090">'
            + "".join(rows) + "</table>>")
