"""The nn pages in docs/ run: every ```python block of docs/pytorch.md is executed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "pytorch.md"


def test_pytorch_page_examples_run() -> None:
    pytest.importorskip("torch")
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), {})  # our own documentation, not user text


def test_pytorch_page_names_exist() -> None:
    import nn

    text = DOC.read_text(encoding="utf-8")
    for name in ["to_torch", "from_torch", "manual_seed", "initial_seed", "neuron_health",
                 "logsumexp", "cross_entropy", "SGD", "Adam", "fit"]:
        assert f"`{name}" in text or f"{name}(" in text, name
    for name in ["manual_seed", "initial_seed", "neuron_health", "logsumexp", "fit", "MLP"]:
        assert hasattr(nn, name), name
    assert hasattr(nn.MLP, "from_torch") and hasattr(nn.Module, "to_torch")


SKLEARN_PAGE = DOC.parent / "scikit-learn.md"


def test_scikit_learn_page_is_in_the_nav_and_runs_on_numpy() -> None:
    nav = (DOC.parent.parent / "mkdocs.yml").read_text(encoding="utf-8")
    assert "scikit-learn: scikit-learn.md" in nav
    text = SKLEARN_PAGE.read_text(encoding="utf-8")
    for name in ["train_test_split", "standardize", "fit", "evaluate", "predict", "accuracy",
                 "neuron_health", "stratify", "float16", "np.int64", "pickle"]:
        assert name in text, name
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert any("np.asarray" in b and "nn.fit" in b for b in blocks)  # tested by test_docs.py
