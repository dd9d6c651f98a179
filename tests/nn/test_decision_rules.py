"""Accuracy at the decision rule that matches the loss, the same in fit's History, evaluate,
predict(loss=...) and accuracy, checked against scikit-learn's accuracy_score on the model's
own outputs rounded by hand (0.5 for mse and BCE on probabilities, 0 for logits and hinge,
argmax for several classes)."""

from __future__ import annotations

import pytest

import nn
from nn import MLP, SGD, evaluate, fit, predict
from nn.data import make_blobs, make_moons
from nn.metrics import Decision, accuracy, class_labels, confusion_matrix, decision_rule

np = pytest.importorskip("numpy")
metrics = pytest.importorskip("sklearn.metrics")


def _outputs(model, X) -> np.ndarray:
    from autograd_lite import no_grad

    with no_grad():
        outs = [model(x) for x in X]
    return np.array([o.data if not isinstance(o, list) else [v.data for v in o] for o in outs])


def _frozen_history(model, X, y, loss):
    """One epoch in one batch at lr=0: History's accuracy is of this very model."""
    return fit(model, X, y, loss=loss, optimizer=SGD(model.parameters(), lr=0.0), epochs=1,
               batch_size=len(X), progress=False)


CASES = [
    # (loss, label transform, output activation, rounding of the raw output)
    ("mse", lambda y: y, None, lambda o: (o > 0.5).astype(int)),
    ("bce", lambda y: y, "sigmoid", lambda o: (o > 0.5).astype(int)),
    ("bce_with_logits", lambda y: y, None, lambda o: (o > 0.0).astype(int)),
    ("auto", lambda y: y, None, lambda o: (o > 0.0).astype(int)),
    ("hinge", lambda y: 2 * y - 1, None, lambda o: np.where(o > 0.0, 1, -1)),
    ("mse", lambda y: 2 * y - 1, None, lambda o: np.where(o > 0.0, 1, -1)),
    ("mse", lambda y: y + 3, None, lambda o: np.where(o > 3.5, 4, 3)),
]


@pytest.mark.parametrize("loss, relabel, out_act, rounding", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("label_dtype", ["int64", "int8", "list"])
def test_binary_accuracy_matches_sklearn_on_rounded_outputs(loss, relabel, out_act, rounding,
                                                            seed, label_dtype) -> None:
    X, y = make_moons(60, noise=0.2, seed=seed)
    y = relabel(np.array(y))
    y = y.tolist() if label_dtype == "list" else y.astype(label_dtype)
    Xa = np.array(X, dtype=np.float32)
    model = MLP(2, [4, 1], output_activation=out_act, seed=seed)
    if loss in ("mse",):  # centre the untrained outputs on the labels: both classes occur
        model.layers[-1].neurons[0].b.data = float(np.mean(y))
    expected = metrics.accuracy_score(np.asarray(y), rounding(_outputs(model, Xa.tolist())))
    h = _frozen_history(model, Xa, y, loss)
    assert h.accuracy == [pytest.approx(expected, abs=0)]
    _, acc = evaluate(model, Xa, y, loss=loss)
    assert acc == expected
    labels = sorted(set(np.asarray(y).tolist()))
    pred = predict(model, Xa, loss=loss, labels=labels)
    assert accuracy(y, pred) == expected
    assert metrics.accuracy_score(np.asarray(y), pred) == expected


@pytest.mark.parametrize("loss", ["auto", "cross_entropy", "multi_margin"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "int16"])
def test_multiclass_accuracy_is_argmax_with_numpy_labels(loss: str, dtype: str) -> None:
    X, y = make_blobs(45, centers=3, std=2.0, seed=1)
    Xa, ya = np.array(X), np.array(y, dtype=dtype)
    model = MLP(2, [5, 3], seed=0)
    expected = metrics.accuracy_score(ya, _outputs(model, X).argmax(axis=1))
    assert _frozen_history(model, Xa, ya, loss).accuracy == [expected]
    assert evaluate(model, Xa, ya, loss=loss)[1] == expected
    assert accuracy(ya, predict(model, Xa)) == expected


def test_mse_on_several_int_labels_takes_the_nearest_label() -> None:
    X = np.linspace(-1, 1, 30).reshape(-1, 1)
    y = np.array([0, 1, 2] * 10)
    model = nn.Neuron(1, "linear", seed=0)
    model.w[0].data, model.b.data = 1.5, 1.0  # outputs from -0.5 to 2.5
    out = _outputs(model, X.tolist())
    expected = metrics.accuracy_score(y, np.clip(np.floor(out + 0.5), 0, 2).astype(int))
    assert evaluate(model, X, y, loss="mse")[1] == expected
    assert _frozen_history(model, X, y, "mse").accuracy == [expected]
    assert Decision(nearest=(0, 1, 2)).classes([-3.0, 0.49, 0.5, 1.7, 9.0]) == [0, 0, 1, 2, 2]


def test_a_98_percent_model_under_mse_is_reported_as_such() -> None:
    X, y = make_moons(200, noise=0.05, seed=0)
    model = MLP(2, [16, 1], seed=0)
    fit(model, X, y, loss="mse", epochs=60, batch_size=16, progress=False,
        optimizer=nn.Adam(model.parameters(), lr=0.03))
    out = _outputs(model, X)
    truth = metrics.accuracy_score(y, (out > 0.5).astype(int))
    assert truth > 0.9
    _, acc = evaluate(model, X, y, loss="mse")
    assert acc == truth


def test_float_targets_are_classes_under_bce_and_hinge_as_pytorch_feeds_them() -> None:
    X, y = make_moons(30, noise=0.2, seed=0)
    model = MLP(2, [3, 1], seed=0)
    yf = np.array(y, dtype=np.float32)
    expected = metrics.accuracy_score(y, (_outputs(model, X) > 0).astype(int))
    assert evaluate(model, X, yf, loss="bce_with_logits")[1] == expected
    assert evaluate(model, X, 2 * yf - 1, loss="hinge")[1] == \
        metrics.accuracy_score(2 * np.array(y) - 1, np.where(_outputs(model, X) > 0, 1, -1))
    # whole-number floats are classes under mse too (scikit-learn's type_of_target says
    # "binary"): the midpoint rule, 0.5; a fractional value makes them regression targets
    assert metrics.accuracy_score(y, yf) == 1.0  # sklearn reads 0.0/1.0 as the classes 0/1
    assert evaluate(model, X, yf, loss="mse")[1] == \
        metrics.accuracy_score(yf, (_outputs(model, X) > 0.5).astype(float))
    assert evaluate(model, X, yf + 0.5)[1] is None


def test_validation_accuracy_uses_the_training_rule() -> None:
    X, y = make_moons(40, noise=0.1, seed=0)
    model = MLP(2, [4, 1], seed=0)
    h = fit(model, X, y, loss="mse", epochs=2, progress=False, validation=(X[:5], y[:5]))
    assert h.val_accuracy[-1] == evaluate(model, X[:5], y[:5], loss="mse")[1]


def test_decision_rules_per_loss() -> None:
    L = nn.losses
    import functools

    assert decision_rule(L.binary_cross_entropy, [0, 1]) == Decision(0.5, 0, 1)
    assert decision_rule(L.binary_cross_entropy_with_logits, [0, 1]) == Decision(0.0, 0, 1)
    assert decision_rule(functools.partial(L.hinge, margin=2.0), [-1, 1]) == \
        Decision(0.0, -1, 1)
    assert decision_rule(L.mse, [0, 1]) == Decision(0.5, 0, 1)
    assert decision_rule(L.mse, [1]) == Decision(0.5, 0, 1)
    assert decision_rule(L.mse, [-1, 1]) == Decision(0.0, -1, 1)
    assert decision_rule(L.mse, [2, 5]) == Decision(3.5, 2, 5)
    assert decision_rule(lambda o, t: o, [-1, 1]) == Decision(0.0, -1, 1)
    assert class_labels([0, 1, 1]) == [0, 1]
    assert class_labels([0.0, 1.0]) == [0.0, 1.0]  # type_of_target: "binary"
    assert class_labels([0.0, 1.5]) is None  # "continuous"
    assert class_labels([0.0, 1.0], L.cross_entropy) is None  # class indices are ints
    assert class_labels([0.0, 1.0], L.binary_cross_entropy) == [0, 1]
    assert class_labels([[0.0, 1.0]]) is None


def test_predict_threshold_and_negative_still_win() -> None:
    model = nn.Neuron(1, "linear", seed=0)
    model.w[0].data, model.b.data = 1.0, 0.0
    X = [[-1.0], [0.2], [0.7]]
    assert predict(model, X) == [0, 1, 1]
    assert predict(model, X, 0.5) == [0, 0, 1]
    assert predict(model, X, loss="bce") == [0, 0, 1]
    assert predict(model, X, loss="hinge") == [-1, 1, 1]
    assert predict(model, X, loss="mse", labels=[-1, 1]) == [-1, 1, 1]
    assert predict(model, X, negative=-1) == [-1, 1, 1]
    assert predict(model, X, threshold=0.5, loss="hinge") == [-1, -1, 1]


@pytest.mark.parametrize("y_true, y_pred", [
    ([0, 1, 1, 0], [0, 1, 0, 0]),
    (np.array([1, 2, 3], dtype=np.uint16), [1.0, 2.0, 2.0]),
    (["cat", "dog", "dog"], np.array(["cat", "cat", "dog"])),
    (np.array([True, False, True]), [1, 0, 0]),
    (np.array([[0, 1], [1, 1]]), np.array([[0, 1], [1, 0]])),
    (np.array([[0], [1], [1]]), [0, 1, 0]),
    (np.array([[0], [1], [1]]), np.array([[0], [1], [0]], dtype=np.uint8)),
])
def test_accuracy_and_confusion_matrix_match_sklearn(y_true, y_pred) -> None:
    assert accuracy(y_true, y_pred) == metrics.accuracy_score(y_true, y_pred)
    if np.asarray(y_true).ndim == 1 or np.asarray(y_true).shape[1] == 1:
        assert confusion_matrix(y_true, y_pred) == \
            metrics.confusion_matrix(y_true, y_pred).tolist()


@pytest.mark.parametrize("y_true, y_pred, match", [
    ([0, 1], [0.2, 0.9], r"y_pred\[0\] = 0.2 is not a class label"),
    ([0.5, 1.0], [0, 1], r"y_true\[0\]"),
    ([0, 1], [0, float("nan")], r"y_pred\[1\]"),
    ([0, 1], [0], "2 labels but 1"),
    ([], [], "no labels"),
])
def test_accuracy_refuses_continuous_values(y_true, y_pred, match) -> None:
    with pytest.raises(ValueError, match=match):
        accuracy(y_true, y_pred)


@pytest.mark.parametrize("loss, relabel", [("mse", lambda y: y), ("bce", lambda y: y),
                                           ("hinge", lambda y: 2 * y - 1),
                                           ("mse", lambda y: 2 * y - 1)])
def test_a_fitted_model_predicts_and_evaluates_at_its_training_rule(loss, relabel) -> None:
    import pickle

    X, y = make_moons(40, noise=0.2, seed=0)
    y = relabel(np.array(y))
    model = MLP(2, [4, 1], output_activation="sigmoid" if loss == "bce" else None, seed=0)
    h = _frozen_history(model, X, y, loss)
    value, acc = evaluate(model, X, y)  # no loss given: the one fit used
    assert (value, acc) == evaluate(model, X, y, loss=loss)
    assert acc == h.accuracy[-1] == accuracy(y, predict(model, X))
    clone = pickle.loads(pickle.dumps(model))
    assert predict(clone, X) == predict(model, X) and evaluate(clone, X, y) == (value, acc)


def test_a_loss_of_ones_own_is_not_kept_on_the_model() -> None:
    import pickle

    X, y = make_moons(20, seed=0)
    model = MLP(2, [3, 1], seed=0)
    fit(model, X, y, loss=lambda o, t: nn.losses.mse(o, t), epochs=1, progress=False)
    pickle.dumps(model)  # a lambda loss would not pickle: only the rule is remembered
    assert evaluate(model, X, y)[0] == evaluate(model, X, y, loss="auto")[0]
