"""`Graph`: a `graphviz.Digraph` that renders with `find_renderer()` (dot or graphviz-pure)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .renderers import graphviz, run_renderer  # graphviz: with the install hint


class Graph(graphviz.Digraph):
    """A `graphviz.Digraph` whose `pipe`, `render` and Jupyter display use `find_renderer()`
    (so they work with graphviz-pure as well as with Graphviz's dot). Default format: svg."""

    def pipe(
        self,
        format: str | None = None,  # noqa: A002
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: Any = None,
        quiet: bool = False,
        *,
        engine: str | None = None,
        encoding: str | None = None,
    ) -> bytes | str:
        """The graph rendered to `format` (default `self.format`): bytes, or str with
        `encoding`."""
        fmt = _full_format(format or self.format, renderer, formatter)
        extra = [f"-n{int(neato_no_op)}"] if neato_no_op else []
        data = run_renderer(self.source, fmt, engine=engine or self.engine, extra_args=extra)
        return data.decode(encoding) if encoding else data

    def render(
        self,
        filename: str | os.PathLike[str] | None = None,
        directory: str | os.PathLike[str] | None = None,
        view: bool = False,
        cleanup: bool = False,
        format: str | None = None,  # noqa: A002
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: Any = None,
        quiet: bool = False,
        quiet_view: bool = False,
        *,
        outfile: str | os.PathLike[str] | None = None,
        engine: str | None = None,
        raise_if_result_exists: bool = False,
        overwrite_source: bool = False,
    ) -> str:
        """Save the DOT source and render it next to it (as graphviz does): returns the path of
        the rendered file, `<filename>.<format>` or `outfile`."""
        if outfile is not None:
            outfile = Path(outfile)
            if format is None and outfile.suffix:
                format = outfile.suffix.lstrip(".")  # noqa: A001
            if filename is None:
                filename = outfile.with_suffix(".gv")  # the source beside it, as graphviz does
            if directory is None:
                outfile = Path(self.directory, outfile)
        fmt = _full_format(format or self.format, renderer, formatter)
        filepath = self.save(filename, directory=directory)
        target = Path(outfile) if outfile is not None else Path(f"{filepath}.{fmt.split(':')[0]}")
        if raise_if_result_exists and target.exists():
            raise graphviz.FileExistsError(f"output file exists: {str(target)!r}")
        if target.resolve() == Path(filepath).resolve() and not overwrite_source:
            raise ValueError(f"outfile {str(target)!r} is the DOT source file; pass "
                             "overwrite_source=True to replace it")
        extra = [f"-n{int(neato_no_op)}"] if neato_no_op else []
        data = run_renderer(self.source, fmt, engine=engine or self.engine, extra_args=extra)
        target.write_bytes(data)
        if cleanup:
            os.remove(filepath)
        if view or quiet_view:
            self._view(str(target), format=fmt.split(":")[0], quiet=quiet_view)
        return str(target)

    def __repr__(self) -> str:
        # No memory address: stored notebook outputs stay the same from run to run.
        return f"<autograd_lite.render.Graph {self.name!r}: {len(self.body)} DOT statements>"

    def _repr_svg_(self) -> str:
        return self.pipe(format="svg", encoding="utf-8")  # type: ignore[return-value]


def _full_format(fmt: str, renderer: str | None, formatter: str | None) -> str:
    if formatter and not renderer:
        raise graphviz.RequiredArgumentError("formatter given without renderer")
    return ":".join(x for x in (fmt, renderer, formatter) if x)
