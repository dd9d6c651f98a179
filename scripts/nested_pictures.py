"""Draw the pictures of docs/nested-transforms.md: why a nested derivative needs its own variable.

    python scripts/nested_pictures.py        # writes docs/images/nested-*.svg

tests/engine/test_nested_transforms.py draws them again and checks the checked-in SVGs show the same
nodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autograd_lite import Value, draw_graph
from autograd_lite.engine import func
from autograd_lite.engine.transforms import LIFT

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"


def pictures() -> dict[str, Any]:
    """name -> graphviz graph, for d/dx [x * d/dy (x + y)] at x = 1 and the connected case."""
    graphs: dict[str, Any] = {}

    # Naive: the inner level uses the outer node itself as its variable y.
    x = Value(1.0, label="x (also y)")
    s = x + x
    s.label = "x + y"
    s.backward()  # d s / d "y" read at x: both edges count, 2 instead of 1
    graphs["nested-naive"] = draw_graph(s, show=("label", "data", "grad"), highlight=[x],
                                        highlight_edges=[(x, s)])

    # Levels: the inner variable is lift(x), a node of its own; x is a constant for it.
    x = Value(1.0, label="x")
    y = LIFT.apply1(x)
    y.label = "y = lift(x)"
    s = x + y
    s.label = "x + y"
    s.backward(inputs=[y])  # the inner level's derivative: w.r.t. its own variable only
    graphs["nested-levels"] = draw_graph(s, show=("label", "data", "grad"), highlight=[y],
                                         highlight_edges=[(y, s)])

    # Connected: d/dx [x * d/dy (x y) at y = x]; the inner result is a Value over x.
    x = Value(3.0, label="x")
    inner = func.grad(lambda y: x * y)(x)
    inner.label = "d/dy (x y)"
    out = x * inner
    out.label = "x * d/dy (x y)"
    out.backward()  # x.grad = 2x = 6: the outer level sees the inner result depend on x
    graphs["nested-connected"] = draw_graph(out, show=("label", "data", "grad"),
                                            highlight=[inner])
    return graphs


def main() -> None:
    """Write each picture as docs/images/<name>.svg."""
    OUT.mkdir(parents=True, exist_ok=True)
    for name, g in pictures().items():
        (OUT / f"{name}.svg").write_bytes(g.pipe(format="svg"))
        print(f"wrote {OUT / name}.svg")


if __name__ == "__main__":
    main()
