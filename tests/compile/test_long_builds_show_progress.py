"""A compile_grad whose build runs past `progress.THRESHOLD` seconds shows its stages (a tqdm
bar, or one stderr line without tqdm); a quicker one shows nothing, and output nobody watches
(not a terminal, not Jupyter: tests, logs) never gets it. The clock is replaced: no timing.
"""

from __future__ import annotations

import itertools
import sys

import pytest

from autograd_lite import Value, compile_grad
from autograd_lite.compile import native, progress

HAVE_CC = not isinstance(native.find_compiler(), str)
BACKENDS = ["python", pytest.param("c", marks=pytest.mark.skipif(
    not HAVE_CC, reason="no working C compiler"))]


@pytest.fixture
def slow_clock(monkeypatch):
    """Every reading of the clock is 10 s after the previous one: every build is long."""
    ticks = itertools.count(0.0, 10.0)
    monkeypatch.setattr(progress, "clock", lambda: next(ticks))


@pytest.fixture
def still_clock(monkeypatch):
    """The clock never moves: every build is short."""
    monkeypatch.setattr(progress, "clock", lambda: 100.0)


def build(backend: str, op: str = "tanh"):
    w = Value(0.5)
    return compile_grad(lambda x, y: getattr(x * w + y, op)(), [1.0, 2.0], params=[w],
                        backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_long_build_shows_its_stages(backend, slow_clock, monkeypatch, capsys):
    monkeypatch.setattr(progress, "ENABLED", True)
    c = build(backend)
    err = capsys.readouterr().err
    assert "compile_grad" in err and "tracing f" in err
    assert ("compiling C" if backend == "c" else "compiling Python") in err
    assert c.value_and_grad([1.0, 2.0]) == build(backend).value_and_grad([1.0, 2.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_short_build_shows_nothing(backend, still_clock, monkeypatch, capsys):
    monkeypatch.setattr(progress, "ENABLED", True)
    build(backend, "sin")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("backend", BACKENDS)
def test_without_tqdm_a_long_build_is_one_line(backend, slow_clock, monkeypatch, capsys):
    monkeypatch.setattr(progress, "ENABLED", True)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails: tqdm not installed
    build(backend, "cos")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("compile_grad: still building (")


@pytest.mark.parametrize("backend", BACKENDS)
def test_output_nobody_watches_never_gets_it(backend, slow_clock, monkeypatch, capsys):
    monkeypatch.setattr(progress, "ENABLED", None)  # the default: a terminal or Jupyter only
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert not sys.stderr.isatty()  # captured
    build(backend, "exp")
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(not HAVE_CC, reason="no working C compiler")
def test_a_long_build_on_first_use_shows_it_too(slow_clock, monkeypatch, capsys):
    monkeypatch.setattr(progress, "ENABLED", True)
    monkeypatch.setattr(progress, "THRESHOLD", float("inf"))
    c = build("c", "sigmoid")
    monkeypatch.setattr(progress, "THRESHOLD", 1.0)
    capsys.readouterr()
    want = c.value_and_grad_batch([[1.0, 2.0]])
    got = c.value_and_grad_batch([[1.0, 2.0]], input_grads=False)  # builds its own library
    assert "without input gradients" in capsys.readouterr().err
    assert got == (want[0], None, want[2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_progress_false_is_silent_even_where_shown(backend, slow_clock, monkeypatch, capsys):
    monkeypatch.setattr(progress, "ENABLED", True)
    w = Value(0.5)
    c = compile_grad(lambda x: (x * w).tanh(), [1.0], params=[w], backend=backend,
                     progress=False)
    c.value_and_grad([1.0])  # a C library is built here, on first use: silent too
    c.value_and_grad_batch([[1.0], [2.0]], input_grads=False)
    assert c.progress is False and capsys.readouterr().err == ""


@pytest.mark.parametrize("backend", BACKENDS)
def test_progress_true_shows_where_nobody_watches(backend, slow_clock, monkeypatch, capsys):
    monkeypatch.setattr(progress, "ENABLED", None)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    w = Value(0.5)
    compile_grad(lambda x: (x * w).exp(), [1.0], params=[w], backend=backend, progress=True)
    assert "compile_grad" in capsys.readouterr().err


@pytest.mark.skipif(not HAVE_CC, reason="no working C compiler")
def test_progress_set_later_governs_builds_on_first_use(slow_clock, monkeypatch, capsys):
    monkeypatch.setattr(progress, "ENABLED", True)
    w = Value(0.5)
    c = compile_grad(lambda x: (x * w).sin(), [1.0], params=[w], backend="auto",
                     progress=False)
    c.progress = True
    c.value_and_grad([1.0])
    assert "compiled function" in capsys.readouterr().err
    with pytest.raises(TypeError, match="None, True or False"):
        c.progress = "yes"  # type: ignore[assignment]
    with pytest.raises(TypeError, match="None, True or False"):
        compile_grad(lambda x: x * w, [1.0], params=[w], progress=1)  # type: ignore[arg-type]


def test_fit_without_progress_builds_silently(slow_clock, monkeypatch, capsys):
    import nn

    monkeypatch.setattr(progress, "ENABLED", True)
    X = [[0.1 * i, 0.2 * i] for i in range(8)]
    y = [2 * (i % 2) - 1 for i in range(8)]
    model = nn.MLP(2, [3, 1], seed=0)
    nn.fit(model, X, y, loss=nn.losses.hinge, epochs=2, batch_size=4, progress=False,
           compiled=True)
    assert capsys.readouterr().err == ""
