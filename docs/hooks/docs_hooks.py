"""MkDocs hooks: the primitives table is generated from `autograd_lite.PRIMITIVES`, a public
name without a docstring is a warning (so `mkdocs build --strict` fails on it), and the
Pygments stylesheet of the highlighted code is written into the site (no CDN).

Loaded by `mkdocs.yml` (`hooks:`); `tests/docs/test_docs_site.py` runs the strict build.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import math
from pathlib import Path
from typing import Any

# A child of mkdocs' logger: `mkdocs build --strict` counts its warnings. A plain logger (not
# mkdocs.plugins.get_plugin_logger) keeps this module importable without mkdocs, for the tests.
log = logging.getLogger("mkdocs.plugins.docs_hooks")

#: Marker a page writes where the generated table goes.
MARKER = "<!-- primitives-table -->"

#: Modules whose public names the site documents: each needs a docstring, and so does each
#: of those names (with `__all__`, its names; without, the names defined in the module).
DOCUMENTED = (
    "autograd_lite", "autograd_lite.testing", "autograd_lite.testing.checker",
    "autograd_lite.compile", "autograd_lite.compile.native", "autograd_lite.viz.stepping",
    "autograd_lite.viz.export", "autograd_lite.viz.render", "autograd_lite.cli.expression", "nn",
    "nn.module", "nn.layers", "nn.rnn", "nn.losses", "nn.optim", "nn.data", "nn.train",
    "nn.health",
)


#: Public names known to lack a docstring in files this site's owner may not edit, each to be
#: fixed where it lives. An entry that gets its docstring is itself a warning (remove it here).
KNOWN_MISSING: frozenset[str] = frozenset()


def _interval(lo: float, hi: float) -> str:
    def end(x: float) -> str:
        return "∞" if x == math.inf else ("-∞" if x == -math.inf else f"{x:g}")

    return "all reals" if (lo, hi) == (-math.inf, math.inf) else f"({end(lo)}, {end(hi)})"


def _symbol(p: Any) -> str:
    """The record's symbol with its parameters named p0, p1, ... (`**{0}` -> `**p0`)."""
    names = [f"p{i}" for i in range(p.nparams)]
    if "{" in p.symbol:
        return p.symbol.format(*names)
    return f"{p.symbol}({', '.join(names)})" if names else p.symbol


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def primitives_table() -> str:
    """One Markdown row per entry of `autograd_lite.PRIMITIVES`, read from the records."""
    from autograd_lite import PRIMITIVES

    rows = [
        "| primitive | symbol | inputs | parameters (default) | checked on | kink mask "
        "| compiled: Python / C | what |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, p in PRIMITIVES.items():
        params = "—"
        if p.nparams:
            defaults = list(p.defaults)
            shown = [f"p{i}" for i in range(p.nparams)]
            for k, d in enumerate(defaults, start=p.nparams - len(defaults)):
                shown[k] += f" = {d:g}"
            params = ", ".join(shown)
        domain = "; ".join(_interval(lo, hi) for lo, hi in p.domain)
        compiled = f"{'yes' if p.py else 'calls forward'} / {'yes' if p.c else 'no'}"
        rows.append(
            f"| `{name}` | `{_cell(_symbol(p))}` | {p.nargs} | {params} "
            f"| {domain} | {'yes' if p.mask else '—'} | {compiled} | {_cell(p.doc)} |"
        )
    return "\n".join(rows) + "\n"


def _own_doc(obj: Any) -> str | None:
    """The docstring written for `obj` itself (a class's own, a primitive's `doc`)."""
    from autograd_lite import Primitive

    if isinstance(obj, Primitive):
        return obj.doc
    if inspect.isclass(obj):
        return obj.__dict__.get("__doc__")
    if inspect.ismodule(obj) or inspect.isroutine(obj) or isinstance(obj, property):
        return obj.__doc__
    return "(data)"  # constants (PRIMITIVES, ...) are documented by their module's text


def _public(mod: Any) -> list[str]:
    names = getattr(mod, "__all__", None)
    if names is not None:
        return list(names)
    return [n for n, o in vars(mod).items() if not n.startswith("_")
            and getattr(o, "__module__", None) == mod.__name__
            and (inspect.isclass(o) or inspect.isroutine(o))]


def missing_docstrings() -> list[str]:
    """Dotted names of documented modules, public names and public methods with no docstring."""
    missing = []
    for modname in DOCUMENTED:
        mod = importlib.import_module(modname)
        if not (mod.__doc__ or "").strip():
            missing.append(modname)
        for name in _public(mod):
            obj = getattr(mod, name)
            if not (_own_doc(obj) or "").strip():
                missing.append(f"{modname}.{name}")
            if inspect.isclass(obj) and getattr(obj, "__module__", "").split(".")[0] in (
                    "autograd_lite", "nn"):
                for attr, member in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    func = getattr(member, "__func__", member)
                    if (inspect.isroutine(func) or isinstance(func, property)) and not (
                            func.__doc__ or "").strip():
                        missing.append(f"{modname}.{name}.{attr}")
    return sorted(set(missing))


def on_pre_build(config: Any) -> None:
    """Warn (an error under --strict) for every public name without a docstring."""
    missing = set(missing_docstrings())
    for name in sorted(missing - KNOWN_MISSING):
        log.warning("missing docstring: %s", name)
    for name in sorted(KNOWN_MISSING - missing):
        log.warning("%s has a docstring now: remove it from KNOWN_MISSING in %s", name, __file__)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the primitives marker with the table built from the live records."""
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, primitives_table())
    return markdown


#: Where `mkdocs.yml`'s `extra_css` expects the code colours, relative to the site folder.
PYGMENTS_CSS = "css/pygments.css"


def pygments_css() -> str:
    """The colours of Pygments' default style for the `.highlight` blocks of the pages."""
    from pygments.formatters import HtmlFormatter

    colours = str(HtmlFormatter(style="default").get_style_defs(".highlight"))
    # One frame per block: the theme frames the block, so its <code> is not framed again as
    # inline code is.
    return colours + ("\n.rst-content div.highlight pre code { border: none; padding: 0; "
                      "background: none; white-space: pre; font-size: inherit; color: inherit; }")


def on_post_build(config: Any) -> None:
    """Write the code colours into the built site: highlighting works offline."""
    out = Path(config["site_dir"]) / PYGMENTS_CSS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(pygments_css() + "\n")
