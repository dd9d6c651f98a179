"""`Expression`: the one representation of a random graph, for every evaluator and printer.

Nodes are `(op name, argument indices, params)`; indices below `len(inputs)` are inputs, the
others earlier nodes; the last node is the output. The same object runs on the engine
(`e(*values)`, with the records or with Value's operators), on plain floats (`e.floats()`), on
any table of operations keyed by name (`e.evaluate(xs, ops)`: sympy, torch, torch.func), and
prints as a formula or as runnable code. Drawn by `graphs` (generator.py).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ..engine.ops import PRIMITIVES
from ..engine.value import Primitive, Value

__all__ = ["OPERATORS", "Expression", "GraphOp", "Node"]

#: One node: (op name, argument indices, static parameters).
Node = tuple[str, tuple[int, ...], tuple[float, ...]]


class GraphOp(Protocol):
    """What a graph needs of an operation: a primitive record, or an operator form (checker)."""

    name: str
    nargs: int
    nparams: int

    def __call__(self, *args: Any) -> Any:
        """`(*arguments, *params)`: on Values builds a node, on floats returns a float."""
        ...


#: How a user writes a primitive with Value's operators, as code (`{0}` argument, `{p0}` param).
OPERATORS: dict[str, str] = {
    "add": "{0} + {1}", "mul": "{0} * {1}", "neg": "-{0}", "div": "{0} / {1}",
    "pow": "{0} ** {1}", "powc": "{0} ** {p0}", "rpow": "{p0} ** {0}", "abs": "abs({0})",
}
_SUGAR: dict[str, Callable[..., Any]] = {
    "add": operator.add, "mul": operator.mul, "neg": operator.neg, "div": operator.truediv,
    "pow": operator.pow, "powc": operator.pow, "rpow": lambda x, c: c ** x, "abs": abs,
}
_CALL = re.compile(r"^\w+\(.*\)$")


def _number(p: float) -> str:
    return f"({p!r})" if p < 0 else repr(p)


def _has_method(name: str) -> bool:
    return callable(getattr(Value, name, None)) and not name.startswith("_")


@dataclass(frozen=True)
class Expression:
    """A random expression graph: operations applied to inputs and earlier nodes (reuse allowed).

    `nodes[k] = (op name, argument indices, params)`; indices below `len(inputs)` are inputs,
    the others are earlier nodes; the last node is the output. `table` maps each name to its
    operation (a primitive record by default); `sugar=True` builds with Value's operators and
    methods where they exist (the user's fast paths) instead of the records. Call it with
    Values (or floats) like a function; `evaluate` runs it with any other table (sympy, torch).
    """

    inputs: tuple[float, ...]
    nodes: tuple[Node, ...]
    table: Mapping[str, Any] = field(default_factory=lambda: PRIMITIVES, compare=False,
                                     repr=False)
    sugar: bool = False

    # ---- evaluation ------------------------------------------------------------------------
    def apply(self, name: str, args: Sequence[Any], params: Sequence[float]) -> Any:
        """One node on the engine: the operator or method form if `sugar`, else the table's op."""
        if self.sugar and isinstance(self.table[name], Primitive):
            if name in _SUGAR:
                return _SUGAR[name](*args, *params)
            if _has_method(name) and isinstance(args[0], Value):
                return getattr(args[0], name)(*args[1:], *params)
        return self.table[name](*args, *params)

    def trace(self, xs: Sequence[Any], ops: Mapping[str, Callable[..., Any]] | None = None,
              hook: Callable[[int, Any], Any] | None = None) -> list[Any]:
        """Every slot's value, inputs then nodes, for inputs `xs`: with `ops[name](*args,
        *params)` for each node (default: the engine, as `apply`). `hook(slot, value)` may
        replace each node's value as it is made (the differential layer pins torch to ours)."""
        if len(xs) != len(self.inputs):
            raise ValueError(f"this expression takes {len(self.inputs)} inputs, got {len(xs)}")
        vals = list(xs)
        for name, idx, params in self.nodes:
            args = [vals[i] for i in idx]
            out = self.apply(name, args, params) if ops is None else ops[name](*args, *params)
            vals.append(out if hook is None else hook(len(vals), out))
        return vals

    def evaluate(self, xs: Sequence[Any], ops: Mapping[str, Callable[..., Any]]) -> Any:
        """Run the graph with `ops[name](*args, *params)` for each node; return the output."""
        return self.trace(xs, ops)[-1]

    def __call__(self, *xs: Any) -> Any:
        return self.trace(xs)[-1]

    def run(self, value_class: Callable[[float], Any]) -> tuple[list[Any], Any]:
        """Build the graph on `value_class(x)` leaves (any micrograd-style class); returns
        (those leaves, the output)."""
        xs = [value_class(x) for x in self.inputs]
        return xs, self(*xs)

    def floats(self, xs: Sequence[float] | None = None) -> list[float]:
        """Every slot's value as plain floats (no graph recorded), at `xs` or the inputs."""
        point = self.inputs if xs is None else tuple(xs)
        return [float(v) for v in self.trace(point, self.table)]

    # ---- structure -------------------------------------------------------------------------
    @property
    def used(self) -> frozenset[str]:
        """Names of the operations that occur in the graph."""
        return frozenset(name for name, _, _ in self.nodes)

    def live(self) -> frozenset[int]:
        """Slots (inputs and nodes) the output depends on, itself included."""
        k = len(self.inputs)
        keep = {k + len(self.nodes) - 1}
        for j in range(len(self.nodes) - 1, -1, -1):
            if k + j in keep:
                keep.update(self.nodes[j][1])
        return frozenset(keep)

    def prune(self, inputs: bool = False) -> Expression:
        """The graph without the nodes the output does not use; with `inputs=True` also without
        unused inputs (x0 kept if none is used), the rest renumbered."""
        k = len(self.inputs)
        used = self.live()
        keep_in = [i for i in range(k) if i in used or not inputs] or [0]
        new = {i: n for n, i in enumerate(keep_in)}
        kept: list[Node] = []
        for j, (name, idx, params) in enumerate(self.nodes):
            if k + j in used:
                new[k + j] = len(keep_in) + len(kept)
                kept.append((name, tuple(new[i] for i in idx), params))
        return replace(self, inputs=tuple(self.inputs[i] for i in keep_in), nodes=tuple(kept))

    def with_inputs(self, xs: Sequence[float]) -> Expression:
        """The same graph at other input values."""
        if len(xs) != len(self.inputs):
            raise ValueError(f"this expression takes {len(self.inputs)} inputs, got {len(xs)}")
        return replace(self, inputs=tuple(float(x) for x in xs))

    # ---- printing --------------------------------------------------------------------------
    def template(self, name: str) -> str:
        """The code of one node: `{0}`, `{1}` arguments, `{p0}` parameters."""
        op = self.table[name]
        text = getattr(op, "text", None)
        if isinstance(text, str):
            return text
        ps = [f"{{p{j}}}" for j in range(op.nparams)]
        if self.sugar and name in OPERATORS:
            return OPERATORS[name]
        if self.sugar and _has_method(name):
            return f"{{0}}.{name}({', '.join([f'{{{i}}}' for i in range(1, op.nargs)] + ps)})"
        return f"{name}({', '.join([f'{{{i}}}' for i in range(op.nargs)] + ps)})"

    def _code(self, name: str, args: Sequence[str], params: Sequence[float]) -> str:
        return self.template(name).format(*args, **{f"p{j}": _number(p)
                                                    for j, p in enumerate(params)})

    def names(self) -> list[str]:
        """Variable names in `program`: x0.. for inputs, v1.. for nodes, `out` for the last."""
        k = len(self.inputs)
        return ([f"x{i}" for i in range(k)] + [f"v{j + 1}" for j in range(len(self.nodes) - 1)]
                + ["out"])

    def formula(self) -> str:
        """The output as one expression of the inputs (shared nodes written out)."""
        k = len(self.inputs)
        texts = [f"x{i}" for i in range(k)]
        for name, idx, params in self.nodes:
            call = bool(_CALL.match(self.template(name)))
            texts.append(self._code(name, [texts[i] if i < k or call else f"({texts[i]})"
                                           for i in idx], params))
        return texts[-1]

    def program(self, cls: str = "Value") -> str:
        """Code: one line per input and node (operations named as in `template`), then
        `out.backward()`; runnable where the names it uses are imported."""
        names = self.names()
        lines = [f"{names[i]} = {cls}({x!r})" for i, x in enumerate(self.inputs)]
        for j, (name, idx, params) in enumerate(self.nodes):
            code = self._code(name, [names[i] for i in idx], params)
            lines.append(f"{names[len(self.inputs) + j]} = {code}")
        lines.append("out.backward()")
        return "\n".join(lines)

    def __str__(self) -> str:
        at = ", ".join(f"x{i} = {x!r}" for i, x in enumerate(self.inputs))
        return f"out = {self.formula()}   at {at}"

    __repr__ = __str__
