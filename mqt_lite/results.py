"""The benchmark results that ship with the package, in mqt_lite/assets/results/, so that a notebook finds them
after a plain `pip install` (in Colab, say) as well as in a clone of the repository.

    from mqt_lite.results import load_results
    sweep = load_results("ablation")          # the JSON as a dict, or None when that file is not shipped

The files are written by the benchmarks, whose default `--out` is this folder:
    ablation.json        `python -m mqt_lite.bench ablation`          (the current design: every variant x 3 seeds)
    ablation-v1.json     the same sweep on the first design (coarse scale at unit gain, the first losses), kept
                         because the README explains the design changes with it; no command rewrites it
    ablation-quick.json  `python -m mqt_lite.bench ablation --quick`
    converged.json       `python -m mqt_lite.bench converge`          (learning curves to convergence)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "assets" / "results"


def results_path(name: str) -> Path:
    """The shipped file of a result name ("ablation" or "ablation.json"); it may not exist."""
    return RESULTS_DIR / (name if name.endswith(".json") else f"{name}.json")


def load_results(name: str) -> dict[str, Any] | None:
    """The shipped results `name` as a dict, or None when the package has no such file."""
    path = results_path(name)
    return json.loads(path.read_text()) if path.is_file() else None


def available() -> list[str]:
    """The names of the shipped result files."""
    return sorted(p.stem for p in RESULTS_DIR.glob("*.json"))
