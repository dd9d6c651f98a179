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
write the gradient, with the last product hidden); asked again, the answer is shown.
Not imported by `autograd_lite` itself (it needs hypothesis).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from .backward import grad
from .checker import EngineCheckError, EngineExpression, _ours, check_engine, engine_expressions
from .core import Value, describe, primitive
from .functional import jvp
from .ops import exp, log, maximum, relu, sigmoid
from .stepping import tape
from .testing import GradcheckError, gradcheck

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


def _number(answer: object, where: str) -> float:
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real | Value):
        raise TypeError(f"{where}: the answer must be a real number (int or float), got "
                        f"{describe(answer)}")
    return float(answer)


def _close(got: float, want: float, rel_tol: float, abs_tol: float) -> bool:
    return math.isfinite(got) and math.isclose(got, want, rel_tol=rel_tol, abs_tol=abs_tol)


def _verdict(name: str, got: float, want: float, hint: str, rel_tol: float, abs_tol: float,
             reveal: bool) -> Feedback:
    if _close(got, want, rel_tol, abs_tol):
        _attempts.pop(name, None)
        return Feedback(name, "correct", f"{got:.6g} is right (the engine: {want:.6g}).")
    tries = _attempts[name] = _attempts.get(name, 0) + 1
    if reveal or tries > 1:
        return Feedback(name, "wrong", f"{got:.6g} is not it. The answer is {want:.6g}. {hint}")
    return Feedback(name, "wrong", f"{got:.6g} is not it. Hint: {hint} (Check again to see the "
                                   "answer.)")


def check_number(answer: object, expected: float, *, name: str = "number", hint: str = "",
                 rel_tol: float = 2e-2, abs_tol: float = 1e-3, reveal: bool = False
                 ) -> Feedback:
    """Compare a number with `expected` (within 2% or 1e-3 by default: hand-rounded answers pass).

    `...` is "not attempted"; a wrong number gets `hint` first, the answer when asked again.
    """
    if answer is Ellipsis:
        return Feedback(name, "not attempted", "replace `...` with your answer.")
    return _verdict(name, _number(answer, name), expected, hint, rel_tol, abs_tol, reveal)


def _hide_result(chain: str) -> str:
    head, _, _ = chain.rpartition(" = ")
    return head + " = ?"


def check_gradient(answer: object, root: Value, wrt: Value, *, name: str = "gradient",
                   rel_tol: float = 2e-2, abs_tol: float = 1e-3, reveal: bool = False
                   ) -> Feedback:
    """Compare a number with d root / d wrt as the engine computes it (`.grad` untouched).

    The hint is the graph's tape: the rows that add into `wrt`'s gradient, each written as
    received gradient times local derivative, with the product hidden (several rows: a node
    used more than once, whose gradient is their sum).
    """
    if not isinstance(root, Value) or not isinstance(wrt, Value):
        raise TypeError(f"{name}: root and wrt must be Values, got {describe(root)} and "
                        f"{describe(wrt)}")
    (want,) = grad(root, [wrt], materialize_grads=True, allow_unused=True)
    rows = [r for r in tape(root) if r.parent is wrt]
    if not rows:
        hint = f"{wrt.label or 'this node'} does not feed {root.label or 'the output'}: 0."
    else:
        lines = "; ".join(_hide_result(r.chain) for r in rows)
        more = " (it is used more than once: add the rows)" if len(rows) > 1 else ""
        hint = f"the tape row{'s' * (len(rows) > 1)} writing this gradient{more}: {lines}."
    if answer is Ellipsis:
        return Feedback(name, "not attempted", "replace `...` with your answer.")
    return _verdict(name, _number(answer, name), float(want), hint, rel_tol, abs_tol, reveal)


def check_partial(answer: object, forward: Callable[[float], float], *, name: str = "partial",
                  domain: tuple[float, float] = (-5.0, 5.0), avoid: Sequence[float] = (),
                  max_examples: int = 200, seed: int = 0) -> Feedback:
    """Check a derivative written as a function `answer(x) -> d forward / dx`.

    `forward` becomes a primitive whose partial is your function; hypothesis draws x in
    `domain` (keeping 1e-3 away from the points in `avoid`, where finite differences straddle
    a kink), runs `gradcheck` at each, and shrinks the first failure (a mismatch, or your
    function raising) to the simplest x it can find.
    """
    if answer is Ellipsis:
        return Feedback(name, "not attempted", "replace `...` with your function of x.")
    if not callable(answer):
        raise TypeError(f"{name}: the answer must be a function of x (e.g. `lambda x: ...`), "
                        f"got {describe(answer)}")
    f = answer
    prim = primitive(f"your_{name}", lambda out, x: f(x))(forward)
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
        return Feedback(name, "wrong", str(e))
    except RecursionError:
        return Feedback(name, "wrong", "backward() hit Python's recursion limit: walk the graph "
                                       "with a loop, not recursion.")
    return Feedback(name, "correct", str(report) + ".")


# ---- a graph per student -----------------------------------------------------------------------
@dataclass(frozen=True)
class StudentGraph:
    """A random expression (seeded): find d out / d x0 by hand, then `.check(answer)`."""

    seed: int
    expression: EngineExpression

    def build(self) -> tuple[Value, list[Value]]:
        """The graph, labelled x0.. and out; returns (out, inputs)."""
        xs, out = self.expression.run(Value)
        for i, x in enumerate(xs):
            x.label = f"x{i}"
        out.label = "out"
        return out, xs

    def function(self, *xs: Value) -> Value:
        """The expression as a function of its inputs (for gradcheck, numerical_grad)."""
        vals: list[Any] = list(xs)
        from .checker import ENGINE_OPS
        for op, idx, c in self.expression.nodes:
            vals.append(ENGINE_OPS[op].apply(*[vals[i] for i in idx], c))
        return vals[-1]

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


def student_graph(seed: int, ops: Sequence[str] = ("add", "mul", "mul_const", "tanh", "exp",
                                                    "sub"), nodes: int = 4) -> StudentGraph:
    """The first expression hypothesis draws with this seed that uses x0, has at least 3
    operations and a gradient away from 0 (the same for everyone with that seed)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"student_graph() needs an int seed, got {describe(seed)}")
    found: list[EngineExpression] = []

    class _Found(Exception):
        pass

    @settings(max_examples=500, deadline=None, database=None,
              phases=(Phase.generate,), suppress_health_check=list(HealthCheck))
    @given(engine_expressions(list(ops), max_inputs=2, max_nodes=nodes + 2))
    def draw(expr: EngineExpression) -> None:
        ours = _ours(expr)
        if (ours is not None and len(expr.nodes) >= 3 and abs(ours["x0"]) > 1e-2
                and all(float(x).is_integer() or abs(x) > 0.1 for x in expr.inputs)):
            found.append(expr)
            raise _Found

    try:
        hypothesis_seed(seed)(draw)()
    except _Found:
        pass
    if not found:
        raise ValueError(f"student_graph(): no usable graph for seed {seed}; try another")
    e = found[0]
    rounded = tuple(round(x, 2) if abs(round(x, 2)) > 0.1 else 0.5 for x in e.inputs)
    return StudentGraph(seed, EngineExpression(rounded, e.nodes))


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
    q = m * z + x
    q.label = "q"
    return q, x


def _sigmoid_circuit() -> tuple[Value, Value]:
    w0, x0, w1 = Value(2.0, label="w0"), Value(-1.0, label="x0"), Value(-3.0, label="w1")
    x1, w2 = Value(-2.0, label="x1"), Value(-3.0, label="w2")
    w0x0 = w0 * x0
    w0x0.label = "w0x0"
    d = w0x0 + w1 * x1 + w2
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
    net_o1 = w["w5"] * h1 + w["w6"] * h2 + b2
    net_o2 = w["w7"] * h1 + w["w8"] * h2 + b2
    net_o1.label, net_o2.label = "net_o1", "net_o2"
    o1, o2 = sigmoid(net_o1), sigmoid(net_o2)
    E = 0.5 * (0.01 - o1) ** 2 + 0.5 * (0.99 - o2) ** 2
    E.label = "E"
    return E, {"b1": b1, "b2": b2, **w}[wrt]


def _dead_relu() -> tuple[Value, Value]:
    w1, w2, b = Value(1.0, label="w1"), Value(1.0, label="w2"), Value(-5.0, label="b")
    v = Value(0.7, label="v")
    points = [(1.0, 0.5), (-0.5, 0.8), (2.0, -0.3)]
    zs = [w1 * p + w2 * q + b for p, q in points]
    for k, z in enumerate(zs):
        z.label = f"z{k + 1}"
    L = sum(((v * relu(z) - 1.0) ** 2 for z in zs), Value(0.0))
    L.label = "L"
    return L, b


def _softmax_ce() -> tuple[Value, Value]:
    z = [Value(2.0, label="z0"), Value(1.0, label="z1"), Value(0.1, label="z2")]
    m = max(v.data for v in z)
    shifted = [v - m for v in z]
    for k, v in enumerate(shifted):
        v.label = f"s{k}"
    lse = m + log(sum((exp(v) for v in shifted), Value(0.0)))
    lse.label = "lse"
    loss = lse - z[0]
    loss.label = "loss"
    return loss, z[0]


def _rnn(target: str) -> tuple[Value, Value]:
    u, w = Value(0.8, label="u"), Value(0.5, label="w")
    h: Value | float = 0.0
    hs = []
    for t, x in enumerate((1.0, 0.5, -0.5)):
        uh = u * h
        uh.label = f"uh{t}"
        a = uh + w * x
        a.label = f"a{t + 1}"
        h = a.tanh()
        h.label = f"h{t + 1}"
        hs.append(h)
    assert isinstance(h, Value)
    h.label = "L"
    return h, {"u": u, "h1": hs[0]}[target]


def _second_derivative() -> float:
    x = Value(1.0, label="x")
    (d1,) = grad(x**4 - 3 * x**3 + 2, [x], create_graph=True)
    (d2,) = grad(d1, [x])
    return float(d2)


def _diamond() -> tuple[Value, Value]:
    x = Value(1.0, label="x")
    a = x * 2
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
    from .testing import numerical_grad
    return numerical_grad(lambda x: x.relu(), [1e-7], eps=1e-6)[0]


def _softsign(x: float) -> float:
    return x / (1 + abs(x))


def _bce_on_one(z: float) -> float:
    return max(z, 0.0) + math.log1p(math.exp(-abs(z))) - z   # log(1 + e^z) - z, stable


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


EXERCISES: dict[str, Exercise] = {
    "01.neuron-dw2": _grad_exercise("the neuron with x2 = 0.5: dL/dw2", lambda: _neuron(0.5)),
    "01.patterns": _grad_exercise("q = max(x, y) * z + x at (3, -1, 2): dq/dx", _patterns),
    "01.sigmoid-circuit": _grad_exercise("CS231n's sigmoid circuit: df/dw0", _sigmoid_circuit),
    "02.sigmoid-partial": _partial_exercise("the derivative of the sigmoid", _sigmoid),
    "02.shared-bias": _grad_exercise("Mazur's network: dE/db2 (b2 feeds both outputs)",
                                     lambda: _mazur("b2"), rel_tol=1e-3),
    "03.bce-partial": _partial_exercise("d/dz of log(1 + e^z) - z (label t = 1)", _bce_on_one,
                                        domain=(-20.0, 20.0)),
    "03.dead-relu": _grad_exercise("a dead ReLU unit: dL/db", _dead_relu),
    "04.softmax-ce": _grad_exercise("softmax cross-entropy at z = (2, 1, 0.1), class 0: dl/dz0",
                                    _softmax_ce),
    "04.logsumexp": _number_exercise(
        "cross-entropy of logits (1000, 0, -1000) for class 1",
        lambda: 1000.0 + math.log1p(math.exp(-1000.0) + math.exp(-2000.0)),
        "log sum_k e^{z_k} = m + log sum_k e^{z_k - m} with m = max z; the loss is that minus "
        "z_1."),
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
        _second_derivative, "f'(x) = 4x^3 - 9x^2; differentiate it once more, then put x = 1."),
    "07.newton-constant": _number_exercise(
        "Newton's constant C = f'''(x*) / (2 f''(x*)) at x* = 9/4", lambda: 36.0 / (2 * 20.25),
        "f''(x) = 12x^2 - 18x and f'''(x) = 24x - 18; evaluate both at x = 2.25."),
    "08.tangent-v4": _number_exercise(
        "forward trace with tangent (0, 1): the tangent of v4 = v1 + v2", _tangent_v4,
        "v4' = v1' + v2', v1' = v-1'/v-1 and v2' = v-1' v0 + v-1 v0', with v-1' = 0, v0' = 1."),
    "08.passes": _number_exercise(
        "forward passes (jvp) for the gradient of a loss of 1000 parameters",
        lambda: 1000.0, "one jvp gives one column of the Jacobian (one input direction).",
        rel_tol=0.0, abs_tol=0.5),
    "09.diamond": _grad_exercise("the diamond at x = 1: dy/dx", _diamond),
    "09.naive-total": _number_exercise(
        "the naive 'total' walk on the diamond at x = 1", lambda: 2 * 3 * 3.0 + 2 * (3 * 3.0 + 6),
        "a first passes 3c (from b), then, when c delivers b, passes all it holds, 3c + b; each "
        "time times da/dx = 2.", rel_tol=1e-9),
    "09.half-batch-mean": _number_exercise(
        "two half-batches, each loss the mean over its own 2 points, accumulated: how many "
        "times the full batch's mean gradient?", lambda: 2.0,
        "each half divides by 2 instead of 4.", rel_tol=0.0, abs_tol=1e-6),
    "10.xavier-limit": _number_exercise(
        "Glorot (Xavier) uniform limit for a layer of 64 inputs and 32 outputs",
        lambda: math.sqrt(6.0 / (64 + 32)),
        "U(-a, a) has variance a^2 / 3; Glorot wants variance 2 / (fan_in + fan_out).",
        rel_tol=1e-2),
    "10.he-std": _number_exercise(
        "He standard deviation for a ReLU layer with 50 inputs", lambda: math.sqrt(2.0 / 50),
        "ReLU zeroes half of its inputs, halving the second moment: He doubles Var(w) to "
        "2 / fan_in to make up for it.", rel_tol=1e-2),
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
