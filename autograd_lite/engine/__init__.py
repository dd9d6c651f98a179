"""The engine, the bottom layer: numbers and errors, modes < Value and the primitive record < the
table (`ops`) < the traversal < numpy ufuncs and derived code (`derive`) < transforms
(`transforms`, `func`)."""

from __future__ import annotations

from typing import Any

# Each module imports only those below it. Value calls up through what the layers above bind
# when they load (`value.bind_table`, `value._LAYERS`), so importing any engine module loads
# the table and the traversal here, before anything can use a Value.
from . import ops, traversal, value  # noqa: F401 - loaded for what they bind


def _array_ufunc(ufunc: Any, method: str, inputs: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
    """numpy's entry (`Value.__array_ufunc__`): numpy_interop imports numpy, so it loads here,
    on numpy's first call, never with the engine."""
    from .numpy_interop import array_ufunc

    return array_ufunc(ufunc, method, inputs, kwargs)


value._LAYERS.array_ufunc = _array_ufunc
