"""The compiled caches' guard (`nn.compiled._Snapshot`) walks a model's common contents (floats,
names, lists of parameters, methods without defaults, neurons already seen) by short paths:
each change below must still give a different snapshot, and an unchanged model the same one."""

from __future__ import annotations

import math

import pytest

import nn
from autograd_lite import Value
from nn import compiled as nc
from nn.layers import ACTIVATIONS


def act(v):
    return v.tanh()


class Base(nn.Module):
    scale = 1.0

    def __init__(self) -> None:
        self.w = [Value(0.5), Value(-0.5)]
        self.b = Value(0.0)
        self.k = 1
        self.shift = 0.0
        self.fn = act

    def forward(self, x):
        return self.fn(x[0] * self.w[0] + x[1] * self.w[1] + self.b) * self.scale

    def helper(self, v):
        return v


class Leaf(Base):
    pass


class Own(Base):
    """Finds its parameters its own way."""

    def parameters(self):
        return [*self.w, self.b]


class Pair(nn.Module):
    def __init__(self, first, second) -> None:
        self.parts = [first, second]

    def forward(self, x):
        return self.parts[0](x) + self.parts[1](x)


def snap(m):
    return nc._Snapshot(m, set(m.parameters()))


def net():
    return nn.MLP(2, [3, 1], activation="tanh", seed=0)


def pair():
    return Pair(Leaf(), Base())


def change_defaults(m):
    Base.helper.__defaults__ = (2.0,)


def change_kwdefaults(m):
    Base.helper.__kwdefaults__ = {"z": 1.0}


def change_method_attribute(m):
    Base.helper.tag = "new"


def change_base_constant(m):
    Base.scale = 2.0  # Base first met through Leaf's MRO, then as a class of its own


CHANGES = {
    "activation function replaced": (net, lambda m: setattr(
        m.layers[0].neurons[1], "_act", ACTIVATIONS["relu"])),
    "function attribute": (pair, lambda m: setattr(act, "k", 3.0)),
    "weight list gets a constant": (net, lambda m: m.layers[1].neurons[0].w.append(
        Value(1.0))),
    "weight replaced by a float": (net, lambda m: m.layers[1].neurons[0].w.__setitem__(
        0, 0.25)),
    "weight replaced by another Value": (net, lambda m: m.layers[1].neurons[0].w.__setitem__(
        0, Value(m.layers[1].neurons[0].w[0].data))),
    "int becomes bool": (pair, lambda m: setattr(m.parts[1], "k", True)),
    "int becomes float": (pair, lambda m: setattr(m.parts[0], "k", 1.0)),
    "zero becomes minus zero": (pair, lambda m: setattr(m.parts[1], "shift", -0.0)),
    "float becomes nan": (pair, lambda m: setattr(m.parts[0], "shift", math.nan)),
    "method defaults": (pair, change_defaults),
    "method keyword defaults": (pair, change_kwdefaults),
    "method attribute": (pair, change_method_attribute),
    "base class constant": (pair, change_base_constant),
    "neuron swapped for a twin": (net, lambda m: m.layers[0].neurons.reverse()),
    "attribute added": (net, lambda m: setattr(m.layers[1], "extra", None)),
}


@pytest.fixture(autouse=True)
def restore():
    yield
    Base.scale = 1.0
    Base.helper.__defaults__ = None
    Base.helper.__kwdefaults__ = None
    vars(Base.helper).clear()
    vars(act).clear()


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_each_change_gives_another_snapshot(name):
    make, change = CHANGES[name]
    m = make()
    before = snap(m)
    assert before.state is not None and snap(m).matches(before)  # unchanged: the same
    change(m)
    assert not snap(m).matches(before)


def test_a_base_class_that_finds_parameters_its_own_way_is_seen_through_a_subclass():
    class Sub(Own):
        pass

    assert not snap(Pair(Leaf(), Base())).custom
    assert snap(Pair(Sub(), Own())).custom  # Own first met through Sub's MRO
    assert snap(Pair(Leaf(), Own())).custom


def test_twin_models_have_equal_snapshots_only_with_their_own_parameters():
    a, b = net(), net()
    sa, sb = snap(a), snap(b)
    assert sa.state is not None and not sa.matches(sb)  # parameters by identity
    assert len(sa.state) == len(sb.state)
