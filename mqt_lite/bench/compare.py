"""`python -m mqt_lite.bench compare --ref REF`: this tree against a git ref, timed A/B on the same machine.

A shared machine drifts (other jobs, turbo, thermals), so one timing of each tree, minutes apart, says little.
Here both trees are measured in alternating fresh subprocesses (ref, this tree, this tree, ref, ...) and the
ratio ref / this is taken per round; the median of those ratios is the speed-up, their range its spread.

Measured in each tree through the API both have:
    predict  `load_pretrained("tiny-synthetic").predict(image)` of one 256x256 image (median ms of `--runs` calls)
    train    `mqt_lite.bench.train.measure("tiny-synthetic", steps)`: seconds per training step at the preset's
             batch (12 x 128x128), on a fixed random batch. Each tree times its own step: this tree's is
             `train.train_step` (autocast as `precision` says, clipping as the recipe says); older trees'
             measured their own forward, loss, backward and optimizer step.
The ref is exported with `git archive` into a temporary folder; nothing in this checkout changes.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

PREDICT = """
import json, time, numpy as np, torch, mqt_lite
model = mqt_lite.load_pretrained("tiny-synthetic")
image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
for _ in range({warmup}):
    model.predict(image)
times = []
for _ in range({runs}):
    t = time.perf_counter(); model.predict(image); times.append(time.perf_counter() - t)
print(json.dumps({{"value": float(np.median(times)) * 1000, "mqt_lite": mqt_lite.__file__}}))
"""

TRAIN = """
import json, mqt_lite
from mqt_lite.bench.train import measure
row = measure("tiny-synthetic", {steps}, None, "cpu")
print(json.dumps({{"value": row["s_per_step"], "mqt_lite": mqt_lite.__file__}}))
"""

WHAT = {"predict": ("model.predict 256x256", "ms"), "train": ("tiny-synthetic training step", "s")}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ref", required=True, help="git ref to compare with, e.g. bf9e61c or main")
    p.add_argument("--what", default="predict,train", help="comma-separated: predict, train")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (each runs both trees)")
    p.add_argument("--runs", type=int, default=20, help="predict: timed calls per process")
    p.add_argument("--steps", type=int, default=5, help="train: timed steps per process (after 2 warm-up)")


def export_ref(ref: str, dest: Path) -> str:
    """Write the tree of `ref` into `dest` (git archive); returns the full commit hash."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", f"{ref}^{{commit}}"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(f"cannot resolve git ref {ref!r} in {REPO} (a git checkout of mqt_lite is needed): {e}")
    archive = dest / "ref.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), commit], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest / "tree", filter="data")
    return commit


def measure_in(tree: Path, code: str) -> float:
    """Run `code` in a fresh interpreter that imports mqt_lite from `tree`; returns its "value"."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    r = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"measurement in {tree} failed:\n{r.stderr[-2000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if not Path(out["mqt_lite"]).resolve().is_relative_to(tree.resolve()):  # the editable install must not win
        raise SystemExit(f"measurement in {tree} imported mqt_lite from {out['mqt_lite']}")
    return out["value"]


def run(args: argparse.Namespace) -> dict[str, Any]:
    what = [w.strip() for w in args.what.split(",") if w.strip()]
    unknown = sorted(set(what) - set(WHAT))
    if unknown:
        raise SystemExit(f"unknown --what {unknown}; valid: {list(WHAT)}")
    code = {"predict": PREDICT.format(warmup=3, runs=args.runs), "train": TRAIN.format(steps=args.steps)}
    result: dict[str, Any] = {"ref": args.ref, "rounds": args.rounds}
    with tempfile.TemporaryDirectory() as tmp:
        result["ref_commit"] = export_ref(args.ref, Path(tmp))
        trees = {"ref": Path(tmp) / "tree", "this": REPO}
        print(f"A/B: {args.ref} ({result['ref_commit'][:9]}) vs this tree ({REPO}), {args.rounds} alternating rounds")
        for w in what:
            label, unit = WHAT[w]
            values: dict[str, list[float]] = {"ref": [], "this": []}
            for i in range(args.rounds):
                order = ("ref", "this") if i % 2 == 0 else ("this", "ref")  # cancel slow drift
                for name in order:
                    values[name].append(measure_in(trees[name], code[w]))
                print(f"  {w} round {i + 1}: ref {values['ref'][-1]:.4g} {unit}, this {values['this'][-1]:.4g} {unit}",
                      flush=True)
            ratios = [r / t for r, t in zip(values["ref"], values["this"])]
            row = {"unit": unit, "ref": values["ref"], "this": values["this"], "ratios": ratios,
                   "speedup": statistics.median(ratios)}
            result[w] = row
            print(f"{label}: ref median {statistics.median(values['ref']):.4g} {unit}, this "
                  f"{statistics.median(values['this']):.4g} {unit} -> {row['speedup']:.2f}x faster "
                  f"(per-round ratios {min(ratios):.2f}-{max(ratios):.2f})")
    return result
