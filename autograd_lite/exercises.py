"""Exercises with automatic checks: the "Your turn" cells at the end of every notebook.

    from autograd_lite.exercises import check
    answer = ...                      # the placeholder: "not attempted", the notebook stays green
    check("01.neuron-dw2", answer)    # a number, a derivative as a function, or a Value class

One module because it is one idea, a grader: four checkers (`check_gradient` for a number that
is a gradient in a graph, hinted with the graph's tape row; `check_number` for any other
number; `check_partial` for a derivative written as a function, run through `gradcheck` on
inputs hypothesis draws and shrinks; `check_value_class` for a whole micrograd-style engine,
run through `check_engine`), the table `EXERCISES` that the notebooks' cells name, and
`student_graph(seed)`, a random expression per student. Every checker returns a `Feedback`,
whose text Jupyter shows under the cell. A wrong number first gets a hint (the tape rows that
write the gradient, shown symbolically: the node, its local derivative's formula and value,
the received gradient left to find); asked again, the answer is shown. An answer of the wrong
kind (text, None, a list) is told what it is, never a traceback. Tolerances are per exercise,
fitted to its answer (3 significant digits by default, exact for whole-number answers).
Not imported by `autograd_lite` itself (it needs hypothesis).
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from .engine.ops import exp, log, maximum, relu, sigmoid
from .engine.transforms import jvp
from .engine.traversal import grad, topo_order
from .engine.value import Value, describe, primitive
from .testing.checker import (
    EngineCheckError,
    _ours,
    check_engine,
    engine_expressions,
)
from .testing.expression import Expression
from .testing.numerical import GradcheckError, gradcheck
from .viz.stepping.tape import tape

__all__ = [
    "Feedback", "check", "check_gradient", "check_number", "check_partial", "check_value_class",
    "student_graph", "StudentGraph", "EXERCISES", "Exercise",
]

Status = Literal["not attempted", "correct", "wrong"]


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer; its text is what a notebook shows under the cell."""

    exercise: str
    status: Status
    message: str

    def __bool__(self) -> bool:
        return self.status == "correct"

    def __repr__(self) -> str:
        return f"[{self.exercise}] {self.status}: {self.message}"

    __str__ = __repr__


#: Wrong attempts per exercise in this session: the first gets a hint, later ones the answer.
_attempts: dict[str, int] = {}


class _NotANumber(Exception):
    """An answer that is not one real number; its text says what it is and what to write."""


def _number(answer: object) -> float:
    """The answer as a float: ints, floats, Fractions, Decimals, numpy and 0-d torch scalars,
    a `Value` (its `.data`), anything `float()` reads except text, bools and complex."""
    if answer is None:
        raise _NotANumber("the answer is None: set `answer = <a number>` (a function that "
                          "prints instead of returning gives None too).")
    if isinstance(answer, str | bytes):
        raise _NotANumber(f"the answer is text ({answer!r}): write the number without quotes.")
    if isinstance(answer, bool):
        raise _NotANumber(f"the answer is the bool {answer}: write a number.")
    if isinstance(answer, list | tuple | set | dict):
        raise _NotANumber(f"the answer is a {type(answer).__name__} of {len(answer)} item(s): "
                          "the answer is one number (write `answer = x`, not `[x]`).")
    if isinstance(answer, complex):
        raise _NotANumber(f"the answer is the complex number {answer!r}: write a real number.")
    ndim = getattr(answer, "ndim", None)
    if isinstance(ndim, int) and ndim > 0:
        raise _NotANumber(f"the answer is an array of shape {tuple(answer.shape)}: the answer is "  # type: ignore[attr-defined]
                          "one number (use `.item()` or index it).")
    if isinstance(answer, numbers.Real | Value) or hasattr(answer, "__float__"):
        detach = getattr(answer, "detach", None)  # a torch tensor: no requires_grad warning
        try:
            return float(detach() if callable(detach) else answer)
        except (TypeError, ValueError) as e:
            raise _NotANumber(f"float() cannot read the answer {describe(answer)}: {e}") from None
    raise _NotANumber(f"the answer must be a real number, got {describe(answer)}.")


def _checked(name: str, answer: object) -> float | Feedback:
    """The answer as a float, or a "wrong" Feedback that says what it is instead."""
    try:
        return _number(answer)
    except _NotANumber as e:
        return Feedback(name, "wrong", f"{e} (Not counted as an attempt.)")


def _close(got: float, want: float, rel_tol: float, abs_tol: float) -> bool:
    return math.isfinite(got) and math.isclose(got, want, rel_tol=rel_tol, abs_tol=abs_tol)


def _verdict(name: str, got: float, want: float, hint: str, rel_tol: float, abs_tol: float,
             reveal: bool) -> Feedback:
    if _close(got, want, rel_tol, abs_tol):
        _attempts.pop(name, None)
        return Feedback(name, "correct", f"{got:.6g} is right (the engine: {want:.6g}).")
    tries = _attempts[name] = _attempts.get(name, 0) + 1
    if reveal or tries > 1:
        return Feedback(name, "wrong", f"{got:.6g} is not it. The answer is {want:.6g}. How: "
                                       f"{hint}")
    return Feedback(name, "wrong", f"{got:.6g} is not it. Hint: {hint} (Check again to see the "
                                   "answer.)")


def check_number(answer: object, expected: float, *, name: str = "number", hint: str = "",
                 rel_tol: float = 5e-3, abs_tol: float = 1e-9, reveal: bool = False
                 ) -> Feedback:
    """Compare a number with `expected` (by default to 3 significant digits, 0.5%).

    `...` is "not attempted"; a wrong number gets `hint` first, the answer when asked again;
    an answer that is not a number (text, None, a list) is told what it is, not counted.
    """
    if answer is Ellipsis:
        return Feedback(name, "not attempted", "replace `...` with your answer.")
    got = _checked(name, answer)
    if isinstance(got, Feedback):
        return got
    return _verdict(name, got, expected, hint, rel_tol, abs_tol, reveal)


#: The local derivative d node / d (argument k) of each primitive, written with the node's
#: names: `o` the node, `a`, `b` its arguments, `p` its first parameter. Hints show these.
_LOCAL: dict[str, tuple[str, ...]] = {
    "add": ("1", "1"), "sub": ("1", "-1"), "mul": ("{b}", "{a}"), "neg": ("-1",),
    "div": ("1/{b}", "-{o}/{b}"), "powc": ("{p}·{a}^({p} - 1)",),
    "pow": ("{b}·{a}^({b} - 1)", "{o}·log({a})"), "exp": ("{o} (e^x is its own derivative)",),
    "log": ("1/{a}",), "log1p": ("1/(1 + {a})",), "tanh": ("1 - {o}²",),
    "sigmoid": ("{o}·(1 - {o})",), "softplus": ("sigmoid({a})",),
    "relu": ("1 if {a} > 0, else 0",), "leaky_relu": ("1 if {a} > 0, else {p}",),
    "sin": ("cos({a})",), "cos": ("-sin({a})",), "sqrt": ("1/(2·{o})",),
    "abs": ("sign({a})",), "maximum": ("1 if {a} is the larger, else 0",
                                       "1 if {b} is the larger, else 0"),
    "minimum": ("1 if {a} is the smaller, else 0", "1 if {b} is the smaller, else 0"),
}


def _hint_row(row: Any, names: dict[Value, str], top: str, fmt: str = ".4g") -> str:
    """One tape row with its received gradient hidden: the node, its local derivative's
    formula and value, and the upstream gradient left for the student to find."""
    node, parent = row.node, row.parent
    me, p = names[node], names[parent]
    args = [names[q] for q in node.parents]
    formulas = _LOCAL.get(node.op.name)
    if formulas is not None and row.index < len(formulas):
        fill = {"o": me, "a": args[0], "b": args[1] if len(args) > 1 else "",
                "p": format(float(node.params[0]), "g") if node.params else ""}
        formula = formulas[row.index].format(**fill)
        value = format(row.local, fmt)
        local = f"d{me}/d{p} = {formula}" + ("" if formula == value else f" = {value}")
    else:
        local = f"d{me}/d{p} = {format(row.local, fmt)} (the local derivative of {node.op.name})"
    if me == top:
        upstream = f"d{top}/d{top} = 1 (the seed)"
    else:
        upstream = f"d{top}/d{me} = ? (what {me} receives: work it out from the nodes above)"
    return (f"{row.node_text}, so d{top}/d{p} += d{top}/d{me} · d{me}/d{p}, with {local} and "
            f"{upstream}")


def check_gradient(answer: object, root: Value, wrt: Value, *, name: str = "gradient",
                   rel_tol: float = 5e-3, abs_tol: float = 1e-9, reveal: bool = False
                   ) -> Feedback:
    """Compare a number with d root / d wrt as the engine computes it (`.grad` untouched).

    The hint is the graph's tape, shown symbolically: each row that adds into `wrt`'s
    gradient as its node, the local derivative's formula and value, and the received gradient
    hidden (several rows: a node used more than once, whose gradient is their sum).
    """
    if not isinstance(root, Value) or not isinstance(wrt, Value):
        raise TypeError(f"{name}: root and wrt must be Values, got {describe(root)} and "
                        f"{describe(wrt)}")
    if answer is Ellipsis:
        return Feedback(name, "not attempted", "replace `...` with your answer.")
    got = _checked(name, answer)
    if isinstance(got, Feedback):
        return got
    (want,) = grad(root, [wrt], materialize_grads=True, allow_unused=True)
    the_tape = tape(root)
    rows = [r for r in the_tape if r.parent is wrt]
    if not rows:
        hint = f"{wrt.label or 'this node'} does not feed {root.label or 'the output'}: 0."
    else:
        top = the_tape.names[root]
        lines = "; ".join(_hint_row(r, the_tape.names, top) for r in rows)
        more = " (it is used more than once: add the rows)" if len(rows) > 1 else ""
        hint = f"the tape row{'s' * (len(rows) > 1)} writing this gradient{more}: {lines}."
    return _verdict(name, got, float(want), hint, rel_tol, abs_tol, reveal)


class _ReturnedNone(Exception):
    """The student's partial returned None (a `def` without `return`)."""


class _BadReturn(Exception):
    """The student's partial returned something that is not a number."""


def _signature(f: Callable[..., Any]) -> str:
    try:
        return f"({', '.join(inspect.signature(f).parameters)})"
    except (TypeError, ValueError):
        return "an unknown signature"


def _arity(f: Callable[..., Any]) -> int | None:
    """1 for `f(x)`, 2 for `f(out, x)`, None for anything else (builtins like math.cos: 1)."""
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        return 1
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 1 if len(required) <= 1 else (2 if len(required) == 2 else None)
    if len(required) == 2:
        return 2
    if len(required) <= 1 and len(positional) >= 1:
        return 1
    return None


def check_partial(answer: object, forward: Callable[[float], float], *, name: str = "partial",
                  domain: tuple[float, float] = (-5.0, 5.0), avoid: Sequence[float] = (),
                  max_examples: int = 200, seed: int = 0) -> Feedback:
    """Check a derivative written as a function `answer(x) -> d forward / dx`.

    `answer(out, x)`, the way a primitive's partial is declared (out = forward(x)), is
    accepted too.
    `forward` becomes a primitive whose partial is your function; hypothesis draws x in
    `domain` (keeping 1e-3 away from the points in `avoid`, where finite differences straddle
    a kink), runs `gradcheck` at each, and shrinks the first failure (a mismatch, or your
    function raising) to the simplest x it can find.
    """
    if answer is Ellipsis:
        return Feedback(name, "not attempted", "replace `...` with your function of x.")
    if not callable(answer) or isinstance(answer, type):
        return Feedback(name, "wrong", f"the answer must be a function of x (e.g. `lambda x: "
                        f"...` or a `def`), got {describe(answer)}. (Not counted as an attempt.)")
    arity = _arity(answer)
    if arity is None:
        return Feedback(name, "wrong", "write a function of x only (`lambda x: ...`), or of "
                        "(out, x) as a primitive's partial is written; yours takes "
                        f"{_signature(answer)}. (Not counted as an attempt.)")
    f = answer

    def partial(out: float, x: float) -> object:
        r = f(out, x) if arity == 2 else f(x)
        if r is None:
            raise _ReturnedNone
        if isinstance(r, Value):
            return r
        try:
            return _number(r)
        except _NotANumber as e:
            raise _BadReturn(f"your function returned something that is not a number ({e})"
                             ) from None

    prim = primitive(f"your_{name}", partial)(forward)
    failures: list[tuple[float, str]] = []
    lo, hi = domain

    @settings(max_examples=max_examples, deadline=None, database=None, report_multiple_bugs=False,
              phases=(Phase.explicit, Phase.generate, Phase.shrink),
              suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(st.floats(lo, hi, allow_nan=False, allow_infinity=False).filter(
        lambda x: all(abs(x - k) > 1e-3 for k in avoid)))
    def holds(x: float) -> None:
        try:
            gradcheck(prim, [x])
        except GradcheckError as e:
            failures.append((x, str(e).split(": ", 1)[1]))
            raise
        except _ReturnedNone:
            failures.append((x, "your function returned None (a `def` needs `return ...`)"))
            raise
        except _BadReturn as e:
            failures.append((x, str(e)))
            raise
        except Exception as e:
            failures.append((x, f"your function raised {type(e).__name__}: {e}"))
            raise

    try:
        hypothesis_seed(seed)(holds)()
    except Exception:
        if not failures:  # hypothesis itself gave up (e.g. `avoid` leaves nothing to draw)
            raise
        x, why = failures[-1]  # the last failure hypothesis tried is the shrunk one
        return Feedback(name, "wrong", f"your derivative fails at x = {x!r} (shrunk by "
                        f"hypothesis to the simplest failing input): {why}")
    return Feedback(name, "correct", f"gradcheck holds at {max_examples} inputs hypothesis "
                                     f"drew in [{lo:g}, {hi:g}].")


def check_value_class(answer: object, *, name: str = "engine", ops: Sequence[str] | None = None,
                      max_examples: int = 200, twice: bool = True) -> Feedback:
    """Run a micrograd-style Value class through `check_engine` (random graphs, shrunk).

    `twice=True` also calls `backward()` twice and expects the leaves to accumulate.
    """
    if answer is Ellipsis:
        return Feedback(name, "not attempted", "replace `...` with your class.")
    try:
        report = check_engine(answer, ops=ops, max_examples=max_examples, twice=twice,  # type: ignore[arg-type]
                              depth=2000)
    except EngineCheckError as e:
        message = str(e)
        if "after a second backward()" in message:
            message += (" The first backward() agreed, so look at what a second call starts "
                        "from: leaves accumulate (+=), but every interior node must start the "
                        "pass from .grad = 0. An engine that keeps the interior nodes' .grad "
                        "from the first call (micrograd does) passes that old gradient on again.")
        return Feedback(name, "wrong", message)
    except RecursionError:
        return Feedback(name, "wrong", "backward() hit Python's recursion limit: walk the graph "
                                       "with a loop, not recursion.")
    return Feedback(name, "correct", str(report) + ".")


# ---- a graph per student -----------------------------------------------------------------------
@dataclass(frozen=True)
class StudentGraph:
    """A random expression (seeded): find d out / d x0 by hand, then `.check(answer)`."""

    seed: int
    expression: Expression

    def build(self) -> tuple[Value, list[Value]]:
        """The graph, labelled as `repr` prints it (x0.., v1.., out); returns (out, inputs)."""
        names = self.expression.names()
        xs = [Value(x, label=names[i]) for i, x in enumerate(self.expression.inputs)]
        vals: list[Any] = list(xs)
        for op, idx, params in self.expression.nodes:
            v = self.expression.apply(op, [vals[i] for i in idx], params)
            v.label = names[len(vals)]
            _name_helpers(v, set(vals), v.label)
            vals.append(v)
        return vals[-1], xs

    def function(self, *xs: Value) -> Value:
        """The expression as a function of its inputs (for gradcheck, numerical_grad)."""
        return self.expression(*xs)

    @property
    def inputs(self) -> tuple[float, ...]:
        """The inputs' values."""
        return self.expression.inputs

    def check(self, answer: object, reveal: bool = False) -> Feedback:
        """Your d out / d x0 against the engine's, with the tape row as the hint."""
        out, xs = self.build()
        return check_gradient(answer, out, xs[0], name=f"graph {self.seed}", reveal=reveal)

    def __repr__(self) -> str:
        return self.expression.program()


_NONLINEAR = frozenset({"tanh", "exp", "mul", "div", "pow_const"})


def _interesting(expr: Expression, nodes: int) -> bool:
    """At least `nodes` operations, every one of them feeding `out` and none of them a trivial
    `v - v`, out nonlinear in x0, and d out / d x0 neither 0, +-1, nor huge."""
    k = len(expr.inputs)
    if len(expr.nodes) < nodes:
        return False
    if any(op == "sub" and idx[0] == idx[1] for op, idx, _ in expr.nodes):
        return False
    used = {k + len(expr.nodes) - 1}
    for j in range(len(expr.nodes) - 1, -1, -1):
        if k + j in used:
            used.update(expr.nodes[j][1])
    if not all(k + j in used for j in range(len(expr.nodes))) or 0 not in used:
        return False
    on_path = {0}
    nonlinear = False
    for j, (op, idx, _) in enumerate(expr.nodes):
        if on_path & set(idx):
            on_path.add(k + j)
            nonlinear |= op in _NONLINEAR
    ours = _ours(expr)
    if ours is None or not nonlinear:
        return False
    g = ours["x0"]
    if not (math.isfinite(g) and 1e-2 < abs(g) < 1e3 and abs(abs(g) - 1.0) > 1e-2):
        return False
    # linear in x0 in disguise (x0*x0 - x0 - x0*x0): the gradient does not move with x0
    moved = _ours(expr.with_inputs((expr.inputs[0] + 0.37, *expr.inputs[1:])))
    return moved is not None and abs(moved["x0"] - g) > 1e-3


def _name_helpers(v: Value, known: set[Value], name: str) -> None:
    """Label the nodes one operation made besides its result (a constant, the -b of a - b),
    so that hints name them: constants by their value, `-v1`, else `v2_1`, `v2_2`..."""
    k = 0
    for node in reversed(topo_order([v])):
        if node in known or node.label:
            continue
        if node.op is None:
            node.label = format(node.data, "g")
        elif node.op.name == "neg" and node.parents[0].label:
            node.label = "-" + node.parents[0].label
        else:
            k += 1
            node.label = f"{name}_{k}"


def student_graph(seed: int, ops: Sequence[str] = ("add", "mul", "mul_const", "tanh", "exp",
                                                    "sub"), nodes: int = 4) -> StudentGraph:
    """The first expression hypothesis draws with this seed (the same for everyone with that
    seed) that is worth working by hand: at least `nodes` operations, all of them feeding
    `out`, out nonlinear in x0, and d out / d x0 not 0 or +-1."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"student_graph() needs an int seed, got {describe(seed)}")
    found: list[Expression] = []

    class _Found(Exception):
        pass

    @settings(max_examples=2000, deadline=None, database=None,
              phases=(Phase.generate,), suppress_health_check=list(HealthCheck))
    @given(engine_expressions(list(ops), max_inputs=2, max_nodes=nodes + 2))
    def draw(expr: Expression) -> None:
        rounded = expr.with_inputs([round(x, 2) if abs(round(x, 2)) > 0.1 else 0.5
                                    for x in expr.inputs])
        if _interesting(rounded, nodes):
            found.append(rounded)
            raise _Found

    try:
        hypothesis_seed(seed)(draw)()
    except _Found:
        pass
    if not found:
        raise ValueError(f"student_graph(): no usable graph for seed {seed}; try another")
    return StudentGraph(seed, found[0])


# ---- the exercises the notebooks name ----------------------------------------------------------
@dataclass(frozen=True)
class Exercise:
    """One exercise: what it asks, and how an answer is checked."""

    title: str
    checker: Callable[..., Feedback]
    kind: str = "number"  #: number | function | class
    extra: dict[str, Any] = field(default_factory=dict)


def _grad_exercise(title: str, build: Callable[[], tuple[Value, Value]],
                   **kw: Any) -> Exercise:
    def run(answer: object, name: str, reveal: bool) -> Feedback:
        root, wrt = build()
        return check_gradient(answer, root, wrt, name=name, reveal=reveal, **kw)
    return Exercise(title, run)


def _number_exercise(title: str, value: Callable[[], float], hint: str, **kw: Any) -> Exercise:
    def run(answer: object, name: str, reveal: bool) -> Feedback:
        return check_number(answer, value(), name=name, hint=hint, reveal=reveal, **kw)
    return Exercise(title, run)


def _partial_exercise(title: str, forward: Callable[[float], float], **kw: Any) -> Exercise:
    def run(answer: object, name: str, reveal: bool) -> Feedback:
        return check_partial(answer, forward, name=name, **kw)
    return Exercise(title, run, "function")


def _neuron(x2: float) -> tuple[Value, Value]:
    x1, w1, w2 = Value(2.0, label="x1"), Value(-3.0, label="w1"), Value(1.0, label="w2")
    x2v, b = Value(x2, label="x2"), Value(6.8813735870195432, label="b")
    x1w1, x2w2 = x1 * w1, x2v * w2
    x1w1.label, x2w2.label = "x1w1", "x2w2"
    s = x1w1 + x2w2
    s.label = "s"
    n = s + b
    n.label = "n"
    L = n.tanh()
    L.label = "L"
    return L, w2


def _patterns() -> tuple[Value, Value]:
    x, y, z = Value(3.0, label="x"), Value(-1.0, label="y"), Value(2.0, label="z")
    m = maximum(x, y)
    m.label = "m"
    mz = m * z
    mz.label = "mz"
    q = mz + x
    q.label = "q"
    return q, x


def _sigmoid_circuit() -> tuple[Value, Value]:
    w0, x0, w1 = Value(2.0, label="w0"), Value(-1.0, label="x0"), Value(-3.0, label="w1")
    x1, w2 = Value(-2.0, label="x1"), Value(-3.0, label="w2")
    w0x0 = w0 * x0
    w0x0.label = "w0x0"
    w1x1 = w1 * x1
    w1x1.label = "w1x1"
    s = w0x0 + w1x1
    s.label = "s"
    d = s + w2
    d.label = "dot"
    f = 1 / (1 + exp(-d))
    f.label = "f"
    return f, w0


def _mazur(wrt: str) -> tuple[Value, Value]:
    i = [0.05, 0.10]
    w = {k: Value(v, label=k) for k, v in zip(
        ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"),
        (0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55))}
    b1, b2 = Value(0.35, label="b1"), Value(0.60, label="b2")
    h1 = sigmoid(w["w1"] * i[0] + w["w2"] * i[1] + b1)
    h2 = sigmoid(w["w3"] * i[0] + w["w4"] * i[1] + b1)
    s1, s2 = w["w5"] * h1 + w["w6"] * h2, w["w7"] * h1 + w["w8"] * h2
    s1.label, s2.label = "w5h1+w6h2", "w7h1+w8h2"
    net_o1, net_o2 = s1 + b2, s2 + b2
    net_o1.label, net_o2.label = "net_o1", "net_o2"
    o1, o2 = sigmoid(net_o1), sigmoid(net_o2)
    E = 0.5 * (0.01 - o1) ** 2 + 0.5 * (0.99 - o2) ** 2
    E.label = "E"
    return E, {"b1": b1, "b2": b2, **w}[wrt]


def _dead_relu() -> tuple[Value, Value]:
    w1, w2, b = Value(1.0, label="w1"), Value(1.0, label="w2"), Value(-5.0, label="b")
    v = Value(0.7, label="v")
    points = [(1.0, 0.5), (-0.5, 0.8), (2.0, -0.3)]
    zs = []
    for k, (p, q) in enumerate(points):
        u = w1 * p + w2 * q
        u.label = f"u{k + 1}"
        z = u + b
        z.label = f"z{k + 1}"
        zs.append(z)
    L = sum(((v * relu(z) - 1.0) ** 2 for z in zs), Value(0.0))
    L.label = "L"
    return L, b


def _softmax_ce() -> tuple[Value, Value]:
    z = [Value(2.0, label="z0"), Value(1.0, label="z1"), Value(0.1, label="z2")]
    m = Value(max(v.data for v in z), label="m")  # a constant: the shift carries no gradient
    minus_m = -m
    minus_m.label = "minus_m"
    shifted = [v + minus_m for v in z]
    for k, v in enumerate(shifted):
        v.label = f"s{k}"
    lse = m + log(sum((exp(v) for v in shifted), Value(0.0)))
    lse.label = "lse"
    minus_z0 = -z[0]
    minus_z0.label = "minus_z0"
    loss = lse + minus_z0
    loss.label = "loss"
    return loss, z[0]


def _rnn(target: str) -> tuple[Value, Value]:
    u, w = Value(0.8, label="u"), Value(0.5, label="w")
    h = Value(0.0, label="h0")
    hs = []
    for t, x in enumerate((1.0, 0.5, -0.5)):
        uh = u * h
        uh.label = f"uh{t}"
        wx = w * x
        wx.label = f"wx{t + 1}"
        a = uh + wx
        a.label = f"a{t + 1}"
        h = a.tanh()
        h.label = f"h{t + 1}"
        hs.append(h)
    h.label = "L"
    return h, {"u": u, "h1": hs[0]}[target]


def _second_derivative() -> float:
    x = Value(1.0, label="x")
    (d1,) = grad(x**4 - 3 * x**3 + 2, [x], create_graph=True)
    (d2,) = grad(d1, [x])
    return float(d2)


def _diamond() -> tuple[Value, Value]:
    x, two = Value(1.0, label="x"), Value(2.0, label="2")
    a = x * two
    a.label = "a"
    b = a * 3
    b.label = "b"
    c = a + 1
    c.label = "c"
    y = b * c
    y.label = "y"
    return y, x


def _tangent_v4() -> float:
    _, t = jvp(lambda x1, x2: x1.log() + x1 * x2, (2.0, 5.0), (0.0, 1.0))
    return float(t)


def _kink_numeric() -> float:
    from .testing.numerical import numerical_grad
    return numerical_grad(lambda x: x.relu(), [1e-7], eps=1e-6)[0]


def _softsign(x: float) -> float:
    return x / (1 + abs(x))


def _bce_on_one(z: float) -> float:
    return max(z, 0.0) + math.log1p(math.exp(-abs(z))) - z   # log(1 + e^z) - z, stable


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


EXERCISES: dict[str, Exercise] = {
    "01.neuron-dw2": _grad_exercise("the neuron with x2 = 0.5: dL/dw2", lambda: _neuron(0.5)),
    "01.patterns": _grad_exercise("q = max(x, y) * z + x at (3, -1, 2): dq/dx", _patterns,
                                  rel_tol=0.0, abs_tol=1e-6),
    # "two decimals are enough": -0.1966 rounded (-0.20) or cut (-0.19) passes, 0.39 does not
    "01.sigmoid-circuit": _grad_exercise("CS231n's sigmoid circuit: df/dw0", _sigmoid_circuit,
                                         rel_tol=0.0, abs_tol=0.01),
    "02.sigmoid-partial": _partial_exercise("the derivative of the sigmoid", _sigmoid),
    "02.shared-bias": _grad_exercise("Mazur's network: dE/db2 (b2 feeds both outputs)",
                                     lambda: _mazur("b2"), rel_tol=1e-3),
    "03.bce-partial": _partial_exercise("d/dz of log(1 + e^z) - z (label t = 1)", _bce_on_one,
                                        domain=(-20.0, 20.0)),
    "03.dead-relu": _grad_exercise("a dead ReLU unit: dL/db", _dead_relu,  # exactly 0
                                   rel_tol=0.0, abs_tol=1e-12),
    "04.softmax-ce": _grad_exercise("softmax cross-entropy at z = (2, 1, 0.1), class 0: dl/dz0",
                                    _softmax_ce),
    "04.logsumexp": _number_exercise(
        "cross-entropy of logits (1000, 0, -1000) for class 1",
        lambda: 1000.0 + math.log1p(math.exp(-1000.0) + math.exp(-2000.0)),
        "log sum_k e^{z_k} = m + log sum_k e^{z_k - m} with m = max z; the loss is that minus "
        "z_1.", rel_tol=0.0, abs_tol=1e-3),  # 1000 + log 2 (a wrong shift) must fail
    "05.rnn-du": _grad_exercise("scalar RNN over 3 steps: dL/du", lambda: _rnn("u")),
    "05.rnn-dh1": _grad_exercise("scalar RNN over 3 steps: dL/dh1", lambda: _rnn("h1")),
    "06.softsign-partial": _partial_exercise("the derivative of softsign x / (1 + |x|)",
                                             _softsign),
    "06.kink": _number_exercise(
        "central differences of relu at x = 1e-7 with eps = 1e-6", _kink_numeric,
        "(relu(x + eps) - relu(x - eps)) / (2 eps): x - eps is negative, so relu gives 0 "
        "there.", rel_tol=1e-6),
    "07.second-derivative": _number_exercise(
        "f = x^4 - 3x^3 + 2: f''(1), by the engine differentiating its own derivative",
        _second_derivative, "f'(x) = 4x^3 - 9x^2; differentiate it once more, then put x = 1.",
        rel_tol=0.0, abs_tol=1e-6),
    "07.newton-constant": _number_exercise(
        "Newton's constant C = f'''(x*) / (2 f''(x*)) at x* = 9/4", lambda: 36.0 / (2 * 20.25),
        "f''(x) = 12x^2 - 18x and f'''(x) = 24x - 18; evaluate both at x = 2.25."),
    "08.tangent-v4": _number_exercise(
        "forward trace with tangent (0, 1): the tangent of v4 = v1 + v2", _tangent_v4,
        "v4' = v1' + v2', v1' = v-1'/v-1 and v2' = v-1' v0 + v-1 v0', with v-1' = 0, v0' = 1.",
        rel_tol=0.0, abs_tol=1e-6),
    "08.passes": _number_exercise(
        "forward passes (jvp) for the gradient of a loss of 1000 parameters",
        lambda: 1000.0, "one jvp gives one column of the Jacobian (one input direction).",
        rel_tol=0.0, abs_tol=0.5),
    "09.diamond": _grad_exercise("the diamond at x = 1: dy/dx", _diamond, rel_tol=0.0,
                                 abs_tol=1e-6),
    "09.naive-total": _number_exercise(
        "the naive 'total' walk on the diamond at x = 1", lambda: 2 * 3 * 3.0 + 2 * (3 * 3.0 + 6),
        "y = b·c hands b its share first (b before c, as in the log above); each time a "
        "receives something it passes on everything it holds so far, times da/dx.",
        rel_tol=1e-9),
    "09.half-batch-mean": _number_exercise(
        "two half-batches, each loss the mean over its own 2 points, accumulated: how many "
        "times the full batch's mean gradient?", lambda: 2.0,
        "each half divides by 2 instead of 4.", rel_tol=0.0, abs_tol=1e-6),
    "10.xavier-limit": _number_exercise(
        "Glorot (Xavier) uniform limit for a layer of 64 inputs and 32 outputs",
        lambda: math.sqrt(6.0 / (64 + 32)),
        "U(-a, a) has variance a^2 / 3; Glorot wants variance 2 / (fan_in + fan_out).",
        rel_tol=5e-3),
    "10.he-std": _number_exercise(
        "He standard deviation for a ReLU layer with 50 inputs", lambda: math.sqrt(2.0 / 50),
        "ReLU zeroes half of its inputs, halving the second moment: He doubles Var(w) to "
        "2 / fan_in to make up for it.", rel_tol=5e-3),
    "10.clip": _number_exercise(
        "the gradient (3, 4) clipped to norm at most 1: its first component",
        lambda: 3.0 / 5.0, "clipping by norm rescales the whole vector by max_norm / ||g|| "
                           "when ||g|| > max_norm: the direction is kept.", rel_tol=1e-3),
    "09.engine": Exercise("your own micrograd-style Value class",
                          lambda answer, name, reveal: check_value_class(answer, name=name),
                          "class"),
}


def check(exercise: str, answer: object, *, reveal: bool = False) -> Feedback:
    """Check your answer to one of `EXERCISES` (by its name, as in the notebook's cell).

    `answer = ...` (the placeholder) is "not attempted"; `reveal=True` shows the answer now.
    """
    ex = EXERCISES.get(exercise)
    if ex is None:
        raise KeyError(f"check(): no exercise {exercise!r}; known: {sorted(EXERCISES)}")
    return ex.checker(answer, exercise, reveal)
