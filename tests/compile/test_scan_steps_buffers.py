"""Compiled.scan_steps never lets C read or write past a buffer: a Sequence whose __len__
disagrees with its items (order, args, outputs), an array emptied after the scan measured it,
another thread writing the caller's `order` while the native driver runs (it released the
GIL). Each gives the numbers of honest arguments or a ValueError / TypeError, never a crash."""

from __future__ import annotations

import threading
import time
from array import array
from collections.abc import Sequence
from typing import Any

import pytest

from .test_scan_steps import bits, has_compiler, make, sgd, table

pytestmark = pytest.mark.skipif(not has_compiler(), reason="no C compiler: no native driver")


class Lying(Sequence):
    """A Sequence whose __len__ says `n`, whatever its items are."""

    def __init__(self, items: Any, n: int) -> None:
        self.items, self.n = list(items), n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: Any) -> Any:
        return self.items[i]


def run(c, view, order, params, bs=4, **kw):
    kw.setdefault("args", ("params", "grad", 0.01, 0.0))
    kw.setdefault("outputs", (params,))
    return c.scan_steps(view, order, bs, params=params, update=kw.pop("update", sgd("c")),
                        aux_sum=0, **kw)


def test_an_order_whose_len_says_fewer_items_scans_all_its_items():
    """(was: per-batch arrays sized by its __len__, the driver writing a sum per real batch)"""
    c, params = make("c")
    _, view = table(40)
    want = array("d", params)
    res_want = run(c, view, list(range(40)), want)
    res = run(c, view, Lying(range(40), 1), params)
    assert res.done == 10 and bits(res.sums) == bits(res_want.sums)
    assert bits(params) == bits(want)


@pytest.mark.parametrize("what", ["args", "outputs"])
def test_args_or_outputs_whose_len_lies_are_refused(what):
    """(was: missing entries read as NULL pointers by the driver)"""
    c, params = make("c")
    _, view = table(20)
    before = array("d", params)
    kw = {"args": Lying(["params", "grad"], 4)} if what == "args" else \
        {"outputs": Lying([], 1)}
    with pytest.raises((TypeError, ValueError), match=what):
        run(c, view, list(range(20)), params, **kw)
    assert bits(params) == bits(before)


def test_params_emptied_after_they_were_measured_is_a_value_error():
    """The outputs' iteration empties params (as another thread could, between the checks and
    the call): the scan checks every buffer again once pinned (was: C wrote into freed
    memory)."""
    c, params = make("c")
    _, view = table(20)

    class Emptying(Sequence):
        def __len__(self) -> int:
            return 1

        def __getitem__(self, i: Any) -> Any:
            if isinstance(i, slice):
                return [params][i]
            if i:
                raise IndexError(i)
            del params[:]
            return params

    with pytest.raises(ValueError, match="params changed"):
        run(c, view, list(range(20)), params, outputs=Emptying())


def test_another_thread_writing_the_callers_order_cannot_send_c_past_the_rows():
    """The driver checks the indices once, before batch 0, and reads them again per batch:
    it reads its own copy, so a bad index written once batches run (the counter moved: the
    driver is running, the GIL released) is not seen (was: a row gathered from 10**12 rows
    away: a segfault)."""
    n = 100_000
    c, params = make("c")
    _, view = table(n)
    order = array("q", range(n))
    run(c, view, order[:8], params, bs=1, args=("params", "grad", 0.0, 0.0))  # (builds)
    counter = array("q", [0])
    finished = threading.Event()

    def write() -> None:
        while counter[0] == 0 and not finished.is_set():
            time.sleep(0)
        order[-1] = 10 ** 12

    t = threading.Thread(target=write)
    t.start()
    try:
        res = run(c, view, order, params, bs=1, args=("params", "grad", 0.0, 0.0),
                  counter=counter)
    finally:
        finished.set()
        t.join()
    assert res.done == n == counter[0]


@pytest.mark.parametrize("bs", [2 ** 63 - 1, 2 ** 63, 2 ** 64, 2 ** 64 + 2, 10 ** 30])
def test_a_batch_size_beyond_a_c_long_is_one_batch_of_the_whole_order(bs):
    """(was: ctypes truncated it to a C long: 2**64 became 0, a division by zero, SIGFPE)"""
    c, params = make("c")
    _, view = table(10)
    want = array("d", params)
    res_want = run(c, view, list(range(10)), want, bs=10)
    res = run(c, view, list(range(10)), params, bs=bs)
    assert res.done == 1 and bits(res.sums) == bits(res_want.sums)
    assert bits(params) == bits(want)
