"""The straight-line program built from a traced graph (`trace._Graph`): nodes, folding,
slices."""

from __future__ import annotations

import math
from typing import Any

from ..engine.value import Value
from .trace import _Graph


def check_leaf(q: Value, what: str) -> None:
    """Raise ValueError when the parameter `q` is not a leaf: a computed Value's `.data` is
    never read by replay (it is the computation that made it), so it would silently be a
    different model; PyTorch refuses to optimise a non-leaf tensor for the same reason."""
    if q._prim is not None:
        label = f" ({q.label!r})" if q.label else ""
        raise ValueError(f"{what}{label} is not a leaf: it was computed by {q._prim.name!r}; "
                         "a parameter must be a leaf Value (made by Value(...)): pass the "
                         "leaves it is computed from, or wrap its data: Value(p.data)")


def exact(x: Any) -> float:
    """A number as a plain float, without calling a float subclass's overrides."""
    if isinstance(x, float):
        return float.__float__(x)
    return float(x)


class _Program:
    """The straight-line program of a graph, in one language's expression syntax.

    `forward`: (variable, expression) in topological order; `outputs`: the value, then the aux
    values; `backward`: (new?, variable, expression), a new variable or `+=`; `grads`: one
    expression per input, then per parameter ("0.0" where the output does not depend on it).
    The sweep mirrors `grad()`: nodes in reverse topological order, parents in argument order,
    a node's first contribution assigned and later ones added, so the sums are the same; a
    masking op's (relu, abs, max...) zero local derivative contributes 0.0, not g * 0.
    """

    def __init__(self, g: _Graph, n_params: int, emit: Any, input_grads: bool = True,
                 carry: bool = False) -> None:
        name: dict[Value, str] = {}
        index = {v: k for k, v in enumerate(g.order)}
        # Only nodes that depend on an input or a parameter are computed (and get a gradient);
        # the others are constants of the trace, written in as their values.
        needed: set[Value] = set()
        for node in g.order:
            if node in g.role or any(q in needed for q in node.parents):
                needed.add(node)
        self.forward: list[tuple[str, str]] = []
        for k, node in enumerate(g.order):
            op = node._prim
            if node not in needed:
                name[node] = emit.literal(node.data)
                continue
            if op is None:
                r = g.role[node]
                name[node] = emit.leaf(r[0], r[1])
                continue
            name[node] = emit.var(k)
            args = [name[q] for q in node.parents]
            self.forward.append((name[node], emit.forward(op, args, node.params)))
        self.outputs = [name[g.out], *(name[v] for v in g.aux)]
        self.backward: list[tuple[bool, str, str]] = []
        # Without input gradients, the sweep is cut to the nodes that lead to a parameter
        # (dead-code elimination): a contribution to any other node's gradient could only reach
        # the inputs'. What remains is the same statements, in the same order.
        wanted = needed
        if not input_grads:
            wanted = set()
            for node in g.order:
                if g.role.get(node, ("",))[0] == "p" or any(q in wanted for q in node.parents):
                    wanted.add(node)
        # `carry`: each parameter's gradient starts from its `.grad` (the names `h0`, `h1`...)
        # and adds every contribution to it in turn, as `backward()` adds into `.grad`.
        carried = {v: f"h{r[1]}" for v, r in g.role.items() if carry and r[0] == "p"}
        gname: dict[Value, str] = {}
        if g.out in wanted:
            gname[g.out] = emit.grad(index[g.out], name[g.out])
            seed = f"{carried[g.out]} + 1.0" if g.out in carried else "1.0"
            self.backward.append((True, gname[g.out], seed))
        for node in reversed(g.order):
            op = node._prim
            if op is None or node not in gname:  # a leaf, a constant, or only in aux
                continue
            gv = gname[node]
            args = [name[q] for q in node.parents]
            shared = False
            for i, q in enumerate(node.parents):
                if q not in wanted:
                    continue
                local = emit.partial(op, i, name[node], args, node.params)
                if local == "1.0":
                    c = gv
                elif getattr(op, "mask", False):  # a kink's zero local derivative masks g
                    c = emit.mask(gv, local)
                else:
                    c = f"{gv} * ({local})"
                if c == gv and q not in gname and not shared and q not in carried:
                    # The parent's gradient starts as this node's (final) one: reuse it.
                    gname[q] = gv
                    shared = True
                elif q in gname:
                    self.backward.append((False, gname[q], c))
                else:
                    gname[q] = emit.grad(index[q], name[q])
                    self.backward.append((True, gname[q], f"{carried[q]} + {c}"
                                          if q in carried else c))
        by_param = {r[1]: v for v, r in g.role.items() if r[0] == "p"}
        start = [f"h{j}" if carry else "0.0" for j in range(n_params)]
        self.grads = [gname.get(v, "0.0") for v in g.inputs if input_grads] + [
            gname.get(by_param[j], start[j]) if j in by_param else start[j]
            for j in range(n_params)]


def non_finite_constant(g: _Graph) -> bool:
    """Whether the graph's programs write a constant that is inf or nan: the data of a node
    that depends on no input or parameter (folded, as `_Program` folds it), or a constant
    parameter of a primitive applied to a node that does (a power's exponent, say). Known without
    generating a program: with backend "auto", such a graph runs as Python replay (C could
    reach inf / 0 without an IEEE flag)."""
    needed: set[Value] = set()
    for node in g.order:
        if node in g.role or any(q in needed for q in node.parents):
            needed.add(node)
            if node._prim is not None and not all(
                    math.isfinite(exact(q)) for q in node.params):
                return True
        elif not math.isfinite(exact(node.data)):
            return True
    return False
