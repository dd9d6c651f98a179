"""A compiled fit hands each scan its batch order as an array('q'), reusing the last one only
while the order is equal (an epoch without shuffling); any change to the order, in place
or by length, gives the new indices."""

from __future__ import annotations

import random
from array import array

from hypothesis import given
from hypothesis import strategies as st

import nn
from nn import compiled as nc


def step():
    m = nn.MLP(2, [3, 1], activation="tanh", seed=0)
    return nc.CompiledStep(m, nn.losses.hinge)


@given(st.lists(st.integers(0, 2**40), max_size=300), st.randoms(use_true_random=False))
def test_indices_are_always_the_orders(order, rng):
    s = step()
    assert s._indices(order) == array("q", order)
    again = s._indices(order[:])
    assert again == array("q", order)
    changed = order[:]
    rng.shuffle(changed)
    if changed:
        changed[rng.randrange(len(changed))] += 1  # in place, one index
    assert s._indices(changed) == array("q", changed)
    assert s._indices(changed[1:]) == array("q", changed[1:])
    assert s._indices(order) == array("q", order)


def test_an_unchanged_order_reuses_its_array_and_a_shuffled_one_does_not():
    s = step()
    order = list(range(50))
    first = s._indices(order)
    assert s._indices(list(range(50))) is first
    random.Random(1).shuffle(order)
    assert s._indices(order) is not first and list(s._indices(order)) == order


def test_fit_without_shuffling_trains_as_the_interpreter():
    rng = random.Random(0)
    X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(40)]
    y = [1 if a * b > 0 else -1 for a, b in X]
    results = []
    for compiled in (True, False):
        nc._steps.clear()
        m = nn.MLP(2, [4, 1], activation="tanh", seed=3)
        opt = nn.SGD(m.parameters(), lr=0.1, momentum=0.9)
        h = nn.fit(m, X, y, loss="hinge", optimizer=opt, epochs=4, batch_size=8,
                   shuffle=False, progress=False, compiled=compiled,
                   lr_schedule=lambda e: 0.1 / (e + 1))
        results.append(([p.data for p in m.parameters()], h.loss, h.accuracy))
    nc._steps.clear()
    assert results[0] == results[1]
