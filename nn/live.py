"""`fit(..., live=True)`: loss and accuracy curves, and for 2-D inputs the decision boundary,
redrawn in a Jupyter notebook while training runs.

The picture is one PNG output updated in place through one IPython display handle
(`display_id`), so it does not flicker or pile up. Redraws are throttled by time: at most one
per `MIN_INTERVAL` seconds, and never more often than every `DRAW_COST_FACTOR` times the last
redraw took, so drawing stays a small share of training; the last state is always drawn at the
end. Outside Jupyter (no IPython kernel) `live` falls back to the progress bar. Needs
matplotlib (the `plot` extra) in Jupyter; imported only here, only then.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from typing import Any

from autograd_lite import no_grad

from .module import Module

#: Seconds between redraws, at least (a few redraws per second at most).
MIN_INTERVAL = 0.5
#: Wait at least this many times the last redraw's duration before the next one.
DRAW_COST_FACTOR = 3.0
#: Decision-boundary grid: GRID x GRID model evaluations per boundary redraw.
GRID = 30

PLOT_INSTALL = "fit(live=True) needs matplotlib: pip install 'autograd-lite[plot]'"


def _now() -> float:
    return time.monotonic()


def in_jupyter() -> bool:
    """Whether we run inside a Jupyter kernel (IPython importable and a kernel attached)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class LivePlot:
    """Curves (and a decision boundary) of a running `fit`, redrawn in place in Jupyter."""

    def __init__(self, model: Module, X: Sequence[Any], y: Sequence[Any], *, epochs: int,
                 classify: bool, to_classes: Callable[[list[Any]], list[int]]) -> None:
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError(PLOT_INSTALL) from None
        from IPython.display import Image, display

        self._figure_cls, self._canvas_cls = Figure, FigureCanvasAgg
        self._image, self._display = Image, display
        self.model, self.X, self.y = model, X, list(y)
        self.epochs, self.classify, self.to_classes = epochs, classify, to_classes
        self.boundary = classify and all(len(x) == 2 for x in X)
        self.handle: Any = None
        self.redraws = 0
        self._last = -float("inf")
        self._cost = 0.0
        self._progress: tuple[float, float, float | None] | None = None

    def due(self) -> bool:
        """Whether enough time has passed since the last redraw (the throttle)."""
        wait = max(MIN_INTERVAL, DRAW_COST_FACTOR * self._cost)
        return _now() - self._last >= wait

    def update(self, history: Any, epoch: float, loss: float, acc: float | None,
               force: bool = False) -> bool:
        """Record the running (epoch, loss, accuracy); redraw if due (or `force`)."""
        self._progress = (epoch, loss, acc)
        if not (force or self.due()):
            return False
        start = _now()
        png = self._render(history)
        if self.handle is None:
            self.handle = self._display(self._image(data=png, format="png"), display_id=True)
        else:
            self.handle.update(self._image(data=png, format="png"))
        self.redraws += 1
        self._last = _now()
        self._cost = self._last - start
        return True

    def _render(self, history: Any) -> bytes:
        panels = 1 + self.classify + self.boundary
        fig = self._figure_cls(figsize=(4.2 * panels, 3.4), dpi=72)
        self._canvas_cls(fig)
        axes = fig.subplots(1, panels, squeeze=False)[0]
        epoch, loss, acc = self._progress or (0.0, float("nan"), None)
        xs = list(range(1, len(history.loss) + 1))
        ax = axes[0]
        ax.plot(xs, history.loss, "o-", ms=3, label="train")
        if history.val_loss:
            ax.plot(xs, history.val_loss, "s--", ms=3, label="validation")
        ax.plot([epoch], [loss], "o", color="C3", ms=5, label="running")
        ax.set(xlabel="epoch", ylabel="loss", xlim=(0, max(self.epochs, 1)),
               title=f"epoch {epoch:.2f} / {self.epochs}: loss {loss:.4f}")
        ax.legend(loc="upper right", fontsize="small")
        if self.classify:
            ax = axes[1]
            ax.plot(xs, history.accuracy, "o-", ms=3, label="train")
            if history.val_accuracy and history.val_accuracy[0] is not None:
                ax.plot(xs, history.val_accuracy, "s--", ms=3, label="validation")
            if acc is not None:
                ax.plot([epoch], [acc], "o", color="C3", ms=5, label="running")
            ax.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02),
                   xlim=(0, max(self.epochs, 1)), title="accuracy")
            ax.legend(loc="lower right", fontsize="small")
        if self.boundary:
            self._draw_boundary(axes[-1])
        fig.subplots_adjust(left=0.45 / (4.2 * panels) * 2.4, right=0.97, bottom=0.15,
                            top=0.9, wspace=0.3)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()

    def _draw_boundary(self, ax: Any) -> None:
        x0 = [float(x[0]) for x in self.X]
        x1 = [float(x[1]) for x in self.X]
        pad0, pad1 = 0.1 * (max(x0) - min(x0) or 1.0), 0.1 * (max(x1) - min(x1) or 1.0)
        lo0, hi0, lo1, hi1 = min(x0) - pad0, max(x0) + pad0, min(x1) - pad1, max(x1) + pad1
        g0 = [lo0 + (hi0 - lo0) * i / (GRID - 1) for i in range(GRID)]
        g1 = [lo1 + (hi1 - lo1) * j / (GRID - 1) for j in range(GRID)]
        with no_grad():
            outs = [self.model([a, b]) for b in g1 for a in g0]
        data = [o.data if hasattr(o, "data") else [v.data for v in o] for o in outs]
        classes = self.to_classes(data)
        grid = [classes[j * GRID:(j + 1) * GRID] for j in range(GRID)]
        ax.imshow(grid, origin="lower", extent=(lo0, hi0, lo1, hi1), aspect="auto",
                  alpha=0.35, cmap="coolwarm", interpolation="nearest")
        ax.scatter(x0, x1, c=self.y, s=10, cmap="coolwarm", edgecolors="k", linewidths=0.3)
        ax.set(xlim=(lo0, hi0), ylim=(lo1, hi1), title="decision boundary")


def start(model: Module, X: Sequence[Any], y: Sequence[Any], *, epochs: int, classify: bool,
          to_classes: Callable[[list[Any]], list[int]]) -> LivePlot | None:
    """A LivePlot in Jupyter (ImportError naming the extra when matplotlib is missing), else
    None: the caller shows the progress bar instead."""
    if not in_jupyter():
        return None
    return LivePlot(model, X, y, epochs=epochs, classify=classify, to_classes=to_classes)
