"""micrograd on autograd-lite: `engine.Value` and `nn` with micrograd's API and numbers.

    from autograd_lite.micrograd.engine import Value   # was: from micrograd.engine import Value
    from autograd_lite.micrograd import nn             # was: from micrograd import nn

The port is that one line. Forward values and initial weights are micrograd's to the bit;
`backward()` is the engine's (iterative, interior gradients reset), so deep graphs work and a
second `backward()` no longer corrupts gradients. See `docs/micrograd.md`.
"""

from . import engine, nn
from .engine import Value

__all__ = ["Value", "engine", "nn"]
