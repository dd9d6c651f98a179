"""Function transforms in the JAX style: `value_and_grad`, `hessian`, `hvp`, `jvp`, `jacfwd`,
`jacrev`.

Each takes a function of Values (one positional Value per scalar input) and numbers to call it
at; numbers are lifted to fresh leaves, so no user `.grad` is touched. Reverse mode is
`grad`; forward mode (`jvp`) records the graph once and pushes tangents through it with the
same table of partials (`backward.tangents`), so every primitive, a user's included, works
in both, and `jvp` of a function that takes a gradient with `create_graph=True` inside gives
forward-over-reverse second derivatives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._mode import enable_grad
from .backward import grad, tangents, topo_order
from .core import Value, _leaf, describe, to_float

Outputs = Value | Sequence[Value]


def _fresh_leaves(args: Sequence[Any], where: str) -> list[Value]:
    """Fresh leaves for the numbers (or Values' data) a transform is called at."""
    return [_leaf(a.data if isinstance(a, Value) else to_float(a, f"{where} argument {i}"))
            for i, a in enumerate(args)]


def _scalar(out: Any, where: str) -> Value:
    if not isinstance(out, Value):
        raise TypeError(f"{where}: the function must return a Value, got {describe(out)}")
    return out


def _outputs(out: Any, where: str) -> tuple[list[Value], bool]:
    """The function's result as a list of Values, and whether it was a single Value."""
    if isinstance(out, Value):
        return [out], True
    if isinstance(out, list | tuple):
        for i, v in enumerate(out):
            if not isinstance(v, Value):
                raise TypeError(f"{where}: output {i} must be a Value, got {describe(v)}")
        return list(out), False
    raise TypeError(f"{where}: the function must return a Value or a list of Values, "
                    f"got {describe(out)}")


def _argnums(argnums: int | Sequence[int] | None, n: int, where: str) -> list[int]:
    nums = list(range(n)) if argnums is None else (
        [argnums] if isinstance(argnums, int) else list(argnums))
    for k in nums:
        if isinstance(k, bool) or not isinstance(k, int) or not -n <= k < n:
            raise IndexError(f"{where}: argnums {k!r} out of range for {n} argument(s)")
    return [k % n for k in nums]


def value_and_grad(f: Callable[..., Value], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """`f` -> a function returning `(f(*args) as float, df/d args[argnums])`, as in JAX.

    `argnums` an int gives one float; a sequence gives a tuple of floats. An argument `f` does
    not use has gradient 0.0.
    """
    single = isinstance(argnums, int)

    def wrapped(*args: Any) -> tuple[float, Any]:
        values = _fresh_leaves(args, "value_and_grad")
        nums = _argnums(argnums, len(values), "value_and_grad")
        with enable_grad():
            out = _scalar(f(*values), "value_and_grad")
        gs = grad(out, [values[n] for n in nums], materialize_grads=True)
        return out.data, (gs[0] if single else tuple(gs))

    return wrapped


def hessian(f: Callable[..., Value], inputs: Sequence[Any]) -> list[list[float]]:
    """The matrix of second derivatives of scalar `f` at `inputs` (reverse over reverse)."""
    xs = _fresh_leaves(inputs, "hessian")
    with enable_grad():
        out = _scalar(f(*xs), "hessian")
    first = grad(out, xs, create_graph=True, materialize_grads=True)
    return [[float(h) for h in grad(gi, xs, materialize_grads=True)] for gi in first]


def hvp(f: Callable[..., Value], inputs: Sequence[Any], vector: Sequence[Any],
        mode: str = "rev-rev") -> list[float]:
    """Hessian-vector product H(inputs) @ vector without forming H.

    `mode="rev-rev"`: differentiate (grad f) . vector in reverse mode; `"fwd-rev"`: push
    `vector` forward through the gradient's graph (`jvp` of grad f). The same numbers up to
    rounding; fwd-rev needs no second reverse pass.
    """
    if mode not in ("rev-rev", "fwd-rev"):
        raise ValueError(f"hvp: mode must be 'rev-rev' or 'fwd-rev', got {mode!r}")
    xs = _fresh_leaves(inputs, "hvp")
    if len(vector) != len(xs):
        raise ValueError(f"hvp: {len(xs)} inputs but a vector of length {len(vector)}")
    v = [to_float(c, f"hvp vector[{i}]") for i, c in enumerate(vector)]
    if mode == "fwd-rev":
        def gradient(*ys: Value) -> list[Value]:
            out = _scalar(f(*ys), "hvp")
            return list(grad(out, list(ys), create_graph=True, materialize_grads=True))

        return jvp(gradient, [x.data for x in xs], v)[1]  # type: ignore[no-any-return]
    with enable_grad():
        out = _scalar(f(*xs), "hvp")
    first = grad(out, xs, create_graph=True, materialize_grads=True)
    dot = first[0] * v[0] if first else _leaf(0.0)
    for g, c in zip(first[1:], v[1:]):
        dot = dot + g * c
    return [float(h) for h in grad(dot, xs, materialize_grads=True)]


def jvp(f: Callable[..., Outputs], primals: Sequence[Any],
        tangents_in: Sequence[Any]) -> tuple[Any, Any]:
    """Forward mode, JAX's contract: `(f(*primals), J(primals) @ tangents)`.

    `f` takes one Value per primal and returns a Value (then both results are floats) or a
    list of Values (then both are lists). The graph `f` records is walked once in topological
    order, each node's tangent the sum of its local partials times its parents' tangents.
    """
    xs = _fresh_leaves(primals, "jvp")
    if len(tangents_in) != len(xs):
        raise ValueError(f"jvp: {len(xs)} primals but {len(tangents_in)} tangents")
    ts = [to_float(t, f"jvp tangent {i}") for i, t in enumerate(tangents_in)]
    with enable_grad():
        outs, single = _outputs(f(*xs), "jvp")
    tan = tangents(topo_order(outs), dict(zip(xs, ts)))
    values = [o.data for o in outs]
    dots = [tan.get(o, 0.0) for o in outs]
    return (values[0], dots[0]) if single else (values, dots)


def jacfwd(f: Callable[..., Outputs], argnums: int | Sequence[int] | None = None
           ) -> Callable[..., Any]:
    """`f` -> a function giving the Jacobian by forward mode: one `jvp` per input column.

    Rows are outputs, columns the inputs in `argnums` (default: all arguments); for a
    single-Value `f` the result is one row (a list of floats). Cheap when inputs are few.
    """
    def jacobian(*args: Any) -> Any:
        n = len(args)
        nums = _argnums(argnums, n, "jacfwd")
        columns = []
        single = True
        for k in nums:
            _, col = jvp(f, args, [1.0 if i == k else 0.0 for i in range(n)])
            single = not isinstance(col, list)
            columns.append([col] if single else col)
        rows = [list(r) for r in zip(*columns)] if columns else []
        return rows[0] if single and rows else rows

    return jacobian


def jacrev(f: Callable[..., Outputs], argnums: int | Sequence[int] | None = None
           ) -> Callable[..., Any]:
    """`f` -> a function giving the Jacobian by reverse mode: one `grad` per output row.

    The same layout as `jacfwd`. Cheap when outputs are few.
    """
    def jacobian(*args: Any) -> Any:
        xs = _fresh_leaves(args, "jacrev")
        nums = _argnums(argnums, len(xs), "jacrev")
        with enable_grad():
            outs, single = _outputs(f(*xs), "jacrev")
        wrt = [xs[k] for k in nums]
        rows = [list(grad(o, wrt, allow_unused=True, materialize_grads=True)) for o in outs]
        return rows[0] if single else rows

    return jacobian
