"""Rows as one 2-D buffer: numpy float64 C-contiguous arrays and 2-D memoryviews of doubles
reach the C function over the caller's own memory; every other dtype and layout is converted
once. Whatever the form, the values and gradients are bit for bit those of the same rows given
as lists of floats, and a NaN is the same error naming its row (autograd_lite.compile.rows).
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from array import array

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograd_lite import Value, compile_grad
from autograd_lite.compile import native
from autograd_lite.compile.rows import as_rows

HAVE_CC = not isinstance(native.find_compiler(), str)
BACKENDS = ["python", pytest.param("c", marks=pytest.mark.skipif(
    not HAVE_CC, reason="no working C compiler"))]
REAL_DTYPES = [np.float64, np.float32, np.float16, np.longdouble, np.int8, np.uint8,
               np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64, ">f8", ">i4"]
ROWS = [[2.0, 1.0], [-4.0, 3.0], [1.0, 0.0], [0.5, -0.25], [7.0, 2.0]]


@pytest.fixture(scope="module", params=BACKENDS)
def compiled(request):
    w, b = Value(0.5), Value(-1.5)
    c = compile_grad(lambda x, y: (x * w).tanh() * y + (y * y + 1.0).log() * b, [2.0, 1.0],
                     params=[w, b], backend=request.param)
    assert c.backend == request.param
    return c


def bits(result) -> list[str]:
    """Every float of a batch result, as its bytes (tells -0.0 from 0.0, compares NaNs)."""
    values, grads, total = result
    floats = [*values, *(g for row in grads or () for g in row), *total]
    return [struct.pack("<d", v).hex() for v in floats]


def as_lists(a) -> list[list[float]]:
    return [[float(v) for v in row] for row in np.asarray(a).tolist()]


def layouts(a: np.ndarray) -> dict[str, np.ndarray]:
    """The same rows in other memory layouts."""
    wide = np.zeros((a.shape[0], 2 * a.shape[1]), dtype=a.dtype)
    wide[:, ::2] = a
    tall = np.zeros((2 * a.shape[0], a.shape[1]), dtype=a.dtype)
    tall[::2] = a
    read_only = a.copy()
    read_only.flags.writeable = False
    return {"C order": np.ascontiguousarray(a), "Fortran order": np.asfortranarray(a),
            "strided columns": wide[:, ::2], "strided rows": tall[::2],
            "reversed twice": a[::-1][::-1], "reversed rows": a[::-1].copy()[::-1],
            "read-only": read_only}


@pytest.mark.parametrize("dtype", REAL_DTYPES)
def test_every_real_dtype_and_layout_gives_the_lists_numbers(compiled, dtype):
    a = np.array(np.abs(ROWS) if np.dtype(dtype).kind == "u" else ROWS).astype(dtype)
    want = compiled.value_and_grad_batch(as_lists(a))
    want_fw = compiled.forward_batch(as_lists(a))
    for name, rows in layouts(a).items():
        assert bits(compiled.value_and_grad_batch(rows)) == bits(want), name
        assert compiled.forward_batch(rows) == want_fw, name
        got = compiled.value_and_grad_batch(rows, input_grads=False)
        assert bits(got) == bits((want[0], None, want[2])), name


def test_array_rows_and_memoryviews_give_the_lists_numbers(compiled):
    want = bits(compiled.value_and_grad_batch(ROWS))
    flat = array("d", [v for r in ROWS for v in r])
    view = memoryview(flat).cast("B").cast("d", (len(ROWS), 2))
    assert bits(compiled.value_and_grad_batch(view)) == want
    assert bits(compiled.value_and_grad_batch([array("d", r) for r in ROWS])) == want
    assert bits(compiled.value_and_grad_batch([np.array(r) for r in ROWS])) == want
    assert bits(compiled.value_and_grad_batch(list(np.array(ROWS)))) == want
    ints = memoryview(array("q", [int(v) for r in ROWS for v in r])).cast("B").cast(
        "q", (len(ROWS), 2))
    assert bits(compiled.value_and_grad_batch(ints)) == bits(
        compiled.value_and_grad_batch([[float(int(v)) for v in r] for r in ROWS]))


@given(hnp.arrays(np.float64, st.tuples(st.integers(0, 9), st.just(2)),
                  elements=st.floats(allow_nan=False, width=64)),
       st.sampled_from(["C order", "Fortran order", "strided columns", "strided rows",
                        "read-only"]))
def test_any_doubles_in_any_layout_are_read_bit_for_bit(a, layout):
    # Signed zeros, subnormals, huge values and infs (those rows run in the interpreter).
    c = compile_grad(lambda x, y: x * y - y, [1.0, 2.0], backend="c" if HAVE_CC else "python")
    rows = layouts(a)[layout]
    want = c.value_and_grad_batch([list(map(float, r)) for r in a.tolist()])
    assert bits(c.value_and_grad_batch(rows)) == bits(want)


def test_c_contiguous_writable_doubles_are_not_copied():
    a = np.array(ROWS)
    assert as_rows(a, 2).address == a.__array_interface__["data"][0]
    flat = array("d", [v for r in ROWS for v in r])
    view = memoryview(flat).cast("B").cast("d", (len(ROWS), 2))
    assert as_rows(view, 2).address == flat.buffer_info()[0]
    for rows in layouts(a).values():  # every other layout is converted once, into one buffer
        r = as_rows(rows, 2)
        assert r.n == len(ROWS) and [r.row(i, 2) for i in range(r.n)] == ROWS


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.longdouble])
@pytest.mark.parametrize("layout", ["C order", "Fortran order", "strided rows", "read-only"])
def test_a_nan_is_the_same_error_in_every_form(compiled, dtype, layout):
    a = np.array(ROWS, dtype=dtype)
    a[3, 1] = math.nan
    with pytest.raises(ValueError, match="input 1 of row 3: got NaN") as info:
        compiled.value_and_grad_batch(layouts(a)[layout])
    assert "(in row 3 of the batch)" in info.value.__notes__
    with pytest.raises(ValueError, match="input 1 of row 3: got NaN"):
        compiled.forward_batch(layouts(a)[layout])


def test_the_wrong_shape_and_non_real_buffers_are_refused(compiled):
    for rows in (np.zeros((3, 3)), np.zeros(4), np.zeros((2, 2, 2)),
                 memoryview(array("d", [1.0] * 4))):
        with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
            compiled.value_and_grad_batch(rows)
    for rows, got in ((np.zeros((2, 2), dtype=bool), "bool"),
                      (np.zeros((2, 2), dtype=complex), "complex")):
        with pytest.raises(TypeError, match=got):
            compiled.value_and_grad_batch(rows)


def test_numpy_is_not_imported_for_rows_that_are_not_numpy_arrays():
    code = ("import sys\nfrom array import array\nfrom autograd_lite import compile_grad\n"
            "c = compile_grad(lambda x, y: x * y, [1.0, 2.0])\n"
            "c.value_and_grad_batch([[1.0, 2.0], (3, 4.5)])\n"
            "c.forward_batch(memoryview(array('d', [1.0, 2.0])).cast('B').cast('d', (1, 2)))\n"
            "c.value_and_grad_batch([array('d', [1.0, 2.0])])\n"
            "assert 'numpy' not in sys.modules, 'numpy was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
