"""`python -m mqt_lite.bench converge`: does MQTransformer beat the multi-task baseline once the models converge?

The ablation sweep (`bench ablation`) compares variants after 180 steps, far from convergence. This command
trains single-task, multi-task and mqt (the `bench ablation` variants) on the same synthetic-world budget for
`--iterations` steps (default 900, 5x the sweep's), evaluating every `--eval-every` steps on `--val-size`
validation scenes (default 300: three times the sweep's, less evaluation noise), with several seeds. What it
writes to `--out` (default mqt_lite/assets/results/converged.json, which ships with the package) after every
evaluation of every run:
    runs[variant@seed]: "curve" (step -> every task's headline metric), "headline" (the last evaluation),
                        "train_s" (wall seconds, summed over resumed pieces), "done"
    summary / claims:   as `bench ablation` computes them, from the finished runs' last evaluations
    curves:             per variant, mean and std over seeds of every metric and of delta_m at every step
Each run trains into `--runs-dir`/VARIANT@SEED with checkpoints at every evaluation, so a stopped command
continues each run from its last checkpoint when started again with the same arguments (and unfinished runs whose
folder is gone start over). `--markdown` prints the README's tables. Notebook 04 plots the curves.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import atomic_write, read_card
from ..config import get_config
from ..metrics import delta_m
from ..results import results_path
from ..tasks import TASKS
from ..train import HISTORY, read_history, train
from .ablation import BUDGET, VARIANTS, claims, format_claims, format_markdown, format_table, summarise
from .complexity import model_costs

CONVERGE_VARIANTS = ("single-task", "multi-task", "mqt")
DEFAULT_OUT, DEFAULT_RUNS = str(results_path("converged")), "runs/converge"  # the results ship with the package


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--variants", default=",".join(CONVERGE_VARIANTS), help=f"comma-separated, of {list(VARIANTS)}")
    p.add_argument("--iterations", type=int, default=900)
    p.add_argument("--eval-every", type=int, default=150)
    p.add_argument("--val-size", type=int, default=300)
    p.add_argument("--image-size", type=int, help="override the scene size (tests use a tiny one)")
    p.add_argument("--train-size", type=int, help="override the number of training scenes")
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--runs-dir", default=DEFAULT_RUNS, help="checkpoints of the runs (to resume them)")
    p.add_argument("--markdown", action="store_true", help="print the tables as markdown (the README's)")
    p.add_argument("--report", action="store_true", help="print the tables of --out as they stand; train nothing")


def budget_of(args: argparse.Namespace) -> dict[str, Any]:
    budget = dict(BUDGET, iterations=args.iterations, val_size=args.val_size, eval_every=args.eval_every,
                  checkpoint_every=args.eval_every)
    if args.image_size:
        budget["image_size"] = (args.image_size, args.image_size)
    if args.train_size:
        budget["train_size"] = args.train_size
    return budget


def curve_of(history: list[dict[str, Any]], tasks: list[str]) -> list[dict[str, Any]]:
    """The validation records of a run's history -> [{"step", "headline": {task: metric}}] in step order."""
    rows = {r["step"]: r for r in history if r.get("split") == "val"}
    return [{"step": s, "headline": {t: rows[s][f"{t}/{TASKS[t].metric}"] for t in tasks}} for s in sorted(rows)]


def has_checkpoint(folder: Path) -> bool:
    try:
        read_card(folder)
    except FileNotFoundError:
        return False
    return True


def earlier_evaluations(folder: Path) -> list[dict[str, Any]]:
    """The validation records a resumed run keeps: those in its history up to its checkpoint's step."""
    if not has_checkpoint(folder) or not (folder / HISTORY).is_file():
        return []
    step = read_card(folder)["step"]
    return [r for r in read_history(folder / HISTORY) if r.get("split") == "val" and r["step"] <= step]


def train_run(name: str, seed: int, budget: dict[str, Any], folder: Path,
              on_eval: Any = None) -> tuple[list[dict[str, Any]], float]:
    """Train (or continue) one variant@seed in `folder`; returns its learning curve and this call's seconds.
    `on_eval(curve)` is called with the curve so far after every evaluation."""
    tasks = list(get_config("tiny-synthetic").tasks)
    seen = earlier_evaluations(folder)

    def callback(record: dict[str, Any]) -> None:
        if record.get("split") == "val" and on_eval is not None:
            seen.append(record)
            on_eval(curve_of(seen, tasks))

    t = time.time()
    if has_checkpoint(folder):
        _, history = train("tiny-synthetic", out=folder, resume=True, progress=False, callback=callback)
    else:
        _, history = train("tiny-synthetic", out=folder, progress=False, callback=callback, seed=seed, **budget,
                           **VARIANTS[name])
    return curve_of(history, tasks), time.time() - t


def curves(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per variant and step: mean and std over seeds of every metric and of delta_m (against single-task@seed)."""
    tasks, runs = results["tasks"], results["runs"]
    single = {k.split("@")[1]: {p["step"]: p["headline"] for p in r["curve"]}
              for k, r in runs.items() if k.startswith("single-task@")}
    out: dict[str, list[dict[str, Any]]] = {}
    for variant in dict.fromkeys(k.split("@")[0] for k in runs):
        by_step: dict[int, dict[str, list[float]]] = {}
        for key, run in runs.items():
            v, seed = key.split("@")
            if v != variant:
                continue
            for point in run["curve"]:
                cell = by_step.setdefault(point["step"], {t: [] for t in [*tasks, "delta_m"]})
                for t in tasks:
                    cell[t].append(point["headline"][t])
                reference = single.get(seed, {}).get(point["step"])
                if reference is not None and all(reference[t] for t in tasks):  # delta_m divides by them
                    cell["delta_m"].append(delta_m(point["headline"], reference, tasks))
        out[variant] = [{"step": s, **{k: _stat(v) for k, v in cell.items() if v}} for s, cell in sorted(by_step.items())]
    return out


def _stat(xs: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0, "n": len(xs)}


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": "cuda: " + torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"}


def run(args: argparse.Namespace) -> dict[str, Any]:
    budget = budget_of(args)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; valid: {list(VARIANTS)}")
    out, runs_dir = Path(args.out), Path(args.runs_dir)
    results: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    if args.report:
        if not results:
            raise SystemExit(f"{out} does not exist yet: run `python -m mqt_lite.bench converge` to make it")
        return report(results, out, args.markdown)
    if results and results.get("budget") != json.loads(json.dumps(budget)):
        raise SystemExit(f"{out} holds runs with another budget ({results.get('budget')}); use another --out")
    tasks = list(get_config("tiny-synthetic").tasks)
    results.update({"preset": "tiny-synthetic", "budget": budget, "tasks": tasks, "runs": results.get("runs", {})})
    results.setdefault("machines", [])
    if machine() not in results["machines"]:
        results["machines"].append(machine())

    def save() -> None:
        finished = {**results, "runs": {k: r for k, r in results["runs"].items() if r["done"]}}
        results["summary"], results["claims"] = summarise(finished), claims(finished)
        results["curves"] = curves(results)
        atomic_write(out, lambda p: Path(p).write_text(json.dumps(results, indent=1)))

    for seed in range(args.seeds):
        for name in names:
            key = f"{name}@{seed}"
            if results["runs"].get(key, {}).get("done"):
                continue
            print(f"--- {key}: {VARIANTS[name] or 'the full model'}, {budget['iterations']} steps", flush=True)
            costs = model_costs("tiny-synthetic", budget["image_size"], **VARIANTS[name])
            spent = results["runs"].get(key, {}).get("train_s", 0.0)  # from earlier, interrupted pieces
            t = time.time()

            def record(curve: list[dict[str, Any]], seconds: float | None = None) -> None:
                done = bool(curve) and curve[-1]["step"] == budget["iterations"]
                results["runs"][key] = {"curve": curve, "headline": curve[-1]["headline"] if curve else {},
                                        "train_s": spent + (time.time() - t if seconds is None else seconds),
                                        "done": done and seconds is not None, "costs": costs}
                save()

            curve, seconds = train_run(name, seed, budget, runs_dir / key, on_eval=record)
            record(curve, seconds)
    save()
    return report(results, out, args.markdown)


def report(results: dict[str, Any], out: Path, markdown: bool) -> dict[str, Any]:
    """Print the finished runs' table and claims (and what is unfinished); returns the results without runs."""
    runs = results["runs"]
    unfinished = [f"{k} (step {r['curve'][-1]['step'] if r['curve'] else 0})" for k, r in runs.items() if not r["done"]]
    print(f"{len(runs) - len(unfinished)} finished runs" + (f"; unfinished: {', '.join(unfinished)}" if unfinished
                                                             else ""))
    fmt = format_markdown if markdown else format_table
    print(fmt(results["summary"], tuple(results["tasks"])))
    print("\nThe paper's claims at the last step, by delta_m differences on the same seed:\n")
    print(format_claims(results["claims"], markdown))
    total = sum(r["train_s"] for r in runs.values())
    print(f"\ntime (train + periodic evaluation, all runs in {out}): {total / 60:.1f} min; results: {out}")
    return {k: v for k, v in results.items() if k != "runs"}
