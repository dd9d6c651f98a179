"""Reverse mode: topological order, `backward`, the step-by-step generator and functional `grad`.

Everything here is iterative: a chain of a million nodes needs no recursion.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ._mode import anomaly_enabled, enable_grad
from .core import AnomalyError, UnusedInputError, Value, _leaf, describe, to_float
from .ops import ADD, MUL

_UNARY, _BINARY = 1, 2


def topo_order(roots: Sequence[Value]) -> list[Value]:
    """Every node reachable from `roots`, each after all of its parents (forward order).

    Depth-first, visiting parents in argument order: the same order as micrograd's recursive
    sort, without recursion. `backward()` processes the reverse of this list.
    """
    return _depth_first(roots, reset=False)


def _depth_first(roots: Sequence[Value], reset: bool) -> list[Value]:
    """`topo_order`; with `reset`, also set every interior node's `.grad` to 0.0 on the way.

    `todo` holds nodes to visit and None markers; a marker means "the parents of the node on
    top of `waiting` are all done": that node is appended then (post-order).
    """
    order: list[Value] = []
    emit = order.append
    seen: set[Value] = set()
    add = seen.add
    todo: list[Value | None] = list(reversed(roots))
    push = todo.append
    pop = todo.pop
    waiting: list[Value] = []
    wait = waiting.append
    unwait = waiting.pop
    while todo:
        node = pop()
        if node is None:
            node = unwait()
            if reset:
                node.grad = 0.0
            emit(node)
            continue
        if node in seen:
            continue
        add(node)
        op = node._prim
        if op is None:
            emit(node)
            continue
        wait(node)
        push(None)
        kind = op._kind
        if kind == _BINARY:
            b = node._b
            if b not in seen:
                push(b)
            a = node._a
            if a not in seen:
                push(a)
        elif kind == _UNARY:
            a = node._a
            if a not in seen:
                push(a)
        else:
            for p in reversed(node._a):
                if p not in seen:
                    push(p)
    return order


def _check_root(root: object, where: str) -> Value:
    if not isinstance(root, Value):
        raise TypeError(f"{where} needs a Value, got {describe(root)}")
    return root


def _start(root: Value, gradient: object) -> list[Value]:
    """Order the graph, reset interior gradients and seed the root: the state before step 1."""
    seed = to_float(gradient, "backward gradient")
    order = _depth_first((root,), reset=True)
    root.grad += seed
    return order


def _anomaly(
    node: Value, i: int, parent: Value, upstream: float, local: Any, c: Any
) -> AnomalyError:
    return AnomalyError(
        f"backward of {node._prim.name} produced a non-finite gradient {c!r} for input {i} "  # type: ignore[union-attr]
        f"({parent!r}): upstream {upstream!r} x local {local!r}; node {node!r}"
    )


def backward(root: Value, gradient: object = 1.0) -> None:
    """Accumulate d(root)/d(leaf) * gradient into every leaf's `.grad` (see `Value.backward`)."""
    root = _check_root(root, "backward()")
    order = _start(root, gradient)
    if anomaly_enabled():
        for _ in _walk(order, record=False):
            pass
        return
    node = root
    try:
        for node in reversed(order):
            op = node._prim
            if op is None:
                continue
            g = node.grad
            # add and mul inline their table partials (1, 1 and b, a): same numbers, no calls.
            if op is ADD:
                node._a.grad += g
                node._b.grad += g
                continue
            if op is MUL:
                a = node._a
                b = node._b
                a.grad += g * b.data
                b.grad += g * a.data
                continue
            kind = op._kind
            if kind == _BINARY:
                a = node._a
                b = node._b
                da, db = op.partials
                out = node.data
                x = a.data
                y = b.data
                a.grad += g * da(out, x, y)
                b.grad += g * db(out, x, y)
            elif kind == _UNARY:
                a = node._a
                p = node._b
                if p is None:
                    a.grad += g * op.partials[0](node.data, a.data)
                else:
                    a.grad += g * op.partials[0](node.data, a.data, p)
            else:
                parents = node._a
                args = [v.data for v in parents]
                args.extend(node._b)
                out = node.data
                for v, d in zip(parents, op.partials):
                    v.grad += g * d(out, *args)
    except (ArithmeticError, ValueError) as e:
        raise _backward_error(node, e) from e


def _backward_error(node: Value, e: Exception) -> Exception:
    op = node._prim
    name = op.name if op is not None else "leaf"
    args = ", ".join(repr(p.data) for p in node.parents)
    return type(e)(f"backward of {name}({args}) at {node!r}: {e}")


@dataclass(frozen=True)
class Contribution:
    """What one node added to one parent's gradient: `upstream * local`."""

    index: int  #: argument position of the parent
    parent: Value
    local: float  #: d node / d parent
    contribution: float  #: upstream * local, added to parent.grad
    parent_grad: float  #: the parent's running .grad after the addition


@dataclass(frozen=True)
class Step:
    """One node's turn in backward: the gradient it received and what it passed on."""

    index: int  #: position in backward's processing order, from 0 (the root)
    node: Value
    upstream: float  #: d root / d node, complete when its turn comes
    contributions: tuple[Contribution, ...]  #: empty for leaves


def _walk(order: list[Value], record: bool) -> Iterator[Step | None]:
    """The generic backward loop: reverse order, one turn per node, with anomaly checks."""
    check = anomaly_enabled()
    for index, node in enumerate(reversed(order)):
        op = node._prim
        g = node.grad
        contributions: list[Contribution] = []
        if op is not None:
            parents = node.parents
            args = [p.data for p in parents]
            args.extend(node.params)
            try:
                for i, (parent, d) in enumerate(zip(parents, op.partials)):
                    local = d(node.data, *args)
                    c = g * local
                    if check and not math.isfinite(c):
                        raise _anomaly(node, i, parent, g, local, c)
                    parent.grad += c
                    if record:
                        contributions.append(Contribution(i, parent, local, c, parent.grad))
            except AnomalyError:
                raise
            except (ArithmeticError, ValueError) as e:
                raise _backward_error(node, e) from e
        yield Step(index, node, g, tuple(contributions)) if record else None


def backward_steps(root: Value, gradient: object = 1.0) -> Iterator[Step]:
    """Run backward one node at a time, yielding a `Step` per node in `backward()`'s order.

    Bad arguments raise at the call. No gradient changes until the first `next()`; then
    interior gradients are reset and the root seeded, exactly as in `backward()`, and each
    step's contributions are added to the parents' `.grad` before it is yielded. Stopped
    half-way, every node already yielded has passed on its full gradient and no later node has
    passed on anything. Exhausted, the gradients equal those of `backward()`.
    """
    root = _check_root(root, "backward_steps()")
    to_float(gradient, "backward gradient")
    return _steps(root, gradient)


def _steps(root: Value, gradient: object) -> Iterator[Step]:
    order = _start(root, gradient)
    yield from _walk(order, record=True)  # type: ignore[misc]


def _as_list(x: Any, what: str) -> list[Value]:
    items = [x] if isinstance(x, Value) else list(x)
    for i, v in enumerate(items):
        if not isinstance(v, Value):
            raise TypeError(f"grad(): {what}[{i}] must be a Value, got {describe(v)}")
    return items


def grad(
    outputs: Value | Sequence[Value],
    inputs: Value | Sequence[Value],
    grad_outputs: Any = None,
    create_graph: bool = False,
    allow_unused: bool = False,
    materialize_grads: bool = False,
) -> tuple[Any, ...]:
    """d(sum of outputs * grad_outputs) / d input for each input, as a tuple; `.grad` untouched.

    With `create_graph=True` the results are Values whose graphs can be differentiated again.
    An input that the outputs do not depend on raises UnusedInputError, unless
    `allow_unused=True` (then None, or 0.0 with `materialize_grads=True`), as in PyTorch.
    """
    outs = _as_list(outputs, "outputs")
    ins = _as_list(inputs, "inputs")
    if not outs:
        raise ValueError("grad(): outputs is empty")
    if grad_outputs is None:
        seeds: list[Any] = [1.0] * len(outs)
    else:
        seeds = [grad_outputs] if not isinstance(grad_outputs, list | tuple) else list(grad_outputs)
        if len(seeds) != len(outs):
            raise ValueError(f"grad(): {len(outs)} outputs but {len(seeds)} grad_outputs")
        seeds = [s if isinstance(s, Value) and create_graph else
                 to_float(s.data if isinstance(s, Value) else s, f"grad_outputs[{i}]")
                 for i, s in enumerate(seeds)]
    if create_graph:
        with enable_grad():
            result = _grad(outs, ins, seeds, True)
    else:
        result = _grad(outs, ins, seeds, False)
    final: list[Any] = []
    for i, (x, g) in enumerate(zip(ins, result)):
        if g is None:
            if not (allow_unused or materialize_grads):
                raise UnusedInputError(
                    f"grad(): inputs[{i}] ({x!r}) is not used to compute the outputs; "
                    "pass allow_unused=True to get None for it"
                )
            if materialize_grads:
                g = _leaf(0.0) if create_graph else 0.0
        elif create_graph and not isinstance(g, Value):
            g = _leaf(float(g))  # a constant derivative: a leaf with no history
        final.append(g)
    return tuple(final)


def _grad(outs: list[Value], ins: list[Value], seeds: list[Any], create_graph: bool) -> list[Any]:
    order = topo_order(outs)
    wanted = set(ins)
    # Only nodes on a path to an input need gradients.
    reach: set[Value] = set()
    for node in order:
        if node in wanted or any(p in reach for p in node.parents):
            reach.add(node)
    grads: dict[Value, Any] = {}
    for o, s in zip(outs, seeds):
        grads[o] = grads[o] + s if o in grads else s
    node = outs[0]
    try:
        for node in reversed(order):
            op = node._prim
            if op is None or node not in reach or node not in grads:
                continue
            g = grads[node]
            parents = node.parents
            if create_graph:
                out: Any = node
                args: list[Any] = list(parents)
            else:
                out = node.data
                args = [p.data for p in parents]
            args.extend(node.params)
            for parent, d in zip(parents, op.partials):
                if parent not in reach:
                    continue
                c = g * d(out, *args)
                grads[parent] = grads[parent] + c if parent in grads else c
    except (ArithmeticError, ValueError) as e:
        raise _backward_error(node, e) from e
    return [grads.get(x) for x in ins]
