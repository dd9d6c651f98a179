"""Training for real (two moons, held-out digits), the fit loop's history, progress bar and
hooks, and the evaluation helpers against scikit-learn."""

from __future__ import annotations

import sys
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import Value
from nn import MLP, SGD, Adam, accuracy, confusion_matrix, evaluate, fit, losses, predict
from nn.data import load_digits, make_blobs, make_moons, standardize, train_test_split
from nn.train import train_batch

# The configurations the README quotes; change them there too.
MOONS = dict(n=100, noise=0.1, sizes=[8, 8, 1], lr=0.05, epochs=30, batch_size=10)
DIGITS = dict(sizes=[32, 10], lr=(0.02, 0.003), epochs=2, batch_size=16)


def test_mlp_reaches_98_percent_on_two_moons(record_property) -> None:
    X, y = make_moons(MOONS["n"], noise=MOONS["noise"], seed=0)
    model = MLP(2, MOONS["sizes"], activation="tanh", seed=0)
    start = time.perf_counter()
    history = fit(model, X, y, loss="bce_with_logits",
                  optimizer=Adam(model.parameters(), lr=MOONS["lr"]), epochs=MOONS["epochs"],
                  batch_size=MOONS["batch_size"], seed=0, progress=False)
    wall = time.perf_counter() - start
    acc = accuracy(y, predict(model, X))
    record_property("moons_train_accuracy", acc)
    record_property("moons_epochs", history.epochs)
    record_property("moons_wall_time_s", round(wall, 2))
    print(f"two moons: train accuracy {acc:.3f}, {history.epochs} epochs, {wall:.2f} s")
    assert acc >= 0.98
    assert history.epochs == MOONS["epochs"] and len(history.accuracy) == MOONS["epochs"]
    assert history.loss[-1] < history.loss[0]


@pytest.mark.slow
@pytest.mark.parametrize("compiled", [False, True], ids=["interpreted", "compiled"])
def test_mlp_reaches_95_percent_on_held_out_digits(record_property, compiled: bool) -> None:
    pytest.importorskip("sklearn")
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    X_train, X_test = standardize(X_train, X_test)
    model = MLP(64, DIGITS["sizes"], activation="tanh", seed=0)
    start = time.perf_counter()
    history = fit(model, X_train, y_train, loss="cross_entropy",
                  optimizer=Adam(model.parameters()), epochs=DIGITS["epochs"],
                  lr_schedule=lambda epoch: DIGITS["lr"][epoch],
                  batch_size=DIGITS["batch_size"], seed=0, progress=False, compiled=compiled)
    wall = time.perf_counter() - start
    acc = accuracy(y_test, predict(model, X_test))
    record_property("digits_test_accuracy", acc)
    record_property("digits_epochs", history.epochs)
    record_property("digits_wall_time_s", round(wall, 1))
    print(f"digits ({'compiled' if compiled else 'interpreted'}): test accuracy {acc:.4f} on "
          f"{len(y_test)} held-out images, {history.epochs} epochs, {wall:.1f} s")
    assert len(X_test) == 450 and not set(map(tuple, X_test)) & set(map(tuple, X_train))
    assert acc >= 0.95


def test_fit_history_with_validation_on_three_blobs() -> None:
    X, y = make_blobs(90, centers=3, std=1.0, seed=2)
    X, Xv, y, yv = train_test_split(X, y, test_size=0.3, seed=0)
    X, Xv = standardize(X, Xv)
    model = MLP(2, [6, 3], seed=1)
    h = fit(model, X, y, epochs=4, batch_size=8, progress=False, validation=(Xv, yv))
    assert h.epochs == 4 and len(h.val_loss) == len(h.val_accuracy) == len(h.epoch_time) == 4
    assert h.loss[-1] < h.loss[0]
    assert all(0.0 <= a <= 1.0 for a in h.accuracy + h.val_accuracy)
    assert h.wall_time == sum(h.epoch_time)
    # The validation numbers are those of evaluate(), which agree with the loss itself.
    vl, va = evaluate(model, Xv, yv)
    assert vl == h.val_loss[-1] and va == h.val_accuracy[-1]
    want = losses.cross_entropy([model(x) for x in Xv], yv).data
    assert vl == pytest.approx(want, rel=1e-12)
    assert va == accuracy(yv, predict(model, Xv))


def test_fit_is_reproducible() -> None:
    X, y = make_moons(30, seed=1)
    states = []
    for _ in range(2):
        m = MLP(2, [4, 1], seed=3)
        fit(m, X, y, optimizer=SGD(m.parameters(), lr=0.1, momentum=0.9), epochs=2,
            batch_size=7, seed=5, progress=False)
        states.append(m.state_dict())
    assert states[0] == states[1]


def test_train_batch_is_one_step_and_replaceable() -> None:
    X, y = make_moons(10, seed=0)
    calls = []

    def step(model, xb, yb, loss_fn, optimizer):
        calls.append(len(xb))
        return train_batch(model, xb, yb, loss_fn, optimizer)

    m = MLP(2, [3, 1])
    fit(m, X, y, epochs=2, batch_size=4, progress=False, step=step)
    assert calls == [4, 4, 2, 4, 4, 2]

    # One batch by hand: the same update as train_batch's.
    a, b = MLP(2, [3, 1], seed=9), MLP(2, [3, 1], seed=9)
    oa, ob = SGD(a.parameters(), lr=0.5), SGD(b.parameters(), lr=0.5)
    loss, outs = train_batch(a, X[:3], y[:3], losses.binary_cross_entropy_with_logits, oa)
    ob.zero_grad()
    ref = losses.binary_cross_entropy_with_logits([b(x) for x in X[:3]], y[:3])
    ref.backward()
    ob.step()
    assert loss == ref.data and a.state_dict() == b.state_dict() and len(outs) == 3


def test_progress_bar_shows_loss_and_accuracy(capsys) -> None:
    pytest.importorskip("tqdm")
    X, y = make_moons(12, seed=0)
    fit(MLP(2, [3, 1]), X, y, epochs=2, batch_size=6, progress=True)
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "loss=" in err and "acc=" in err


def test_fit_without_tqdm_trains_without_a_bar(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    X, y = make_moons(12, seed=0)
    h = fit(MLP(2, [3, 1]), X, y, epochs=2, batch_size=6, progress=True)
    assert h.epochs == 2
    assert capsys.readouterr().err == ""


def test_auto_loss_hinge_labels_and_regression() -> None:
    X, y = make_moons(40, noise=0.05, seed=0)
    y_pm = [2 * c - 1 for c in y]
    m = MLP(2, [8, 1], seed=0)
    h = fit(m, X, y_pm, epochs=15, batch_size=8, progress=False)  # auto: hinge, classes -1/+1
    assert h.accuracy[-1] > 0.8
    assert set(predict(m, X, negative=-1)) <= {-1, 1}
    targets = [x[0] - x[1] for x in X]  # float targets: mean squared error, no accuracy
    h = fit(MLP(2, [4, 1]), X, targets, epochs=2, progress=False)
    assert h.accuracy == [None, None] and h.loss[-1] < h.loss[0]


def test_probability_outputs_use_threshold_one_half() -> None:
    X, y = make_moons(40, noise=0.05, seed=0)
    m = MLP(2, [8, 1], output_activation="sigmoid", seed=0)
    h = fit(m, X, y, loss="bce", epochs=10, batch_size=8, progress=False)
    assert h.accuracy[-1] > 0.8
    _, acc = evaluate(m, X, y, loss=losses.binary_cross_entropy)
    assert acc == accuracy(y, predict(m, X, threshold=0.5))


@pytest.mark.parametrize("call, exc", [
    (lambda m: fit(m, [[0.0, 1.0]], [0, 1], progress=False), ValueError),
    (lambda m: fit(m, [], [], progress=False), ValueError),
    (lambda m: fit(m, [[0.0, 1.0]], [0], epochs=0, progress=False), ValueError),
    (lambda m: fit(m, [[0.0, 1.0]], [0], batch_size=1.5, progress=False), ValueError),
    (lambda m: fit(m, [[0.0, 1.0]], [0], loss="l7", progress=False), ValueError),
    (lambda m: fit(m, [[0.0, 1.0, 2.0]], [0], progress=False), ValueError),
])
def test_fit_rejects_bad_arguments(call, exc) -> None:
    m = MLP(2, [2, 1])
    before = m.state_dict()
    with pytest.raises(exc):
        call(m)
    assert m.state_dict() == before


labels = st.lists(st.integers(0, 4), min_size=1, max_size=30)


@pytest.mark.filterwarnings("ignore:A single label was found")  # sklearn, on 1-label inputs
@given(data=st.data(), y_true=labels)
def test_accuracy_and_confusion_matrix_match_sklearn(data, y_true) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    y_pred = data.draw(st.lists(st.integers(0, 4), min_size=len(y_true), max_size=len(y_true)))
    assert accuracy(y_true, y_pred) == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    assert confusion_matrix(y_true, y_pred) == metrics.confusion_matrix(y_true, y_pred).tolist()
    lab = [4, 0, 2]
    if not set(lab) & set(y_true):  # scikit-learn refuses this case
        return
    assert (confusion_matrix(y_true, y_pred, labels=lab)
            == metrics.confusion_matrix(y_true, y_pred, labels=lab).tolist())


def test_predict_argmax_and_metric_errors() -> None:
    m = MLP(2, [3], activation="tanh", seed=0)
    x = [0.3, -0.7]
    out = [v.data for v in m(x)]
    assert predict(m, [x]) == [out.index(max(out))]
    assert isinstance(m(x)[0], Value)
    with pytest.raises(ValueError):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError):
        confusion_matrix([0, 1], [0])


def test_lr_schedule_sets_the_rate_each_epoch() -> None:
    X, y = make_moons(8, seed=0)
    m = MLP(2, [2, 1])
    opt = SGD(m.parameters(), lr=1.0)
    seen = []

    def step(model, xb, yb, loss_fn, optimizer):
        seen.append(optimizer.lr)
        return train_batch(model, xb, yb, loss_fn, optimizer)

    fit(m, X, y, optimizer=opt, epochs=3, batch_size=4, progress=False, step=step,
        lr_schedule=lambda epoch: 0.1 / (epoch + 1))
    assert seen == [0.1, 0.1, 0.05, 0.05, 0.1 / 3, 0.1 / 3]


def _alive_after_fit(**kwargs) -> bool:
    """Whether the model outlives `del` after fit, with the cyclic collector off: anything a
    fit leaves in a reference cycle keeps the model alive until the next gc run."""
    import gc
    import weakref

    X, y = make_moons(20, noise=0.1, seed=0)
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        model = MLP(2, [3, 1], seed=0)
        ref = weakref.ref(model)
        fit(model, X, y, epochs=2, batch_size=8, progress=False, **kwargs)
        del model
        return ref() is not None
    finally:
        if was_enabled:
            gc.enable()


def test_fit_leaves_no_reference_cycle_holding_the_model() -> None:
    assert not _alive_after_fit()
    assert not _alive_after_fit(validation=make_moons(10, noise=0.1, seed=1))


def test_compiled_fit_leaves_no_reference_cycle_holding_the_model() -> None:
    assert not _alive_after_fit(compiled=True)


def test_fit_with_vector_targets_interpreted_and_compiled() -> None:
    # Regression: fit's class-label helpers called set(y), and lists are unhashable; "auto"
    # picked cross-entropy for any vector output. Vector targets: mean squared error, no
    # accuracy, and the compiled run follows the interpreter's (per-sample means then a batch
    # mean: equal to rounding, see tests/nn/test_compiled.py).
    import math

    X, y = make_moons(24, noise=0.1, seed=1)
    Y = [[float(t), 1.0 - 0.5 * t] for t in y]
    runs = []
    for compiled in (False, True):
        model = MLP(2, [4, 2], seed=3)
        h = fit(model, X, Y, epochs=3, batch_size=5, progress=False, compiled=compiled,
                validation=(X, Y))
        runs.append((h, [p.data for p in model.parameters()]))
        assert h.accuracy == [None] * 3 and h.val_accuracy == [None] * 3
        assert h.loss[-1] < h.loss[0]
        assert math.isclose(evaluate(model, X, Y)[0], h.val_loss[-1], rel_tol=1e-12)
    (h0, p0), (h1, p1) = runs
    for a, b in zip([*h0.loss, *h0.val_loss, *p0], [*h1.loss, *h1.val_loss, *p1]):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    explicit = MLP(2, [4, 2], seed=3)  # "auto" is mse here
    fit(explicit, X, Y, loss="mse", epochs=3, batch_size=5, progress=False)
    assert [p.data for p in explicit.parameters()] == p0
