"""Generation stamps only order nodes within one process: a Value loaded by pickle counts as made
before every transform level and trace now running (as a Value closed over does), whatever
stamp the process that saved it had reached; copy.copy keeps the stamp (same process)."""

from __future__ import annotations

import copy
import pickle

import pytest

import autograd_lite as al
from autograd_lite import Value, func
from autograd_lite.engine.value import generation, new_generation


class Extra(Value):
    """A user's subclass with attributes."""

    note: object


def saved_in_a_longer_session(*roots: Value) -> bytes:
    """Pickle `roots` as a process that has run many transforms would: stamps far ahead."""
    for v in al.topo_order(list(roots)):
        g = v._g
        ahead = (g if type(g) is int else g[0]) + 1_000_000
        v._g = (ahead, g[1]) if type(g) is tuple else ahead
    return pickle.dumps(roots)


def test_an_unpickled_leaf_closed_over_keeps_the_gradient_connected() -> None:
    w, = pickle.loads(saved_in_a_longer_session(Value(1.5, label="w")))
    assert generation(w) == 1 and w.label == "w"
    g = func.grad(lambda x: x * w)(1.0)  # d(x w)/dx = w: a Value tied to w, as for a local w
    assert isinstance(g, Value) and g.data == 1.5
    g.backward()
    assert w.grad == 1.0


def test_an_unpickled_node_computed_from_a_parameter_is_refused_by_compile_grad() -> None:
    p = Value(1.5)
    p2, q = pickle.loads(saved_in_a_longer_session(p, p * 2.0))
    assert generation(q) == 0
    with pytest.raises(ValueError, match="computed from a parameter before the trace"):
        al.compile_grad(lambda x: x * q, [0.3], params=[p2], backend="python")


def test_loaded_slots_labels_and_attributes_are_as_saved() -> None:
    x = Extra(2.0, label="x")
    x.note = "kept"
    y = (x * x).tanh()
    y.label = "y"
    y.grad = 0.25
    c = pickle.loads(pickle.dumps(y))
    assert type(c) is Extra and (c.data, c.grad, c.label, c.op) == (y.data, 0.25, "y", y.op)
    assert c.parents[0].parents == (c.parents[0].parents[0],) * 2
    leaf = c.parents[0].parents[0]
    assert isinstance(leaf, Extra) and leaf.note == "kept" and leaf.label == "x"


def test_copy_copy_keeps_slots_stamp_and_parents() -> None:
    new_generation()
    x = Extra(2.0, label="x")
    x.note = 1
    y = x * 3.0
    for v in (x, y):
        c = copy.copy(v)
        assert c is not v and type(c) is Extra
        assert (c.data, c.grad, c.label, c.op, c.parents) == (v.data, v.grad, v.label, v.op,
                                                              v.parents)
        assert generation(c) == generation(v)
    assert copy.copy(x).note == 1
