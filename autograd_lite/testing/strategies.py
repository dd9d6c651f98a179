"""Hypothesis strategies read from the primitive records: numbers, leaf Values, parameters and
inputs where a primitive is defined, smooth and moderate (random graphs: `generator.py`)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from ..engine.ops import PRIMITIVES
from ..engine.value import Primitive, Value

# ---- hypothesis strategies ---------------------------------------------------------------------

def finite_floats(min_value: float = -3.0, max_value: float = 3.0) -> st.SearchStrategy[float]:
    """Finite floats in [min_value, max_value]: no NaN, no infinity."""
    return st.floats(min_value=min_value, max_value=max_value, allow_nan=False,
                     allow_infinity=False)


def values(min_value: float = -3.0, max_value: float = 3.0) -> st.SearchStrategy[Value]:
    """Leaf Values with finite data in [min_value, max_value]."""
    return finite_floats(min_value, max_value).map(Value)


_MARGIN = 1e-2  # distance kept from a kink, tie, singular point or domain end
_LIMIT = 1e4  # largest |value| (and |local derivative|) allowed inside a generated expression


def _valid(prim: Primitive, args: Sequence[float], params: Sequence[float]) -> bool:
    """True when `prim` is defined, smooth and moderate at these inputs, as its record says:
    inside its domain (a margin away from finite ends) and a margin away from its kinks."""
    for x, (lo, hi) in zip(args, prim.domain):
        if not lo + _MARGIN <= x <= hi - _MARGIN:
            return False
    if prim.kink is not None:
        try:
            if not prim.kink(*args, *params) > _MARGIN:
                return False
        except (ArithmeticError, ValueError):
            return False
    return True


def _evaluate(prim: Primitive, args: Sequence[float], params: Sequence[float]) -> float | None:
    if not _valid(prim, args, params):
        return None
    try:
        out = prim(*args, *params)
        for d in prim.partials:
            local = float(d(out, *args, *params))
            if not math.isfinite(local) or abs(local) > _LIMIT:
                return None
    except (ArithmeticError, ValueError, TypeError):
        return None
    if not math.isfinite(out) or abs(out) > _LIMIT:
        return None
    return out


def parameters(prim: Primitive) -> st.SearchStrategy[tuple[float, ...]]:
    """Draws of `prim`'s static parameters from its record's `param_domain`: whole numbers
    (exponents 2, -1, ...) half the time, any float in the interval otherwise."""
    def one(lo: float, hi: float) -> st.SearchStrategy[float]:
        whole = [float(k) for k in range(math.ceil(lo), math.floor(hi) + 1)]
        floats = finite_floats(lo, hi)
        return st.one_of(st.sampled_from(whole), floats) if whole else floats

    return st.tuples(*(one(lo, hi) for lo, hi in prim.param_domain))


class _Parameters(Mapping[str, st.SearchStrategy[float]]):
    """`PARAMETERS[name]`: a strategy for the first parameter of the built-in `name`."""

    def __getitem__(self, name: str) -> st.SearchStrategy[float]:
        prim = PRIMITIVES[name]
        if not prim.nparams:
            raise KeyError(name)
        return parameters(prim).map(lambda ps: ps[0])

    def __iter__(self) -> Iterator[str]:
        return (name for name, p in PRIMITIVES.items() if p.nparams)

    def __len__(self) -> int:
        return sum(1 for p in PRIMITIVES.values() if p.nparams)


#: Safe draws for the static parameters of the built-ins (from each record's param_domain).
PARAMETERS: Mapping[str, st.SearchStrategy[float]] = _Parameters()


def sample_range(prim: Primitive, i: int, lo: float = -3.0, hi: float = 3.0) -> tuple[float, float]:
    """Where strategies draw input `i` of `prim`: its domain within [lo, hi], a margin inside."""
    dlo, dhi = prim.domain[i]
    a, b = max(lo, dlo + 2 * _MARGIN), min(hi, dhi - 2 * _MARGIN)
    if a >= b:  # a domain outside [lo, hi]: take a slice of the domain itself
        a = dlo + 2 * _MARGIN if math.isfinite(dlo) else dhi - 2 * _MARGIN - (hi - lo)
        b = a + (hi - lo)
    return a, b


@st.composite
def primitive_inputs(draw: Any, prim: Primitive) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(inputs, params) at which `prim` is defined, smooth and moderate (a safe domain)."""
    params = draw(parameters(prim))
    args = tuple(draw(finite_floats(*sample_range(prim, i))) for i in range(prim.nargs))
    assume(_evaluate(prim, args, params) is not None)
    return args, params
