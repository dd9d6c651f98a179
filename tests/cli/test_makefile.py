"""The Makefile: `make test` installs PyTorch's CPU build before the dev toolchain, and
`make clean` removes what the project writes, the compiled-replay cache included (the same
folder as `autograd_lite.compile.native.cache_dir()`).

`make clean` runs for real in a scratch copy of the Makefile; the install recipe is read with
`make -n` (nothing is installed).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from autograd_lite.compile.native import cache_dir

ROOT = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _make(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    full = {**os.environ, **(env or {})}
    proc = subprocess.run(["make", *args], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("xdg", [None, "/tmp/somewhere", "relative/path", " /tmp/padded "])
def test_clean_removes_the_cache_that_native_uses(xdg, monkeypatch, tmp_path):
    env = {"HOME": str(tmp_path)}
    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        env["XDG_CACHE_HOME"] = xdg
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    shown = _make("-n", "clean", env=env)
    assert f'rm -rf "{cache_dir()}"' in shown


def test_clean_removes_what_the_project_wrote(tmp_path):
    work = tmp_path / "clone"
    work.mkdir()
    shutil.copy(ROOT / "Makefile", work / "Makefile")
    (work / "pyproject.toml").write_text("")
    (work / "keep.py").write_text("")
    written = [".venv/bin/python", "build/lib/x", "autograd_lite.egg-info/PKG-INFO",
               "site/index.html", "demo-output/loss_graph.svg", ".pytest_cache/v",
               ".hypothesis/db", ".ruff_cache/x", ".mypy_cache/x", "neuron.svg", "quiz.html",
               "graph.svg", "pkg/__pycache__/m.cpython-311.pyc"]
    for name in written:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text("x")
    cache = tmp_path / "xdg" / "autograd-lite"
    (cache / "ab").mkdir(parents=True)
    (cache / "ab" / "lib.so").write_text("x")
    _make("clean", cwd=work, env={"XDG_CACHE_HOME": str(tmp_path / "xdg"),
                                  "HOME": str(tmp_path)})
    left = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
    assert left == ["Makefile", "keep.py", "pkg", "pyproject.toml"]
    assert not cache.exists() and (tmp_path / "xdg").exists()


def test_test_toolchain_installs_the_cpu_torch_first():
    recipe = _make("-n", "-W", "pyproject.toml", ".venv/.installed")
    lines = recipe.splitlines()
    torch_line = next(i for i, line in enumerate(lines)
                      if "pip install" in line and "torch" in line)
    dev_line = next(i for i, line in enumerate(lines) if "-e '.[dev]'" in line)
    assert torch_line < dev_line
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines[torch_line]
    pin = re.search(r"'torch==([^']+)'", lines[torch_line])
    assert pin is not None and pin[1].endswith("+cpu")
    dev_pin = re.search(r'"torch==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert dev_pin is not None and pin[1] == dev_pin[1] + "+cpu"  # the dev extra is satisfied
    assert any("torch.version.cuda" in line for line in lines[dev_line:])  # says which build
