"""`python -m mqt_lite.bench ablation` end to end at a toy budget: results file, summary, and resume."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mqt_lite.bench.__main__ import main as bench
from mqt_lite.bench.ablation import VARIANTS, claims, format_claims, format_markdown
from mqt_lite.results import load_results

ROOT = Path(__file__).resolve().parents[1]

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
    bench([*TOY, "--out", str(out), "--markdown"])
    again = json.loads(out.read_text())
    assert "mqt@1" in again["runs"] and again["runs"]["mqt@0"] == kept
    printed = capsys.readouterr().out
    assert "--- mqt@1" in printed and "--- mqt@0" not in printed and "| `no-ql-ctqa` | 2 |" in printed


def test_sweeps_run_apart_merge_into_one(tmp_path, capsys):
    """Variants trained as separate processes (each its own --out) merge into one file; --report trains nothing."""
    toy = [a for a in TOY if a not in ("--variants", "single-task,mqt,no-ql-ctqa")]
    bench([*toy, "--variants", "single-task", "--out", str(tmp_path / "a.json")])
    bench([*toy, "--variants", "mqt", "--out", str(tmp_path / "b.json")])
    capsys.readouterr()
    merged = tmp_path / "merged.json"
    bench([*toy, "--out", str(merged), "--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--report"])
    results = json.loads(merged.read_text())
    parts = {**json.loads((tmp_path / "a.json").read_text())["runs"], **json.loads((tmp_path / "b.json").read_text())["runs"]}
    assert results["runs"] == parts and "--- " not in capsys.readouterr().out  # nothing trained
    assert results["summary"]["mqt"]["delta_m"]["n"] == 2  # delta_m against the other file's single-task runs
    other = [*toy[:toy.index("--iterations") + 1], "3", *toy[toy.index("--iterations") + 2:]]
    with pytest.raises(SystemExit, match="another budget"):
        bench([*other, "--out", str(tmp_path / "c.json"), "--merge", str(merged), "--report"])


@pytest.mark.parametrize("name", ["ablation", "ablation-v1"])
def test_readme_table_is_the_committed_results_file(name):
    """Every number in the README's ablation tables comes from the shipped sweeps (format_markdown of them): the
    current design's ablation.json and the first design's ablation-v1.json."""
    results = load_results(name)
    assert all(len(r["seeds"]) >= 3 for r in results["summary"].values()), "the committed sweep has >= 3 seeds"
    assert set(results["summary"]) <= set(VARIANTS)  # a sweep from before a variant was added lacks it
    readme = (ROOT / "README.md").read_text()
    for table in (format_markdown(results["summary"], tuple(results["tasks"])), format_claims(results["claims"], True)):
        assert table in readme, (f"README table of {name}.json is stale: paste `python -m mqt_lite.bench ablation "
                                 f"--out mqt_lite/assets/results/{name}.json --report --markdown` into it")


def test_claims_verdicts_from_hand_made_runs():
    """Paired per-seed delta_m differences and the verdict rules, on runs whose delta_m is known by construction."""
    tasks = ["semseg", "depth"]  # mIoU higher is better, RMSE lower is better

    def run(miou, rmse):
        return {"headline": {"semseg": miou, "depth": rmse}}

    runs = {}
    for s in range(3):
        runs[f"single-task@{s}"] = run(50.0, 1.0)
        runs[f"mqt@{s}"] = run(55.0, 1.0)  # delta_m = (10% + 0%) / 2 = +5 on every seed
        runs[f"multi-task@{s}"] = run(50.0, 1.1)  # -5: mqt beats it by 10 on every seed
        runs[f"no-ql@{s}"] = run([60.0, 50.0, 55.0][s], 1.0)  # +10, 0, +5: mixed
        runs[f"depth-2@{s}"] = run(60.0, 1.0)  # +10: better than mqt on every seed
        runs[f"scales-1@{s}"] = run(60.0, 1.0)  # a strict claim contradicted on every seed
        runs[f"queries-64@{s}"] = run(55.0, 1.0)
        runs[f"queries-128@{s}"] = run([60.0, 50.0, 55.0][s], 1.0)  # mixed, on a "no better than" claim
    rows = {r["worse"]: r for r in claims({"runs": runs, "tasks": tasks})}
    assert abs(rows["multi-task"]["mean"] - 10.0) < 1e-9 and rows["multi-task"]["agree"] == 3
    assert rows["multi-task"]["verdict"] == "as in the paper"
    assert rows["no-ql"]["diffs"] == [-5.0, 5.0, 0.0] and rows["no-ql"]["verdict"] == "not resolved by the seeds"
    assert rows["depth-2"]["verdict"] == "opposite"  # "no better than" is contradicted only when every seed says so
    assert rows["scales-1"]["verdict"] == "opposite"
    assert rows["queries-128"]["verdict"] == "as in the paper (no clear difference)"
    assert "no-ctqa" not in rows and "queries-8" not in rows  # variants that were not run are left out
    one_seed = {k: v for k, v in runs.items() if k.endswith("@0")}
    assert {r["verdict"] for r in claims({"runs": one_seed, "tasks": tasks})} == {"one seed: not resolved"}


CONVERGE = ["converge", "--seeds", "2", "--iterations", "4", "--eval-every", "2", "--image-size", "32",
            "--val-size", "2", "--train-size", "32", "--variants", "single-task,mqt"]


def test_converge_records_learning_curves_and_resumes_runs(tmp_path, capsys):
    out, runs = tmp_path / "converged.json", tmp_path / "runs"
    bench([*CONVERGE, "--out", str(out), "--runs-dir", str(runs)])
    results = json.loads(out.read_text())
    assert sorted(results["runs"]) == ["mqt@0", "mqt@1", "single-task@0", "single-task@1"]
    for run in results["runs"].values():
        assert run["done"] and [p["step"] for p in run["curve"]] == [2, 4]
        assert run["headline"] == run["curve"][-1]["headline"] and run["train_s"] > 0
    curve = results["curves"]["mqt"]
    assert [p["step"] for p in curve] == [2, 4] and all(p["semseg"]["n"] == 2 for p in curve)
    assert results["summary"]["mqt"]["seeds"] == [0, 1] and results["machines"]
    capsys.readouterr()

    # A run stopped half-way continues from its checkpoint: cut mqt@1 back to its step-2 state and run again.
    results["runs"]["mqt@1"]["done"] = False
    out.write_text(json.dumps(results))
    bench([*CONVERGE, "--out", str(out), "--runs-dir", str(runs), "--report"])  # prints, trains nothing
    printed = capsys.readouterr().out
    assert "3 finished runs; unfinished: mqt@1 (step 4)" in printed and "---" not in printed
    assert json.loads(out.read_text()) == results
    final = results["runs"]["mqt@1"]["curve"]
    bench([*CONVERGE, "--out", str(out), "--runs-dir", str(runs)])
    again = json.loads(out.read_text())
    assert "--- mqt@1" in capsys.readouterr().out and again["runs"]["mqt@1"]["done"]
    assert again["runs"]["mqt@1"]["curve"] == final  # the finished run's folder is read back, not retrained
    assert again["runs"]["mqt@0"] == results["runs"]["mqt@0"]


def test_converge_curves_average_delta_m_over_seeds_per_step():
    from mqt_lite.bench.converge import curves

    def run(points):
        return {"curve": [{"step": s, "headline": {"semseg": m, "depth": d}} for s, m, d in points]}

    runs = {f"single-task@{s}": run([(10, 50.0, 1.0), (20, 60.0, 1.0)]) for s in (0, 1)}
    runs["mqt@0"] = run([(10, 55.0, 1.0), (20, 60.0, 0.9)])  # delta_m +5 at step 10, +5 at step 20
    runs["mqt@1"] = run([(10, 45.0, 1.0), (20, 66.0, 1.0)])  # -5, +5
    out = curves({"tasks": ["semseg", "depth"], "runs": runs})["mqt"]
    assert [p["step"] for p in out] == [10, 20]
    assert abs(out[0]["delta_m"]["mean"]) < 1e-9 and abs(out[1]["delta_m"]["mean"] - 5.0) < 1e-9
    assert out[1]["semseg"]["mean"] == 63.0 and out[1]["delta_m"]["n"] == 2


def test_readme_converged_tables_are_the_committed_results_file():
    """The README's verdict on the central claim is the shipped converged.json: >= 3 seeds, >= 5x the sweep's steps."""
    results = load_results("converged")
    assert results["budget"]["iterations"] >= 5 * 180
    assert all(len(r["seeds"]) >= 3 for r in results["summary"].values())
    assert {"single-task", "multi-task", "mqt"} <= set(results["summary"])
    readme = (ROOT / "README.md").read_text()
    for table in (format_markdown(results["summary"], tuple(results["tasks"])), format_claims(results["claims"], True)):
        assert table in readme, "README table is stale: paste `python -m mqt_lite.bench converge --report --markdown`"
