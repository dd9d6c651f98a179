"""`Neuron`, `Layer` and `MLP`: fully connected layers built from scalar Values.

Parameter order (fixed, documented, relied on by rendering and saved files): layer by layer,
neuron by neuron, each neuron's weights in input order then its bias. Names are dotted paths:
`layers.0.neurons.3.w.1` is the weight of input 1 in neuron 3 of the first layer, and
`layers.0.neurons.3.b` its bias. After construction each parameter's `.label` is its name.

Initialisation draws uniformly in [-limit, limit], in that same order: Glorot/Xavier
`sqrt(6 / (fan_in + fan_out))` for tanh, sigmoid and linear units, He/Kaiming
`sqrt(6 / fan_in)` for relu. Biases start at 0. The draws come from `random.Random(seed)` when
a module is given `seed=` (exactly reproducible on any machine), else from nn's own generator
(never Python's global `random`): fresh randomness per process, so `[Neuron(3) for _ in
range(4)]` are four different neurons, reproducible after `nn.manual_seed(n)` (PyTorch's
`torch.manual_seed` pattern).
"""

from __future__ import annotations

import math
import numbers
import operator
import random
from collections.abc import Callable, Sequence
from typing import Any

from autograd_lite import Value

from . import torch_bridge
from .module import Module


def identity(v: Value) -> Value:
    """The linear activation: the pre-activation itself (a named function, not a lambda, so
    modules pickle and go through multiprocessing and joblib)."""
    return v


#: Activation name -> function on a Value. "linear" is the identity.
ACTIVATIONS: dict[str, Callable[[Value], Value]] = {
    "tanh": Value.tanh,
    "relu": Value.relu,
    "sigmoid": Value.sigmoid,
    "linear": identity,
}

_mul = operator.mul


def check_activation(name: object) -> str:
    """Return `name` if it is a known activation, else raise ValueError listing the choices."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return name


def init_limit(activation: str, fan_in: int, fan_out: int) -> float:
    """Half-width of the uniform initialisation: He for relu, Glorot for the others."""
    if activation == "relu":
        return math.sqrt(6.0 / fan_in)
    return math.sqrt(6.0 / (fan_in + fan_out))


def _check_size(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"{what} must be a positive int, got {n!r}")
    return int(n)


def _check_seed(seed: object, where: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{where} must be an int, got {type(seed).__name__} {seed!r}")
    return int(seed)


_initial_seed = random.SystemRandom().getrandbits(63)
#: nn's generator: where modules made without `seed=` draw their weights.
_generator = random.Random(_initial_seed)


def manual_seed(seed: int) -> None:
    """Seed nn's generator, from which modules made without `seed=` draw their weights:
    `nn.manual_seed(0); a = MLP(2, [3, 1]); nn.manual_seed(0); b = MLP(2, [3, 1])` gives
    equal models (as `torch.manual_seed`). Python's global `random` is not touched."""
    global _initial_seed
    _initial_seed = _check_seed(seed, "manual_seed: seed")
    _generator.seed(seed)


def initial_seed() -> int:
    """The seed nn's generator was last seeded with (a fresh one per process until
    `manual_seed` is called): print it to be able to rerun an unseeded run exactly."""
    return _initial_seed


def _rng(seed: object, rng: random.Random | None) -> random.Random:
    if rng is not None:
        if not isinstance(rng, random.Random):
            raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")
        return rng
    if seed is None:
        return _generator
    return random.Random(_check_seed(seed, "seed"))


def as_values(x: Sequence[Any], n: int, where: str) -> list[Value]:
    """Check that `x` has `n` entries and lift plain numbers to Values once (shared by all
    neurons of a layer, so no neuron makes its own constant nodes)."""
    if isinstance(x, Value | int | float | str) or not hasattr(x, "__len__"):
        raise TypeError(f"{where} expects a sequence of {n} numbers or Values, got "
                        f"{type(x).__name__}")
    if len(x) != n:
        raise ValueError(f"{where} expects {n} inputs, got {_batch_hint(x, n) or len(x)}")
    try:
        return [v if type(v) is Value else Value(v) for v in x]
    except TypeError:
        if _looks_batched(x):  # n rows of n numbers
            raise TypeError(f"{where} expects {n} numbers, got {_batch_hint(x, n)}") from None
        raise


def _looks_batched(x: Any) -> bool:
    """x is a 2-D array or a list of rows (a batch), not one sample."""
    return len(getattr(x, "shape", ())) == 2 or (
        len(x) > 0 and hasattr(x[0], "__len__") and not isinstance(x[0], Value | str))


def _batch_hint(x: Any, n: int) -> str:
    """For a batch passed where one sample is expected: what it is, and what to call."""
    if not _looks_batched(x):
        return ""
    cols = x.shape[1] if hasattr(x, "shape") else len(x[0])
    return (f"{len(x)} row{'s' * (len(x) != 1)} of {cols}: a model takes one sample (a list "
            f"of {n} numbers); for a batch use nn.predict(model, X)")


def _dense(neurons: list[Neuron], activation: str) -> torch_bridge.Dense:
    """Neurons over the same inputs as one Linear layer's plain numbers (row j: neuron j)."""
    return ([[w.data for w in n.w] for n in neurons], [n.b.data for n in neurons], activation)


class Neuron(Module):
    """One unit: `activation(b + sum_i w[i] * x[i])`. Parameters: `w.0 .. w.{nin-1}`, then `b`."""

    def __init__(self, nin: int, activation: str = "tanh", *, seed: int | None = None,
                 rng: random.Random | None = None, fan_out: int = 1) -> None:
        self.nin = _check_size(nin, "Neuron nin")
        self.activation = check_activation(activation)
        r = _rng(seed, rng)
        limit = init_limit(activation, nin, _check_size(fan_out, "Neuron fan_out"))
        self.w = [Value(r.uniform(-limit, limit)) for _ in range(nin)]
        self.b = Value(0.0)
        self._act = ACTIVATIONS[activation]
        if rng is None:
            self.label_parameters()

    def forward(self, x: Sequence[Any]) -> Value:
        """The neuron's output for `nin` inputs (numbers or Values)."""
        return self._forward(as_values(x, self.nin, "Neuron"))

    def _forward(self, xs: list[Value]) -> Value:
        # Starting the sum from the bias: nin products and nin additions, no extra nodes.
        out = self._act(sum(map(_mul, self.w, xs), self.b))
        # The output carries the neuron's dotted name (its bias is `<name>.b`), so tapes and
        # pictures name it and draw_graph ends the neuron's cluster there.
        name = self.b.label.rpartition(".")[0]
        if name:
            out.label = name
        return out

    def to_torch(self) -> Any:
        """A float64 `torch.nn.Sequential(Linear(nin, 1)[, activation])` with this neuron's
        weights (row 0) and bias. Needs torch installed."""
        return torch_bridge.sequential([_dense([self], self.activation)])

    def __repr__(self) -> str:
        return f"Neuron({self.nin}, activation={self.activation!r})"


class Layer(Module):
    """`nout` neurons over the same `nin` inputs; `layer(x)` returns a list of `nout` Values."""

    def __init__(self, nin: int, nout: int, activation: str = "tanh", *, seed: int | None = None,
                 rng: random.Random | None = None) -> None:
        self.nin = _check_size(nin, "Layer nin")
        self.nout = _check_size(nout, "Layer nout")
        self.activation = check_activation(activation)
        r = _rng(seed, rng)
        self.neurons = [Neuron(nin, activation, rng=r, fan_out=nout) for _ in range(nout)]
        if rng is None:
            self.label_parameters()

    def forward(self, x: Sequence[Any]) -> list[Value]:
        """Each neuron's output, in neuron order."""
        xs = as_values(x, self.nin, "Layer")
        return [n._forward(xs) for n in self.neurons]

    def to_torch(self) -> Any:
        """A float64 `torch.nn.Sequential(Linear(nin, nout)[, activation])`, neuron j being
        row j of the weight and entry j of the bias. Needs torch installed."""
        return torch_bridge.sequential([_dense(self.neurons, self.activation)])

    def __repr__(self) -> str:
        return f"Layer({self.nin}, {self.nout}, activation={self.activation!r})"


class MLP(Module):
    """A multi-layer perceptron: `MLP(2, [16, 16, 1])` has two tanh hidden layers of 16 and a
    linear output; `model(x)` returns a Value when the last size is 1, else a list of Values.

    Hidden layers use `activation`; the output layer uses `output_activation` ("linear" when
    None). Same `seed`, same weights, on any machine; without `seed`, weights come from nn's
    generator (see `manual_seed`).
    """

    def __init__(self, nin: int, sizes: Sequence[int], activation: str = "tanh",
                 output_activation: str | None = None, seed: int | None = None) -> None:
        self.nin = _check_size(nin, "MLP nin")
        if hasattr(sizes, "tolist") and not isinstance(sizes, Sequence):  # a numpy array
            sizes = sizes.tolist()
        if isinstance(sizes, int | str) or not isinstance(sizes, Sequence) or not sizes:
            raise ValueError(f"MLP sizes must be a non-empty list of layer sizes, got {sizes!r}")
        self.sizes = [_check_size(s, f"MLP sizes[{i}]") for i, s in enumerate(sizes)]
        self.activation = check_activation(activation)
        self.output_activation = check_activation(output_activation or "linear")
        r = _rng(seed, None)
        dims = [nin, *self.sizes]
        last = len(self.sizes) - 1
        self.layers = [
            Layer(dims[i], dims[i + 1], self.output_activation if i == last else activation,
                  rng=r)
            for i in range(len(self.sizes))
        ]
        self.label_parameters()

    @classmethod
    def from_torch(cls, module: Any) -> MLP:
        """The MLP equal to a `torch.nn.Sequential` of Linear layers each followed by at most
        one Tanh/ReLU/Sigmoid/Identity (or to a module `to_torch()` made); weights copied."""
        layers = torch_bridge.read_sequential(module)
        hidden = {act for _, _, act in layers[:-1]}
        if len(hidden) > 1:
            raise ValueError(f"from_torch(): hidden layers mix activations {sorted(hidden)}; "
                             "an MLP has one hidden activation")
        model = MLP(len(layers[0][0][0]), [len(weight) for weight, _, _ in layers],
                    activation=hidden.pop() if hidden else "tanh",
                    output_activation=layers[-1][2], seed=0)
        state = {}
        for k, (weight, bias, _) in enumerate(layers):
            for j, row in enumerate(weight):
                for i, w in enumerate(row):
                    state[f"layers.{k}.neurons.{j}.w.{i}"] = w
                state[f"layers.{k}.neurons.{j}.b"] = bias[j]
        model.load_state_dict(state)
        return model

    def to_torch(self) -> Any:
        """A float64 `torch.nn.Sequential` of `Linear(nin, h1), Act(), ..., Linear(h_k,
        nout)[, OutAct()]` with this MLP's parameters. Needs torch installed."""
        return torch_bridge.sequential([_dense(layer.neurons, layer.activation)
                                        for layer in self.layers])

    def forward(self, x: Sequence[Any]) -> Value | list[Value]:
        """The output for one input vector of length `nin`."""
        out: Any = x
        for layer in self.layers:
            out = layer(out)
        return out[0] if len(out) == 1 else out

    def __repr__(self) -> str:
        extra = ("" if self.output_activation == "linear"
                 else f", output_activation={self.output_activation!r}")
        return f"MLP({self.nin}, {self.sizes}, activation={self.activation!r}{extra})"
