"""Compiled.backward adds to the `.grad` of the parameters the output depends on, as
`f(*xs).backward()` does, and leaves the others as they are: a -0.0 stays -0.0."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import Value, compile_grad
from autograd_lite.compile.native import NativeUnavailableError

_STARTS = st.sampled_from([0.0, -0.0, 1.5, -2.25])


def _bits(xs: list[float]) -> list[bytes]:
    return [struct.pack("<d", x) for x in xs]


@pytest.mark.parametrize("backend", ["c", "python"])
@given(starts=st.lists(_STARTS, min_size=4, max_size=4), x=st.floats(-3.0, 3.0),
       used=st.lists(st.booleans(), min_size=4, max_size=4))
def test_unreached_parameters_keep_their_grad(backend: str, starts: list[float], x: float,
                                              used: list[bool]) -> None:
    ps = [Value(0.5 + j) for j in range(4)]

    def f(v: Value) -> Value:
        out = v * 1.0
        for p, u in zip(ps, used):
            if u:
                out = out * p + p
        return out

    try:
        c = compile_grad(f, [x], params=ps, backend=backend)
    except NativeUnavailableError:
        pytest.skip("no compiler")
    for p, h in zip(ps, starts):
        p.grad = h
    c.backward([x])
    got = _bits([p.grad for p in ps])
    for p, h in zip(ps, starts):
        p.grad = h
    f(Value(x)).backward()
    assert got == _bits([p.grad for p in ps])
