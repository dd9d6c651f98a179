"""compile_map's C loop reads only the buffers its inputs really have: an input resized after the
call measured it (as another thread may, while the call runs) is a ValueError naming the input,
never a read past its end or of a freed buffer (a crash); an array subclass that reports another
typecode, length or address (`typecode`, `__len__`, `buffer_info`) is checked and read as the
buffer it is.
"""

from __future__ import annotations

import struct
import sys
import threading
from array import array
from typing import Any

import pytest

import autograd_lite as al
from autograd_lite import Mapped, compile_map
from autograd_lite.compile import native

HAVE_CC = not isinstance(native.find_compiler(), str)
BACKENDS = ["c", "python"] if HAVE_CC else ["python"]


def bits(xs: Any) -> list[str]:
    return [struct.pack("<d", x).hex() for x in xs]


def axpy(a: Any, x: Any, y: Any) -> Any:
    return a * x + al.maximum(y, -y) / 2.0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("with_out", [False, True])
@pytest.mark.parametrize("resize", ["empty", "shrink", "grow"])
def test_an_input_resized_after_the_call_measured_it_is_a_value_error(monkeypatch, backend,
                                                                      with_out, resize):
    k = compile_map(axpy, 3, backend=backend)
    n = 37
    x = array("d", [0.25 * r for r in range(n)])
    y = array("d", [1.5 - r for r in range(n)])
    measured = Mapped._normalize

    def then_resize(self: Mapped, args: tuple[Any, ...]) -> tuple[list[Any], int]:
        got = measured(self, args)
        if resize == "empty":
            del y[:]  # frees the buffer
        elif resize == "shrink":
            del y[5:]
        else:
            y.extend([2.0] * 1000)  # moves it
        return got

    monkeypatch.setattr(Mapped, "_normalize", then_resize)
    out = [array("d", [7.0] * n)]
    with pytest.raises(ValueError, match=r"input 2 changed length during the call \(37 ->"):
        k(0.5, x, y, out=out if with_out else None)
    assert list(out[0]) == [7.0] * n  # nothing written


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_array_subclass_is_read_as_the_buffer_it_is(backend):
    class Longer(array):
        def __len__(self) -> int:
            return 1 << 22

    class Elsewhere(array):
        def buffer_info(self) -> tuple[int, int]:
            return (8, 1 << 22)

    k = compile_map(axpy, 3, backend=backend)
    xs, ys = [0.5, -3.0, 1e-310, 2.0, -0.0], [1.0, -2.0, 0.0, 5e-324, 3.0]
    want = bits(axpy(2.0, x, y) for x, y in zip(xs, ys))
    for cls in (Longer, Elsewhere):
        (got,) = k(2.0, cls("d", xs), array("d", ys))
        assert bits(got) == want, cls
        (got,) = k(2.0, array("d", xs), cls("d", ys))
        assert bits(got) == want, cls
    with pytest.raises(ValueError, match="input 2 has 6 items, input 0.. have 5"):
        k(2.0, Longer("d", xs), array("d", [*ys, 1.0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_array_subclass_is_checked_by_its_buffers_own_typecode_and_length(backend):
    class Doubles(array):  # says "d" whatever its items are
        typecode = "d"

    class Longer(array):
        def __len__(self) -> int:
            return 3

    k = compile_map(axpy, 3, backend=backend)
    x, y = array("d", [1.0, 2.0, 3.0]), array("d", [0.5, -0.5, 4.0])
    with pytest.raises(TypeError, match="input 1 must be an array"):
        k(2.0, Doubles("b", bytes(24)), y)  # 24 bytes, not 3 doubles
    out = [Doubles("b", bytes(24))]
    with pytest.raises(TypeError, match="out must be 1 array"):
        k(2.0, x, y, out=out)
    out = [Longer("d", [7.0] * 5)]
    with pytest.raises(TypeError, match="out must be 1 array"):
        k(2.0, x, y, out=out)
    assert bits(out[0]) == bits([7.0] * 5)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_CC, reason="no working C compiler")
def test_another_thread_resizing_an_input_never_crashes_a_call():
    """Another thread empties and refills an input while calls run: each call gives the right
    numbers or a ValueError (the lengths differ), never a crash."""
    k = compile_map(lambda x, y: x * 2.0 + y, 2, backend="c")
    n = 4096
    a = array("d", [1.0] * n)
    b = array("d", [3.0] * n)
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            try:
                del a[:]
            except BufferError:  # pinned by a running call
                continue
            a.extend([1.0] * n)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(3000):
            try:
                (o,) = k(a, b)
            except ValueError as e:
                assert "input" in str(e)
            else:
                assert len(o) == n and set(o) == {5.0}
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old)


def test_the_python_path_reads_an_array_subclass_as_its_buffer():
    """The Python path (here: an inf input) reads the buffer the C loop would, not what an
    array subclass's tolist says."""

    class Other(array):
        def tolist(self) -> list[float]:
            return [99.0] * len(self)

    k = compile_map(axpy, 3, backend=BACKENDS[0])
    xs, ys = [1.0, float("inf"), -2.0], [0.5, 1.0, -0.0]
    (got,) = k(2.0, Other("d", xs), array("d", ys))
    assert bits(got) == bits(axpy(2.0, x, y) for x, y in zip(xs, ys))


@pytest.mark.skipif(sys.version_info < (3, 12), reason="__buffer__ in Python classes: 3.12+")
@pytest.mark.skipif(not HAVE_CC, reason="no working C compiler")
def test_an_array_subclass_exporting_another_buffer_is_a_type_error():
    class Elsewhere(array):
        def __buffer__(self, flags: int) -> memoryview:
            return memoryview(bytes(8 * len(self)))

    k = compile_map(axpy, 3, backend="c")
    with pytest.raises(TypeError, match="input 1's buffer is not its array's own"):
        k(2.0, Elsewhere("d", [1.0, 2.0]), array("d", [3.0, 4.0]))
