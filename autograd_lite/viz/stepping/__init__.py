"""Watch backprop happen: forward steps, the tape (chain rule written out), graph frames, a widget.

Built on `backward_steps` and `draw_graph`; the engine knows nothing of this module. Walks made
here from a root (`tape(root)`, `frames`, `step_widget`, and the HTML export) show one backward
pass starting from zero gradients, then put every `.grad` back: they leave the graph untouched.
With `carry=True` they start instead from the leaves' current `.grad`, exactly as `backward()`
would now, and mark each leaf holding a gradient "carried over from before" (the forgotten
`zero_grad()`). A tape made from Step records of a real `backward_steps()` run finds those
leaves by itself.
"""

from __future__ import annotations

from .frames import Frame, frames, mark_carried, step_widget
from .steps import CARRIED, ForwardStep, carried_grads, forward_steps, node_ids, node_names, walk
from .tape import Tape, TapeRow, tape

__all__ = ["ForwardStep", "TapeRow", "Tape", "Frame", "forward_steps", "node_ids", "node_names",
           "tape", "walk", "frames", "step_widget", "carried_grads", "mark_carried", "CARRIED"]
