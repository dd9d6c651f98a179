"""Neuron health: over a batch of inputs, how often each tanh/sigmoid unit is saturated and
each ReLU unit is dead, the two ways a unit stops passing gradient.

    health = nn.neuron_health(model, X)      # {"layers.0.neurons.0": NeuronHealth, ...}
    [name for name, h in health.items() if h.dead == 1.0]   # ReLU units dead on the batch
    draw_graph(loss, modules=model, health=health)          # marks them in the picture

Thresholds (chosen so both kinds mean the same thing: the unit's local derivative is at most
`1 - saturation**2` of its maximum, 5.9% at the default 0.97, the |tanh| > 0.97 rule of thumb
of Karpathy's "makemore" lecture):
- tanh is saturated on a sample when |tanh(z)| >= saturation;
- sigmoid when |2 sigmoid(z) - 1| >= saturation (the same as tanh(z / 2); sigmoid <= 0.015 or
  >= 0.985 at 0.97);
- ReLU is dead on a sample when its pre-activation z <= 0 (output 0, local derivative 0, as
  the engine's relu'(0) = 0);
- a linear unit is neither (both fractions None).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from autograd_lite import Value, sigmoid, tanh

from . import arrays as _arrays
from .layers import MLP, Layer, Neuron
from .module import Module

#: Default |activation| threshold for saturation (tanh scale).
SATURATION = 0.97


@dataclass(frozen=True)
class NeuronHealth:
    """One neuron's health over a batch: fractions of the batch in [0, 1], or None when the
    kind does not apply to its activation (`saturated` for tanh/sigmoid, `dead` for relu)."""

    name: str  #: dotted name, as its output Value's label (`layers.0.neurons.3`)
    layer: int  #: layer index (0 for a lone Layer or Neuron)
    index: int  #: neuron index within its layer
    activation: str
    saturated: float | None  #: fraction of samples with a saturated tanh/sigmoid
    dead: float | None  #: fraction of samples where the ReLU outputs 0 (no gradient)
    samples: int  #: batch size the fractions are over
    #: the `saturation` argument for tanh/sigmoid units (|tanh| or |2 sigmoid - 1| >= it), else None
    saturation_threshold: float | None = None
    #: 0.0 for ReLU units (dead where the pre-activation is <= it), else None
    dead_threshold: float | None = None

    @property
    def stuck(self) -> float:
        """The fraction of the batch on which the unit passes (almost) no gradient."""
        return self.saturated if self.saturated is not None else (self.dead or 0.0)


def _rows(X: Any, nin: int) -> list[list[float]]:
    rows = _arrays.rows(X, "neuron_health: X")
    if not rows:
        raise ValueError("neuron_health: X must be a non-empty batch of input vectors")
    out = []
    for i, row in enumerate(rows):
        if len(row) != nin:
            raise ValueError(f"neuron_health: X[{i}] must be a row of {nin} numbers, got "
                             f"{len(row)}")
        out.append([v.data if isinstance(v, Value) else v for v in row])
    return out


def _layers(model: Module) -> list[tuple[list[Neuron], str]]:
    """(neurons, dotted prefix) per layer, in forward order."""
    if isinstance(model, MLP):
        return [(layer.neurons, f"layers.{k}.neurons") for k, layer in enumerate(model.layers)]
    if isinstance(model, Layer):
        return [(model.neurons, "neurons")]
    if isinstance(model, Neuron):
        return [([model], "")]
    raise TypeError(f"neuron_health: expects an MLP, Layer or Neuron, got {type(model).__name__}")


def _state(activation: str, z: float, saturation: float) -> tuple[bool, bool, float]:
    """(saturated, dead, output) of one unit at pre-activation z."""
    if activation == "tanh":
        out = tanh(z)
        return abs(out) >= saturation, False, out
    if activation == "sigmoid":
        out = sigmoid(z)
        return abs(2.0 * out - 1.0) >= saturation, False, out
    if activation == "relu":
        return False, z <= 0.0, (z if z > 0.0 else 0.0)
    return False, False, z


def neuron_health(model: Module, X: Any, *,
                  saturation: float = SATURATION) -> dict[str, NeuronHealth]:
    """Per neuron, by dotted name in parameter order (layer by layer, neuron by neuron), the
    fraction of the batch `X` on which it is saturated (tanh, sigmoid: |activation| >=
    `saturation` on the tanh scale) or dead (ReLU: pre-activation <= 0). Evaluated on floats;
    no graph is recorded. `draw_graph(..., health=...)` takes the result as it is."""
    if isinstance(saturation, bool) or not isinstance(saturation, numbers.Real) or \
            not 0.0 < saturation < 1.0:
        raise ValueError(f"neuron_health: saturation must be a number in (0, 1), got "
                         f"{saturation!r}")
    layers = _layers(model)
    rows = _rows(X, layers[0][0][0].nin)
    counts = [[[0, 0] for _ in neurons] for neurons, _ in layers]
    for row in rows:
        h = row
        for k, (neurons, _) in enumerate(layers):
            nxt = []
            for j, n in enumerate(neurons):
                z = n.b.data  # the same summation order as Neuron._forward
                for w, v in zip(n.w, h):
                    z = z + w.data * v
                sat, dead, y = _state(n.activation, z, saturation)
                counts[k][j][0] += sat
                counts[k][j][1] += dead
                nxt.append(y)
            h = nxt
    out: dict[str, NeuronHealth] = {}
    for k, (neurons, prefix) in enumerate(layers):
        for j, n in enumerate(neurons):
            sat, dead = counts[k][j]
            name = f"{prefix}.{j}" if prefix else (n.b.label.rpartition(".")[0])
            squashing, relu = n.activation in ("tanh", "sigmoid"), n.activation == "relu"
            out[name] = NeuronHealth(
                name=name, layer=k, index=j, activation=n.activation,
                saturated=sat / len(rows) if squashing else None,
                dead=dead / len(rows) if relu else None, samples=len(rows),
                saturation_threshold=float(saturation) if squashing else None,
                dead_threshold=0.0 if relu else None)
    return out
