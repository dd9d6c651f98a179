"""The traversal: one topological order, one accumulation rule, both directions.

Reverse: nodes in reverse topological order; each node's upstream gradient times each local
partial (its record's `partials`) is added into the parent. `backward`, `backward_steps` and
`grad` (floats or, with `create_graph`, Values) are this one walk (`_reverse`) with different
turns, chosen once per call: add to `.grad` through the record's `accumulate` (the fast path),
the same with anomaly checks, the same recording a `Step`, or add into a private table.
Forward (`tangents`, used by `jvp`): nodes in topological order, each node's tangent the sum
of local partial times parent tangent, with the same partials and the same rule.

The rule (`contribution`): `upstream * local`, except that a masking op's (relu, abs,
maximum, ...) zero local derivative contributes 0.0 even against an inf or nan upstream; a
partial that raises on floats (`0.5 / 0.0`) is evaluated again in IEEE mode and gives inf or
nan, as PyTorch does. Everything is iterative: a chain of a million nodes needs no recursion.

Why one file past ~400 lines: it is one idea, the walk. The orders (the depth-first one and
backward's faster interior order), the reverse accumulation and the forward tangents share one
order and one reset rule, and are read together to see that every gradient sums in one order.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import AnomalyError, UnusedInputError
from .modes import anomaly_enabled, enable_grad, ieee_mode, no_grad
from .ops import _acc_add, _acc_mul, _acc_tanh
from .value import _LAYERS, Primitive, Value, _leaf, describe, generation, to_float

_UNARY, _BINARY = 1, 2
T = TypeVar("T")


# ---- the order --------------------------------------------------------------------------------
def topo_order(roots: Sequence[Value]) -> list[Value]:
    """Every node reachable from `roots`, each after all of its parents (forward order).

    Depth-first, visiting parents in argument order: the same order as micrograd's recursive
    sort, without recursion. `backward()` processes the reverse of this list.
    """
    return _depth_first(roots, reset=False)


def topo_since(roots: Sequence[Value], since: int) -> tuple[list[Value], list[Value]]:
    """`topo_order` of the nodes made in generation `since` or later (a transform's level:
    see `core.new_generation`), and the older nodes where the walk stopped (made before the
    level's variables, so none depends on them)."""
    stops: list[Value] = []
    return _depth_first(roots, reset=False, since=since, stops=stops), stops


def node_ids(root: Value) -> dict[Value, str]:
    """Stable ids for pictures and tapes: `n{i}`, i the node's index in `topo_order([root])`."""
    return {v: f"n{i}" for i, v in enumerate(topo_order([root]))}


def _depth_first(roots: Sequence[Value], reset: bool, leaves: bool = True, since: int = 0,
                 stops: list[Value] | None = None) -> list[Value]:
    """`topo_order`; with `reset`, also set every interior node's `.grad` to 0.0 on the way
    (and a leaf's `.grad` of None, "no gradient yet" as in PyTorch, to 0.0); without `leaves`,
    only the interior nodes (all that backward's fast mode visits); with `since`, nodes of an
    older generation are not visited but appended to `stops`.

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
                node._gr = 0.0
            emit(node)
            continue
        if node in seen:
            continue
        add(node)
        if since and generation(node) < since:
            stops.append(node)  # type: ignore[union-attr]
            continue
        op = node._prim
        if op is None:
            if reset and node._gr is None:
                node._gr = 0.0  # set to None by the user: no gradient yet (PyTorch)
            if leaves:
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


def _interior_order(root: Value) -> list[Value]:
    """`_depth_first((root,), reset=True, leaves=False)`, specialised for backward's fast mode:
    the same list in the same order with the same resets, in fewer steps.

    * The loop tests no mode.
    * The reset is the mark: a node is seen when its `.grad` is this walk's own `zero`, a float
      0.0 made for the walk (a distinct object: `is` tells it from every other 0.0), written at
      its first visit. No set of seen nodes is built.
    * A leaf parent is settled where it is met (a `None` gradient set to 0.0) instead of pushed
      and popped: leaves are not in the list, and what happens to them does not depend on when
      or how often.
    * The first parent, which `_depth_first` pushes last and so pops next, is visited at once
      (the walk descends along first parents without the stack).
    """
    order: list[Value] = []
    if root._prim is None:
        if root._gr is None:
            root._gr = 0.0
        return order
    zero = _fresh_zero()
    if zero is _ZERO:  # floats compared by value under `is` (not CPython): mark with a set
        return _depth_first((root,), reset=True, leaves=False)
    emit = order.append
    todo: list[Value | None] = [root]
    push = todo.append
    pop = todo.pop
    waiting: list[Value] = []
    wait = waiting.append
    unwait = waiting.pop
    while todo:
        node = pop()
        if node is None:  # the parents of the node on top of `waiting` are all done
            emit(unwait())
            continue
        if node._gr is zero:
            continue
        while True:  # visit `node` (an op node not seen yet), then its first parent if it is one
            node._gr = zero
            wait(node)
            push(None)
            kind = node._prim._kind  # type: ignore[union-attr]
            if kind == _BINARY:
                b = node._b
                if b._prim is None:
                    if b._gr is None:
                        b._gr = 0.0
                elif b._gr is not zero:
                    push(b)
                a = node._a
            elif kind == _UNARY:
                a = node._a
            else:
                parents = node._a
                for p in parents[:0:-1]:
                    if p._prim is None:
                        if p._gr is None:
                            p._gr = 0.0
                    elif p._gr is not zero:
                        push(p)
                a = parents[0]
            if a._prim is None:
                if a._gr is None:
                    a._gr = 0.0
                break
            if a._gr is zero:
                break
            node = a
    return order


_ZERO = 0.0


def _fresh_zero() -> float:
    """A float 0.0 that no node holds yet: a new object, parsed, never a shared constant."""
    return float("0.0")


# ---- the rule -----------------------------------------------------------------------------
def local_partials(node: Value, values: bool = False) -> list[Any]:
    """d node / d parent for each parent, from the node's record: floats, or Values if `values`.

    On floats, a partial that raises (division by zero, overflow) is evaluated again on leaf
    Values in IEEE mode, so the result is inf or nan where the true derivative is.
    """
    op: Primitive = node._prim  # type: ignore[assignment]
    parents = node.parents
    params = node.params
    if values:  # a user's partial checks it records a graph (`on_values`); ours do
        return [getattr(d, "on_values", d)(node, *parents, *params) for d in op.partials]
    out = node.data
    args = [p.data for p in parents]
    args.extend(params)
    try:
        return [d(out, *args) for d in op.partials]
    except (ArithmeticError, ValueError):
        pass
    with no_grad(), ieee_mode():
        lifted = [_leaf(out), *(_leaf(p.data) for p in parents), *params]
        try:
            results = [d(*lifted) for d in op.partials]
        except (ArithmeticError, ValueError) as e:
            raise _backward_error(node, e) from e
    return [r.data if isinstance(r, Value) else float(r) for r in results]


def contribution(upstream: Any, local: Any, mask: bool) -> Any:
    """What a node passes to a parent: upstream * local (0.0 if a mask op's local is 0)."""
    if mask and (local.data if isinstance(local, Value) else local) == 0.0:
        return 0.0
    return upstream * local


def _finite(x: Any) -> bool:
    return math.isfinite(x.data if isinstance(x, Value) else x)


def _anomaly(node: Value, i: int, parent: Value, upstream: Any, local: Any,
             c: Any) -> AnomalyError:
    name = node._prim.name if node._prim is not None else "leaf"
    return AnomalyError(
        f"backward of {name} produced a non-finite gradient {_num(c)!r} for input "
        f"{i} ({parent!r}): upstream {_num(upstream)!r} x local {_num(local)!r}; node {node!r}"
    )


def _num(x: Any) -> float:
    return x.data if isinstance(x, Value) else float(x)


def _backward_error(node: Value, e: Exception) -> Exception:
    op = node._prim
    name = op.name if op is not None else "leaf"
    args = ", ".join(repr(p.data) for p in node.parents)
    return type(e)(f"backward of {name}({args}) at {node!r}: {e}")


# ---- the walk -------------------------------------------------------------------------------
def _reverse(order: list[Value], turn: Callable[[Value], T] | None = None) -> Iterator[T]:
    """The one reverse traversal: every node's turn, in reverse topological order.

    Without a `turn`, the fast mode: each op node's record adds its contributions to the
    parents' `.grad` (its `accumulate`, the rule specialised), all in one step of the
    generator; a partial that raises there is redone by the rule in IEEE mode.
    """
    if turn is None:
        for node in reversed(order):
            op = node._prim
            if op is not None:
                g = node._gr
                acc = op.accumulate
                try:  # the hottest accumulates, inlined (the same additions in the same order)
                    if acc is _acc_mul:
                        a = node._a
                        b = node._b
                        a._gr += g * b._d
                        b._gr += g * a._d
                    elif acc is _acc_add:
                        node._a._gr += g
                        node._b._gr += g
                    elif acc is _acc_tanh:
                        o = node._d
                        node._a._gr += g * (1.0 - o * o)
                    else:
                        acc(node, g)
                except (ArithmeticError, ValueError):
                    for parent, _, c in _contributions(node, g, False, False):
                        parent._gr += c
        return
    for node in reversed(order):
        yield turn(node)


def _contributions(node: Value, g: Any, values: bool, check: bool) -> list[tuple[Value, Any, Any]]:
    """(parent, local, contribution) for each parent of `node`, upstream `g`: the rule."""
    op: Primitive = node._prim  # type: ignore[assignment]
    mask = op.mask
    out = []
    for i, (parent, local) in enumerate(zip(node.parents, local_partials(node, values))):
        c = contribution(g, local, mask)
        if check and not _finite(c):
            raise _anomaly(node, i, parent, g, local, c)
        out.append((parent, local, c))
    return out


def _checked_turn(node: Value) -> None:
    """Under detect_anomaly(): the rule with its checks, added into `.grad`."""
    if node._prim is not None:
        for parent, _, c in _contributions(node, node.grad, False, True):
            parent.grad += c


def _check_root(root: object, where: str) -> Value:
    if not isinstance(root, Value):
        raise TypeError(f"{where} needs a Value, got {describe(root)}")
    return root


def _start(root: Value, gradient: object, leaves: bool = True) -> list[Value]:
    """Order the graph, reset interior gradients and seed the root: the state before step 1
    (without `leaves`, the order holds the op nodes only: all that backward's fast mode visits)."""
    seed = to_float(gradient, "backward gradient")
    order = _depth_first((root,), reset=True) if leaves else _interior_order(root)
    root._gr += seed
    return order


def backward(root: Value, gradient: object = 1.0, inputs: Sequence[Value] | None = None) -> None:
    """Accumulate d(root)/d(leaf) * gradient into every leaf's `.grad` (see `Value.backward`);
    with `inputs`, into those Values' `.grad` only (as PyTorch's `inputs=`)."""
    root = _check_root(root, "backward()")
    seed = to_float(gradient, "backward gradient")
    if inputs is not None:
        wanted = _as_list(inputs, "inputs")
        gs = grad(root, wanted, grad_outputs=seed, allow_unused=True, materialize_grads=True)
        for v, g in zip(wanted, gs):
            v.grad = g if v.grad is None else v.grad + g
        return
    check = anomaly_enabled()
    order = _start(root, seed, leaves=check)
    deque(_reverse(order, _checked_turn if check else None), maxlen=0)


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
    carried: float = 0.0  #: a leaf's .grad from before this pass (accumulated, not reset)


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
    before = 0.0 if root.grad is None else root.grad
    order = _start(root, gradient)  # resets interior nodes only: leaves keep what they carry
    carried = {v: v.grad for v in order if v._prim is None}
    if root._prim is None:
        carried[root] = before
    check = anomaly_enabled()
    index = iter(range(len(order)))

    def turn(node: Value) -> Step:
        g = node.grad
        recorded = []
        if node._prim is not None:
            for i, (parent, local, c) in enumerate(_contributions(node, g, False, check)):
                parent.grad += c
                recorded.append(Contribution(i, parent, local, c, parent.grad))
        return Step(next(index), node, g, tuple(recorded), carried.get(node, 0.0))

    yield from _reverse(order, turn)


def _as_list(x: Any, what: str) -> list[Value]:
    if not isinstance(x, Value) and (isinstance(x, str | bytes) or not isinstance(x, Iterable)):
        raise TypeError(f"grad(): {what} must be a Value or a sequence of Values, got "
                        f"{describe(x)}")
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
    Under `detect_anomaly()` a non-finite gradient raises AnomalyError, as in `backward()`.
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
        with enable_grad(), ieee_mode():
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


def _grad(outs: list[Value], ins: list[Value], seeds: list[Any], values: bool,
          order: list[Value] | None = None) -> list[Any]:
    """d(sum of outs * seeds) / d ins over `order` (default: all of `topo_order(outs)`);
    None for an input the outputs do not reach."""
    if order is None:
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
    check = anomaly_enabled()

    def turn(node: Value) -> None:
        if node._prim is None or node not in reach or node not in grads:
            return
        for parent, _, c in _contributions(node, grads[node], values, check):
            if parent in reach:
                grads[parent] = grads[parent] + c if parent in grads else c

    deque(_reverse(order, turn), maxlen=0)
    return [grads.get(x) for x in ins]


def tangents(order: list[Value], seeds: dict[Value, Any], graph: bool = False
             ) -> dict[Value, Any]:
    """Forward mode over a recorded graph: d node / d (seeded leaves) along the seed direction.

    Nodes in topological order; a node's tangent is the sum over its parents of local partial
    times the parent's tangent (the same partials and rule as reverse mode). Nodes that depend
    on no seeded leaf get no entry (tangent 0). `graph`: the tangents are Values, each a graph
    that outer transforms can differentiate (the partials are taken on Values).
    """
    if graph:
        with enable_grad(), ieee_mode():
            return _tangents(order, seeds, True)
    return _tangents(order, seeds, False)


def _tangents(order: list[Value], seeds: dict[Value, Any], graph: bool) -> dict[Value, Any]:
    tan: dict[Value, Any] = dict(seeds)
    check = anomaly_enabled()
    for node in order:
        op = node._prim
        if op is None or node in tan:
            continue
        parents = node.parents
        if not any(p in tan for p in parents):
            continue
        total: Any = 0.0
        for i, (parent, local) in enumerate(zip(parents, local_partials(node, graph))):
            if parent in tan:
                c = contribution(tan[parent], local, op.mask)
                d = c.data if isinstance(c, Value) else c
                if check and not math.isfinite(d):
                    raise AnomalyError(
                        f"forward mode: {op.name} produced a non-finite tangent {d!r} for input "
                        f"{i} ({parent!r}): tangent {tan[parent]!r} x local {local!r}")
                if not graph:
                    total += c
                else:  # the first contribution itself: no `0.0 + c` node in the graph
                    total = c if isinstance(total, float) and total == 0.0 else total + c
        tan[node] = total
    return tan


_LAYERS.backward = backward  # what Value.backward() and backward_steps() run
_LAYERS.backward_steps = backward_steps
