"""Models and optimizers pickle and deep-copy (so multiprocessing, joblib and copy.deepcopy
work), every built-in one found by walking the class tree so a new one cannot ship without
this check; a pool of processes trains two models; a state file's version must be an int."""

from __future__ import annotations

import copy
import inspect
import json
import multiprocessing
import pickle

import pytest

import nn
from autograd_lite.micrograd import nn as micro_nn
from nn.data import make_moons

#: One factory per built-in Module subclass: the test below fails when a class is missing.
MODULES = {
    nn.Neuron: [lambda: nn.Neuron(2, seed=0), lambda: nn.Neuron(2, "linear", seed=1),
                lambda: nn.Neuron(2, "relu", seed=2), lambda: nn.Neuron(2, "sigmoid", seed=3)],
    nn.Layer: [lambda: nn.Layer(2, 3, seed=0), lambda: nn.Layer(2, 2, "linear", seed=0)],
    nn.MLP: [lambda: nn.MLP(2, [3, 1]), lambda: nn.MLP(2, [4, 3], activation="relu", seed=0),
             lambda: nn.MLP(2, [3, 1], output_activation="sigmoid", seed=0)],
    nn.RNNCell: [lambda: nn.RNNCell(2, 3, seed=0)],
    micro_nn.Neuron: [lambda: micro_nn.Neuron(2), lambda: micro_nn.Neuron(2, nonlin=False)],
    micro_nn.Layer: [lambda: micro_nn.Layer(2, 3)],
    micro_nn.MLP: [lambda: micro_nn.MLP(2, [3, 1])],
}
OPTIMIZERS = {
    nn.SGD: [lambda ps: nn.SGD(ps, lr=0.1), lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9,
                                                               nesterov=True)],
    nn.Adam: [lambda ps: nn.Adam(ps, lr=0.01, weight_decay=0.1)],
}


def _subclasses(base: type) -> set[type]:
    out, todo = set(), [base]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith(("nn.", "autograd_lite.")) and sub not in out:
                out.add(sub)
                todo.append(sub)
    return out


def test_every_built_in_class_has_a_factory_here() -> None:
    assert _subclasses(nn.Module) == {c for c in MODULES if issubclass(c, nn.Module)}
    assert _subclasses(micro_nn.Module) == {c for c in MODULES if issubclass(c, micro_nn.Module)}
    assert {c for c in _subclasses(nn.Optimizer) if not inspect.isabstract(c)} == set(OPTIMIZERS)


def _x(model):
    return [[0.3, -0.7], [0.1, 0.2]] if isinstance(model, nn.RNNCell) else [0.3, -0.7]


def _out(model) -> list[float]:
    if isinstance(model, nn.RNNCell):
        return [v.data for h in model.unroll(_x(model)) for v in h]
    out = model(_x(model))
    return [v.data for v in out] if isinstance(out, list) else [out.data]


def _params(model) -> list:
    return model.parameters()


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
@pytest.mark.parametrize("make", [f for fs in MODULES.values() for f in fs])
def test_every_module_pickles_and_deep_copies(make, how: str) -> None:
    model = make()
    _out(model)  # after a forward pass too: the graph hangs off no module attribute
    clone = pickle.loads(pickle.dumps(model)) if how == "pickle" else copy.deepcopy(model)
    assert type(clone) is type(model) and repr(clone) == repr(model)
    assert [p.data for p in _params(clone)] == [p.data for p in _params(model)]
    assert not set(map(id, _params(clone))) & set(map(id, _params(model)))  # new parameters
    assert _out(clone) == _out(model)
    if isinstance(model, nn.Module):
        assert clone.state_dict() == model.state_dict()
        assert [p.label for p in clone.parameters()] == [p.label for p in model.parameters()]
    _params(clone)[0].data += 1.0  # independent of the original
    assert _params(clone)[0].data != _params(model)[0].data


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
@pytest.mark.parametrize("make", [f for fs in OPTIMIZERS.values() for f in fs])
def test_every_optimizer_pickles_and_deep_copies_with_its_model(make, how: str) -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    opt = make(model.parameters())
    X, y = make_moons(16, seed=0)
    nn.fit(model, X, y, optimizer=opt, epochs=1, batch_size=8, progress=False)
    twin = (model, opt)
    model2, opt2 = pickle.loads(pickle.dumps(twin)) if how == "pickle" else copy.deepcopy(twin)
    assert all(a is b for a, b in zip(opt2.params, model2.parameters()))  # still tied
    nn.fit(model, X, y, optimizer=opt, epochs=2, batch_size=8, progress=False)
    nn.fit(model2, X, y, optimizer=opt2, epochs=2, batch_size=8, progress=False)
    assert model2.state_dict() == model.state_dict()  # momentum / moments carried over


def test_tied_weights_stay_tied_through_a_copy() -> None:
    a = nn.Neuron(2, seed=0)
    b = nn.Neuron(2, seed=1)
    b.w = a.w  # shared weights
    pair = copy.deepcopy([a, b])
    assert pair[0].w is pair[1].w and pair[0].w is not a.w
    pair = pickle.loads(pickle.dumps([a, b]))
    assert pair[0].w[0] is pair[1].w[0]


def train_one(args: tuple[nn.MLP, int]) -> tuple[nn.MLP, float]:
    """Train a model in a worker process; both come back through pickle."""
    model, seed = args
    X, y = make_moons(40, noise=0.1, seed=seed)
    h = nn.fit(model, X, y, epochs=3, batch_size=10, progress=False, seed=seed)
    return model, h.loss[-1]


def _pool_trains_two(method: str) -> None:
    models = [nn.MLP(2, [4, 1]), nn.MLP(2, [4, 1], activation="relu")]  # linear outputs
    expected = [train_one((copy.deepcopy(m), s)) for m, s in zip(models, (0, 1))]
    with multiprocessing.get_context(method).Pool(2) as pool:
        got = pool.map(train_one, list(zip(models, (0, 1))))
    for (m1, l1), (m2, l2) in zip(expected, got):
        assert l1 == l2 and m1.state_dict() == m2.state_dict()
    assert all(m.state_dict() != g.state_dict() for m, (g, _) in zip(models, got))


def test_a_process_pool_trains_two_models() -> None:
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    _pool_trains_two(method)


@pytest.mark.slow
def test_a_spawned_process_pool_trains_two_models() -> None:
    _pool_trains_two("spawn")  # what macOS and Windows do: everything goes through pickle


@pytest.mark.parametrize("version", [True, 1.0, "1", None, 2, [1]])
def test_a_state_file_version_must_be_the_int_1(tmp_path, version) -> None:
    model = nn.MLP(2, [2, 1], seed=0)
    path = tmp_path / "m.json"
    model.save(path)
    doc = json.loads(path.read_text())
    if version is None:
        del doc["version"]
    else:
        doc["version"] = version
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="unsupported format version"):
        nn.MLP(2, [2, 1], seed=1).load(path)
    doc["version"] = 1
    path.write_text(json.dumps(doc))
    assert nn.MLP(2, [2, 1], seed=1).load(path).state_dict() == model.state_dict()
