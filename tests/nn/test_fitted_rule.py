"""The loss and decision rule `fit` leaves on a model: kept by save/load as by pickle, used
whenever the same loss is named again, plain data that nn.compiled's snapshot reads; and the
rules `fit` picks (sigmoid outputs, whole-number float labels, a loss of the user's), checked
against scikit-learn's accuracy_score on the model's own outputs rounded by hand."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from autograd_lite import no_grad
from nn import MLP, SGD, evaluate, fit, predict
from nn.data import make_moons

np = pytest.importorskip("numpy")
metrics = pytest.importorskip("sklearn.metrics")
multiclass = pytest.importorskip("sklearn.utils.multiclass")


def _out(model, X) -> np.ndarray:
    with no_grad():
        return np.array([model(x).data for x in np.asarray(X).tolist()])


def _frozen_fit(model, X, y, loss="auto"):
    """One epoch at lr=0: the History and the rule are of this very model."""
    return fit(model, X, y, loss=loss, optimizer=SGD(model.parameters(), lr=0.0), epochs=1,
               batch_size=len(X), progress=False)


def _line(w: float = 1.0, b: float = 0.0) -> nn.Neuron:
    """A linear neuron whose output is w * x + b: outputs chosen by the test."""
    m = nn.Neuron(1, "linear", seed=0)
    m.w[0].data, m.b.data = w, b
    return m


def test_save_load_keeps_the_fitted_decision_rule(tmp_path) -> None:
    X, y = make_moons(80, noise=0.15, seed=0)
    m = MLP(2, [6, 1], seed=0)
    fit(m, X, y, loss="mse", epochs=15, batch_size=16, progress=False,
        optimizer=nn.Adam(m.parameters(), lr=0.03))
    truth = metrics.accuracy_score(y, (_out(m, X) > 0.5).astype(int))  # mse on 0/1: at 0.5
    assert truth != metrics.accuracy_score(y, (_out(m, X) > 0.0).astype(int))
    m.save(tmp_path / "m.json")
    loaded = MLP(2, [6, 1]).load(tmp_path / "m.json")
    pickled = pickle.loads(pickle.dumps(m))
    for other in (m, loaded, pickled):
        assert nn.accuracy(y, predict(other, X)) == truth
        assert evaluate(other, X, y) == evaluate(m, X, y, loss="mse")
        assert evaluate(other, X, y)[1] == truth
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["version"] == 1 and doc["fitted"]["loss"] == "mse"


def test_an_old_state_file_without_a_rule_loads_and_drops_a_stale_rule(tmp_path) -> None:
    X, y = make_moons(20, seed=0)
    m = _line()
    m.save(tmp_path / "old.json")  # never fitted: no "fitted" entry, as files before it
    assert "fitted" not in json.loads((tmp_path / "old.json").read_text())
    other = _line(w=2.0)
    _frozen_fit(other, [[x[0]] for x in X], y, loss="mse")
    other.load(tmp_path / "old.json")
    assert other.w[0].data == 1.0
    assert predict(other, [[0.3]]) == [1]  # threshold 0 of a model never fitted, not 0.5


@pytest.mark.parametrize("fitted, match", [
    ({"loss": "nope", "options": {}, "rule": None}, "loss must be"),
    ({"loss": "mse", "options": {"margin": 2}, "rule": None}, "takes no options"),
    ({"loss": "mse", "options": {}, "rule": {"threshold": "0.5"}}, "rule must be"),
    ({"loss": "mse", "options": {}, "rule": {"threshold": 0.5, "negative": 0,
                                             "positive": None, "nearest": []}}, "finite"),
    ({"loss": "mse", "options": {}, "rule": {"threshold": 0.5, "negative": 0,
                                             "positive": 1, "nearest": [2, 1]}}, "sorted"),
    ([1, 2], "JSON object"),
    ({"loss": "mse", "extra": 1}, "unexpected"),
])
def test_a_bad_fitted_entry_is_refused_and_the_model_unchanged(tmp_path, fitted, match) -> None:
    m = _line(w=3.0)
    doc = {"format": "autograd-lite.nn.state", "version": 1, "model": "Neuron",
           "parameters": {"w.0": 1.0, "b": 0.0}, "fitted": fitted}
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=match):
        m.load(tmp_path / "bad.json")
    assert m.w[0].data == 3.0 and not hasattr(m, "_nn_fitted")


def test_a_state_file_of_another_model_class_is_refused(tmp_path) -> None:
    m = _line(w=3.0)
    doc = {"format": "autograd-lite.nn.state", "version": 1, "model": "Layer",
           "parameters": {"w.0": 1.0, "b": 0.0}}
    (tmp_path / "layer.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="'Layer', not of a Neuron"):
        m.load(tmp_path / "layer.json")
    doc["model"] = ["Neuron"]
    (tmp_path / "list.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="state of a"):
        m.load(tmp_path / "list.json")
    assert m.w[0].data == 3.0

    class Mine(nn.Neuron):
        pass

    doc["model"] = "Neuron"  # a subclass reads its base class's file
    (tmp_path / "base.json").write_text(json.dumps(doc))
    mine = Mine(1, "linear", seed=0).load(tmp_path / "base.json")
    assert mine.w[0].data == 1.0


@pytest.mark.parametrize("seed", [0, 1])
def test_sigmoid_output_with_auto_trains_bce_on_probabilities(seed) -> None:
    X, y = make_moons(60, noise=0.2, seed=seed)
    m = MLP(2, [4, 1], output_activation="sigmoid", seed=seed)
    expected = metrics.accuracy_score(y, (_out(m, X) > 0.5).astype(int))
    assert predict(m, X) == (_out(m, X) > 0.5).astype(int).tolist()  # unfitted: 0.5 too
    h = _frozen_fit(m, X, y)
    assert h.accuracy == [expected]
    assert evaluate(m, X, y) == evaluate(m, X, y, loss="bce")
    assert nn.accuracy(y, predict(m, X)) == expected
    assert nn.losses.LOSSES[m._nn_fitted["loss"]] is nn.losses.binary_cross_entropy
    assert nn.train.resolve_loss("auto", 0.5, [0, 1], model=m) is nn.losses.binary_cross_entropy
    assert nn.train.resolve_loss("auto", 0.5, [0, 1]) is \
        nn.losses.binary_cross_entropy_with_logits  # no model known: logits, as before


def test_sigmoid_output_learns_with_auto() -> None:
    X, y = make_moons(100, noise=0.1, seed=0)
    m = MLP(2, [8, 8, 1], output_activation="sigmoid", seed=0)
    h = fit(m, X, y, epochs=20, batch_size=16, progress=False,
            optimizer=nn.Adam(m.parameters(), lr=0.03))
    assert h.accuracy[-1] > 0.9  # BCE on logits of probabilities stalled at the class share
    assert h.accuracy[-1] == pytest.approx(
        metrics.accuracy_score(y, (_out(m, X) > 0.5).astype(int)), abs=0.1)


def _three_class():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 60)
    o = y + rng.normal(0, 0.45, 60)
    return o.reshape(-1, 1), y, np.clip(np.floor(o + 0.5), 0, 2).astype(int)


def test_naming_the_fitted_loss_uses_the_fitted_rule_not_the_subsets_labels() -> None:
    X, y, nearest = _three_class()
    m = _line()
    _frozen_fit(m, X, y, loss="mse")
    for sel in (y >= 1, y == 2, y == 0):  # subsets missing some of the fitted labels
        expected = metrics.accuracy_score(y[sel], nearest[sel])
        assert evaluate(m, X[sel], y[sel], loss="mse")[1] == expected
        assert evaluate(m, X[sel], y[sel])[1] == expected
    assert predict(m, X, loss="mse") == nearest.tolist()  # labels default to the fitted ones
    assert predict(m, X, loss="mse", labels=[0, 1]) == \
        np.where(X[:, 0] > 0.5, 1, 0).tolist()  # given labels win


def test_predict_with_the_fitted_loss_keeps_minus_one_plus_one_labels() -> None:
    rng = np.random.default_rng(2)
    y = np.where(rng.random(40) < 0.5, -1, 1)
    o = y * 0.8 + rng.normal(0, 0.5, 40)
    m = _line()
    _frozen_fit(m, o.reshape(-1, 1), y, loss="mse")
    expected = np.where(o > 0, 1, -1).tolist()
    assert predict(m, o.reshape(-1, 1), loss="mse") == expected == predict(m, o.reshape(-1, 1))


@given(st.lists(st.sampled_from([0.0, 1.0, 2.0, -1.0, 3.0]), min_size=2, max_size=30),
       st.floats(-2, 2), st.floats(0.1, 3))
def test_whole_number_float_labels_are_classes_as_type_of_target(y, b, w) -> None:
    y = np.array(y)
    X = (np.arange(len(y), dtype=float) / len(y)).reshape(-1, 1)
    m = _line(w, b)
    out = _out(m, X)
    ls = sorted(set(y.tolist()))
    assert multiclass.type_of_target(y) in ("binary", "multiclass")
    h = _frozen_fit(m, X, y, loss="mse")
    if len(ls) == 1:  # one class seen: paired with its binary partner
        ls = [-1.0, 1.0] if ls[0] == -1 else [0.0, 1.0] if ls[0] in (0, 1) else ls
    if len(ls) == 2:  # above the midpoint (a tie is the smaller label)
        pred = [ls[1] if o > (ls[0] + ls[1]) / 2 else ls[0] for o in out]
    else:  # the nearest label, the larger on a tie
        pred = [min(reversed(ls), key=lambda c: abs(o - c)) for o in out]
    assert h.accuracy == [metrics.accuracy_score(y, pred)]
    assert evaluate(m, X, y)[1] == h.accuracy[0]
    assert predict(m, X) == pred


def test_float_zero_one_labels_with_auto_score_at_one_half() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(40) < 0.5).astype(float)
    o = y + rng.normal(0, 0.3, 40)
    m = _line()
    h = _frozen_fit(m, o.reshape(-1, 1), y)
    expected = metrics.accuracy_score(y, (o > 0.5).astype(float))
    assert h.accuracy == [expected] and evaluate(m, o.reshape(-1, 1), y)[1] == expected
    assert nn.accuracy(y, predict(m, o.reshape(-1, 1))) == expected
    assert evaluate(m, o.reshape(-1, 1), y + 0.25)[1] is None  # fractional: regression


def test_fitted_marker_is_plain_data_the_compiled_snapshot_reads() -> None:
    from nn.compiled import _Snapshot

    X, y = make_moons(20, seed=0)
    for loss in ("auto", "mse", "hinge", lambda o, t: nn.losses.mse(o, t)):
        m = MLP(2, [3, 1], seed=0)
        labels = [2 * c - 1 for c in y] if loss == "hinge" else y
        _frozen_fit(m, X, labels, loss=loss)
        marker = m._nn_fitted
        assert json.loads(json.dumps(marker, allow_nan=False)) == marker
        assert _Snapshot(m, set(m.parameters())).state is not None  # no re-trace guard


def test_a_partial_of_a_builtin_loss_is_remembered_with_its_options(tmp_path) -> None:
    import functools

    X, y = make_moons(20, seed=0)
    m = MLP(2, [3, 1], seed=0)
    loss = functools.partial(nn.losses.hinge, margin=2.0)
    _frozen_fit(m, X, [2 * c - 1 for c in y], loss=loss)
    assert m._nn_fitted["loss"] == "hinge" and m._nn_fitted["options"] == {"margin": 2.0}
    ypm = [2 * c - 1 for c in y]
    m.save(tmp_path / "h.json")
    loaded = MLP(2, [3, 1]).load(tmp_path / "h.json")
    assert evaluate(loaded, X, ypm) == evaluate(m, X, ypm, loss=loss)


def test_a_users_loss_on_labels_other_than_zero_one_uses_the_nearest_label() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(60) < 0.5).astype(int) + 1
    o = y + rng.normal(0, 0.3, 60)
    m = _line()
    mine = lambda out, t: nn.losses.mse(out, t)  # noqa: E731
    expected = metrics.accuracy_score(y, np.where(o > 1.5, 2, 1))
    assert evaluate(m, o.reshape(-1, 1), y, loss=mine)[1] == expected
    h = _frozen_fit(m, o.reshape(-1, 1), y, loss=mine)
    assert h.accuracy == [expected] and nn.accuracy(y, predict(m, o.reshape(-1, 1))) == expected
    # labels 0/1 stay a score split at 0 (documented: a loss of one's own is read as a logit)
    y01 = y - 1
    assert evaluate(m, o.reshape(-1, 1) - 1, y01, loss=mine)[1] == \
        metrics.accuracy_score(y01, (o - 1 > 0).astype(int))


@pytest.mark.parametrize("loss, bad, kind, text", [
    ("mse", float("nan"), ValueError, "not finite"),
    ("mse", None, TypeError, "must be a number"),
    ("bce", 3, ValueError, r"in \[0, 1\]"),
    ("hinge", 0, ValueError, "-1 or \\+1"),
])
def test_a_bad_target_is_named_by_its_position_before_training(loss, bad, kind, text) -> None:
    X, y = make_moons(80, seed=0)
    y = [2 * c - 1 for c in y] if loss == "hinge" else list(y)
    y[57] = bad
    m = MLP(2, [3, 1], output_activation="sigmoid" if loss == "bce" else None, seed=0)
    before = m.state_dict()
    with pytest.raises(kind, match=rf"fit: y\[57\] = .*{text}"):
        fit(m, X, y, loss=loss, epochs=1, batch_size=8, progress=False, shuffle=False)
    assert m.state_dict() == before
    with pytest.raises(kind, match=r"fit: validation y\[57\]"):
        fit(m, X, [0 if loss != "hinge" else 1] * 80, loss=loss, validation=(X, y),
            epochs=1, progress=False)
    assert m.state_dict() == before
