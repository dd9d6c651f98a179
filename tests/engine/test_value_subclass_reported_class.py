"""A Value subclass that reports another class through `__class__` (a proxy-style subclass) gets
results of that one class from Value's operators and methods: the hot ops (`a + 2`, `a * b`,
`a.tanh()`, `a ** 2`, through the records' apply1/apply2) agree with the reflected ops (`2 + a`),
sugar (`a - 1`) and `detach()`, as they did before the hot paths were inlined. (Calling a record
directly, `PRIMITIVES["exp"](a)`, takes `type(a)`, as it always has.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from autograd_lite import Value, no_grad


class Reported(Value):
    """What the masquerading subclass claims to be."""

    __slots__ = ()


class Masked(Value):
    """A subclass whose `__class__` reports `Reported`."""

    __slots__ = ()

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: D401
        return Reported


OPS: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b, "add-number": lambda a, b: a + 2.0, "radd": lambda a, b: 2.0 + a,
    "mul": lambda a, b: a * b, "square": lambda a, b: a * a, "mul-number": lambda a, b: a * 3,
    "rmul": lambda a, b: 3 * a, "sub": lambda a, b: a - 1.0, "rsub": lambda a, b: 1.0 - a,
    "div": lambda a, b: a / 2.0, "rdiv": lambda a, b: 2.0 / a, "pow-int": lambda a, b: a ** 2,
    "pow-float": lambda a, b: a ** 0.5, "pow-value": lambda a, b: a ** b,
    "tanh": lambda a, b: a.tanh(), "exp": lambda a, b: a.exp(), "relu": lambda a, b: a.relu(),
    "sigmoid": lambda a, b: a.sigmoid(),
    "detach": lambda a, b: a.detach(),
}


@pytest.mark.parametrize("grad", [True, False], ids=["recorded", "no_grad"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_gives_the_class_the_operand_reports(name: str, grad: bool) -> None:
    a, b = Masked(1.5), Masked(0.75)
    assert type(a) is Masked and a.__class__ is Reported
    if grad:
        y = OPS[name](a, b)
    else:
        with no_grad():
            y = OPS[name](a, b)
    assert type(y) is Reported, f"{name}: {type(y).__name__}"


def test_a_plain_subclass_keeps_its_class() -> None:
    a, b = Reported(1.5), Reported(0.75)
    for name, op in OPS.items():
        assert type(op(a, b)) is Reported, name
