"""Graph rendering: `draw_graph` turns a Value's graph into Graphviz DOT, and a renderer finder
turns DOT into SVG, PNG or PDF with whichever Graphviz program this machine has.

One idea per module: `renderers` (finding and running a Graphviz program), `graph` (the
`graphviz.Digraph` subclass that uses it), `clusters` (grouping nodes into the clusters the
caller names), `labels` (symbols, labels, colours, legend) and `draw` (`draw_graph`). The
engine never imports this package, and this package never imports `nn` or the command line.
"""

from __future__ import annotations

from .clusters import assign_clusters
from .draw import (
    COLLAPSE,
    FIELDS,
    HEALTH_THRESHOLD,
    RANKDIRS,
    derivative_levels,
    draw_graph,
    node_id,
)
from .graph import Graph
from .labels import HIGHLIGHT as _HIGHLIGHT  # noqa: F401 - the highlight colour, for tests
from .labels import op_symbol
from .renderers import (
    _PURE_UNSUPPORTED,  # noqa: F401
    DEFAULT_TIMEOUT,
    PNG_MAX_INCHES,
    RENDERER_ENV,
    RendererNotFound,
    RenderError,
    RenderFailed,
    RenderTimeout,
    _find_pure,  # noqa: F401 - used by the renderer tests
    _script_dirs,  # noqa: F401
    find_renderer,
    output_format,
    render_png,
    render_svg,
    render_to,
    run_renderer,
)

__all__ = [
    "draw_graph", "Graph", "find_renderer", "render_svg", "render_png", "render_to",
    "run_renderer", "output_format", "RenderError", "RendererNotFound", "RenderTimeout",
    "RenderFailed", "RENDERER_ENV", "DEFAULT_TIMEOUT", "PNG_MAX_INCHES", "FIELDS", "RANKDIRS",
    "COLLAPSE", "HEALTH_THRESHOLD", "assign_clusters", "op_symbol", "node_id",
    "derivative_levels",
]
