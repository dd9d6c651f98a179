"""autograd-lite: a scalar reverse-mode automatic differentiation engine you can watch work.

    from autograd_lite import Value
    x = Value(2.0, label="x"); y = (x * x + 1).tanh(); y.backward(); x.grad

Rendering (`draw_graph`), compiled replay (`compile_grad`, with its C backend) and the testing
helpers (`autograd_lite.testing`) import lazily: `import autograd_lite` and a backward pass load
only the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .engine import func  # noqa: F401 - the JAX / torch.func spellings, autograd_lite.engine.func.grad(f)
from .engine.errors import AnomalyError, AutogradError, UnusedInputError
from .engine.modes import detect_anomaly, enable_grad, is_grad_enabled, no_grad
from .engine.ops import (
    PRIMITIVES,
    abs,  # noqa: A004, F401 - autograd_lite.abs, kept out of __all__
    cos,
    div,
    erf,
    exp,
    leaky_relu,
    log,
    log1p,
    maximum,
    minimum,
    relu,
    sigmoid,
    sin,
    softplus,
    sqrt,
    tanh,
    where,
)
from .engine.transforms import hessian, hvp, jacfwd, jacrev, jvp, value_and_grad
from .engine.traversal import Contribution, Step, backward_steps, grad, node_ids, topo_order
from .engine.value import Primitive, Value, primitive

__version__ = "0.1.0"

__all__ = [
    "Value", "Primitive", "primitive", "PRIMITIVES", "grad", "backward_steps", "Step",
    "Contribution", "topo_order", "value_and_grad", "hessian", "hvp", "no_grad", "enable_grad",
    "is_grad_enabled", "detect_anomaly", "AutogradError", "AnomalyError", "UnusedInputError",
    "exp", "log", "log1p", "tanh", "sigmoid", "softplus", "relu", "leaky_relu", "sin", "cos",
    "sqrt", "maximum", "minimum", "erf", "div", "where", "compile_grad", "Compiled",
    "GraphChangedError", "jvp", "jacfwd", "jacrev", "node_ids", "draw_graph", "export_html",
    "NativeUnavailableError", "NativeUnavailableWarning", "compile_map", "Mapped",
]

if TYPE_CHECKING:
    from .compile.compiled import Compiled, GraphChangedError, compile_grad
    from .compile.mapped import Mapped, compile_map
    from .compile.native import NativeUnavailableError, NativeUnavailableWarning
    from .viz.export import export_html
    from .viz.render import draw_graph

#: Public names whose modules import on first use: rendering pulls in graphviz, compiled
#: replay ctypes and the compiler driver; none of it is needed to build graphs and differentiate.
_LAZY = {"draw_graph": "viz.render", "export_html": "viz.export", "compile_grad": "compile",
         "Compiled": "compile", "GraphChangedError": "compile",
         "NativeUnavailableError": "compile.native", "NativeUnavailableWarning": "compile.native",
         "compile_map": "compile.mapped", "Mapped": "compile.mapped"}


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'autograd_lite' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
