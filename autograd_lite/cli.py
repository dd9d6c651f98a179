"""Command line: `autograd-lite demo` and `autograd-lite graph EXPR NAME=VALUE ...`
(also `python -m autograd_lite ...`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .backward import topo_order
from .demo import DATASETS
from .expression import ExpressionError, build, parse_assignments

FORMATS = ("svg", "png", "dot")
_SUFFIXES = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot"}


def _tour() -> None:
    """A neuron by hand: forward, each backward step, the gradients with their formulas."""
    from . import Value

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


def _positive(text: str) -> int:
    """argparse type: an int >= 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _sizes(text: str) -> list[int]:
    """argparse type: one or more comma-separated layer sizes, each 1..1024."""
    out = []
    for part in text.replace(",", " ").split():
        n = _positive(part)
        if n > 1024:
            raise argparse.ArgumentTypeError(f"layer size {n} is too large for a scalar engine "
                                             "(at most 1024)")
        out.append(n)
    if not out:
        raise argparse.ArgumentTypeError("give at least one layer size")
    return out


def demo_command(args: argparse.Namespace) -> int:
    """The tour of one neuron, then training and the demo's files (see autograd_lite.demo)."""
    from .demo import run

    if not args.no_tour:
        print("One neuron, y = tanh(x*w + b), back-propagated step by step:")
        _tour()
        print()
    hidden = [n for group in args.hidden for n in group]
    try:
        run(dataset=args.dataset, hidden=hidden, epochs=args.epochs, seed=args.seed,
            out=args.out, samples=args.samples, progress=not args.no_progress)
    except (OSError, RuntimeError, ImportError) as e:  # unwritable --out, no renderer, extras
        print(f"autograd-lite demo: error: {e}", file=sys.stderr)
        return 1
    return 0


def _output(path: str | None, fmt: str | None) -> tuple[Path, str]:
    """The output path and format: --format wins, else the suffix of -o, else svg."""
    if fmt is None:
        fmt = _SUFFIXES.get(Path(path).suffix.lower(), "svg") if path else "svg"
    return Path(path) if path else Path(f"graph.{fmt}"), fmt


def graph_command(args: argparse.Namespace) -> int:
    """Build the expression's graph, back-propagate, print value and gradients, draw it."""
    from . import Value

    try:
        variables = parse_assignments(args.assignments)
        leaves = {name: Value(x, label=name) for name, x in variables.items()}
        root = build(args.expression, leaves)
    except ExpressionError as e:
        print(f"autograd-lite graph: error: {e}", file=sys.stderr)
        return 2
    used = {id(v) for v in topo_order([root])}
    if not root.label:
        root.label = "f"
    root.backward()
    given = ", ".join(f"{k}={v:g}" for k, v in variables.items())
    print(f"{args.expression.strip()} = {root.data:.10g}" + (f"  at {given}" if given else ""))
    for name, v in leaves.items():
        note = "" if id(v) in used else "  (not used in the expression)"
        print(f"  d/d{name} = {v.grad:.10g}{note}")

    path, fmt = _output(args.output, args.format)
    from . import draw_graph

    try:
        g = draw_graph(root, rankdir=args.rankdir)
    except ValueError as e:  # too many nodes to draw
        print(f"autograd-lite graph: error: {e}", file=sys.stderr)
        return 2
    try:
        if fmt == "dot":
            path.write_text(g.source, encoding="utf-8")
        else:
            from .render import render_to

            render_to(g, path, fmt)
    except (RuntimeError, OSError) as e:  # RendererNotFound is a RuntimeError
        print(f"autograd-lite graph: error: cannot write {path}: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograd-lite", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="train an MLP on two moons and write its loss graph, a step-through page, "
        "the loss curve and the decision boundary into a folder",
        description="Train an MLP on a 2-D data set (with a progress bar) and write into --out: "
        "loss_graph.svg (one sample's loss, clustered by layer and neuron), backprop_steps.html "
        "(a standalone step-through of backward on a small neuron), loss_curve.png and "
        "decision_boundary.png.")
    demo.add_argument("--dataset", choices=DATASETS, default="moons",
                      help="the data set (default moons)")
    demo.add_argument("--hidden", nargs="+", type=_sizes, default=[[16, 16]],
                      metavar="SIZE", help="hidden layer sizes, e.g. --hidden 16 16 or 8,8 "
                      "(default 16 16)")
    demo.add_argument("--epochs", type=_positive, default=30, help="epochs (default 30)")
    demo.add_argument("--samples", type=_positive, default=200,
                      help="points in the data set (default 200)")
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
    g.add_argument("-o", "--output", help="output file (default graph.FORMAT)")
    g.add_argument("--format", choices=FORMATS,
                   help="svg, png or dot (default: from the -o suffix, else svg)")
    g.add_argument("--rankdir", choices=("LR", "TB", "RL", "BT"), default="LR",
                   help="direction of the drawing (default LR: left to right)")
    g.set_defaults(run=graph_command)
    return parser


def _functions() -> list[str]:
    from .expression import FUNCTIONS

    return list(FUNCTIONS)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `autograd-lite` command; returns the exit status."""
    args = _parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
