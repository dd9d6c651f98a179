"""Command line: `autograd-lite demo`, `graph EXPR NAME=VALUE ...`, `render {neuron,mlp}` and
`export [PATH]` (also `python -m autograd_lite ...`; `python -m autograd_lite.render` is an
alias of `autograd-lite render`).

Every entry point of the package lives here. This module and the demo are the only parts of
`autograd_lite` that import `nn`, through `demo.import_nn` (which names a user's own `nn.py`
that shadows it).

Why one file past ~400 lines: it is one idea, the command line: the parser and each
subcommand's entry point, read together as the CLI's surface.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from ..engine.errors import AutogradError
from ..engine.traversal import topo_order
from ..engine.value import Value
from .demo import DATASETS
from .expression import ExpressionError, build, parse_assignments

FORMATS = ("svg", "png", "pdf", "dot")
#: Errors of a computation on valid input (a non-finite gradient, a domain error in backward):
#: reported in one line with exit status 1, never as a traceback.
ENGINE_ERRORS = (AutogradError, ArithmeticError, ValueError)
#: `python -m MODULE` aliases of this command line: the module, and the arguments it stands for.
#: (`python -m autograd_lite.viz.export` takes the same arguments as `autograd-lite export`.)
ALIASES = {"autograd_lite": [], "autograd_lite.render": ["render"],
           "autograd_lite.viz.export": ["export"]}


def _tour() -> None:
    """A neuron by hand: forward, each backward step, the gradients with their formulas."""
    from .. import Value

    x = Value(2.0, label="x")
    w = Value(-3.0, label="w")
    b = Value(6.8813735870195432, label="b")
    n = x * w + b
    n.label = "n"
    y = n.tanh()
    y.label = "y"
    print(f"y = tanh(x*w + b) = {y.data:.6f}")
    for step in y.backward_steps():
        node = step.node
        name = node.label or (node.op.name if node.op else "const")
        print(f"  step {step.index}: {name:>3} receives dy/d{name} = {step.upstream:+.6f}")
    print(f"x.grad = {x.grad:+.6f}  (= w * (1 - y^2))")
    print(f"w.grad = {w.grad:+.6f}  (= x * (1 - y^2))")
    print(f"b.grad = {b.grad:+.6f}  (= 1 - y^2)")


def _at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: an int >= `minimum`."""
    def count(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {n}")
        return n
    return count


_positive = _at_least(1)


def _layer(text: str) -> int:
    """argparse type: one layer size, 1..1024."""
    n = _positive(text)
    if n > 1024:
        raise argparse.ArgumentTypeError(f"layer size {n} is too large for a scalar engine "
                                         "(at most 1024)")
    return n


def _seconds(text: str) -> float:
    """argparse type: a time limit in seconds, a number > 0 (inf: no limit)."""
    try:
        t = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not t > 0.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds (or inf for no "
                                         f"limit), got {text!r}")
    return t


def _sizes(text: str) -> list[int]:
    """argparse type: one or more comma-separated layer sizes, each 1..1024."""
    out = [_layer(part) for part in text.replace(",", " ").split()]
    if not out:
        raise argparse.ArgumentTypeError("give at least one layer size")
    return out


def demo_command(args: argparse.Namespace) -> int:
    """The tour of one neuron, then training and the demo's files (see autograd_lite.cli.demo)."""
    from .demo import check_extras, import_nn, run

    try:  # before any work: name what is missing and how to install it
        import_nn()  # a user's own nn.py in the working folder would shadow it
        extras = check_extras(progress=not args.no_progress)
    except (RuntimeError, ImportError) as e:  # no Graphviz renderer (RendererNotFound), nn
        return _fail("demo", e)
    if not args.no_tour:
        print("One neuron, y = tanh(x*w + b), back-propagated step by step:")
        _tour()
        print()
    hidden = [n for group in args.hidden for n in group]
    try:
        run(dataset=args.dataset, hidden=hidden, epochs=args.epochs, seed=args.seed,
            out=args.out, samples=args.samples, progress=not args.no_progress, extras=extras)
    except (OSError, RuntimeError, ImportError) as e:  # unwritable --out, no renderer, extras
        print(f"autograd-lite demo: error: {e}", file=sys.stderr)
        return 1
    return 0


def _output(path: str | None, fmt: str | None) -> tuple[Path, str]:
    """The output path and format: the suffix of -o, or --format (which must agree with the
    suffix: a file's name never lies about its content); default graph.svg. ValueError if not,
    or if the suffix is not one the command line writes."""
    from ..viz.render import output_format

    if not path:
        return Path(f"graph.{fmt or 'svg'}"), fmt or "svg"
    out = Path(path)
    _check_suffix(out)
    return out, output_format(out, fmt if fmt is not None or out.suffix else "svg")


def _check_suffix(out: Path) -> None:
    """ValueError for an output file whose suffix is not .svg, .png, .pdf or .dot (or .gv)."""
    suffix = out.suffix.lower()
    if suffix and suffix.lstrip(".") not in (*FORMATS, "gv"):
        raise ValueError(f"unknown suffix {out.suffix!r} in {str(out)!r}: use .svg, .png, .pdf "
                         "or .dot")


def _fail(command: str, message: Any, status: int = 1) -> int:
    print(f"autograd-lite {command}: error: {message}", file=sys.stderr)
    return status


def _render_errors() -> tuple[type[Exception], ...]:
    from ..viz.render import RenderError

    return (RenderError, OSError)


def graph_command(args: argparse.Namespace) -> int:
    """Build the expression's graph, back-propagate, print value and gradients, draw it."""
    try:
        path, fmt = _output(args.output, args.format)
    except ValueError as e:  # --format contradicts the -o suffix
        return _fail("graph", e, 2)
    try:
        variables = parse_assignments(args.assignments)
        leaves = {name: Value(x, label=name) for name, x in variables.items()}
        root = build(args.expression, leaves)
    except ExpressionError as e:
        return _fail("graph", e, 2)
    used = {id(v) for v in topo_order([root])}
    if not root.label:
        root.label = "f"
    try:
        root.backward()
    except ENGINE_ERRORS as e:  # e.g. a gradient the engine cannot compute at these values
        return _fail("graph", f"cannot differentiate {args.expression.strip()!r} at these "
                     f"values: {type(e).__name__}: {e}")
    given = ", ".join(f"{k}={v:g}" for k, v in variables.items())
    print(f"{args.expression.strip()} = {root.data:.10g}" + (f"  at {given}" if given else ""))
    for name, v in leaves.items():
        note = "" if id(v) in used else "  (not used in the expression)"
        print(f"  d/d{name} = {v.grad:.10g}{note}")

    from ..viz.render import draw_graph, render_to

    try:
        g = draw_graph(root, rankdir=args.rankdir)
    except ValueError as e:  # too many nodes to draw
        return _fail("graph", e, 2)
    try:
        render_to(g, path, fmt)
    except _render_errors() as e:  # no renderer (PDF without dot), a failing renderer, disk
        return _fail("graph", f"cannot write {path}: {e}")
    print(f"wrote {path}")
    return 0


# ---- render: the two reference graphs ----------------------------------------------------------
def neuron_graph() -> tuple[Value, None]:
    """micrograd's neuron, back-propagated (no modules)."""
    from ..viz.examples import neuron

    root = neuron()
    root.backward()
    return root, None


def mlp_graph(sizes: list[int], seed: int) -> tuple[Value, Any]:
    """An `nn.MLP(2, sizes)`'s squared-error loss on one labelled sample, back-propagated."""
    from .demo import import_nn

    nn = import_nn()  # the sibling package of this distribution (not a user's own nn.py)
    model = nn.MLP(2, sizes, seed=seed)
    x = [Value(0.5, label="x0"), Value(-1.0, label="x1")]
    pred = model(x)
    pred = pred if isinstance(pred, Value) else pred[0]
    pred.label = "pred"
    target = Value(1.0, label="target")
    loss = (pred - target) ** 2
    loss.label = "loss"
    loss.backward()
    return loss, model


def render_command(args: argparse.Namespace) -> int:
    """Draw micrograd's neuron or an MLP's loss graph; print node counts and timings."""
    import re
    import time

    from ..viz.render import draw_graph, find_renderer, output_format, render_to

    out = Path(args.output or f"{args.graph}.svg")
    try:
        _check_suffix(out)
        fmt = output_format(out)
    except ValueError as e:
        return _fail("render", e, 2)
    try:
        root, model = (neuron_graph() if args.graph == "neuron"
                       else mlp_graph(args.sizes, args.seed))
    except ImportError as e:  # nn shadowed by a user's own nn.py (see demo.import_nn)
        return _fail("render", e)
    t0 = time.perf_counter()
    try:
        g = draw_graph(root, modules=model, collapse=args.collapse, rankdir=args.rankdir,
                       color_by_grad=args.color_by_grad, max_nodes=args.max_nodes)
    except ValueError as e:
        return _fail("render", e, 2)
    t1 = time.perf_counter()
    try:
        render_to(g, out, timeout=args.timeout)
        cmd = "none (DOT text)" if fmt == "dot" else find_renderer(fmt)[0]
    except _render_errors() as e:
        return _fail("render", f"cannot write {out}: {e}")
    t2 = time.perf_counter()
    src = g.source
    drawn = len(re.findall(r"^\t+(?!graph |node |edge |legend )[\w.]+ \[", src, flags=re.M))
    boxes = len(re.findall(r"^\t+m_\w+ \[", src, flags=re.M))
    print(f"{args.graph}: {len(topo_order([root]))} values in the graph; drew {drawn} nodes"
          f" ({boxes} boxes); clusters {src.count('subgraph cluster_') - src.count('legend {')}")
    print(f"draw_graph {1000 * (t1 - t0):.0f} ms; rendered {out} with {cmd} in "
          f"{1000 * (t2 - t1):.0f} ms ({out.stat().st_size} bytes)")
    return 0


def export_command(args: argparse.Namespace) -> int:
    """Write the standalone step-through page of micrograd's neuron."""
    from ..viz.examples import neuron
    from ..viz.export import export_html

    errors = _render_errors()
    try:
        written = export_html(neuron(), args.path, title=args.title, quiz=args.quiz or False)
    except errors as e:
        return _fail("export", f"cannot write {args.path}: {e}")
    print(f"wrote {written} ({written.stat().st_size} bytes): open it in a browser")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with a hint appended to usage errors (`hint`, set by `main` for its argv)."""

    hint = ""

    def error(self, message: str) -> NoReturn:
        """Print usage and the message (and the hint, if any); exit with status 2."""
        super().error(message + (f"\n{self.hint}" if self.hint else ""))


def _dash_hint(argv: Sequence[str], prog: str = "autograd-lite") -> str:
    """For `graph -x*2 x=1`: argparse reads `-x*2` as an option; say to put it after `--`."""
    args = list(argv)
    if "graph" not in args or "--" in args:
        return ""
    rest = args[args.index("graph") + 1:]
    options = ("-o", "--output", "--format", "--rankdir", "-h", "--help")
    dashed = [a for a in rest if a.startswith("-") and len(a) > 1
              and a.split("=", 1)[0] not in options and not a.startswith("-o")
              and not _is_number(a)]
    if not dashed:
        return ""
    expr = dashed[0]
    names = [a for a in rest if "=" in a and not a.startswith("-")]
    others = [a for a in rest if a != expr and a not in names]
    suggested = f"{prog} {shlex.join(['graph', *others, '--', expr, *names])}"
    return f"hint: an expression starting with '-' goes after '--', options before it: {suggested}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parser(prog: str = "autograd-lite", hint: str = "") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.hint = hint
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="train an MLP on two moons and write its loss graph, a step-through page, "
        "the loss curve and the decision boundary into a folder",
        description="Train an MLP on a 2-D data set (with a progress bar) and write into --out: "
        "loss_graph.svg (one sample's loss, clustered by layer and neuron), backprop_steps.html "
        "(a standalone step-through of backward on a small neuron), loss_curve.png, "
        "decision_boundary.png and training.gif (the boundary over the epochs). The PNGs and "
        "the GIF need matplotlib: pip install 'autograd-lite[demo]'.")
    demo.add_argument("--dataset", choices=DATASETS, default="moons",
                      help="the data set (default moons)")
    demo.add_argument("--hidden", nargs="+", type=_sizes, default=[[16, 16]],
                      metavar="SIZE", help="hidden layer sizes, e.g. --hidden 16 16 or 8,8 "
                      "(default 16 16)")
    demo.add_argument("--epochs", type=_positive, default=30, help="epochs (default 30)")
    demo.add_argument("--samples", type=_at_least(2), default=200,
                      help="points in the data set, at least 2 (default 200)")
    demo.add_argument("--seed", type=int, default=0, help="seed of data and weights (default 0)")
    demo.add_argument("--out", default="demo-output",
                      help="output folder (default demo-output/)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.add_argument("--no-tour", action="store_true",
                      help="skip the printed walk through one neuron's backward pass")
    demo.set_defaults(run=demo_command)
    g = sub.add_parser(
        "graph", help="draw the graph of an expression and print its gradients",
        description="Draw the graph of an expression and print its gradients, e.g. "
        "autograd-lite graph \"tanh(w*x + b)\" x=1 w=-2 b=0.5 -o neuron.svg. Allowed: numbers, "
        "the variables given as NAME=VALUE, + - * / **, unary -, and the functions "
        + ", ".join(sorted(_functions())) + ". An expression starting with '-' (and without "
        "spaces) goes after '--', options before it: graph -o g.svg -- \"-x*2\" x=1. Exit "
        "status 2 for a bad expression or assignment.")
    g.add_argument("expression", help='e.g. "tanh(w*x + b)"')
    g.add_argument("assignments", nargs="*", metavar="NAME=VALUE",
                   help="a value for each variable, e.g. x=1 w=-2")
    g.add_argument("-o", "--output", help="output file: .svg, .png, .pdf (needs Graphviz's "
                   "dot) or .dot (default graph.FORMAT)")
    g.add_argument("--format", choices=FORMATS,
                   help="svg, png, pdf or dot (default: from the -o suffix, else svg); must "
                   "agree with the -o suffix")
    g.add_argument("--rankdir", choices=("LR", "TB", "RL", "BT"), default="LR",
                   help="direction of the drawing (default LR: left to right)")
    g.set_defaults(run=graph_command)

    from ..viz.render import COLLAPSE, DEFAULT_TIMEOUT, RANKDIRS

    alias = {"prog": prog} if prog.endswith(".render") else {}  # python -m autograd_lite.render
    r = sub.add_parser(
        "render", **alias,  # type: ignore[arg-type]
        help="draw micrograd's neuron or an MLP's loss graph, with sizes and timings",
        description="Draw micrograd's neuron or the squared-error loss graph of "
        "nn.MLP(2, SIZES) into a file (.svg, .png, .pdf, .dot) and print node counts and "
        "timings. Also: python -m autograd_lite.render.")
    r.add_argument("graph", choices=("neuron", "mlp"))
    r.add_argument("-o", "--output", default=None,
                   help="file to write: .svg, .png, .pdf, .dot (default GRAPH.svg)")
    r.add_argument("--sizes", type=_layer, nargs="+", default=[16, 16, 1],
                   help="MLP(2, sizes) layer sizes, each 1..1024 (default 16 16 1)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--collapse", choices=COLLAPSE, default=None,
                   help="draw each neuron or layer as one box")
    r.add_argument("--color-by-grad", action="store_true")
    r.add_argument("--rankdir", choices=RANKDIRS, default="LR")
    r.add_argument("--max-nodes", type=_positive, default=2000)
    r.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT,
                   help=f"seconds the renderer may take (default {DEFAULT_TIMEOUT:g})")
    r.set_defaults(run=render_command)

    e = sub.add_parser(
        "export", help="write a standalone HTML step-through of backward on a neuron",
        description="Write a self-contained HTML page that steps through backward on "
        "micrograd's neuron (open it in any browser).")
    e.add_argument("path", nargs="?", default="backprop-steps.html")
    e.add_argument("--title", default="Backpropagation through a neuron, step by step")
    e.add_argument("--quiz", nargs="?", const="local", choices=("local", "contribution"),
                   default=None, help="a quiz page: type each local derivative (or "
                   "contribution) before it is shown; the page keeps a score")
    e.set_defaults(run=export_command)
    for each in sub.choices.values():
        each.hint = hint  # all are _Parser (the parser_class)
    return parser


def _functions() -> list[str]:
    from .expression import FUNCTIONS

    return list(FUNCTIONS)


def parser(prog: str = "autograd-lite") -> argparse.ArgumentParser:
    """The command line's argument parser (tests parse the README's commands with it)."""
    return _parser(prog)


def main(argv: Sequence[str] | None = None, prog: str = "autograd-lite") -> int:
    """Entry point of the `autograd-lite` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser(prog, _dash_hint(argv, prog)).parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
