"""The documentation site (docs/, mkdocs.yml): a strict build, its generated primitives table and
API reference, docstrings for every public name, and the pages' Python examples run.

The strict build fails on a broken link or anchor, a page missing from the nav, a docstring
mkdocstrings cannot parse, and (through docs/hooks/docs_hooks.py) a public name without a
docstring.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import autograd_lite
import nn

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = ROOT / "docs"
#: Pages written by other authors, tested by their own tests.
OTHERS = {"micrograd.md", "pytorch.md"}


def _load_hooks() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks" / "docs_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _load_hooks()


def _mkdocs_missing() -> str | None:
    for name in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers"):
        if importlib.util.find_spec(name) is None:
            return f"the docs build needs {name}: pip install -e '.[docs]'"
    return None


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
         "--site-dir", str(site)],
        cwd=config.parent, capture_output=True, text=True, timeout=300,
    )


needs_mkdocs = pytest.mark.skipif(_mkdocs_missing() is not None,
                                  reason=_mkdocs_missing() or "")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = _build(ROOT / "mkdocs.yml", out)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


@needs_mkdocs
def test_strict_build_lists_every_primitive_in_the_engine_page(site: Path) -> None:
    page = (site / "engine" / "index.html").read_text()
    rows = re.findall(r"<tr>\s*<td><code>([a-z0-9_]+)</code></td>", page)
    assert rows == list(autograd_lite.PRIMITIVES)


@needs_mkdocs
def test_api_reference_documents_every_public_name(site: Path) -> None:
    engine = (site / "api" / "autograd_lite" / "index.html").read_text()
    ids = set(re.findall(r'id="([^"]+)"', engine))
    for name in autograd_lite.__all__:
        obj = getattr(autograd_lite, name)
        if name == "PRIMITIVES":
            assert "<code>autograd_lite.PRIMITIVES</code>" in engine
        elif isinstance(obj, autograd_lite.Primitive):
            # The primitive functions are table rows, generated from the records.
            assert re.search(rf"<td><code>{name}</code></td>", engine), name
        else:
            assert f"autograd_lite.{name}" in ids, f"autograd_lite.{name} not in the API page"
    nn_page = (site / "api" / "nn" / "index.html").read_text()
    nn_ids = set(re.findall(r'id="([^"]+)"', nn_page))
    missing = [n for n in nn.__all__ if f"nn.{n}" not in nn_ids]
    assert not missing, f"not in the nn API page: {missing}"
    testing_ids = set(re.findall(r'id="([^"]+)"',
                                 (site / "api" / "testing" / "index.html").read_text()))
    for name in ("gradcheck", "gradgradcheck", "expressions", "primitive_inputs", "values"):
        assert f"autograd_lite.testing.{name}" in testing_ids
    assert "autograd_lite.testing.checker.check_engine" in testing_ids


@needs_mkdocs
def test_strict_build_fails_on_a_broken_link(tmp_path: Path) -> None:
    # A copy of the site's sources with one broken link: the strict build must refuse it.
    shutil.copytree(DOCS, tmp_path / "docs")
    for page in OTHERS:  # pages of other authors may be absent on a branch; the nav needs them
        if not (tmp_path / "docs" / page).exists():
            (tmp_path / "docs" / page).write_text(f"# {page}\n")
    config = (ROOT / "mkdocs.yml").read_text().replace("paths: [.]", f"paths: [{ROOT}]")
    (tmp_path / "mkdocs.yml").write_text(config)
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    proc = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0
    assert "no-such-page.md" in proc.stdout + proc.stderr


def test_every_public_name_has_a_docstring() -> None:
    missing = set(hooks.missing_docstrings())
    assert missing - hooks.KNOWN_MISSING == set(), "public names without a docstring"
    assert hooks.KNOWN_MISSING <= missing, "KNOWN_MISSING lists names that have docstrings now"
    for name in autograd_lite.__all__:
        assert f"autograd_lite.{name}" not in missing
    for name in nn.__all__:
        assert f"nn.{name}" not in missing


def test_docstring_check_finds_a_missing_docstring(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("fake_documented", "A module with one undocumented function.")

    def documented() -> None:
        """Has one."""

    def undocumented() -> None:
        pass

    class Thing:
        """A class with an undocumented method."""

        def method(self) -> None:
            pass

    Thing.__module__ = "autograd_lite.fake"
    fake.__all__ = ["documented", "undocumented", "Thing"]  # type: ignore[attr-defined]
    fake.documented, fake.undocumented, fake.Thing = (  # type: ignore[attr-defined]
        documented, undocumented, Thing)
    monkeypatch.setitem(sys.modules, "fake_documented", fake)
    monkeypatch.setattr(hooks, "DOCUMENTED", ("fake_documented",))
    assert hooks.missing_docstrings() == ["fake_documented.Thing.method",
                                          "fake_documented.undocumented"]


def test_primitives_table_has_one_row_per_record() -> None:
    table = hooks.primitives_table().splitlines()
    rows = [line.split("|")[1].strip().strip("`") for line in table[2:]]
    assert rows == list(autograd_lite.PRIMITIVES)
    powc = next(line for line in table if line.startswith("| `powc`"))
    assert "`**p0`" in powc and "x ** p for a number p" in powc
    page = hooks.on_page_markdown(f"before\n{hooks.MARKER}\nafter", None, None, None)
    assert hooks.MARKER not in page and "| `tanh` |" in page


def test_architecture_page_names_every_module() -> None:
    text = (DOCS / "architecture.md").read_text()
    for top in ("autograd_lite", "nn"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.name == "__init__.py" and path.parent.name in ("autograd_lite", "nn"):
                continue
            rel = path.relative_to(ROOT).as_posix()
            if path.name == "__init__.py":
                rel = rel[: -len("__init__.py")]
            assert rel in text, rel


def test_non_finite_policy_page_states_the_three_rules() -> None:
    text = (DOCS / "non-finite.md").read_text()
    for phrase in ("## 1. Forward", "## 2. Backward", "## 3. `detect_anomaly()`",
                   "exp(1000) = inf", "sqrt'(0) = inf", "AnomalyError"):
        assert phrase in text


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M)


#: Pages whose examples train a model (seconds of CPU): run with the slow tests.
SLOW_PAGES = {"performance.md"}
OWN_PAGES = [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW_PAGES else p
             for p in sorted(p for p in DOCS.glob("*.md") if p.name not in OTHERS)]


@pytest.mark.parametrize("page", OWN_PAGES, ids=lambda p: p.name)
def test_python_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    # Each page's Python blocks run in order in one namespace, as a reader would paste them.
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for i, block in enumerate(_python_blocks(page)):
        try:
            exec(compile(block, f"{page.name} block {i}", "exec"), namespace)  # noqa: S102
        except Exception as e:
            pytest.fail(f"{page.name}, Python block {i} raised {type(e).__name__}: {e}\n{block}")


#: What makes a page load or point somewhere: HTML attributes and CSS urls/imports.
_REFERENCE = re.compile(r"""(?:\b(?:src|href|srcset|data|action|poster)\s*=\s*["']([^"']*)["'])"""
                        r"""|(?:url\(\s*["']?([^"')]*)["']?\s*\))|(?:@import\s+["']([^"']+)["'])""")


def _references(site: Path) -> list[tuple[str, str]]:
    """(file, reference) for every attribute and CSS url in the site's HTML and CSS."""
    out = []
    for path in sorted([*site.rglob("*.html"), *site.rglob("*.css")]):
        text = path.read_text(errors="replace")
        if path.suffix == ".css":
            text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)  # comments reference nothing
        for m in _REFERENCE.finditer(text):
            ref = next(g for g in m.groups() if g is not None)
            out.append((str(path.relative_to(site)), ref.strip()))
    return out


def _external(ref: str) -> bool:
    return bool(re.match(r"(?i)^(?:[a-z][a-z0-9+.-]*:)?//", ref))


@needs_mkdocs
def test_built_site_loads_nothing_from_outside_and_links_no_none(site: Path) -> None:
    refs = _references(site)
    assert refs, "no references found: the scan is broken"
    written = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    bad = []
    for where, ref in refs:
        if ref in ("None", "none", "") and not where.endswith(".css"):
            bad.append((where, ref))
        elif _external(ref):
            # Only a link a page's author wrote may leave the site; the theme adds none, and
            # nothing (script, style, font, image) is loaded from outside.
            if ref not in written:
                bad.append((where, ref))
    assert not bad, f"external or None references in the built site: {sorted(set(bad))[:10]}"
    scripts = re.findall(r"<script[^>]+src=\"([^\"]+)\"", (site / "index.html").read_text())
    assert scripts and not any(_external(s) for s in scripts)


def test_reference_scan_finds_what_a_cdn_theme_adds(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text('<link rel="stylesheet" href="https://cdn.example/x.css">'
                    '<script src="//cdn.example/h.js"></script><a href="None">repo</a>'
                    "<style>body { background: url('https://cdn.example/i.png') }</style>")
    refs = {r for _, r in _references(tmp_path)}
    assert {"https://cdn.example/x.css", "//cdn.example/h.js", "None",
            "https://cdn.example/i.png"} <= refs
    assert all(_external(r) for r in refs - {"None"})


@needs_mkdocs
def test_code_is_highlighted_at_build_time(site: Path) -> None:
    page = (site / "engine" / "index.html").read_text()
    assert '<div class="highlight">' in page and '<span class="kn">import</span>' in page
    assert "css/pygments.css" in page
    css = (site / "css" / "pygments.css").read_text()
    assert css == hooks.pygments_css() + "\n" and ".highlight .kn" in css
    assert "hljs" not in page
