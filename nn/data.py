"""Small data sets, generated in pure Python from a seed, and helpers to split and scale them.

Every generator returns `(X, y)`: X a list of `[x1, x2, ...]` float lists, y a list of int
labels, shuffled. Randomness comes only from `random.Random(seed)`, so the same seed gives
the same points on any machine. `load_digits()` (the 8x8 handwritten digits) needs
scikit-learn: `pip install 'autograd-lite[data]'`.

`train_test_split` and `standardize` follow scikit-learn (its sizes, errors and stratified
allocation; StandardScaler's statistics) and read lists, tuples or numpy arrays (nn/arrays.py),
giving arrays back for arrays.

Why one file past ~400 lines: the generators are short, independent functions under one
seed rule, kept together with the split and scale helpers so `nn.data` is one place to look.
"""

from __future__ import annotations

import math
import numbers
import random
import sys
from collections.abc import Sequence
from typing import Any

from . import arrays as _arrays

Dataset = tuple[list[list[float]], list[int]]


def _count(n: object, what: str = "n", minimum: int = 1) -> int:
    return _arrays.count(n, what, minimum)


def _noise(noise: object, what: str = "noise") -> float:
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or \
            not float(noise) >= 0.0:
        raise ValueError(f"{what} must be a number >= 0, got {noise!r}")
    return float(noise)


def _seed(seed: object, what: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{what} must be an int, got {seed!r}")
    return int(seed)


def _rng(seed: object) -> random.Random:
    return random.Random(_seed(seed))


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
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0.0 < factor < 1.0:
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
    if isinstance(centers, numbers.Integral):
        k = _count(centers, "centers")
        dim = _count(dim, "dim")
        cs = [[rng.uniform(*box) for _ in range(dim)] for _ in range(k)]
    else:
        cs = _arrays.rows(centers, "make_blobs: centers") if _arrays.is_array(centers) or \
            centers else []
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


class InvalidParameterError(ValueError, TypeError):
    """A split size of the wrong type or out of range; both a ValueError and a TypeError, as
    scikit-learn's error of the same name, so code written against either catches it."""


def _size_kind(size: object, what: str) -> str | None:
    """"i" for an int size, "f" for a float fraction, None for None (scikit-learn's kinds)."""
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, numbers.Real):
        raise InvalidParameterError(f"The {what!r} parameter of train_test_split must be a "
                                    f"float in the range (0.0, 1.0), an int in the range "
                                    f"[1, inf) or None. Got {size!r} instead.")
    if isinstance(size, numbers.Integral):
        return "i"
    if not isinstance(size, float):  # np.float32(0.3) is 0.30000001..., Fraction, Decimal:
        raise InvalidParameterError(  # refused, as scikit-learn refuses them
            f"The {what!r} parameter of train_test_split must be a float in the range "
            f"(0.0, 1.0), an int in the range [1, inf) or None. Got {size!r} instead.")
    return "f"


def _size_value(size: Any, kind: str | None) -> Any:
    """A numpy scalar size as the Python number it holds (sizes stay None, int or float)."""
    return None if kind is None else (int(size) if kind == "i" else float(size))


def split_sizes(n: int, test_size: float | None = None,
                train_size: float | None = None) -> tuple[int, int]:
    """(n_train, n_test) for `n` samples, by scikit-learn's rules (`_validate_shuffle_split`):
    a float fraction of the test set is rounded up, of the train set down; an int is a count;
    the part not given is the rest; both None means test_size=0.25."""
    if test_size is None and train_size is None:
        test_size = 0.25
    ts: Any = test_size  # a real number when its kind is "i" or "f"
    rs: Any = train_size
    tk, rk = _size_kind(ts, "test_size"), _size_kind(rs, "train_size")
    ts, rs = _size_value(ts, tk), _size_value(rs, rk)
    for size, kind, what in ((ts, tk, "test_size"), (rs, rk, "train_size")):
        if (kind == "i" and not 0 < size < n) or (kind == "f" and not 0 < size < 1):
            raise InvalidParameterError(f"{what}={size!r} should be either positive and "
                                        f"smaller than the number of samples {n} or a float "
                                        "in the (0, 1) range")
    if tk == "f" and rk == "f" and rs + ts > 1:
        raise ValueError(f"The sum of test_size and train_size = {rs + ts}, should be in the "
                         "(0, 1) range. Reduce test_size and/or train_size.")
    n_test = 0 if tk is None else (math.ceil(ts * n) if tk == "f" else int(ts))
    n_train = 0 if rk is None else (math.floor(rs * n) if rk == "f" else int(rs))
    if rk is None:
        n_train = n - n_test
    elif tk is None:
        n_test = n - n_train
    if n_train + n_test > n:
        raise ValueError(f"The sum of train_size and test_size = {n_train + n_test}, should be "
                         f"smaller than the number of samples {n}. Reduce test_size and/or "
                         "train_size.")
    if n_train == 0:
        raise ValueError(f"With n_samples={n}, test_size={test_size} and "
                         f"train_size={train_size}, the resulting train set will be empty. "
                         "Adjust any of the aforementioned parameters.")
    return n_train, n_test


def approximate_mode(counts: Sequence[int], n_draws: int, rng: random.Random) -> list[int]:
    """How many of `n_draws` to take from each class of sizes `counts`, as scikit-learn's
    `_approximate_mode`: each class's share floored, the rest given one each to the largest
    remainders; the result sums to `n_draws`. A tie (any tied choice is equally the mode) goes
    first to classes that would otherwise get none, then to those with the most left over for
    the other part, then by `rng`: every class in both parts wherever the sizes allow."""
    total = sum(counts)
    continuous = [c / total * n_draws for c in counts]
    floored = [math.floor(x) for x in continuous]
    need = n_draws - sum(floored)
    if need > 0:
        remainder = [x - f for x, f in zip(continuous, floored)]
        for value in sorted(set(remainder), reverse=True):
            inds = [i for i, r in enumerate(remainder) if r == value]
            rng.shuffle(inds)
            inds.sort(key=lambda i: (floored[i] > 0, floored[i] - counts[i]))  # stable
            add = min(len(inds), need)
            for i in inds[:add]:
                floored[i] += 1
            need -= add
            if need == 0:
                break
    return floored


def _hashable(c: Any) -> Any:
    return tuple(_hashable(v) for v in c) if isinstance(c, list) else c


def _has_nan(c: Any) -> bool:
    if isinstance(c, tuple):
        return any(_has_nan(v) for v in c)
    return isinstance(c, float) and c != c


def _classes(keys: list[Any]) -> list[Any]:
    try:
        return sorted(set(keys))
    except TypeError:  # labels of mixed kinds: any fixed order will do
        return sorted(set(keys), key=repr)


def _stratified(labels: list[Any], n_train: int, n_test: int,
                rng: random.Random) -> tuple[list[int], list[int]]:
    """Train and test indices with scikit-learn's StratifiedShuffleSplit allocation."""
    keys = [_hashable(c) for c in labels]
    by_class: dict[Any, list[int]] = {}
    for i, c in enumerate(keys):
        if _has_nan(c):
            raise ValueError(f"Input y contains NaN (train_test_split: stratify label [{i}]).")
        try:
            by_class.setdefault(c, []).append(i)
        except TypeError:
            raise TypeError(f"train_test_split: stratify label [{i}] is {type(c).__name__} "
                            f"{c!r}, which cannot be a class (labels must be numbers, "
                            "strings or rows of them)") from None
    classes = _classes(keys)
    counts = [len(by_class[c]) for c in classes]
    few = [c for c, k in zip(classes, counts) if k < 2]
    if few:
        raise ValueError("The least populated classes in y have only 1 member, which is too "
                         "few. The minimum number of groups for any class cannot be less than "
                         f"2. Classes with too few members are: {few}")
    for size, what in ((n_train, "train_size"), (n_test, "test_size")):
        if size < len(classes):
            raise ValueError(f"The {what} = {size} should be greater or equal to the number "
                             f"of classes = {len(classes)}")
    n_i = approximate_mode(counts, n_train, rng)
    t_i = approximate_mode([k - a for k, a in zip(counts, n_i)], n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for c, a, b in zip(classes, n_i, t_i):
        idx = list(by_class[c])
        rng.shuffle(idx)
        train += idx[:a]
        test += idx[a:a + b]
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def _length(x: Any, what: str) -> int:
    try:
        return len(x)
    except TypeError:
        raise TypeError(f"train_test_split: {what} must be an array or a sequence, got "
                        f"{type(x).__name__}") from None


def _take(x: Any, idx: list[int]) -> Any:
    """The rows `idx` of `x`, in the container kind it came in (scikit-learn's
    `_safe_indexing`): a numpy array (or pandas object) stays one; anything else becomes a list,
    list and tuple rows as lists."""
    if hasattr(x, "iloc"):
        return x.iloc[idx]
    if _arrays.is_array(x):
        np = _arrays._numpy()
        a = x if isinstance(x, np.ndarray) else _arrays.to_ndarray(x, "train_test_split")
        return a.take(idx, axis=0)
    return [list(x[i]) if isinstance(x[i], list | tuple) else x[i] for i in idx]


class _DefaultSeed(int):
    """The default `seed` of train_test_split: 0, told apart from a seed given explicitly."""


_DEFAULT_SEED = _DefaultSeed(0)


def _seed_from(random_state: Any) -> int:
    """An int seed from `random_state`: an int, or a numpy RandomState (as scikit-learn takes
    it: one draw from it, so it advances, and the same state gives the same split)."""
    if type(random_state).__name__ == "RandomState" and hasattr(random_state, "randint"):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(f"train_test_split: random_state must be an int, a "
                        f"numpy.random.RandomState or None, got {random_state!r}")
    return int(random_state)


def train_test_split(X: Any, y: Any, test_size: float | None = None,
                     seed: int | None = _DEFAULT_SEED, stratify: Any = False, *,
                     train_size: float | None = None, shuffle: bool = True,
                     random_state: Any = None
                     ) -> tuple[Any, Any, Any, Any]:
    """Shuffle with `seed` and split into `(X_train, X_test, y_train, y_test)` (scikit-learn's
    order, sizes and errors).

    `test_size`/`train_size`: a float fraction in (0, 1) (the test part rounded up, the train
    part down) or an int count; the one left None is the rest; both None means 25% test.
    `stratify=True` keeps the class proportions of `y` in both parts (or pass the labels to
    stratify by, as in scikit-learn), with scikit-learn's StratifiedShuffleSplit allocation:
    exactly the requested sizes, every class in both parts where the sizes allow. Arrays come
    back as arrays, anything else as lists. `random_state` (an int or a numpy RandomState, as
    scikit-learn takes it) is accepted instead of `seed`, not with it; `seed=None`: fresh
    randomness; `shuffle=False` takes the first rows for training and the next for testing.
    """
    if random_state is not None:
        if seed is not _DEFAULT_SEED:
            raise ValueError(f"train_test_split: give seed or random_state, not both (got "
                             f"seed={seed!r} and random_state={random_state!r})")
        seed = _seed_from(random_state)
    n = _length(X, "X")
    if _length(y, "y") != n:
        raise ValueError(f"train_test_split: found input variables with inconsistent numbers "
                         f"of samples: {n} inputs but {_length(y, 'y')} labels")
    n_train, n_test = split_sizes(n, test_size, train_size)
    stratify_by: list[Any] | None = None
    if stratify is True:
        stratify_by = _arrays.targets(y, "train_test_split: y")
    elif stratify is not None and stratify is not False:
        stratify_by = _arrays.targets(stratify, "train_test_split: stratify")
        if len(stratify_by) != n:
            raise ValueError(f"train_test_split: stratify has {len(stratify_by)} labels for "
                             f"{n} samples")
    if not shuffle:
        if stratify_by is not None:
            raise ValueError("Stratified train/test split is not implemented for shuffle=False")
        train_idx, test_idx = list(range(n_train)), list(range(n_train, n_train + n_test))
    else:
        rng = random.Random() if seed is None else _rng(seed)
        if stratify_by is not None:
            train_idx, test_idx = _stratified(stratify_by, n_train, n_test, rng)
        else:
            order = list(range(n))
            rng.shuffle(order)
            test_idx, train_idx = order[:n_test], order[n_test:n_test + n_train]
    return _take(X, train_idx), _take(X, test_idx), _take(y, train_idx), _take(y, test_idx)


def _returned_like(X: Any, out: list[list[float]]) -> Any:
    """`out` as a float64 numpy array when `X` was an array (as scikit-learn returns), else
    the lists themselves."""
    if _arrays.is_array(X):
        return _arrays._numpy().asarray(out, dtype="float64").reshape(len(out), -1)
    return out


_EPS = sys.float_info.epsilon


def _mean_var(col: list[float], scale: float) -> tuple[float, float]:
    """Mean and population variance of `col / scale` (two passes, exactly rounded sums)."""
    n = len(col)
    xs = col if scale == 1.0 else [v / scale for v in col]
    mean = math.fsum(xs) / n
    return mean, math.fsum((v - mean) ** 2 for v in xs) / n


def _column_stats(col: list[float]) -> tuple[float, float]:
    """(mean, scale) of one feature as StandardScaler computes them: the scale is the
    standard deviation, or 1 for a feature indistinguishable from a constant (its variance
    within the rounding error of the two-pass algorithm: scikit-learn's
    `_is_constant_feature`, var <= n eps var + (n mean eps)**2), so rounding noise is not
    blown up. Values near the float limit (1e300) are scaled by the largest first."""
    n = len(col)
    try:
        mean, var = _mean_var(col, 1.0)
        big = 1.0
        bound = n * _EPS * var + (n * mean * _EPS) ** 2
    except OverflowError:  # squares beyond the float range: the same sums in units of max |x|
        big = max(abs(v) for v in col)
        mean, var = _mean_var(col, big)
        bound = n * _EPS * var + (n * mean * _EPS) ** 2  # homogeneous: the same test
        mean *= big
    if var <= bound:
        return mean, 1.0
    return mean, math.sqrt(var) * big


def _scaled(v: float, mean: float, std: float) -> float:
    """(v - mean) / std, without overflowing in the difference for values near 1e308."""
    out = (v - mean) / std
    return out if math.isfinite(out) else v / std - mean / std


class Standardizer:
    """Per-feature scaling to zero mean and unit variance, fitted on training data only
    (scikit-learn's StandardScaler). A constant feature (zero variance, like the digits' blank
    corner pixels, or a variance within rounding error of zero, as StandardScaler detects
    it) is only centred."""

    def __init__(self) -> None:
        self.mean: list[float] | None = None
        self.std: list[float] | None = None

    def fit(self, X: Any) -> Standardizer:
        """Learn each column's mean and (population) standard deviation of `X` (a 2-D array
        or a list of equal-length rows of finite numbers)."""
        rows = _arrays.rows(X, "Standardizer.fit: X")
        if not rows:
            raise ValueError("Standardizer.fit needs at least one row")
        stats = [_column_stats([row[j] for row in rows]) for j in range(len(rows[0]))]
        self.mean = [m for m, _ in stats]
        self.std = [s for _, s in stats]
        return self

    def transform(self, X: Any) -> Any:
        """(x - mean) / std per column: new lists, or a float64 array when X is an array."""
        if self.mean is None or self.std is None:
            raise RuntimeError("Standardizer.transform called before fit")
        d = len(self.mean)
        out = []
        for i, row in enumerate(_arrays.rows(X, "Standardizer.transform: X")):
            if len(row) != d:
                raise ValueError(f"Standardizer: row {i} has {len(row)} features, "
                                 f"fitted on {d}")
            out.append([_scaled(v, m, s) for v, m, s in zip(row, self.mean, self.std)])
        return _returned_like(X, out)

    def fit_transform(self, X: Any) -> Any:
        """`fit(X)` then `transform(X)`."""
        return self.fit(X).transform(X)


def standardize(X_train: Any, *others: Any) -> tuple[Any, ...]:
    """Scale `X_train` to zero mean, unit variance, and `others` (test sets) with the train
    statistics: `X_train, X_test = standardize(X_train, X_test)`. Arrays come back as float64
    arrays, lists as lists."""
    s = Standardizer().fit(X_train)
    return (s.transform(X_train), *(s.transform(X) for X in others))
