"""fit's first-epoch shuffle may be taken from the previous fit's (a loop of fits with one
seed), but only when the generator's state and the order are the same: the permutation and
the generator's state afterwards are always exactly `random.Random.shuffle`'s."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

import nn
from nn import train


def reference(seed, order):
    rng = random.Random(seed)
    out = order[:]
    rng.shuffle(out)
    return out, rng.getstate()


def ours(seed, order):
    rng = random.Random(seed)
    out = order[:]
    train._first_shuffle(rng, out)
    return out, rng.getstate()


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40), st.booleans()), max_size=12))
def test_shuffles_in_any_sequence_are_random_shuffles(calls):
    for seed, n, reverse in calls:
        order = list(range(n))[::-1] if reverse else list(range(n))
        assert ours(seed, order) == reference(seed, order)
        assert ours(seed, order) == reference(seed, order)  # (the second: from the cache)


def test_a_cached_shuffle_is_not_shared_with_the_caller():
    a, _ = ours(5, list(range(30)))
    a.reverse()  # (fit shuffles its order in place at the next epoch)
    assert ours(5, list(range(30))) == reference(5, list(range(30)))


def test_the_generator_continues_as_after_a_real_shuffle():
    rng = random.Random(9)
    order = list(range(25))
    train._first_shuffle(rng, order)  # (fills the cache)
    rng = random.Random(9)
    order = list(range(25))
    train._first_shuffle(rng, order)
    ref = random.Random(9)
    ref.shuffle(list(range(25)))
    assert [rng.random() for _ in range(5)] == [ref.random() for _ in range(5)]


def test_fits_in_a_loop_shuffle_as_one_fit_would():
    rng = random.Random(0)
    X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(30)]
    y = [1 if a * b > 0 else 0 for a, b in X]
    losses = []
    for seed in (0, 0, 1, 0):
        m = nn.MLP(2, [4, 2], activation="tanh", seed=3)
        h = nn.fit(m, X, y, epochs=3, batch_size=7, seed=seed, progress=False)
        losses.append((h.loss, [p.data for p in m.parameters()]))
    assert losses[0] == losses[1] == losses[3] != losses[2]
