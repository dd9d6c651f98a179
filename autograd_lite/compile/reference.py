"""The reference every backend falls back to: the interpreter, on `f` or on the traced graph.

A replayed row that raised (a domain error, an IEEE flag in C) runs here, which raises the
interpreter's own error or gives its numbers; `check=True` compares every call with it, and
`detect_anomaly()` runs every row here. With parameter values given by the caller (or changed
by another thread during a call), the traced graph is rebuilt with fresh leaves at those values
(`replay`) instead of writing them into the shared `.data`.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any

from ..engine.errors import AutogradError
from ..engine.modes import enable_grad
from ..engine.traversal import grad
from ..engine.value import Primitive, Value, _leaf
from .program import _Graph, exact
from .rows import note_row


class GraphChangedError(AutogradError, RuntimeError):
    """`check=True` found that `f` records a different graph for these inputs than at trace."""


class Reference:
    """The interpreter's answers for a traced function (see the module's docstring)."""

    def __init__(self, f: Callable[..., Any], params: list[Value], graph: _Graph, check: bool,
                 has_aux: bool) -> None:
        self.f = f
        self.params = params
        self.graph = graph
        self.signature = graph.signature
        self.check = check
        self.has_aux = has_aux

    def at(self, pd: Sequence[float], sub: Sequence[float] | None) -> Sequence[float] | None:
        """The parameter values the interpreter must run at for a call that read `pd`: `sub`
        (given by the caller), else None (f reads the parameters themselves) when their data
        still is `pd`, else `pd` (another thread changed them during the call: the batch stays
        at the values it started with)."""
        if sub is not None:
            return sub
        now = [q.data for q in self.params]
        same = all(a == b and (a != 0.0 or math.copysign(1.0, a) == math.copysign(1.0, b))
                   or (a != a and b != b) for a, b in zip(now, pd))
        return None if same else list(pd)

    def trace_checked(self, xs: list[float]) -> _Graph:
        """f traced at `xs` (with `check=True`, a changed structure raises)."""
        graph = _Graph(self.f, xs, self.params, "compiled function", self.has_aux)
        if self.check and graph.signature != self.signature:
            raise GraphChangedError(
                "compiled function: f records a different graph than at trace time ("
                f"{what_changed(self.signature, graph.signature)}): a constant it reads or "
                "its control flow changed; call compile_grad again, or use the interpreter")
        return graph

    def replay(self, xs: list[float], pd: Sequence[float], fresh: bool = False
               ) -> tuple[list[Value], list[Value], Value, list[Value]]:
        """The traced graph rebuilt by the interpreter (each op applied to Values) with fresh
        leaves for the inputs and for the parameters at `pd`: (inputs, parameters, output,
        aux). The parameters' shared `.data` is neither read nor written, so another thread
        using them meanwhile sees nothing; the ops, their order and so their errors and
        numbers are f's at those values (its structure is frozen at the trace, as replay's)."""
        g = self.graph
        if self.check:
            self.trace_checked(xs)  # the structure check reads f; the numbers come from here
        inputs: list[Value] = [_leaf(x) for x in xs]
        params: list[Value] = [_leaf(exact(d)) for d in pd]
        new: dict[Value, Value] = {}
        const: set[Value] = set()
        with enable_grad():
            for node in g.order:
                r = g.role.get(node)
                if r is not None:
                    new[node] = inputs[r[1]] if r[0] == "x" else params[r[1]]
                elif node._prim is None or all(q in const for q in node.parents):
                    const.add(node)  # a constant of the trace (no input or parameter in it)
                    # `fresh`: a copy, so that a backward pass writes no traced node.
                    new[node] = _leaf(node._d) if fresh else node
                else:
                    new[node] = node._prim(*[new[q] for q in node.parents], *node.params)
        return inputs, params, new[g.out], [new[v] for v in g.aux]

    def _outputs(self, out: Value, aux: list[Value]) -> Any:
        return (out.data, tuple(v.data for v in aux)) if self.has_aux else out.data

    def interpret(self, xs: list[float], pd: Sequence[float] | None = None
                  ) -> tuple[Any, tuple[float, ...]]:
        """Run f with Values and take gradients with the interpreter (at the parameter
        values `pd`, when given, on the traced graph: see `replay`)."""
        if pd is None:
            graph = self.trace_checked(xs)
            inputs, params, out, aux = graph.inputs, self.params, graph.out, graph.aux
        else:
            inputs, params, out, aux = self.replay(xs, pd)
        gs = grad(out, inputs + params, allow_unused=True, materialize_grads=True)
        return self._outputs(out, aux), tuple(gs)

    def interpret_row(self, xs: list[float], r: int | None,
                      pd: Sequence[float] | None = None) -> tuple[Any, tuple[float, ...]]:
        """`interpret`, its errors noting row `r` of a batch (when not None)."""
        try:
            return self.interpret(xs, pd)
        except Exception as e:
            if r is not None:
                note_row(e, r)
            raise

    def forward_row(self, xs: list[float], r: int | None,
                    pd: Sequence[float] | None = None) -> Any:
        """The interpreter's forward value (no backward pass: an error in it is not ours)."""
        try:
            if pd is None:
                graph = self.trace_checked(xs)
                out, aux = graph.out, graph.aux
            else:
                _, _, out, aux = self.replay(xs, pd)
        except Exception as e:
            if r is not None:
                note_row(e, r)
            raise
        return self._outputs(out, aux)

    def carried_backward(self, xs: list[float], pd: Sequence[float], hs: list[float]
                         ) -> tuple[Any, list[float]]:
        """`backward()` on the replayed graph with the parameters' gradients starting at `hs`:
        (value, their totals), each contribution added in turn as the interpreter does."""
        inputs, params, out, aux = self.replay(xs, pd, fresh=True)
        for leaf, h in zip(params, hs):
            leaf.grad = h
        out.backward()
        return self._outputs(out, aux), [leaf.grad for leaf in params]


def what_changed(old: list[Any], new: list[Any]) -> str:
    """The first difference between two graph signatures (`_Graph.signature`), in words."""
    def show(entry: Any) -> str:
        kind = entry[0] if isinstance(entry, tuple) and entry else None
        if kind == "c":
            return f"the constant {struct.unpack('<d', entry[1])[0]!r}" \
                if isinstance(entry[1], bytes) else f"the constant {entry[1][1]!r}"
        if kind == "x":
            return f"input {entry[1]}"
        if kind == "p":
            return f"parameter {entry[1]}"
        if isinstance(kind, Primitive):
            ps = [struct.unpack("<d", q)[0] if isinstance(q, bytes) else q[1]
                  for q in entry[2]]
            shown = f"({', '.join(map(repr, ps))})" if ps else ""
            return f"{kind.name}{shown} of nodes {list(entry[1])}"
        return f"outputs {list(entry)}"

    for k, (a, b) in enumerate(zip(old, new)):
        if a != b:
            return f"node {k} was {show(a)}, now {show(b)}"
    return f"{len(new) - 1} nodes now, {len(old) - 1} at trace time"


def close(a: tuple[Any, tuple[float, ...]], b: tuple[Any, tuple[float, ...]]) -> bool:
    """Whether two (value, gradients) results agree (`check=True`'s comparison)."""
    def flat(r: tuple[Any, tuple[float, ...]]) -> tuple[float, ...]:
        v = r[0]
        return (v[0], *v[1], *r[1]) if isinstance(v, tuple) else (v, *r[1])

    xs = flat(a)
    ys = flat(b)
    return len(xs) == len(ys) and all(
        x == y or (x != x and y != y) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
        for x, y in zip(xs, ys))
