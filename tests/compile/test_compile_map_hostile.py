"""compile_map under hostile use: an error on the Python path names the element that raised,
a function returning something that is not a number is refused at the trace with a TypeError,
and the arrays of a native call cannot be resized while the C loop reads them (the GIL is
released during the call)."""

from __future__ import annotations

from array import array

import pytest

import autograd_lite as al
from autograd_lite import compile_map
from autograd_lite.compile import native


def has_compiler() -> bool:
    return not isinstance(native.find_compiler(), str)


@pytest.mark.parametrize("backend", ["auto", "python"])
def test_a_python_error_names_the_element(backend):
    div = compile_map(lambda a, b: a / b, 2, backend=backend)
    with pytest.raises(ZeroDivisionError) as info:
        div(array("d", [1.0, 2.0, 3.0, 4.0]), array("d", [1.0, 1.0, 0.0, 1.0]))
    assert any("element 2" in note for note in getattr(info.value, "__notes__", []))


@pytest.mark.parametrize("backend", ["auto", "python"])
def test_a_domain_error_names_the_element(backend):
    log = compile_map(lambda a: al.log(a), 1, backend=backend)
    with pytest.raises(ValueError) as info:
        log(array("d", [1.0, 2.0, -1.0]))
    assert any("element 2" in note for note in getattr(info.value, "__notes__", []))


@pytest.mark.parametrize("result", ["a", None, 1j, True, [1.0, object()]])
def test_an_output_that_is_not_a_number_is_a_type_error(result):
    with pytest.raises(TypeError, match="output"):
        compile_map(lambda x: result, 1)


def test_no_outputs_is_a_value_error():
    with pytest.raises(ValueError, match="no outputs"):
        compile_map(lambda x: (), 1)


def test_numbers_and_values_are_fine_outputs():
    k = compile_map(lambda x: (3, 2.5, x * 2.0), 1)
    assert [list(o) for o in k(array("d", [1.0, 2.0]))] == [[3.0, 3.0], [2.5, 2.5], [2.0, 4.0]]


@pytest.mark.skipif(not has_compiler(), reason="needs a C compiler")
def test_arrays_cannot_be_resized_during_the_native_call():
    k = compile_map(lambda x, y: x * 2.0 + y, 2)
    assert k.backend == "c"
    x, y, out = array("d", [1.0, 2.0]), array("d", [0.5, 0.5]), array("d", [0.0, 0.0])
    run = k._run
    refused = []

    def another_thread(*args):  # what another thread may do while the GIL is released
        for a in (x, y):  # (results go to scratch arrays, copied into `out` afterwards)
            with pytest.raises(BufferError):
                a.append(9.0)
            refused.append(a)
        return run(*args)

    k._run = another_thread
    k(x, y, out=[out])
    assert len(refused) == 2 and list(out) == [2.5, 4.5]
    (fresh,) = k(x, y)  # without out=
    assert list(fresh) == [2.5, 4.5] and len(refused) == 4
    x.append(1.0)  # released after the call
    assert len(x) == 3


def test_an_int_too_large_for_a_float_names_its_input():
    add = compile_map(lambda x, y: x + y, 2)
    with pytest.raises(OverflowError, match="input 1"):
        add(array("d", [1.0]), 10**400)


@pytest.mark.skipif(not has_compiler(), reason="needs a C compiler")
def test_a_float32_constant_is_refused_rather_than_computed_two_ways():
    """On floats, x * np.float32(0.1) is float32 arithmetic; traced, it is double arithmetic:
    the C loop and the Python path would give one element two different numbers."""
    np = pytest.importorskip("numpy")
    c = np.float32(0.1)
    with pytest.raises(ValueError, match="float32"):
        compile_map(lambda x: x * c + 1.0, 1)
    k = compile_map(lambda x: x * float(c) + 1.0, 1)  # converted: one arithmetic
    finite, with_inf = k(array("d", [3.0]))[0], k(array("d", [3.0, float("inf")]))[0]
    assert finite[0].hex() == with_inf[0].hex()


@pytest.mark.skipif(not has_compiler(), reason="needs a C compiler")
def test_a_function_that_only_runs_on_values_is_refused_at_once():
    with pytest.raises(AttributeError) as info:
        compile_map(lambda x: x.tanh(), 1)
    assert any("plain floats" in note for note in info.value.__notes__)
