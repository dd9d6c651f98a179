"""Small example graphs shared by the command-line demos (rendering, the step-through page)."""

from __future__ import annotations

from ..engine.value import Value


def neuron() -> Value:
    """micrograd's neuron, L = tanh(x1*w1 + x2*w2 + b), every node labelled, no gradients yet."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1w1"
    x2w2 = x2 * w2
    x2w2.label = "x2w2"
    s = x1w1 + x2w2
    s.label = "s"
    n = s + b
    n.label = "n"
    L = n.tanh()
    L.label = "L"
    return L
