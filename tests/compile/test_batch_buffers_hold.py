"""value_and_grad_batch reads and writes the buffers themselves: an array subclass that
overrides typecode, __len__ or buffer_info cannot send the C loop past a buffer, and another
thread cannot resize `accumulate` or `param_data` under a running call."""

from __future__ import annotations

import random
import struct
import threading
import time
from array import array

import pytest

import autograd_lite as al
from autograd_lite import compile_grad


def _compiled(backend: str) -> tuple[al.Compiled, list[float]]:
    rng = random.Random(1)
    ws = [al.Value(rng.uniform(-1, 1)) for _ in range(3)]

    def f(x0: al.Value, x1: al.Value) -> al.Value:
        return ((ws[0] * x0 + ws[1] * x1 + ws[2]).tanh() - x0) ** 2

    return compile_grad(f, [0.1, 0.2], params=ws, backend=backend), [w.data for w in ws]


def _rows(n: int) -> memoryview:
    rng = random.Random(2)
    flat = array("d", [rng.uniform(-2, 2) for _ in range(2 * n)])
    return memoryview(flat).cast("B").cast("d", (n, 2))


def _bits(xs: object) -> list[bytes]:
    return [struct.pack("<d", x) for x in xs]  # type: ignore[attr-defined]


class _Claims(array):  # a 'b' array that says it holds doubles
    typecode = "d"


class _Elsewhere(array):  # an array whose buffer_info points at address 8
    def buffer_info(self) -> tuple[int, int]:
        return (8, len(self))


@pytest.mark.parametrize("backend", ["c", "python"])
def test_param_data_subclass_is_read_as_its_items(backend: str) -> None:
    from autograd_lite.compile.native import NativeUnavailableError

    try:
        c, _ = _compiled(backend)
    except NativeUnavailableError:
        pytest.skip("no compiler")
    rows = _rows(9)
    lying = _Claims("b", [1, 0, -1])
    got = c.value_and_grad_batch(rows, param_data=lying, input_grads=False)
    want = c.value_and_grad_batch(rows, param_data=[1.0, 0.0, -1.0], input_grads=False)
    assert _bits(v for v in got[0]) == _bits(v for v in want[0])
    assert _bits(got[2]) == _bits(want[2])


@pytest.mark.parametrize("backend", ["c", "python"])
def test_accumulate_subclass_is_written_in_its_own_buffer(backend: str) -> None:
    from autograd_lite.compile.native import NativeUnavailableError

    try:
        c, p = _compiled(backend)
    except NativeUnavailableError:
        pytest.skip("no compiler")
    rows = _rows(9)
    acc = _Elsewhere("d", [0.5, -0.25, 2.0])
    ref = array("d", [0.5, -0.25, 2.0])
    c.value_and_grad_batch(rows, accumulate=acc, input_grads=False)
    c.value_and_grad_batch(rows, accumulate=ref, input_grads=False)
    assert _bits(array.tolist(acc)) == _bits(ref)
    with pytest.raises(TypeError, match="accumulate"):
        c.value_and_grad_batch(rows, accumulate=_Claims("b", [0, 0, 0]), input_grads=False)


def test_another_thread_cannot_resize_accumulate_during_a_call() -> None:
    from autograd_lite.compile.native import NativeUnavailableError

    try:
        c, _ = _compiled("c")
    except NativeUnavailableError:
        pytest.skip("no compiler")
    rows = _rows(20000)
    acc = array("d", bytes(24))
    pd = array("d", [0.3, -0.2, 0.1])
    stop = threading.Event()
    refused: list[str] = []

    def resize() -> None:
        while not stop.is_set():
            for a in (acc, pd):
                try:
                    a.append(0.0)
                except BufferError:
                    refused.append("busy")
                    continue
                while True:  # (a call may have pinned it between the two)
                    try:
                        a.pop()
                        break
                    except BufferError:
                        time.sleep(0.0001)

    t = threading.Thread(target=resize)
    t.start()
    done = 0
    try:
        for _ in range(300):
            try:  # (checked before the pin: a length caught mid-resize is refused, by name)
                c.value_and_grad_batch(rows, param_data=pd, accumulate=acc, input_grads=False)
            except (TypeError, ValueError) as e:
                assert "accumulate" in str(e) or "param_data" in str(e)
                time.sleep(0.001)  # (the other thread is between its append and its pop)
                continue
            done += 1
            if done == 30:
                break
    finally:
        stop.set()
        t.join()
    assert len(acc) == 3 and len(pd) == 3 and done
    once = array("d", bytes(24))
    for _ in range(done):
        c.value_and_grad_batch(rows, param_data=pd, accumulate=once, input_grads=False)
    assert _bits(acc) == _bits(once)


def test_a_resize_between_the_check_and_the_pin_is_refused(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Another thread shrinking `accumulate` after the call checked its length, before C
    pinned it: C would write past its end; the length read once pinned refuses it."""
    from autograd_lite.compile import backends
    from autograd_lite.compile.native import NativeUnavailableError

    try:
        c, _ = _compiled("c")
    except NativeUnavailableError:
        pytest.skip("no compiler")
    rows = _rows(9)
    acc = array("d", [0.5, -0.25, 2.0])
    real = backends.pinned

    def shrinking(a: array, what: str) -> memoryview:
        if a is acc and len(acc) == 3:
            acc.pop()  # (the other thread, in the window)
        return real(a, what)

    monkeypatch.setattr(backends, "pinned", shrinking)
    with pytest.raises(ValueError, match="accumulate changed length"):
        c.value_and_grad_batch(rows, accumulate=acc, input_grads=False)
    assert _bits(acc) == _bits([0.5, -0.25, 2.0])  # left as it was
