"""The notebooks' exercises: every checker accepts the reference solution, rejects a known
wrong answer and reads `...` as not attempted; every notebook's "Your turn" cells run with the
reference solutions substituted (tests/exercise_solutions.py, injected here, not stored in the
notebooks) and are all correct."""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from autograd_lite import Value
from autograd_lite.exercises import (
    EXERCISES,
    Feedback,
    check,
    check_gradient,
    check_number,
    check_partial,
    check_value_class,
    student_graph,
)
from autograd_lite.testing import numerical_grad

from .exercise_solutions import ASSIGNING_ENGINE, REFERENCE_ENGINE, SOLUTIONS, WRONG

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
PLACEHOLDER = re.compile(r"^answer = \.\.\.(?:\s*#.*)?$", re.MULTILINE)
CHECK_CALL = re.compile(r'check\("([^"]+)", answer\)')


def _answer(source: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # test-owned reference code, never user text
    return namespace["answer"]


def _exercise_cells(path: Path, tag: str = "exercise") -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"]
            if c["cell_type"] == "code" and tag in c.get("metadata", {}).get("tags", [])]


def test_every_exercise_has_a_reference_and_a_wrong_answer() -> None:
    assert set(SOLUTIONS) == set(EXERCISES) == set(WRONG)


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_checker_accepts_the_reference(name: str) -> None:
    result = check(name, _answer(SOLUTIONS[name]))
    assert result.status == "correct", result


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_checker_rejects_a_known_wrong_answer(name: str) -> None:
    result = check(name, _answer(WRONG[name]))
    assert result.status == "wrong", result
    assert not result


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_the_placeholder_is_not_attempted(name: str) -> None:
    result = check(name, ...)
    assert result.status == "not attempted" and "`...`" in repr(result)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_ends_with_two_to_four_exercises(path: Path) -> None:
    cells = _exercise_cells(path)
    assert 2 <= len(cells) <= 4, f"{path.name}: {len(cells)} exercise cells"
    code = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
            if c["cell_type"] == "code"]
    tags = [set(c.get("metadata", {}).get("tags", [])) for c in code]
    first = min(i for i, t in enumerate(tags) if "exercise" in t)
    # the section's import cell, then only exercises: the lesson is over before they start
    assert "".join(code[first - 1]["source"]).strip() == (
        "from autograd_lite.exercises import check"), path.name
    assert all(t & {"exercise", "exercise-graph"} for t in tags[first:]), path.name
    for source in cells:
        assert len(PLACEHOLDER.findall(source)) == 1, source
        (name,) = CHECK_CALL.findall(source)
        assert name in EXERCISES, name


def test_every_exercise_is_used_by_a_notebook() -> None:
    used = {n for p in NOTEBOOKS for s in _exercise_cells(p) for n in CHECK_CALL.findall(s)}
    assert used == set(EXERCISES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_exercise_cells_with_the_solutions_substituted_are_correct(path: Path) -> None:
    for source in _exercise_cells(path):
        (name,) = CHECK_CALL.findall(source)
        for answers, want in ((SOLUTIONS, "correct"), (WRONG, "wrong")):
            code = PLACEHOLDER.sub(lambda _: answers[name], source)  # noqa: B023
            tree = ast.parse(code)
            last = tree.body[-1]
            assert isinstance(last, ast.Expr), "the cell ends with the check(...) call"
            tree.body[-1] = ast.parse("_result = " + ast.unparse(last.value)).body[0]
            namespace: dict[str, Any] = {"check": check}  # imported by the section's first cell
            exec(compile(tree, path.name, "exec"), namespace)
            result = namespace["_result"]
            assert isinstance(result, Feedback) and result.status == want, (name, result)


# ---- the checkers' behaviour ---------------------------------------------------------------
def _neuron() -> tuple[Value, Value, Value]:
    x, w = Value(2.0, label="x"), Value(-3.0, label="w")
    z = x * w
    z.label = "z"
    y = z.tanh()
    y.label = "y"
    return y, x, w


def test_a_wrong_number_gets_the_tape_row_first_then_the_answer() -> None:
    y, x, w = _neuron()
    want = (1 - math.tanh(-6.0) ** 2) * 2.0
    first = check_gradient(1.0, y, w, name="hint-then-answer")
    assert first.status == "wrong"
    assert "dy/dw += dy/dz · dz/dw" in first.message and "= ?" in first.message
    assert f"{want:.6g}" not in first.message
    second = check_gradient(1.0, y, w, name="hint-then-answer")
    assert f"{want:.6g}" in second.message
    assert check_gradient(want, y, w, name="hint-then-answer").status == "correct"
    assert w.grad == 0.0 and x.grad == 0.0  # the checker leaves .grad alone


def test_a_node_used_twice_gets_both_rows_as_the_hint() -> None:
    x = Value(3.0, label="x")
    y = x * x
    y.label = "y"
    fb = check_gradient(0.0, y, x, name="fan-out", reveal=True)
    assert fb.message.count("dy/dx +=") == 2 and "add the rows" in fb.message
    assert "The answer is 6" in fb.message


def test_numbers_are_compared_with_a_hand_rounding_tolerance() -> None:
    assert check_number(0.39, 0.3932, name="t").status == "correct"
    assert check_number(0.35, 0.3932, name="t").status == "wrong"
    assert check_number(float("nan"), 0.0, name="t").status == "wrong"


@pytest.mark.parametrize("bad", ["0.5", None, True, [1.0], 1j])
def test_a_number_checker_rejects_non_numbers_with_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="must be a real number"):
        check("09.diamond", bad)


def test_numpy_scalars_and_values_are_numbers() -> None:
    import numpy as np

    for answer in (np.float32(30.0), np.int64(30), Value(30.0), 30):
        assert check("09.diamond", answer).status == "correct", answer


def test_a_partial_checker_rejects_non_functions_and_unknown_names() -> None:
    with pytest.raises(TypeError, match="function of x"):
        check("06.softsign-partial", 0.25)
    with pytest.raises(KeyError, match="no exercise"):
        check("99.nothing", 1.0)


def test_a_wrong_partial_is_shrunk_to_a_simple_counterexample() -> None:
    fb = check_partial(lambda x: 1 / (1 + x) ** 2, lambda x: x / (1 + abs(x)), name="softsign")
    assert fb.status == "wrong"
    x = float(re.search(r"fails at x = (\S+) ", fb.message).group(1))  # type: ignore[union-attr]
    assert x < 0 and x == round(x)  # shrunk to a negative integer (-1.0: the pole)


def test_a_partial_that_raises_is_reported_not_crashed() -> None:
    def partial(x: float) -> float:
        if x < -1:
            raise ValueError("boom")
        return 1 / (1 + abs(x)) ** 2

    fb = check_partial(partial, lambda x: x / (1 + abs(x)), name="softsign")
    assert fb.status == "wrong" and "raised ValueError" in fb.message and "boom" in fb.message


def test_karpathys_assignment_bug_is_found_as_out_equals_x0_plus_x0() -> None:
    fb = check_value_class(_answer(ASSIGNING_ENGINE))
    assert fb.status == "wrong"
    assert "out = x0 + x0" in fb.message


def test_the_reference_engine_passes_including_a_second_backward() -> None:
    fb = check_value_class(_answer(REFERENCE_ENGINE))
    assert fb.status == "correct", fb
    assert "agrees" in fb.message


@pytest.mark.parametrize("seed", [0, 1, 7, 2024])
def test_student_graphs_are_seeded_and_checked_against_finite_differences(seed: int) -> None:
    g = student_graph(seed)
    assert repr(g) == repr(student_graph(seed))  # the same graph for the same seed
    assert len(g.expression.nodes) >= 3
    numeric = numerical_grad(g.function, g.inputs)[0]
    assert check_gradient(numeric, *_root_and_x0(g), name=f"s{seed}").status == "correct"
    assert g.check(numeric).status == "correct"
    assert g.check(numeric * 1.5 + 1.0).status == "wrong"


def _root_and_x0(g: Any) -> tuple[Value, Value]:
    out, xs = g.build()
    return out, xs[0]


def test_student_graph_needs_an_int_seed() -> None:
    with pytest.raises(TypeError, match="int seed"):
        student_graph("7")  # type: ignore[arg-type]


def test_the_student_graph_cell_accepts_finite_differences_and_rejects_a_wrong_number() -> None:
    cells = [s for p in NOTEBOOKS for s in _exercise_cells(p, "exercise-graph")]
    assert len(cells) == 1, "one seeded-graph exercise (notebook 01)"
    for solution, want in (("answer = numerical_grad(graph.function, graph.inputs)[0]", "correct"),
                           ("answer = 1.5 * numerical_grad(graph.function, graph.inputs)[0] + 1",
                            "wrong")):
        code = PLACEHOLDER.sub(solution, cells[0])
        tree = ast.parse(code)
        last = tree.body[-1]
        assert isinstance(last, ast.Expr)
        tree.body[-1] = ast.parse("_result = " + ast.unparse(last.value)).body[0]
        namespace: dict[str, Any] = {"numerical_grad": numerical_grad}
        exec(compile(tree, "student graph", "exec"), namespace)
        assert namespace["_result"].status == want, namespace["_result"]


def test_a_partial_returning_a_non_number_is_wrong_not_a_crash() -> None:
    fb = check_partial(lambda x: None, lambda x: x * x, name="square")
    assert fb.status == "wrong" and "raised" in fb.message


def test_a_value_class_without_backward_is_a_type_error() -> None:
    class NoBackward:
        def __init__(self, data: float) -> None:
            self.data, self.grad = data, 0.0

    with pytest.raises(TypeError, match="backward"):
        check_value_class(NoBackward)
