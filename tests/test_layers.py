"""The package's layers, read from the source with `ast` (no import needed, so a violation that
only a rarely-run function commits is found too).

engine (Value, the primitive table, the traversal, modes, transforms, testing helpers)
  < viz (render, stepping, export)  < cli / demo (the only code that may import `nn`).
Each layer imports only from the ones below it, at module level or inside functions; an
`if __name__ == "__main__":` block and a `__main__.py` are command-line entry points.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import autograd_lite

PKG = Path(autograd_lite.__file__).parent
NAME = "autograd_lite"
#: The engine: modules that must not know about pictures, pages, the command line or nn.
ENGINE = {"core", "ops", "backward", "traversal", "_mode", "functional", "compile", "native",
          "testing", "expression"}
VIZ = {"render", "stepping", "export"}
CLI = {"cli", "demo", "__main__"}
#: Who may import the `nn` package (the sibling distribution package built on the engine).
MAY_IMPORT_NN = {"cli", "demo", "__main__"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_main_guard(node: ast.AST) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    names = {getattr(x, "id", None) for x in [node.test.left, *node.test.comparators]}
    consts = {getattr(x, "value", None) for x in [node.test.left, *node.test.comparators]}
    return "__name__" in names and "__main__" in consts


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, outside `__main__` guards.

    `from . import x` counts as importing the submodule `x` when there is one."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if _is_main_guard(node):
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            for a in node.names:  # `from . import render` / `from .render import draw`
                sub = f"{target}.{a.name}"
                if _exists(sub):
                    found.append((node.lineno, sub))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


def _exists(module: str) -> bool:
    if not module.startswith(NAME + "."):
        return False
    rel = Path(*module.split(".")[1:])
    return (PKG / rel).with_suffix(".py").exists() or (PKG / rel / "__init__.py").exists()


def _top(module: str) -> str:
    """The first component under autograd_lite (`autograd_lite.render.draw` -> `render`)."""
    parts = module.split(".")
    return parts[1] if parts[0] == NAME and len(parts) > 1 else ""


def _layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "nn":
        return "nn"
    if parts[0] != NAME:
        return "external"
    top = parts[-1] if parts[-1] == "__main__" else _top(module)
    if top in CLI:
        return "cli"
    if top in VIZ:
        return "viz"
    if top in ENGINE:
        return "engine"
    return "other"


FORBIDDEN = {"engine": {"viz", "cli", "nn"}, "viz": {"cli", "nn"}}
SOURCES = sorted(PKG.rglob("*.py"))


def _violations(rule: dict[str, set[str]]) -> list[str]:
    bad = []
    for path in SOURCES:
        mine = _layer(_module_name(path))
        for line, target in _imports(path):
            if _layer(target) in rule.get(mine, set()):
                bad.append(f"{path.relative_to(PKG.parent)}:{line} ({mine}) imports {target} "
                           f"({_layer(target)})")
    return bad


def test_the_checker_sees_the_package():
    layers = {_layer(_module_name(p)) for p in SOURCES}
    assert {"engine", "viz", "cli"} <= layers
    assert ("autograd_lite.render" in {t for _, t in _imports(PKG / "cli.py")})


def test_engine_imports_no_rendering_cli_or_nn():
    assert _violations({"engine": FORBIDDEN["engine"]}) == []


def test_pictures_import_no_cli_or_nn():
    assert _violations({"viz": FORBIDDEN["viz"]}) == []


def test_only_the_cli_and_the_demo_import_nn():
    bad = []
    for path in SOURCES:
        module = _module_name(path)
        if module.rpartition(".")[2] in MAY_IMPORT_NN or _top(module) in MAY_IMPORT_NN:
            continue
        bad += [f"{path.relative_to(PKG.parent)}:{line} imports {t}"
                for line, t in _imports(path) if _layer(t) == "nn"]
    assert bad == []


def test_package_init_imports_pictures_only_lazily():
    tree = ast.parse((PKG / "__init__.py").read_text(encoding="utf-8"))
    top_level = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    targets = {n.module or "" for n in top_level if isinstance(n, ast.ImportFrom)}
    assert not any(t.split(".")[0] in VIZ | CLI | {"nn"} for t in targets), targets


@pytest.mark.parametrize("source, layer", [
    ("from ..cli import main\n", "viz"),
    ("def f():\n    import nn\n", "engine"),
    ("from autograd_lite.render import draw_graph\n", "engine"),
])
def test_the_checker_catches_a_violation(tmp_path, monkeypatch, source, layer):
    """The rules fail on a planted import (so the tests above cannot pass vacuously)."""
    fake_pkg = tmp_path / NAME
    (fake_pkg / "render").mkdir(parents=True)
    (fake_pkg / "__init__.py").write_text("")
    (fake_pkg / "cli.py").write_text("")
    (fake_pkg / "render" / "__init__.py").write_text("")
    where = fake_pkg / ("render/bad.py" if layer == "viz" else "core.py")
    where.write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake_pkg)
    monkeypatch.setattr(sys.modules[__name__], "SOURCES", [where])
    assert len(_violations(FORBIDDEN)) == 1


def test_main_guard_and_entry_points_are_the_cli():
    assert _layer("autograd_lite.render.__main__") == "cli"
    assert _layer("autograd_lite.__main__") == "cli"
    code = "import sys\nif __name__ == '__main__':\n    from autograd_lite.cli import main\n"
    assert all(not _is_main_guard(n) for n in ast.parse("x = 1\n").body)
    assert sum(_is_main_guard(n) for n in ast.parse(code).body) == 1


def test_import_and_backward_load_no_nn_graphviz_hypothesis_or_pytest():
    code = ("import autograd_lite; x = autograd_lite.Value(1.0); (x * x).backward(); "
            "import sys; print([m for m in ('nn', 'graphviz', 'hypothesis', 'pytest') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_drawing_does_not_load_nn():
    code = ("import sys, autograd_lite as al; x = al.Value(1.0, label='x'); y = (x * x).tanh(); "
            "y.backward(); al.draw_graph(y); print('nn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "False"
