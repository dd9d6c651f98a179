"""Compiled replay: trace a function's scalar graph once, then run it as straight-line floats.

    from autograd_lite import compile_grad
    c = compile_grad(lambda x, y: (x * y).tanh(), [0.5, 2.0])
    value, (dx, dy) = c.value_and_grad([0.3, -1.0])     # no Values, no graph, no dispatch

`compile_grad` calls `f` once with Values, takes the graph it recorded, and generates Python
source for one function: the forward pass over plain floats, then the reverse sweep unrolled
(one line per local derivative, in exactly `backward()`'s order, so the numbers are the same).
The source is built from the graph only - node indices, the names of built-in primitives'
code templates, and float constants through `repr` - never from user text; it is compiled with
`compile()` and run with `exec` in a namespace holding only math functions and the primitives'
own functions. A primitive without a template (a user's) is called through its `forward` and
`partials`, so every primitive works.

The graph's structure is frozen at trace time: Python control flow on data in `f` (`if x > 0`,
`float(x)`) takes the branch of the example inputs forever. Branches inside primitives (relu,
abs, maximum) are fine: they are re-evaluated. Comparisons and `float()` on Values seen while
tracing set `Compiled.data_dependent` (and warn); `check=True` re-traces on every call and
raises `GraphChangedError` when the structure differs. A domain error at replay re-runs the
interpreter, which raises exactly the error it would have raised. Only the nodes the output
depends on are replayed (a dead branch of `f` that would fail is not run), and nodes that
depend on no input or parameter are folded into constants.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from . import core, ops
from ._mode import enable_grad
from .backward import grad, topo_order
from .core import AutogradError, Primitive, Value, describe, to_float

__all__ = ["compile_grad", "Compiled", "GraphChangedError", "DataDependenceWarning"]


class GraphChangedError(AutogradError, RuntimeError):
    """`check=True` found that `f` records a different graph for these inputs than at trace."""


class DataDependenceWarning(UserWarning):
    """`f` compared Values or took `float()` of one while tracing: its branches are frozen."""


# Forward expression and local partials of the built-in primitives, over variable names:
# {a}, {b} the inputs, {o} the output, {p} the parameter. Each is the same arithmetic as the
# table's Python function, so results match the interpreter; domain errors raise (math.log,
# math.sqrt, math.exp overflow, ZeroDivisionError) and send the call back to the interpreter.
_TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "add": ("{a} + {b}", ("1.0", "1.0")),
    "mul": ("{a} * {b}", ("{b}", "{a}")),
    "neg": ("-{a}", ("-1.0",)),
    "pow": ("_powc({a}, {b})", ("_dpow_base({o}, {a}, {b})", "_dpow_exponent({o}, {a}, {b})")),
    "rpow": ("_rpow({a}, {p})", ("({o} * _mlog({p}) if {p} > 0.0 else 0.0 * {o})",)),
    "exp": ("_exp({a})", ("{o}",)),
    "log": ("_log({a})", ("1.0 / {a}",)),
    "log1p": ("_log1p({a})", ("1.0 / (1.0 + {a})",)),
    "tanh": ("_tanh({a})", ("1.0 - {o} * {o}",)),
    "sigmoid": ("_sigmoid({a})", ("{o} * (1.0 - {o})",)),
    "softplus": ("_softplus({a})", ("_sigmoid({a})",)),
    "relu": ("({a} if {a} > 0.0 else 0.0)", ("(1.0 if {a} > 0.0 else 0.0)",)),
    "leaky_relu": ("({a} if {a} > 0.0 else {p} * {a})", ("(1.0 if {a} > 0.0 else {p})",)),
    "sin": ("_sin({a})", ("_cos({a})",)),
    "cos": ("_cos({a})", ("-_sin({a})",)),
    "sqrt": ("_sqrt({a})", ("0.5 / {o}",)),
    "abs": ("({a} if {a} >= 0.0 else -{a})",
            ("(1.0 if {a} > 0.0 else (-1.0 if {a} < 0.0 else 0.0))",)),
    "maximum": ("({a} if {a} >= {b} else {b})",
                ("(1.0 if {a} > {b} else (0.0 if {a} < {b} else 0.5))",
                 "(1.0 if {b} > {a} else (0.0 if {b} < {a} else 0.5))")),
    "minimum": ("({a} if {a} <= {b} else {b})",
                ("(1.0 if {b} > {a} else (0.0 if {b} < {a} else 0.5))",
                 "(1.0 if {a} > {b} else (0.0 if {a} < {b} else 0.5))")),
}

_NAMESPACE = {
    "_exp": math.exp, "_log": math.log, "_log1p": math.log1p, "_tanh": math.tanh,
    "_sin": math.sin, "_cos": math.cos, "_sqrt": math.sqrt,
    "_sigmoid": ops._sigmoid, "_softplus": ops._softplus, "_powc": ops._powc,
    "_dpow_base": ops._dpow_base, "_rpow": ops._rpow,
    "_dpow_exponent": ops._dpow_exponent, "_mlog": math.log,
}


def _literal(x: float, consts: list[float]) -> str:
    """Source text for a float constant: its repr (parenthesised), or `K[i]` if not finite."""
    if math.isfinite(x):
        return f"({x!r})" if x < 0.0 or (x == 0.0 and math.copysign(1.0, x) < 0.0) else repr(x)
    consts.append(x)
    return f"K[{len(consts) - 1}]"


class _Graph:
    """The traced graph: topological order, leaf roles and a structural signature."""

    def __init__(self, f: Callable[..., Any], xs: Sequence[float], params: Sequence[Value],
                 where: str, has_aux: bool = False) -> None:
        inputs = [Value(x) for x in xs]
        before = core.DATA_READS[0]
        with enable_grad():
            result = f(*inputs)
        self.data_reads = core.DATA_READS[0] - before
        aux: list[Value] = []
        if has_aux:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError(f"{where}: with has_aux, f must return (Value, aux), got "
                                f"{describe(result)}")
            result, extra = result
            items = [extra] if isinstance(extra, Value) or not isinstance(extra, Sequence) \
                else list(extra)
            aux = [v if isinstance(v, Value) else Value(to_float(v, f"{where} aux[{i}]"))
                   for i, v in enumerate(items)]
        if not isinstance(result, Value):
            raise TypeError(f"{where}: f must return a Value (a scalar), got {describe(result)}")
        self.out = result
        self.aux = aux
        self.inputs = inputs
        # The output's nodes come first, in topo_order([out])'s order; aux-only nodes after.
        self.order = topo_order([result, *aux])
        role: dict[Value, tuple[str, int]] = {v: ("x", i) for i, v in enumerate(inputs)}
        for j, p in enumerate(params):
            role.setdefault(p, ("p", j))
        self.role = role
        index = {v: k for k, v in enumerate(self.order)}
        sig: list[Any] = []
        for node in self.order:
            op = node._prim
            if op is None:
                sig.append(role.get(node, ("c", node.data)))
            else:
                sig.append((op, tuple(index[p] for p in node.parents), node.params))
        sig.append(tuple(index[v] for v in aux))
        self.signature = sig


def _generate(g: _Graph, n_inputs: int, n_params: int, with_grad: bool,
              namespace: dict[str, Any]) -> str:
    """Python source of `fn(x, p)`: forward over floats, and the reverse sweep if `with_grad`.

    The sweep mirrors `grad()`: nodes in reverse topological order, parents in argument order,
    a node's first contribution assigned and later ones added, so the sums are the same.
    """
    emit = _Emitter(namespace)
    name: dict[Value, str] = {}
    lines = ["def fn(x, p):"]
    if n_inputs:
        lines.append("    " + "".join(f"x{i}, " for i in range(n_inputs)) + "= x")
    if n_params:
        lines.append("    " + "".join(f"p{j}, " for j in range(n_params)) + "= p")
    # Only nodes that depend on an input or a parameter are computed (and get a gradient);
    # the others are constants of the trace, written in as their values.
    needed: set[Value] = set()
    for node in g.order:
        if node in g.role or any(q in needed for q in node.parents):
            needed.add(node)
    for k, node in enumerate(g.order):
        op = node._prim
        if node not in needed:
            name[node] = emit.literal(node.data)
            continue
        if op is None:
            r = g.role[node]
            name[node] = f"{r[0]}{r[1]}"
            continue
        name[node] = f"v{k}"
        args = [name[q] for q in node.parents]
        lines.append(f"    v{k} = {emit.forward(op, args, node.params)}")
    root = name[g.out]
    if g.aux:  # (value, (aux, ...)), as JAX's has_aux
        root = f"({root}, ({''.join(name[v] + ', ' for v in g.aux)}))"
    if not with_grad:
        lines.append(f"    return {root}")
        return "\n".join(lines) + "\n"
    gname: dict[Value, str] = {}
    if g.out in needed:
        gname[g.out] = "g" + name[g.out]
        lines.append(f"    {gname[g.out]} = 1.0")
    for node in reversed(g.order):
        op = node._prim
        if op is None or node not in gname:  # a leaf, a constant, or only in aux
            continue
        gv = gname[node]
        args = [name[q] for q in node.parents]
        shared = False
        for i, q in enumerate(node.parents):
            if q not in needed:
                continue
            local = emit.partial(op, i, name[node], args, node.params)
            c = gv if local == "1.0" else f"{gv} * ({local})"
            if c == gv and q not in gname and not shared:
                # The parent's gradient starts as this node's (final) one: reuse the variable.
                gname[q] = gv
                shared = True
            elif q in gname:
                lines.append(f"    {gname[q]} += {c}")
            else:
                gname[q] = "g" + name[q]
                lines.append(f"    {gname[q]} = {c}")
    outs = [gname.get(v, "0.0") for v in g.inputs]
    by_param = {r[1]: v for v, r in g.role.items() if r[0] == "p"}
    outs += [gname.get(by_param[j], "0.0") if j in by_param else "0.0" for j in range(n_params)]
    lines.append(f"    return {root}, ({''.join(o + ', ' for o in outs)})")
    return "\n".join(lines) + "\n"


def _template(op: Primitive) -> tuple[str, tuple[str, ...]] | None:
    """The code template of a built-in primitive (by identity: a user's "tanh" has none)."""
    return _TEMPLATES.get(op.name) if ops.PRIMITIVES.get(op.name) is op else None


def _fmt(text: str, args: list[str], params: list[str], out: str = "") -> str:
    b = args[1] if len(args) > 1 else ""
    return text.format(a=args[0], b=b, p=params[0] if params else "", o=out)


class _Emitter:
    """Source text for one node's forward expression and local partials."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.consts: list[float] = namespace["K"]
        self.prims: list[Primitive] = namespace["P"]
        self.index: dict[Primitive, int] = {}

    def literal(self, x: float) -> str:
        return _literal(x, self.consts)

    def prim(self, op: Primitive) -> str:
        """`P[j]`: a primitive without a template, called through its own functions."""
        if op not in self.index:
            self.index[op] = len(self.prims)
            self.prims.append(op)
        return f"P[{self.index[op]}]"

    def forward(self, op: Primitive, args: list[str], pvals: tuple[float, ...]) -> str:
        params = [self.literal(q) for q in pvals]
        t = _template(op)
        if t is not None:
            return _fmt(t[0], args, params)
        if op is ops.POWC:
            # An integer exponent cannot give a complex number: plain `**` (0 ** -1 raises).
            if pvals[0].is_integer():
                return f"{args[0]} ** {params[0]}"
            return f"_powc({args[0]}, {params[0]})"
        # `_run` converts the result to float and names the op in errors, as the interpreter.
        return f"{self.prim(op)}._run(({', '.join(args)},), ({''.join(q + ',' for q in params)}))"

    def partial(self, op: Primitive, i: int, out: str, args: list[str],
                pvals: tuple[float, ...]) -> str:
        params = [self.literal(q) for q in pvals]
        t = _template(op)
        if t is not None:
            return _fmt(t[1][i], args, params, out)
        if op is ops.POWC and pvals[0] != 0.0:  # _dpow_base with the exponent known
            q = pvals[0] - 1.0
            if q == 1.0:
                return f"({params[0]} * {args[0]})"
            return f"({params[0]} * {args[0]} ** {self.literal(q)})"
        return f"{self.prim(op)}.partials[{i}]({', '.join([out, *args, *params])})"


class Compiled:
    """A traced function as straight-line float code: `forward`, `value_and_grad`, `backward`.

    Gradients come in the order: one per input, then one per parameter. Parameters are read
    from their `.data` at every call, so an optimizer's updates are seen.
    """

    def __init__(self, f: Callable[..., Any], example_inputs: Sequence[Any],
                 params: Sequence[Value] = (), check: bool = False,
                 has_aux: bool = False) -> None:
        where = "compile_grad"
        if not callable(f):
            raise TypeError(f"{where}: f must be callable, got {describe(f)}")
        xs = [float(x.data) if isinstance(x, Value) else to_float(x, f"{where} input {i}")
              for i, x in enumerate(example_inputs)]
        self.params = list(params)
        for j, q in enumerate(self.params):
            if not isinstance(q, Value):
                raise TypeError(f"{where}: params[{j}] must be a Value, got {describe(q)}")
        if len(set(self.params)) != len(self.params):
            raise ValueError(f"{where}: a parameter is listed twice")
        self.f = f
        self.check = bool(check)
        self.has_aux = bool(has_aux)
        self.n_inputs = len(xs)
        graph = _Graph(f, xs, self.params, where, self.has_aux)
        self._signature = graph.signature
        self.n_nodes = len(graph.order)
        self.data_dependent = graph.data_reads > 0
        if self.data_dependent:
            warnings.warn(
                f"{where}: f compared Values or called float() on one {graph.data_reads} "
                "time(s) while tracing; Python branches on data are frozen at the example "
                "inputs (use check=True to detect a changed graph)",
                DataDependenceWarning, stacklevel=3)
        namespace: dict[str, Any] = dict(_NAMESPACE, K=[], P=[])
        self._namespace = namespace
        self.source = _generate(graph, self.n_inputs, len(self.params), True, namespace)
        # The forward-only source is generated now (the graph is not kept) but compiled on
        # first use: training needs only value_and_grad.
        self.forward_source = _generate(graph, self.n_inputs, len(self.params), False,
                                        namespace)
        self._vg = self._build(self.source, "value_and_grad")
        self._fw: Callable[..., Any] | None = None

    def _build(self, source: str, what: str) -> Callable[..., Any]:
        """Compile generated source (never user text) into its function `fn`."""
        exec(compile(source, f"<autograd_lite.compile: {what}>", "exec"), self._namespace)
        return self._namespace.pop("fn")  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return (f"<Compiled {self.n_nodes} nodes, {self.n_inputs} input(s), "
                f"{len(self.params)} parameter(s)>")

    def _args(self, xs: Sequence[Any]) -> tuple[list[float], list[float]]:
        if len(xs) != self.n_inputs:
            raise ValueError(f"compiled function takes {self.n_inputs} inputs, got {len(xs)}")
        fl = [x if type(x) is float else to_float(x, f"compiled input {i}")
              for i, x in enumerate(xs)]
        return fl, [q.data for q in self.params]

    def _interpret(self, xs: list[float]) -> tuple[Any, tuple[float, ...]]:
        """The reference: run f with Values and take gradients with the interpreter."""
        graph = _Graph(self.f, xs, self.params, "compiled function", self.has_aux)
        if self.check and graph.signature != self._signature:
            raise GraphChangedError(
                "compiled function: f records a different graph for these inputs than at "
                "trace time (data-dependent control flow); use the interpreter for this f")
        gs = grad(graph.out, graph.inputs + self.params, allow_unused=True,
                  materialize_grads=True)
        value: Any = graph.out.data
        if self.has_aux:
            value = (value, tuple(v.data for v in graph.aux))
        return value, tuple(gs)

    def forward(self, xs: Sequence[Any]) -> Any:
        """f(*xs) as a float (with has_aux: `(value, aux floats)`)."""
        fl, pd = self._args(xs)
        if self.check:
            return self._interpret(fl)[0]
        if self._fw is None:
            self._fw = self._build(self.forward_source, "forward")
        try:
            return self._fw(fl, pd)
        except (ArithmeticError, ValueError):
            # The interpreter is the reference: it raises its own error, or (when a constant
            # frozen at trace time, such as a log-sum-exp shift, caused this) gives the value.
            return self._interpret(fl)[0]

    def value_and_grad(self, xs: Sequence[Any]) -> tuple[Any, tuple[float, ...]]:
        """(f(*xs), gradients): d f / d xs[i] for each input, then d f / d params[j].

        With has_aux, the value is `(f's Value as a float, tuple of aux floats)`, as in JAX.
        """
        fl, pd = self._args(xs)
        try:
            value, grads = self._vg(fl, pd)
        except (ArithmeticError, ValueError):
            return self._interpret(fl)  # its error, or its result (see `forward`)
        if self.check:
            ref = self._interpret(fl)
            if not _close(ref, (value, grads)):
                raise GraphChangedError(
                    f"compiled function disagrees with the interpreter at {fl}: "
                    f"{(value, grads)} vs {ref}")
        return value, grads

    def backward(self, xs: Sequence[Any]) -> Any:
        """Like `f(*xs).backward()` for the parameters: add their gradients to `.grad`."""
        value, grads = self.value_and_grad(xs)
        for q, gq in zip(self.params, grads[self.n_inputs:]):
            q.grad += gq
        return value


def _close(a: tuple[Any, tuple[float, ...]], b: tuple[Any, tuple[float, ...]]) -> bool:
    def flat(r: tuple[Any, tuple[float, ...]]) -> tuple[float, ...]:
        v = r[0]
        return (v[0], *v[1], *r[1]) if isinstance(v, tuple) else (v, *r[1])

    xs = flat(a)
    ys = flat(b)
    return len(xs) == len(ys) and all(
        x == y or (x != x and y != y) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
        for x, y in zip(xs, ys))


def compile_grad(f: Callable[..., Any], example_inputs: Sequence[Any],
                 params: Sequence[Value] = (), check: bool = False,
                 has_aux: bool = False) -> Compiled:
    """Trace `f(*inputs)` once at `example_inputs` and compile its forward and gradients.

    `params`: Values used inside `f` (model weights) whose current data is read at each call
    and whose gradients are returned after the inputs'. Other leaves `f` uses are frozen as
    constants. `check=True` compares every call with the interpreter (slow; for debugging).
    `has_aux=True`: f returns `(scalar Value, Values)`; the aux Values' data come back with
    the value (e.g. a model's outputs next to its loss).
    """
    return Compiled(f, example_inputs, params, check, has_aux)
