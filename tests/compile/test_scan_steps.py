"""Compiled.scan_steps: an epoch of training steps in one call gives, batch for batch, the
numbers of the same steps made one call at a time (gather, value_and_grad_batch, the kernel),
on the native driver and in Python; it stops at a batch it cannot do, checks its arguments,
and two threads may scan at once."""

from __future__ import annotations

import struct
import threading
from array import array

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import compile_grad, compile_map
from autograd_lite.compile import native
from autograd_lite.compile import scan as sc

K = 4  # inputs per row: x0, x1, the target, the batch's seed (1/n)


def bits(xs) -> list[bytes]:
    return [struct.pack("<d", x) for x in xs]


def has_compiler() -> bool:
    return not isinstance(native.find_compiler(), str)


def make(backend="auto", seed=0):
    """A two-output model and its squared-error loss (aux: loss, out0, out1) compiled, with
    its parameter values as an array('d')."""
    import random

    rng = random.Random(seed)
    ws = [al.Value(rng.uniform(-1, 1)) for _ in range(6)]

    def f(x0, x1, t, s):
        o0 = (ws[0] * x0 + ws[1] * x1 + ws[2]).tanh()
        o1 = ws[3] * x0 - ws[4] * x1 + ws[5]
        loss = (o0 - t) ** 2 + (o1 + t) ** 2 * 0.5
        return loss * s, [loss, o0, o1]

    c = compile_grad(f, [0.1, 0.2, 1.0, 1.0], params=ws, has_aux=True, backend=backend)
    return c, array("d", [w.data for w in ws])


def table(n, seed=0, bad=None):
    import random

    rng = random.Random(seed)
    rows = array("d")
    for _ in range(n):
        rows.extend([rng.uniform(-2, 2), rng.uniform(-2, 2), float(rng.choice([-1, 1])), 1.0])
    if bad is not None:
        row, value = bad
        rows[row * K] = value
    return rows, memoryview(rows).cast("B").cast("d", (n, K))


def codes_of(rows, n):
    return array("q", [int(rows[i * K + 2] > 0) for i in range(n)])


_KERNELS: dict[tuple[str, bool], al.Mapped] = {}


def sgd(backend="auto", momentum=False):
    """p - lr * (g + wd * p) (and a momentum buffer: mu * b + g) as a kernel."""
    key = (backend, momentum)
    if key not in _KERNELS:
        if momentum:
            def fn(p, g, b, lr, mu, wd):
                g = g + wd * p
                b = mu * b + g
                return p - lr * b, b
            _KERNELS[key] = compile_map(fn, 6, backend=backend)
        else:
            _KERNELS[key] = compile_map(lambda p, g, lr, wd: p - lr * (g + wd * p), 4,
                                        backend=backend)
    return _KERNELS[key]


def reference(c, rows, order, bs, params, *, momentum=False, buf=None, lrs=None,
              reverse=True, decide=None, codes=None, kernel=None):
    """The scan's batches one call at a time: (params, buf, sums, correct, last gradients)."""
    k = kernel or sgd(momentum=momentum)
    params, buf = array("d", params), None if buf is None else array("d", buf)
    sums, hits, grads = [], [], None
    for b, s0 in enumerate(range(0, len(order), bs)):
        idx = order[s0:s0 + bs]
        n = len(idx)
        batch = array("d")
        for i in (reversed(idx) if reverse else idx):
            batch.extend(rows[i * K:(i + 1) * K])
        for r in range(n):
            batch[r * K + 3] = 1.0 / n
        grads = array("d", bytes(8 * len(params)))
        values, _, _ = c.value_and_grad_batch(memoryview(batch).cast("B").cast("d", (n, K)),
                                              param_data=params, accumulate=grads,
                                              input_grads=False)
        if reverse:
            values = values[::-1]
        total = values[0][1][0]
        for v in values[1:]:
            total += v[1][0]
        sums.append(total)
        if decide is not None:
            count = 0
            for i, (_, aux) in zip(idx, values):
                if decide[0] == "argmax":
                    pred = 0 if not aux[2] > aux[1] else 1
                else:
                    pred = int(aux[decide[1]] > decide[2])
                count += codes[i] == pred
            hits.append(count)
        lr = 0.1 if lrs is None else lrs[b]
        if momentum:
            k(params, grads, buf, lr, 0.9, 0.01, out=[params, buf])
        else:
            k(params, grads, lr, 0.01, out=[params])
    return params, buf, sums, hits, grads


def scan(c, view, order, bs, params, *, momentum=False, buf=None, lrs=None, reverse=True,
         decide=None, codes=None, kernel=None, **kw):
    k = kernel or sgd(momentum=momentum)
    nb = -(-len(order) // bs)
    lr = 0.1 if lrs is None else ("per_batch", array("d", lrs))
    if momentum:
        args, outputs = ["params", "grad", buf, lr, 0.9, 0.01], [params, buf]
    else:
        args, outputs = ["params", "grad", lr, 0.01], [params]
    sizes = [min(bs, len(order) - s) for s in range(0, len(order), bs)]
    grad = array("d", bytes(8 * len(params)))
    res = c.scan_steps(view, order, bs, params=params, update=k, args=args, outputs=outputs,
                       grad=grad, column=3, column_values=array("d", [1.0 / n for n in sizes]),
                       reverse=reverse, aux_sum=0, decide=decide, codes=codes, **kw)
    assert res.done <= nb
    return res, grad


@pytest.fixture(params=["native", "python driver", "python backend"])
def path(request, monkeypatch):
    """The scan's three ways: the C driver, the Python loop (the driver cannot be built),
    Python replay (no C at all)."""
    if request.param != "python backend" and not has_compiler():
        pytest.skip("no C compiler")
    if request.param == "python driver":
        monkeypatch.setattr(sc, "_driver", [None])
    return "python" if request.param == "python backend" else "auto"


orders = st.integers(1, 30).flatmap(lambda n: st.tuples(
    st.just(n), st.permutations(list(range(n))), st.integers(1, n + 3),
    st.integers(0, 10 ** 6)))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders, st.booleans(), st.booleans(), st.sampled_from(["argmax", "threshold", None]))
def test_a_scan_is_its_batches_one_call_at_a_time(path, case, momentum, reverse, decision):
    n, order, bs, seed = case
    c, params = make(path, seed)
    rows, view = table(n, seed)
    codes = codes_of(rows, n) if decision else None
    decide = {"argmax": ("argmax", 1, 2), "threshold": ("threshold", 2, 0.25),
              None: None}[decision]
    buf = array("d", [0.5] * len(params)) if momentum else None
    kernel = sgd(path, momentum)
    want = reference(c, rows, order, bs, params, momentum=momentum, buf=buf, reverse=reverse,
                     decide=decide, codes=codes, kernel=kernel)
    res, grad = scan(c, view, order, bs, params, momentum=momentum, buf=buf, reverse=reverse,
                     decide=decide, codes=codes, kernel=kernel)
    assert res.done == -(-n // bs)
    assert bits(params) == bits(want[0])
    if momentum:
        assert bits(buf) == bits(want[1])
    assert bits(res.sums) == bits(want[2])
    assert res.correct == (want[3] if decision else [])
    assert bits(grad) == bits(want[4])


def test_per_batch_scalars_and_the_counter(path):
    c, params = make(path)
    rows, view = table(20)
    order = list(range(19, -1, -1))
    lrs = [0.1 * (b + 1) for b in range(4)]
    kernel = sgd(path)
    want = reference(c, rows, order, 6, params, lrs=lrs, kernel=kernel)
    counter = array("q", [5])
    res, _ = scan(c, view, order, 6, params, lrs=lrs, kernel=kernel, counter=counter)
    assert res.done == 4 and counter[0] == 9
    assert bits(params) == bits(want[0]) and bits(res.sums) == bits(want[2])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e308])
def test_a_scan_stops_before_a_batch_it_cannot_do_and_keeps_the_others(path, bad):
    """A NaN row, an inf row, a row that overflows: the batches before it are done and
    committed, that batch is not (its rows run by the caller's own path); the numbers of the
    done batches are the one-call-at-a-time numbers."""
    c, params = make(path)
    rows, view = table(24, bad=(13, bad))
    order = list(range(24))
    kernel = sgd(path)
    res, _ = scan(c, view, order, 5, params, kernel=kernel, finite=True)
    assert res.done == 2
    want = reference(c, rows, order[:10], 5, array("d", make(path)[1]), kernel=kernel)
    assert bits(params) == bits(want[0]) and bits(res.sums) == bits(want[2])
    # the caller goes on after that batch: the scan of the rest is the reference's
    rest, _ = scan(c, view, order[15:], 5, params, kernel=kernel)
    assert rest.done == 2


@pytest.mark.skipif(not has_compiler(), reason="no C compiler")
def test_a_kernel_that_needs_its_python_path_stops_the_scan():
    """An update whose C loop raises a flag (here exp overflows) is not committed by the
    native scan: the caller's own call of the kernel decides (its Python path's numbers)."""
    c, params = make()
    rows, view = table(10)
    k = compile_map(lambda p, g, lr: p - lr * al.exp(g * g * 1e9), 3, example=[0.0] * 3)
    assert k.backend == "c"
    res = c.scan_steps(view, list(range(10)), 5, params=params, update=k,
                       args=["params", "grad", 0.1], outputs=[params])
    assert res.done == 0 and bits(params) == bits(make()[1])


def test_an_empty_order_does_nothing():
    c, params = make()
    _, view = table(3)
    res = c.scan_steps(view, [], 2, params=params, update=sgd(),
                       args=["params", "grad", 0.1, 0.0], outputs=[params])
    assert res == (0, [], [])


def bad_calls():
    """(keyword changes, exception type, words the message holds)."""
    a = array("d", [0.0] * 6)
    return [
        ({"order": [0, 1.5]}, TypeError, "order"),
        ({"order": [0, True]}, TypeError, "order"),
        ({"order": [0, 9]}, ValueError, "order"),
        ({"order": [-1]}, ValueError, "order"),
        ({"order": "01"}, TypeError, "order"),
        ({"order": [2 ** 70]}, ValueError, "order"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 2.0}, ValueError, "batch_size"),
        ({"params": [0.0] * 6}, TypeError, "params"),
        ({"params": array("d", [0.0] * 5)}, TypeError, "params"),
        ({"update": lambda *a: a}, TypeError, "update"),
        ({"args": ["params", "grad", 0.1]}, ValueError, "args"),
        ({"args": ["params", "grad", "lr", 0.0]}, TypeError, "args[2]"),
        ({"args": ["params", "grad", array("d", [1.0] * 5), 0.0]}, TypeError, "args[2]"),
        ({"args": ["params", "grad", ("per_batch", array("d", [0.1])), 0.0]}, TypeError,
         "args[2][1]"),
        ({"args": ["params", "grad", True, 0.0]}, TypeError, "args[2]"),
        ({"outputs": []}, TypeError, "outputs"),
        ({"outputs": [a]}, ValueError, "outputs[0]"),
        ({"grad": [0.0] * 6}, TypeError, "grad"),
        ({"column": 3}, TypeError, "column"),
        ({"column": 4, "column_values": array("d", [1.0] * 2)}, ValueError, "column"),
        ({"column": 3, "column_values": array("d", [1.0])}, TypeError, "column_values"),
        ({"reverse": 1}, TypeError, "reverse"),
        ({"finite": True}, ValueError, "aux_sum"),
        ({"aux_sum": 3}, ValueError, "aux_sum"),
        ({"decide": ("argmax", 1, 2)}, TypeError, "codes"),
        ({"decide": ("argmax", 1, 3), "codes": [0] * 4}, ValueError, "decide"),
        ({"decide": ("threshold", 0, "x"), "codes": [0] * 4}, TypeError, "threshold"),
        ({"decide": ("max", 0, 1), "codes": [0] * 4}, TypeError, "decide"),
        ({"decide": ("threshold", 0, 0.0), "codes": [0] * 3}, ValueError, "codes"),
        ({"codes": [0] * 4}, TypeError, "codes"),
        ({"counter": [0]}, TypeError, "counter"),
        ({"counter": Liar("b", bytes(8))}, TypeError, "counter"),
        # array subclasses whose typecode or length lie: their buffer decides (C reads it)
        ({"params": Liar("b", bytes(48))}, TypeError, "params"),
        ({"params": Long("d", [0.0])}, TypeError, "params"),
    ]


class Liar(array):
    typecode = "d"  # (a class attribute over another typecode's buffer)


class Long(array):
    def __len__(self):
        return 6


@pytest.mark.parametrize("change, kind, words", bad_calls())
def test_bad_arguments_are_named(change, kind, words):
    c, params = make()
    _, view = table(4)
    kw = {"order": [0, 1, 2, 3], "batch_size": 2, "params": params, "update": sgd(),
          "args": ["params", "grad", 0.1, 0.0], "outputs": [params]}
    kw.update(change)
    before = bits(params)
    with pytest.raises(kind, match=words.replace("[", r"\[").replace("]", r"\]")):
        c.scan_steps(view, kw.pop("order"), kw.pop("batch_size"), **kw)
    assert bits(params) == before


def test_rows_must_be_rows_of_the_functions_inputs():
    c, params = make()
    with pytest.raises(ValueError, match="shape"):
        c.scan_steps(memoryview(array("d", [0.0] * 6)).cast("B").cast("d", (2, 3)), [0], 1,
                     params=params, update=sgd(), args=["params", "grad", 0.1, 0.0],
                     outputs=[params])


def test_two_threads_scan_at_once():
    """Each thread its own parameters on one compiled function (its scratch space shared, or
    a fresh one while the other thread holds it): the numbers of each scan alone."""
    c, p0 = make()
    rows, view = table(40)
    orders = [list(range(40)), list(range(39, -1, -1))]
    want = [reference(c, rows, o, 3, p0)[0] for o in orders]
    got: list = [None, None]
    errors: list = []

    def work(t):
        try:
            for _ in range(20):
                params = array("d", p0)
                scan(c, view, orders[t], 3, params)
                if got[t] is None:
                    got[t] = params
                assert bits(params) == bits(got[t])
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [bits(g) for g in got] == [bits(w) for w in want]


@pytest.mark.skipif(not has_compiler(), reason="no C compiler")
def test_with_a_compiler_the_scan_is_one_native_call(monkeypatch):
    def no_python(*args):
        raise AssertionError("the scan ran in Python")

    monkeypatch.setattr(sc, "_python", no_python)
    c, params = make()
    rows, view = table(12)
    want = reference(c, rows, list(range(12)), 5, params)
    res, _ = scan(c, view, list(range(12)), 5, params)
    assert res.done == 3 and bits(params) == bits(want[0])


@pytest.mark.parametrize("backend", ["auto", "python"])
def test_a_function_without_aux_scans_too(backend):
    """No aux outputs: no sums or decisions, the steps all the same."""
    w = [al.Value(0.3), al.Value(-0.2)]
    c = compile_grad(lambda x, t: ((w[0] * x + w[1] - t) ** 2) * 0.5, [1.0, 0.0], params=w,
                     backend=backend)
    rows = array("d", [0.1 * i for i in range(20)])
    view = memoryview(rows).cast("B").cast("d", (10, 2))
    k = sgd(backend)
    params = array("d", [0.3, -0.2])
    res = c.scan_steps(view, list(range(10)), 4, params=params, update=k,
                       args=["params", "grad", 0.1, 0.0], outputs=[params])
    want = array("d", [0.3, -0.2])
    for s0 in range(0, 10, 4):
        g = array("d", [0.0, 0.0])
        c.value_and_grad_batch([list(rows[i * 2:i * 2 + 2]) for i in range(s0, min(s0 + 4, 10))],
                               param_data=want, accumulate=g, input_grads=False)
        k(want, g, 0.1, 0.0, out=[want])
    assert res == (3, [], []) and bits(params) == bits(want)
    with pytest.raises(ValueError, match="aux_sum"):
        c.scan_steps(view, [0], 1, params=params, update=k, args=["params", "grad", 0.1, 0.0],
                     outputs=[params], aux_sum=0)
