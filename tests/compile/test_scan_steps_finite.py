"""Compiled.scan_steps(finite=True) refuses the same batches on the native driver and in the
Python loop: a non-finite loss sum, a non-finite gradient, or finite gradients whose absolute
sum passes 2**1020 (was: the Python loop took math.fsum of the gradients, so 1e308 and -1e308
were done there and refused by the driver)."""

from __future__ import annotations

from array import array

import pytest

import autograd_lite as al
from autograd_lite import compile_grad, compile_map
from autograd_lite.compile import scan as sc

from .test_scan_steps import has_compiler


@pytest.fixture(params=["native", "python driver"])
def way(request, monkeypatch):
    if not has_compiler():
        pytest.skip("no C compiler")
    if request.param == "python driver":
        monkeypatch.setattr(sc, "_driver", [None])
    return request.param


@pytest.mark.parametrize("x, done", [(1e308, 0), (1e307, 0), (1e306, 2), (2.0 ** 1019, 2),
                                     (float("inf"), 0), (1.0, 2)])
def test_near_overflow_gradients_stop_the_scan_on_both_ways(way, x, done):
    w = [al.Value(0.5), al.Value(0.5)]

    def f(v):
        loss = w[0] * v - w[1] * v  # gradients v and -v, loss 0 (or NaN at inf)
        return loss, [loss]

    c = compile_grad(f, [1.0], params=w, has_aux=True)
    k = compile_map(lambda p, g, lr: p - lr * g, 3)
    rows = array("d", [x, 1.0])
    view = memoryview(rows).cast("B").cast("d", (2, 1))
    params = array("d", [0.5, 0.5])
    res = c.scan_steps(view, [0, 1], 1, params=params, update=k, args=["params", "grad", 0.0],
                       outputs=[params], aux_sum=0, finite=True)
    assert res.done == done
