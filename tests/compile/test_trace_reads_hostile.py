"""The tracer counts every way user code takes a Value's number out while tracing, and leaves
Value (and user subclasses) exactly as they were once the trace ends, however it ends."""

from __future__ import annotations

import math
import threading
import types
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from autograd_lite import Value, compile_grad
from autograd_lite.compile import DataDependenceWarning
from autograd_lite.compile import trace as trace_module


class OwnData(Value):
    """A user's subclass with its own `data` property and `__float__` (Value's wrappers never
    see reads through them)."""

    __slots__ = ()

    @property
    def data(self) -> float:
        return self._d

    @data.setter
    def data(self, value: float) -> None:
        Value.data.fset(self, value)  # type: ignore[attr-defined]

    def __float__(self) -> float:
        return self._d

    def __lt__(self, other: Any) -> bool:
        return self._d < float(other)


def own(x: Value) -> Value:
    """x as a node of OwnData (the first operand decides the class)."""
    return OwnData(0.0) + x


READS: dict[str, Callable[[Value], Value]] = {
    "plain .data": lambda x: x * (2.0 if x.data > 0 else 3.0),
    "plain getattr": lambda x: x * (2.0 if getattr(x, "data") > 0 else 3.0),  # noqa: B009
    "plain math.floor": lambda x: x * (2.0 if math.floor(x) >= 0 else 3.0),
    "plain %f": lambda x: x * (2.0 if ("%f" % x)[0] != "-" else 3.0),  # noqa: UP031
    "plain f-string": lambda x: x * (2.0 if f"{x:.3f}"[0] != "-" else 3.0),
    "plain bool": lambda x: x * (2.0 if x else 3.0),
    "plain max": lambda x: x * (2.0 if max(x, 0.1) is x else 3.0),
    "subclass .data": lambda x: own(x) * (2.0 if own(x).data > 0 else 3.0),
    "subclass float": lambda x: own(x) * (2.0 if float(own(x)) > 0 else 3.0),
    "subclass math.exp": lambda x: own(x) * math.exp(own(x)),
    "subclass <": lambda x: own(x) * (2.0 if own(x) < 1.0 else 3.0),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_a_read_of_data_while_tracing_warns_and_marks_the_function(name: str) -> None:
    with pytest.warns(DataDependenceWarning):
        c = compile_grad(READS[name], [0.5], backend="python")
    assert c.data_dependent


def test_a_function_that_reads_nothing_does_not_warn_with_subclasses_about() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataDependenceWarning)
        c = compile_grad(lambda x: own(x) * own(x) + 1.0, [0.5], backend="python")
    assert not c.data_dependent


def methods(cls: type) -> dict[str, Any]:
    return {k: cls.__dict__[k] for k in ("data", "__float__", "__lt__", "item", "__format__",
                                         "__bool__", "__le__", "__gt__", "__ge__")
            if k in cls.__dict__}


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_reading_methods_are_put_back_however_the_trace_ends(error: type[BaseException]) -> None:
    before = (methods(Value), methods(OwnData))

    def f(x: Value) -> Value:
        assert methods(Value) != before[0] and methods(OwnData) != before[1]  # wrapped now
        float(own(x))
        raise error("stop")

    with pytest.raises(error):
        compile_grad(f, [0.5], backend="python")
    assert (methods(Value), methods(OwnData)) == before
    assert trace_module._ACTIVE[0] == 0
    assert OwnData(2.0).data == 2.0 and float(OwnData(3.0)) == 3.0


def test_another_threads_reads_are_not_counted_nor_changed() -> None:
    started, stop = threading.Event(), threading.Event()
    wrong: list[str] = []

    def reader() -> None:
        v, w = OwnData(2.0), Value(3.0)
        while not stop.is_set():
            if not (v.data == 2.0 and float(v) == 2.0 and w > v and f"{w:.1f}" == "3.0"):
                wrong.append("read")
            started.set()

    t = threading.Thread(target=reader)
    t.start()
    started.wait()
    try:
        for _ in range(20):
            with warnings.catch_warnings():
                warnings.simplefilter("error", DataDependenceWarning)
                c = compile_grad(lambda x: (x * x).tanh(), [0.5], backend="python")
            assert not c.data_dependent
    finally:
        stop.set()
        t.join()
    assert not wrong


def test_a_subclass_made_while_another_threads_trace_runs_is_counted_too() -> None:
    inside, release = threading.Event(), threading.Event()

    def slow(x: Value) -> Value:
        inside.set()
        release.wait(10)
        return x * x

    t = threading.Thread(target=lambda: compile_grad(slow, [0.5], backend="python"))
    t.start()
    try:
        assert inside.wait(10)

        class Late(Value):
            __slots__ = ()

            def __float__(self) -> float:
                return self._d

        with pytest.warns(DataDependenceWarning):
            compile_grad(lambda x: x * (2.0 if float(Late(0.0) + x) > 0 else 3.0), [0.5],
                         backend="python")
    finally:
        release.set()
        t.join()
    assert "__float__" in Late.__dict__ and float(Late(1.0)) == 1.0
    assert methods(Late)["__float__"].__qualname__.endswith("Late.__float__")  # put back


def test_a_users_module_named_like_the_package_is_user_code() -> None:
    helpers = types.ModuleType("autograd_lite_helpers")  # not a module of autograd_lite
    exec("def sign(v):\n    return 1.0 if v.data > 0 else -1.0\n", helpers.__dict__)
    with pytest.warns(DataDependenceWarning):
        c = compile_grad(lambda x: x * helpers.sign(x), [0.5], backend="python")
    assert c.data_dependent


class _Frozen(type):
    """A metaclass that refuses to change its classes' attributes."""

    def __setattr__(cls, name: str, value: Any) -> None:
        raise TypeError(f"{cls.__name__} is frozen")


class FrozenFloat(Value, metaclass=_Frozen):
    __slots__ = ()

    def __float__(self) -> float:
        return self._d


def test_a_subclass_whose_metaclass_refuses_changes_does_not_break_tracing() -> None:
    before = methods(Value)
    c = compile_grad(lambda x: FrozenFloat(1.0) * x, [0.5], backend="python")
    assert c.value_and_grad([2.0]) == (2.0, (1.0,))
    assert methods(Value) == before and trace_module._ACTIVE[0] == 0
    assert float(FrozenFloat(4.0)) == 4.0
