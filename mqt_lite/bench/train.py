"""`python -m mqt_lite.bench train`: training throughput (images/s) and peak memory per preset.

Each preset runs in a fresh process (so its peak resident memory is its own) on random images and random
valid targets of the preset's shapes: the model, loss and optimizer step are what is measured, not the data
pipeline (see `bench data` for that). On CUDA the peak is torch's allocator peak; on CPU the process's peak RSS.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import torch

from ..config import get_config
from ..precision import PRECISIONS
from ..tasks import TASKS
from ..train import resolve_device, to_device, train_step, training_setup


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--presets", default="tiny-synthetic,hrnet18-nyud")
    p.add_argument("--steps", type=int, default=5, help="timed steps after 2 warm-up steps")
    p.add_argument("--batch-size", type=int, help="default: each preset's batch_size")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", choices=PRECISIONS, help="default: each preset's (auto: bf16 where native)")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one preset in this process


def random_batch(cfg: Any, batch_size: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Random images and valid random targets for every task of a config, at its training size."""
    batch = {"image": torch.randn(batch_size, 3, *cfg.image_size)}
    for t in cfg.tasks:
        batch[t] = TASKS[t].random_target(batch_size, cfg.image_size, cfg.dataset)
    return {k: v.to(device) for k, v in batch.items()}


def measure(preset: str, steps: int, batch_size: int | None, device_name: str,
            precision: str | None = None) -> dict[str, Any]:
    """Seconds per training step of a preset: `train.train_step` on one random batch, after 2 warm-up steps."""
    cfg = get_config(preset, pretrained=False, **({"precision": precision} if precision else {}))
    device = resolve_device(device_name)
    bs = batch_size or cfg.batch_size
    parts = training_setup(cfg, device)  # as train() builds it
    batch = to_device(random_batch(cfg, bs, torch.device("cpu")), device)
    dtype = parts.dtype

    def step() -> None:
        train_step(parts.model, parts.criterion, batch, parts.opt, parts.sched, parts.scaler, dtype, cfg.grad_clip)

    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    peak = (torch.cuda.max_memory_allocated() if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # ru_maxrss is KiB on Linux
    return {"preset": preset, "device": str(device), "threads": torch.get_num_threads(), "batch_size": bs,
            "image_size": list(cfg.image_size), "precision": str(dtype or "fp32").replace("torch.", ""),
            "images_per_s": bs * steps / seconds, "s_per_step": seconds / steps, "peak_mem_mib": peak / 2**20}


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.worker:
        print(json.dumps(measure(args.worker, args.steps, args.batch_size, args.device, args.precision)))
        return {}
    rows = []
    print(f"{'preset':16s} {'size':>9s} {'batch':>5s} {'images/s':>9s} {'s/step':>7s} {'peak MiB':>9s}  device")
    for preset in args.presets.split(","):
        get_config(preset)  # a bad name fails here with the valid ones listed
        cmd = [sys.executable, "-m", "mqt_lite.bench", "train", "--worker", preset, "--steps", str(args.steps),
               "--device", args.device] + (["--batch-size", str(args.batch_size)] if args.batch_size else []) \
            + (["--precision", args.precision] if args.precision else [])
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        row = json.loads(r.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{preset:16s} {'x'.join(map(str, row['image_size'])):>9s} {row['batch_size']:5d} "
              f"{row['images_per_s']:9.2f} {row['s_per_step']:7.2f} {row['peak_mem_mib']:9.0f}  "
              f"{row['device']} ({row['threads']} threads, {row['precision']})")
    return {"rows": rows}
