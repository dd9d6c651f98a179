"""A compiled `fit` called in a loop reuses the previous fit's encoded training set only when
the new rows and targets encode to exactly the same bits: every kind of in-place change
between two fits (a value, 0.0 <-> -0.0, a row appended, removed or replaced, a label, X as
numpy then as lists) is seen, the encoded rows are always those of the data now given, and
training stays the interpreter's, bit for bit."""

from __future__ import annotations

import random
import struct
import warnings
from array import array

import pytest

import nn
from autograd_lite import Value
from nn import compiled as nc

from .test_compiled_fit_flat_state import (
    bits,
    fresh_caches,  # noqa: F401 - autouse: applies here
    state,
)

np = pytest.importorskip("numpy")

BATCH = 8


def data(n=40, k=10, classes=3, seed=0, zero_column=True):
    """Rows with a column of zeros (as the digits' blank pixels) and a few scattered zeros."""
    rng = random.Random(seed)
    X = [[rng.uniform(-2, 2) for _ in range(k)] for _ in range(n)]
    for i, r in enumerate(X):
        if zero_column:
            r[2] = 0.0
        if i % 7 == 0:
            r[0] = 0.0
    y = [int(sum(x) * 7) % classes for x in X]
    return X, y


def expected_table(X, y, classes=3, size=BATCH):
    """The encoded rows, built here independently: inputs, one-hot label, 1/batch size."""
    out = array("d")
    for x, t in zip(X, y):
        out.extend(float(v) for v in x)
        out.extend(1.0 if c == t else 0.0 for c in range(classes))
        out.append(1.0 / size)
    return out.tobytes()


def the_step(m):
    return nc._steps[m]["auto"]


def run(X, y, m, opt, seed, compiled):
    h = nn.fit(m, X, y, loss="cross_entropy", optimizer=opt, epochs=1, batch_size=BATCH,
               seed=seed, progress=False, compiled=compiled)
    return h.loss, h.accuracy


def loop(compiled, change, xy=None, runs=3):
    """Fits in a loop, `change(i, X, y)` (returning the X and y to give) before fit i > 0;
    with compiled=True, the encoded rows after each fit are checked against `expected_table`."""
    X, y = xy if xy is not None else data()
    m = nn.MLP(10, [6, 3], activation="tanh", seed=1)
    opt = nn.Adam(m.parameters(), lr=0.05)
    hist = []
    for i in range(runs):
        if i:
            X, y = change(i, X, y)
        hist.append(run(X, y, m, opt, i, compiled))
        if compiled:
            kept = the_step(m)._kept
            if kept is not None:
                xs = X.tolist() if hasattr(X, "tolist") else X
                assert kept.table[2].tobytes() == expected_table(xs, list(y))
    return bits(m), state(opt), hist


def same_as_interpreter(change, xy=None):
    assert loop(True, change, xy) == loop(False, change, xy)


def test_an_unchanged_training_set_is_encoded_once():
    X, y = data()
    m = nn.MLP(10, [6, 3], activation="tanh", seed=1)
    opt = nn.Adam(m.parameters(), lr=0.05)
    run(X, y, m, opt, 0, True)
    kept = the_step(m)._kept
    assert kept is not None and kept.table[2].tobytes() == expected_table(X, y)
    run(X, y, m, opt, 1, True)
    run([r[:] for r in X], y[:], m, opt, 2, True)  # equal copies: equal bits, reused too
    assert the_step(m)._kept is kept


def negate_zeros(i, X, y):
    for r in X:
        r[2] = -r[2]  # 0.0 -> -0.0 -> 0.0: equal as floats, other bits
    return X, y


def negate_a_scattered_zero(i, X, y):
    X[7][0] = -X[7][0]  # (a zero outside the column of zeros: compared on its own)
    return X, y


def change_a_value(i, X, y):
    X[i][1] += 0.5
    return X, y


def zero_to_tiny(i, X, y):
    X[3][2] = 5e-324
    return X, y


def append_a_row(i, X, y):
    X.append([0.5, -0.25, 0.0, 1.0, 0.0, 2.0, -1.0, 0.125, 3.0, 1.5])
    y.append(2)
    return X, y


def remove_a_row(i, X, y):
    del X[i]
    del y[i]
    return X, y


def replace_a_row(i, X, y):
    X[i] = [v * 0.5 for v in X[i]]
    return X, y


def change_a_label(i, X, y):
    y[i] = (y[i] + 1) % 3
    return X, y


def swap_two_rows(i, X, y):
    X[0], X[1] = X[1], X[0]
    return X, y


def numpy_then_lists(i, X, y):
    if i == 1:
        return np.array(X), np.array(y)
    return X.tolist(), y.tolist()


def float32_numpy(i, X, y):
    return np.array(X, dtype=np.float32), y


def ints_where_floats_were(i, X, y):
    return [[int(v) if v == int(v) else v for v in r] for r in X], y  # 0.0 -> 0: same


@pytest.mark.parametrize("change", [
    negate_zeros, negate_a_scattered_zero, change_a_value, zero_to_tiny, append_a_row,
    remove_a_row, replace_a_row, change_a_label, swap_two_rows, numpy_then_lists,
    float32_numpy, ints_where_floats_were])
def test_every_change_between_fits_is_seen(change):
    same_as_interpreter(change)


def test_a_signed_zero_alone_makes_the_next_fit_encode_again():
    X, y = data()
    m = nn.MLP(10, [6, 3], activation="tanh", seed=1)
    opt = nn.Adam(m.parameters(), lr=0.05)
    run(X, y, m, opt, 0, True)
    kept = the_step(m)._kept
    X[5][2] = -0.0
    run(X, y, m, opt, 1, True)
    now = the_step(m)._kept
    assert now is not kept and now.table[2].tobytes() == expected_table(X, y)
    assert struct.pack("<d", -0.0) in now.table[2].tobytes()


def test_many_zeros_are_not_kept_and_still_train_exactly():
    X, y = data()
    for r in X:
        r[1] = r[3] = 0.0  # more than one entry in 8: checking them would cost an encoding
    same_as_interpreter(negate_zeros, xy=(X, y))
    m = nn.MLP(10, [6, 3], activation="tanh", seed=1)
    opt = nn.Adam(m.parameters(), lr=0.05)
    run(X, y, m, opt, 0, True)
    kept = the_step(m)._kept
    run(X, y, m, opt, 1, True)
    assert kept.zeros is False and the_step(m)._kept is not kept  # encoded again


class Equal(Value):
    """A Value that claims to equal any number (its own __eq__, the engine's hash kept)."""

    __hash__ = Value.__hash__

    def __eq__(self, other):
        return True


def values_loop(compiled):
    X, y = data()
    m = nn.MLP(10, [6, 3], activation="tanh", seed=1)
    opt = nn.Adam(m.parameters(), lr=0.05)
    run(X, y, m, opt, 0, compiled)
    X2 = [r[:] for r in X]
    v = X2[5][1] = Equal(X[5][1] + 1.0)  # "equal" to the encoded float, another number
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run(X2, y, m, opt, 1, compiled)
    except TypeError as e:  # (the MLP takes plain Values only: the interpreter says so)
        return "raised", str(e), bits(m), state(opt)
    return bits(m), state(opt), struct.pack("<d", v.grad)


def test_values_in_rows_are_never_compared_as_floats():
    assert values_loop(True) == values_loop(False)


def float_targets_loop(compiled, flip):
    rng = random.Random(3)
    X = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(24)]
    y = [0.0 if i % 5 == 0 else rng.uniform(-1, 1) for i in range(24)]
    m = nn.MLP(3, [5, 1], activation="tanh", seed=2)
    opt = nn.SGD(m.parameters(), lr=0.05, momentum=0.9)
    tables = []
    for i in range(3):
        if i and flip:
            y = [-t if t == 0.0 else t for t in y]
        h = nn.fit(m, X, y, loss="mse", optimizer=opt, epochs=1, batch_size=BATCH, seed=i,
                   progress=False, compiled=compiled)
        if compiled and the_step(m)._kept is not None:
            table = the_step(m)._kept.table[2]
            tables.append(table)
            codes = table[3::5]  # each row: 3 inputs, its target, 1/batch size
            assert codes.tobytes() == array("d", y).tobytes()
    return bits(m), state(opt), h.loss, tables


@pytest.mark.parametrize("flip", [False, True])
def test_float_targets_are_compared_by_their_bits(flip):
    got = float_targets_loop(True, flip)
    assert got[:3] == float_targets_loop(False, flip)[:3]
    tables = got[3]
    assert len(tables) == 3
    assert (tables[0] is tables[2]) is not flip  # -0.0 targets: encoded again


def test_kept_rows_hold_only_for_the_same_labels_batch_size_and_encoding():
    X, y = data()
    m = nn.MLP(10, [6, 3], activation="tanh", seed=1)
    run(X, y, m, nn.Adam(m.parameters(), lr=0.05), 0, True)
    step = the_step(m)
    kept, enc = step._kept, step.encoding
    rows = [r[:] for r in X]
    assert kept.holds(enc, BATCH, rows, y[:])
    changed = y[:]
    changed[4] = (changed[4] + 1) % 3
    assert not kept.holds(enc, BATCH, rows, changed)  # (fit_step also gives a new step)
    assert not kept.holds(enc, BATCH, rows, [float(t) for t in y])  # 1.0 is not the label 1
    assert not kept.holds(enc, BATCH + 1, rows, y[:])  # the 1/batch-size column
    assert not kept.holds(nc._CrossEntropy(3), BATCH, rows, y[:])  # another trace's encoding
    assert not kept.holds(enc, BATCH, rows[:-1], y[:-1])


def test_a_training_set_over_the_size_limit_is_not_kept(monkeypatch):
    X, y = data()
    monkeypatch.setattr(nc, "KEEP_DOUBLES", len(X) * 14 - 1)  # (10 inputs, 3 codes, 1/n)
    m = nn.MLP(10, [6, 3], activation="tanh", seed=1)
    run(X, y, m, nn.Adam(m.parameters(), lr=0.05), 0, True)
    assert the_step(m)._kept is None
    monkeypatch.setattr(nc, "KEEP_DOUBLES", len(X) * 14)
    run(X, y, m, nn.Adam(m.parameters(), lr=0.05), 0, True)
    assert the_step(m)._kept is not None


def test_rows_equal_bit_for_bit_are_taken_without_converting_them_again():
    X, y = data()
    m = nn.MLP(10, [6, 3], activation="tanh", seed=1)
    run(X, y, m, nn.Adam(m.parameters(), lr=0.05), 0, True)
    kept = the_step(m)._kept
    assert nc.kept_rows(m, X) is kept.X
    assert nc.kept_rows(m, [r[:] for r in X]) is kept.X
    assert nc.kept_rows(m, np.array(X)) is None  # (converted; its encoding still reused)
    assert nc.kept_rows(m, [tuple(r) for r in X]) is None
    assert nc.kept_rows(m, X[:-1]) is None
    X[3][2] = -0.0
    assert nc.kept_rows(m, X) is None
    X[3][2] = 0.0
    X[4][2] = 0  # an int equal to the float there: converted, as always
    assert nc.kept_rows(m, X) is None
    X[4][2] = 0.0
    assert nc.kept_rows(m, X) is kept.X


class Twisted(float):
    """A float whose float() is another number (nn.arrays reads it through float())."""

    def __float__(self):
        return 2.5


def twisted_entry(i, X, y):
    X[2][4] = Twisted(X[2][4])  # equal to the kept float, converted to 2.5
    return X, y


class Raises:
    """An entry that refuses to be compared."""

    def __eq__(self, other):
        raise ValueError("no comparing")

    __hash__ = object.__hash__


def test_an_entry_read_through_its_own_float_is_converted_as_always():
    same_as_interpreter(twisted_entry)


def test_an_entry_that_cannot_be_compared_raises_the_interpreters_error():
    errors = []
    for compiled in (True, False):
        nc._steps.clear()
        X, y = data()
        m = nn.MLP(10, [6, 3], activation="tanh", seed=1)
        opt = nn.Adam(m.parameters(), lr=0.05)
        run(X, y, m, opt, 0, compiled)
        X[6][1] = Raises()
        with pytest.raises(Exception) as e:
            run(X, y, m, opt, 1, compiled)
        errors.append((type(e.value), str(e.value)))
    assert errors[0] == errors[1] and errors[0][0] is TypeError
