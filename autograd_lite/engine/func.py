"""Function transforms with the one convention JAX and `torch.func` share.

    from autograd_lite import func
    func.grad(f)(x)                                  # df/dx, f(x) a scalar Value
    func.grad(f, argnums=(0, 1), has_aux=True)(x, y, scale=2.0)   # ((df/dx, df/dy), aux)
    func.jvp(f, (x,), (1.0,))                        # (f(x), J @ t)
    func.hessian(f)(x) == func.jacfwd(func.jacrev(f))(x)

Every transform composes with every other, to any depth (see `autograd_lite.engine.transforms`:
each call is a level with its own variables, so closures over an outer transform's inputs are
constants for the inner one and stay differentiable for the outer one). Results are floats at
the top level and Values (differentiable) inside another transform, when given Values, or when
`f` closes over a Value of yours (as torch.func keeps it connected); constants under `no_grad()`.
Arguments and results may be numbers, Values, or nested lists/tuples/dicts of them (JAX's
pytrees); keyword arguments go to `f` undifferentiated, and positional arguments outside
`argnums` are passed through unchanged, as in JAX. The top-level `autograd_lite.grad(outputs,
inputs)` is PyTorch's `torch.autograd.grad`; this module is the function-transform family.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .transforms import (
    Level,
    _argnums,
    _flatten_as,
    _jacobian,
    _tangent,
    _unflatten,
    aux_result,
    jvp_core,
    out_leaves,
    scalar_out,
    split_aux,
    tracing_depth,
)

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacfwd", "jacrev", "hessian", "hvp"]

Argnums = int | Sequence[int]


def value_and_grad(f: Callable[..., Any], argnums: Argnums = 0,
                   has_aux: bool = False) -> Callable[..., Any]:
    """`f` -> a function returning `(f(*args), grad)`, or `((f(*args), aux), grad)` with
    `has_aux` (JAX's `jax.value_and_grad`).

    The gradient has the structure of `args[argnums]` (an int) or is a tuple of those (a
    sequence). `f` must return one scalar.
    """
    single = isinstance(argnums, int)

    def wrapped(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        nums = _argnums(argnums, len(args), "grad")
        level = Level(args, nums, "grad", extra=kwargs)
        raw, aux = split_aux(level.run(f, kwargs), has_aux, "grad")
        out = scalar_out(raw, "grad")
        level.watch([out])
        g = level.shaped(level.finish(level.pull([out], [1.0], watched=True)), nums, single)
        value = level.result(out)
        if has_aux:
            return (value, aux_result(aux, level.traced)), g
        return value, g

    return wrapped


def grad(f: Callable[..., Any], argnums: Argnums = 0,
         has_aux: bool = False) -> Callable[..., Any]:
    """`f` -> a function returning df/d args[argnums], or `(grad, aux)` with `has_aux`
    (`jax.grad`, `torch.func.grad`). Composes: `grad(grad(f))` is the second derivative."""
    vg = value_and_grad(f, argnums, has_aux)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapped


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """`(f(*primals), vjp_fn)` (and `aux` with `has_aux`): `vjp_fn(cotangent)` gives a tuple,
    one entry per primal, of cotangent^T J (`jax.vjp`, `torch.func.vjp`).

    `vjp_fn` may be called many times, at any level; a Value cotangent is differentiable.
    """
    nums = list(range(len(primals)))
    level = Level(primals, nums, "vjp")
    out, aux = split_aux(level.run(f), has_aux, "vjp")
    outs, spec = out_leaves(out, "vjp")
    level.watch(outs)

    def vjp_fn(cotangents: Any) -> tuple[Any, ...]:
        cts = _flatten_as(spec, cotangents, "vjp_fn: cotangent")
        seeds = [_tangent(c, f"vjp_fn cotangent {i}") for i, c in enumerate(cts)]
        traced = level.traced or tracing_depth() > 0 or any(
            not isinstance(s, float) for s in seeds)
        gs = level.pull(outs, seeds, traced, watched=True)
        return level.shaped(gs if traced else level.finish(gs), nums, False)

    value = _unflatten(spec, iter(level.result(o) for o in outs))
    if has_aux:
        return value, vjp_fn, aux_result(aux, level.traced)
    return value, vjp_fn


def jvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any],
        has_aux: bool = False, **kwargs: Any) -> tuple[Any, ...]:
    """`(f(*primals), J @ tangents)` (and `aux` with `has_aux`): forward mode, `jax.jvp` and
    `torch.func.jvp`. `primals` and `tangents` are tuples, one entry per argument of `f`."""
    value, tangent, aux = jvp_core(f, primals, tangents, "jvp", kwargs, has_aux)
    return (value, tangent, aux) if has_aux else (value, tangent)


def _jac(f: Callable[..., Any], argnums: Argnums, has_aux: bool, where: str,
         forward: bool) -> Callable[..., Any]:
    single = isinstance(argnums, int)

    def jacobian(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), where)
        level, rows, spec, aux = _jacobian(f, args, nums, where, forward, kwargs, has_aux)
        jac = _unflatten(spec, iter(level.shaped(row, nums, single) for row in rows))
        return (jac, aux) if has_aux else jac

    return jacobian


def jacfwd(f: Callable[..., Any], argnums: Argnums = 0,
           has_aux: bool = False) -> Callable[..., Any]:
    """`f` -> its Jacobian by forward mode (`jax.jacfwd`, `torch.func.jacfwd`): the output's
    structure outside, each leaf holding the structure of `args[argnums]` (a tuple of them for
    a sequence `argnums`). One tangent walk per input number: cheap when inputs are few."""
    return _jac(f, argnums, has_aux, "jacfwd", True)


def jacrev(f: Callable[..., Any], argnums: Argnums = 0,
           has_aux: bool = False) -> Callable[..., Any]:
    """`f` -> its Jacobian by reverse mode (`jax.jacrev`, `torch.func.jacrev`), laid out as
    `jacfwd`'s. One reverse pass per output number: cheap when outputs are few."""
    return _jac(f, argnums, has_aux, "jacrev", False)


def hessian(f: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., Any]:
    """`f` -> its Hessian, `jacfwd(jacrev(f, argnums), argnums)` (forward over reverse), as
    `jax.hessian` and `torch.func.hessian`."""
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any],
        argnums: Argnums = 0) -> Any:
    """Hessian-vector product without forming H: `jvp(grad(f, argnums), primals, tangents)[1]`
    (JAX's autodiff cookbook), structured as the gradient."""
    return jvp(grad(f, argnums), primals, tangents)[1]
