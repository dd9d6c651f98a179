"""The notebooks' stored outputs read well on a static page (GitHub, nbviewer) and diff quietly.

Every notebook is committed executed (nbmake re-runs them in CI; this file checks what is
stored): one top-to-bottom run, no errors, no memory addresses, no tqdm bar text, and every
widget (which a static page shows as its text repr, `VBox(children=...)`) with a static
picture or HTML fallback beside it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent.parent / "notebooks").glob("*.ipynb"))

#: A CPython default repr's address (`<... at 0x7f30e2becdd0>`), or any long hex address.
ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
#: A tqdm bar as text: `0%|          | 0/240 [00:00<?, ?batch/s]`, `100%|####| 43/43 [...]`.
TQDM = re.compile(r"\d+%\|.*\|\s*\d+/\d+|\[\d\d:\d\d<[^\]]*(?:it|batch|B)/s\]")
#: The text repr of an ipywidgets container or control, as a static page shows it.
WIDGET_TEXT = re.compile(r"^\s*(?:VBox|HBox|Box|GridBox|Tab|Accordion|IntSlider|FloatSlider|"
                         r"Button|Output|Play|HTML|Image)\(", re.MULTILINE)
#: A repr that stands for a picture that was not stored (`<Figure size 640x480 with 1 Axes>`).
PICTURE_TEXT = re.compile(r"^<(?:Figure size|IPython\.core\.display\.\w+ object)")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
STATIC_MIMES = ("image/png", "image/svg+xml", "image/jpeg", "image/gif", "text/html")
#: Binary pictures are base64: a hex-looking run in them is chance, not an address.
BINARY_MIMES = ("image/png", "image/jpeg", "image/gif")


def _text(x: Any) -> str:
    return "".join(x) if isinstance(x, list) else str(x)


def _texts(output: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, text) for every textual part of one stored output."""
    kind = output["output_type"]
    if kind == "stream":
        return [(f"stream {output.get('name')}", _text(output.get("text", "")))]
    if kind == "error":
        return [("error", "\n".join(output.get("traceback", [])))]
    data = output.get("data", {})
    return [(mime, _text(v) if isinstance(v, str | list) else json.dumps(v))
            for mime, v in data.items() if mime not in BINARY_MIMES]


def _is_static(output: dict[str, Any]) -> bool:
    return any(m in output.get("data", {}) for m in STATIC_MIMES)


def _is_widget(output: dict[str, Any]) -> bool:
    data = output.get("data", {})
    return WIDGET_MIME in data or bool(WIDGET_TEXT.search(_text(data.get("text/plain", ""))))


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _code_cells(nb: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def problems(nb: dict[str, Any]) -> list[str]:
    """Everything wrong with one notebook's stored outputs (empty when it reads well)."""
    found = []
    cells = _code_cells(nb)
    counts = [c.get("execution_count") for c in cells]
    if counts != list(range(1, len(cells) + 1)):
        found.append(f"not one top-to-bottom run: execution counts {counts}")
    for k, cell in enumerate(cells):
        outs = cell.get("outputs", [])
        for j, out in enumerate(outs):
            where = f"code cell {k} output {j}"
            if out["output_type"] == "error":
                found.append(f"{where}: a stored error ({out.get('ename')})")
            for mime, text in _texts(out):
                m = ADDRESS.search(text)
                if m:
                    found.append(f"{where} ({mime}): memory address {m.group(0)} in "
                                 f"{text[max(0, m.start() - 50):m.end()]!r}")
                m = TQDM.search(text)
                if m:
                    found.append(f"{where} ({mime}): progress bar text {m.group(0)!r}")
            data = out.get("data", {})
            if _is_widget(out) and not _is_static(out) and not (
                    j + 1 < len(outs) and _is_static(outs[j + 1])):
                found.append(f"{where}: a widget shown as text "
                             f"({_text(data.get('text/plain', ''))[:40]!r}) with no static "
                             "picture or HTML in it or in the next output")
            if set(data) == {"text/plain"} and PICTURE_TEXT.match(_text(data["text/plain"])):
                found.append(f"{where}: a picture stored only as its text repr "
                             f"{_text(data['text/plain'])[:40]!r}")
    return found


def test_at_least_nine_notebooks_are_stored() -> None:
    assert len(NOTEBOOKS) >= 9, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_outputs_read_well_on_a_static_page(path: Path) -> None:
    nb = _load(path)
    assert any(c.get("outputs") for c in _code_cells(nb)), f"{path.name} is stored unexecuted"
    found = problems(nb)
    assert not found, f"{path.name} (fix, then re-execute it):\n" + "\n".join(found)


# ---- the checker itself catches what it is for ---------------------------------------------
def _nb(*outputs_per_cell: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cells": [{"cell_type": "code", "execution_count": i + 1, "outputs": outs,
                       "source": ""} for i, outs in enumerate(outputs_per_cell)]}


def _display(**data: Any) -> dict[str, Any]:
    return {"output_type": "display_data", "data": data, "metadata": {}}


WIDGET = _display(**{WIDGET_MIME: {"model_id": "abc"},
                     "text/plain": "VBox(children=(IntSlider(value=0),))"})
SVG = _display(**{"image/svg+xml": "<svg/>", "text/plain": "<IPython.core.display.SVG object>"})


@pytest.mark.parametrize("bad, what", [
    (_nb([_display(**{"text/plain": "<autograd_lite.render.Graph at 0x7f30e2becdd0>"})]),
     "memory address"),
    (_nb([{"output_type": "stream", "name": "stderr",
           "text": "  0%|          | 0/240 [00:00<?, ?batch/s]"}]), "progress bar"),
    (_nb([_display(**{WIDGET_MIME: {}, "text/plain": "epoch 1/4:   0%|          | 0/43"})]),
     "progress bar"),
    (_nb([WIDGET]), "widget shown as text"),
    (_nb([WIDGET], [SVG]), "widget shown as text"),     # the fallback must be beside it
    (_nb([SVG, WIDGET]), "widget shown as text"),       # ... after it, not before
    (_nb([_display(**{"text/plain": "<Figure size 640x480 with 1 Axes>"})]), "only as its text"),
    (_nb([{"output_type": "error", "ename": "ValueError", "evalue": "", "traceback": []}]),
     "stored error"),
    ({"cells": [{"cell_type": "code", "execution_count": None, "outputs": [], "source": ""}]},
     "top-to-bottom"),
])
def test_the_checker_flags(bad: dict[str, Any], what: str) -> None:
    found = problems(bad)
    assert any(what in p for p in found), found


def test_the_checker_passes_clean_outputs() -> None:
    png = _display(**{"image/png": "iVBORw0KGgo0x7f30e2becdd0AAAA",   # base64: not an address
                      "text/plain": "<Figure size 640x480 with 1 Axes>"})
    text = {"output_type": "stream", "name": "stdout", "text": "epoch 1: loss 0.5 (100%)\n"}
    assert problems(_nb([WIDGET, SVG], [png, text])) == []


# ---- exercises are stored unattempted --------------------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_exercise_cells_are_stored_unattempted(path: Path) -> None:
    """A stored notebook shows each "Your turn" cell as not attempted: no solution is committed."""
    cells = [c for c in _code_cells(_load(path))
             if {"exercise", "exercise-graph"} & set(c.get("metadata", {}).get("tags", []))]
    assert cells, f"{path.name} has no exercise cells"
    for cell in cells:
        text = "".join(t for out in cell.get("outputs", []) for _, t in _texts(out))
        assert "not attempted" in text, (path.name, _text(cell["source"]), text)
