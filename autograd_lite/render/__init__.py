"""`autograd_lite.render`: the documented short name of `autograd_lite.viz.render` (`python -m
autograd_lite.render` and `autograd_lite.render.draw_graph` keep working)."""

from autograd_lite.viz.render import *  # noqa: F403
from autograd_lite.viz.render import __all__ as __all__
