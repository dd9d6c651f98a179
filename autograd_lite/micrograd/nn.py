"""micrograd's `nn` (`Module`, `Neuron`, `Layer`, `MLP`) on autograd-lite's engine.

Change `from micrograd.nn import ...` (or `from micrograd import nn`) to
`from autograd_lite.micrograd.nn import ...` (`from autograd_lite.micrograd import nn`).
Weights are drawn with `random.uniform(-1, 1)` from Python's global `random`, in micrograd's
order (layer by layer, neuron by neuron, weights only; biases start at 0), so after
`random.seed(1337)` a model has micrograd's exact weights; the reprs are micrograd's
(`ReLUNeuron(2)`, `LinearNeuron(16)`, `Layer of [...]`, `MLP of [...]`).

Differences, each where micrograd silently misbehaves: a wrong input length raises
ValueError (micrograd's `zip` drops the extra inputs or weights without a word), sizes must
be positive ints, `named_parameters()` (not in micrograd) gives dotted names, and
`graph_clusters()` tells `autograd_lite.draw_graph(loss, modules=model)` the clusters per
layer and neuron.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

from .engine import Value


def _size(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what} must be an int, got {type(n).__name__} {n!r}")
    if n < 1:
        raise ValueError(f"{what} must be at least 1, got {n}")
    return n


class Module:
    """micrograd's base class: `parameters()` and `zero_grad()`."""

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to 0 (call before each `backward()`)."""
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self) -> list[Value]:
        """The trainable Values, in micrograd's order."""
        return []

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Value]]:
        """`(dotted_name, Value)` pairs in `parameters()` order, e.g. `layers.0.neurons.3.w.1`."""
        return iter(())

    def graph_clusters(self) -> dict[Value, tuple[str, ...]]:
        """Each parameter's cluster path for `draw_graph(..., modules=model)`, outermost first
        (`("layers.0", "layers.0.neurons.3")`); a lone neuron's are in none."""
        return dict.fromkeys(self.parameters(), ())


class Neuron(Module):
    """`nin` weights and a bias; ReLU of the weighted sum if `nonlin`, else linear."""

    def __init__(self, nin: int, nonlin: bool = True) -> None:
        _size(nin, "Neuron: nin")
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0)
        self.nonlin = nonlin

    def __call__(self, x: Sequence[Any]) -> Value:
        """b + sum of w_i * x_i (micrograd's order of additions), through ReLU if nonlin."""
        if len(x) != len(self.w):
            raise ValueError(f"{self!r} takes {len(self.w)} inputs, got {len(x)}")
        act = self.b  # micrograd: sum((wi*xi for ...), self.b), the same additions in order
        for wi, xi in zip(self.w, x):
            act = act + wi * xi
        return act.relu() if self.nonlin else act

    def parameters(self) -> list[Value]:
        """The weights, then the bias."""
        return self.w + [self.b]

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Value]]:
        """`w.0`, `w.1`, ..., `b` (after `prefix.`)."""
        p = f"{prefix}." if prefix else ""
        for i, w in enumerate(self.w):
            yield f"{p}w.{i}", w
        yield f"{p}b", self.b

    def __repr__(self) -> str:
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


class Layer(Module):
    """`nout` neurons on the same inputs; a layer of one neuron returns a Value, not a list."""

    def __init__(self, nin: int, nout: int, **kwargs: Any) -> None:
        _size(nout, "Layer: nout")
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x: Sequence[Any]) -> Value | list[Value]:
        """Each neuron's output; a single Value for a layer of one neuron."""
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        """Neuron by neuron."""
        return [p for n in self.neurons for p in n.parameters()]

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Value]]:
        """`neurons.<i>.w.<j>` and `neurons.<i>.b` (after `prefix.`)."""
        p = f"{prefix}." if prefix else ""
        for i, n in enumerate(self.neurons):
            yield from n.named_parameters(f"{p}neurons.{i}")

    def graph_clusters(self) -> dict[Value, tuple[str, ...]]:
        """One cluster per neuron, `neurons.<i>`."""
        return {p: (f"neurons.{i}",) for i, n in enumerate(self.neurons) for p in n.parameters()}

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """Layers of sizes `nouts` after `nin` inputs: ReLU hidden layers, a linear last layer."""

    def __init__(self, nin: int, nouts: Sequence[int]) -> None:
        _size(nin, "MLP: nin")
        if isinstance(nouts, int | str) or not isinstance(nouts, Sequence):
            raise TypeError(f"MLP: nouts must be a list of layer sizes, got {nouts!r}")
        if not nouts:
            raise ValueError("MLP: nouts is empty; give at least one layer size")
        sz = [nin] + [_size(n, f"MLP: nouts[{i}]") for i, n in enumerate(nouts)]
        self.layers = [Layer(sz[i], sz[i + 1], nonlin=i != len(nouts) - 1)
                       for i in range(len(nouts))]

    def __call__(self, x: Sequence[Any]) -> Value | list[Value]:
        """The last layer's output: a Value when it has one neuron, else a list."""
        out: Any = x
        for layer in self.layers:
            out = layer(out)
        return out

    def parameters(self) -> list[Value]:
        """Layer by layer, neuron by neuron, weights then bias (micrograd's order)."""
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Value]]:
        """`layers.<k>.neurons.<i>.w.<j>` and `...b` (after `prefix.`)."""
        p = f"{prefix}." if prefix else ""
        for i, layer in enumerate(self.layers):
            yield from layer.named_parameters(f"{p}layers.{i}")

    def graph_clusters(self) -> dict[Value, tuple[str, ...]]:
        """A cluster per layer, `layers.<k>`, holding one per neuron, `layers.<k>.neurons.<i>`."""
        return {p: (f"layers.{k}", *(f"layers.{k}.{name}" for name in path))
                for k, layer in enumerate(self.layers)
                for p, path in layer.graph_clusters().items()}

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


__all__ = ["Module", "Neuron", "Layer", "MLP"]
