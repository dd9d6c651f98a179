"""The one random-graph generator: `graphs(table, policy)` draws an `Expression`.

Every random graph in the project comes from here: user strategies (`expressions`), the engine
checker (operator forms such as `c + v`, run on a student's class) and the differential tests
against PyTorch (`extreme_graphs`: extreme leaves, ties, domain errors). A `Policy` says how
leaves, parameters and a rejected node are drawn; three presets cover the project's uses
(`safe_policy`, `ANY`, `extreme_policy`). Every choice is a hypothesis draw with the simplest
first (small leaves, the table's first ops, few nodes), so a failing graph shrinks to a small
one. The representation, its evaluators and printers: expression.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from ..engine.ops import PRIMITIVES
from ..engine.value import Primitive
from .expression import OPERATORS, Expression, GraphOp, Node
from .strategies import _evaluate, finite_floats, parameters

__all__ = ["ANY", "EXTREMES", "EXTREME_PARAMS", "OPERATORS", "Expression", "GraphOp", "Node",
           "Policy", "domain_floats", "expressions", "extreme_floats", "extreme_graphs",
           "extreme_params", "extreme_policy", "graphs", "safe_policy"]


# ---- drawing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    """How `graphs` draws: leaves, parameters, which nodes it keeps, and what it adds."""

    leaves: st.SearchStrategy[float]
    #: the static parameters of an op
    params: Callable[[Any], st.SearchStrategy[tuple[float, ...]]]
    #: the node's float value if it is kept at these argument values, else None (redrawn);
    #: None: nothing is evaluated while drawing (the caller filters, e.g. the engine checker)
    accept: Callable[[Any, Sequence[float], Sequence[float]], float | None] | None = None
    attempts: int = 1  #: draws per node before giving up on it
    redraw_op: bool = True  #: a rejected node draws a new op (else new arguments only)
    fallback: str | None = None  #: after `attempts` rejections: this op on the last slot
    fresh: bool = False  #: arguments may be new leaves: extremes, ties, inside the domain
    errors: int = 0  #: one graph in `errors` keeps its target's first domain error (0: never)
    prune: bool = False  #: drop dead nodes and unused inputs (the checker's shrunk reports)
    sugar: bool | None = False  #: build with operators and methods (None: drawn per graph)


def _default_params(op: Any) -> st.SearchStrategy[tuple[float, ...]]:
    consts = getattr(op, "consts", None)
    if consts:
        return st.sampled_from(consts).map(lambda c: (c,))
    if isinstance(op, Primitive):
        return parameters(op)
    return st.just(())


def _forward_ok(op: Any, args: Sequence[float], params: Sequence[float]) -> float | None:
    try:
        return float(op(*args, *params))
    except (ValueError, ZeroDivisionError):
        return None


def safe_policy(min_value: float = -2.0, max_value: float = 2.0) -> Policy:
    """Leaves in [min_value, max_value]; each node inside its op's domain, a margin away from
    its kinks and ties, |value| and |local derivatives| <= 1e4 (else redrawn, 8 times, then
    `tanh` of the last node): gradient checks on the result are meaningful."""
    return Policy(finite_floats(min_value, max_value), _default_params, _evaluate,
                  attempts=8, fallback="tanh")


#: Every draw kept, nothing evaluated: small whole leaves first (a shrunk report reads
#: `x0 = 2.0`), dead nodes and unused inputs pruned. The engine checker filters its graphs.
ANY = Policy(st.one_of(st.integers(-3, 3).map(float),
                       st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)),
             _default_params, prune=True)

INF = math.inf
#: Leaves that break derivative code: signed zeros, subnormals, overflow edges, infinities.
EXTREMES: tuple[float, ...] = (0.0, -0.0, 1e-300, -1e-300, 5e-324, -5e-324, 700.0, -700.0,
                               1000.0, -1000.0, INF, -INF, 1.0, -1.0, 2.0, 0.5)
#: The interesting parameters of the built-ins (zero and fractional exponents, slopes).
EXTREME_PARAMS: dict[str, tuple[float, ...]] = {
    "powc": (2.0, 3.0, -1.0, -2.0, 0.5, -0.5, 1.5, 0.0, 1.0, 1.0 / 3.0),
    "rpow": (0.0, 0.5, 1.0, 2.0, math.e, 10.0, -2.0),
    "leaky_relu": (0.0, 0.01, 0.2, 1.0),
}


def extreme_floats() -> st.SearchStrategy[float]:
    """Leaves: mostly in [-3, 3], often one of `EXTREMES`, sometimes any float or infinity."""
    return st.one_of(st.floats(-3.0, 3.0), st.floats(-3.0, 3.0), st.floats(-3.0, 3.0),
                     st.sampled_from(EXTREMES), st.sampled_from(EXTREMES),
                     st.floats(allow_nan=False, allow_infinity=True))


def domain_floats(interval: tuple[float, float]) -> st.SearchStrategy[float]:
    """Leaves inside an open domain interval of a record, its `EXTREMES` included."""
    lo, hi = interval
    inside = [x for x in EXTREMES if lo < x < hi or x == hi == INF]
    return st.one_of(st.sampled_from(inside or [(lo + hi) / 2.0]),
                     st.floats(lo, hi, exclude_min=True, exclude_max=not math.isinf(hi)))


def extreme_params(op: Any) -> st.SearchStrategy[tuple[float, ...]]:
    """An op's parameters: its `EXTREME_PARAMS` or any value in its record's `param_domain`."""
    def one(j: int) -> st.SearchStrategy[float]:
        lo, hi = op.param_domain[j]
        interval = st.floats(lo, hi)
        if op.name in EXTREME_PARAMS:
            return st.one_of(st.sampled_from(EXTREME_PARAMS[op.name]), interval)
        return interval

    return st.tuples(*(one(j) for j in range(op.nparams)))


def extreme_policy() -> Policy:
    """Extreme leaves (`extreme_floats`), ties (a second argument equal to the first) and
    fresh leaves; a node whose forward raises is redrawn with new arguments (inside its domain
    after two tries) and, if it keeps failing, left out; one graph in ten may keep its target's
    domain error. Built with operators or with the records, drawn."""
    return Policy(extreme_floats(), extreme_params, _forward_ok, attempts=4, redraw_op=False,
                  fresh=True, errors=10, sugar=None)


def _span(n: int | tuple[int, int]) -> tuple[int, int]:
    return (n, n) if isinstance(n, int) else n


class _Builder:
    """Slots as drawn (leaves may appear between nodes), renumbered inputs-first at the end."""

    def __init__(self, draw: Any, table: dict[str, Any], policy: Policy) -> None:
        self.draw, self.table, self.policy = draw, table, policy
        self.names = list(table)
        self.leaves: list[float] = []
        self.slots: list[tuple[str | None, tuple[int, ...], tuple[float, ...]]] = []
        self.vals: list[float] = []

    def leaf(self, x: float) -> int:
        self.leaves.append(x)
        self.slots.append((None, (len(self.leaves) - 1,), ()))
        self.vals.append(x)
        return len(self.slots) - 1

    def argument(self, op: Any, i: int, idx: list[int], chain: int | None, attempt: int) -> int:
        draw, fresh = self.draw, self.policy.fresh
        if i == 0 and chain is not None:
            return chain
        # One in four each; the shrinker moves draws toward 0, so 3 (a new leaf) is never the
        # simplest choice: a shrunk graph reuses its slots.
        if fresh and i > 0 and draw(st.integers(0, 3)) == 3:  # a tie: a new leaf, same value
            x = self.vals[idx[0]]
            return self.leaf(x if x == x else 0.0)
        if fresh and attempt >= 2:  # after two rejections: a fresh leaf inside the domain
            return self.leaf(draw(domain_floats(op.domain[i])))
        if fresh and draw(st.integers(0, 3)) == 3:
            return self.leaf(draw(self.policy.leaves))
        return int(draw(st.integers(0, len(self.slots) - 1)))

    def node(self, name: str | None, chain: int | None = None, may_fail: bool = False,
             keep_error: bool = False) -> bool:
        """Add one node (`name`, or drawn); False when it was kept with a domain error."""
        policy, draw = self.policy, self.draw
        for attempt in range(policy.attempts):
            if name is None or (policy.redraw_op and attempt and not may_fail):
                name = str(draw(st.sampled_from(self.names)))
            op = self.table[name]
            idx: list[int] = []
            for i in range(op.nargs):
                idx.append(self.argument(op, i, idx, chain, attempt))
            params = tuple(draw(policy.params(op)))
            if policy.accept is None:
                self.slots.append((name, tuple(idx), params))
                return True
            out = policy.accept(op, [self.vals[i] for i in idx], params)
            if out is None:
                if may_fail and (keep_error or attempt == policy.attempts - 1):
                    self.slots.append((name, tuple(idx), params))
                    return False
                continue
            self.slots.append((name, tuple(idx), params))
            self.vals.append(out)
            return True
        if policy.fallback is not None:
            op = self.table.setdefault(policy.fallback, PRIMITIVES[policy.fallback])
            self.slots.append((policy.fallback, (len(self.slots) - 1,), ()))
            self.vals.append(float(op(self.vals[-1])))
        return True

    def expression(self, sugar: bool) -> Expression:
        order = [s for s, (name, _, _) in enumerate(self.slots) if name is None]
        order += [s for s, (name, _, _) in enumerate(self.slots) if name is not None]
        new = {s: n for n, s in enumerate(order)}
        nodes = tuple((name, tuple(new[i] for i in idx), params)
                      for name, idx, params in self.slots if name is not None)
        return Expression(tuple(self.leaves), nodes, self.table, sugar)


@st.composite
def graphs(
    draw: Any,
    table: Mapping[str, Any] | Sequence[Any] | None = None,
    policy: Policy | None = None,
    n_inputs: int | tuple[int, int] = (1, 3),
    n_nodes: int | tuple[int, int] = (1, 8),
    target: str | None = None,
    n_after: int | tuple[int, int] = 0,
) -> Expression:
    """The random-graph generator: `n_inputs` leaves from `policy.leaves`, then `n_nodes`
    nodes drawn from `table` (each on earlier inputs and nodes, reuse allowed), then, with a
    `target`, that op followed by a chain of `n_after` drawn nodes (each on the previous one).

    `table`: op name -> operation (default: the primitive table); a sequence of records is
    keyed by name. `policy` (default `safe_policy()`) decides leaves, parameters and which
    nodes are kept. Nodes are kept in draw order; a table's first ops are the simplest draws.
    """
    if table is None:
        ops: dict[str, Any] = dict(PRIMITIVES)
    elif isinstance(table, Mapping):
        ops = dict(table)
    else:
        ops = {p.name: p for p in table}
    if not ops:
        raise ValueError("graphs() needs at least one operation in its table")
    if target is not None and target not in ops:
        raise ValueError(f"graphs(): target {target!r} is not in the table {sorted(ops)}")
    if target is None and _span(n_nodes)[0] < 1:
        raise ValueError(f"graphs(): n_nodes={n_nodes!r} allows a graph with no node; give "
                         "at least one, or a target")
    policy = safe_policy() if policy is None else policy
    if policy.fresh and policy.accept is None:
        raise ValueError("graphs(): a policy with fresh leaves needs `accept` (leaf values)")
    b = _Builder(draw, ops, policy)
    # one graph in `errors`; the simplest draw (0) keeps none
    keep_error = bool(policy.errors) and draw(st.integers(1, policy.errors)) == policy.errors
    sugar = draw(st.booleans()) if policy.sugar is None else policy.sugar
    for _ in range(draw(st.integers(*_span(n_inputs)))):
        b.leaf(draw(policy.leaves))
    for _ in range(draw(st.integers(*_span(n_nodes)))):
        b.node(None)
    if target is not None and b.node(target, may_fail=True, keep_error=keep_error):
        for _ in range(draw(st.integers(*_span(n_after)))):
            b.node(None, chain=len(b.slots) - 1)
    e = b.expression(sugar)
    assume(e.nodes)  # every node left out (a policy without fallback): draw another graph
    return e.prune(inputs=True) if policy.prune else e


def expressions(
    n_inputs: int | tuple[int, int] = (1, 3),
    n_nodes: int | tuple[int, int] = (1, 8),
    primitives: Mapping[str, Primitive] | Sequence[Primitive] | None = None,
    min_value: float = -2.0,
    max_value: float = 2.0,
) -> st.SearchStrategy[Expression]:
    """Random expression graphs over the primitive table, valid at their drawn inputs.

    Each node draws a primitive and arguments among earlier nodes; a choice that would leave
    the primitive's domain, sit on a kink or tie, or grow past 1e4 is redrawn (falling back to
    `tanh`, defined everywhere), so gradient checks on the result are meaningful.
    """
    if primitives is not None and not primitives:
        raise ValueError("expressions() needs at least one primitive")
    return graphs(primitives, safe_policy(min_value, max_value), n_inputs, n_nodes)


def extreme_graphs(target: str, max_prefix: int = 3, max_suffix: int = 2,
                   primitives: Mapping[str, Primitive] | None = None
                   ) -> st.SearchStrategy[Expression]:
    """Graphs that contain `target` applied to earlier slots (or fresh leaves), with up to
    `max_prefix` drawn primitives before it and a chain of up to `max_suffix` after it, over
    `extreme_policy()`: the differential tests' draws (about one graph in ten may raise)."""
    return graphs(primitives, extreme_policy(), (1, 3), (0, max_prefix), target,
                  (0, max_suffix))
