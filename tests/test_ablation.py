"""`python -m mqt_lite.bench ablation` end to end at a toy budget: results file, summary, and resume."""
from __future__ import annotations

import json

from mqt_lite.bench.__main__ import main as bench

TOY = ["ablation", "--seeds", "2", "--iterations", "2", "--image-size", "32", "--val-size", "2", "--train-size", "32",
       "--variants", "single-task,mqt,no-ql-ctqa"]


def test_ablation_sweep_writes_results_and_continues(tmp_path, capsys):
    out = tmp_path / "ablation.json"
    bench([*TOY, "--out", str(out)])
    results = json.loads(out.read_text())
    assert sorted(results["runs"]) == sorted(f"{v}@{s}" for v in ("single-task", "mqt", "no-ql-ctqa") for s in (0, 1))
    summary = results["summary"]
    assert summary["single-task"]["delta_m"]["mean"] == 0.0  # the reference against itself
    for variant in ("mqt", "no-ql-ctqa"):
        row = summary[variant]
        assert row["seeds"] == [0, 1] and row["delta_m"]["n"] == 2
        assert set(row["metrics"]) == set(results["tasks"])
        assert row["costs"]["params_m"] > 0 and row["costs"]["gflops"] > 0
    assert summary["single-task"]["costs"]["params_m"] > summary["mqt"]["costs"]["params_m"]
    assert "delta_m" in capsys.readouterr().out

    # An interrupted sweep keeps its finished runs: drop one, run again, only that one is trained.
    del results["runs"]["mqt@1"]
    kept = results["runs"]["mqt@0"]
    out.write_text(json.dumps(results))
    bench([*TOY, "--out", str(out)])
    again = json.loads(out.read_text())
    assert "mqt@1" in again["runs"] and again["runs"]["mqt@0"] == kept
    assert "--- mqt@1" in capsys.readouterr().out and "--- mqt@0" not in capsys.readouterr().out
