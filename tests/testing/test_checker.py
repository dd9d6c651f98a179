"""The engine checker: micrograd 0.1.0 agrees on small graphs and hits RecursionError near 1,000
nodes; deliberately broken copies of it are caught with a small, shrunk expression whose
numbers are re-derived here independently (the broken engine rerun, finite differences)."""

from __future__ import annotations

import inspect
import sys

import pytest

from autograd_lite import Value, no_grad
from autograd_lite.testing import Expression
from autograd_lite.testing.checker import (
    ENGINE_OPS,
    EngineCheckError,
    EngineMismatchError,
    EngineRecursionError,
    check_deep_graph,
    check_engine,
    supported_ops,
)

engine = pytest.importorskip("micrograd.engine", reason="needs micrograd: pip install micrograd")
MicroValue = engine.Value
SOURCE = inspect.getsource(engine)


def mutant(old: str, new: str) -> type:
    """micrograd's engine with one line changed: a deliberately broken copy."""
    assert SOURCE.count(old) == 1, old
    namespace: dict = {}
    exec(compile(SOURCE.replace(old, new), "<broken micrograd>", "exec"), namespace)  # noqa: S102
    return namespace["Value"]


def central_difference(expr: Expression, i: int, eps: float = 1e-6) -> float:
    """d out / d x_i from two forward evaluations (no backward involved)."""
    def f(shift: float) -> float:
        moved = list(expr.inputs)
        moved[i] += shift
        with no_grad():
            return expr.with_inputs(moved).run(Value)[1].data
    return (f(eps) - f(-eps)) / (2 * eps)


def chain_runs(cls: type, depth: int) -> bool:
    x = cls(0.5)
    v = x
    for i in range(depth):
        v = v * 0.999 if i % 2 == 0 else v + 0.001
    try:
        v.backward()
    except RecursionError:
        return False
    return True


# ---- micrograd as published --------------------------------------------------------------------
def test_micrograd_agrees_on_small_graphs() -> None:
    report = check_engine(MicroValue, depth=None, max_examples=150)
    assert report.examples >= 50
    assert {"add", "mul", "pow_const", "div", "relu", "rsub_const"} <= set(report.ops)
    assert {"tanh", "exp"} <= set(report.skipped)  # micrograd 0.1.0 has neither
    assert "agrees with autograd-lite" in str(report)


def test_micrograd_hits_the_recursion_limit_near_a_thousand_nodes() -> None:
    with pytest.raises(EngineRecursionError) as info:
        check_deep_graph(MicroValue, 2000)
    e = info.value
    assert isinstance(e, AssertionError) and e.depth == 2000
    limit = sys.getrecursionlimit()
    assert limit - 200 < e.longest_ok < limit  # one frame per node, minus the stack in use
    # the bisection's boundary, checked independently (this stack is a few frames shallower)
    assert chain_runs(MicroValue, e.longest_ok - 10)
    assert not chain_runs(MicroValue, e.longest_ok + 10)
    assert "RecursionError" in str(e) and "sys.getrecursionlimit()" in str(e)
    assert f"up to {e.longest_ok} operations work" in str(e)


def test_check_engine_reports_small_graphs_passed_then_the_recursion() -> None:
    with pytest.raises(EngineRecursionError, match=r"^\d+ small random graphs agree, but: "):
        check_engine(MicroValue, max_examples=30)


def test_micrograd_deep_chain_agrees_when_recursion_is_allowed() -> None:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        assert check_deep_graph(MicroValue, 2000) == 2000  # the gradient 0.999**1000 agrees
    finally:
        sys.setrecursionlimit(old)


def test_micrograd_double_backward_differs_from_pytorch_semantics() -> None:
    """micrograd never resets interior gradients: a second backward() over-counts leaves."""
    with pytest.raises(EngineMismatchError, match="after a second backward") as info:
        check_engine(MicroValue, depth=None, twice=True, max_examples=100)
    e = info.value
    xs, out = e.expression.run(MicroValue)
    out.backward()
    out.backward()
    assert [x.grad for x in xs] == [e.yours[f"x{i}"] for i in range(len(xs))]
    assert len(e.expression.nodes) <= 3


def test_our_engine_passes_its_own_check_including_methods_and_depth() -> None:
    report = check_engine(Value, max_examples=100)
    assert {"tanh", "exp", "log", "sqrt", "sigmoid"} <= set(report.ops)
    assert report.skipped == () and report.deep == 2000


# ---- deliberately broken copies ----------------------------------------------------------------
MUL_GRAD = "            self.grad += other.data * out.grad\n"
BROKEN = {
    "mul assigns instead of accumulating": (MUL_GRAD, MUL_GRAD.replace("+=", "=")),
    "mul uses the wrong factor": (MUL_GRAD, MUL_GRAD.replace("other.data", "self.data")),
    "add assigns instead of accumulating": ("            other.grad += out.grad\n",
                                            "            other.grad = out.grad\n"),
    "pow forgets the -1 in the exponent": ("(other * self.data**(other-1))",
                                           "(other * self.data**other)"),
    "relu passes the gradient everywhere": ("(out.data > 0) * out.grad", "out.grad"),
}


@pytest.mark.parametrize("name", BROKEN)
def test_a_broken_engine_is_caught_with_a_small_expression(name: str) -> None:
    cls = mutant(*BROKEN[name])
    with pytest.raises(EngineMismatchError) as info:
        check_engine(cls, depth=None, max_examples=300)
    e = info.value
    expr = e.expression
    assert 1 <= len(expr.nodes) <= 3 and len(expr.inputs) <= 2  # shrunk
    # The two columns, re-derived: the broken engine rerun, and finite differences.
    xs, out = expr.run(cls)
    out.backward()
    assert e.yours["out"] == out.data
    differs = False
    for i, x in enumerate(xs):
        assert e.yours[f"x{i}"] == x.grad
        assert e.ours[f"x{i}"] == pytest.approx(central_difference(expr, i), rel=1e-5, abs=1e-6)
        differs |= x.grad != pytest.approx(e.ours[f"x{i}"], rel=1e-6, abs=1e-9)
    assert differs
    text = str(e)
    assert "your engine" in text and "autograd-lite" in text and "<-- differs" in text
    assert expr.formula() in text and "out.backward()" in text
    assert repr(e.ours["x0"]) in text


def test_an_engine_that_raises_is_reported_with_the_expression() -> None:
    cls = mutant("        assert isinstance(other, (int, float)), ",
                 "        assert other > 0, ")  # refuses negative powers, so a / b fails
    with pytest.raises(EngineMismatchError, match="your engine raised AssertionError") as info:
        check_engine(cls, depth=None, ops=["add", "div", "pow_const"])
    assert isinstance(info.value.yours["error"], AssertionError)
    assert len(info.value.expression.nodes) == 1


def test_a_wrong_deep_gradient_is_reported() -> None:
    cls = mutant(MUL_GRAD, MUL_GRAD.replace("other.data", "(other.data + 1e-3)"))
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        with pytest.raises(EngineCheckError, match=r"0\.999 \*\* 500"):
            check_deep_graph(cls, 1000)
    finally:
        sys.setrecursionlimit(old)


# ---- the expressions and bad input -------------------------------------------------------------
def test_expression_program_is_runnable_micrograd_code() -> None:
    expr = Expression((2.0, -1.0), (("mul", (0, 1), ()), ("pow_const", (2,), (-1,)),
                                    ("radd_const", (3,), (0.5,))), ENGINE_OPS)
    assert expr.formula() == "0.5 + ((x0 * x1) ** (-1))"
    namespace = {"Value": MicroValue}
    exec(expr.program(), namespace)  # noqa: S102 - our own generated text
    assert namespace["out"].data == 0.5 + 1 / (2.0 * -1.0)
    assert namespace["x0"].grad == pytest.approx(-1 / (2.0 * 2.0 * -1.0))  # d/dx0 (x0 x1)^-1


def test_supported_ops_follow_what_the_class_has() -> None:
    class Minimal:
        def __init__(self, data: float) -> None:
            self.data, self.grad = data, 0.0

        def __add__(self, o):  # pragma: no cover - never run
            raise NotImplementedError

        def backward(self) -> None:  # pragma: no cover
            pass

    assert supported_ops(Minimal) == ["add", "add_const"]
    assert set(supported_ops(Value)) == set(ENGINE_OPS)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(TypeError, match="Value class"):
        check_engine(3.0)  # type: ignore[arg-type]

    class NoBackward:
        def __init__(self, data: float) -> None:
            self.data, self.grad = data, 0.0

    with pytest.raises(TypeError, match="has no backward"):
        check_engine(NoBackward)
    with pytest.raises(ValueError, match="unknown operation"):
        check_engine(MicroValue, ops=["add", "matmul"])
    with pytest.raises(ValueError, match=r"lacks what \['tanh'\] need"):
        check_engine(MicroValue, ops=["tanh"])
    with pytest.raises(ValueError, match="depth must be a positive int"):
        check_deep_graph(MicroValue, 0)
    with pytest.raises(ValueError, match="max_examples"):
        check_engine(MicroValue, max_examples=0)
