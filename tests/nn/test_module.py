"""nn modules: parameter names and order, seeded initialisation, forward values, state,
save/load round trips and every bad-file case, and the public-API-only import rule."""

from __future__ import annotations

import ast
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite
import nn
from autograd_lite import Value
from nn import MLP, Layer, Module, Neuron, RNNCell

NN_DIR = Path(__file__).resolve().parent.parent.parent / "nn"


def expected_names(nin: int, sizes: list[int]) -> list[str]:
    """The documented order: layer by layer, neuron by neuron, weights then bias."""
    names = []
    dims = [nin, *sizes]
    for layer in range(len(sizes)):
        for j in range(dims[layer + 1]):
            names += [f"layers.{layer}.neurons.{j}.w.{i}" for i in range(dims[layer])]
            names.append(f"layers.{layer}.neurons.{j}.b")
    return names


@given(nin=st.integers(1, 4), sizes=st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_mlp_names_order_and_labels(nin: int, sizes: list[int]) -> None:
    m = MLP(nin, sizes, seed=1)
    named = list(m.named_parameters())
    assert [n for n, _ in named] == expected_names(nin, sizes)
    assert m.parameters() == [p for _, p in named]
    assert all(p.label == n for n, p in named)
    assert len(set(m.parameters())) == len(named)  # no Value appears twice
    for name, p in named:  # each name is the path to the Value in the structure
        parts = name.split(".")
        obj = m
        for part in parts:
            obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
        assert obj is p


def test_rnn_cell_names() -> None:
    cell = RNNCell(2, 3)
    names = [n for n, _ in cell.named_parameters()]
    assert names == ([f"W.{i}.{j}" for i in range(3) for j in range(2)]
                     + [f"U.{i}.{k}" for i in range(3) for k in range(3)]
                     + [f"b.{i}" for i in range(3)])
    assert all(p.label == n for n, p in cell.named_parameters())
    states = cell.unroll([[1.0, 0.0], [0.0, 1.0]])
    assert [[v.label for v in h] for h in states] == [["h1.0", "h1.1", "h1.2"],
                                                      ["h2.0", "h2.1", "h2.2"]]


def test_neuron_and_layer_names() -> None:
    assert [n for n, _ in Neuron(3).named_parameters()] == ["w.0", "w.1", "w.2", "b"]
    assert [n for n, _ in Layer(2, 2).named_parameters()] == [
        "neurons.0.w.0", "neurons.0.w.1", "neurons.0.b",
        "neurons.1.w.0", "neurons.1.w.1", "neurons.1.b"]


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear"])
def test_init_follows_documented_draws(activation: str) -> None:
    # Independent re-derivation from the documented rule: one random.Random(seed), uniform
    # draws in parameter order, Glorot limit (He for relu), output layer linear, biases 0.
    nin, sizes, seed = 3, [5, 4, 2], 1234
    m = MLP(nin, sizes, activation=activation, seed=seed)
    r = random.Random(seed)
    dims = [nin, *sizes]
    want = []
    for layer in range(len(sizes)):
        act = "linear" if layer == len(sizes) - 1 else activation
        fi, fo = dims[layer], dims[layer + 1]
        lim = math.sqrt(6 / fi) if act == "relu" else math.sqrt(6 / (fi + fo))
        for _ in range(fo):
            want += [r.uniform(-lim, lim) for _ in range(fi)] + [0.0]
    assert [p.data for p in m.parameters()] == want


def test_init_ignores_global_random_state() -> None:
    random.seed(1)
    a = MLP(4, [3, 2], seed=7).state_dict()
    random.seed(2)
    random.random()
    b = MLP(4, [3, 2], seed=7).state_dict()
    assert a == b
    assert MLP(4, [3, 2], seed=8).state_dict() != a


def test_relu_scale_is_wider_than_tanh() -> None:
    w_relu = [p.data for n, p in MLP(50, [50, 1], "relu", seed=0).named_parameters()
              if ".w." in n]
    w_tanh = [p.data for n, p in MLP(50, [50, 1], "tanh", seed=0).named_parameters()
              if ".w." in n]
    assert max(map(abs, w_relu[:2500])) <= math.sqrt(6 / 50)
    assert max(map(abs, w_tanh[:2500])) <= math.sqrt(6 / 100)
    assert max(map(abs, w_relu[:2500])) > math.sqrt(6 / 100)  # He is wider than Glorot


# ---- default initialisation: nn's own generator, seedable ----------------

def _weights(m: Module) -> list[float]:
    return [p.data for p in m.parameters()]


def test_unseeded_neurons_differ() -> None:
    neurons = [Neuron(3) for _ in range(4)]
    assert len({tuple(_weights(n)) for n in neurons}) == 4
    layer = Layer(3, 4)
    assert len({tuple(_weights(n)) for n in layer.neurons}) == 4
    assert _weights(MLP(2, [3, 1])) != _weights(MLP(2, [3, 1]))
    assert _weights(RNNCell(2, 3)) != _weights(RNNCell(2, 3))


@pytest.mark.parametrize("make", [lambda: MLP(3, [4, 2], activation="relu"),
                                  lambda: Layer(2, 3), lambda: Neuron(5, "sigmoid"),
                                  lambda: RNNCell(2, 3)], ids=["MLP", "Layer", "Neuron", "RNN"])
def test_manual_seed_makes_unseeded_modules_reproducible(make) -> None:
    nn.manual_seed(0)
    a = make()
    nn.manual_seed(0)
    b = make()
    assert a.state_dict() == b.state_dict()
    assert make().state_dict() != a.state_dict()  # the generator moved on
    nn.manual_seed(1)
    assert make().state_dict() != a.state_dict()


def test_unseeded_draws_follow_the_documented_rule_from_nn_generator() -> None:
    # manual_seed(n) then an unseeded MLP draws what random.Random(n) draws, in parameter order.
    nn.manual_seed(99)
    m = MLP(2, [3, 1])
    r = random.Random(99)
    want = []
    for fi, fo in ((2, 3), (3, 1)):
        lim = math.sqrt(6 / (fi + fo))
        for _ in range(fo):
            want += [r.uniform(-lim, lim) for _ in range(fi)] + [0.0]
    assert _weights(m) == want
    assert nn.initial_seed() == 99


def test_default_init_neither_uses_nor_moves_the_global_random_state() -> None:
    random.seed(5)
    state = random.getstate()
    a = MLP(3, [4, 1])
    assert random.getstate() == state  # untouched
    random.seed(5)
    assert _weights(MLP(3, [4, 1])) != _weights(a)  # not drawn from it either


def test_explicit_seed_ignores_manual_seed_and_the_generator() -> None:
    nn.manual_seed(3)
    a = MLP(4, [3, 2], seed=7)
    MLP(4, [3, 2])  # moves nn's generator
    nn.manual_seed(12345)
    assert MLP(4, [3, 2], seed=7).state_dict() == a.state_dict()
    assert Neuron(3, seed=1).state_dict() == Neuron(3, seed=1).state_dict()


def test_fresh_processes_draw_fresh_weights_and_can_be_replayed() -> None:
    code = ("import nn; m = nn.MLP(2, [3, 1]); "
            "print(nn.initial_seed(), *[p.data for p in m.parameters()])")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.split() for _ in range(2)]
    assert runs[0][1:] != runs[1][1:]
    nn.manual_seed(int(runs[0][0]))  # a run's printed seed replays it exactly
    assert [repr(w) for w in _weights(MLP(2, [3, 1]))] == runs[0][1:]


@pytest.mark.parametrize("bad", ["0", 1.5, True, None])
def test_manual_seed_rejects_non_ints(bad) -> None:
    with pytest.raises(TypeError, match="manual_seed"):
        nn.manual_seed(bad)


ACTS = {"tanh": math.tanh, "relu": lambda v: max(v, 0.0),
        "sigmoid": lambda v: 1 / (1 + math.exp(-v)), "linear": lambda v: v}


@given(x=st.lists(st.floats(-3, 3), min_size=3, max_size=3),
       activation=st.sampled_from(sorted(ACTS)), out_act=st.sampled_from([None, "sigmoid"]),
       seed=st.integers(0, 2**32))
def test_mlp_forward_matches_plain_float_evaluation(x, activation, out_act, seed) -> None:
    m = MLP(3, [4, 2], activation=activation, output_activation=out_act, seed=seed)
    h = list(x)
    for k, layer in enumerate(m.layers):
        f = ACTS[(out_act or "linear") if k == len(m.layers) - 1 else activation]
        h = [f(sum(w.data * v for w, v in zip(n.w, h)) + n.b.data) for n in layer.neurons]
    out = m(x)
    assert isinstance(out, list) and len(out) == 2
    assert all(math.isclose(o.data, e, rel_tol=1e-12, abs_tol=1e-12) for o, e in zip(out, h))


def test_single_output_is_a_value_and_inputs_may_be_values() -> None:
    m = MLP(2, [3, 1])
    out = m([Value(0.5), 1.0])
    assert isinstance(out, Value)
    assert isinstance(Neuron(2)([1.0, 2.0]), Value)
    assert len(Layer(2, 1)([1.0, 2.0])) == 1


@pytest.mark.parametrize("bad, exc", [
    (lambda: MLP(2, [3, 1])([1.0]), ValueError),
    (lambda: MLP(2, [3, 1])([1.0, 2.0, 3.0]), ValueError),
    (lambda: MLP(2, [3, 1])(1.0), TypeError),
    (lambda: MLP(2, [3, 1])(["a", 1.0]), TypeError),
    (lambda: MLP(2, [3, 1], activation="gelu"), ValueError),
    (lambda: MLP(2, [3, 1], output_activation="softmax"), ValueError),
    (lambda: MLP(2, []), ValueError),
    (lambda: MLP(2, [0, 1]), ValueError),
    (lambda: MLP(0, [1]), ValueError),
    (lambda: MLP(2, [3, 1], seed="abc"), TypeError),
    (lambda: RNNCell(2, 3)([1.0, 2.0], [0.0]), ValueError),
])
def test_bad_construction_and_inputs_raise(bad, exc) -> None:
    with pytest.raises(exc):
        bad()


def test_zero_grad() -> None:
    m = MLP(2, [3, 1])
    m([1.0, -1.0]).backward()
    assert any(p.grad != 0.0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad == 0.0 for p in m.parameters())


def test_custom_module_finds_parameters_in_assignment_order() -> None:
    class Net(Module):
        def __init__(self) -> None:
            self.encoder = MLP(2, [2])
            self.scale = Value(2.0)
            self.heads = [Neuron(2), Neuron(2)]
            self.name = "not a parameter"
            self._cache = Value(9.0)  # private: not a parameter

        def forward(self, x):
            return self.heads[0](self.encoder(x)) * self.scale

    names = [n for n, _ in Net().named_parameters()]
    assert names[:6] == ["encoder." + n for n in expected_names(2, [2])]
    assert names[6] == "scale" and names[7] == "heads.0.w.0" and names[-1] == "heads.1.b"
    assert len(names) == 6 + 1 + 3 + 3
    assert isinstance(Net()([1.0, 2.0]), Value)


def test_tied_parameter_is_listed_once() -> None:
    class Tied(Module):
        def __init__(self) -> None:
            self.a = Neuron(2)
            self.b = Neuron(2)
            self.b.w = self.a.w  # weight tying: b shares a's weights

    names = [n for n, _ in Tied().named_parameters()]
    assert names == ["a.w.0", "a.w.1", "a.b", "b.b"]


# ---- state, save and load ---------------------------------------------------------------------

def test_state_dict_is_plain_json() -> None:
    m = MLP(3, [4, 2], seed=3)
    s = m.state_dict()
    assert list(s) == [n for n, _ in m.named_parameters()]
    assert json.loads(json.dumps(s)) == s


@given(seed=st.integers(0, 10**6), scale=st.floats(1e-300, 1e300))
def test_save_load_round_trip_is_exact(tmp_path_factory, seed: int, scale: float) -> None:
    path = tmp_path_factory.mktemp("rt") / "model.json"
    a = MLP(3, [4, 2], activation="relu", seed=seed)
    for p in a.parameters():  # awkward floats: tiny, huge, with all 17 digits
        p.data = p.data * scale + math.pi / 7
    a.save(path)
    b = MLP(3, [4, 2], activation="relu", seed=seed + 1)
    assert b.load(path) is b
    assert b.state_dict() == a.state_dict()
    assert [repr(x.data) for x in b([0.1, 0.2, 0.3])] == [repr(x.data) for x in a([0.1, 0.2, 0.3])]
    assert [p.label for p in b.parameters()] == [n for n, _ in b.named_parameters()]


def test_load_state_dict_round_trip() -> None:
    a, b = RNNCell(2, 3, seed=1), RNNCell(2, 3, seed=2)
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict()


def _good_doc(model: Module) -> dict:
    return {"format": "autograd-lite.nn.state", "version": 1, "model": "MLP",
            "parameters": model.state_dict()}


def _with(key: str, value: object):
    def change(doc: dict) -> str:
        doc["parameters"][key] = value
        return json.dumps(doc)
    return change


def _drop(doc: dict) -> str:
    del doc["parameters"]["layers.1.neurons.0.b"]
    return json.dumps(doc)


def _other_shape(doc: dict) -> str:
    doc["parameters"] = MLP(2, [4, 1]).state_dict()  # one hidden unit more: wrong shape
    return json.dumps(doc)


def _smaller_shape(doc: dict) -> str:
    doc["parameters"] = MLP(2, [2, 1]).state_dict()
    return json.dumps(doc)


BAD_FILES = {
    "missing key": (_drop, KeyError),
    "extra key": (_with("layers.2.neurons.0.b", 1.0), KeyError),
    "wrong shape, larger": (_other_shape, KeyError),
    "wrong shape, smaller": (_smaller_shape, KeyError),
    "string value": (_with("layers.0.neurons.0.w.0", "0.5"), TypeError),
    "null value": (_with("layers.0.neurons.0.w.0", None), TypeError),
    "bool value": (_with("layers.0.neurons.0.b", True), TypeError),
    "list value": (_with("layers.0.neurons.0.w.1", [0.5]), TypeError),
    "object value": (_with("layers.0.neurons.0.w.1", {"v": 1}), TypeError),
    "NaN": (lambda d: _with("layers.0.neurons.0.w.0", 1.5)(d).replace("1.5", "NaN"),
            ValueError),
    "Infinity": (lambda d: _with("layers.0.neurons.0.w.0", 1.5)(d).replace("1.5", "-Infinity"),
                 ValueError),
    "overflowing float": (lambda d: _with("layers.0.neurons.0.w.0", 1.5)(d).replace("1.5", "1e400"),
                          ValueError),
    "overflowing int": (_with("layers.0.neurons.0.w.0", 10**400), ValueError),
    "not JSON": (lambda d: json.dumps(d)[:-5], ValueError),
    "empty file": (lambda d: "", ValueError),
    "JSON list": (lambda d: json.dumps(list(d["parameters"].values())), ValueError),
    "wrong format": (lambda d: json.dumps({**d, "format": "something-else"}), ValueError),
    "no format": (lambda d: json.dumps(d["parameters"]), ValueError),
    "wrong version": (lambda d: json.dumps({**d, "version": 99}), ValueError),
    "no parameters": (lambda d: json.dumps({k: v for k, v in d.items() if k != "parameters"}),
                      KeyError),
    "parameters not an object": (lambda d: json.dumps({**d, "parameters": [1.0, 2.0]}),
                                 TypeError),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_raises_and_changes_nothing(tmp_path, case: str) -> None:
    make, exc = BAD_FILES[case]
    model = MLP(2, [3, 1], seed=5)
    text = make(_good_doc(MLP(2, [3, 1], seed=6)))  # a file with different, valid weights
    path = tmp_path / "bad.json"
    path.write_text(text)
    before = model.state_dict()
    with pytest.raises(exc) as info:
        model.load(path)
    assert str(path) in str(info.value)  # the message says which file
    assert model.state_dict() == before


def test_bad_file_message_names_the_problem(tmp_path) -> None:
    path = tmp_path / "m.json"
    MLP(2, [4, 1]).save(path)
    with pytest.raises(KeyError, match="missing.*layers.0.neurons.3.w.0|unexpected"):
        MLP(2, [3, 1]).load(path)
    with pytest.raises(KeyError,
                       match="17 parameters; the state has 0.*missing 'layers.0.neurons.0.w.0'"):
        MLP(2, [4, 1]).load_state_dict({})


def test_load_state_dict_rejects_and_keeps_model() -> None:
    model = MLP(2, [2, 1], seed=1)
    before = model.state_dict()
    bad: dict[str, object] = {k: 123.0 for k in before}
    bad["layers.1.neurons.0.b"] = "x"  # the last entry: earlier ones must not be assigned
    with pytest.raises(TypeError, match="layers.1.neurons.0.b"):
        model.load_state_dict(bad)
    assert model.state_dict() == before
    with pytest.raises(TypeError):
        model.load_state_dict([1.0, 2.0])  # type: ignore[arg-type]


def test_save_refuses_non_finite(tmp_path) -> None:
    m = MLP(2, [1])
    m.parameters()[0].data = math.inf
    with pytest.raises(ValueError, match="non-finite"):
        m.save(tmp_path / "m.json")


def test_no_pickle_in_nn() -> None:
    for path in NN_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                mods = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not {"pickle", "marshal", "shelve", "dill"} & set(mods), path


# ---- public API only ---------------------------------------------------------------------------

def test_nn_imports_only_public_autograd_lite_names() -> None:
    public = set(autograd_lite.__all__)
    # optional extras, imported lazily (inside functions: checked below)
    allowed_third_party = {"tqdm", "sklearn", "torch", "matplotlib", "IPython", "numpy"}
    stdlib = set(sys.stdlib_module_names)
    files = sorted(NN_DIR.glob("*.py"))
    assert files
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:  # module level: no optional dependency
            if isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) \
                    else [node.module or ""]
                for name in names:
                    assert name.split(".")[0] not in allowed_third_party, (
                        f"{path.name}:{node.lineno}: import {name} lazily, inside a function")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    top = alias.name.split(".")[0]
                    assert top != "autograd_lite", (
                        f"{path.name}:{node.lineno}: use 'from autograd_lite import ...'")
                    assert top in stdlib or top in allowed_third_party, (
                        f"{path.name}:{node.lineno}: unexpected import {alias.name}")
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: inside nn
                    continue
                mod = node.module or ""
                top = mod.split(".")[0]
                if top == "autograd_lite":
                    assert mod == "autograd_lite", (
                        f"{path.name}:{node.lineno}: imports private module {mod}")
                    for alias in node.names:
                        assert alias.name in public, (
                            f"{path.name}:{node.lineno}: {alias.name} is not public")
                else:
                    assert top in stdlib or top in allowed_third_party, (
                        f"{path.name}:{node.lineno}: unexpected import from {mod}")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert not (node.value.id == "autograd_lite" and node.attr.startswith("_")), (
                    f"{path.name}:{node.lineno}: private attribute autograd_lite.{node.attr}")
