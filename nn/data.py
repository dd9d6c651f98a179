"""Small data sets, generated in pure Python from a seed, and helpers to split and scale them.

Every generator returns `(X, y)`: X a list of `[x1, x2, ...]` float lists, y a list of int
labels, shuffled. Randomness comes only from `random.Random(seed)`, so the same seed gives
the same points on any machine. `load_digits()` (the 8x8 handwritten digits) needs
scikit-learn: `pip install 'autograd-lite[data]'`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

Dataset = tuple[list[list[float]], list[int]]


def _count(n: object, what: str = "n", minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {n!r}")
    return n


def _noise(noise: object, what: str = "noise") -> float:
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0.0:
        raise ValueError(f"{what} must be a number >= 0, got {noise!r}")
    return float(noise)


def _rng(seed: object) -> random.Random:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    return random.Random(seed)


def _linspace(a: float, b: float, n: int) -> list[float]:
    return [a] if n == 1 else [a + (b - a) * i / (n - 1) for i in range(n)]


def _finish(points: list[tuple[list[float], int]], rng: random.Random, noise: float) -> Dataset:
    if noise:
        for x, _ in points:
            for j in range(len(x)):
                x[j] += rng.gauss(0.0, noise)
    rng.shuffle(points)
    return [x for x, _ in points], [c for _, c in points]


def make_moons(n: int = 100, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaving half circles (as scikit-learn's make_moons): label 0 the upper moon,
    label 1 the lower one; `n // 2` points in the first, the rest in the second."""
    n = _count(n, minimum=2)
    noise = _noise(noise)
    rng = _rng(seed)
    n0 = n // 2
    n1 = n - n0
    pts = [([math.cos(t), math.sin(t)], 0) for t in _linspace(0.0, math.pi, n0)]
    pts += [([1.0 - math.cos(t), 0.5 - math.sin(t)], 1) for t in _linspace(0.0, math.pi, n1)]
    return _finish(pts, rng, noise)


def make_circles(n: int = 100, noise: float = 0.05, factor: float = 0.5, seed: int = 0) -> Dataset:
    """Two concentric circles: label 0 the outer (radius 1), label 1 the inner (radius
    `factor`)."""
    n = _count(n, minimum=2)
    noise = _noise(noise)
    if not isinstance(factor, int | float) or not 0.0 < factor < 1.0:
        raise ValueError(f"factor must be in (0, 1), got {factor!r}")
    rng = _rng(seed)
    n0 = n // 2
    n1 = n - n0
    pts = [([math.cos(2 * math.pi * i / n0), math.sin(2 * math.pi * i / n0)], 0)
           for i in range(n0)]
    pts += [([factor * math.cos(2 * math.pi * i / n1), factor * math.sin(2 * math.pi * i / n1)], 1)
            for i in range(n1)]
    return _finish(pts, rng, noise)


def make_spirals(n: int = 100, classes: int = 2, noise: float = 0.2, turns: float = 1.0,
                 seed: int = 0) -> Dataset:
    """`classes` interleaved spiral arms from the origin (the CS231n spiral): point i of arm k
    has radius r = i / m and angle 2 pi (turns * r + k / classes), with angular noise."""
    n = _count(n)
    classes = _count(classes, "classes", 2)
    noise = _noise(noise)
    rng = _rng(seed)
    pts = []
    for k in range(classes):
        m = n // classes + (1 if k < n % classes else 0)
        for i in range(m):
            r = (i + 1) / m
            a = 2 * math.pi * (turns * r + k / classes) + rng.gauss(0.0, noise)
            pts.append(([r * math.cos(a), r * math.sin(a)], k))
    return _finish(pts, rng, 0.0)


def make_xor(n: int = 100, noise: float = 0.0, seed: int = 0) -> Dataset:
    """Points uniform in [-1, 1]^2 labelled 1 when exactly one coordinate is positive; with
    `noise`, Gaussian jitter is added after labelling (so a few points cross the axes)."""
    n = _count(n)
    noise = _noise(noise)
    rng = _rng(seed)
    pts = []
    for _ in range(n):
        x1, x2 = rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)
        pts.append(([x1, x2], int((x1 > 0.0) != (x2 > 0.0))))
    return _finish(pts, rng, noise)


def make_blobs(n: int = 100, centers: int | Sequence[Sequence[float]] = 3, std: float = 1.0,
               dim: int = 2, box: tuple[float, float] = (-10.0, 10.0), seed: int = 0) -> Dataset:
    """Gaussian clusters: `centers` random centres in `box` (or the given list of centres),
    about n / centres points each, label = index of the centre."""
    n = _count(n)
    rng = _rng(seed)
    if isinstance(centers, int):
        k = _count(centers, "centers")
        dim = _count(dim, "dim")
        cs = [[rng.uniform(*box) for _ in range(dim)] for _ in range(k)]
    else:
        cs = [[float(c) for c in centre] for centre in centers]
        if not cs or len({len(c) for c in cs}) != 1:
            raise ValueError("centers must be an int or a non-empty list of equal-length points")
    std = _noise(std, "std")
    pts = []
    for k, c in enumerate(cs):
        m = n // len(cs) + (1 if k < n % len(cs) else 0)
        pts += [([ci for ci in c], k) for _ in range(m)]
    return _finish(pts, rng, std)


def load_digits() -> Dataset:
    """The 8x8 handwritten digits (1,797 images, 64 pixel values 0..16, labels 0..9), from
    scikit-learn's bundled copy (no download)."""
    try:
        from sklearn.datasets import load_digits as _load
    except ImportError as e:
        raise ImportError(
            "load_digits() needs scikit-learn: pip install 'autograd-lite[data]'"
        ) from e
    d = _load()
    return [[float(v) for v in row] for row in d.data.tolist()], [int(c) for c in d.target]


def train_test_split(X: Sequence[Any], y: Sequence[Any], test_size: float = 0.25,
                     seed: int = 0, stratify: bool = False) -> tuple[list, list, list, list]:
    """Shuffle with `seed` and split into `(X_train, X_test, y_train, y_test)` (scikit-learn's
    order). `test_size` is a fraction in (0, 1) or a count; `stratify=True` keeps the class
    proportions in both parts."""
    if len(X) != len(y):
        raise ValueError(f"train_test_split: {len(X)} inputs but {len(y)} labels")
    n = len(X)
    if isinstance(test_size, float):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"test_size as a fraction must be in (0, 1), got {test_size!r}")
        n_test = math.ceil(test_size * n)
    elif isinstance(test_size, int) and not isinstance(test_size, bool):
        n_test = test_size
    else:
        raise TypeError(f"test_size must be a float fraction or an int count, got {test_size!r}")
    if not 0 < n_test < n:
        raise ValueError(f"test_size {test_size!r} leaves no train or no test data ({n} samples)")
    rng = _rng(seed)
    if stratify:
        by_class: dict[Any, list[int]] = {}
        for i, c in enumerate(y):
            by_class.setdefault(c, []).append(i)
        test_idx: list[int] = []
        train_idx: list[int] = []
        for c in sorted(by_class, key=repr):
            idx = by_class[c]
            rng.shuffle(idx)
            k = round(len(idx) * n_test / n)
            test_idx += idx[:k]
            train_idx += idx[k:]
        rng.shuffle(test_idx)
        rng.shuffle(train_idx)
    else:
        order = list(range(n))
        rng.shuffle(order)
        test_idx, train_idx = order[:n_test], order[n_test:]
    return ([list(X[i]) for i in train_idx], [list(X[i]) for i in test_idx],
            [y[i] for i in train_idx], [y[i] for i in test_idx])


class Standardizer:
    """Per-feature scaling to zero mean and unit variance, fitted on training data only.
    A constant feature (zero variance, like the digits' blank corner pixels) is only centred."""

    def __init__(self) -> None:
        self.mean: list[float] | None = None
        self.std: list[float] | None = None

    def fit(self, X: Sequence[Sequence[float]]) -> Standardizer:
        """Learn each column's mean and (population) standard deviation."""
        if not X:
            raise ValueError("Standardizer.fit needs at least one row")
        d = len(X[0])
        for i, row in enumerate(X):
            if len(row) != d:
                raise ValueError(f"Standardizer.fit: row {i} has {len(row)} features, "
                                 f"row 0 has {d}")
        n = len(X)
        mean = [math.fsum(row[j] for row in X) / n for j in range(d)]
        var = [math.fsum((row[j] - mean[j]) ** 2 for row in X) / n for j in range(d)]
        self.mean = mean
        self.std = [math.sqrt(v) if v > 0.0 else 1.0 for v in var]
        return self

    def transform(self, X: Sequence[Sequence[float]]) -> list[list[float]]:
        """(x - mean) / std per column, as new lists."""
        if self.mean is None or self.std is None:
            raise RuntimeError("Standardizer.transform called before fit")
        d = len(self.mean)
        out = []
        for i, row in enumerate(X):
            if len(row) != d:
                raise ValueError(f"Standardizer: row {i} has {len(row)} features, "
                                 f"fitted on {d}")
            out.append([(v - m) / s for v, m, s in zip(row, self.mean, self.std)])
        return out

    def fit_transform(self, X: Sequence[Sequence[float]]) -> list[list[float]]:
        """`fit(X)` then `transform(X)`."""
        return self.fit(X).transform(X)


def standardize(X_train: Sequence[Sequence[float]],
                *others: Sequence[Sequence[float]]) -> tuple[list[list[float]], ...]:
    """Scale `X_train` to zero mean, unit variance, and `others` (test sets) with the train
    statistics: `X_train, X_test = standardize(X_train, X_test)`."""
    s = Standardizer().fit(X_train)
    return (s.transform(X_train), *(s.transform(X) for X in others))
