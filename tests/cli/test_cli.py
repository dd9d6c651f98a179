"""The command line: `graph` (safe expression parser, gradients, drawing) and `demo`.

Oracles: expressions built directly with Python operators on Values (the parser must build the
same graph: same data bit for bit, same gradients), hand-written derivatives, and random
expression graphs from `autograd_lite.testing.expressions` printed back to text.
"""

from __future__ import annotations

import ast
import builtins
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import Value, grad, topo_order
from autograd_lite.cli.expression import (
    FUNCTIONS,
    MAX_EXPONENT,
    ExpressionError,
    build,
    parse_assignments,
    parse_expression,
)
from autograd_lite.cli.main import main
from autograd_lite.testing import Expression, expressions

ROOT = Path(__file__).resolve().parent.parent.parent


# ---- accepted expressions: same graph as the Python code ------------------------------------
ACCEPTED = [
    ("tanh(w*x + b)", lambda x, w, b: al.tanh(w * x + b)),
    ("x*w + b", lambda x, w, b: x * w + b),
    ("-x + 2", lambda x, w, b: -x + 2),
    ("+x - -w", lambda x, w, b: x - -w),
    ("x / w - b / 3", lambda x, w, b: x / w - b / 3),
    ("x ** 3 + 2 ** x + x ** w", lambda x, w, b: x**3 + 2**x + x**w),
    ("x ** -2.5", lambda x, w, b: x**-2.5),
    ("exp(x) * log(x + 1) + log1p(b)", lambda x, w, b: al.exp(x) * al.log(x + 1) + al.log1p(b)),
    ("sigmoid(w) + softplus(w) + relu(w) + relu(x)",
     lambda x, w, b: al.sigmoid(w) + al.softplus(w) + al.relu(w) + al.relu(x)),
    ("leaky_relu(w) + leaky_relu(w, 0.2) + leaky_relu(x, -0.5)",
     lambda x, w, b: al.leaky_relu(w) + al.leaky_relu(w, 0.2) + al.leaky_relu(x, -0.5)),
    ("sin(x) * cos(w) + sqrt(x) + abs(w)",
     lambda x, w, b: al.sin(x) * al.cos(w) + al.sqrt(x) + al.abs(w)),
    ("maximum(x, w) + minimum(x, 0.25) + maximum(1, b)",
     lambda x, w, b: al.maximum(x, w) + al.minimum(x, 0.25) + al.maximum(1, b)),
    ("(x*x*x)", lambda x, w, b: x * x * x),
    ("(x +\n   w) * b", lambda x, w, b: (x + w) * b),
    ("1e-3 * x + 1_000 * w + .5", lambda x, w, b: 1e-3 * x + 1000 * w + 0.5),
    ("x", lambda x, w, b: x),
]


@pytest.mark.parametrize("text, direct", ACCEPTED, ids=[t for t, _ in ACCEPTED])
def test_accepted_expression_builds_the_same_graph(text, direct):
    env = {"x": Value(1.5, label="x"), "w": Value(-2.0, label="w"), "b": Value(0.5, label="b")}
    out = build(text, env)
    ref_env = {k: Value(v.data) for k, v in env.items()}
    ref = direct(**ref_env)
    assert out.data == ref.data
    assert [n.op.name if n.op else None for n in topo_order([out])] == \
        [n.op.name if n.op else None for n in topo_order([ref])]
    got = grad(out, list(env.values()), allow_unused=True, materialize_grads=True)
    want = grad(ref, list(ref_env.values()), allow_unused=True, materialize_grads=True)
    assert got == want


def test_neuron_gradients_match_hand_derivatives():
    x, w, b = Value(1.0), Value(-2.0), Value(0.5)
    out = build("tanh(w*x + b)", {"x": x, "w": w, "b": b})
    out.backward()
    t = math.tanh(-2.0 * 1.0 + 0.5)
    assert out.data == pytest.approx(t, abs=1e-15)
    assert x.grad == pytest.approx(-2.0 * (1 - t * t), rel=1e-12)
    assert w.grad == pytest.approx(1.0 * (1 - t * t), rel=1e-12)
    assert b.grad == pytest.approx(1 - t * t, rel=1e-12)


def test_numbers_alone_are_lifted_to_a_recorded_graph():
    out = build("2 * 3 + 1", {})
    assert isinstance(out, Value) and out.data == 7.0
    assert [n.op.name for n in topo_order([out]) if n.op] == ["mul", "add"]


def test_deep_expression_is_evaluated_without_recursion():
    x = Value(1.0)
    out = build("x" + " + x" * 400, {"x": x})
    out.backward()
    assert out.data == 401.0 and x.grad == 401.0


# ---- rejected expressions: ExpressionError naming the piece and its column -------------------
REJECTED = [
    ("x.real", "attribute access 'x.real'", 1),
    ("x + w[0]", "subscript 'w[0]'", 5),
    ("foo(x)", "unknown function 'foo'", 1),
    ("x + __import__('os')", "unknown function '__import__'", 5),
    ("lambda: x", "lambda", 1),
    ("x < 1", "comparison 'x < 1'", 1),
    ("x and w", "boolean operator", 1),
    ("x if w else b", "conditional expression", 1),
    ("tanh(x, k=1)", "keyword argument 'k='", 9),
    ("tanh(x, 1)", "tanh() takes 1 argument(s), got 2", 1),
    ("maximum(x)", "maximum() takes 2 argument(s), got 1", 1),
    ("tanh(*x)", "starred argument", 6),
    ("x + y", "unknown name 'y'", 5),
    ("exp + x", "function 'exp' used without calling it", 1),
    ("x // 2", "operator '//'", 3),
    ("x % 2", "operator '%'", 3),
    ("x @ w", "operator '@'", 3),
    ("~x", "operator '~'", 1),
    ("not x", "operator 'not'", 1),
    ("x ** 10**5", "exponent 100000", 6),
    ("2 ** 2 ** 2 ** 2 ** 2", "exponent 65536", 6),
    ("x ** 1e300", "exponent 1e+300", 6),
    ("x + 1e999", "number 1e999 is too large", 5),
    ("1j * x", "complex number 1j", 1),
    ("True + x", "True is not a number", 1),
    ("x + 'a'", "str 'a' is not a number", 5),
    ("x + None", "None is not a number", 5),
    ("[x, w]", "list", 1),
    ("(x, w)", "tuple", 1),
    ("{x: 1}", "dict", 1),
    ("[x for x in w]", "comprehension", 1),
    ("f'{x}'", "f-string", 1),
    ("(x := 2)", "assignment expression", 2),
    ("x.__class__.__bases__", "attribute access", 1),
    ("(x).__class__", "attribute access", 1),
    ("leaky_relu(x, w)", "parameter must be a number literal", 15),
    ("(x", "syntax error", 1),
    ("x +", "missing operand after '+'", 3),
    ("x * (w -", "missing operand after '-'", 8),
    ("(x ** ", "missing operand after '**'", 4),
    ("tanh(x) /\n", "missing operand after '/'", 9),
    ("log(x - 1.5)", "cannot evaluate 'log(x - 1.5)'", 1),
    ("w / (x - 1.5)", "division by zero", 1),
    ("log(0 * x)", "logarithm needs a positive number", 1),
    ("sqrt(w)", "square root of a negative", 1),
]


@pytest.mark.parametrize("text, fragment, column", REJECTED, ids=[t for t, _, _ in REJECTED])
def test_rejected_expression_names_piece_and_position(text, fragment, column):
    env = {"x": Value(1.5), "w": Value(-2.0), "b": Value(0.5)}
    with pytest.raises(ExpressionError) as info:
        build(text, env)
    err = info.value
    assert fragment in str(err)
    if column is not None:
        assert err.column == column, str(err)
        assert f"column {column}" in str(err)
        caret_line = str(err).splitlines()[-1]
        assert caret_line.index("^") - 2 == column - 1


@pytest.mark.parametrize("text", ["", "   ", "x" * 10_001])
def test_empty_or_huge_text_is_rejected(text):
    with pytest.raises(ExpressionError):
        parse_expression(text, ["x"])


def test_too_deep_for_the_python_parser_is_a_clear_error():
    with pytest.raises(ExpressionError, match="nested too deeply|too many nested"):
        parse_expression("x" + "+x" * 3000, ["x"])


def test_position_is_in_characters_and_lines():
    with pytest.raises(ExpressionError) as info:
        build("ü + (x +\n  y)", {"ü": 1.0, "x": 2.0})
    assert (info.value.line, info.value.column) == (2, 3)
    assert "line 2, column 3" in str(info.value)
    with pytest.raises(ExpressionError) as info:
        build("ü + y", {"ü": 1.0})
    assert info.value.column == 5


def test_max_exponent_is_inclusive():
    x = Value(1.0)
    assert build(f"x ** {MAX_EXPONENT:g}", {"x": x}).data == 1.0
    with pytest.raises(ExpressionError, match="exponent"):
        build("x ** w", {"x": x, "w": MAX_EXPONENT + 1})


# ---- assignments --------------------------------------------------------------------------------
def test_assignments_parse():
    assert parse_assignments(["x=1", "w=-2", " b = 0.5e1 ", "big_name2=1_000"]) == \
        {"x": 1.0, "w": -2.0, "b": 5.0, "big_name2": 1000.0}


@pytest.mark.parametrize("item, fragment", [
    ("x", "expected NAME=NUMBER"),
    ("=1", "is not a variable name"),
    ("1x=1", "is not a variable name"),
    ("lambda=1", "is not a variable name"),
    ("x.y=1", "is not a variable name"),
    ("tanh=1", "is a function's name"),
    ("x=abc", "'abc' is not a number"),
    ("x=", "'' is not a number"),
    ("x=2*3", "'2*3' is not a number"),
    ("x=nan", "finite"),
    ("x=inf", "finite"),
])
def test_bad_assignment(item, fragment):
    with pytest.raises(ExpressionError, match=re.escape(fragment)):
        parse_assignments([item])


def test_repeated_assignment():
    with pytest.raises(ExpressionError, match="given twice"):
        parse_assignments(["x=1", "x=2"])


# ---- hypothesis: random expression graphs printed as text round-trip ----------------------------
_INFIX = {"add": "+", "mul": "*", "div": "/"}


def _to_text(e: Expression) -> str:
    """Print a random expression graph as text (reused nodes are repeated: a tree)."""
    names = [f"x{i}" for i in range(len(e.inputs))]
    for name, idx, params in e.nodes:
        args = [names[i] for i in idx]
        if name in _INFIX:
            names.append(f"({args[0]} {_INFIX[name]} {args[1]})")
        elif name == "neg":
            names.append(f"(-{args[0]})")
        elif name == "pow":
            names.append(f"({args[0]} ** {args[1]})")
        elif name == "powc":
            names.append(f"({args[0]} ** {params[0]!r})")
        elif name == "rpow":
            names.append(f"({params[0]!r} ** {args[0]})")
        else:
            names.append(f"{name}({', '.join(args + [repr(p) for p in params])})")
    return names[-1]


@given(expressions(n_nodes=(1, 6)))
def test_random_expression_text_round_trips(e):
    text = _to_text(e)
    xs = [Value(x) for x in e.inputs]
    direct = e(*xs)
    ys = [Value(x) for x in e.inputs]
    parsed = build(text, {f"x{i}": y for i, y in enumerate(ys)})
    assert parsed.data == direct.data, text
    g_direct = grad(direct, xs, allow_unused=True, materialize_grads=True)
    g_parsed = grad(parsed, ys, allow_unused=True, materialize_grads=True)
    for a, b in zip(g_direct, g_parsed):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12) or (math.isnan(a) and math.isnan(b))


_PIECES = ["x", "w", "1", "2.5", "+", "-", "*", "/", "**", "(", ")", " ", ",", "tanh(",
           "exp(", "maximum(", ".", "[", "]", "lambda", ":", "=", "<", "'", "__import__",
           "//", "if", "else", "j", "e9", "not", "y"]


@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join))
def test_any_text_gives_a_value_or_an_expression_error(text):
    env = {"x": Value(0.7), "w": Value(-1.3)}
    try:
        out = build(text, env)
    except ExpressionError as e:
        assert str(e)
    else:
        assert isinstance(out, Value)


def test_no_eval_exec_or_compile(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must not be used")

    real_compile = builtins.compile

    def ast_only(source, filename, mode, flags=0, *args, **kwargs):
        # ast.parse calls compile(..., PyCF_ONLY_AST): a syntax tree, never code objects.
        assert flags & ast.PyCF_ONLY_AST, "compile() used to make code"
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", ast_only)
    out = build("tanh(w*x + b) ** 2 / 3", {"x": 1.0, "w": 2.0, "b": 0.5})
    assert out.data == pytest.approx(math.tanh(2.5) ** 2 / 3)
    for path in ("autograd_lite/cli/expression.py", "autograd_lite/cli/main.py"):
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        calls = {n.func.id for n in ast.walk(tree)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not calls & {"eval", "exec", "compile", "__import__"}, path


def test_functions_are_the_engines():
    for name, (fn, _counts) in FUNCTIONS.items():
        assert fn is getattr(al, name)


# ---- the `graph` subcommand -------------------------------------------------------------------
def _grads(out: str) -> dict[str, float]:
    return {m[1]: float(m[2]) for m in re.finditer(r"d/d(\w+) = (\S+)", out)}


def test_graph_command_writes_svg_and_prints_gradients(tmp_path, capsys):
    path = tmp_path / "neuron.svg"
    rc = main(["graph", "tanh(w*x + b)", "x=1", "w=-2", "b=0.5", "-o", str(path)])
    out = capsys.readouterr().out
    assert rc == 0
    t = math.tanh(-1.5)
    g = _grads(out)
    assert g["x"] == pytest.approx(-2 * (1 - t * t), rel=1e-9)
    assert g["w"] == pytest.approx(1 - t * t, rel=1e-9)
    assert g["b"] == pytest.approx(1 - t * t, rel=1e-9)
    svg = path.read_text(encoding="utf-8")
    assert "<svg" in svg
    for text in ("x", "w", "b", "f", "tanh", "*", "+", "grad 0.1807"):
        assert f">{text}</text>" in svg, text
    assert re.search(r">data (-|&#45;|&#x2d;)0\.9051</text>", svg)  # the output's data
    assert f"wrote {path}" in out


@pytest.mark.parametrize("fmt, check", [
    ("png", lambda p: p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")),
    ("dot", lambda p: p.read_text().lstrip().startswith(("digraph", "strict digraph"))),
])
def test_graph_command_formats(tmp_path, capsys, fmt, check):
    path = tmp_path / f"g.{fmt}"
    assert main(["graph", "x * x", "x=3", "-o", str(path), "--rankdir", "TB"]) == 0
    assert check(path)
    assert _grads(capsys.readouterr().out)["x"] == 6.0


def test_graph_command_reports_unused_variable(tmp_path, capsys):
    assert main(["graph", "x * 2", "x=3", "z=1", "-o", str(tmp_path / "g.dot")]) == 0
    out = capsys.readouterr().out
    assert "d/dz = 0  (not used" in out


@pytest.mark.parametrize("argv, fragment", [
    (["graph", "x.real", "x=1"], "attribute access 'x.real' is not allowed at column 1"),
    (["graph", "x + y", "x=1"], "unknown name 'y'"),
    (["graph", "x", "x=one"], "'one' is not a number"),
    (["graph", "log(x)", "x=0"], "cannot evaluate 'log(x)'"),
])
def test_graph_command_bad_input_exits_2(tmp_path, capsys, argv, fragment):
    rc = main([*argv, "-o", str(tmp_path / "g.svg")])
    err = capsys.readouterr().err
    assert rc == 2
    assert fragment in err
    assert not (tmp_path / "g.svg").exists()


# ---- the `demo` subcommand --------------------------------------------------------------------
def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _check_demo_files(out: Path, model_labels: list[str]) -> None:
    svg = (out / "loss_graph.svg").read_text(encoding="utf-8")
    assert "<svg" in svg and "</svg>" in svg
    for label in model_labels:
        assert label in svg, f"{label!r} missing from the loss graph"
    for name in ("loss_curve.png", "decision_boundary.png"):
        w, h = _png_size(out / name)
        assert w > 100 and h > 100
    page = (out / "backprop_steps.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert "<svg" in page and "<script" in page
    # self-contained: nothing fetched from anywhere
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"<link[^>]*\bhref=", page)
    assert not re.search(r"\b(src|href)=[\"']?(https?:)?//", page)
    assert "url(http" not in page


def test_demo_writes_its_files(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = main(["demo", "--epochs", "2", "--samples", "40", "--hidden", "3", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0
    # the tour of one neuron: d tanh(n)/dn = 1 - y^2 with y = tanh(2 * -3 + 6.88...)
    y = math.tanh(2.0 * -3.0 + 6.8813735870195432)
    assert f"b.grad = {1 - y * y:+.6f}" in captured.out
    assert f"wrote into {out.resolve()}/" in captured.out
    assert "epoch 2/2" in captured.err  # the progress bar
    # small model: the full graph, clustered, every parameter's label drawn
    # (inside a neuron's cluster a parameter is drawn by its last name: "w.1", "b")
    _check_demo_files(out, ["layers.0", "layers.1", "neurons.2", ">w.1<", ">b<"])


@pytest.mark.parametrize("dataset", ["circles", "spirals", "xor", "blobs"])
def test_demo_datasets(tmp_path, capsys, dataset):
    out = tmp_path / dataset
    rc = main(["demo", "--dataset", dataset, "--epochs", "1", "--samples", "30", "--hidden",
               "2,2", "--out", str(out), "--no-progress", "--no-tour", "--seed", "3"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "[2, 2, 3]" in text if dataset == "blobs" else "[2, 2, 1]" in text
    _check_demo_files(out, ["layers.0", "layers.2"])


def test_demo_large_model_draws_one_box_per_neuron(tmp_path, capsys):
    out = tmp_path / "big"
    assert main(["demo", "--epochs", "1", "--samples", "20", "--hidden", "16", "16", "--out",
                 str(out), "--no-progress", "--no-tour"]) == 0
    assert "one box per neuron" in capsys.readouterr().out
    _check_demo_files(out, ["layers.0", "layers.1", "layers.2", "neurons.15"])


def test_demo_learns_moons(tmp_path):
    from autograd_lite.cli.demo import run

    result = run(epochs=20, hidden=(8, 8), samples=100, lr=0.05, out=tmp_path, progress=False,
                 echo=lambda s: None)
    assert result.loss[-1] < 0.5 * result.loss[0]
    assert result.accuracy >= 0.9
    assert set(result.files) == {"loss graph", "step-through page", "loss curve",
                                 "decision boundary", "training animation"}


@pytest.mark.parametrize("argv", [
    ["demo", "--epochs", "0"],
    ["demo", "--epochs", "two"],
    ["demo", "--hidden", "0"],
    ["demo", "--hidden", "4,x"],
    ["demo", "--hidden", "5000"],
    ["demo", "--dataset", "mnist"],
    ["graph"],
    [],
])
def test_bad_command_line_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.slow
def test_python_m_autograd_lite_demo(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "m"
    proc = subprocess.run(
        [sys.executable, "-m", "autograd_lite", "demo", "--epochs", "1", "--samples", "20",
         "--hidden", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "wrote into" in proc.stdout
    _check_demo_files(out, ["layers.0"])


def test_demo_out_is_a_file_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    rc = main(["demo", "--epochs", "1", "--samples", "10", "--hidden", "2", "--out",
               str(blocker), "--no-progress", "--no-tour"])
    assert rc == 1
    captured = capsys.readouterr()
    assert "is an existing file, not a folder" in captured.err
    assert "training" not in captured.out  # checked before training, not after


def test_demo_out_under_a_file_is_a_clear_error_before_training(tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    rc = main(["demo", "--out", str(blocker / "sub"), "--no-progress", "--no-tour"])
    assert rc == 1
    captured = capsys.readouterr()
    assert "cannot make the output folder" in captured.err and "--out" in captured.err
    assert "training" not in captured.out


@pytest.mark.parametrize("n", ["1", "0", "-3"])
def test_demo_samples_below_two_is_a_usage_error(n, capsys):
    with pytest.raises(SystemExit) as e:
        main(["demo", "--samples", n])
    assert e.value.code == 2
    assert f"--samples: must be at least 2, got {n}" in capsys.readouterr().err


def test_demo_with_two_samples_trains(tmp_path, capsys):
    # The smallest data set the option allows: two points, whatever classes they drew.
    rc = main(["demo", "--dataset", "xor", "--epochs", "1", "--samples", "2", "--hidden", "2",
               "--out", str(tmp_path / "o"), "--no-progress", "--no-tour"])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "o" / "loss_graph.svg").exists()


def test_render_timeout_inf_means_no_limit(tmp_path, capsys):
    out = tmp_path / "n.svg"
    assert main(["render", "neuron", "--timeout", "inf", "-o", str(out)]) == 0
    assert out.read_text().lstrip().startswith(("<?xml", "<svg"))


@pytest.mark.parametrize("value", ["nan", "0", "-1", "-inf"])
def test_render_timeout_not_positive_is_a_usage_error(value, capsys):
    with pytest.raises(SystemExit):
        main(["render", "neuron", f"--timeout={value}"])
    assert "positive number of seconds (or inf for no limit)" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "product", "column", "fixed"), [
    ("2x", "2*x", 1, "2*x"), ("x + 3.5w", "3.5*w", 5, "x + 3.5*w"),
    ("tanh(2 x)", "2*x", 6, "tanh(2*x)"), ("1e3x", "1e3*x", 1, "1e3*x")])
def test_number_followed_by_a_name_hints_the_product(text, product, column, fixed):
    with pytest.raises(ExpressionError) as e:
        parse_expression(text, ["x", "w"])
    assert f"to multiply, write {product}" in str(e.value)
    assert e.value.column == column
    parse_expression(fixed, ["x", "w"])  # the hint's spelling parses


@pytest.mark.parametrize("text", ["1if x else 2", "0x1for"])
def test_text_python_only_warns_about_is_a_syntax_error(text: str) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no SyntaxWarning may escape to the user's terminal
        with pytest.raises(ExpressionError, match="syntax error"):
            build(text, {"x": 1.0})


# ---- output formats follow the file name ------------------------------------------------------
def test_graph_pdf_by_suffix_is_a_pdf(tmp_path, capsys, monkeypatch):
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot not installed")
    monkeypatch.delenv("AUTOGRAD_LITE_DOT", raising=False)
    path = tmp_path / "out.pdf"
    assert main(["graph", "x", "x=1", "-o", str(path)]) == 0
    assert path.read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("fmt, name", [("png", "out.svg"), ("svg", "out.png"), ("dot", "out.pdf"),
                                       ("pdf", "out.dot"), ("svg", "out.gv")])
def test_graph_format_contradicting_the_suffix_is_an_error(tmp_path, capsys, fmt, name):
    path = tmp_path / name
    assert main(["graph", "x*x", "x=1", "--format", fmt, "-o", str(path)]) == 2
    err = capsys.readouterr().err
    assert "does not match" in err and name in err
    assert not path.exists()


@pytest.mark.parametrize("fmt, name", [("png", "g.png"), ("dot", "g.gv"), ("svg", "g.svg")])
def test_graph_format_agreeing_with_the_suffix(tmp_path, capsys, fmt, name):
    path = tmp_path / name
    assert main(["graph", "x*x", "x=1", "--format", fmt, "-o", str(path)]) == 0
    data = path.read_bytes()
    assert {"png": data.startswith(b"\x89PNG"), "dot": b"digraph" in data,
            "svg": b"<svg" in data}[fmt]


def test_graph_format_without_output_names_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["graph", "x*x", "x=1", "--format", "dot"]) == 0
    assert (tmp_path / "graph.dot").read_text().startswith("digraph")


def test_graph_pdf_without_dot_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    from autograd_lite.viz.render import _find_pure

    pure = _find_pure()
    if pure is None:
        pytest.skip("graphviz-pure not installed")
    monkeypatch.setenv("AUTOGRAD_LITE_DOT", pure)  # a renderer that cannot write PDF
    assert main(["graph", "x", "x=1", "-o", str(tmp_path / "g.pdf")]) == 1
    err = capsys.readouterr().err
    assert "apt-get install graphviz" in err and "Traceback" not in err
    assert not (tmp_path / "g.pdf").exists()


# ---- failures are messages, not tracebacks ----------------------------------------------------
@pytest.mark.parametrize("program", ["/bin/false", "/bin/sh -c 'exit 3'"])
def test_failing_renderer_is_a_clear_error(tmp_path, capsys, monkeypatch, program):
    import shutil

    if shutil.which("false") is None:
        pytest.skip("no /bin/false")
    if " " in program:  # a renderer script that fails with its own message
        script = tmp_path / "bad-dot"
        script.write_text("#!/bin/sh\necho 'Error: bad layout' >&2\nexit 3\n")
        script.chmod(0o755)
        program = str(script)
    monkeypatch.setenv("AUTOGRAD_LITE_DOT", program)
    path = tmp_path / "g.svg"
    assert main(["graph", "x*x", "x=2", "-o", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("autograd-lite graph: error: cannot write")
    assert "failed with exit status" in err and "AUTOGRAD_LITE_DOT" in err
    assert not path.exists()


def test_failing_renderer_in_a_subprocess_prints_no_traceback(tmp_path):
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "autograd_lite", "graph", "x*x", "x=2", "-o",
                           str(tmp_path / "g.svg")], capture_output=True, text=True,
                          env={**os.environ, "AUTOGRAD_LITE_DOT": "/bin/false"}, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "error:" in proc.stderr


@pytest.mark.parametrize("error", [ZeroDivisionError("float division by zero"),
                                   OverflowError("math range error"),
                                   al.AutogradError("non-finite gradient"),
                                   ValueError("math domain error")])
def test_engine_error_in_backward_is_a_clear_error(tmp_path, capsys, monkeypatch, error):
    def fail(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(Value, "backward", fail)
    assert main(["graph", "sqrt(x)", "x=1", "-o", str(tmp_path / "g.svg")]) == 1
    err = capsys.readouterr().err
    assert "cannot differentiate 'sqrt(x)'" in err and type(error).__name__ in err


def test_sqrt_at_zero_prints_no_traceback(tmp_path, capsys):
    rc = main(["graph", "sqrt(x)", "x=0", "-o", str(tmp_path / "g.dot")])
    out, err = capsys.readouterr()
    # The engine's non-finite policy decides which: an inf gradient, or a clear error.
    assert (rc == 0 and "d/dx = inf" in out) or (rc == 1 and "cannot differentiate" in err)


# ---- the render and export commands (python -m autograd_lite.render is an alias) ---------------
def test_render_alias_is_the_cli_command(tmp_path):
    import subprocess
    import sys

    a, b = tmp_path / "a.dot", tmp_path / "b.dot"
    for argv, path in ((["-m", "autograd_lite.render"], a), (["-m", "autograd_lite", "render"], b)):
        proc = subprocess.run([sys.executable, *argv, "neuron", "-o", str(path)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "10 values in the graph" in proc.stdout
    assert a.read_text() == b.read_text()


def test_export_command_writes_the_page(tmp_path, capsys):
    path = tmp_path / "steps.html"
    assert main(["export", str(path), "--title", "A neuron"]) == 0
    page = path.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") and "A neuron" in page
    assert f"wrote {path}" in capsys.readouterr().out


# ---- the demo: optional dependencies checked first, the GIF ------------------------------------
def test_demo_without_matplotlib_skips_pictures_with_a_message(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as after a plain pip install
    out = tmp_path / "plain"
    rc = main(["demo", "--epochs", "1", "--samples", "20", "--hidden", "2", "--out", str(out),
               "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0
    note = text.index("matplotlib is not installed")
    assert note < text.index("One neuron")  # said before any work
    assert "pip install 'autograd-lite[demo]'" in text
    assert (out / "loss_graph.svg").exists() and (out / "backprop_steps.html").exists()
    assert not any((out / n).exists() for n in ("loss_curve.png", "decision_boundary.png",
                                                 "training.gif"))


def test_demo_without_tqdm_says_there_is_no_bar(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tqdm", None)
    rc = main(["demo", "--epochs", "1", "--samples", "20", "--hidden", "2", "--out",
               str(tmp_path / "d"), "--no-tour"])
    assert rc == 0
    assert "tqdm is not installed" in capsys.readouterr().out


def test_demo_without_a_renderer_fails_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AUTOGRAD_LITE_DOT", str(tmp_path / "no-such-dot"))
    rc = main(["demo", "--epochs", "1", "--samples", "20", "--hidden", "2", "--out",
               str(tmp_path / "d")])
    out, err = capsys.readouterr()
    assert rc == 1 and "AUTOGRAD_LITE_DOT" in err
    assert "training" not in out and not (tmp_path / "d").exists()


def _gif_frames(data: bytes) -> int:
    """Image descriptors in a GIF, counted by walking its blocks (no imaging library)."""
    assert data[:6] in (b"GIF87a", b"GIF89a"), "not a GIF"
    flags = data[10]
    i = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    while i < len(data):
        tag = data[i]
        if tag == 0x3B:  # trailer
            return frames
        if tag == 0x21:  # extension: label, then sub-blocks
            i += 2
        elif tag == 0x2C:  # image: descriptor, optional local table, LZW size, sub-blocks
            frames += 1
            lflags = data[i + 9]
            i += 10 + (3 * 2 ** ((lflags & 7) + 1) if lflags & 0x80 else 0) + 1
        else:
            raise AssertionError(f"bad GIF block 0x{tag:02x} at {i}")
        while data[i]:
            i += data[i] + 1
        i += 1
    raise AssertionError("GIF without a trailer")


def test_demo_writes_a_multi_frame_training_gif(tmp_path):
    from autograd_lite.cli.demo import run

    result = run(epochs=4, hidden=(3,), samples=40, out=tmp_path, progress=False,
                 echo=lambda s: None)
    data = result.files["training animation"].read_bytes()
    assert _gif_frames(data) == 5  # before training and after each of the 4 epochs
    PIL = pytest.importorskip("PIL.Image")
    with PIL.open(result.files["training animation"]) as im:
        assert im.n_frames == 5 and im.size[0] > 100
        im.seek(0)
        first = im.convert("RGB").tobytes()
        im.seek(4)
        assert im.convert("RGB").tobytes() != first  # the boundary moved


def test_training_gif_restores_the_weights(tmp_path):
    import nn
    from autograd_lite.cli.demo import training_gif

    model = nn.MLP(2, [2, 1], seed=0)
    before = [p.data for p in model.parameters()]
    snaps = [(0, [0.1] * len(before)), (1, [-0.2] * len(before))]
    X, y = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], [0, 1, 1]
    training_gif(model, snaps, X, y, tmp_path / "t.gif", "t", grid=8)
    assert [p.data for p in model.parameters()] == before
    assert _gif_frames((tmp_path / "t.gif").read_bytes()) == 2


# ---- messages a newcomer meets first ---------------------------------------------------------
@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**", "%"])
@pytest.mark.parametrize("left", ["x", "tanh(w*x)", "(x + w) * b", "üx"])
def test_missing_operand_points_at_the_dangling_operator(left, op):
    text = f"{left} {op}"
    with pytest.raises(ExpressionError) as info:
        build(text, {"x": 1.0, "w": 2.0, "b": 3.0, "üx": 4.0})
    err = info.value
    assert f"missing operand after {op!r}" in err.message
    assert err.column == len(left) + 2  # the operator's first character, 1-based
    assert str(err).splitlines()[-1].index("^") - 2 == len(left) + 1


def test_expression_starting_with_minus_gets_a_hint_to_use_double_dash(tmp_path, capsys):
    out = tmp_path / "g.dot"
    with pytest.raises(SystemExit) as info:
        main(["graph", "-o", str(out), "-x*2", "x=1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "after '--'" in err
    hint = err.strip().splitlines()[-1]
    suggested = hint[hint.index("autograd-lite graph"):]
    argv = __import__("shlex").split(suggested)[1:]  # the suggested command works as given
    assert main(argv) == 0
    assert _grads(capsys.readouterr().out)["x"] == -2.0
    with pytest.raises(SystemExit):
        main(["graph", "-x*2"])  # no assignment at all: the same hint
    assert "after '--'" in capsys.readouterr().err


def test_unknown_option_without_a_dash_expression_gets_no_hint(capsys):
    with pytest.raises(SystemExit):
        main(["render", "neuron", "--bogus"])
    assert "after '--'" not in capsys.readouterr().err


@pytest.mark.parametrize("name", ["out.txt", "out.jpeg", "graph.SVGZ", "g.html"])
@pytest.mark.parametrize("command", [["graph", "x*2", "x=1"], ["render", "neuron"]])
def test_unknown_output_suffix_names_the_formats(tmp_path, capsys, name, command):
    out = tmp_path / name
    assert main([*command, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"unknown suffix {out.suffix!r}" in err
    assert "use .svg, .png, .pdf or .dot" in err
    assert "AUTOGRAD_LITE_DOT" not in err and "Format:" not in err
    assert not out.exists()


@pytest.mark.parametrize("argv", [
    ["--sizes", "0"], ["--sizes", "-3"], ["--sizes", "4", "0"], ["--sizes", "2000"],
    ["--sizes", "x"], ["--timeout", "nan"], ["--timeout", "-1"], ["--timeout", "0"],
    ["--timeout", "soon"],
])
def test_render_bad_numbers_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(["render", "mlp", *argv, "-o", "never-written.dot"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[0]}:" in err and "Traceback" not in err


def test_render_positive_timeout_is_accepted(tmp_path, capsys):
    assert main(["render", "neuron", "--timeout", "2.5", "-o", str(tmp_path / "n.dot")]) == 0


@pytest.mark.parametrize("typed, given", [("ｘ*2", "ｘ=1"), ("x*2", "ｘ=1"), ("ｘ*2", "x=1"),
                                          ("ﬁ + 1", "fi=2")])
def test_names_are_nfkc_normalised_on_both_sides(tmp_path, capsys, typed, given):
    assert main(["graph", typed, given, "-o", str(tmp_path / "g.dot")]) == 0
    grads = _grads(capsys.readouterr().out)
    assert list(grads.values()) == [2.0 if "*" in typed else 1.0]


def test_build_normalises_variable_names_and_rejects_a_collision():
    assert build("ｘ * 3", {"ｘ": 2.0}).data == 6.0
    assert build("x * 3", {"ｘ": 2.0}).data == 6.0
    with pytest.raises(ExpressionError, match="given twice"):
        build("x", {"x": 1.0, "ｘ": 2.0})
    with pytest.raises(ExpressionError, match="given twice"):
        parse_assignments(["x=1", "ｘ=2"])


def test_help_shows_no_internal_notes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "autograd-lite demo" in text
    assert "import" not in text and "`nn`" not in text


def _run_here(folder: Path, *argv: str) -> Any:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "autograd_lite", *argv], capture_output=True,
                          text=True, timeout=120, cwd=folder)


@pytest.mark.parametrize("shadow", ["nn.py", "nn/__init__.py", "nn/"])
@pytest.mark.parametrize("command", [["demo", "--epochs", "1", "--no-progress"],
                                     ["render", "mlp", "-o", "m.dot"]])
def test_own_nn_in_the_working_folder_is_named_with_the_fix(tmp_path, shadow, command):
    path = tmp_path / shadow
    if shadow.endswith("/"):
        path.mkdir()
    else:
        path.parent.mkdir(exist_ok=True)
        path.write_text("raise SystemExit('the user module must not run')\n")
    proc = _run_here(tmp_path, *command)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "not autograd-lite's nn package" in proc.stderr
    assert str(tmp_path / shadow.split("/")[0]) in proc.stderr
    assert "Rename it" in proc.stderr
    assert "One neuron" not in proc.stdout  # said before any work
    assert not (tmp_path / "m.dot").exists()


def test_import_nn_is_ours_without_a_shadow():
    import nn
    from autograd_lite.cli.demo import import_nn

    assert import_nn() is nn
    assert Path(nn.__file__).resolve().parent.parent == ROOT
