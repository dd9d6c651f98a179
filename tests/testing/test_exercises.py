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

from ..exercise_solutions import ASSIGNING_ENGINE, REFERENCE_ENGINE, SOLUTIONS, WRONG

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent.parent / "notebooks").glob("*.ipynb"))
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
    assert "dy/dw += dy/dz · dz/dw" in first.message and "dy/dz = ?" in first.message
    assert "dz/dw = x = 2" in first.message  # the local derivative: formula and value
    assert f"{want:.6g}" not in first.message
    # the received gradient is hidden too: only the local factor 2 is a number in the row
    received = 1 - math.tanh(-6.0) ** 2
    assert f"{received:.4g}" not in first.message and f"{received:.3g}" not in first.message
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


def test_numbers_are_compared_to_three_significant_digits_by_default() -> None:
    assert check_number(0.393, 0.3932, name="t").status == "correct"
    assert check_number(0.39, 0.3932, name="t").status == "wrong"
    assert check_number(float("nan"), 0.0, name="t").status == "wrong"
    assert check_number(1e-6, 0.0, name="t").status == "wrong"


@pytest.mark.parametrize("name, accepted, rejected", [
    # log-sum-exp: exactly 1000; 1000 + log 2 is a shift gone wrong, 990 is 1% off
    ("04.logsumexp", [1000.0, 1000.0004], [985.0, 990.0, 999.9, 1000 + math.log(2)]),
    # a dead unit's gradient is exactly 0, not "small"
    ("03.dead-relu", [0.0, -0.0], [5e-4, 1e-6, -1e-9]),
    # "two decimals are enough": -0.1966 rounded or cut to two decimals
    ("01.sigmoid-circuit", [-0.20, -0.19, -0.197], [-0.18, -0.21, 0.20, 0.39, -0.39]),
    ("01.patterns", [3, 3.0], [2.99, 3.01]),
    ("09.diamond", [30], [29.9, 30.1]),
    ("07.newton-constant", [0.889, 0.8889], [0.88, 0.9, 1.3]),
    ("05.rnn-dh1", [0.42993, 0.43], [0.42, 0.44, 0.64]),
])
def test_tolerances_are_fitted_to_each_answer(name: str, accepted: list[float],
                                              rejected: list[float]) -> None:
    for a in accepted:
        assert check(name, a).status == "correct", (name, a)
    for a in rejected:
        assert check(name, a, reveal=True).status == "wrong", (name, a)


@pytest.mark.parametrize("bad, says", [
    ("0.5", "without quotes"), (None, "None"), (True, "bool"), ([1.0], "list of 1"),
    ((30.0, 1.0), "tuple of 2"), (1j, "complex"), ({"a": 1}, "dict"), (object(), "real number"),
])
def test_a_non_number_gets_feedback_saying_what_it_is(bad: object, says: str) -> None:
    for name in ("09.diamond", "04.logsumexp"):  # a gradient checker and a number checker
        right = 30.0 if name == "09.diamond" else 1000.0
        check(name, right)  # a right answer starts the count of wrong attempts afresh
        fb = check(name, bad)
        assert fb.status == "wrong" and says in fb.message and "not counted" in fb.message.lower()
        # not counted: the next wrong number still gets the hint, not the answer
        assert "Hint" in check(name, 12345.0).message
        check(name, right)


def test_an_array_answer_says_one_number() -> None:
    import numpy as np

    fb = check("09.diamond", np.array([30.0, 1.0]))
    assert fb.status == "wrong" and "shape (2,)" in fb.message


def test_numeric_scalars_of_every_kind_are_numbers() -> None:
    from decimal import Decimal
    from fractions import Fraction

    import numpy as np
    import torch

    for answer in (np.float32(30.0), np.int64(30), np.array(30.0), np.float64(30.0), Value(30.0),
                   30, Decimal("30"), Fraction(60, 2), torch.tensor(30.0),
                   torch.tensor(30.0, dtype=torch.float64, requires_grad=True)):
        assert check("09.diamond", answer).status == "correct", answer


def test_a_partial_checker_explains_non_functions_and_rejects_unknown_names() -> None:
    for bad in (0.25, "lambda x: 1 / (1 + abs(x)) ** 2", None):
        fb = check("06.softsign-partial", bad)
        assert fb.status == "wrong" and "function of x" in fb.message, fb
    with pytest.raises(KeyError, match="no exercise"):
        check("99.nothing", 1.0)


def test_a_partial_may_take_out_and_x_as_a_primitive_partial_does() -> None:
    assert check("06.softsign-partial", lambda out, x: 1 / (1 + abs(x)) ** 2).status == "correct"
    # the sigmoid's derivative written from its output, as a primitive's partial may be
    assert check("02.sigmoid-partial", lambda out, x: out * (1 - out)).status == "correct"
    assert check("06.softsign-partial", lambda out, x: 1 / (1 + x) ** 2).status == "wrong"


def test_a_partial_with_the_wrong_signature_is_told_to_take_x() -> None:
    fb = check("06.softsign-partial", lambda a, b, c: 0.0)
    assert fb.status == "wrong" and "function of x only" in fb.message and "(a, b, c)" in fb.message
    fb = check("06.softsign-partial", lambda: 0.0)
    assert fb.status == "wrong" and "function of x only" in fb.message


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
    assert len(g.expression.nodes) >= 4
    numeric = numerical_grad(g.function, g.inputs)[0]
    assert check_gradient(numeric, *_root_and_x0(g), name=f"s{seed}").status == "correct"
    assert g.check(numeric).status == "correct"
    assert g.check(numeric * 1.5 + 1.0).status == "wrong"


def _root_and_x0(g: Any) -> tuple[Value, Value]:
    out, xs = g.build()
    return out, xs[0]


@pytest.mark.parametrize("seed", range(12))
def test_student_graphs_are_worth_working_by_hand(seed: int) -> None:
    g = student_graph(seed)
    out, xs = g.build()
    numeric = numerical_grad(g.function, g.inputs)[0]
    assert abs(numeric) > 1e-2 and abs(abs(numeric) - 1) > 1e-2, g  # not 0, not +-1
    moved = (g.inputs[0] + 0.37, *g.inputs[1:])
    assert abs(numerical_grad(g.function, moved)[0] - numeric) > 1e-4, g  # nonlinear in x0
    assert not any(op == "sub" and a == b for op, (a, *rest), _ in g.expression.nodes
                   for b in rest), g  # no v - v


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


def test_a_partial_returning_none_is_told_so() -> None:
    def forgot_return(x: float) -> None:
        2 * x  # noqa: B018

    fb = check_partial(forgot_return, lambda x: x * x, name="square")
    assert fb.status == "wrong" and "your function returned None" in fb.message
    fb = check_partial(lambda x: "2x", lambda x: x * x, name="square")
    assert fb.status == "wrong" and "not a number" in fb.message


def test_a_wrong_second_backward_says_interior_grads_were_kept() -> None:
    keeps = REFERENCE_ENGINE.replace("v.grad = 0.0      # interior", "pass  # interior")
    assert keeps != REFERENCE_ENGINE
    fb = check_value_class(_answer(keeps))
    assert fb.status == "wrong" and "second backward()" in fb.message
    assert "interior node" in fb.message and "from the first call" in fb.message


def test_a_value_class_without_backward_is_a_type_error() -> None:
    class NoBackward:
        def __init__(self, data: float) -> None:
            self.data, self.grad = data, 0.0

    with pytest.raises(TypeError, match="backward"):
        check_value_class(NoBackward)


def test_the_quiz_snippet_builds_the_circuit_and_writes_outside_the_repo(
        capsys: pytest.CaptureFixture[str]) -> None:
    nb = json.loads(NOTEBOOKS[0].read_text(encoding="utf-8"))
    (text,) = ["".join(c["source"]) for c in nb["cells"]
               if c["cell_type"] == "markdown" and "quiz=True" in "".join(c["source"])]
    (snippet,) = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # the notebook's own markdown, kept in the repository
    page = Path(capsys.readouterr().out.strip())
    assert page.is_file() and page.suffix == ".html"
    assert NOTEBOOKS[0].parent.parent not in page.parents  # a temporary file, not the repo
    f, w0 = namespace["f"], namespace["w0"]
    assert f.label == "f" and math.isclose(f.data, 1 / (1 + math.exp(-1.0)), rel_tol=1e-12)
    assert w0.grad == 0.0  # export_html leaves .grad alone
    # the circuit the exercise checks is this one: its df/dw0 is the reference answer's
    assert check("01.sigmoid-circuit", -0.1966).status == "correct"
    page.unlink()


GRADIENT_EXERCISES = ["01.neuron-dw2", "01.patterns", "01.sigmoid-circuit", "02.shared-bias",
                      "03.dead-relu", "04.softmax-ce", "05.rnn-du", "05.rnn-dh1", "09.diamond"]
UNNAMED = re.compile(r"\bn\d+\b")  # node_names' fallback for an unlabelled node


@pytest.mark.parametrize("name", GRADIENT_EXERCISES)
def test_gradient_hints_name_every_node_and_hide_the_received_gradient(name: str) -> None:
    check(name, _answer(SOLUTIONS[name]))  # start the count of wrong attempts afresh
    fb = check(name, 12345.0)
    assert "Hint" in fb.message and "= ? (what" in fb.message, fb
    assert not UNNAMED.search(fb.message), fb.message
    want = _answer(SOLUTIONS[name])
    numbers = set(re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", fb.message))
    assert want == 0 or not {f"{want:.4g}", f"{want:.3g}", f"{want:.2g}"} & numbers, fb


@pytest.mark.parametrize("seed", [0, 5, 2024])
def test_student_graph_hints_use_the_printed_names(seed: int) -> None:
    g = student_graph(seed)
    msg = g.check(12345.0, reveal=True).message
    assert not UNNAMED.search(msg), msg
    assert all(name in repr(g) for name in re.findall(r"\b(v\d+)\b", msg))
