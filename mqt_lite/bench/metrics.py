"""`python -m mqt_lite.bench metrics`: seconds per 480x640 image of every metric's `update`, on one CPU thread.

The target is boundary odsF (99 thresholds, NYUD radius 0.011) in at most TARGET_S seconds per image. Times are
process CPU seconds (what one core spends; wall-clock time is printed too but is inflated when other jobs share
the cores). Inputs are
synthetic but shaped like real ones: the GT boundaries of a random smooth label map (one pixel wide), and an
edge-detector-like prediction: blurred GT boundaries plus a smooth positive background, so low thresholds
produce thick blobs that must be thinned, as balanced-BCE predictions do.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from scipy import ndimage

from ..metrics import BoundaryODSF, DepthRMSE, MeanIoU, NormalsMeanError, SaliencyMaxF

TARGET_S = 1.0
H, W = 480, 640
REGION_SIGMA = 30  # px, smoothness of the random label map
EDGE_BLUR = 2.0  # px, width of the predicted boundary response
BACKGROUND_SIGMA = 3  # px, smoothness of the background response
BACKGROUND_GAIN = 0.08  # strength of the background response
N_REGIONS = 5


def boundary_sample(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(prediction (H, W) float32 in [0, 1], GT (H, W) int64 in {0, 1})."""
    field = ndimage.gaussian_filter(rng.standard_normal((H, W)), REGION_SIGMA)
    labels = np.digitize(field, np.quantile(field, np.linspace(0, 1, N_REGIONS + 1)[1:-1]))
    gt = np.zeros((H, W), bool)
    gt[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    gt[:-1] |= labels[:-1] != labels[1:]
    edges = ndimage.gaussian_filter(gt.astype(np.float64), EDGE_BLUR)
    background = ndimage.gaussian_filter(rng.standard_normal((H, W)), BACKGROUND_SIGMA)
    pred = 0.9 * edges / edges.max() + BACKGROUND_GAIN * np.maximum(background / background.std(), 0)
    return np.clip(pred, 0, 1).astype(np.float32), gt.astype(np.int64)


def time_update(metric, pred, target, repeats: int) -> tuple[float, float]:
    """Median (CPU seconds, wall seconds) of metric.update over `repeats` calls."""
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        metric.update(pred, target)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=3, help="boundary images to time (default 3)")
    parser.add_argument("--max-dist", type=float, default=0.011, help="matching radius / diagonal (NYUD 0.011)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)  # numpy and scipy run these metrics on one thread already
    rng = np.random.default_rng(args.seed)
    odsf, cpu, wall = BoundaryODSF(max_dist=args.max_dist), [], []
    # the first call compiles the numba matching (or loads it from numba's cache) and pays one-time imports and
    # allocations: it is timed apart, on an extra image, and not counted in the per-image times
    extra = [torch.from_numpy(a)[None] for a in boundary_sample(rng)]
    c = time.process_time()
    BoundaryODSF(max_dist=args.max_dist).update(*extra)
    first_call_s = time.process_time() - c
    for _ in range(args.images):
        pred, gt = boundary_sample(rng)
        c, w = time_update(odsf, torch.from_numpy(pred)[None], torch.from_numpy(gt)[None], 1)
        cpu.append(c)
        wall.append(w)
    edge_s = statistics.median(cpu)
    g = torch.Generator().manual_seed(args.seed)
    dense = {
        "MeanIoU (40 classes)": (MeanIoU(40), torch.randint(0, 40, (1, H, W), generator=g),
                                 torch.randint(0, 40, (1, H, W), generator=g)),
        "DepthRMSE": (DepthRMSE(), torch.rand(1, H, W, generator=g), torch.rand(1, 1, H, W, generator=g)),
        "NormalsMeanError": (NormalsMeanError(), torch.randn(1, 3, H, W, generator=g),
                             torch.randn(1, 3, H, W, generator=g)),
        "SaliencyMaxF": (SaliencyMaxF(), torch.rand(1, H, W, generator=g), torch.randint(0, 2, (1, H, W), generator=g)),
    }
    result = {"image": [H, W], "images": args.images, "max_dist": args.max_dist, "thresholds": len(odsf.thresholds),
              "boundary_odsf_cpu_s": edge_s, "boundary_odsf_wall_s": statistics.median(wall),
              "boundary_odsf_cpu_s_per_image": cpu, "first_call_s": first_call_s, "target_s": TARGET_S,
              "pass": edge_s <= TARGET_S,
              "odsF_of_inputs": odsf.compute(),
              "other_cpu_s": {name: time_update(m, p, t, 3)[0] for name, (m, p, t) in dense.items()}}
    if not args.json:
        print(f"seconds per {H}x{W} image, one thread, median over images (CPU time; wall in brackets)")
        status = "PASS" if result["pass"] else "FAIL"
        print(f"{'BoundaryODSF (99 thr, r=' + str(args.max_dist) + ')':34s} {edge_s:8.3f} "
              f"({result['boundary_odsf_wall_s']:.2f})  target <= {TARGET_S} s: {status}  "
              f"(per image: {', '.join(f'{s:.2f}' for s in cpu)})")
        print(f"{'  first call (compile, imports)':34s} {first_call_s:8.3f}  once per process, on an extra image")
        for name, s in result["other_cpu_s"].items():
            print(f"{name:34s} {s:8.4f}")
    return result
