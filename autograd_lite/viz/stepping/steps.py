"""Backward as a sequence of steps: forward steps, `walk` (backward_steps with stale gradients
shown), node names."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ...engine.traversal import Step, backward_steps, topo_order
from ...engine.value import Value, describe

DEFAULT_MAX_STEPS = 400  # frames render the whole graph once per node: quadratic in its size


# ---- names -------------------------------------------------------------------------------------
def node_ids(root: Value) -> dict[Value, str]:
    """`n{i}` for each node, i its index in `topo_order([root])`: the ids `draw_graph` uses."""
    return {v: f"n{i}" for i, v in enumerate(topo_order([_check(root, "node_ids()")]))}


def node_names(root: Value) -> dict[Value, str]:
    """A readable, unique name per node: its label, `label@n7` if shared, else its id `n7`."""
    order = topo_order([_check(root, "node_names()")])
    counts = Counter(v.label for v in order if v.label)
    names: dict[Value, str] = {}
    for i, v in enumerate(order):
        if not v.label:
            names[v] = f"n{i}"
        elif counts[v.label] == 1:
            names[v] = v.label
        else:
            names[v] = f"{v.label}@n{i}"
    return names


def _check(root: object, where: str) -> Value:
    if not isinstance(root, Value):
        raise TypeError(f"{where} needs a Value, got {describe(root)}")
    return root


# ---- forward -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ForwardStep:
    """One node of the forward pass, in the order values were computed (`topo_order`)."""

    index: int  #: topological index: the node's id is f"n{index}"
    node: Value
    op: str | None  #: primitive name, None for a leaf
    inputs: tuple[Value, ...]  #: the op's arguments, in order (`a + a` lists `a` twice)
    params: tuple[Any, ...]  #: static parameters (the exponent of `x ** 3`)
    value: float  #: the node's data


def forward_steps(root: Value) -> Iterator[ForwardStep]:
    """Yield one `ForwardStep` per node of root's graph, each after its inputs (`topo_order`)."""
    for i, v in enumerate(topo_order([_check(root, "forward_steps()")])):
        op = v.op
        yield ForwardStep(i, v, op.name if op is not None else None, v.parents, v.params, v.data)


# ---- walking -----------------------------------------------------------------------------------
def walk(root: Value, gradient: float = 1.0, *, carry: bool = False) -> Iterator[Step]:
    """`backward_steps(root)` from zero gradients (with `carry`, from the leaves' current
    `.grad`, as `backward()` would run now); when it ends (or is closed) every `.grad` is
    restored. While it runs, `.grad` values are live: the state after the step just yielded."""
    root = _check(root, "walk()")
    order = topo_order([root])
    saved = [v.grad for v in order]
    try:
        if not carry:
            for v in order:
                if v.is_leaf:
                    v.grad = 0.0  # interior nodes are reset by backward_steps itself
        yield from backward_steps(root, gradient)
    finally:
        for v, g in zip(order, saved):
            v.grad = g


def carried_grads(root: Value) -> dict[Value, float]:
    """The leaves of root's graph whose `.grad` is not zero: what `backward()` would add to
    (gradients "carried over from before", e.g. from a previous pass without `zero_grad()`);
    a `.grad` of None (no gradient yet, as PyTorch's) carries nothing."""
    return {v: v.grad for v in topo_order([_check(root, "carried_grads()")])
            if v.is_leaf and v.grad is not None and v.grad != 0.0}


def _infer_carried(steps: Sequence[Step]) -> dict[Value, float]:
    """Leaves that held a gradient before these steps: their first contribution found .grad
    non-zero (`parent_grad - contribution`; exactly 0.0 for a leaf that started at zero)."""
    out: dict[Value, float] = {}
    seen: set[Value] = set()
    for s in steps:
        for c in s.contributions:
            if c.parent in seen:
                continue
            seen.add(c.parent)
            before = c.parent_grad - c.contribution
            if c.parent.is_leaf and before != 0.0 and math.isfinite(before):
                out[c.parent] = before
    return out


# ---- the tape ----------------------------------------------------------------------------------
CARRIED = "carried over from before"
