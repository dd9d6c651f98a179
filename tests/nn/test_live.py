"""`fit(..., live=True)`: in Jupyter one display handle updated in place, throttled
by time, with a final redraw; outside Jupyter the progress bar; a clear error without
matplotlib. Jupyter is faked (IPython's get_ipython and display), so no test can skip."""

from __future__ import annotations

import sys
import types

import pytest

import nn
from nn import MLP, fit, live
from nn.data import make_blobs, make_moons

PNG = b"\x89PNG\r\n\x1a\n"


class FakeHandle:
    def __init__(self, log: list) -> None:
        self.log = log

    def update(self, obj) -> None:
        self.log.append(("update", obj))


class FakeImage:
    def __init__(self, data: bytes, **kw: str) -> None:
        self.data, self.format = data, kw["format"]


@pytest.fixture
def fast_render(monkeypatch):
    """Count renders without paying matplotlib's time (for the throttle tests)."""
    monkeypatch.setattr(live.LivePlot, "_render", lambda self, history: PNG)


@pytest.fixture
def jupyter(monkeypatch):
    """IPython with a kernel attached, and a display() that records its calls."""
    log: list = []
    ipython = types.ModuleType("IPython")
    ipython.version_info = (9, 0, 0)  # matplotlib's canvas reads it when IPython is loaded
    ipython.get_ipython = lambda: types.SimpleNamespace(kernel=object())
    display_mod = types.ModuleType("IPython.display")

    def display(obj, display_id=None):
        log.append(("display", obj, display_id))
        return FakeHandle(log)

    display_mod.display = display
    display_mod.Image = FakeImage
    ipython.display = display_mod
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_mod)
    return log


class Clock:
    def __init__(self, step: float) -> None:
        self.t, self.step = 1000.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def test_in_jupyter_updates_one_display_handle_with_pngs(jupyter, monkeypatch, capsys) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(live, "MIN_INTERVAL", 0.0)  # no throttle: every batch is drawn
    monkeypatch.setattr(live, "DRAW_COST_FACTOR", 0.0)
    monkeypatch.setattr(live, "GRID", 5)
    X, y = make_moons(24, noise=0.1, seed=0)
    h = fit(MLP(2, [4, 1], seed=0), X, y, epochs=1, batch_size=8, progress=True, live=True)
    displays = [e for e in jupyter if e[0] == "display"]
    updates = [e for e in jupyter if e[0] == "update"]
    assert len(displays) == 1 and displays[0][2] is True  # one output, made with display_id
    assert len(updates) == 3  # 3 batches drawn + the final state - the first display
    images = [displays[0][1]] + [u[1] for u in updates]
    assert all(im.format == "png" and im.data.startswith(PNG) for im in images)
    assert len({im.data for im in images}) == len(images)  # each shows the state of its time
    assert h.epochs == 1
    assert capsys.readouterr().err == ""  # no progress bar next to the live picture


def test_redraws_are_throttled_by_time(jupyter, fast_render, monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    # 0.1 s per clock reading: 120 batches take at least 12 s of fake time; at one redraw per
    # MIN_INTERVAL (0.5 s) that is at most ~24 + the final one, far fewer than 120.
    monkeypatch.setattr(live, "_now", Clock(0.1))
    X, y = make_moons(60, noise=0.1, seed=0)
    fit(MLP(2, [3, 1], seed=0), X, y, epochs=4, batch_size=2, progress=False, live=True)
    draws = len(jupyter)
    assert 10 <= draws <= 30, draws  # periodic, not every batch and not only at the ends
    plot = live.LivePlot(MLP(2, [3, 1], seed=0), X, y, epochs=1, classify=True,
                         to_classes=lambda outs: [0] * len(outs))
    clock = Clock(0.0)
    monkeypatch.setattr(live, "_now", clock)
    history = nn.History()
    assert plot.update(history, 0.1, 0.7, 0.5)  # the first one is drawn
    clock.t += live.MIN_INTERVAL / 2
    assert not plot.update(history, 0.2, 0.6, 0.5)  # too soon
    assert plot.update(history, 0.2, 0.6, 0.5, force=True)  # the final redraw is forced
    clock.t += live.MIN_INTERVAL
    assert plot.update(history, 0.3, 0.5, 0.5)
    assert plot.redraws == 3


def test_slow_redraws_space_themselves_out(jupyter, fast_render, monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    clock = Clock(0.0)
    monkeypatch.setattr(live, "_now", clock)
    plot = live.LivePlot(MLP(2, [3, 1], seed=0), [[0.0, 1.0]], [1], epochs=1, classify=True,
                         to_classes=lambda outs: [0] * len(outs))
    render = plot._render

    def slow(history):  # a redraw that takes 1 s of (fake) time
        clock.t += 1.0
        return render(history)

    plot._render = slow
    assert plot.update(nn.History(), 0.1, 0.7, 0.5)
    clock.t += 2.0  # past MIN_INTERVAL, but not DRAW_COST_FACTOR x the 1 s the redraw took
    assert not plot.update(nn.History(), 0.2, 0.7, 0.5)
    clock.t += live.DRAW_COST_FACTOR
    assert plot.update(nn.History(), 0.3, 0.7, 0.5)


def test_boundary_panel_only_for_2d_classification(jupyter, monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    seen = []
    X, y = make_blobs(12, centers=3, seed=0)
    for XX, yy, want in ((X, y, True), ([x + [0.0] for x in X], y, False),
                         (X, [float(t) for t in y], False)):
        plot = live.LivePlot(MLP(len(XX[0]), [3], seed=0), XX, yy, epochs=1,
                             classify=all(isinstance(t, int) for t in yy),
                             to_classes=lambda outs: [0] * len(outs))
        seen.append(plot.boundary == want)
    assert all(seen)


def test_outside_jupyter_live_shows_the_progress_bar(monkeypatch, capsys) -> None:
    pytest.importorskip("tqdm")
    X, y = make_moons(12, seed=0)
    # No IPython at all, then IPython without a kernel (a terminal shell).
    monkeypatch.setitem(sys.modules, "IPython", None)
    fit(MLP(2, [3, 1], seed=0), X, y, epochs=2, batch_size=6, progress=False, live=True)
    assert "epoch 2/2" in capsys.readouterr().err
    ipython = types.ModuleType("IPython")
    ipython.version_info = (9, 0, 0)
    ipython.get_ipython = lambda: types.SimpleNamespace()  # no .kernel
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    assert not live.in_jupyter()
    fit(MLP(2, [3, 1], seed=0), X, y, epochs=2, batch_size=6, progress=False, live=True)
    assert "epoch 2/2" in capsys.readouterr().err


def test_live_trains_exactly_as_without(jupyter, monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(live, "GRID", 4)
    monkeypatch.setattr(live, "MIN_INTERVAL", 0.0)  # draw after every batch, boundary included
    monkeypatch.setattr(live, "DRAW_COST_FACTOR", 0.0)
    X, y = make_moons(20, noise=0.1, seed=2)
    a, b = MLP(2, [3, 1], seed=1), MLP(2, [3, 1], seed=1)
    ha = fit(a, X, y, epochs=2, batch_size=10, progress=False, live=True)
    hb = fit(b, X, y, epochs=2, batch_size=10, progress=False)
    assert a.state_dict() == b.state_dict() and ha.loss == hb.loss


def test_without_matplotlib_in_jupyter_the_error_names_the_extra(jupyter, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    X, y = make_moons(12, seed=0)
    model = MLP(2, [3, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(ImportError, match=r"pip install 'autograd-lite\[plot\]'"):
        fit(model, X, y, epochs=1, progress=False, live=True)
    assert model.state_dict() == before  # raised before any training
