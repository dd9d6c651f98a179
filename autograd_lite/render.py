"""Graph rendering: `draw_graph` turns a Value's graph into Graphviz DOT, and a renderer finder
turns DOT into SVG, PNG or PDF with whichever Graphviz program this machine has.

Reads only the engine's public structure (`.parents`, `.op`, `.params`, `.data`, `.grad`,
`.label`, `topo_order`); the engine never imports this module. Renderers, in order: the program
named by $AUTOGRAD_LITE_DOT, Graphviz's `dot` on PATH, then `graphviz-pure` (a pip-installed
port that renders SVG and PNG, not PDF) in this Python environment's scripts folder.
"""

from __future__ import annotations

import html
import math
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import graphviz
    from graphviz import ExecutableNotFound
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError("draw_graph() needs the graphviz package: pip install graphviz "
                      "(it comes with pip install autograd-lite)") from e

from . import Value, topo_order

__all__ = [
    "draw_graph", "Graph", "find_renderer", "render_svg", "render_png", "render_to",
    "run_renderer", "RendererNotFound", "RenderTimeout", "RENDERER_ENV",
]

#: Environment variable naming a dot-compatible program (path or command) to render with.
RENDERER_ENV = "AUTOGRAD_LITE_DOT"
#: Seconds a renderer may run before `RenderTimeout` (a huge layout must not hang a notebook).
DEFAULT_TIMEOUT = 120.0
#: PNGs are scaled down to fit this many inches square (96 dpi: 4800 px) unless `size` is set.
PNG_MAX_INCHES = 50
#: Formats graphviz-pure cannot write; they need Graphviz's own `dot`.
_PURE_UNSUPPORTED = {"pdf", "ps", "eps", "ps2", "svgz"}

FIELDS = ("label", "data", "grad")
RANKDIRS = ("LR", "RL", "TB", "BT")
COLLAPSE = ("neuron", "layer")

_INSTALL_HINT = (
    "Install a Graphviz renderer, either of:\n"
    "  pip install graphviz-pure   (SVG and PNG, no root needed; comes with autograd-lite)\n"
    "  apt-get install graphviz    (Graphviz's dot: SVG, PNG and PDF; brew install graphviz "
    "on macOS)\n"
    f"or set {RENDERER_ENV} to the path of a dot-compatible program."
)
_PDF_HINT = (
    "graphviz-pure renders SVG and PNG but not {fmt}: {fmt} needs Graphviz's dot "
    "(apt-get install graphviz, or brew install graphviz on macOS), or set "
    f"{RENDERER_ENV} to a dot program; or write SVG/PNG instead."
)

# ---- look -------------------------------------------------------------------------------------
_FONT = "Helvetica"
_HIGHLIGHT = "#1f6fd1"  # blue: distinct from the orange gradient scale
_EDGE = "#707070"
_BORDER = "#404040"
_FILL_VALUE = "#ffffff"
_FILL_LEAF = "#eaf2fb"  # inputs and constants
_FILL_PARAM = "#e2f2e5"  # parameters of `modules`
_FILL_OP = "#f0f0f0"
_BOX_EDGE = {"color": "#8c8c8c", "penwidth": "0.7"}  # many edges between boxes: keep them light
_FILL_BOX = "#fbfbfb"
_FILL_LAYER = "#f5f7fa"
#: |grad| scale: (lower bound as a fraction of the largest |grad|, colour); 0 and inf/nan apart.
_GRAD_SCALE = ((0.5, "#fd8d3c"), (0.1, "#fdae6b"), (0.01, "#fdd0a2"), (0.0, "#feede0"))
_GRAD_ZERO = "#ffffff"
_GRAD_NONFINITE = "#d4a6f0"
_OP_SYMBOLS = {"add": "+", "mul": "*", "neg": "neg", "pow": "**"}


class RendererNotFound(ExecutableNotFound):
    """No Graphviz program can render the requested format; the message says how to get one.

    A subclass of graphviz's `ExecutableNotFound` (a RuntimeError), so code that catches that
    keeps working.
    """

    def __init__(self, message: str) -> None:
        RuntimeError.__init__(self, message)


class RenderTimeout(TimeoutError):
    """The renderer ran longer than its timeout (and was killed)."""


# ---- finding and running a renderer ------------------------------------------------------------
def _script_dirs() -> list[Path]:
    """Where pip puts this environment's programs: the scripts folder, and beside python."""
    dirs: list[Path] = []
    for d in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        if d and Path(d) not in dirs:
            dirs.append(Path(d))
    return dirs


def _find_pure() -> str | None:
    for d in _script_dirs():
        found = shutil.which("graphviz-pure", path=str(d))
        if found:
            return found
    return shutil.which("graphviz-pure")


def _is_pure(cmd: list[str]) -> bool:
    return "graphviz-pure" in Path(cmd[0]).name


def find_renderer(format: str | None = None) -> list[str]:  # noqa: A002 - graphviz's name
    """The command that renders DOT: $AUTOGRAD_LITE_DOT, else `dot` on PATH, else graphviz-pure
    from this environment. Raises `RendererNotFound` (with install hints) when there is none."""
    fmt = (format or "").split(":")[0].lower()
    override = os.environ.get(RENDERER_ENV, "").strip()
    if override:
        found = shutil.which(override)
        if not found:
            raise RendererNotFound(
                f"{RENDERER_ENV}={override!r} is not an executable program (not a path to one "
                f"and not found on PATH). Point it at Graphviz's dot or at graphviz-pure, or "
                f"unset it to search automatically.\n{_INSTALL_HINT}")
        cmd = [found]
        if fmt in _PURE_UNSUPPORTED and _is_pure(cmd):
            raise RendererNotFound(f"{RENDERER_ENV} points at {found}: "
                                   + _PDF_HINT.format(fmt=fmt.upper()))
        return cmd
    dot = shutil.which("dot")
    if dot:
        return [dot]
    pure = _find_pure()
    if pure:
        if fmt in _PURE_UNSUPPORTED:
            raise RendererNotFound(f"only graphviz-pure was found ({pure}): "
                                   + _PDF_HINT.format(fmt=fmt.upper()))
        return [pure]
    looked = ", ".join(str(d) for d in _script_dirs())
    raise RendererNotFound(
        f"no Graphviz renderer found to draw the graph (looked at ${RENDERER_ENV} (unset), "
        f"`dot` on PATH, and graphviz-pure in {looked}).\n{_INSTALL_HINT}")


def _source_of(graph: Any) -> str:
    if isinstance(graph, str):
        return graph
    source = getattr(graph, "source", None)
    if not isinstance(source, str):
        raise TypeError(f"expected a graphviz graph (draw_graph's result) or DOT text, got "
                        f"{type(graph).__name__}")
    return source


_SIZE_ATTR = re.compile(r"(^|[\s;\[,{])size\s*=")


def run_renderer(
    source: str,
    format: str = "svg",  # noqa: A002 - graphviz's name
    *,
    engine: str = "dot",
    timeout: float | None = None,
    extra_args: Iterable[str] = (),
) -> bytes:
    """Render DOT text with `find_renderer()` and return the output bytes.

    PNGs are capped at `PNG_MAX_INCHES` (graph attribute `size`) unless the source sets `size`.
    """
    fmt = format.lower()
    cmd = find_renderer(fmt)
    args = [*cmd, f"-T{fmt}"]
    if engine and engine != "dot":
        args.append(f"-K{engine}")
    if fmt.split(":")[0] in ("png", "jpg", "jpeg", "gif", "bmp") and not _SIZE_ATTR.search(source):
        args.append(f"-Gsize={PNG_MAX_INCHES},{PNG_MAX_INCHES}")
    args.extend(extra_args)
    limit = DEFAULT_TIMEOUT if timeout is None else timeout
    try:
        proc = subprocess.run(args, input=source.encode("utf-8"), capture_output=True,
                              timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        raise RenderTimeout(
            f"{Path(cmd[0]).name} took longer than {limit:g} s to render {fmt} (and was stopped); "
            "draw fewer nodes (draw_graph(..., modules=model, collapse='neuron' or 'layer')) or "
            "pass a larger timeout") from None
    except OSError as e:
        raise RendererNotFound(f"could not run {cmd[0]}: {e}\n{_INSTALL_HINT}") from e
    if proc.returncode != 0:
        raise graphviz.CalledProcessError(proc.returncode, args, output=proc.stdout,
                                          stderr=proc.stderr.decode("utf-8", "replace"))
    return proc.stdout


def render_svg(graph: Any, *, timeout: float | None = None) -> str:
    """The graph (draw_graph's result or DOT text) as an SVG document."""
    return run_renderer(_source_of(graph), "svg", timeout=timeout).decode("utf-8")


def render_png(graph: Any, *, timeout: float | None = None) -> bytes:
    """The graph as PNG bytes (at most `PNG_MAX_INCHES` square unless the graph sets `size`)."""
    return run_renderer(_source_of(graph), "png", timeout=timeout)


def render_to(
    graph: Any,
    path: str | os.PathLike[str],
    format: str | None = None,  # noqa: A002 - graphviz's name
    *,
    timeout: float | None = None,
) -> Path:
    """Write the graph to `path` as svg, png, pdf (needs dot) or dot/gv (the DOT text).

    The format defaults to the file's suffix.
    """
    out = Path(path)
    fmt = (format or out.suffix.lstrip(".")).lower()
    if not fmt:
        raise ValueError(f"render_to(): cannot tell the format of {str(out)!r}: give it a "
                         "suffix (.svg, .png, .pdf, .dot) or pass format=")
    source = _source_of(graph)
    if fmt in ("dot", "gv"):
        out.write_text(source, encoding="utf-8")
    else:
        out.write_bytes(run_renderer(source, fmt, timeout=timeout))
    return out


class Graph(graphviz.Digraph):
    """A `graphviz.Digraph` whose `pipe`, `render` and Jupyter display use `find_renderer()`
    (so they work with graphviz-pure as well as with Graphviz's dot). Default format: svg."""

    def pipe(  # type: ignore[override]
        self,
        format: str | None = None,  # noqa: A002
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: Any = None,
        quiet: bool = False,
        *,
        engine: str | None = None,
        encoding: str | None = None,
    ) -> bytes | str:
        """The graph rendered to `format` (default `self.format`): bytes, or str with
        `encoding`."""
        fmt = _full_format(format or self.format, renderer, formatter)
        extra = [f"-n{int(neato_no_op)}"] if neato_no_op else []
        data = run_renderer(self.source, fmt, engine=engine or self.engine, extra_args=extra)
        return data.decode(encoding) if encoding else data

    def render(  # type: ignore[override]
        self,
        filename: str | os.PathLike[str] | None = None,
        directory: str | os.PathLike[str] | None = None,
        view: bool = False,
        cleanup: bool = False,
        format: str | None = None,  # noqa: A002
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: Any = None,
        quiet: bool = False,
        quiet_view: bool = False,
        *,
        outfile: str | os.PathLike[str] | None = None,
        engine: str | None = None,
        raise_if_result_exists: bool = False,
        overwrite_source: bool = False,
    ) -> str:
        """Save the DOT source and render it next to it (as graphviz does): returns the path of
        the rendered file, `<filename>.<format>` or `outfile`."""
        if outfile is not None:
            outfile = Path(outfile)
            if format is None and outfile.suffix:
                format = outfile.suffix.lstrip(".")  # noqa: A001
            if filename is None:
                filename = outfile.with_suffix(".gv")  # the source beside it, as graphviz does
            if directory is None:
                outfile = Path(self.directory, outfile)
        fmt = _full_format(format or self.format, renderer, formatter)
        filepath = self.save(filename, directory=directory)
        target = Path(outfile) if outfile is not None else Path(f"{filepath}.{fmt.split(':')[0]}")
        if raise_if_result_exists and target.exists():
            raise graphviz.FileExistsError(f"output file exists: {str(target)!r}")
        if target.resolve() == Path(filepath).resolve() and not overwrite_source:
            raise ValueError(f"outfile {str(target)!r} is the DOT source file; pass "
                             "overwrite_source=True to replace it")
        extra = [f"-n{int(neato_no_op)}"] if neato_no_op else []
        data = run_renderer(self.source, fmt, engine=engine or self.engine, extra_args=extra)
        target.write_bytes(data)
        if cleanup:
            os.remove(filepath)
        if view or quiet_view:
            self._view(str(target), format=fmt.split(":")[0], quiet=quiet_view)
        return str(target)

    def _repr_svg_(self) -> str:
        return self.pipe(format="svg", encoding="utf-8")  # type: ignore[return-value]


def _full_format(fmt: str, renderer: str | None, formatter: str | None) -> str:
    if formatter and not renderer:
        raise graphviz.RequiredArgumentError("formatter given without renderer")
    return ":".join(x for x in (fmt, renderer, formatter) if x)


# ---- clusters from module parameter names ------------------------------------------------------
def _levels(name: str) -> tuple[str, ...]:
    """Module levels of a dotted parameter name, outermost first:
    `layers.0.neurons.3.w.1` -> ("layers.0", "layers.0.neurons.3"); `w.1` -> ()."""
    parts = name.split(".")
    while parts and parts[-1].isdigit():
        parts.pop()
    parts = parts[:-1]  # the attribute (`w`, `b`)
    levels = [".".join(parts[:k + 1]) for k, p in enumerate(parts) if p.isdigit()]
    if parts and (not levels or levels[-1] != ".".join(parts)):
        levels.append(".".join(parts))
    return tuple(levels)


def _parameters(modules: Any) -> dict[Value, tuple[str, ...]]:
    named = getattr(modules, "named_parameters", None)
    if not callable(named):
        raise TypeError("draw_graph(): modules must have named_parameters() (an nn.Module), got "
                        f"{type(modules).__name__}")
    paths: dict[Value, tuple[str, ...]] = {}
    for item in named():
        try:
            name, p = item
        except (TypeError, ValueError):
            raise TypeError("draw_graph(): named_parameters() must yield (name, Value) pairs, "
                            f"got {item!r}") from None
        if not isinstance(name, str) or not isinstance(p, Value):
            raise TypeError("draw_graph(): named_parameters() must yield (str, Value) pairs, "
                            f"got ({type(name).__name__}, {type(p).__name__})")
        paths.setdefault(p, _levels(name))  # a tied parameter stays with its first name
    return paths


def _common_prefix(paths: list[tuple[str, ...]]) -> tuple[str, ...]:
    first = paths[0]
    n = len(first)
    for p in paths[1:]:
        n = min(n, len(p))
        for k in range(n):
            if p[k] != first[k]:
                n = k
                break
    return first[:n]


def assign_clusters(order: list[Value], params: Mapping[Value, tuple[str, ...]]
                    ) -> dict[Value, tuple[str, ...]]:
    """Cluster path of every node, in one pass over the forward order.

    A parameter sits in its module; a node fed directly by parameters joins the module they
    share (their neuron); any other node joins a cluster only if all its parents are in that
    same cluster (so a loss computed from the output neuron and a target stays outside). A node
    labelled with its module's name (`nn` labels each neuron's output so) is that module's
    output: the cluster ends there, so `softplus(-output)` in a loss stays outside too.
    """
    where: dict[Value, tuple[str, ...]] = {}
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


# ---- labels -------------------------------------------------------------------------------------
def op_symbol(v: Value) -> str:
    """How an op node reads: `+`, `*`, `tanh`, `**3` (powc), `2**` (rpow), `name(params)`."""
    op = v.op
    if op is None:
        return ""
    params = v.params
    if op.name == "powc":
        return f"**{_num(params[0])}"
    if op.name == "rpow":
        return f"{_num(params[0])}**"
    sym = _OP_SYMBOLS.get(op.name, op.name)
    if params:
        sym += "(" + ", ".join(_num(p) for p in params) + ")"
    return sym


def _num(x: Any) -> str:
    return format(x, "g") if isinstance(x, int | float) else str(x)


def _cell(text: str, bold: bool = False) -> str:
    t = html.escape(text)
    return f"<td>{'<b>' + t + '</b>' if bold else t}</td>"


def _value_label(v: Value, show: tuple[str, ...], fmt: str, within: str = "") -> str | None:
    cells = []
    for f in show:
        if f == "label":
            if v.label:
                text = v.label  # `layers.0.neurons.3.w.1` reads `w.1` inside its neuron's box
                if within and text.startswith(within + ".") and len(text) > len(within) + 1:
                    text = text[len(within) + 1:]
                cells.append(_cell(text, bold=True))
        else:
            cells.append(_cell(f"{f} {format(getattr(v, f), fmt)}"))
    if not cells:
        return None
    return ('<<table border="0" cellborder="0" cellspacing="0" cellpadding="3"><tr>'
            + "<vr/>".join(cells) + "</tr></table>>")


def _grad_colour(g: float, top: float) -> str:
    if not math.isfinite(g):
        return _GRAD_NONFINITE
    a = abs(g)
    if a == 0.0:
        return _GRAD_ZERO
    for frac, colour in _GRAD_SCALE:
        if a >= frac * top:
            return colour
    return _GRAD_SCALE[-1][1]


def _legend_label(top: float, nonfinite: bool, boxes: bool) -> str:
    rows = ['<tr><td colspan="2"><b>colour: |grad|</b></td></tr>']
    if top > 0.0:
        prev = None
        for frac, colour in _GRAD_SCALE:
            if frac > 0.0:
                lo = frac * top
                text = f"{lo:.3g} <= |grad|" + (f" < {prev:.3g}" if prev else f" <= {top:.3g}")
                text += f" ({frac:.0%}+ of max)"
                prev = lo
            else:
                text = f"0 < |grad| < {prev:.3g}"
            rows.append(f'<tr><td bgcolor="{colour}" width="18"> </td>'
                        f"<td align=\"left\">{html.escape(text)}</td></tr>")
    rows.append(f'<tr><td bgcolor="{_GRAD_ZERO}" width="18"> </td>'
                f'<td align="left">|grad| = 0</td></tr>')
    if nonfinite:
        rows.append(f'<tr><td bgcolor="{_GRAD_NONFINITE}" width="18"> </td>'
                    f'<td align="left">inf or nan</td></tr>')
    if boxes:
        rows.append('<tr><td colspan="2">boxes: largest |grad| of their outputs</td></tr>')
    return ('<<table border="1" cellborder="1" cellspacing="0" cellpadding="3" color="#909090">'
            + "".join(rows) + "</table>>")


# ---- the drawing ---------------------------------------------------------------------------------
@dataclass
class _Cluster:
    key: tuple[str, ...]
    name: str
    nodes: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    children: list[_Cluster] = field(default_factory=list)


@dataclass
class _Box:
    key: tuple[str, ...]
    id: str
    members: list[Value] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    nparams: int = 0


def _unique(name: str, used: set[str]) -> str:
    """`name`, with underscores appended until it is not in `used`; recorded as used."""
    while name in used:
        name += "_"
    used.add(name)
    return name


def _safe(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _collapse(order: list[Value], root: Value, where: Mapping[Value, tuple[str, ...]],
              params: Mapping[Value, tuple[str, ...]], collapse: str
              ) -> tuple[dict[tuple[str, ...], _Box], dict[Value, _Box]]:
    """The boxes of a collapsed drawing (one per neuron or layer) and each hidden node's box.

    A box's outputs are its nodes used outside it (or the root), in forward order."""
    boxes: dict[tuple[str, ...], _Box] = {}
    box_of: dict[Value, _Box] = {}
    used: set[str] = set()
    for v in order:
        path = where.get(v)
        if not path:
            continue
        key = path if collapse == "neuron" else path[:1]
        box = boxes.get(key)
        if box is None:
            box = boxes[key] = _Box(key, _unique("m_" + _safe(key[-1]), used))
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


def _check_options(root: Any, rankdir: Any, show: Any, fmt: Any, collapse: Any, modules: Any,
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
    if collapse is not None and modules is None:
        raise ValueError("draw_graph(): collapse= needs modules= (e.g. your nn model) to know "
                         "which nodes form a neuron or layer")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"draw_graph(): max_nodes must be a positive int, got {max_nodes!r}")
    return show


def _too_many(n: int, max_nodes: int, collapse: str | None, modules: Any) -> ValueError:
    if collapse == "layer":
        hint = "raise max_nodes"
    elif collapse == "neuron":
        hint = "use collapse='layer', or raise max_nodes"
    elif modules is None:
        hint = ("pass modules=<your nn model> with collapse='neuron' or collapse='layer' to "
                "draw each neuron or layer as one box, or raise max_nodes")
    else:
        hint = ("pass collapse='neuron' or collapse='layer' to draw each neuron or layer as one "
                "box, or raise max_nodes")
    return ValueError(f"draw_graph(): {n} nodes to draw, more than max_nodes={max_nodes}; {hint} "
                      "(laying out thousands of nodes takes minutes and is unreadable)")


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
    collapse: str | None = None,
    max_nodes: int = 2000,
    size: str | tuple[float, float] | None = None,
    graph_attr: Mapping[str, str] | None = None,
) -> Graph:
    """The graph of `root` as a `Graph` (a graphviz.Digraph): Jupyter shows it, `.render()`
    writes it. Value node ids are `n{i}` (i = index in `topo_order([root])`), op nodes `n{i}op`.

    `show`: fields of value nodes; `fmt`: number format; `highlight` / `highlight_edges`:
    Values and (parent, child) pairs drawn in blue; `color_by_grad`: fill by |grad| with a
    legend; `modules` (with `named_parameters()`): clusters per layer and neuron; `collapse`:
    "neuron" or "layer" draws each as one box; more than `max_nodes` drawn nodes: ValueError.
    """
    show = _check_options(root, rankdir, show, fmt, collapse, modules, max_nodes)
    order = topo_order([root])
    if collapse is None and len(order) > max_nodes:
        raise _too_many(len(order), max_nodes, collapse, modules)
    index = {v: i for i, v in enumerate(order)}
    params = _parameters(modules) if modules is not None else {}
    where = assign_clusters(order, params) if params else {}

    boxes, box_of = _collapse(order, root, where, params, collapse) if collapse else ({}, {})
    if collapse is not None:
        drawn = len(order) - len(box_of) + len(boxes)
        if drawn > max_nodes:
            raise _too_many(drawn, max_nodes, collapse, modules)

    def rep(v: Value) -> str:
        b = box_of.get(v)
        return b.id if b is not None else f"n{index[v]}"

    def target(v: Value) -> str:  # where an edge into v ends: its box or its op node
        b = box_of.get(v)
        return b.id if b is not None else f"n{index[v]}op"

    hl_nodes: set[str] = set()
    for v in highlight:
        if v not in index:
            raise ValueError(f"draw_graph(): highlight has {v!r}, which is not in root's graph")
        hl_nodes.add(rep(v))
    hl_edges: set[tuple[str, str]] = set()
    for pair in highlight_edges:
        try:
            p, c = pair
        except (TypeError, ValueError):
            raise TypeError("draw_graph(): highlight_edges must hold (parent, child) pairs of "
                            f"Values, got {pair!r}") from None
        if c not in index or not any(q is p for q in getattr(c, "parents", ())):
            raise ValueError(f"draw_graph(): highlight_edges has ({p!r}, {c!r}), which is not an "
                             "edge of root's graph (parent, child)")
        hl_edges.add((rep(p), target(c)))

    # Gradient colour scale over everything that gets a colour.
    coloured: list[float] = []
    if color_by_grad:
        coloured = [v.grad for v in order if v not in box_of]
        coloured += [max((abs(o.grad) for o in b.outputs), default=0.0) for b in boxes.values()]
    top = max((abs(g) for g in coloured if math.isfinite(g)), default=0.0)

    def fill(v: Value) -> str:
        if color_by_grad:
            return _grad_colour(v.grad, top)
        if v in params:
            return _FILL_PARAM
        return _FILL_LEAF if v.op is None else _FILL_VALUE

    # Cluster tree: statements are placed in the cluster of their path.
    top_cluster = _Cluster((), "")
    clusters: dict[tuple[str, ...], _Cluster] = {(): top_cluster}
    used_names: set[str] = set()

    def cluster(path: tuple[str, ...]) -> _Cluster:
        c = clusters.get(path)
        if c is None:
            parent = cluster(path[:-1])
            c = clusters[path] = _Cluster(path, _unique("cluster_" + _safe(path[-1]), used_names))
            parent.children.append(c)
        return c

    def outline(attrs: dict[str, str], nid: str, base: str = "1") -> dict[str, str]:
        if nid in hl_nodes:
            attrs.update(color=_HIGHLIGHT, penwidth="3")
        elif base != "1":
            attrs.update(penwidth=base)
        return attrs

    root_id = rep(root)
    seen_boxes: set[str] = set()
    for v in order:
        box = box_of.get(v)
        if box is not None:
            if box.id in seen_boxes:
                continue
            seen_boxes.add(box.id)
            attrs = {"label": _box_label(box, show, fmt),
                     "fillcolor": (_grad_colour(max((abs(o.grad) for o in box.outputs),
                                                    default=0.0), top)
                                   if color_by_grad else _FILL_BOX)}
            outline(attrs, box.id, "2" if box.id == root_id else "1")
            cluster(box.key[:-1]).nodes.append((box.id, attrs))
            continue
        i = index[v]
        nid = f"n{i}"
        place = cluster(where.get(v, ()))
        if v.op is not None:
            op_attrs = {"label": f"<{html.escape(op_symbol(v))}>", "shape": "ellipse",
                        "style": "filled", "fillcolor": _FILL_OP, "fontsize": "10",
                        "width": "0.3", "height": "0.3", "margin": "0.04,0.02"}
            outline(op_attrs, nid)
            place.nodes.append((f"{nid}op", op_attrs))
        label = _value_label(v, show, fmt, where[v][-1] if v in where else "")
        if label is None:
            attrs = {"shape": "point", "width": "0.12", "label": "", "style": "filled",
                     "fillcolor": fill(v)}
        else:
            attrs = {"label": label}
            if color_by_grad or fill(v) != _FILL_VALUE:
                attrs["fillcolor"] = fill(v)
        outline(attrs, nid, "2" if v is root else "1")
        place.nodes.append((nid, attrs))

    attrs = {"rankdir": rankdir, "bgcolor": "white", "fontname": _FONT, "fontsize": "11",
             "nodesep": "0.15", "ranksep": "0.3" if collapse is None else "1.4"}
    if size is not None:
        attrs["size"] = f"{size[0]},{size[1]}" if isinstance(size, tuple) else str(size)
    if graph_attr:
        attrs.update({str(k): str(val) for k, val in graph_attr.items()})
    g = Graph(name="autograd", format="svg", graph_attr=attrs,
              node_attr={"fontname": _FONT, "fontsize": "11", "shape": "box",
                         "style": "filled,rounded", "margin": "0", "color": _BORDER,
                         "penwidth": "1", "fillcolor": _FILL_VALUE},
              edge_attr={"color": _EDGE, "arrowsize": "0.6"})
    _emit(g, top_cluster)
    if color_by_grad:
        nonfinite = any(not math.isfinite(x) for x in coloured)
        with g.subgraph(name="cluster_legend") as leg:
            leg.attr(label="", style="invis")
            leg.node("legend", label=_legend_label(top, nonfinite, bool(boxes)), shape="plain")

    # Edges, in forward order of their heads; parallel edges (a + a) kept except between boxes.
    box_edges: set[tuple[str, str]] = set()
    for v in order:
        box = box_of.get(v)
        if box is not None:
            for p in v.parents:
                src = rep(p)
                if src != box.id and (src, box.id) not in box_edges:
                    box_edges.add((src, box.id))
                    g.edge(src, box.id, **_edge_style((src, box.id) in hl_edges, _BOX_EDGE))
            continue
        if v.op is None:
            continue
        nid = f"n{index[v]}"
        for p in v.parents:
            src = rep(p)
            g.edge(src, f"{nid}op", **_edge_style((src, f"{nid}op") in hl_edges))
        g.edge(f"{nid}op", nid, **_edge_style(nid in hl_nodes))
    return g


def _edge_style(highlighted: bool, plain: dict[str, str] | None = None) -> dict[str, str]:
    return {"color": _HIGHLIGHT, "penwidth": "3"} if highlighted else (plain or {})


def _emit(g: graphviz.Digraph, c: _Cluster) -> None:
    for nid, attrs in c.nodes:
        g.node(nid, **attrs)
    for child in c.children:
        with g.subgraph(name=child.name) as sub:
            outer = child.key[-2] if len(child.key) > 1 else ""
            name = child.key[-1]
            short = name[len(outer) + 1:] if outer and name.startswith(outer + ".") else name
            if len(child.key) == 1:
                sub.attr(label=short, style="rounded,filled", fillcolor=_FILL_LAYER,
                         color="#8a9bb0", fontsize="12", labeljust="l", margin="10")
            else:
                sub.attr(label=short, style="rounded,dashed", color="#a0a0a0", fontsize="10",
                         labeljust="l", margin="6")
            _emit(sub, child)


_BOX_SHOWN_OUTPUTS = 3


def _box_label(box: _Box, show: tuple[str, ...], fmt: str) -> str:
    name = box.key[-1]
    outer = box.key[-2] if len(box.key) > 1 else ""
    if outer and name.startswith(outer + "."):
        name = name[len(outer) + 1:]
    k = len(box.outputs)
    fields = [f for f in show if f in ("data", "grad")]
    ncol = 1 + len(fields)
    summary = f"{box.nparams} params, {len(box.members)} nodes" + (
        f", {k} outputs" if k != 1 else "")
    rows = [f'<tr><td colspan="{ncol}"><b>{html.escape(name)}</b></td></tr>',
            f'<tr><td colspan="{ncol}"><font point-size="9">{html.escape(summary)}</font></td>'
            "</tr>"]
    if fields:
        for j, o in enumerate(box.outputs[:_BOX_SHOWN_OUTPUTS]):
            head = "out" if k == 1 else f"out {j}"
            cells = [_cell(head)] + [_cell(f"{f} {format(getattr(o, f), fmt)}") for f in fields]
            rows.append("<tr>" + "<vr/>".join(cells) + "</tr>")
        if k > _BOX_SHOWN_OUTPUTS:
            rows.append(f'<tr><td colspan="{ncol}">+ {k - _BOX_SHOWN_OUTPUTS} more outputs</td>'
                        "</tr>")
    return ('<<table border="0" cellborder="0" cellspacing="0" cellpadding="3">'
            + "".join(rows[:2]) + "<hr/>" + "".join(rows[2:]) + "</table>>"
            if len(rows) > 2 else
            '<<table border="0" cellborder="0" cellspacing="0" cellpadding="3">'
            + "".join(rows) + "</table>>")


# ---- command line: draw the two reference graphs, report sizes and times ----------------------
def _neuron_graph() -> tuple[Value, Any]:
    from .examples import neuron

    root = neuron()
    root.backward()
    return root, None


def _mlp_graph(sizes: list[int], seed: int) -> tuple[Value, Any]:
    try:
        import nn  # the sibling package of this distribution; only this demo needs it
    except ImportError as e:
        raise SystemExit(f"the mlp demo needs the nn package of autograd-lite: {e}") from None
    model = nn.MLP(2, sizes, seed=seed)
    x = [Value(0.5, label="x0"), Value(-1.0, label="x1")]
    pred = model(x)
    pred = pred if isinstance(pred, Value) else pred[0]
    pred.label = "pred"
    loss = (pred - 1.0) ** 2
    loss.label = "loss"
    loss.backward()
    return loss, model


def main(argv: list[str] | None = None) -> int:
    """`python -m autograd_lite.render {neuron,mlp} -o FILE [--collapse neuron|layer]`: draw
    micrograd's neuron or an MLP's squared-error loss graph, print node counts and timings."""
    import argparse
    import time

    ap = argparse.ArgumentParser(prog="python -m autograd_lite.render", description=main.__doc__)
    ap.add_argument("graph", choices=("neuron", "mlp"))
    ap.add_argument("-o", "--output", default=None, help="file to write (.svg, .png, .pdf, .dot)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 16, 1],
                    help="MLP(2, sizes) layer sizes (default 16 16 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--collapse", choices=COLLAPSE, default=None)
    ap.add_argument("--color-by-grad", action="store_true")
    ap.add_argument("--rankdir", choices=RANKDIRS, default="LR")
    ap.add_argument("--max-nodes", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    args = ap.parse_args(argv)
    root, model = (_neuron_graph() if args.graph == "neuron"
                   else _mlp_graph(args.sizes, args.seed))
    out = Path(args.output or f"{args.graph}.svg")
    t0 = time.perf_counter()
    try:
        g = draw_graph(root, modules=model, collapse=args.collapse, rankdir=args.rankdir,
                       color_by_grad=args.color_by_grad, max_nodes=args.max_nodes)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t1 = time.perf_counter()
    try:
        render_to(g, out, timeout=args.timeout)
        fmt = out.suffix.lstrip(".").lower()
        cmd = "none (DOT text)" if fmt in ("dot", "gv") else find_renderer(fmt)[0]
    except (RendererNotFound, RenderTimeout, graphviz.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    t2 = time.perf_counter()
    src = g.source
    drawn = len(re.findall(r"^\t+(?!graph |node |edge |legend )[\w.]+ \[", src, flags=re.M))
    boxes = len(re.findall(r"^\t+m_\w+ \[", src, flags=re.M))
    print(f"{args.graph}: {len(topo_order([root]))} values in the graph; drew {drawn} nodes"
          f" ({boxes} boxes); clusters {src.count('subgraph cluster_') - src.count('legend {')}")
    print(f"draw_graph {1000 * (t1 - t0):.0f} ms; rendered {out} with {cmd} in "
          f"{1000 * (t2 - t1):.0f} ms ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
