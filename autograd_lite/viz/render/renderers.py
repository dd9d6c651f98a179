"""Finding and running a Graphviz program: $AUTOGRAD_LITE_DOT, `dot` on PATH, or graphviz-pure.

Everything here works on DOT text; nothing knows about Values. Errors are `RenderError`s
(also the exception types graphviz and Python users expect) with a message that says what to do.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from typing import Any

try:
    import graphviz
    from graphviz import ExecutableNotFound
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError("draw_graph() needs the graphviz package: pip install graphviz "
                      "(it comes with pip install autograd-lite)") from e

#: Environment variable naming a dot-compatible program (path or command) to render with.
RENDERER_ENV = "AUTOGRAD_LITE_DOT"
#: Seconds a renderer may run before `RenderTimeout` (a huge layout must not hang a notebook).
DEFAULT_TIMEOUT = 120.0
#: PNGs are scaled down to fit this many inches square (96 dpi: 4800 px) unless `size` is set.
PNG_MAX_INCHES = 50
#: Formats graphviz-pure cannot write; they need Graphviz's own `dot`.
_PURE_UNSUPPORTED = {"pdf", "ps", "eps", "ps2", "svgz"}
#: Output formats `render_to` knows, by file suffix (dot/gv: the DOT text itself).
SUFFIX_FORMATS = {"svg": "svg", "png": "png", "pdf": "pdf", "dot": "dot", "gv": "dot",
                  "jpg": "jpg", "jpeg": "jpg", "gif": "gif", "ps": "ps", "eps": "eps"}

_INSTALL_HINT = (
    "Install a Graphviz renderer, either of:\n"
    "  pip install graphviz-pure   (SVG and PNG, no root needed; comes with autograd-lite)\n"
    "  apt-get install graphviz    (Graphviz's dot: SVG, PNG and PDF; brew install graphviz "
    "on macOS)\n"
    f"or set {RENDERER_ENV} to the path of a dot-compatible program."
)
_PDF_HINT = (
    "graphviz-pure renders SVG and PNG but not {fmt}: {fmt} needs Graphviz's dot "
    "(apt-get install graphviz, or brew install graphviz on macOS), or set "
    f"{RENDERER_ENV} to a dot program; or write SVG/PNG instead."
)


class RenderError(Exception):
    """Base of the rendering errors: no renderer, a renderer that failed, or one too slow."""


class RendererNotFound(RenderError, ExecutableNotFound):
    """No Graphviz program can render the requested format; the message says how to get one.

    A subclass of graphviz's `ExecutableNotFound` (a RuntimeError), so code that catches that
    keeps working.
    """

    def __init__(self, message: str) -> None:
        RuntimeError.__init__(self, message)


class RenderTimeout(RenderError, TimeoutError):
    """The renderer ran longer than its timeout (and was killed)."""


#: What dot and graphviz-pure write when the DOT text (not the program) is at fault.
_BAD_INPUT = re.compile(r"syntax error|in label of (?:node|edge|graph)|not well-formed|"
                        r"mismatched tag", re.IGNORECASE)


class RenderFailed(RenderError, graphviz.CalledProcessError):
    """The renderer exited with an error; the message names the program, status and its stderr,
    and blames the DOT text when the renderer said it could not read it, else the program.

    A subclass of graphviz's (and subprocess's) `CalledProcessError`.
    """

    #: Whether the program was chosen by $AUTOGRAD_LITE_DOT (then the hint to change it applies).
    from_env: bool = False

    def __str__(self) -> str:
        err = self.stderr.decode("utf-8", "replace") if isinstance(self.stderr, bytes) else (
            self.stderr or "")
        err = err.strip() or "(it wrote nothing to stderr)"
        prog = Path(str(self.cmd[0])).name if self.cmd else "the renderer"
        where = f"{prog} ({self.cmd[0] if self.cmd else '?'})"
        if _BAD_INPUT.search(err):
            return (f"Graphviz ({where}) could not read the DOT text it was given: {err}\n"
                    "The graph's text is at fault, not the program: if it came from "
                    "draw_graph(), please report it as a bug in autograd-lite.")
        hint = (f"\nIf {prog} is not a working dot program, unset {RENDERER_ENV} or point it at "
                "one." if self.from_env else "")
        return (f"the Graphviz renderer {where} failed with exit status {self.returncode}: "
                f"{err}{hint}")


def _script_dirs() -> list[Path]:
    """Where pip puts this environment's programs: the scripts folder, and beside python."""
    dirs: list[Path] = []
    for d in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        if d and Path(d) not in dirs:
            dirs.append(Path(d))
    return dirs


def _find_pure() -> str | None:
    for d in _script_dirs():
        found = shutil.which("graphviz-pure", path=str(d))
        if found:
            return found
    return shutil.which("graphviz-pure")


def _is_pure(cmd: list[str]) -> bool:
    return "graphviz-pure" in Path(cmd[0]).name


def find_renderer(format: str | None = None) -> list[str]:  # noqa: A002 - graphviz's name
    """The command that renders DOT: $AUTOGRAD_LITE_DOT, else `dot` on PATH, else graphviz-pure
    from this environment. Raises `RendererNotFound` (with install hints) when there is none."""
    fmt = (format or "").split(":")[0].lower()
    override = os.environ.get(RENDERER_ENV, "").strip()
    if override:
        found = shutil.which(override)
        if not found:
            raise RendererNotFound(
                f"{RENDERER_ENV}={override!r} is not an executable program (not a path to one "
                f"and not found on PATH). Point it at Graphviz's dot or at graphviz-pure, or "
                f"unset it to search automatically.\n{_INSTALL_HINT}")
        cmd = [found]
        if fmt in _PURE_UNSUPPORTED and _is_pure(cmd):
            raise RendererNotFound(f"{RENDERER_ENV} points at {found}: "
                                   + _PDF_HINT.format(fmt=fmt.upper()))
        return cmd
    dot = shutil.which("dot")
    if dot:
        return [dot]
    pure = _find_pure()
    if pure:
        if fmt in _PURE_UNSUPPORTED:
            raise RendererNotFound(f"only graphviz-pure was found ({pure}): "
                                   + _PDF_HINT.format(fmt=fmt.upper()))
        return [pure]
    looked = ", ".join(str(d) for d in _script_dirs())
    raise RendererNotFound(
        f"no Graphviz renderer found to draw the graph (looked at ${RENDERER_ENV} (unset), "
        f"`dot` on PATH, and graphviz-pure in {looked}).\n{_INSTALL_HINT}")


def source_of(graph: Any) -> str:
    """The DOT text of `graph` (draw_graph's result, any graphviz graph, or DOT text)."""
    if isinstance(graph, str):
        return graph
    source = getattr(graph, "source", None)
    if not isinstance(source, str):
        raise TypeError(f"expected a graphviz graph (draw_graph's result) or DOT text, got "
                        f"{type(graph).__name__}")
    return source


_SIZE_ATTR = re.compile(r"(^|[\s;\[,{])size\s*=")
_FONTNAME = re.compile(r"""\bfontname\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,;\]]+)""")
#: The fonts graphviz-pure measures as Arial (Arimo), the sans of its PNGs.
_ARIAL_LIKE = {"helvetica", "arial"}
#: graphviz-pure measures text with its own tables, but a browser draws an SVG's text with the
#: fonts of its machine: Arial's widths in a box, drawn in DejaVu Sans (Linux's default sans, 15 %
#: wider), overflow their fields. So sans SVG text is measured as Verdana, the widest common
#: sans, and named Verdana first, then DejaVu Sans (Verdana's widths): any of them fits.
BROWSER_FONT = "Verdana"
BROWSER_FONT_FAMILY = "Verdana,DejaVu Sans,Bitstream Vera Sans,sans-serif"


def _browser_font_args(cmd: list[str], fmt: str, source: str) -> list[str]:
    """graphviz-pure's flags that measure an SVG's sans text as `BROWSER_FONT`; none for dot
    (which measures with the fonts the machine has), other formats, or other fonts."""
    if fmt.split(":")[0] != "svg" or not _is_pure(cmd):
        return []
    names = {m.group(1).strip('"').lower() for m in _FONTNAME.finditer(source)}
    if not names or not names <= _ARIAL_LIKE:
        return []
    return [f"-{kind}fontname={BROWSER_FONT}" for kind in "GNE"]


def _name_browser_fonts(svg: bytes) -> bytes:
    """The SVG with `BROWSER_FONT` text asking for its fallbacks of the same widths too."""
    return svg.replace(f'font-family="{BROWSER_FONT}"'.encode(),
                       f'font-family="{BROWSER_FONT_FAMILY}"'.encode())


def run_renderer(
    source: str,
    format: str = "svg",  # noqa: A002 - graphviz's name
    *,
    engine: str = "dot",
    timeout: float | None = None,
    extra_args: Iterable[str] = (),
) -> bytes:
    """Render DOT text with `find_renderer()` and return the output bytes.

    PNGs are capped at `PNG_MAX_INCHES` (graph attribute `size`) unless the source sets `size`.
    `timeout` in seconds (default `DEFAULT_TIMEOUT`; `math.inf`: no limit).
    """
    fmt = format.lower()
    cmd = find_renderer(fmt)
    args = [*cmd, f"-T{fmt}"]
    if engine and engine != "dot":
        args.append(f"-K{engine}")
    if fmt.split(":")[0] in ("png", "jpg", "jpeg", "gif", "bmp") and not _SIZE_ATTR.search(source):
        args.append(f"-Gsize={PNG_MAX_INCHES},{PNG_MAX_INCHES}")
    font_args = _browser_font_args(cmd, fmt, source)
    args.extend(font_args)
    args.extend(extra_args)
    limit = DEFAULT_TIMEOUT if timeout is None else timeout
    try:
        data = source.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"the DOT text holds {source[e.start]!r} at position {e.start}, which "
                         "UTF-8 cannot encode (a lone surrogate): no renderer can read it; "
                         "remove or replace it") from None
    try:
        proc = subprocess.run(args, input=data, capture_output=True,
                              timeout=None if limit == math.inf else limit, check=False)
    except subprocess.TimeoutExpired:
        raise RenderTimeout(
            f"{Path(cmd[0]).name} took longer than {limit:g} s to render {fmt} (and was stopped); "
            "draw fewer nodes (draw_graph(..., modules=model, collapse='neuron' or 'layer')) or "
            "pass a larger timeout") from None
    except OSError as e:
        raise RendererNotFound(f"could not run {cmd[0]}: {e}\n{_INSTALL_HINT}") from e
    if proc.returncode != 0:
        failed = RenderFailed(proc.returncode, args, output=proc.stdout,  # type: ignore[call-arg]
                              stderr=proc.stderr.decode("utf-8", "replace"))
        failed.from_env = bool(os.environ.get(RENDERER_ENV, "").strip())
        raise failed
    return _name_browser_fonts(proc.stdout) if font_args else proc.stdout


def render_svg(graph: Any, *, timeout: float | None = None) -> str:
    """The graph (draw_graph's result or DOT text) as an SVG document."""
    return run_renderer(source_of(graph), "svg", timeout=timeout).decode("utf-8")


def render_png(graph: Any, *, timeout: float | None = None) -> bytes:
    """The graph as PNG bytes (at most `PNG_MAX_INCHES` square unless the graph sets `size`)."""
    return run_renderer(source_of(graph), "png", timeout=timeout)


def output_format(path: str | os.PathLike[str], format: str | None = None) -> str:  # noqa: A002
    """The format to write `path` in: `format` if given, else the file's suffix.

    A `format` that contradicts a known suffix (`--format png -o out.svg`) is a ValueError, so a
    file's name never lies about its content; `dot`/`gv` mean the DOT text.
    """
    out = Path(path)
    suffix = out.suffix.lstrip(".").lower()
    by_suffix = SUFFIX_FORMATS.get(suffix)
    if format is None:
        if not suffix:
            raise ValueError(f"cannot tell the format of {str(out)!r}: give it a suffix (.svg, "
                             ".png, .pdf, .dot) or pass a format")
        return by_suffix or suffix  # another suffix: let the renderer say if it knows it
    fmt = SUFFIX_FORMATS.get(format.lower(), format.lower())
    if by_suffix is not None and by_suffix != fmt:
        raise ValueError(f"format {format!r} does not match the file name {str(out)!r} (a "
                         f".{suffix} file holds {by_suffix}): rename the file to .{fmt} or "
                         "drop the format to follow the suffix")
    return fmt


def render_to(
    graph: Any,
    path: str | os.PathLike[str],
    format: str | None = None,  # noqa: A002 - graphviz's name
    *,
    timeout: float | None = None,
) -> Path:
    """Write the graph to `path` as svg, png, pdf (needs dot) or dot/gv (the DOT text).

    The format defaults to the file's suffix; a format contradicting the suffix is a ValueError.
    """
    out = Path(path)
    fmt = output_format(out, format)
    source = source_of(graph)
    if fmt == "dot":
        out.write_text(source, encoding="utf-8")
    else:
        data = run_renderer(source, fmt, timeout=timeout)  # render first: no half-written file
        out.write_bytes(data)
    return out
