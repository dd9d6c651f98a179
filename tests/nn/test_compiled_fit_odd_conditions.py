"""fit(compiled=True) under odd conditions gives the interpreter's fit: a bad
$AUTOGRAD_LITE_SIMD (named in the warning; set between two fits, the optimizer steps in Python),
and logits that overflow under cross-entropy (the History's loss, not only the parameters)."""

from __future__ import annotations

import math
import random
import struct
import warnings

import pytest

import nn
import nn.flat


def _bits(xs: list[float]) -> list[str]:
    return ["nan" if x != x else struct.pack("<d", x).hex() for x in xs]


def _data(n: int = 40, seed: int = 0) -> tuple[list[list[float]], list[int]]:
    r = random.Random(seed)
    X = [[r.uniform(-1, 1) for _ in range(3)] for _ in range(n)]
    return X, [r.choice([0, 1, 2]) for _ in range(n)]


def test_a_bad_simd_variable_is_named_when_fit_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRAD_LITE_SIMD", "bogus")
    X, y = _data()
    m = nn.MLP(3, [4, 3], seed=0)
    with pytest.warns(RuntimeWarning, match="AUTOGRAD_LITE_SIMD"):
        nn.fit(m, X, y, epochs=1, batch_size=8, compiled=True, progress=False)
    ref = nn.MLP(3, [4, 3], seed=0)
    nn.fit(ref, X, y, epochs=1, batch_size=8, progress=False)
    assert _bits([p.data for p in m.parameters()]) == _bits([p.data for p in ref.parameters()])


@pytest.mark.parametrize("second", ["sgd", "adam", "momentum"])
def test_a_bad_simd_variable_set_between_fits_leaves_the_steps_to_python(
        monkeypatch: pytest.MonkeyPatch, second: str) -> None:
    X, y = _data(seed=1)

    def opt(m: nn.MLP) -> nn.Optimizer:
        ps = m.parameters()
        return {"sgd": lambda: nn.SGD(ps, lr=0.1), "adam": lambda: nn.Adam(ps, lr=0.01),
                "momentum": lambda: nn.SGD(ps, lr=0.1, momentum=0.9)}[second]()

    models = []
    for compiled in (True, False):
        monkeypatch.delenv("AUTOGRAD_LITE_SIMD", raising=False)
        m = nn.MLP(3, [5, 3], seed=1)
        nn.fit(m, X, y, epochs=2, batch_size=8, compiled=compiled, progress=False,
               optimizer=nn.SGD(m.parameters(), lr=0.1))
        monkeypatch.setenv("AUTOGRAD_LITE_SIMD", "bogus")
        monkeypatch.setattr(nn.flat, "_kernels", {})  # (none built before: they would be kept)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = nn.fit(m, X, y, epochs=2, batch_size=8, compiled=compiled, progress=False,
                       optimizer=opt(m))
        models.append((_bits([p.data for p in m.parameters()]), _bits(h.loss)))
    assert models[0] == models[1]


@pytest.mark.parametrize("case", range(12))
def test_overflowing_logits_give_the_interpreters_history(case: int) -> None:
    r = random.Random(100 + case)
    n = r.choice([40, 64, 67, 100])
    X = [[r.uniform(-1, 1) for _ in range(3)] for _ in range(n)]
    special = r.choice([1e308, -1e308, math.inf, -math.inf, 1e200, 800.0])
    where = r.randrange(n * 3 // 4, n)  # a late batch: the epoch ran natively up to it
    X[where][r.randrange(3)] = special
    if r.random() < 0.5:
        X[r.randrange(n)][r.randrange(3)] = r.choice([1e308, 1e-320])
    r.random()
    y = [r.choice([0, 1, 2]) for _ in range(n)]
    act = r.choice(["tanh", "relu", "sigmoid"])
    sgd = r.random() < 0.5
    runs = []
    for compiled in (True, False):
        m = nn.MLP(3, [5, 3], activation=act, seed=case)
        opt = nn.SGD(m.parameters(), lr=0.05) if sgd else nn.Adam(m.parameters(), lr=0.01)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                h = nn.fit(m, X, y, loss=nn.losses.cross_entropy, epochs=3, batch_size=8,
                           compiled=compiled, progress=False, optimizer=opt, seed=case)
            except Exception as e:  # (an inf input: the interpreter's error, both ways)
                runs.append((type(e).__name__, str(e)))
                continue
        runs.append((_bits(h.loss), h.accuracy, _bits([p.data for p in m.parameters()])))
    assert runs[0] == runs[1]
