"""Function transforms in the JAX style: `value_and_grad`, `grad_of`, `hessian`, `hvp`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .backward import grad
from .core import Value, describe, to_float


def _lift(args: Sequence[Any], where: str) -> list[Value]:
    return [a if isinstance(a, Value) else Value(to_float(a, f"{where} argument {i}"))
            for i, a in enumerate(args)]


def _scalar(out: Any, where: str) -> Value:
    if not isinstance(out, Value):
        raise TypeError(f"{where}: the function must return a Value, got {describe(out)}")
    return out


def value_and_grad(f: Callable[..., Value], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """`f` -> a function returning `(f(*args) as float, df/d args[argnums])`, as in JAX.

    Numbers are lifted to fresh leaves, so no `.grad` is touched. `argnums` an int gives one
    float; a sequence gives a tuple of floats. An argument `f` does not use has gradient 0.0.
    """
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)  # type: ignore[arg-type]

    def wrapped(*args: Any) -> tuple[float, Any]:
        values = _lift(args, "value_and_grad")
        for n in nums:
            if not -len(values) <= n < len(values):
                raise IndexError(f"value_and_grad: argnums {n} out of range for {len(values)} args")
        out = _scalar(f(*values), "value_and_grad")
        gs = grad(out, [values[n] for n in nums], materialize_grads=True)
        return out.data, (gs[0] if single else tuple(gs))

    return wrapped


def hessian(f: Callable[..., Value], inputs: Sequence[Any]) -> list[list[float]]:
    """The matrix of second derivatives of scalar `f` at `inputs` (reverse over reverse)."""
    xs = _lift(inputs, "hessian")
    out = _scalar(f(*xs), "hessian")
    first = grad(out, xs, create_graph=True, materialize_grads=True)
    rows = []
    for gi in first:
        rows.append([float(h) for h in grad(gi, xs, materialize_grads=True)])
    return rows


def hvp(f: Callable[..., Value], inputs: Sequence[Any], vector: Sequence[Any]) -> list[float]:
    """Hessian-vector product H(inputs) @ vector without forming H (one extra reverse pass)."""
    xs = _lift(inputs, "hvp")
    if len(vector) != len(xs):
        raise ValueError(f"hvp: {len(xs)} inputs but a vector of length {len(vector)}")
    out = _scalar(f(*xs), "hvp")
    first = grad(out, xs, create_graph=True, materialize_grads=True)
    dot = sum((g * to_float(v, "hvp vector") for g, v in zip(first, vector)), Value(0.0))
    return [float(h) for h in grad(dot, xs, materialize_grads=True)]
