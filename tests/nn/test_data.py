"""Data sets: shapes, labels, geometry (checked against scikit-learn where it has the same set),
seeded reproducibility without global random state, splitting and standardisation."""

from __future__ import annotations

import math
import random
import sys
from collections import Counter

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nn import data

GENERATORS = {
    "moons": lambda seed: data.make_moons(60, noise=0.1, seed=seed),
    "circles": lambda seed: data.make_circles(60, noise=0.05, seed=seed),
    "spirals": lambda seed: data.make_spirals(61, classes=3, noise=0.2, seed=seed),
    "xor": lambda seed: data.make_xor(60, noise=0.1, seed=seed),
    "blobs": lambda seed: data.make_blobs(61, centers=4, std=0.5, seed=seed),
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generators_are_seeded_and_ignore_global_random(name: str) -> None:
    make = GENERATORS[name]
    random.seed(1)
    a = make(3)
    random.seed(2)
    random.random()
    b = make(3)
    assert a == b
    assert make(4) != a
    X, y = a
    assert len(X) == len(y) > 0
    assert all(len(x) == 2 and all(isinstance(v, float) for v in x) for x in X)
    assert all(isinstance(c, int) for c in y)


def test_class_sizes() -> None:
    assert Counter(data.make_moons(101, seed=0)[1]) == {0: 50, 1: 51}
    assert Counter(data.make_circles(100, seed=0)[1]) == {0: 50, 1: 50}
    assert Counter(data.make_spirals(100, classes=3, seed=0)[1]) == {0: 34, 1: 33, 2: 33}
    assert Counter(data.make_blobs(10, centers=3, seed=0)[1]) == {0: 4, 1: 3, 2: 3}
    assert len(data.make_xor(37, seed=0)[1]) == 37


def test_noise_free_moons_equal_sklearns() -> None:
    sk = pytest.importorskip("sklearn.datasets")
    for n in (10, 51):
        X, y = data.make_moons(n, noise=0.0, seed=0)
        Xs, ys = sk.make_moons(n, noise=0.0, shuffle=False)
        ours = sorted((round(a, 12), round(b, 12), c) for (a, b), c in zip(X, y))
        theirs = sorted((round(a, 12), round(b, 12), int(c)) for (a, b), c in zip(Xs.tolist(), ys))
        assert ours == theirs


def test_noise_free_geometry() -> None:
    X, y = data.make_circles(40, noise=0.0, factor=0.3, seed=1)
    for (a, b), c in zip(X, y):
        assert math.isclose(math.hypot(a, b), 1.0 if c == 0 else 0.3)
    X, y = data.make_xor(200, noise=0.0, seed=1)
    assert all(c == int((a > 0) != (b > 0)) for (a, b), c in zip(X, y))
    assert set(y) == {0, 1}
    X, y = data.make_spirals(90, classes=3, noise=0.0, seed=1)
    assert all(math.hypot(*x) <= 1.0 + 1e-12 for x in X)
    centres = [[0.0, 0.0], [5.0, 5.0]]
    X, y = data.make_blobs(200, centers=centres, std=0.5, seed=1)
    for c in (0, 1):
        pts = [x for x, k in zip(X, y) if k == c]
        mean = [sum(p[j] for p in pts) / len(pts) for j in range(2)]
        assert math.dist(mean, centres[c]) < 0.3  # 100 points, sd 0.5: mean within ~0.05


@pytest.mark.parametrize("call", [
    lambda: data.make_moons(1),
    lambda: data.make_moons(10, noise=-1.0),
    lambda: data.make_moons(10, seed=1.5),
    lambda: data.make_circles(10, factor=1.5),
    lambda: data.make_spirals(10, classes=1),
    lambda: data.make_blobs(10, centers=[[0, 0], [1]]),
    lambda: data.train_test_split([[1.0]] * 3, [0, 1]),
    lambda: data.train_test_split([[1.0]] * 4, [0] * 4, test_size=1.5),
    lambda: data.train_test_split([[1.0]] * 4, [0] * 4, test_size=4),
])
def test_bad_arguments_raise(call) -> None:
    with pytest.raises((ValueError, TypeError)):
        call()


@given(n=st.integers(4, 60), frac=st.floats(0.1, 0.9), seed=st.integers(0, 100),
       stratify=st.booleans())
def test_train_test_split_partitions(n, frac, seed, stratify) -> None:
    assume(math.ceil(frac * n) < n)  # else it raises: no training data left
    X = [[float(i), -float(i)] for i in range(n)]
    y = [i % 3 for i in range(n)]
    n_test = math.ceil(frac * n)
    if stratify and (min(n_test, n - n_test) < 3 or n < 6):
        with pytest.raises(ValueError, match="number of classes|least populated"):
            data.train_test_split(X, y, test_size=frac, seed=seed, stratify=True)
        return
    Xtr, Xte, ytr, yte = data.train_test_split(X, y, test_size=frac, seed=seed,
                                               stratify=stratify)
    assert sorted(map(tuple, Xtr + Xte)) == sorted(map(tuple, X))  # a partition
    for x, c in zip(Xtr + Xte, ytr + yte):  # labels travel with their rows
        assert c == int(x[0]) % 3
    assert len(Xte) == n_test  # exactly the requested size, stratified or not
    if stratify:
        for c in range(3):
            share = n_test * y.count(c) / n  # each class keeps its share, within one
            assert abs(yte.count(c) - share) < 1.0 + 1e-9
            assert 1 <= yte.count(c) and 1 <= ytr.count(c)
    assert data.train_test_split(X, y, test_size=frac, seed=seed, stratify=stratify) == (
        Xtr, Xte, ytr, yte)


def test_standardize_matches_sklearn() -> None:
    pre = pytest.importorskip("sklearn.preprocessing")
    rng = random.Random(0)
    X = [[rng.gauss(3, 2), rng.uniform(-1, 5), 7.0] for _ in range(50)]  # last column constant
    T = [[rng.gauss(0, 1) for _ in range(3)] for _ in range(5)]
    Xs, Ts = data.standardize(X, T)
    sc = pre.StandardScaler().fit(X)
    for ours, theirs in ((Xs, sc.transform(X).tolist()), (Ts, sc.transform(T).tolist())):
        for r1, r2 in zip(ours, theirs):
            assert all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) for a, b in zip(r1, r2))
    with pytest.raises(ValueError, match="row 1"):
        data.Standardizer().fit([[1.0, 2.0], [1.0]])
    with pytest.raises(RuntimeError):
        data.Standardizer().transform(X)


def test_load_digits() -> None:
    pytest.importorskip("sklearn")
    X, y = data.load_digits()
    assert len(X) == len(y) == 1797
    assert all(len(x) == 64 for x in X)
    assert set(y) == set(range(10))
    assert min(min(x) for x in X) == 0.0 and max(max(x) for x in X) == 16.0


def test_load_digits_without_sklearn_says_how_to_fix(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'autograd-lite\[data\]'"):
        data.load_digits()
