"""fit(compiled=True) in an epoch where many batches stop the scan (rows whose first-layer sums
overflow: an IEEE flag in C): each stop offers the next scan a bounded window of batches, not
the whole rest of the epoch again (was: every stop rebuilt the per-batch arrays of the rest:
work quadratic in the number of batches), and the numbers stay the batch-by-batch path's."""

from __future__ import annotations

import random

import pytest

import nn
from autograd_lite import Compiled
from nn import compiled as nc

from .test_compiled_epoch import bits, history, state


def flagged(n: int, gap: int) -> tuple[list[list[float]], list[int]]:
    rng = random.Random(0)
    X = [[rng.uniform(-1, 1) for _ in range(4)] for _ in range(n)]
    for r in range(5, n, gap):
        X[r] = [1.7e308] * 4
    return X, [int(sum(x) > 0) for x in X]


def fit(X, y, mode, offered=None):
    nc._steps.clear()
    m = nn.MLP(4, [4, 2], activation="tanh", seed=1)
    opt = nn.Adam(m.parameters(), lr=0.01)
    with pytest.MonkeyPatch.context() as mp:
        if mode == "batches":
            mp.setattr(nc.CompiledStep, "scan", lambda self, order, rule: [])
        if offered is not None:
            real = Compiled.scan_steps

            def counting(self, rows, order, size, **kw):
                offered.append(len(order))
                return real(self, rows, order, size, **kw)

            mp.setattr(Compiled, "scan_steps", counting)
        h = nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=2, batch_size=1,
                   shuffle=True, progress=False, compiled=True)
    nc._steps.clear()
    return bits(m), state(opt), history(h)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_many_stops_offer_bounded_windows_with_the_batch_by_batch_numbers():
    n = 1500
    X, y = flagged(n, 15)
    offered: list[int] = []
    got = fit(X, y, "scan", offered)
    assert len(offered) > 100  # (about one scan per stop: ~100 stops per epoch)
    # was ~n / 15 stops x n / 2 rows each per epoch: ~100 n
    assert sum(offered) < 30 * n  # (here ~18 n)
    assert max(offered[1:]) <= n
    assert got == fit(X, y, "batches")
