"""What importing costs: `import autograd_lite` and a backward pass load none of nn,
graphviz, hypothesis or pytest, and drawing loads no nn. (The layers themselves are
import-linter contracts in pyproject.toml, run by `make lint` and `make test`.)"""

from __future__ import annotations

import subprocess
import sys


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
