"""A node's label (shared with its generation stamp in one slot) reads back as set, survives copies
and pickles, and changes nothing a transform or a trace decides from the generation."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import Value, func
from autograd_lite.engine.value import generation

LABELS = st.text(max_size=8)


@given(LABELS, LABELS)
def test_a_label_reads_back_on_leaves_and_op_nodes(first: str, second: str) -> None:
    x = Value(1.5, label=first)
    y = x * 2.0
    assert x.label == first and y.label == ""
    gx, gy = generation(x), generation(y)
    y.label = second
    x.label = second
    assert x.label == second and y.label == second
    assert (generation(x), generation(y)) == (gx, gy)  # the stamp is untouched
    assert ("label=" in repr(y)) == bool(second)


def test_labels_survive_deepcopy_pickle_and_detach() -> None:
    x = Value(2.0, label="x")
    y = (x * x).tanh()
    y.label = "y"
    for c in (copy.deepcopy(y), pickle.loads(pickle.dumps(y))):
        assert c.label == "y" and c.parents[0].parents[0].label == "x"
    assert generation(copy.deepcopy(y)) == generation(y)
    # a loaded node is older than anything now running (its stamp was another process's)
    assert generation(pickle.loads(pickle.dumps(y))) == 0
    assert generation(pickle.loads(pickle.dumps(x))) == 1  # a user's leaf stays odd
    assert y.detach().label == "y"


def test_a_nodes_size_is_six_slots() -> None:
    assert Value.__slots__ == ("_d", "_gr", "_prim", "_a", "_b", "_g")
    with pytest.raises(TypeError, match="label must be a str"):
        Value(1.0, label=3)  # type: ignore[arg-type]
    v = Value(1.0, label="v")
    for bad in (3, None, b"v", ("v",)):
        with pytest.raises(TypeError, match="label must be a str"):
            v.label = bad  # type: ignore[assignment]
    assert v.label == "v"  # as a Value(..., label=...) refuses them


def test_labelled_nodes_keep_their_generation_role_in_transforms() -> None:
    # A labelled user leaf closed over by f stays connected to the result (a Value, as for an
    # unlabelled one); a labelled node made inside f is one of the level's own.
    c = Value(3.0, label="c")

    def f(x: Value) -> Value:
        h = x * c
        h.label = "h"
        return h * x

    g = func.grad(f)(2.0)  # 2 x c
    assert g.data == 12.0
    g.backward()
    assert c.grad == 4.0  # d(2 x c)/dc
    assert al.jvp(f, (2.0,), (1.0,))[1].data == 12.0
    assert func.grad(func.grad(f))(2.0).data == 6.0


def test_a_trace_tells_its_labelled_nodes_from_earlier_ones() -> None:
    w = Value(1.5, label="w")
    pre = w * 2.0
    pre.label = "pre"
    with pytest.raises(ValueError, match="computed from a parameter before the trace"):
        al.compile_grad(lambda x: x * pre, [0.3], params=[w], backend="python")

    def f(x: Value) -> Value:
        h = x * w
        h.label = "h"
        return h.tanh()

    c = al.compile_grad(f, [0.3], params=[w], backend="python")
    assert c.forward([0.3]) == f(Value(0.3)).data
