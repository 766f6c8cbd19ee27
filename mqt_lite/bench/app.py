"""`python -m mqt_lite.bench app`: latency of the demo's prediction function (`DemoApp.predict` in app.py).

At each size a synthetic scene is saved as a PNG and handed over as a file path, as the server does; one call
decodes it, predicts every task and colourises the maps. Reported after warm-up, with the torch threads that
`python app.py` uses: median and 95th percentile wall time of `model.predict` alone, of the app's function,
and of the app's function plus the encoding of its maps that Gradio adds before answering ("served": PNG for
label maps, WebP for the others). Uses the bundled tiny-synthetic model, or a randomly initialised one (with a
note) when it is not there. Target: served median under TARGET_MS at TARGET_SIZE.
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

TARGET_MS = 150.0
TARGET_SIZE = 256
APP_FILE = Path(__file__).resolve().parents[2] / "app.py"  # the demo lives beside the package, at the top level


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", default="256,512", help="comma-separated image sides")
    p.add_argument("--runs", type=int, default=20, help="timed calls per figure")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first")
    p.add_argument("--checkpoint", default="tiny-synthetic", help="a checkpoint folder or a bundled model name")


def _load_app() -> ModuleType:
    """Import app.py from the repository (it is not part of the installed package)."""
    if not APP_FILE.is_file():
        raise SystemExit(f"app.py not found at {APP_FILE}: run this benchmark from a checkout of the repository")
    spec = importlib.util.spec_from_file_location("mqt_demo_app", APP_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _times_ms(fn: Callable[[], Any], runs: int, warmup: int) -> dict[str, float]:
    """Median and 95th percentile of fn's wall time in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95))}


def _encode(maps: tuple, formats: list[str]) -> None:
    """Encode the maps as Gradio does for the app's gr.Image outputs."""
    for m, fmt in zip(maps, formats):
        Image.fromarray(m).save(io.BytesIO(), format=fmt)


def run(args: argparse.Namespace) -> dict[str, Any]:
    app = _load_app()
    try:
        model, source = app.load_model(args.checkpoint), "checkpoint"
    except (OSError, ValueError) as e:
        print(f"note: {e}\nnote: timing a randomly initialised tiny-synthetic model instead (same architecture)")
        from ..model import build_model

        model, source = build_model("tiny-synthetic").eval(), "random"
    app.configure_threads()  # as `python app.py` serves
    demo = app.DemoApp(model)
    n_tasks, formats = len(demo.tasks), [app.image_format(t) for t in demo.tasks]
    out: dict[str, Any] = {"model": model.cfg.name, "weights": source, "threads": torch.get_num_threads(),
                           "runs": args.runs, "target_ms": TARGET_MS, "sizes": {}}
    print(f"demo prediction latency: {model.cfg.name} ({source} weights), {n_tasks} tasks, "
          f"{torch.get_num_threads()} threads, {args.runs} runs after {args.warmup} warm-up (median / p95 ms)")
    print(f"{'size':>9s} {'model.predict':>16s} {'app predict':>16s} {'served':>16s}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            path = str(app.save_scene(Path(tmp), seed=0, size=size))
            rgb = app.load_image(path).rgb
            row = {
                "model": _times_ms(lambda: model.predict(rgb), args.runs, args.warmup),
                "app": _times_ms(lambda: demo.predict(path), args.runs, args.warmup),
                "served": _times_ms(lambda: _encode(demo.predict(path)[:n_tasks], formats), args.runs, args.warmup),
            }
            out["sizes"][size] = row
            fmt = lambda r: f"{r['median_ms']:6.1f} / {r['p95_ms']:6.1f}"  # noqa: E731
            print(f"{f'{size}x{size}':>9s} {fmt(row['model']):>16s} {fmt(row['app']):>16s} {fmt(row['served']):>16s}")
    if TARGET_SIZE in out["sizes"]:
        median = out["sizes"][TARGET_SIZE]["served"]["median_ms"]
        out["pass"] = median < TARGET_MS
        print(f"target: served median < {TARGET_MS:.0f} ms at {TARGET_SIZE}x{TARGET_SIZE}: {median:.1f} ms -> "
              f"{'PASS' if out['pass'] else 'FAIL'}")
    return out
