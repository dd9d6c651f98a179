"""fit(compiled=True) with a batch_size beyond a C long (one batch of everything) is the
interpreter's fit (was: the scan's driver got the size truncated by ctypes, 2**64 + 3 as 3:
15 batches written into arrays sized for one, a heap overflow; 2**64 as 0: SIGFPE)."""

from __future__ import annotations

import pytest

import nn
from nn import compiled as nc

from .test_compiled_epoch import bits, data, history, state


@pytest.mark.parametrize("bs", [2 ** 64 + 3, 2 ** 64, 2 ** 63])
def test_a_batch_size_beyond_a_c_long_is_the_interpreters_one_batch(bs):
    X, y = data()
    out = []
    for compiled in (True, False):
        nc._steps.clear()
        m = nn.MLP(4, [6, 3], activation="tanh", seed=1)
        opt = nn.Adam(m.parameters(), lr=0.05)
        h = nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=3, batch_size=bs,
                   progress=False, compiled=compiled)
        out.append((bits(m), state(opt), history(h)))
    nc._steps.clear()
    assert out[0] == out[1]
