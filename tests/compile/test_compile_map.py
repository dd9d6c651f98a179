"""compile_map: an elementwise kernel gives the function's float results bit for bit, on both
backends, with Python's own errors where the floats would raise."""

from __future__ import annotations

import math
import struct
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import compile_map
from autograd_lite.compile import native


def bits(xs: array) -> list[bytes]:
    return [struct.pack("<d", x) for x in xs]


def has_compiler() -> bool:
    return not isinstance(native.find_compiler(), str)


def mix(a, b, c, k):
    """A formula with every kind of node: constants, -, /, sqrt, a passed-through input."""
    d = a * k - (b / (c * c + 1.0))
    return d + al.sqrt(c * c) * 0.5, b


def mix_float(a, b, c, k):
    d = a * k - (b / (c * c + 1.0))
    return d + math.sqrt(c * c) * 0.5, b


KERNELS: dict[str, al.Mapped] = {}  #: one kernel per backend for all examples
finite = st.floats(-1e6, 1e6) | st.sampled_from([0.0, -0.0, 1e-310, -2.5e-308])


@pytest.mark.parametrize("backend", ["auto", "python"])
@given(cols=st.lists(st.tuples(finite, finite, finite), min_size=1, max_size=40), k=finite)
def test_kernel_equals_the_function_on_floats(backend, cols, k):
    kern = KERNELS.get(backend) or KERNELS.setdefault(backend, compile_map(mix, 4,
                                                                           backend=backend))
    a, b, c = (array("d", col) for col in zip(*cols))
    out, passed = kern(a, b, c, k)
    want = [mix_float(x, y, z, k) for x, y, z in cols]
    assert bits(out) == bits(array("d", [w[0] for w in want]))
    assert bits(passed) == bits(b)


def test_auto_backend_is_native_when_a_compiler_exists():
    kern = compile_map(mix, 4)
    assert kern.backend == ("c" if has_compiler() else "python")
    assert kern.n_outputs == 2
    assert compile_map(mix, 4, backend="python").backend == "python"


def test_in_place_outputs_may_be_the_inputs():
    kern = compile_map(lambda p, g, lr: p - lr * g, 3)
    p, g = array("d", [1.0, 2.0, 3.0]), array("d", [0.5, -1.0, 0.25])
    res = kern(p, g, 0.1, out=[p])
    assert res[0] is p
    assert list(p) == [1.0 - 0.1 * 0.5, 2.0 - 0.1 * -1.0, 3.0 - 0.1 * 0.25]


@pytest.mark.parametrize("backend", ["auto", "python"])
def test_python_errors_are_raised_and_outputs_left_alone(backend):
    kern = compile_map(lambda a, b: a / b, 2, backend=backend)
    a, b = array("d", [1.0, 2.0, 3.0]), array("d", [1.0, 0.0, 2.0])
    with pytest.raises(ZeroDivisionError):
        kern(a, b, out=[a])
    assert list(a) == [1.0, 2.0, 3.0]  # all or nothing: element 0 was not written


@pytest.mark.parametrize("backend", ["auto", "python"])
def test_non_finite_inputs_give_pythons_numbers(backend):
    kern = compile_map(lambda a, b: a * b - a, 2, backend=backend)
    inf = math.inf
    a, b = array("d", [inf, 1.0, -inf]), array("d", [2.0, inf, 0.5])
    out, = kern(a, b)
    want = [x * y - x for x, y in zip(a, b)]
    assert bits(out) == bits(array("d", want))  # inf - inf is nan, as Python gives


def test_overflow_in_c_gives_pythons_inf():
    kern = compile_map(lambda a: a * a, 1)
    out, = kern(array("d", [1e200, 3.0]))
    assert list(out) == [math.inf, 9.0]


def test_a_branch_on_data_is_refused():
    with pytest.raises(ValueError, match="cannot branch on data"):
        compile_map(lambda a: a if a > 0 else -a, 1)


def test_bad_calls_name_what_is_wrong():
    kern = compile_map(lambda a, b: a + b, 2)
    with pytest.raises(TypeError, match="takes 2 inputs, got 1"):
        kern(array("d", [1.0]))
    with pytest.raises(TypeError, match="input 1 must be an array"):
        kern(array("d", [1.0]), [1.0])
    with pytest.raises(ValueError, match="input 1 has 2 items"):
        kern(array("d", [1.0]), array("d", [1.0, 2.0]))
    with pytest.raises(ValueError, match="at least one input must be an array"):
        kern(1.0, 2.0)
    with pytest.raises(TypeError, match="out must be 1 array"):
        kern(array("d", [1.0]), 2.0, out=[array("d", [1.0, 2.0])])
    with pytest.raises(ValueError, match="n_inputs must be a positive int"):
        compile_map(lambda: 1.0, 0)
    with pytest.raises(ValueError, match="backend must be"):
        compile_map(lambda a: a, 1, backend="fortran")


def test_empty_arrays_give_empty_outputs():
    kern = compile_map(lambda a, b: (a + b, a * b), 2)
    s, p = kern(array("d"), 1.0)
    assert len(s) == len(p) == 0


@pytest.fixture
def no_compiler(tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("PATH", str(empty))
    native.forget_compiler()
    yield
    native.forget_compiler()


def test_without_a_compiler_python_serves_and_c_raises(no_compiler):
    kern = compile_map(lambda a: a * 3.0 + 1.0, 1)
    assert kern.backend == "python"
    assert list(kern(array("d", [1.0, 2.0]))[0]) == [4.0, 7.0]
    with pytest.raises(al.NativeUnavailableError, match="compile_map"):
        compile_map(lambda a: a * 3.0, 1, backend="c")


def test_threads_sharing_a_kernel_get_their_own_results():
    import threading

    kern = compile_map(lambda a, b: a * b + 1.0, 2)
    errors = []

    def work(k: float) -> None:
        for size in (3, 50, 7) * 30:
            a = array("d", [k + i for i in range(size)])
            kern(a, k, out=[a])
            if list(a) != [(k + i) * k + 1.0 for i in range(size)]:
                errors.append((k, size))

    threads = [threading.Thread(target=work, args=(float(k),)) for k in (2, 3, 5, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
