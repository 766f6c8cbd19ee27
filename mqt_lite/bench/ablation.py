"""`python -m mqt_lite.bench ablation`: the paper's comparisons (Tab. II-VI) re-run on the synthetic world.

Every variant is the `tiny-synthetic` preset with config fields changed, trained with one budget and recipe
(same data, same iterations, same seeds), then evaluated on the same validation scenes:

    single-task          one network per task (Tab. II/III baseline; delta_m is measured against it)
    multi-task           shared backbone, per-task heads (Tab. II/III baseline)
    mqt                  MQTransformer (query learning, CTQA, shared encoder/decoder, 2 scales, depth 1)
    no-ql / no-ctqa / no-ql-ctqa           Tab. IV (a)
    depth-2                                Tab. IV (b)
    queries-8 / -64 / -128 (mqt has 32)    Tab. IV (c)
    non-shared                             Tab. V
    scales-1                               Tab. VI
    scales-add                             our first two-scale design (coarse scale added at unit gain; mqt.py)
    decoder-ls        LayerScale gains (from 1e-4) on the decoder's residual branches instead of unit gain
    pixel-pos-0       no sine encoding on the pixels (the official head has none)
    queries-learned   queries trained from a truncated N(0, 0.02), as the official code
    head-lr-0.3       the head (everything but the backbone) at 0.3x the learning rate

Results go to a JSON file after every finished (variant, seed) run, so an interrupted sweep keeps what it
finished and continues where it stopped when run again with the same --out. Variants can run as parallel
processes, each with its own --out, and `--merge` their files into one; `--report` prints a file, training
nothing. At the end the command prints the table (mean ± std over seeds, delta_m against single-task) and checks
the paper's claims (CLAIMS) by per-seed delta_m differences; `--markdown` prints both as the README's tables.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any


from ..checkpoint import atomic_write
from ..config import get_config
from ..evaluate import evaluate, headline, val_loader
from ..metrics import delta_m
from ..results import results_path
from ..tasks import TASKS
from ..train import train
from .complexity import model_costs

VARIANTS: dict[str, dict[str, Any]] = {
    "single-task": {"head": "single-task"},
    "multi-task": {"head": "multi-task"},
    "mqt": {},
    "no-ql": {"query_learning": False},
    "no-ctqa": {"cross_task_attention": False},
    "no-ql-ctqa": {"query_learning": False, "cross_task_attention": False},
    "depth-2": {"depth": 2},
    "queries-8": {"num_queries": 8},
    "queries-64": {"num_queries": 64},
    "queries-128": {"num_queries": 128},
    "non-shared": {"shared_encoder_decoder": False},
    "scales-1": {"num_scales": 1},
    "scales-add": {"scale_fusion": "add"},
    # Cheap experiments on where the rest of the gap to the paper comes from (issue 12, item 5; mqt.py):
    "decoder-ls": {"decoder_layer_scale": 1e-4},
    "pixel-pos-0": {"pixel_pos_scale": 0.0},
    "queries-learned": {"learn_queries": True, "query_init": "trunc_normal"},
    "head-lr-0.3": {"head_lr_scale": 0.3},
}
# The paper's claims, as pairs of variants compared by delta_m on the same seed: (claim, where, better, worse, strict).
# strict=False claims say "no better than": only a difference in the other direction on every seed contradicts them.
CLAIMS = (
    ("MQTransformer beats the multi-task baseline", "Tab. II/III", "mqt", "multi-task", True),
    ("query learning helps", "Tab. IV (a)", "mqt", "no-ql", True),
    ("cross-task query attention helps", "Tab. IV (a)", "mqt", "no-ctqa", True),
    ("query learning + CTQA help", "Tab. IV (a)", "mqt", "no-ql-ctqa", True),
    ("depth 2 is no better than depth 1", "Tab. IV (b)", "mqt", "depth-2", False),
    ("64 queries beat 8", "Tab. IV (c)", "queries-64", "queries-8", True),
    ("128 queries are no better than 64", "Tab. IV (c)", "queries-64", "queries-128", False),
    ("a shared encoder/decoder beats per-task ones", "Tab. V", "mqt", "non-shared", True),
    ("two scales beat one", "Tab. VI", "mqt", "scales-1", True),
    ("(ours) the zero-gain coarse scale beats unit-gain addition", "mqt.py", "mqt", "scales-add", True),
    ("(ours) unit-gain decoder residuals are no worse than LayerScale", "mqt.py", "mqt", "decoder-ls", False),
    ("(ours) the pixels' sine encoding is no worse than none", "mqt.py", "mqt", "pixel-pos-0", False),
    ("(paper) fixed uniform queries are no worse than learned ones", "Sec. III-B", "mqt", "queries-learned", False),
    ("(ours) the head at the backbone's lr is no worse than at 0.3x", "train.py", "mqt", "head-lr-0.3", False),
)
QUICK_VARIANTS = ("single-task", "multi-task", "mqt", "no-ql-ctqa")
# One budget for every variant: small scenes so that 12 variants x 3 seeds fit in 2 hours on 2 CPU cores.
# 180 iterations x 16 scenes is short of convergence (the bundled model trains 900 x 12 at 128 px): the sweep
# compares how far each variant gets on one small, equal budget, which the README states with the results.
BUDGET = dict(image_size=(96, 96), train_size=1000, val_size=100, iterations=180, batch_size=16, eval_every=10**9,
              checkpoint_every=10**9, num_workers=1, warmup_iters=30)
QUICK_BUDGET = dict(BUDGET, iterations=120, val_size=50)
DEFAULT_OUT, QUICK_OUT = str(results_path("ablation")), str(results_path("ablation-quick"))  # shipped with the package


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="one seed, fewer steps, 4 variants (under 10 minutes)")
    p.add_argument("--variants", help=f"comma-separated subset of {list(VARIANTS)}")
    p.add_argument("--out", help=f"results JSON, read to continue an interrupted sweep (default {DEFAULT_OUT}, "
                                 f"{QUICK_OUT} with --quick)")
    p.add_argument("--iterations", type=int, help="override the training budget (tests use a tiny one)")
    p.add_argument("--image-size", type=int, help="override the scene size (tests use a tiny one)")
    p.add_argument("--val-size", type=int, help="override the number of validation scenes")
    p.add_argument("--train-size", type=int, help="override the number of training scenes")
    p.add_argument("--markdown", action="store_true", help="print the table as markdown (the README's table)")
    p.add_argument("--merge", nargs="+", metavar="FILE", default=[],
                   help="add the runs of other sweep files with the same budget (e.g. variants run as parallel "
                        "processes, each with its own --out) to --out")
    p.add_argument("--report", action="store_true", help="print the tables of --out as they stand; train nothing")


def merge_runs(results: dict[str, Any], path: Path) -> None:
    """Add the finished runs of another sweep file to `results` (runs already there are kept as they are)."""
    if not path.is_file():
        raise SystemExit(f"--merge: no sweep file {path}")
    other = json.loads(path.read_text())
    if other.get("budget") != json.loads(json.dumps(results["budget"])):  # (a file holds lists, not tuples)
        raise SystemExit(f"--merge: {path} holds a sweep with another budget ({other.get('budget')}); "
                         f"only sweeps with the same budget ({results['budget']}) can be merged")
    for key, run in other.get("runs", {}).items():
        results["runs"].setdefault(key, run)


def summarise(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """mean and std over seeds of every task metric, and delta_m against single-task (per seed, then averaged)."""
    runs, tasks = results["runs"], results["tasks"]
    single = {s: r["headline"] for (v, s), r in ((tuple(k.split("@")), r) for k, r in runs.items())
              if v == "single-task"}
    table: dict[str, dict[str, Any]] = {}
    for key, run in runs.items():
        variant, seed = key.split("@")
        row = table.setdefault(variant, {"seeds": [], "metrics": {t: [] for t in tasks}, "delta_m": [],
                                         "costs": run["costs"], "train_s": []})
        row["seeds"].append(int(seed))
        row["train_s"].append(run["train_s"])
        for t in tasks:
            row["metrics"][t].append(run["headline"][t])
        if seed in single and all(single[seed][t] for t in tasks):  # delta_m divides by the reference
            row["delta_m"].append(delta_m(run["headline"], single[seed], tasks))

    def stat(xs: list[float]) -> dict[str, float]:
        return {"mean": statistics.fmean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0, "n": len(xs)}

    return {v: {"seeds": sorted(r["seeds"]), "costs": r["costs"], "train_s": stat(r["train_s"]),
                "metrics": {t: stat(xs) for t, xs in r["metrics"].items()},
                "delta_m": stat(r["delta_m"]) if r["delta_m"] else None} for v, r in table.items()}


def claims(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of the paper's CLAIMS checked on the sweep: per-seed differences of delta_m (better - worse variant).

    The verdict is "as in the paper" when every seed agrees with the paper's direction, "opposite" when every seed
    disagrees, and "not resolved by the seeds" otherwise (for strict=False claims, "no better than", a mixed result
    agrees with the paper); one seed resolves nothing. With three seeds this is a coarse test; the mean and std of
    the differences say how large the effect is against the seed noise.
    """
    runs, tasks = results["runs"], results["tasks"]
    seeds = sorted({int(k.split("@")[1]) for k in runs})
    out = []
    for claim, where, better, worse, strict in CLAIMS:
        diffs = []
        for s in seeds:
            keys = (f"{better}@{s}", f"{worse}@{s}", f"single-task@{s}")
            if all(k in runs for k in keys) and all(runs[keys[2]]["headline"][t] for t in tasks):
                a, b, single = (runs[k]["headline"] for k in keys)
                diffs.append(delta_m(a, single, tasks) - delta_m(b, single, tasks))
        if not diffs:
            continue
        agree = sum(d > 0 for d in diffs)
        if len(diffs) < 2:
            verdict = "one seed: not resolved"
        elif agree == len(diffs):
            verdict = "as in the paper"
        elif all(d < 0 for d in diffs):
            verdict = "opposite"
        else:
            verdict = "not resolved by the seeds" if strict else "as in the paper (no clear difference)"
        out.append({"claim": claim, "where": where, "better": better, "worse": worse, "strict": strict,
                    "diffs": diffs, "mean": statistics.fmean(diffs),
                    "std": statistics.stdev(diffs) if len(diffs) > 1 else 0.0, "agree": agree, "verdict": verdict})
    return out


def format_claims(rows: list[dict[str, Any]], markdown: bool) -> str:
    if markdown:
        lines = ["| paper claim | where | compared | Δm difference, mean ± std | seeds agreeing | verdict |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {r['claim']} | {r['where']} | `{r['better']}` − `{r['worse']}` | "
                  f"{r['mean']:+.2f} ± {r['std']:.2f} | {r['agree']}/{len(r['diffs'])} | {r['verdict']} |" for r in rows]
    else:
        lines = [f"{r['claim'] + ' (' + r['where'] + ')':60s} {r['better']:>10s} - {r['worse']:<11s} "
                 f"{r['mean']:+6.2f} ±{r['std']:5.2f}  {r['agree']}/{len(r['diffs'])} seeds  {r['verdict']}"
                 for r in rows]
    return "\n".join(lines)


def format_table(summary: dict[str, dict[str, Any]], tasks: tuple[str, ...]) -> str:
    head = f"{'variant':12s} " + " ".join(f"{t + ' ' + TASKS[t].metric:>17s}" for t in tasks)
    lines = [head + f" {'delta_m %':>14s} {'params M':>8s} {'GFLOPs':>7s}"]
    for v in VARIANTS:
        if v not in summary:
            continue
        r = summary[v]
        cells = " ".join(f"{r['metrics'][t]['mean']:9.3f} ±{r['metrics'][t]['std']:6.3f}" for t in tasks)
        dm = f"{r['delta_m']['mean']:+7.2f} ±{r['delta_m']['std']:5.2f}" if r["delta_m"] else f"{'-':>14s}"
        lines.append(f"{v:12s} {cells} {dm} {r['costs']['params_m']:8.2f} {r['costs']['gflops']:7.2f}")
    return "\n".join(lines)


def format_markdown(summary: dict[str, dict[str, Any]], tasks: tuple[str, ...]) -> str:
    """The README's table: mean ± std over seeds of every metric, delta_m, and the cost of each variant."""
    arrow = {t: "↓" if TASKS[t].lower_is_better else "↑" for t in tasks}
    head = ["variant", "seeds", *(f"{t} {TASKS[t].metric} {arrow[t]}" for t in tasks), "Δm % ↑", "params M",
            "GFLOPs"]
    digits = {t: TASKS[t].spec.decimals for t in tasks}  # RMSE in metres needs one more digit than percentages
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in VARIANTS:
        if v not in summary:
            continue
        r = summary[v]
        cells = [f"{r['metrics'][t]['mean']:.{digits[t]}f} ± {r['metrics'][t]['std']:.{digits[t]}f}" for t in tasks]
        dm = f"{r['delta_m']['mean']:+.2f} ± {r['delta_m']['std']:.2f}" if r["delta_m"] else "-"
        lines.append("| " + " | ".join([f"`{v}`", str(len(r["seeds"])), *cells, dm, f"{r['costs']['params_m']:.2f}",
                                        f"{r['costs']['gflops']:.2f}"]) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    budget = dict(QUICK_BUDGET if args.quick else BUDGET)
    if args.iterations:
        budget["iterations"] = args.iterations
    if args.image_size:
        budget["image_size"] = (args.image_size, args.image_size)
    if args.val_size:
        budget["val_size"] = args.val_size
    if args.train_size:
        budget["train_size"] = args.train_size
    seeds = range(1 if args.quick else args.seeds)
    names = args.variants.split(",") if args.variants else list(QUICK_VARIANTS if args.quick else VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; valid: {list(VARIANTS)}")
    out = Path(args.out or (QUICK_OUT if args.quick else DEFAULT_OUT))
    results: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    if results and results.get("budget") != json.loads(json.dumps(budget)):
        raise SystemExit(f"{out} holds a sweep with another budget ({results.get('budget')}); use another --out")
    base = get_config("tiny-synthetic", **budget)
    results.update({"preset": "tiny-synthetic", "budget": budget, "tasks": list(base.tasks),
                    "runs": results.get("runs", {})})
    for other_path in args.merge:
        merge_runs(results, Path(other_path))
    for seed in [] if args.report else seeds:
        for name in names:
            key = f"{name}@{seed}"
            if key in results["runs"]:
                continue  # finished in an earlier, interrupted sweep
            print(f"--- {key}: {VARIANTS[name] or 'the full model'}", flush=True)
            t = time.time()
            model, _ = train("tiny-synthetic", progress=False, seed=seed, **budget, **VARIANTS[name])
            train_s = time.time() - t
            t = time.time()
            res = evaluate(model, val_loader(model.cfg))
            results["runs"][key] = {"headline": headline(res), "metrics": res, "train_s": train_s,
                                    "eval_s": time.time() - t,
                                    "costs": model_costs("tiny-synthetic", budget["image_size"], **VARIANTS[name])}
            atomic_write(out, lambda p: Path(p).write_text(json.dumps(results, indent=1)))
    results["summary"] = summarise(results)
    results["claims"] = claims(results)
    atomic_write(out, lambda p: Path(p).write_text(json.dumps(results, indent=1)))
    fmt = format_markdown if args.markdown else format_table
    print(fmt(results["summary"], tuple(results["tasks"])))
    print("\nThe paper's claims, by delta_m differences on the same seed:\n")
    print(format_claims(results["claims"], args.markdown))
    total = sum(r["train_s"] + r.get("eval_s", 0.0) for r in results["runs"].values())
    print(f"\nsweep time (train + evaluate, all runs in {out}): {total / 60:.1f} min")
    print(f"results: {out}  (mean ± std over seeds; delta_m in % vs single-task, higher is better)")
    return {k: v for k, v in results.items() if k != "runs"} | {"nan_free": not any(
        isinstance(x, float) and math.isnan(x) for r in results["runs"].values() for x in r["headline"].values())}
