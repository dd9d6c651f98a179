"""The distribution ships every package of the tree (a non-editable install once missed
`autograd_lite.render`), and its package data."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_every_package_directory_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("autograd_lite", "nn")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found == listed, f"pyproject packages {sorted(listed)} vs tree {sorted(found)}"


def test_stepping_page_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["autograd_lite"]
    assert "*.html" in patterns and (ROOT / "autograd_lite" / "stepping.html").exists()
