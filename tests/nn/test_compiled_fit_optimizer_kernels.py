"""The compiled fit's optimizer steps (SGD with every option, Adam with weight decay) on flat
buffers are the Python optimizers' steps bit for bit, state included, on both kernel backends."""

from __future__ import annotations

import struct
from array import array

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from autograd_lite import Value
from nn import flat as nf
from nn.optim import SGD, Adam

N = 5  # parameters

number = st.floats(-50.0, 50.0) | st.sampled_from([0.0, -0.0, 1e-300, -3e-310, 1e150])
grads = st.lists(st.lists(number, min_size=N, max_size=N), min_size=1, max_size=4)
rate = st.floats(0.0, 2.0) | st.just(0.0)


def bits(x: float | None) -> bytes | None:
    return None if x is None else struct.pack("<d", x)


def run_both(make, data, steps, backend):
    """The same steps by the Python optimizer and by the flat kernels: (python, flat) pairs of
    (parameters, optimizer)."""
    pa = [Value(d) for d in data]
    pb = [Value(d) for d in data]
    oa, ob = make(pa), make(pb)
    flat = nf.FlatState(pb, ob, backend)
    for g in steps:
        oa.step_with(g)
        flat.step(array("d", g))
    flat.store()
    return (pa, oa), (pb, ob)


def same_params(a, b):
    assert [bits(p.data) for p in a] == [bits(p.data) for p in b]
    assert [bits(p.grad) for p in a] == [bits(p.grad) for p in b]


@pytest.mark.parametrize("backend", ["auto", "python"])
@given(data=st.lists(number, min_size=N, max_size=N), steps=grads, lr=rate, mu=rate,
       damp=rate, wd=rate, nesterov=st.booleans())
def test_sgd_flat_steps_are_the_python_steps(backend, data, steps, lr, mu, damp, wd, nesterov):
    assume(not nesterov or (mu > 0.0 and damp == 0.0))
    (pa, oa), (pb, ob) = run_both(
        lambda ps: SGD(ps, lr=lr, momentum=mu, dampening=damp, weight_decay=wd,
                       nesterov=nesterov), data, steps, backend)
    same_params(pa, pb)
    assert [bits(b) for b in oa.buffers] == [bits(b) for b in ob.buffers]


@pytest.mark.parametrize("backend", ["auto", "python"])
@given(data=st.lists(number, min_size=N, max_size=N), steps=grads,
       lr=st.floats(1e-6, 1.0), b1=st.floats(0.0, 0.999), b2=st.floats(0.0, 0.9999),
       eps=st.floats(1e-12, 1e-2), wd=rate)
def test_adam_flat_steps_are_the_python_steps(backend, data, steps, lr, b1, b2, eps, wd):
    (pa, oa), (pb, ob) = run_both(
        lambda ps: Adam(ps, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd), data, steps,
        backend)
    same_params(pa, pb)
    assert [bits(m) for m in oa.m] == [bits(m) for m in ob.m]
    assert [bits(v) for v in oa.v] == [bits(v) for v in ob.v]
    assert oa.steps == ob.steps and oa.t == ob.t == len(steps)


def test_flat_steps_continue_the_python_optimizers_state():
    """Python steps, then flat steps, then Python steps: one trajectory, as all in Python."""
    data = [0.5, -1.0, 2.0, 0.0, 3.0]
    gs = [[0.1 * (i + j) - 0.3 for j in range(N)] for i in range(6)]
    for make in (lambda ps: Adam(ps, lr=0.05, weight_decay=0.01),
                 lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.001)):
        pa, pb = [Value(d) for d in data], [Value(d) for d in data]
        oa, ob = make(pa), make(pb)
        for g in gs:
            oa.step_with(g)
        for g in gs[:2]:
            ob.step_with(g)
        flat = nf.FlatState(pb, ob, "auto")
        for g in gs[2:4]:
            flat.step(array("d", g))
        flat.store()
        for g in gs[4:]:
            ob.step_with(g)
        same_params(pa, pb)
        if isinstance(oa, Adam):
            assert (oa.m, oa.v, oa.steps, oa.t) == (ob.m, ob.v, ob.steps, ob.t)
        else:
            assert oa.buffers == ob.buffers


def test_sgd_momentum_buffers_are_none_until_the_first_flat_step():
    ps = [Value(1.0), Value(2.0)]
    opt = SGD(ps, lr=0.1, momentum=0.5)
    flat = nf.FlatState(ps, opt, "auto")
    flat.store()  # no step: nothing written
    assert opt.buffers == [None, None]
    flat.step(array("d", [1.0, -2.0]))
    flat.store()
    assert opt.buffers == [1.0, -2.0]  # buf = g on the first step, as torch


def test_states_the_kernels_do_not_cover_are_left_to_python():
    ps = [Value(1.0), Value(2.0)]
    sgd = SGD(ps, lr=0.1, momentum=0.5)
    sgd.step_with([1.0, None])  # one buffer set, one still None
    with pytest.raises(nf.NotFlat):
        nf.FlatState(ps, sgd, "auto")
    adam = Adam(ps)
    adam.step_with([1.0, None])  # per-parameter step counts differ
    with pytest.raises(nf.NotFlat):
        nf.FlatState(ps, adam, "auto")

    class MyAdam(Adam):
        pass

    with pytest.raises(nf.NotFlat):
        nf.FlatState(ps, MyAdam(ps), "auto")


def test_numbers_that_are_not_plain_floats_are_left_to_python():
    """A hyperparameter or state entry of another number type does its own arithmetic in the
    Python optimizer (a numpy float32 lr computes in float32): never run as doubles."""
    np = pytest.importorskip("numpy")
    ps = [Value(1.0), Value(2.0)]
    sgd = SGD(ps, lr=0.1)
    sgd.lr = np.float32(0.1)
    with pytest.raises(nf.NotFlat):
        nf.FlatState(ps, sgd, "auto")
    adam = Adam(ps)
    adam.m = [0, 0]  # ints, as a state written by hand
    with pytest.raises(nf.NotFlat):
        nf.FlatState(ps, adam, "auto")
    adam.m = [0.0, 0.0]
    nf.FlatState(ps, adam, "auto")  # plain floats: flat
