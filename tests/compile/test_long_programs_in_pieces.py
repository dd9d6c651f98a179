"""A long Python replay program is cut into functions over one list (compile/pysource.py) so
that compiling it stays linear and small; its numbers are those of the one-function form, bit
for bit, for every operation (values, gradients, batches with and without input gradients,
`backward` adding into nonzero `.grad`s, aux outputs). The cut is forced here on small graphs.
"""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograd_lite import Value, compile_grad
from autograd_lite.compile import pysource
from autograd_lite.testing import expressions, finite_floats


def bits(x) -> list[str]:
    """Every float in a (nested) result, as bytes; an error as its type and message."""
    if isinstance(x, BaseException):
        return [type(x).__name__, str(x)]
    if isinstance(x, (tuple, list)):
        return [b for v in x for b in bits(v)]
    if x is None:
        return ["None"]
    return [struct.pack("<d", x).hex()]


def outcome(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (ArithmeticError, ValueError) as e:
        return e


def everything(f, inputs, params, rows, has_aux=False) -> list[list[str]]:
    """Every public operation's result on a Python replay of f."""
    c = compile_grad(f, inputs, params=params, has_aux=has_aux, backend="python")
    out = [bits(outcome(c.value_and_grad, inputs)), bits(outcome(c.forward, inputs)),
           bits(outcome(c.value_and_grad_batch, rows)), bits(outcome(c.forward_batch, rows)),
           bits(outcome(c.value_and_grad_batch, rows, input_grads=False))]
    for q, h in zip(params, (0.25, -1.5, 3.0)):
        q.grad = h  # backward adds into these, one contribution at a time
    out.append(bits(outcome(c.backward, inputs)) + bits([q.grad for q in params]))
    for q in params:
        q.grad = 0.0
    return out


def in_pieces(monkeypatch, chunk: int) -> None:
    monkeypatch.setattr(pysource, "CHUNKED_ABOVE", 0)
    monkeypatch.setattr(pysource, "CHUNK", chunk)


@settings(max_examples=40, deadline=None)
@given(expressions(n_inputs=3, n_nodes=(1, 12)), st.integers(0, 2), st.integers(1, 4),
       st.lists(st.lists(finite_floats(-2.0, 2.0), min_size=3, max_size=3), min_size=1,
                max_size=3))
def test_a_program_in_pieces_gives_the_one_function_numbers(e, n_params, chunk, rows):
    k = 3 - n_params
    params = [Value(v) for v in e.inputs[k:]]

    def f(*xs):
        return e(*xs, *params)

    batch = [e.inputs[:k], *(r[:k] for r in rows)]
    want = everything(f, e.inputs[:k], params, batch)
    with pytest.MonkeyPatch.context() as mp:
        in_pieces(mp, chunk)
        got = everything(f, e.inputs[:k], params, batch)
    assert got == want


def test_pieces_with_aux_outputs_constants_and_unused_parameters(monkeypatch):
    w, b, unused = Value(0.5), Value(-1.5), Value(2.0)

    def f(x, y):
        h = (x * w + y).tanh()
        far = (x * 0.0 + math.inf).tanh()  # an inf constant: K[i] in the source
        return h * b + far + (y * y).log(), [h, x * 2.0, 3.0]

    rows = [[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]]  # log(0) in the last row: the interpreter's
    want = everything(f, [1.0, 2.0], [w, b, unused], rows, has_aux=True)
    in_pieces(monkeypatch, 2)
    c = compile_grad(f, [1.0, 2.0], params=[w, b, unused], has_aux=True, backend="python")
    assert "def _value_and_grad_0(x, p, T):" in c.source and "T[" in c.source
    assert c.source == compile_grad(f, [1.0, 2.0], params=[w, b, unused], has_aux=True,
                                    backend="python").source  # deterministic
    assert everything(f, [1.0, 2.0], [w, b, unused], rows, has_aux=True) == want


def test_a_graph_past_the_threshold_is_compiled_in_pieces():
    x = Value(0.5)
    nodes = pysource.CHUNKED_ABOVE + 10

    def f(x):
        y = x
        for _ in range(nodes // 2):
            y = (y * 0.5).sin()
        return y

    c = compile_grad(f, [0.5], backend="python")
    assert c.n_nodes > pysource.CHUNKED_ABOVE
    assert c.source.count("\ndef _value_and_grad_") >= c.n_nodes // pysource.CHUNK - 1
    y = f(x)
    y.backward()
    assert c.value_and_grad([0.5]) == (y.data, (x.grad,))
