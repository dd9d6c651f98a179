"""train_test_split against scikit-learn itself: the same train and test sizes, the same
per-class counts when stratified (up to scikit-learn's random tie-breaking), the same errors,
over a grid of sample counts, test sizes and class balances; and standardize on numpy input."""

from __future__ import annotations

import array
import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nn import data

np = pytest.importorskip("numpy")
model_selection = pytest.importorskip("sklearn.model_selection")
extmath = pytest.importorskip("sklearn.utils.extmath")

SIZES = [2, 3, 4, 5, 7, 10, 11, 20, 25, 33, 50, 100, 101, 1797]
TEST_SIZES = [None, 0.01, 0.1, 0.2, 0.25, 1 / 3, 0.5, 0.75, 0.9, 0.99, 1, 2, 3, 5, 9, 10, 99]
BALANCES = [(1, 1), (1, 3), (1, 9), (1, 49), (1, 1, 1), (5, 3, 2), (1, 2, 3, 4), (1,) * 10]


def _labels(n: int, balance: tuple[int, ...]) -> np.ndarray:
    w = np.array(balance) / sum(balance)
    counts = np.floor(w * n).astype(int)
    counts[0] += n - counts.sum()
    rng = np.random.default_rng(n)
    return rng.permutation(np.repeat(np.arange(len(balance)), counts))


def _both(call_sk, call_ours):
    try:
        theirs, err = call_sk(), None
    except ValueError as e:
        theirs, err = None, e
    if err is not None:
        with pytest.raises(ValueError) as got:
            call_ours()
        return None, None, err, got.value
    return theirs, call_ours(), None, None


def _ties(counts: np.ndarray, n_train: int) -> bool:
    """Whether scikit-learn's allocation has a random tie (then per-class counts may differ)."""
    cont = counts / counts.sum() * n_train
    rem = cont - np.floor(cont)
    need = n_train - int(np.floor(cont).sum())
    if need == 0:
        return False
    values = np.sort(np.unique(rem))[::-1]
    for v in values:
        k = int((rem == v).sum())
        if k > need:
            return True
        need -= k
        if need == 0:
            return False
    return False


@pytest.mark.parametrize("stratify", [False, True])
@pytest.mark.parametrize("balance", BALANCES, ids=str)
def test_sizes_and_class_counts_match_sklearn(balance: tuple[int, ...], stratify: bool) -> None:
    compared = 0
    for n in SIZES:
        y = _labels(n, balance)
        X = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
        for ts in TEST_SIZES:
            def sk(ts=ts, X=X, y=y):
                return model_selection.train_test_split(
                    X, y, test_size=ts, random_state=0, stratify=y if stratify else None)

            def ours(ts=ts, X=X, y=y):
                return data.train_test_split(X, y, test_size=ts, seed=0, stratify=stratify)

            theirs, mine, err, got = _both(sk, ours)
            if err is not None:
                continue
            compared += 1
            assert [len(p) for p in mine] == [len(p) for p in theirs], (n, ts)
            Xtr, Xte, ytr, yte = mine
            assert isinstance(Xtr, np.ndarray) and Xtr.dtype == np.float32
            assert isinstance(yte, np.ndarray) and yte.dtype == y.dtype
            assert sorted(np.concatenate([Xtr, Xte])[:, 0].tolist()) == X[:, 0].tolist()
            assert (np.concatenate([ytr, yte]) == y[np.concatenate([Xtr, Xte])[:, 0]
                                                     .astype(int) // 2]).all()
            if stratify:
                k = len(balance)
                counts = np.bincount(y, minlength=k)
                if not _ties(counts, len(ytr)):
                    assert np.bincount(yte, minlength=k).tolist() == \
                        np.bincount(theirs[3], minlength=k).tolist(), (n, ts)
                else:  # a tie broken at random: each class within one of its share
                    share = counts * len(yte) / n
                    assert (abs(np.bincount(yte, minlength=k) - share) < 1).all()
                both = (np.bincount(theirs[2], minlength=k) > 0) & \
                    (np.bincount(theirs[3], minlength=k) > 0)
                if both.all():  # every class in both parts wherever scikit-learn manages it
                    assert (np.bincount(ytr, minlength=k) > 0).all()
                    assert (np.bincount(yte, minlength=k) > 0).all()
    assert compared > 20


@pytest.mark.parametrize("n, test_size, train_size", [
    (10, None, None), (10, 0.3, None), (10, None, 0.3), (10, 0.3, 0.5), (10, 3, 5),
    (10, 3, None), (10, None, 7), (10, 0.25, 6), (7, 0.5, 0.5), (7, 0.6, 0.6), (10, 6, 6),
    (10, 0.0, None), (10, 1.0, None), (10, 0, None), (10, 10, None), (10, -1, None),
    (10, None, 10), (10, 0.95, None), (10, None, 0.05), (10, np.int64(4), None),
    (3, 0.999, None),
])
def test_size_rules_and_errors_match_sklearn(n, test_size, train_size) -> None:
    X = [[float(i)] for i in range(n)]
    y = [i % 2 for i in range(n)]

    def sk():
        return model_selection.train_test_split(X, y, test_size=test_size,
                                                train_size=train_size, random_state=0)

    def ours():
        return data.train_test_split(X, y, test_size=test_size, train_size=train_size)

    theirs, mine, err, got = _both(sk, ours)
    if err is None:
        assert [len(p) for p in mine] == [len(p) for p in theirs]
        assert isinstance(mine[0], list) and isinstance(mine[3], list)


@pytest.mark.parametrize("bad", ["0.3", True, [0.3], 1.5 + 0j])
def test_a_size_of_the_wrong_type_is_a_value_and_type_error(bad) -> None:
    with pytest.raises(ValueError, match="test_size") as e:
        data.train_test_split([[0.0]] * 4, [0, 1, 0, 1], test_size=bad)
    assert isinstance(e.value, TypeError)


def test_numpy_scalar_sizes_are_read_as_their_python_numbers() -> None:
    X, y = [[float(i)] for i in range(10)], [0, 1] * 5
    for size, n_test in ((np.float64(0.3), 3), (np.int32(4), 4), (np.uint8(2), 2)):
        assert len(data.train_test_split(X, y, test_size=size)[1]) == n_test


def test_stratified_errors_match_sklearn() -> None:
    X = [[float(i)] for i in range(10)]
    for y, ts in [([0] * 9 + [1], 0.3), ([0, 1] * 5, 1), ([0, 1, 2, 3, 4] * 2, 0.3)]:
        with pytest.raises(ValueError) as theirs:
            model_selection.train_test_split(X, y, test_size=ts, stratify=y)
        with pytest.raises(ValueError) as mine:
            data.train_test_split(X, y, test_size=ts, stratify=True)
        assert str(mine.value) == str(theirs.value)
    with pytest.raises(ValueError, match="shuffle=False"):
        data.train_test_split(X, [0, 1] * 5, stratify=True, shuffle=False)


def test_asking_for_one_of_ten_or_25_of_100_gives_exactly_that() -> None:
    y = [0] * 5 + [1] * 5
    _, Xte, _, yte = data.train_test_split([[float(i)] for i in range(10)], y, test_size=2,
                                           stratify=True)
    assert sorted(yte) == [0, 1]
    y = [i % 4 for i in range(100)]
    _, Xte, _, yte = data.train_test_split([[float(i)] for i in range(100)], y,
                                           test_size=0.25, stratify=True)
    assert len(Xte) == 25 and sorted(set(yte)) == [0, 1, 2, 3]
    y = [0] * 50 + [1] * 50
    _, Xte, _, _ = data.train_test_split([[float(i)] for i in range(100)], y, test_size=0.1,
                                         stratify=True)
    assert len(Xte) == 10


def test_stratify_accepts_labels_as_sklearn_does() -> None:
    X = np.arange(40.0).reshape(20, 2)
    y = np.arange(20, dtype=np.uint8) % 2
    groups = np.array(["a"] * 10 + ["b"] * 10)
    Xtr, Xte, ytr, yte = data.train_test_split(X, y, test_size=0.5, stratify=groups, seed=3)
    assert sorted(((Xte[:, 0] // 2) >= 10).tolist()) == [False] * 5 + [True] * 5
    assert ytr.dtype == np.uint8
    Xtr, Xte, ytr, yte = data.train_test_split(X, y, test_size=4, shuffle=False)
    assert Xte[:, 0].tolist() == [32.0, 34.0, 36.0, 38.0] and len(Xtr) == 16
    one_hot = [[1, 0], [0, 1]] * 5  # vector labels stratify by row
    _, _, _, yte = data.train_test_split([[0.0]] * 10, one_hot, test_size=4, stratify=True)
    assert sorted(map(tuple, yte)) == [(0, 1), (0, 1), (1, 0), (1, 0)]
    a = data.train_test_split(X, y, random_state=5)
    b = data.train_test_split(X, y, seed=5)
    assert all((p == q).all() for p, q in zip(a, b))


@pytest.mark.parametrize("make", [list, tuple, lambda v: array.array("d", v), np.asarray])
def test_split_reads_any_sequence_kind(make) -> None:
    y = make([0.0, 1.0] * 6)
    Xtr, Xte, ytr, yte = data.train_test_split([[float(i)] for i in range(12)], y, test_size=3)
    assert len(ytr) == 9 and len(yte) == 3


def test_inconsistent_lengths_and_non_sequences_raise() -> None:
    with pytest.raises(ValueError, match="inconsistent"):
        data.train_test_split(np.zeros((4, 2)), np.zeros(5))
    with pytest.raises(TypeError, match="X must be"):
        data.train_test_split(3, [0])


@pytest.mark.parametrize("counts, n_draws", [
    ([4, 2], 3), ([5, 2], 4), ([98, 2], 98), ([10, 10, 10], 10), ([1, 2, 3, 94], 25),
    ([3, 3, 3, 3], 6), ([7, 11, 13], 20),
])
def test_approximate_mode_matches_sklearn_totals(counts, n_draws) -> None:
    import random

    ours = data.approximate_mode(counts, n_draws, random.Random(0))
    theirs = extmath._approximate_mode(np.array(counts), n_draws, 0).tolist()
    assert sum(ours) == n_draws
    assert sorted(ours) == sorted(theirs) or all(abs(a - b) <= 1 for a, b in zip(ours, theirs))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int64", "uint8"])
def test_standardize_on_numpy_matches_sklearn(dtype: str) -> None:
    pre = pytest.importorskip("sklearn.preprocessing")
    rng = np.random.default_rng(0)
    X = (rng.normal(3, 2, size=(30, 3)) * 10).astype(dtype)
    X[:, 2] = 7  # a constant column is only centred
    T = (rng.normal(0, 1, size=(5, 3)) * 10).astype(dtype)
    Xs, Ts = data.standardize(X, T)
    sc = pre.StandardScaler().fit(X.astype(np.float64))
    assert isinstance(Xs, np.ndarray) and Xs.dtype == np.float64 and Xs.shape == (30, 3)
    assert np.allclose(Xs, sc.transform(X.astype(np.float64)), rtol=1e-9, atol=1e-9)
    assert np.allclose(Ts, sc.transform(T.astype(np.float64)), rtol=1e-9, atol=1e-9)
    assert math.isclose(float(Xs[:, 0].mean()), 0.0, abs_tol=1e-12)


@pytest.mark.parametrize("bad, exc, match", [
    (np.array([[1.0, np.nan], [2.0, 3.0]]), ValueError, r"\[0\]\[1\] is nan"),
    (np.array([[1.0, 2.0], [np.inf, 3.0]]), ValueError, r"\[1\]\[0\] is inf"),
    (np.array([[1 + 1j, 2.0]]), TypeError, "complex"),
    (np.array([["a", "b"]]), TypeError, "string"),
    (np.array([[1.0, "b"]], dtype=object), TypeError, r"\[0\]\[1\]"),
    (np.zeros((2, 2, 2)), ValueError, "2-D"),
    (np.zeros(4), ValueError, "reshape"),
    ([[1.0, 2.0], [3.0]], ValueError, "ragged"),
    ([1.0, 2.0], ValueError, "row of numbers"),
])
def test_standardize_rejects_bad_input_clearly(bad, exc, match) -> None:
    with pytest.raises(exc, match=match):
        data.standardize(bad)


@pytest.mark.parametrize("balance", [(1, 3), (1, 9), (1, 2, 3, 4), (2, 5), (1, 49)], ids=str)
def test_every_class_in_both_parts_whenever_sklearn_manages_it(balance) -> None:
    """Ties in the allocation are broken towards the classes that would be missing, so for
    any seed scikit-learn keeps every class in both parts with, ours does too."""
    for n in (7, 11, 20, 25, 50, 101):
        y = _labels(n, balance)
        X = np.zeros((n, 1))
        k = len(balance)
        for ts in (0.1, 0.25, 0.5, 0.75, 2, 5):
            for rs in range(4):
                try:
                    r = model_selection.train_test_split(X, y, test_size=ts, stratify=y,
                                                         random_state=rs)
                except ValueError:
                    break
                o = data.train_test_split(X, y, test_size=ts, stratify=True, seed=rs)
                if all((np.bincount(p, minlength=k) > 0).all() for p in r[2:]):
                    assert all((np.bincount(p, minlength=k) > 0).all() for p in o[2:]), \
                        (n, ts, rs)


def _sk_constant(col: np.ndarray) -> bool:
    """scikit-learn's own test of a feature indistinguishable from a constant."""
    pre_data = pytest.importorskip("sklearn.preprocessing._data")
    n = len(col)
    return bool(pre_data._is_constant_feature(np.var(col), np.mean(col), n))


@given(center=st.floats(-1e9, 1e9, allow_nan=False),
       noise=st.sampled_from([0.0, 1e-16, 1e-12, 1e-9, 1e-7, 1e-3, 1.0]),
       n=st.integers(2, 30), seed=st.integers(0, 2**32 - 1))
def test_standardize_scales_a_near_constant_feature_by_one_as_standard_scaler(
        center, noise, n, seed) -> None:
    """A column whose variance is within rounding error of zero is only centred (scale 1),
    by the test StandardScaler applies; other columns are divided by their std."""
    pre = pytest.importorskip("sklearn.preprocessing")
    col = center + np.random.default_rng(seed).normal(0.0, noise, n) * max(abs(center), 1.0)
    X = col.reshape(-1, 1)
    s = data.Standardizer().fit(X)
    sc = pre.StandardScaler().fit(X)
    eps = np.finfo(np.float64).eps
    var, mean = sc.var_[0], sc.mean_[0]
    bound = n * eps * var + (n * mean * eps) ** 2  # StandardScaler's _is_constant_feature
    assert _sk_constant(col) == (var <= bound)
    slack = 4 * n * abs(mean) * eps  # sklearn's float sums against our exactly rounded ones
    if var <= bound / 4:  # clearly constant for both
        assert s.std[0] == 1.0 and sc.scale_[0] == 1.0
        assert np.allclose(s.transform(X), sc.transform(X), rtol=1e-9, atol=slack)
    elif var >= 4 * bound:  # clearly not: the standard deviation
        assert math.isclose(s.std[0], sc.scale_[0], rel_tol=1e-9, abs_tol=slack)


def test_standardize_does_not_divide_by_rounding_noise() -> None:
    pre = pytest.importorskip("sklearn.preprocessing")
    X = np.array([[0.9999999999999999, 1.0], [1.0, 2.0], [1.0, 3.0], [1.0, 4.0]])
    T = np.array([[1.5, 0.0]])
    ours = data.standardize(X, T)[1]
    theirs = pre.StandardScaler().fit(X).transform(T)
    assert ours[0].tolist() == pytest.approx(theirs[0].tolist(), rel=1e-12)
    assert ours[0, 0] == 0.5  # centred only, not 9e15


def test_standardize_values_near_the_float_limit_without_overflow() -> None:
    X = [[1e300], [-1e300], [3e300], [1e300]]
    Xs, Ts = data.standardize(X, [[2e300]])
    ref = np.array([1.0, -1.0, 3.0, 1.0])  # the same column in units of 1e300
    expected = (ref - ref.mean()) / ref.std()
    assert [r[0] for r in Xs] == pytest.approx(expected.tolist(), rel=1e-12)
    assert Ts[0][0] == pytest.approx((2.0 - ref.mean()) / ref.std(), rel=1e-12)
    s = data.Standardizer().fit([[1.7e308], [-1.7e308]])
    assert s.transform([[1.7e308]]) == [[pytest.approx(1.0)]]


@pytest.mark.parametrize("size", [np.float32(0.3), np.float16(0.5), Fraction(3, 10)],
                         ids=["float32", "float16", "Fraction"])
@pytest.mark.parametrize("which", ["test_size", "train_size"])
def test_split_sizes_of_a_float_type_other_than_float_are_refused_as_sklearn(size, which) -> None:
    X, y = np.zeros((10, 1)), np.arange(10)
    with pytest.raises(ValueError, match=which) as theirs:
        model_selection.train_test_split(X, y, **{which: size})
    with pytest.raises(data.InvalidParameterError, match=which) as ours:
        data.train_test_split(X, y, **{which: size})
    assert str(ours.value) == str(theirs.value)
    assert len(data.train_test_split(X, y, **{which: np.float64(0.3)})[1]) == \
        len(model_selection.train_test_split(X, y, **{which: np.float64(0.3)})[1])


@pytest.mark.parametrize("labels", [[float("nan")] * 5 + [1.0] * 5,
                                    np.array([np.nan] * 5 + [1.0] * 5)], ids=["list", "array"])
def test_nan_stratify_labels_raise_as_sklearn(labels) -> None:
    X = np.arange(10).reshape(-1, 1)
    with pytest.raises(ValueError, match="Input y contains NaN"):
        model_selection.train_test_split(X, np.arange(10), stratify=labels, test_size=0.4)
    with pytest.raises(ValueError, match=r"Input y contains NaN.*\[0\]"):
        data.train_test_split(X, np.arange(10), stratify=labels, test_size=0.4)


def test_unhashable_stratify_labels_are_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match=r"stratify label \[1\] is dict"):
        data.train_test_split([[0.0]] * 4, [0, 1, 0, 1], stratify=[1, {"a": 1}, 1, 2])


def test_random_state_as_a_numpy_random_state_and_not_with_seed() -> None:
    X, y = np.arange(20).reshape(-1, 1), np.arange(20) % 2
    a = data.train_test_split(X, y, random_state=np.random.RandomState(7))
    b = data.train_test_split(X, y, random_state=np.random.RandomState(7))
    assert all((p == q).all() for p, q in zip(a, b))  # the same state, the same split
    rs = np.random.RandomState(7)
    first = data.train_test_split(X, y, random_state=rs)[1]
    assert not (first == data.train_test_split(X, y, random_state=rs)[1]).all()  # it advances
    with pytest.raises(TypeError, match="random_state"):
        data.train_test_split(X, y, random_state=np.random.default_rng(0))  # sklearn refuses
    for seed in (0, 5, None):
        with pytest.raises(ValueError, match="not both"):
            data.train_test_split(X, y, seed=seed, random_state=5)
    assert all((p == q).all() for p, q in zip(data.train_test_split(X, y),
                                                data.train_test_split(X, y, seed=0)))
