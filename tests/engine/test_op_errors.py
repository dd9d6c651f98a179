"""Bad input raises at the op, with the exception type a Python user expects and a message that
names the op and the offending value; nothing is recorded or lost."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest

import autograd_lite as al
from autograd_lite import AnomalyError, Value, detect_anomaly, grad, primitive


@pytest.mark.parametrize(
    "bad, kind, text",
    [
        ("abc", TypeError, "str 'abc'"),
        (None, TypeError, "NoneType None"),
        ([1.0], TypeError, "list"),
        (1 + 2j, TypeError, "complex"),
        (Decimal("1.5"), TypeError, "Decimal"),
        (True, TypeError, "bool"),
        (float("nan"), ValueError, "NaN"),
        (10**400, OverflowError, "too large"),
    ],
)
def test_value_rejects_non_numbers(bad: object, kind: type, text: str) -> None:
    with pytest.raises(kind, match="Value") as err:
        Value(bad)  # type: ignore[arg-type]
    assert text in str(err.value)


def test_value_accepts_real_numbers() -> None:
    assert Value(3).data == 3.0 and type(Value(3).data) is float
    assert Value(Fraction(1, 4)).data == 0.25
    assert Value(float("inf")).data == math.inf


def test_label_must_be_text() -> None:
    with pytest.raises(TypeError, match="label"):
        Value(1.0, label=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "build, kind, pieces",
    [
        (lambda: Value(0.0).log(), ValueError, ["log", "0.0"]),
        (lambda: Value(-2.0).log(), ValueError, ["log", "-2.0"]),
        (lambda: Value(-1.0).log1p(), ValueError, ["log1p", "-1.0"]),
        (lambda: Value(-4.0).sqrt(), ValueError, ["sqrt", "-4.0"]),
        (lambda: Value(1.0) / 0, ZeroDivisionError, ["div", "0.0"]),
        (lambda: Value(1.0) / Value(0.0), ZeroDivisionError, ["div", "0.0"]),
        (lambda: 1.0 / Value(0.0), ZeroDivisionError, ["div", "0.0"]),
        (lambda: Value(0.0) ** -1, ZeroDivisionError, ["powc", "0.0"]),
        (lambda: Value(-8.0) ** (1 / 3), ValueError, ["powc", "-8.0"]),
        (lambda: (-2.0) ** Value(0.5), ValueError, ["rpow", "-2.0"]),
        (lambda: al.log(0.0), ValueError, ["log", "0.0"]),
    ],
)
def test_domain_errors_name_op_and_value(build, kind: type, pieces: list[str]) -> None:
    with pytest.raises(kind) as err:
        build()
    for piece in pieces:
        assert piece in str(err.value)


@pytest.mark.parametrize(
    "build, op",
    [
        (lambda v: v + "a", "add"),
        (lambda v: "a" + v, "add"),
        (lambda v: v * None, "mul"),
        (lambda v: v - [1], "sub"),
        (lambda v: v / "x", "div"),
        (lambda v: v ** "2", "pow"),
        (lambda v: v**v.__class__, "pow"),
        (lambda v: v.leaky_relu("0.1"), "leaky_relu"),
        (lambda v: v.maximum("1"), "maximum"),
        (lambda v: al.exp("1"), "exp"),
        (lambda v: v < "1", "<"),
    ],
)
def test_non_number_operands_raise_type_error(build, op: str) -> None:
    with pytest.raises(TypeError) as err:
        build(Value(1.0))
    assert op in str(err.value)


def test_parameter_must_not_be_a_value() -> None:
    with pytest.raises(TypeError, match="plain number"):
        al.leaky_relu(Value(1.0), Value(0.1))


def test_primitive_arity_is_checked() -> None:
    with pytest.raises(TypeError, match="exp\\(\\) takes 1 input"):
        al.exp(1.0, 2.0)


def test_anomaly_mode_names_the_primitive() -> None:
    x = Value(0.0)
    y = x.sqrt() * 0.0 + x  # d sqrt/dx at 0 is infinite: the sqrt backward is the culprit
    # Without anomaly mode backward computes IEEE values, as PyTorch: inf * 0 is nan.
    y.backward()
    assert math.isnan(x.grad)
    x.grad = 0.0
    with detect_anomaly(), pytest.raises(AnomalyError, match="sqrt"):
        y.backward()
    big = Value(300.0)
    z = big.exp() * big.exp() * big.exp()  # overflows to inf in backward products
    z2 = z * 0.0
    with detect_anomaly(), pytest.raises(AnomalyError, match="mul") as err:
        z2.backward()
    assert "non-finite" in str(err.value)
    assert isinstance(err.value, FloatingPointError)


def test_anomaly_mode_off_lets_non_finite_through() -> None:
    big = Value(700.0)
    z = big.exp() * big.exp() * big.exp()
    z.backward()
    assert math.isinf(big.grad) or math.isnan(big.grad)


def test_anomaly_mode_in_grad_and_steps() -> None:
    big = Value(700.0)
    z = big.exp() * big.exp() * big.exp()
    with detect_anomaly():
        with pytest.raises(AnomalyError):
            z.backward()
        with pytest.raises(AnomalyError):
            list(z.backward_steps())
        with pytest.raises(AnomalyError, match="mul"):
            grad(z, [big])
        with pytest.raises(AnomalyError, match="mul"):
            grad(z, [big], create_graph=True)


def test_grad_under_detect_anomaly_raises_as_backward_does() -> None:
    # Regression: grad() ignored detect_anomaly() while backward() honoured it.
    x = Value(0.0)
    y = x.sqrt()
    with detect_anomaly():
        with pytest.raises(AnomalyError, match="sqrt") as from_backward:
            y.backward()
        with pytest.raises(AnomalyError, match="sqrt") as from_grad:
            grad(y, [x])
    assert type(from_backward.value) is type(from_grad.value)
    assert grad(y, [x]) == (math.inf,)  # and without it, the IEEE value


def test_error_in_backward_leaves_forward_graph_usable() -> None:
    def broken(out: float, x: float) -> float:
        raise ValueError("this partial is broken")

    op = al.Primitive("broken", lambda x: 2.0 * x, [broken])
    x = Value(3.0)
    y = op(x)
    with pytest.raises(ValueError, match="broken"):
        y.backward()
    assert y.data == 6.0 and y.parents == (x,)


def test_user_primitive_declaration_is_checked() -> None:
    with pytest.raises(TypeError, match="partial"):
        primitive("bad")(lambda x: x)
    with pytest.raises(TypeError, match="not callable"):
        primitive("bad", 3)(lambda x: x)

    @primitive("strange", lambda out, x: 1.0)
    def strange(x: float) -> float:
        return "nope"  # type: ignore[return-value]

    with pytest.raises(TypeError, match="strange"):
        strange(Value(1.0))


def test_grad_argument_errors() -> None:
    x, y = Value(1.0), Value(2.0)
    out = x * 2
    with pytest.raises(TypeError, match="inputs\\[0\\]"):
        grad(out, [1.0])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="outputs\\[0\\]"):
        grad([3.0], [x])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="unused|not used"):
        grad(out, [x, y])
    with pytest.raises(ValueError, match="grad_outputs"):
        grad([out, out], [x], grad_outputs=[1.0])
    with pytest.raises(TypeError):
        out.backward("1")  # type: ignore[arg-type]


def test_backward_steps_checks_arguments_at_the_call() -> None:
    with pytest.raises(TypeError, match="backward_steps"):
        al.backward_steps("x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="gradient"):
        Value(1.0).backward_steps("1")
    x = Value(2.0)
    y = x * x
    steps = y.backward_steps()
    assert x.grad == 0.0  # nothing happens before the first next()
    next(steps)
    assert x.grad == 4.0
