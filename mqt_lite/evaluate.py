"""Evaluation with the paper's metrics (Sec. IV-A), from Python or `python -m mqt_lite.evaluate`.

    python -m mqt_lite.evaluate --checkpoint runs/mqt [--data synthetic|nyud|pascal --data-root DIR] [--json]
    python -m mqt_lite.evaluate --checkpoint runs/mqt --single-task runs/st   # adds delta_m (checkpoint or JSON)
    python -m mqt_lite.evaluate --checkpoint runs/tiny-rich --world classic   # a rich-world model on the classic val
    python -m mqt_lite.evaluate --checkpoint tiny-synthetic --real            # zero-shot depth on real photos
    python -m mqt_lite.evaluate --checkpoint tiny-rich --real --figure docs/real_photos.png  # and its predictions

Metrics are pooled over the whole split; under torchrun every rank evaluates a disjoint shard and the metric
states are summed across ranks before `compute()`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .baselines import TrivialModel
from .cli import add_debug_flag, user_errors
from .config import SYNTHETIC_WORLDS, MQTConfig, world_of
from .data import MultiTaskDataset, as_numpy, load_split
from .hub import from_pretrained, load_checkpoint
from .metrics import delta_m, make_metrics
from .precision import autocast, autocast_dtype
from .tasks import DATASET_TASKS, TASKS
from .zeroshot import evaluate_real, format_real, photo_figure


def val_loader(cfg: MQTConfig, split: str = "val", num_images: int | None = None, rank: int = 0,
               world: int = 1, batch_size: int | None = None) -> torch.utils.data.DataLoader:
    """The evaluation loader of a config's dataset: padded to `eval_size`, this rank's shard only."""
    ds = load_split(cfg, split, num_images)
    data = MultiTaskDataset(ds, cfg.tasks, size=cfg.eval_size, train=False, seed=cfg.seed)
    shard = list(range(rank, len(data), world))  # disjoint shards that cover the split
    return torch.utils.data.DataLoader(data, batch_size=batch_size or cfg.batch_size, sampler=shard,
                                       num_workers=min(cfg.num_workers, 2), pin_memory=torch.cuda.is_available())


@torch.no_grad()
def evaluate(model: nn.Module, loader: torch.utils.data.DataLoader, device: torch.device | str = "cpu",
             progress: bool = False) -> dict[str, dict[str, float]]:
    """All metrics of the model's tasks on a loader -> {task: {metric name: value}} (headline first)."""
    cfg = getattr(model, "module", model).cfg
    metrics = make_metrics(cfg.tasks, cfg.dataset)
    was_training = model.training
    model.eval()
    device = torch.device(device)
    dtype = autocast_dtype(cfg.eval_precision, device, training=False)
    for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
        with autocast(device, dtype):
            out = model(batch["image"].to(device, non_blocking=True))
        for t, metric in metrics.items():
            metric.update(TASKS[t].postprocess(out[t].float()).cpu(), batch[t])
    model.train(was_training)
    results = {}
    for t, metric in metrics.items():
        metric.all_reduce()
        results[t] = metric.details()
    return results


def trivial_model(cfg: MQTConfig, num_images: int = 200) -> TrivialModel:
    """The constant predictor (`baselines.TrivialModel`) fitted on the first `num_images` training images."""
    ds = load_split(cfg, "train", num_images)
    return TrivialModel(cfg, [as_numpy(ds[i], cfg.tasks) for i in range(min(num_images, len(ds)))])


def headline(results: dict[str, dict[str, float]]) -> dict[str, float]:
    """{task: {metric: value}} -> {task: headline value} (mIoU, rmse, mErr, maxF, odsF)."""
    return {t: r[TASKS[t].metric] for t, r in results.items()}


def format_table(results: dict[str, dict[str, float]], **columns: dict[str, float] | None) -> str:
    """Headline metric per task, with extra columns of headline values (e.g. single_task=..., trivial=...)."""
    columns = {k: v for k, v in columns.items() if v}
    lines = [f"{'task':8s} {'metric':6s} {'model':>9s}" + "".join(f" {k.replace('_', '-'):>11s}" for k in columns)]
    for t, r in results.items():
        key = TASKS[t].metric
        arrow = "lower is better" if TASKS[t].lower_is_better else "higher is better"
        extra = "".join(f" {c[t]:11.4f}" if t in c else f" {'-':>11s}" for c in columns.values())
        lines.append(f"{t:8s} {key:6s} {r[key]:9.4f}{extra}   ({arrow})")
    return "\n".join(lines)


def _single_task_metrics(sources: list[str], args: argparse.Namespace) -> dict[str, float]:
    """Headline metrics of single-task baselines from checkpoints (evaluated here) or JSON files."""
    out: dict[str, float] = {}
    for src in sources:
        path = Path(src)
        if path.suffix == ".json" and path.name != "checkpoint.json":
            data = json.loads(path.read_text())
            data = data.get("headline", data)
            out.update({t: float(v) for t, v in data.items() if t in TASKS})
        else:
            model = load_checkpoint(path, args.device)
            out.update(headline(_evaluate_checkpoint(model, args)))
    return out


def _data_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields that --data, --data-root and --world replace; and never the mix of classic scenes that a
    rich-world model's training split had (`classic_fraction`): the trivial predictor is fitted on the evaluated
    world alone, and another world or dataset takes no mix."""
    keys = {"dataset": args.data, "data_root": args.data_root, "synthetic_world": args.world}
    return {**{k: v for k, v in keys.items() if v}, "classic_fraction": 0.0}


def _evaluate_checkpoint(model: nn.Module, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    cfg = model.cfg.replace(**_data_overrides(args))
    loader = val_loader(cfg, args.split, args.num_images, batch_size=args.batch_size)
    return evaluate(model, loader, args.device, progress=not args.json)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m mqt_lite.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", default="tiny-synthetic",
                   help="a checkpoint folder, a bundled model name or a Hugging Face Hub id user/repo "
                        "(default: tiny-synthetic)")
    p.add_argument("--data", choices=list(DATASET_TASKS), help="dataset (default: the checkpoint's)")
    p.add_argument("--data-root", help="folder of NYUD_MT or PASCAL_MT")
    p.add_argument("--world", choices=SYNTHETIC_WORLDS,
                   help="synthetic world to evaluate on (default: the one the checkpoint was trained on)")
    p.add_argument("--split", default="val")
    p.add_argument("--num-images", type=int, help="evaluate on the first N images only")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--single-task", nargs="+", default=[],
                   help="single-task baselines (checkpoint folders or a JSON {task: metric}) for delta_m")
    p.add_argument("--trivial", action="store_true",
                   help="also score constant predictions (majority class, mean depth, mean normal, background)")
    p.add_argument("--real", action="store_true",
                   help="instead: zero-shot depth on the real photos with ground truth that installed packages ship "
                        "(scale-invariant measures, against the prior 'higher in the image is farther')")
    p.add_argument("--figure", metavar="PNG", help="with --real: also draw every task's predictions on the real "
                                                   "photos under a free licence into this PNG (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print the results as JSON only")
    add_debug_flag(p)
    args = p.parse_args(argv)
    if args.figure and not args.real:
        p.error("--figure draws the real photos: use it with --real")
    with user_errors(p.prog, args.debug):
        model = from_pretrained(args.checkpoint, args.device)
        return _real_report(model, args) if args.real else _report(model, args)


def _real_report(model: nn.Module, args: argparse.Namespace) -> dict[str, Any]:
    """`--real`: zeroshot.evaluate_real, printed as a table (or JSON)."""
    report = {"checkpoint": model.card["path"], "preset": model.cfg.name, **evaluate_real(model)}
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print(f"{report['checkpoint']} ({report['preset']}): zero-shot depth on real photos, "
              f"{report['alignment']}, depth capped at {report['depth_cap']:g} m")
        print(format_real(report))
    if args.figure:
        photo_figure(model, args.figure)
        if not args.json:
            print(f"figure written to {args.figure}")
    return report


def _report(model: nn.Module, args: argparse.Namespace) -> dict[str, Any]:
    """Evaluate, print the table (or JSON) and return the report."""
    results = _evaluate_checkpoint(model, args)
    report: dict[str, Any] = {"checkpoint": model.card["path"], "preset": model.cfg.name,
                              "dataset": args.data or model.cfg.dataset, "split": args.split,
                              "synthetic_world": args.world or model.cfg.synthetic_world,
                              "metrics": results, "headline": headline(results)}
    single = _single_task_metrics(args.single_task, args) if args.single_task else None
    if single is not None:
        report["single_task"] = single
        report["delta_m"] = delta_m(report["headline"], single, model.cfg.tasks)
    if args.trivial:
        report["trivial"] = headline(_evaluate_checkpoint(trivial_model(model.cfg.replace(**_data_overrides(args))),
                                                          args))
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        world = world_of(report)
        world = f" ({world} world)" if world not in (None, "classic") else ""
        print(f"{report['checkpoint']} ({report['preset']}) on {report['dataset']} {args.split}{world}")
        print(format_table(results, single_task=single, trivial=report.get("trivial")))
        if single is not None:
            print(f"delta_m vs single-task: {report['delta_m']:+.2f} %")
    return report


if __name__ == "__main__":
    main()
