"""Command line: `autograd-lite demo` (also `python -m autograd_lite demo`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _tour() -> None:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `autograd-lite` command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="autograd-lite", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="build a small graph, back-propagate, print the gradients")
    args = parser.parse_args(argv)
    if args.command == "demo":
        _tour()
    return 0


if __name__ == "__main__":
    sys.exit(main())
