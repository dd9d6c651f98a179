"""Every nn entry point reads what scikit-learn reads: lists, tuples, array.array, numpy arrays
of any real dtype, numpy scalars, labels as Python or numpy ints; the numbers come out the same
as from plain lists, and bad data raises a clear TypeError/ValueError. numpy stays optional."""

from __future__ import annotations

import array
import subprocess
import sys

import pytest

import nn
from nn import MLP, evaluate, fit, neuron_health, predict
from nn import losses as L
from nn.data import make_blobs, make_moons, standardize, train_test_split

np = pytest.importorskip("numpy")

FLOATS = ["float16", "float32", "float64"]
INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


def _moons(n: int = 24):
    X, y = make_moons(n, noise=0.1, seed=0)
    return [[round(v, 2) for v in r] for r in X], y  # exact in float16 up to its rounding


def _same_fit(X_list, y_list, X_other, y_other, nout=1, **kw):
    a = fit(MLP(2, [3, nout], seed=0), X_list, y_list, epochs=2, batch_size=8, progress=False,
            **kw)
    b = fit(MLP(2, [3, nout], seed=0), X_other, y_other, epochs=2, batch_size=8,
            progress=False, **kw)
    assert a.loss == b.loss and a.accuracy == b.accuracy
    return b


@pytest.mark.parametrize("xdtype", FLOATS + INTS)
@pytest.mark.parametrize("ydtype", INTS + ["bool"])
def test_fit_evaluate_predict_on_numpy_equal_the_list_results(xdtype: str, ydtype: str) -> None:
    X, y = _moons()
    Xa = np.array(X).astype(xdtype) if xdtype in FLOATS else (np.array(X) * 10).astype(xdtype)
    X_list = Xa.astype(np.float64).tolist()  # the same numbers as Python floats
    ya = np.array(y).astype(ydtype)
    h = _same_fit(X_list, y, Xa, ya)
    assert h.accuracy[-1] is not None  # numpy ints (and bools) are class labels: BCE on logits
    m = MLP(2, [3, 1], seed=0)
    assert evaluate(m, Xa, ya) == evaluate(m, X_list, y)
    assert predict(m, Xa) == predict(m, X_list)
    assert all(type(c) is int for c in predict(m, Xa))


@pytest.mark.parametrize("make", [
    lambda X: X,
    lambda X: tuple(tuple(r) for r in X),
    lambda X: [array.array("d", r) for r in X],
    lambda X: [np.array(r, dtype=np.float32) for r in X],
    lambda X: [[np.float64(v) for v in r] for r in X],
    lambda X: np.array(X, dtype=object),
], ids=["lists", "tuples", "array.array rows", "numpy rows", "numpy scalars", "object array"])
def test_every_row_container_reads_alike(make) -> None:
    X, y = _moons()
    X = np.array(X, dtype=np.float32).astype(np.float64).tolist()
    for ys in (y, tuple(y), array.array("q", y), [np.int64(c) for c in y]):
        _same_fit(X, y, make(X), ys)


def test_int64_labels_pick_the_classification_loss_like_python_ints() -> None:
    X, y = make_blobs(30, centers=3, seed=0)
    Xa, ya = np.array(X), np.array(y, dtype=np.int64)
    h = fit(MLP(2, [4, 3], seed=0), Xa, ya, epochs=2, progress=False)
    assert h.accuracy[-1] is not None
    h2 = fit(MLP(2, [4, 3], seed=0), X, y, epochs=2, progress=False)
    assert h.loss == h2.loss
    X2, y2 = make_moons(20, seed=0)
    m = MLP(2, [3, 1], seed=0)
    assert nn.train.resolve_loss("auto", m(X2[0]), nn.arrays.targets(np.array(y2))) is \
        L.binary_cross_entropy_with_logits
    assert nn.train.resolve_loss("auto", m(X2[0]), nn.arrays.targets(2 * np.array(y2) - 1)) \
        is L.hinge


def test_column_vector_targets_are_flattened_for_one_output() -> None:
    X, y = _moons()
    Xa = np.array(X)
    col = np.array(y).reshape(-1, 1)
    _same_fit(X, y, Xa, col)
    m = MLP(2, [3, 1], seed=0)
    assert evaluate(m, Xa, col) == evaluate(m, X, y)


def test_vector_targets_from_a_2d_array() -> None:
    X, y = _moons()
    Y = np.array([[c, 1 - c] for c in y], dtype=np.float32)
    h = _same_fit(X, Y.tolist(), np.array(X), Y, nout=2, loss="mse")
    assert h.accuracy == [None, None]


def test_validation_accepts_arrays() -> None:
    X, y = _moons()
    h = fit(MLP(2, [3, 1], seed=0), np.array(X), np.array(y), epochs=1, progress=False,
            validation=(np.array(X[:6]), np.array(y[:6], dtype=np.uint8)))
    assert h.val_accuracy[0] is not None


@pytest.mark.parametrize("dtype", FLOATS + ["int32"])
def test_losses_accept_arrays_and_numpy_scalars(dtype: str) -> None:
    from autograd_lite import Value

    preds = [Value(0.3), Value(-0.2), Value(1.5)]
    t = np.array([1, 0, 1]).astype(dtype)
    assert L.mse(preds, t).data == L.mse(preds, [1.0, 0.0, 1.0]).data
    assert L.binary_cross_entropy_with_logits(preds, t).data == \
        L.binary_cross_entropy_with_logits(preds, [1, 0, 1]).data
    assert L.hinge(preds, 2 * t - 1).data == L.hinge(preds, [1, -1, 1]).data
    assert L.mse(preds[0], t[0]).data == L.mse(preds[0], 1.0).data
    if dtype in FLOATS:  # float predictions as an array: lifted to Values
        assert L.mse(np.array([0.5, 0.25], dtype=dtype), [0.0, 0.0]).data == 0.15625
    logits = [[Value(0.1), Value(2.0), Value(-1.0)], [Value(0.0), Value(0.0), Value(3.0)]]
    labels = np.array([1, 2], dtype=np.int64)
    for f in (L.cross_entropy, L.multi_margin):
        assert f(logits, labels).data == f(logits, [1, 2]).data
        assert f(logits[0], np.int64(1)).data == f(logits[0], 1).data
    assert L.cross_entropy(np.array([[0.1, 2.0, -1.0]]), np.array([1])).data == \
        pytest.approx(L.cross_entropy([[0.1, 2.0, -1.0]], [1]).data, abs=0)
    assert L.mse(preds, np.array([True, False, True])).data == L.mse(preds, [1, 0, 1]).data


@pytest.mark.parametrize("call, exc, match", [
    (lambda: L.mse([1.0], np.array([1 + 2j])), TypeError, "complex"),
    (lambda: L.mse([1.0], np.array(["a"])), TypeError, "number"),
    (lambda: L.mse([1.0], np.array([np.nan])), ValueError, "not finite"),
    (lambda: L.cross_entropy([[0.0, 1.0]], np.array([0.0])), TypeError, "int class index"),
    (lambda: L.cross_entropy([[0.0, 1.0]], np.array([2])), ValueError, "out of range"),
])
def test_losses_reject_bad_arrays(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("dtype", FLOATS + INTS)
def test_neuron_health_on_a_2d_array(dtype: str) -> None:
    X, _ = _moons()
    Xa = (np.array(X) * (1 if dtype in FLOATS else 10)).astype(dtype)
    m = MLP(2, [4, 1], activation="relu", seed=0)
    assert neuron_health(m, Xa) == neuron_health(m, Xa.astype(np.float64).tolist())


def test_data_helpers_take_numpy_ints() -> None:
    assert make_moons(np.int64(10), noise=np.float32(0.0), seed=np.int32(0)) == make_moons(10, 0.0)
    centers = np.array([[0.0, 0.0], [5.0, 5.0]])
    assert make_blobs(10, centers=centers, seed=0) == \
        make_blobs(10, centers=centers.tolist(), seed=0)
    assert make_blobs(10, centers=np.int8(2), seed=0) == make_blobs(10, centers=2, seed=0)
    h = fit(MLP(2, [2, 1], seed=0), *make_moons(8), epochs=np.int64(1), batch_size=np.int32(4),
            seed=np.uint8(3), progress=False)
    assert h.epochs == 1


def test_split_standardize_fit_pipeline_on_arrays() -> None:
    X, y = make_moons(80, noise=0.1, seed=0)
    Xa, ya = np.array(X, dtype=np.float32), np.array(y, dtype=np.int64)
    Xtr, Xte, ytr, yte = train_test_split(Xa, ya, test_size=0.25, stratify=True)
    Xtr, Xte = standardize(Xtr, Xte)
    m = MLP(2, [8, 1], seed=0)
    fit(m, Xtr, ytr, epochs=5, progress=False)
    _, acc = evaluate(m, Xte, yte)
    assert acc == nn.accuracy(yte, predict(m, Xte))


@pytest.mark.parametrize("X, exc, match", [
    (np.zeros((4, 2), dtype=np.complex128), TypeError, "complex"),
    (np.array([["a", "b"]] * 4), TypeError, "string"),
    (np.array([["a", "b"]] * 4, dtype=object), TypeError, r"X\[0\]\[0\] must be a real"),
    (np.zeros((4, 2, 1)), ValueError, "2-D"),
    (np.zeros(4), ValueError, r"reshape\(-1, 1\)"),
    ([[0.0, 1.0], [0.0]] * 2, ValueError, "ragged"),
    ([[0.0, float("nan")]] * 4, ValueError, r"X\[0\]\[1\] is nan"),
    (np.array([[0.0, np.inf]] * 4), ValueError, r"X\[0\]\[1\] is inf"),
    ([[0.0, 1 + 1j]] * 4, TypeError, "complex"),
    ([0.0, 1.0, 2.0, 3.0], ValueError, "row of numbers"),
    ("abcd", TypeError, "list of rows"),
    ([[[0.0, 1.0]]] * 4, ValueError, "2-D"),
    (np.float64(1.0), TypeError, "2-D array or a list of rows"),
    (np.array(1.0), ValueError, "0-D"),
    (np.array([["2020-01-01"] * 2] * 4, dtype="datetime64[D]"), TypeError, "datetime"),
])
@pytest.mark.parametrize("entry", ["fit", "evaluate", "predict", "neuron_health"])
def test_bad_inputs_raise_clearly_at_every_entry_point(X, exc, match, entry: str) -> None:
    m = MLP(2, [2, 1], seed=0)
    y = [0, 1, 0, 1]
    calls = {
        "fit": lambda: fit(m, X, y, epochs=1, progress=False),
        "evaluate": lambda: evaluate(m, X, y),
        "predict": lambda: predict(m, X),
        "neuron_health": lambda: neuron_health(m, X),
    }
    with pytest.raises(exc, match=match):
        calls[entry]()


@pytest.mark.parametrize("y, exc, match", [
    (np.zeros(4, dtype=np.complex64), TypeError, "complex"),
    (np.zeros((4, 1, 1)), ValueError, "1-D"),
    (np.array([0, 1, 2]), ValueError, "4 inputs but 3 labels"),
    (np.array([0.0, np.nan, 1.0, 0.0]), ValueError, "not finite"),
    (3, TypeError, "sequence of targets"),
])
def test_bad_targets_raise_clearly(y, exc, match) -> None:
    m = MLP(2, [2, 1], seed=0)
    X = [[0.0, 1.0]] * 4
    with pytest.raises(exc, match=match):
        fit(m, X, y, epochs=1, progress=False)
    with pytest.raises(exc, match=match):
        evaluate(m, X, y)


def test_nn_imports_and_trains_without_numpy() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'numpy' or name.startswith('numpy.'):\n"
        "            raise ImportError('numpy is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import array, nn\n"
        "from nn.data import make_moons, train_test_split, standardize\n"
        "X, y = make_moons(40, seed=0)\n"
        "Xtr, Xte, ytr, yte = train_test_split(X, array.array('q', y), stratify=True)\n"
        "Xtr, Xte = standardize(Xtr, Xte)\n"
        "m = nn.MLP(2, [3, 1], seed=0)\n"
        "h = nn.fit(m, tuple(map(tuple, Xtr)), ytr, epochs=1, progress=False)\n"
        "assert h.accuracy[0] is not None\n"
        "print(nn.evaluate(m, Xte, yte)[1] is not None, 'numpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"]


def test_constructors_and_optimizers_take_numpy_numbers() -> None:
    m = MLP(np.int64(2), np.array([3, 1]), seed=np.int32(0))
    assert m.state_dict() == MLP(2, [3, 1], seed=0).state_dict()
    assert nn.Neuron(np.uint8(2), seed=0).nin == 2
    opt = nn.SGD(m.parameters(), lr=np.float32(0.5), momentum=np.float64(0.9))
    assert type(opt.lr) is float and opt.lr == 0.5
    assert nn.Adam(m.parameters(), lr=np.float16(0.25), betas=(np.float32(0.5), 0.9)).lr == 0.25
    with pytest.raises(TypeError, match="lr"):
        nn.SGD(m.parameters(), lr=np.array([0.1, 0.2]))


def test_rnn_unroll_reads_a_time_by_features_array() -> None:
    cell = nn.RNNCell(2, 3, seed=0)
    seq = np.array([[0.5, -1.0], [0.25, 0.75], [1.0, 0.0]], dtype=np.float32)
    got = [[v.data for v in h] for h in cell.unroll(seq)]
    assert got == [[v.data for v in h] for h in cell.unroll(seq.astype(np.float64).tolist())]


@pytest.mark.parametrize("y", [np.array(["cat", "dog"] * 2), ["cat", "dog"] * 2])
def test_string_labels_say_how_to_encode_them(y) -> None:
    m = MLP(2, [2, 1], seed=0)
    X = np.zeros((4, 2))
    for call in (lambda: fit(m, X, y, progress=False), lambda: evaluate(m, X, y)):
        with pytest.raises(TypeError, match="LabelEncoder"):
            call()
    assert nn.accuracy(y, y) == 1.0  # scoring string labels is fine, as in scikit-learn


def _real_dtypes():
    from hypothesis.extra import numpy as hnp

    return hnp.floating_dtypes(sizes=(16, 32, 64)) | hnp.integer_dtypes() | \
        hnp.unsigned_integer_dtypes() | hnp.boolean_dtypes()


def test_any_real_array_reads_as_its_float64_values() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @settings(max_examples=60, deadline=None)
    @given(a=hnp.arrays(_real_dtypes(), st.tuples(st.integers(1, 5), st.integers(1, 4)),
                        elements={"allow_nan": False, "allow_infinity": False}),
           order=st.sampled_from(["C", "F"]))
    def check(a, order) -> None:
        a = np.asarray(a, order=order)
        want = a.astype(np.float64).tolist()
        assert nn.arrays.rows(a) == want
        assert nn.arrays.rows([list(r) for r in a]) == want  # numpy scalars in lists
        m = nn.Layer(a.shape[1], 2, "linear", seed=0)
        assert predict(m, a) == predict(m, want)
        labels = nn.arrays.targets(a[:, 0])
        assert labels == (a[:, 0].astype(np.int64) if a.dtype.kind == "b" else a[:, 0]).tolist()
        assert all(type(v) is (float if a.dtype.kind == "f" else int) for v in labels)

    check()


def test_a_2d_memoryview_reads_as_its_rows_as_sklearn() -> None:
    pre = pytest.importorskip("sklearn.preprocessing")
    a = np.array([[1.0, 2.0], [3.0, 5.0], [4.0, 9.0]])
    mv = memoryview(a)
    assert nn.arrays.rows(mv) == a.tolist()
    assert np.allclose(standardize(mv)[0], pre.StandardScaler().fit_transform(mv))
    assert nn.arrays.targets(memoryview(np.array([0, 1, 1]))) == [0, 1, 1]


def test_longdouble_beyond_float64_is_refused_after_the_cast() -> None:
    big = np.array([[1e300, 1.0], [0.5, 0.25]], dtype=np.longdouble)
    if np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("longdouble is float64 on this platform")
    big[0, 0] *= np.longdouble(1e100)  # finite as longdouble, beyond float64
    assert np.isfinite(big).all()
    with pytest.raises(ValueError, match=r"X\[0\]\[0\] is inf"):
        nn.arrays.rows(big)
    with pytest.raises(ValueError, match=r"predict: X\[0\]\[0\]"):
        predict(MLP(2, [1], seed=0), big)


@pytest.mark.parametrize("huge", [10**400, -(10**400)])
def test_an_int_beyond_the_float_range_is_a_value_error_naming_the_position(huge) -> None:
    with pytest.raises(ValueError, match=r"predict: X\[1\]\[0\] is int .*beyond the float range"):
        predict(MLP(2, [1], seed=0), [[1, 2], [huge, 1]])


def test_multiclass_labels_in_a_column_are_raveled_as_sklearn() -> None:
    X, y = make_blobs(30, centers=3, seed=0)
    col = np.array(y).reshape(-1, 1)
    runs = []
    for labels in (y, col):
        m = MLP(2, [4, 3], seed=0)
        h = fit(m, X, labels, epochs=2, progress=False)
        runs.append((h.loss, h.accuracy, evaluate(m, X, labels)))
    assert runs[0] == runs[1]
    assert runs[0][1][0] is not None  # cross-entropy on the 3 classes
