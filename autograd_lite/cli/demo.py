"""The demo behind `autograd-lite demo`: train an MLP on a 2-D data set and write pictures.

Files written into the output folder: `loss_graph.svg` (the graph of one sample's loss, nodes
grouped by layer and neuron), `backprop_steps.html` (a standalone step-through of backward on a
small neuron), `loss_curve.png`, `decision_boundary.png` and `training.gif` (the boundary
evolving over the epochs). Uses the `demo` extra (tqdm, matplotlib): checked before any work;
without matplotlib the pictures are skipped with a message, without tqdm there is no progress
bar. Needs a Graphviz renderer (graphviz-pure is a core dependency).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

DATASETS = ("moons", "circles", "spirals", "xor", "blobs")
FULL_GRAPH_LIMIT = 400  #: above this many nodes the loss graph is drawn one box per neuron
GRID = 60  #: decision-boundary grid resolution per axis
GIF_GRID = 40  #: grid resolution of the training.gif frames
GIF_FRAMES = 30  #: at most this many frames (epochs sampled evenly, first and last kept)
EXTRA_HINT = "pip install 'autograd-lite[demo]'"


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced: the files, the training history and final training accuracy."""

    out: Path
    files: dict[str, Path]
    loss: list[float]
    accuracy: float
    seconds: float


@dataclass(frozen=True)
class Extras:
    """Which optional parts the demo can use here (checked before any work)."""

    plots: bool  #: matplotlib (and Pillow, which it brings): PNGs and training.gif
    progress_bar: bool  #: tqdm


def import_nn() -> ModuleType:
    """The `nn` package installed with autograd-lite, or an ImportError that says what shadows
    it: a user's own `nn.py` or `nn/` in the working folder is found first by Python."""
    ours = Path(__file__).resolve().parent.parent.parent / "nn"  # nn sits next to autograd_lite
    loaded = sys.modules.get("nn")
    if loaded is not None:
        where = getattr(loaded, "__file__", None) or next(iter(getattr(loaded, "__path__", [])),
                                                          None)
    else:
        try:
            spec = importlib.util.find_spec("nn")
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            raise ImportError("autograd-lite's nn package is not installed next to "
                              f"autograd_lite ({ours}): reinstall the project (make demo, or "
                              "pip install -e .)")
        where = spec.origin if spec.origin not in (None, "namespace") else next(
            iter(spec.submodule_search_locations or []), None)
    found = Path(where).resolve() if where else None
    if found is None or (found != ours and found.parent != ours):
        shown = found.parent if found is not None and found.name == "__init__.py" else found
        folder = shown.parent if shown is not None else Path.cwd()
        raise ImportError(
            f"the module 'nn' that Python finds is {shown}, not autograd-lite's nn package "
            f"({ours}): your own nn in {folder} shadows it (Python looks in the working "
            "folder and on PYTHONPATH first). Rename it (e.g. to my_nn.py), or run the command "
            "from another folder.")
    return importlib.import_module("nn")


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def check_extras(progress: bool = True, echo: Callable[[str], Any] = print) -> Extras:
    """Check the demo's optional dependencies and say what is skipped and how to install it.

    Raises `RendererNotFound` (with install hints) if no Graphviz renderer can draw SVG."""
    from ..viz.render import find_renderer

    find_renderer("svg")  # the loss graph and the step-through page need one
    plots = _importable("matplotlib") and _importable("PIL")
    bar = _importable("tqdm") if progress else False
    if not plots:
        echo("note: matplotlib is not installed, so loss_curve.png, decision_boundary.png and "
             f"training.gif are skipped; for them: {EXTRA_HINT}")
    if progress and not bar:
        echo(f"note: tqdm is not installed, so training shows no progress bar; {EXTRA_HINT}")
    return Extras(plots, bar)


def load_dataset(name: str, n: int, seed: int) -> tuple[list[list[float]], list[int]]:
    """A 2-D classification data set from `nn.data` by name."""
    data = importlib.import_module(import_nn().__name__ + ".data")

    makers: dict[str, Callable[[], tuple[list[list[float]], list[int]]]] = {
        "moons": lambda: data.make_moons(n, noise=0.1, seed=seed),
        "circles": lambda: data.make_circles(n, noise=0.08, factor=0.5, seed=seed),
        "spirals": lambda: data.make_spirals(n, classes=2, noise=0.15, seed=seed),
        "xor": lambda: data.make_xor(n, noise=0.05, seed=seed),
        "blobs": lambda: data.make_blobs(n, centers=3, std=1.5, seed=seed),
    }
    if name not in makers:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    X, y = makers[name]()
    if name == "blobs":  # centres lie in [-10, 10]: scale to about unit size for tanh units
        X = [[v / 5.0 for v in x] for x in X]
    return X, y


def _scores(model: Any, X: Sequence[Sequence[float]]) -> list[Any]:
    """The model's outputs on every row: one compiled batch call (native where a C compiler
    is found), or the interpreter when the model cannot be replayed."""
    from autograd_lite import no_grad

    outputs = importlib.import_module(import_nn().__name__ + ".compiled").outputs
    replayed = outputs(model, [list(x) for x in X])
    if replayed is not None:
        return replayed
    with no_grad():
        outs = [model(list(x)) for x in X]
    return [[v.data for v in o] if isinstance(o, list) else o.data for o in outs]


def _classes(scores: list[Any]) -> list[int]:
    return [max(range(len(s)), key=s.__getitem__) if isinstance(s, list) else int(s > 0.0)
            for s in scores]


def _figure(width: float, height: float) -> tuple[Any, Any]:
    """A matplotlib Figure on the Agg canvas: no pyplot, no GUI, no global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def plot_loss(loss: Sequence[float], accuracy: Sequence[float | None], path: Path,
              title: str) -> Path:
    """The training loss (and accuracy) per epoch as a PNG."""
    fig, ax = _figure(6.0, 3.6)
    epochs = range(1, len(loss) + 1)
    ax.plot(epochs, loss, color="tab:blue", marker=".", label="loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean training loss", color="tab:blue")
    ax.set_title(title)
    if all(a is not None for a in accuracy):
        ax2 = ax.twinx()
        ax2.plot(epochs, accuracy, color="tab:orange", marker=".", label="accuracy")
        ax2.set_ylabel("training accuracy", color="tab:orange")
        ax2.set_ylim(0.0, 1.02)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _boundary(ax: Any, model: Any, X: Sequence[Sequence[float]], y: Sequence[int], title: str,
              grid: int) -> None:
    """Draw the model's predicted class over a grid (filled) and the data points on `ax`."""
    xs = [p[0] for p in X]
    ys = [p[1] for p in X]
    pad = 0.3
    x0, x1 = min(xs) - pad, max(xs) + pad
    y0, y1 = min(ys) - pad, max(ys) + pad
    gx = [x0 + (x1 - x0) * i / (grid - 1) for i in range(grid)]
    gy = [y0 + (y1 - y0) * j / (grid - 1) for j in range(grid)]
    scores = _scores(model, [[a, b] for b in gy for a in gx])
    pred = _classes(scores)
    k = max(max(y), max(pred)) + 1
    cmap = "coolwarm" if k == 2 else "viridis"
    if k == 2 and not isinstance(scores[0], list):  # one logit: shade by its sign, line at 0
        zz = [scores[j * grid:(j + 1) * grid] for j in range(grid)]
        lo, hi = min(scores), max(scores)
        if lo < 0.0 < hi:
            ax.contourf(gx, gy, zz, levels=[lo, 0.0, hi], cmap=cmap, alpha=0.35)
            ax.contour(gx, gy, zz, levels=[0.0], colors="k", linewidths=1.0)
        else:  # one class everywhere
            ax.contourf(gx, gy, [[float(lo >= 0.0)] * grid] * grid, levels=[-0.5, 0.5, 1.5],
                        cmap=cmap, alpha=0.35)
    else:
        zz = [pred[j * grid:(j + 1) * grid] for j in range(grid)]
        ax.contourf(gx, gy, zz, levels=[c - 0.5 for c in range(k + 1)], cmap=cmap, alpha=0.35)
    ax.scatter(xs, ys, c=list(y), cmap=cmap, s=14,
               edgecolors="k", linewidths=0.4, vmin=0, vmax=k - 1)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_title(title)


def plot_boundary(model: Any, X: Sequence[Sequence[float]], y: Sequence[int], path: Path,
                  title: str, grid: int = GRID) -> Path:
    """The model's predicted class over a grid (filled) with the data points on top, as PNG."""
    fig, ax = _figure(5.5, 4.6)
    _boundary(ax, model, X, y, title, grid)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def training_gif(model: Any, snapshots: Sequence[tuple[int, list[float]]],
                 X: Sequence[Sequence[float]], y: Sequence[int], path: Path, title: str,
                 grid: int = GIF_GRID, fps: float = 4.0) -> Path:
    """An animated GIF of the decision boundary, one frame per (epoch, parameter values)
    snapshot (matplotlib's PillowWriter). The model's parameters are restored afterwards."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    if not snapshots:
        raise ValueError("training_gif() needs at least one snapshot")
    params = list(model.parameters())
    final = [p.data for p in params]
    fig, ax = _figure(5.5, 4.6)

    def frame(i: int) -> None:
        epoch, values = snapshots[i]
        for p, v in zip(params, values):
            p.data = v
        ax.clear()
        _boundary(ax, model, X, y, f"{title}: epoch {epoch}", grid)

    try:
        anim = FuncAnimation(fig, frame, frames=len(snapshots), repeat=False)
        anim.save(str(path), writer=PillowWriter(fps=fps))  # type: ignore[arg-type]
    finally:
        for p, v in zip(params, final):
            p.data = v
    return path


def _snapshot_epochs(epochs: int, frames: int = GIF_FRAMES) -> set[int]:
    """Which epochs (0 = before training .. epochs = after) get a frame: evenly spread."""
    if epochs + 1 <= frames:
        return set(range(epochs + 1))
    return {round(i * epochs / (frames - 1)) for i in range(frames)}


def run(dataset: str = "moons", hidden: Sequence[int] = (16, 16), epochs: int = 30,
        seed: int = 0, out: str | Path = "demo-output", samples: int = 200,
        lr: float = 0.01, progress: bool = True,
        echo: Callable[[str], Any] = print, extras: Extras | None = None) -> DemoResult:
    """Train `MLP(2, [*hidden, outputs])` with Adam and write the demo's files to `out`.

    Optional dependencies are checked first (`check_extras`): without matplotlib the PNGs and
    the GIF are skipped with a message."""
    nn = import_nn()
    MLP, Adam, fit, losses = nn.MLP, nn.Adam, nn.fit, nn.losses

    from .. import Value, draw_graph
    from ..viz.examples import neuron
    from ..viz.export import export_html
    from ..viz.render import render_to

    start = time.perf_counter()
    folder = Path(out)  # before training: a bad --out is reported at once
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"the output folder {str(folder)!r} is an existing file, not a "
                              "folder: give another --out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a parent is a file, no permission, ...
        raise OSError(f"cannot make the output folder {str(folder)!r}: "
                      f"{e.strerror or e}; give another --out") from None
    extras = extras or check_extras(progress, echo)
    X, y = load_dataset(dataset, samples, seed)
    k = max(max(y) + 1, 2)  # two classes at least, even if a small sample drew one only
    model = MLP(2, [*hidden, 1 if k == 2 else k], activation="tanh", seed=seed)
    n_params = len(list(model.parameters()))
    echo(f"training {model} ({n_params} parameters) on {dataset}: {len(X)} points, "
         f"{epochs} epochs")
    # compiled=True: each sample's loss graph is traced once and replayed over floats (checked
    # against the interpreter on the first batch; nn falls back to it if they differ).
    params = list(model.parameters())
    keep = _snapshot_epochs(epochs) if extras.plots else set()
    snapshots: list[tuple[int, list[float]]] = []

    def schedule(epoch: int) -> float:
        # fit calls this at the start of each epoch: the weights after `epoch` epochs.
        if epoch in keep:
            snapshots.append((epoch, [p.data for p in params]))
        return lr

    history = fit(model, X, y, optimizer=Adam(model.parameters(), lr=lr), epochs=epochs,
                  batch_size=32, seed=seed, progress=progress, compiled=True,
                  lr_schedule=schedule)
    if epochs in keep:
        snapshots.append((epochs, [p.data for p in params]))
    acc = sum(int(p == t) for p, t in zip(_classes(_scores(model, X)), y)) / len(y)
    echo(f"final loss {history.loss[-1]:.4f}, training accuracy {acc:.1%}")

    files: dict[str, Path] = {}

    # One sample's loss, its nodes grouped into clusters by layer and neuron.
    inputs = [Value(v, label=f"x{j}") for j, v in enumerate(X[0])]  # labelled inputs
    out0 = model(inputs)
    loss = (losses.binary_cross_entropy_with_logits([out0], [y[0]]) if k == 2
            else losses.cross_entropy([out0], [y[0]]))
    loss.label = "loss"
    loss.backward()
    from .. import topo_order

    size = len(topo_order([loss]))
    collapse = "neuron" if size > FULL_GRAPH_LIMIT else None
    graph = draw_graph(loss, modules=model, collapse=collapse, color_by_grad=True)
    files["loss graph"] = render_to(graph, folder / "loss_graph.svg", "svg")
    if collapse:
        echo(f"loss graph: {size} nodes, drawn one box per neuron (--hidden 4 draws every node)")

    files["step-through page"] = export_html(neuron(), folder / "backprop_steps.html",
                                             title="Backpropagation through a neuron, "
                                                   "step by step")
    if extras.plots:
        files["loss curve"] = plot_loss(history.loss, history.accuracy,
                                        folder / "loss_curve.png", f"{dataset}: {model}")
        files["decision boundary"] = plot_boundary(
            model, X, y, folder / "decision_boundary.png",
            f"{dataset}: decision boundary, accuracy {acc:.1%}")
        files["training animation"] = training_gif(model, snapshots, X, y,
                                                   folder / "training.gif", dataset)
    seconds = time.perf_counter() - start
    echo(f"wrote into {folder.resolve()}/ ({seconds:.1f} s):")
    for what, path in files.items():
        echo(f"  {Path(path).name:<22} {what}")
    return DemoResult(folder, {k: Path(v) for k, v in files.items()}, list(history.loss), acc,
                      seconds)
