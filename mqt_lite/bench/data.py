"""`python -m mqt_lite.bench data`: how fast the synthetic worlds are made and fed, on one thread.

Three rates per world and size: render_scene alone (targets: TARGETS scenes/s at 128x128, per world), make_synthetic
(rendering + conversion to a datasets.Dataset), and MultiTaskDataset training samples (decode + augment).
Rates use this process's CPU time, so other processes sharing the cores do not count; wall-clock rates are
printed beside them.
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import torch

from ..config import SYNTHETIC_WORLDS
from ..data import MultiTaskDataset, make_synthetic, render_scene, scene_rng
from ..tasks import DATASET_TASKS

TARGETS = {"classic": 200.0, "rich": 100.0}  # render_scene scenes per CPU second at TARGET_SIZE, one thread
TARGET_SIZE = 128
WARMUP = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images", type=int, default=200, help="scenes per measurement")
    p.add_argument("--sizes", default="128,256", help="comma-separated image sides")
    p.add_argument("--worlds", default=",".join(SYNTHETIC_WORLDS), help="comma-separated synthetic worlds")


def _rate(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    """(items per CPU second, items per wall second) of fn, which processes n items."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return n / (time.process_time() - cpu), n / (time.perf_counter() - wall)


def _measure(world: str, size: int, n: int) -> dict[str, float]:
    """The three rates of one world at one size."""
    make_synthetic(WARMUP, size=size, split="test", world=world)  # imports and first-call costs are not measured
    render = _rate(lambda: [render_scene(scene_rng(0, "train", i), size, world) for i in range(n)], n)
    holder: dict[str, Any] = {}
    build = _rate(lambda: holder.setdefault("ds", make_synthetic(n, size=size, world=world)), n)
    samples = MultiTaskDataset(holder["ds"], DATASET_TASKS["synthetic"], size=(size, size), train=True)
    feed = _rate(lambda: [samples[i] for i in range(n)], n)
    fmt = lambda r: f"{r[0]:7.0f} ({r[1]:5.0f})"
    print(f"{world:>8s} {f'{size}x{size}':>9s} {fmt(render):>16s} {fmt(build):>16s} {fmt(feed):>18s}")
    return {"render_per_s": render[0], "render_wall_per_s": render[1], "dataset_per_s": build[0],
            "dataset_wall_per_s": build[1], "train_samples_per_s": feed[0], "train_samples_wall_per_s": feed[1]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(1)  # numpy's element-wise ops are single-threaded already
    n = args.images
    worlds = [w.strip() for w in args.worlds.split(",") if w.strip()]
    out: dict[str, Any] = {"threads": 1, "images": n, "targets_scenes_per_s": TARGETS, "worlds": {}}
    print(f"synthetic worlds, 1 thread, {n} scenes per figure (CPU-time rate; wall-clock rate in brackets)")
    print(f"{'world':>8s} {'size':>9s} {'render/s':>16s} {'dataset/s':>16s} {'train samples/s':>18s}")
    for world in worlds:
        out["worlds"][world] = {size: _measure(world, size, n) for size in (int(s) for s in args.sizes.split(","))}
    for world, sizes in out["worlds"].items():
        if TARGET_SIZE in sizes:
            rate, target = sizes[TARGET_SIZE]["render_per_s"], TARGETS[world]
            sizes["pass"] = rate >= target
            print(f"target ({world}): >= {target:.0f} scenes/s at {TARGET_SIZE}x{TARGET_SIZE} on one thread: "
                  f"{rate:.0f} -> {'PASS' if sizes['pass'] else 'FAIL'}")
    return out
