"""compile_map takes any real number as a broadcast scalar (a numpy int64 or float32 as an int
or a float is taken), as its value as a double; bools and non-numbers stay TypeErrors."""

from __future__ import annotations

import struct
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import compile_map

np = pytest.importorskip("numpy")
_K = compile_map(lambda p, g, lr: p - lr * g, 3)


def _bits(xs: array) -> list[bytes]:
    return [struct.pack("<d", x) for x in xs]


@given(lr=st.one_of(st.integers(-2**31, 2**31 - 1), st.floats(-1e6, 1e6, width=32)),
       kind=st.sampled_from(["int64", "int32", "float32", "float64"]))
def test_a_numpy_scalar_is_its_value_as_a_double(lr: float, kind: str) -> None:
    p, g = array("d", [1.0, -2.5, 3.25]), array("d", [0.5, 0.125, -4.0])
    scalar = getattr(np, kind)(lr)
    (got,) = _K(p, g, scalar)
    (want,) = _K(p, g, float(scalar))
    assert _bits(got) == _bits(want)


@pytest.mark.parametrize("bad", [True, np.bool_(False), "0.1", None, 1j])
def test_bools_and_non_numbers_are_refused(bad: object) -> None:
    p, g = array("d", [1.0]), array("d", [0.5])
    with pytest.raises(TypeError, match="input 2"):
        _K(p, g, bad)
