"""The package's types hold for users: the function forms are typed (Value in -> Value, number
in -> float) and `draw_graph` is a proper public name, checked by running mypy on user code."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

USER_CODE = """
import autograd_lite as al
from autograd_lite import Value, draw_graph
reveal_type(al.exp(Value(1.0)))
reveal_type(al.exp(1.0))
reveal_type(al.maximum(1.0, Value(2.0)))
reveal_type(al.leaky_relu(Value(1.0), 0.1))
reveal_type(Value(1.0) / 2)
reveal_type(al.grad(Value(1.0), [Value(2.0)]))
reveal_type(draw_graph)
"""


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_function_forms_and_draw_graph_are_typed(tmp_path: Path) -> None:
    src = tmp_path / "user.py"
    src.write_text(USER_CODE)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent",
         "--ignore-missing-imports", str(src)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    revealed = [line.split("Revealed type is ", 1)[1].strip('"')
                for line in proc.stdout.splitlines() if "Revealed type is" in line]
    assert revealed[:5] == ["autograd_lite.engine.value.Value", "float",
                            "autograd_lite.engine.value.Value", "autograd_lite.engine.value.Value",
                            "autograd_lite.engine.value.Value"], proc.stdout
    assert revealed[5].startswith("tuple[")
    assert revealed[6].startswith("def (root: autograd_lite.engine.value.Value"), proc.stdout
    assert "Success: no issues found" in proc.stdout, proc.stdout
