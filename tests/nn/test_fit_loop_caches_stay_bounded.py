"""What a loop of fits keeps for the next fit stays bounded, and is compared without running
the user's code: the first shuffle (module state that outlives every model) and a step's scan
order are kept only up to a size, longer ones are done again, with the same results; rows
given to a compiled fit are reused only when their entries are exactly floats, checked before
any equality (an entry's own `__eq__`, even one that rewrites X, never runs)."""

from __future__ import annotations

import random
import struct
import warnings

import pytest

import nn
from nn import compiled as nc
from nn import train


@pytest.fixture(autouse=True)
def fresh_caches():
    nc._steps.clear()
    train._last_shuffle = None
    yield
    nc._steps.clear()
    train._last_shuffle = None


def data(n=40):
    rng = random.Random(0)
    X = [[rng.uniform(-2, 2) for _ in range(4)] for _ in range(n)]
    y = [int(sum(x) * 7) % 3 for x in X]
    return X, y


def fits(compiled, runs=3, **kw):
    """Fits in a loop on one model and optimizer: the Histories' bits, parameters and `.grad`."""
    X, y = data()
    m = nn.MLP(4, [5, 3], activation="tanh", seed=1)
    opt = nn.Adam(m.parameters(), lr=0.05)
    out = []
    for i in range(runs):
        h = nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=2, batch_size=8,
                   seed=i // 2, progress=False, compiled=compiled, **kw)
        out.append([struct.pack("<d", v) for v in h.loss] + list(h.accuracy))
    out.append([struct.pack("<dd", p.data, p.grad) for p in m.parameters()])
    return out


def test_a_first_shuffle_over_the_limit_is_not_kept_and_is_random_shuffle(monkeypatch):
    monkeypatch.setattr(train, "SHUFFLE_KEEP", 10)
    for n in (10, 11, 500):
        train._last_shuffle = None
        for _ in range(2):
            order, rng, ref = list(range(n)), random.Random(3), random.Random(3)
            train._first_shuffle(rng, order)
            expected = list(range(n))
            ref.shuffle(expected)
            assert order == expected and rng.getstate() == ref.getstate()
        assert (train._last_shuffle is not None) == (n <= 10)


def test_fits_over_the_shuffle_limit_train_as_the_interpreter(monkeypatch):
    monkeypatch.setattr(train, "SHUFFLE_KEEP", 39)  # (40 rows: never kept)
    assert fits(True) == fits(False)
    assert train._last_shuffle is None


def test_a_scan_order_over_the_limit_is_not_kept_and_trains_as_the_interpreter(monkeypatch):
    monkeypatch.setattr(nc, "KEEP_INDICES", 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fits(True, shuffle=False) == fits(False, shuffle=False)
    m = nn.MLP(4, [5, 3], activation="tanh", seed=1)
    X, y = data()
    nn.fit(m, X, y, loss="cross_entropy", epochs=1, batch_size=8, shuffle=False,
           progress=False, compiled=True)
    step = nc._steps[m]["auto"]
    assert step._order is None
    order = list(range(16))
    assert list(step._indices(order)) == order and step._order is not None  # (at the limit)


class Rewrites:
    """Not a number; comparing it puts what it is compared with in its place in the row."""

    calls = 0

    def __init__(self, row: list, j: int) -> None:
        self.row, self.j = row, j

    def __eq__(self, other: object) -> bool:
        Rewrites.calls += 1
        self.row[self.j] = other
        return True

    __hash__ = None  # type: ignore[assignment]


@pytest.mark.parametrize("compiled", [True, False])
def test_an_entry_whose_eq_rewrites_x_gets_the_interpreters_error(compiled):
    X, y = data()
    m = nn.MLP(4, [5, 3], activation="tanh", seed=1)
    nn.fit(m, X, y, loss="cross_entropy", epochs=1, batch_size=8, progress=False,
           compiled=compiled)
    X[3][1] = Rewrites(X[3], 1)
    Rewrites.calls = 0
    with pytest.raises(TypeError, match=r"fit: X\[3\]\[1\] must be a real number"):
        nn.fit(m, X, y, loss="cross_entropy", epochs=1, batch_size=8, progress=False,
               compiled=compiled)
    assert Rewrites.calls == 0 and isinstance(X[3][1], Rewrites)
