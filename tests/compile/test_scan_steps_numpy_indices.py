"""Compiled.scan_steps takes `order` and `codes` as 1-D numpy integer arrays (any width, sign,
byte order or stride: `np.random.permutation(n)`), as the lists of their values (was: a
TypeError, while a list of np.int64 was taken); bool, float and 2-D arrays stay TypeErrors."""

from __future__ import annotations

import pytest

from .test_scan_steps import bits, make, sgd, table

np = pytest.importorskip("numpy")


def scan(order, codes=None, backend="auto"):
    c, params = make(backend)
    _, view = table(12)
    decide = None if codes is None else ("argmax", 1, 2)
    res = c.scan_steps(view, order, 5, params=params, update=sgd(backend),
                       args=["params", "grad", 0.1, 0.0], outputs=[params], aux_sum=0,
                       decide=decide, codes=codes)
    return res.done, bits(res.sums), res.correct, bits(params)


@pytest.mark.parametrize("backend", ["auto", "python"])
@pytest.mark.parametrize("dtype", ["<i8", ">i8", "i4", "u1", "u8", "i2"])
def test_numpy_integer_order_and_codes_are_their_values(backend, dtype):
    perm = [int(v) for v in np.random.default_rng(3).permutation(12)]
    codes = [i % 2 for i in range(12)]
    want = scan(perm, codes, backend)
    assert scan(np.array(perm, dtype=dtype), np.array(codes, dtype=dtype), backend) == want
    strided = np.array([v for p in perm for v in (p, 99)], dtype=dtype)[::2]
    assert scan(strided, codes, backend) == want


@pytest.mark.parametrize("order", [np.array([True] * 4), np.arange(4.0),
                                   np.arange(4).reshape(2, 2)], ids=["bool", "float", "2-D"])
def test_other_numpy_arrays_are_type_errors_naming_order(order):
    with pytest.raises(TypeError, match="order"):
        scan(order)


def test_a_numpy_index_beyond_64_bits_is_a_value_error():
    with pytest.raises(ValueError, match="order"):
        scan(np.array([2 ** 64 - 1], dtype=np.uint64))
