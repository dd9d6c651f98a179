"""Differential testing against PyTorch float64: random graphs over every primitive, the
engine's written non-finite policy (docs/non-finite.md) as the comparison rule.

The graphs are `autograd_lite.testing.Expression`s drawn by the one generator:
`extreme_graphs(target)` gives one that contains the primitive `target`, with extreme leaves
(0.0, -0.0, 1e-300, 5e-324, +-700, +-1000, +-inf), ties and kinks, built with operators or with
the records; domain errors are drawn on purpose in about one graph in ten. Slots are numbered
as `Expression.trace` returns them: inputs, then nodes. `compare_with_torch(g)` checks value,
gradient and Hessian against torch and returns what was compared ("compared" or
"domain-error"), so tests can assert that most examples were really compared.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from autograd_lite import AnomalyError, Value, detect_anomaly, grad
from autograd_lite.engine.traversal import local_partials, tangents, topo_order
from autograd_lite.testing import Expression

INF = math.inf
EPS = sys.float_info.epsilon
DT = torch.float64


def _t(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=DT)


#: The PyTorch counterpart of every primitive, `(*tensors, *params) -> tensor`. A primitive
#: missing here fails `test_every_primitive_has_a_torch_counterpart` and its own tests.
TORCH: dict[str, Callable[..., torch.Tensor]] = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "neg": lambda a: -a,
    "div": lambda a, b: a / b,
    "pow": torch.pow,
    "powc": lambda x, p: torch.pow(x, p),
    "rpow": lambda x, c: torch.pow(c, x),
    "exp": torch.exp,
    "log": torch.log,
    "log1p": torch.log1p,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    # torch's softplus returns x above `threshold`; at 36 that is exact to 1 ulp, and below it
    # torch computes log1p(exp(x)) with derivative sigmoid(x), as the engine (exp(x) overflows
    # near 710, so the default threshold=inf is no oracle there).
    "softplus": lambda x: F.softplus(x, beta=1.0, threshold=36.0),
    "relu": torch.relu,
    "leaky_relu": lambda x, s: F.leaky_relu(x, s),
    "sin": torch.sin,
    "cos": torch.cos,
    "sqrt": torch.sqrt,
    "abs": torch.abs,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "erf": torch.erf,
}

#: Policy-listed domain errors where torch gives a finite number (rpow: c ** x, c < 0).
FINITE_IN_TORCH_BUT_ERROR = {"rpow"}


def function(g: Expression) -> Callable[..., Value]:
    """The graph as a function of its leaves (for compile_grad)."""
    return lambda *xs: g(*xs)


# ---- running both sides -----------------------------------------------------------------------
def torch_values(g: Expression, xs: Sequence[float], pin: Sequence[float] | None = None
                 ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(leaf tensors, every slot's tensor) in float64, leaves requiring grad.

    With `pin` (ours' value of every slot), each node's data is overwritten with ours after
    torch computes it (autograd does not see the write): torch's derivative formulas then run
    at exactly our intermediate values, so a 1-ulp libm difference (torch's erf, log1p of a
    subnormal) can neither be amplified downstream nor move a kink op to another branch.
    """
    leaves = [torch.tensor(x, dtype=DT, requires_grad=True) for x in xs]

    def pinned(k: int, t: torch.Tensor) -> torch.Tensor:
        if pin is not None and not same_bits(t.item(), pin[k]):
            t.data.fill_(pin[k])
        return t

    ops = {name: torch_op(name) for name in g.used}
    return leaves, g.trace(leaves, ops, pinned)


def torch_op(name: str) -> Callable[..., torch.Tensor]:
    if name not in TORCH:
        raise LookupError(f"primitive {name!r} has no PyTorch counterpart in tests/differential.py "
                          "TORCH: add one so the differential tests cover it")
    return TORCH[name]


def torch_derivatives(out: torch.Tensor, leaves: list[torch.Tensor]
                      ) -> tuple[list[float], list[list[float]]]:
    """Gradient and Hessian (reverse over reverse, create_graph) of `out` w.r.t. `leaves`."""
    gs = torch.autograd.grad(out, leaves, create_graph=True, allow_unused=True,
                             materialize_grads=True)
    hess = []
    for gi in gs:
        if gi.requires_grad:
            row = torch.autograd.grad(gi, leaves, retain_graph=True, allow_unused=True,
                                      materialize_grads=True)
            hess.append([r.item() for r in row])
        else:
            hess.append([0.0] * len(leaves))
    return [x.item() for x in gs], hess


def ours_derivatives(out: Value, leaves: list[Value], second: bool = True
                     ) -> tuple[list[float], Any, list[Value]]:
    """Gradient (plain floats), Hessian (grad of create_graph gradients), and those Values."""
    g1 = grad(out, leaves, allow_unused=True, materialize_grads=True)
    if not second:
        return [float(x) for x in g1], None, []
    gv = grad(out, leaves, create_graph=True, allow_unused=True, materialize_grads=True)
    hess = [[float(h) for h in grad(gi, leaves, allow_unused=True, materialize_grads=True)]
            for gi in gv]
    return [float(x) for x in g1], hess, list(gv)


# ---- the policy ---------------------------------------------------------------------------------
class Disagreement(AssertionError):
    """Ours and torch differ outside the differences the non-finite policy allows."""


def close(ours: float, ref: float, scale: Callable[[], float]) -> bool:
    """1e-9 relative; else within 64 ulps of `scale()` (the largest term that was summed or
    cancelled on the way), the tolerance of a correctly computed float result."""
    if ours == ref or math.isclose(ours, ref, rel_tol=1e-9, abs_tol=1e-300):
        return True
    return abs(ours - ref) <= 64 * EPS * scale()


def agree(what: str, ours: float, ref: float, masked: bool, scale: Callable[[], float],
          g: Expression) -> str:
    """Check one number under the policy. Returns "" or "masked" (the allowed difference)."""
    if math.isnan(ref):
        if math.isnan(ours):
            return ""
        if masked:
            return "masked"
        raise Disagreement(f"{what}: torch nan, ours {ours!r} (no kink mask on the path) for {g}")
    if math.isinf(ref):
        if ours == ref:
            return ""
        raise Disagreement(f"{what}: torch {ref!r}, ours {ours!r} for {g}")
    if math.isfinite(ours) and close(ours, ref, scale):
        return ""
    raise Disagreement(f"{what}: torch {ref!r}, ours {ours!r} for {g}")


def masked_paths(vals: list[Value], leaves: list[Value]) -> list[bool]:
    """For each leaf: does a kink op with a zero local derivative sit on a path from it to the
    output (so the engine may give 0 where torch gives nan, as the policy allows)?"""
    order = topo_order([vals[-1]])
    # nodes that reach the output: all of `order`; on a path from leaf j: descendants of it
    result = []
    for leaf in leaves:
        below = {leaf}
        hit = False
        for node in order:
            if node._prim is None:
                continue
            parents = node.parents
            if not any(p in below for p in parents):
                continue
            below.add(node)
            if node._prim.mask:
                try:
                    locs = local_partials(node)
                except (ArithmeticError, ValueError):
                    locs = []
                if any(p in below and loc == 0.0 for p, loc in zip(parents, locs)):
                    hit = True
        result.append(hit)
    return result


def zero_exponent_mask(vals: Sequence[Value], ours: float, ref: float) -> bool:
    """Ours nan where torch is a number, in a graph with a pow/powc node whose exponent is 0
    and whose base's upstream is not finite: torch masks that gradient (see the caller)."""
    if not (math.isnan(ours) and not math.isnan(ref)):
        return False
    return any(exponent == 0.0 for _, exponent in _powers(vals))


def _powers(vals: Sequence[Value]) -> Iterator[tuple[float, float]]:
    """(base, exponent) of each pow/powc node among `vals`."""
    for node in vals:
        op = node._prim
        if op is not None and op.name in ("pow", "powc"):
            yield node.parents[0].data, (node.params[0] if op.name == "powc"
                                         else node.parents[1].data)


#: Exponents torch computes as sqrt or rsqrt (x ** 0.5, x ** -0.5), and those whose first or
#: second derivative holds such a power (x ** 1.5, x ** 2.5).
HALF_POWERS = (-0.5, 0.5, 1.5, 2.5)


def torch_half_power(vals: Sequence[Value], ours: float, ref: float) -> bool:
    """Torch nan where ours is a number, in a graph with a pow/powc node at base -inf whose
    derivatives hold a power torch evaluates through sqrt/rsqrt: d/dx x ** 1.5 at -inf is
    1.5 * (-inf) ** 0.5, +inf by C99's pow (the engine's partial), nan by torch's sqrt. (The
    forward (-inf) ** +-0.5 itself is a domain error in ours, as torch's nan.)
    test_half_power_at_minus_inf pins both numbers."""
    if not (math.isnan(ref) and not math.isnan(ours)):
        return False
    return any(base == -math.inf and exponent in HALF_POWERS for base, exponent in _powers(vals))


def edge_scale(out: Value, leaves: Sequence[Value]) -> float:
    """max |value| and |adjoint x local| over the graph of `out`: what a gradient sums.

    A contribution's rounding error in a parent's adjoint reaches a leaf's gradient multiplied
    by d parent / d leaf (cos(sqrt(x)) near 0: adjoints cancel to 0.1 from terms of 1e6, then
    are multiplied by sqrt'(x) = 1e6), so each contribution counts times that gain (>= 1).
    """
    order = topo_order([out])
    adj = dict(zip(order, grad(out, order, allow_unused=True, materialize_grads=True)))
    gain: dict[Value, float] = {}
    for leaf in leaves:
        for node, t in tangents(order, {leaf: 1.0}).items():
            if math.isfinite(t):
                gain[node] = max(gain.get(node, 1.0), abs(t))
    s = 1e-300
    for node in order:
        if math.isfinite(node.data):
            s = max(s, abs(node.data))
        if node._prim is None:
            continue
        try:
            locs = local_partials(node)
        except (ArithmeticError, ValueError):
            continue
        for parent, loc in zip(node.parents, locs):
            c = abs(float(adj[node]) * loc) * gain.get(parent, 1.0)
            if math.isfinite(c):
                s = max(s, c)
    return s


def compare_with_torch(g: Expression) -> str:
    """Ours vs torch on `g` under the policy: "domain-error" or "compared", plus "|note"
    for each allowed or known difference met ("masked", "overflow-order", "known:...").
    Raises Disagreement."""
    xs = [Value(x) for x in g.inputs]
    vals: list[Value] = list(xs)
    for k, (name, idx, params) in enumerate(g.nodes, len(xs)):
        args = [vals[i] for i in idx]
        try:
            vals.append(g.apply(name, args, params))
        except (ValueError, ZeroDivisionError) as e:
            note = check_domain_error(name, [a.data for a in args], params, e, g, k)
            return "domain-error" + (f"|{note}" if note else "")
    notes = set()
    # forward: every node against torch's op on the same inputs (ours' values of its parents)
    for k, (name, idx, params) in enumerate(g.nodes, len(xs)):
        v = vals[k]
        ref = torch_op(name)(*[_t(vals[i].data) for i in idx], *params).item()
        agree(f"value of slot {k} ({name})", v.data, ref, False, lambda v=v: _value_scale(v), g)
    else:
        leaves_t, vals_t = torch_values(g, g.inputs, [v.data for v in vals])
        ours_g, ours_h, gv = ours_derivatives(vals[-1], xs)
        ref_g, ref_h = torch_derivatives(vals_t[-1], leaves_t)
        exempt = pow_hessian_exempt(g, vals)
        if ours_h is None or exempt:
            notes.add(exempt)
            ours_h = ref_h = [[0.0] * len(xs) for _ in xs]
        masked = masked_paths(vals, xs)
        out = vals[-1]
        for i in range(len(xs)):
            try:
                notes.add(agree(f"d out / d x{i}", ours_g[i], ref_g[i], masked[i],
                                lambda out=out: edge_scale(out, xs), g))
            except Disagreement:
                if overflow_order(g, [out], ours_g[i], ref_g[i]):
                    # Known (test_div_by_a_subnormal_with_a_zero_upstream): upstream x local
                    # with local 1/b = inf at b = 5e-324 and upstream 0 is nan; torch
                    # computes grad / b = 0.
                    notes.add("overflow-order")
                elif zero_exponent_mask(vals, ours_g[i], ref_g[i]):
                    # Known (test_pow_base_gradient_at_a_zero_exponent_with_an_inf_upstream):
                    # torch's pow backward masks the base's gradient where the exponent is 0;
                    # ours multiplies an inf upstream by the local 0 (nan), as for any op
                    # that is not a kink.
                    notes.add("zero-exponent-mask")
                elif torch_half_power(vals, ours_g[i], ref_g[i]):
                    notes.add("torch:half-power")
                else:
                    raise
        for i in range(len(xs)):
            for j in range(len(xs)):
                try:
                    notes.add(agree(f"d2 out / d x{i} d x{j}", ours_h[i][j], ref_h[i][j],
                                    masked[i] or masked[j],
                                    lambda i=i, gv=gv, out=out: max(edge_scale(gv[i], xs),
                                                                 edge_scale(out, xs)),
                                    g))
                except Disagreement:
                    # Overflow order: ours' second-order graph holds an inf made from finite
                    # leaves (a partial like -1/x**2 at x = 1e-300), and torch associates the
                    # products differently (grad / x / x): inf, nan or a finite result depend
                    # on that order. Counted; test_second_derivative_of_log_with_a_zero_upstream
                    # keeps the clearest case (torch 0, ours nan) as a failing reproduction.
                    if overflow_order(g, [out, gv[i], gv[j]], ours_h[i][j], ref_h[i][j]):
                        notes.add("overflow-order")
                    elif inf_order([out, gv[i], gv[j]], ours_h[i][j], ref_h[i][j]):
                        notes.add("inf-order")
                    elif torch_overflow([out, gv[i], gv[j]], ours_h[i][j], ref_h[i][j]):
                        # torch's double backward overflows where ours never leaves the finite
                        # numbers (test_second_derivative_where_torch_overflows)
                        notes.add("torch:overflow")
                    elif zero_exponent_mask([*vals, *topo_order([gv[i], gv[j]])],
                                            ours_h[i][j], ref_h[i][j]):
                        # The zero-exponent mask one order up: the gradient of x ** 1.0 holds
                        # x ** 0.0 (or the graph holds an x ** 0.0 itself), whose base gradient
                        # torch masks and ours multiplies by an inf upstream
                        # (test_pow_second_derivative_at_a_zero_exponent_with_an_inf_upstream
                        # keeps it as a failing reproduction).
                        notes.add("zero-exponent-mask")
                    elif torch_half_power(topo_order([gv[i], gv[j]]), ours_h[i][j],
                                          ref_h[i][j]):
                        notes.add("torch:half-power")
                    else:
                        raise
        check_backward_matches_grad(g, ours_g)
        notes.add(check_anomaly(g, vals, ours_g))
    notes.discard("")
    return "compared" + "".join(f"|{n}" for n in sorted(notes))






def overflow_order(g: Expression, roots: list[Value], ours: float, ref: float) -> bool:
    """A non-finite result on one side, and ours' graphs make an inf value or a non-finite
    local partial from finite inputs: the result depends on how products of huge and zero
    factors associate (upstream * (1 / b) against torch's upstream / b)."""
    if math.isfinite(ours) and math.isfinite(ref):
        return False
    for node in topo_order(roots):
        if node._prim is None:
            continue
        if math.isinf(node.data) and all(math.isfinite(p.data) for p in node.parents):
            return True
        # the local partials with non-finite inputs replaced by 1.0: an overflow of finite
        # values (1 / b at b = 2e-309), not an inf passed through (d(a*b)/db = a = inf)
        finite = [p.data if math.isfinite(p.data) else 1.0 for p in node.parents]
        out = node.data if math.isfinite(node.data) else 1.0
        try:
            locs = [float(d(out, *finite, *node.params)) for d in node._prim.partials]
        except (ArithmeticError, ValueError):
            return True
        if not all(math.isfinite(loc) for loc in locs):
            return True
    return False


def torch_overflow(roots: list[Value], ours: float, ref: float) -> bool:
    """Torch +-inf where ours is finite, and every value and local partial of ours' graphs is
    finite: a true infinity would show there (an infinite partial at a singular point), so the
    inf is torch's intermediate overflow (log(sqrt(x0 * x1)) at x1 = 1e-300: d2/dx0^2 is -0.5,
    torch multiplies -1 / (2 u^2) = -inf by x1^2 = 0 in another order)."""
    if not (math.isinf(ref) and math.isfinite(ours)):
        return False
    for node in topo_order(roots):
        if not math.isfinite(node.data):
            return False
        if node._prim is None:
            continue
        try:
            if not all(math.isfinite(loc) for loc in local_partials(node)):
                return False
        except (ArithmeticError, ValueError):
            return False
    return True


def inf_order(roots: list[Value], ours: float, ref: float) -> bool:
    """Second order with an inf in the graph: torch nan where ours is a number or +-inf (or
    ours nan where torch is +-inf): torch's double-backward formulas meet inf * 0 in terms
    that ours never forms (d2/dx1^2 of x1*x3 is 0 even at x3 = inf), or in another order."""
    if not (math.isnan(ref) and not math.isnan(ours) or math.isnan(ours) and math.isinf(ref)):
        return False
    return any(math.isinf(n.data) for n in topo_order(roots))


def has_infinite_node(v: Value) -> bool:
    return any(math.isinf(n.data) for n in topo_order([v]))


def pow_hessian_exempt(g: Expression, vals: list[Value]) -> str:
    """Why the Hessian of a graph with `pow` (Value ** Value) is not compared, or "".

    Torch's defects: at x = 0 its d2/dy2 of x**y is 0 * log(0)**2 = nan (ours: the limit 0);
    its pow backward masks d/dx at y == 0 with a `where`, so d2/dxdy there is 0 (true: x**-1).
    """
    for name, idx, params in g.nodes:
        if name == "pow" and vals[idx[0]].data == 0.0:
            # torch: d2/dy2 of 0 ** y is 0 * log(0)**2 = nan; ours keeps the limit 0 (y > 0)
            return "torch:pow-zero-base-second-order"
        if name == "pow" and vals[idx[1]].data == 0.0:
            return "torch:pow-zero-exponent-mask"
        if name == "rpow" and params[0] == 0.0:  # torch: 0 ** x, where()'s nan leaks at order 2
            return "torch:rpow-zero-base-where-leak"
    return ""


def _value_scale(v: Value) -> float:
    s = 1e-300
    for node in topo_order([v]):
        if math.isfinite(node.data):
            s = max(s, abs(node.data))
    return s




def check_domain_error(name: str, args: list[float], params: Sequence[float], e: Exception,
                       g: Expression, k: int) -> str:
    """Ours raised at slot k: the message names the op and a value; torch is non-finite there
    (or the op is one of the policy's errors that torch evaluates)."""
    text = str(e)
    if name not in text:
        raise Disagreement(f"domain error at {name} does not name the op: {text!r} ({g})")
    if not any(repr(x) in text for x in [*args, *params]):
        raise Disagreement(f"domain error at {name} does not name the value: {text!r} ({g})")
    ref = float(torch_op(name)(*[_t(a) for a in args], *params))
    if math.isfinite(ref) and name not in FINITE_IN_TORCH_BUT_ERROR:
        raise Disagreement(f"ours raised {type(e).__name__} at slot {k} {name}{tuple(args)} "
                           f"but torch gives the finite {ref!r} ({g})")
    return ""


def check_backward_matches_grad(g: Expression, ours_g: list[float]) -> None:
    """`.backward()` (the accumulate fast path) and `grad()` give the same numbers (a zero's
    sign may differ: `.grad` starts at +0.0, and 0.0 + -0.0 is 0.0)."""
    xs = [Value(x) for x in g.inputs]
    g(*xs).backward()
    for i, (x, r) in enumerate(zip(xs, ours_g)):
        if not (x.grad == r or (x.grad != x.grad and r != r)):  # .grad starts at +0.0
            raise Disagreement(f"backward() gives x{i}.grad = {x.grad!r}, grad() {r!r} for {g}")


def check_anomaly(g: Expression, vals: list[Value], ours_g: list[float]) -> str:
    """Under detect_anomaly(): the first node with a non-finite value from finite inputs
    raises AnomalyError naming its op; else a non-finite contribution in backward raises;
    else the same numbers."""
    first_bad = None
    for k, (name, idx, _) in enumerate(g.nodes, len(g.inputs)):
        if not math.isfinite(vals[k].data) and all(
                math.isfinite(vals[i].data) for i in idx):
            first_bad = name
            break
    bad = not all(math.isfinite(c) for c in contributions(vals[-1]))
    xs = [Value(x) for x in g.inputs]
    with detect_anomaly():
        try:
            vals_a = g.trace(xs)
        except AnomalyError as e:
            if first_bad is not None and str(e).startswith(first_bad):
                return ""
            raise Disagreement(f"anomaly names {str(e)!r}, expected {first_bad} ({g})") from e
        if first_bad is not None:
            raise Disagreement(f"detect_anomaly(): no AnomalyError although {first_bad} made a "
                               f"non-finite value from finite inputs ({g})")
        out = vals_a[-1]
        try:
            got = grad(out, xs, allow_unused=True, materialize_grads=True)
        except AnomalyError:
            if bad:
                return ""
            raise
        if bad:
            raise Disagreement(f"detect_anomaly(): no AnomalyError in backward although a "
                               f"gradient is non-finite ({g})")
    for i, (a, b) in enumerate(zip(got, ours_g)):
        if not same_bits(a, b):
            raise Disagreement(f"detect_anomaly() changed d out/d x{i}: {a!r} vs {b!r} ({g})")
    return ""


def contributions(out: Value) -> list[float]:
    """Every upstream x local contribution of backward from `out` (after kink masks)."""
    order = topo_order([out])
    adj = dict(zip(order, grad(out, order, allow_unused=True, materialize_grads=True)))
    cs = [1.0]
    for node in order:
        if node._prim is None:
            continue
        for loc in local_partials(node):
            cs.append(0.0 if node._prim.mask and loc == 0.0 else float(adj[node]) * loc)
    return cs


def same_bits(a: float, b: float) -> bool:
    """Equal as floats including the sign of zero; any nan equals any nan."""
    if a != a or b != b:
        return a != a and b != b
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def ulps(a: float, b: float) -> float:
    """Distance in units in the last place (0 for equal, inf if one is non-finite)."""
    if same_bits(a, b) or a == b:
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return INF
    return abs(a - b) / math.ulp(max(abs(a), abs(b)))
