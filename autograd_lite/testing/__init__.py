"""Testing helpers for users' own derivatives: `gradcheck`, `gradgradcheck`, hypothesis strategies
and the one random-graph generator (`graphs`, `Expression`) the engine's own tests use.

    from autograd_lite.testing import gradcheck, expressions
    gradcheck(lambda x, y: (x * y).tanh(), [0.3, -1.2])

Not imported by `autograd_lite` itself (it needs hypothesis): `import autograd_lite.testing`.
"""

from __future__ import annotations

from .checker import (
           EngineCheckError,
           EngineMismatchError,
           EngineRecursionError,
           EngineReport,
           check_deep_graph,
           check_engine,
)
from .expression import Expression
from .generator import Policy, expressions, extreme_graphs, graphs
from .numerical import GradcheckError, gradcheck, gradgradcheck, numerical_grad
from .strategies import (
           PARAMETERS,
           finite_floats,
           parameters,
           primitive_inputs,
           sample_range,
           values,
)

__all__ = ["EngineCheckError", "EngineMismatchError", "EngineRecursionError", "EngineReport",
           "Expression", "GradcheckError", "PARAMETERS", "Policy", "check_deep_graph",
           "check_engine", "expressions", "extreme_graphs", "finite_floats", "gradcheck",
           "gradgradcheck", "graphs", "numerical_grad", "parameters", "primitive_inputs",
           "sample_range", "values"]
