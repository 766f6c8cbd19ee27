"""Every notebook ends with exercises: at least three, each a question with a `<details>` explanation and a solution
in a collapsed code cell tagged `solution`. nbval (`pytest notebooks/`) runs every code cell in order, so it runs
every solution with the code before it; this test checks that the solutions are such cells (tagged, hidden, not
skipped) and that they ran without error in the committed full run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mqt_lite.colab import NOTEBOOKS, source

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_exercises_with_hidden_solutions_that_ran(name):
    cells = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"]
    solutions = [i for i, c in enumerate(cells) if "solution" in c["metadata"].get("tags", [])]
    assert len(solutions) >= 3, f"{name}: {len(solutions)} solution cells"
    for i in solutions:
        cell, text = cells[i], source(cells[i])
        assert cell["cell_type"] == "code", f"{name} cell {i}: a solution must be a code cell that nbval runs"
        assert cell["metadata"].get("jupyter", {}).get("source_hidden") is True  # collapsed in Jupyter
        assert cell["metadata"].get("cellView") == "form" and text.startswith("#@title")  # collapsed in Colab
        assert "NBVAL_SKIP" not in text and "nbval-skip" not in cell["metadata"].get("tags", [])
        assert "_tokens" not in text and "_unpixels" not in text  # no private names of the model
        question = source(cells[i - 1])
        assert cells[i - 1]["cell_type"] == "markdown" and "**Exercise" in question and "<details>" in question
        assert cell["execution_count"] is not None, f"{name} cell {i}: commit the notebook with its outputs"
        assert not [o for o in cell["outputs"] if o["output_type"] == "error"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_unfinished_text(name):
    cells = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"]
    text = "\n".join(source(c) for c in cells)
    for marker in ("PROSE_", "TODO", "TBD", "XXX"):
        assert marker not in text, f"{name}: {marker}"
