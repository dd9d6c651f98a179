"""`vector.VectorText` parses each statement shape once (statements that differ only in their
array indices share a parse): every statement's vector text is what parsing it alone gives."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from autograd_lite import PRIMITIVES, Value
from autograd_lite.compile import emit, native, vector
from autograd_lite.compile.program import _Program
from autograd_lite.compile.trace import _Graph
from autograd_lite.testing import expressions

C_PRIMS = [p for p in PRIMITIVES.values() if native.c_template(p) is not None]


def alone(text: str) -> str:
    """The statement parsed by a fresh rewriter (no shape seen before)."""
    return vector.VectorText()._parse(text)


@settings(max_examples=min(settings().max_examples, 40), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(e=expressions(n_inputs=(1, 3), n_nodes=(1, 14), primitives=C_PRIMS))
def test_shared_shapes_give_each_statement_its_own_parse(e):
    w = [Value(0.75), Value(-1.5)]

    def f(*xs):
        return e(*xs) * w[0] + xs[0] * w[1] + e(*xs[::-1]) * w[1]

    try:
        graph = _Graph(f, list(e.inputs), w, "test")
    except (ArithmeticError, ValueError):
        return
    parts = emit._CParts(_Program(graph, 2, emit._CEmitter(len(graph.order))), len(e.inputs),
                         2, len(graph.order), True)
    shared = vector.VectorText()
    for _, _, text in parts.fwd + parts.bwd:
        try:
            want = alone(text)
        except vector.Unsupported:
            with pytest.raises(vector.Unsupported):
                shared.expr(text)
            continue
        assert shared.expr(text) == want, text
    assert len(shared._shapes) <= len(parts.fwd + parts.bwd)


def test_indices_go_back_in_their_positions():
    v = vector.VectorText()
    a = v.expr("T[3] * P[1] + x[0] / T[12]")
    b = v.expr("T[7] * P[0] + x[2] / T[5]")
    assert len(v._shapes) == 1
    assert a == alone("T[3] * P[1] + x[0] / T[12]") and "VT[3]" in a and "VT[12]" in a
    assert b == alone("T[7] * P[0] + x[2] / T[5]") and "P[0]" in b and "VX[2]" in b
    c = v.expr("(T[4] > 0.0 ? T[9] : (-T[4])) * P[2]")
    assert c == alone("(T[4] > 0.0 ? T[9] : (-T[4])) * P[2]")
    assert v.expr("T[1] + 2.0") == alone("T[1] + 2.0") != v.expr("T[1] + 2")
