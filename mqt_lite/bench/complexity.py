"""`python -m mqt_lite.bench complexity`: parameters and compute of the paper presets (Tab. I and II).

Compute is counted by `torch.utils.flop_counter.FlopCounterMode` on meta tensors (exact, nothing is run):
it counts 2 FLOPs per multiply-add. Papers of this field usually report multiply-adds as "FLOPs", so both are
printed: GMACs = GFLOPs / 2. CPU times are medians of real runs on this machine.

Three tables:
1. Tab. II: every paper preset at its input size, MQT model and multi-task baseline, next to the paper.
2. The MQT head (everything after the timm body: fusion, MQT head, task heads) on HRNet-18 features for the 4
   NYUD tasks at 448x576, against the official head as measured by the issue's author (quoted, not re-run).
3. Tab. I: cross-task interaction on the same task features: our query-level attention (T*M tokens) against
   pixel-level global attention (T*N tokens) and local windowed attention (T*k*k tokens per window). The three
   use one and the same attention block; only the set of tokens differs.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..config import PRESETS, get_config
from ..model import build_model
from ..mqt import CrossTaskQueryAttention

# Paper Tab. II (NYUD-v2): (params M, GFLOPs as printed, which are multiply-adds) of MQTransformer / MT baseline.
PAPER_TAB2 = {
    "hrnet18-nyud": {"mqt": (5.23, 22.97), "multi-task": (4.52, 17.59)},
    "swin-t-nyud": {"mqt": (35.35, 106.02), "multi-task": (32.50, 96.29)},
    "swin-s-nyud": {"mqt": (56.67, 126.37), "multi-task": (53.82, 116.63)},
    "swin-l-nyud": {"mqt": (204.3, 365.25)},
}
# The official MQTransformer head on HRNet-18 features, 4 NYUD tasks, 448x576, batch 1 (issue #2's measurement).
OFFICIAL_HEAD = {"params_m": 4.46, "dead_params_m": 1.31, "gflops": 214.6, "cpu_s": 1.6}
PAPER_TAB1 = {"global": 9.74, "local": 21.74, "query": 0.03}  # GFLOPs as printed in Tab. I
LOCAL_WINDOW = 7  # window side of the local cross-task attention (Swin's)
TARGET_HEAD_RATIO = 0.5
TARGET_TAB1_RATIO = 1 / 300


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--presets", default=",".join(n for n in PRESETS if n != "tiny-synthetic"),
                   help="comma-separated presets for the Tab. II table")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per CPU-time figure (median)")
    p.add_argument("--no-time", action="store_true", help="skip the CPU timings (FLOPs only)")


def count_flops(fn: Callable[[], Any]) -> tuple[float, dict[str, float]]:
    """Run fn (which builds and runs on the meta device) under FlopCounterMode -> (total, per-module) FLOPs."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    per_module = {k: float(sum(v.values())) for k, v in counter.get_flop_counts().items()}
    return float(counter.get_total_flops()), per_module


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    with torch.inference_mode():
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def model_costs(preset: str, size: tuple[int, int] | None = None, **overrides: Any) -> dict[str, float]:
    """Params (M) and GFLOPs of a model, of its head (all but the timm bodies) and of CTQA, on meta tensors.

    Args:
        preset: a preset name; `overrides` change its fields (e.g. head="multi-task", num_queries=8).
        size: input (H, W); default the preset's image_size.
    """
    with torch.device("meta"):
        model = build_model(preset, **{"pretrained": False, **overrides}).eval()  # eval: BatchNorm takes 1x1 at batch 1
        x = torch.empty(1, 3, *(size or model.cfg.image_size))
    total, per = count_flops(lambda: model(x))
    body = sum(v for k, v in per.items() if k.endswith("backbone.body"))  # one body per network
    n_params = sum(p.numel() for p in model.parameters())
    n_body = sum(p.numel() for n, p in model.named_parameters() if "backbone.body." in n)
    return {"params_m": n_params / 1e6, "head_params_m": (n_params - n_body) / 1e6,
            "gflops": total / 1e9, "head_gflops": (total - body) / 1e9,
            "ctqa_gflops": sum(v for k, v in per.items() if k.endswith("mqt.ctqa")) / 1e9}


def head_vs_official(repeats: int, timed: bool) -> dict[str, Any]:
    """Our head on HRNet-18 features (18/36/72/144 ch, strides 4-32) at 448x576, batch 1, vs the official head."""
    costs = model_costs("hrnet18-nyud")
    row = {"params_m": costs["head_params_m"], "gflops": costs["head_gflops"], "gmacs": costs["head_gflops"] / 2}
    if timed:
        model = build_model("hrnet18-nyud", pretrained=False).eval()
        size = model.cfg.image_size
        with torch.inference_mode():
            pyramid = model.backbone.body(torch.randn(1, 3, *size))  # fixed input features
        row["cpu_s"] = median_seconds(lambda: model.decode(model.backbone.fuse(pyramid), size), repeats)
    row["flops_ratio"] = row["gflops"] / OFFICIAL_HEAD["gflops"]
    if "cpu_s" in row:
        row["time_ratio"] = row["cpu_s"] / OFFICIAL_HEAD["cpu_s"]
    row["pass"] = row["flops_ratio"] <= TARGET_HEAD_RATIO and row.get("time_ratio", 0) <= TARGET_HEAD_RATIO
    return row


def cross_task_tokens(kind: str, T: int, M: int, C: int, h: int, w: int, window: int = LOCAL_WINDOW,
                      device: str | torch.device = "cpu") -> list[torch.Tensor]:
    """The token sets that a cross-task attention block mixes, as a list of T tensors (B', n, C).

    query: T x (1, M, C); global: T x (1, h*w, C) (every pixel of every task); local: T x (windows, k*k, C).
    """
    if kind == "query":
        return [torch.randn(1, M, C, device=device) for _ in range(T)]
    if kind == "global":
        return [torch.randn(1, h * w, C, device=device) for _ in range(T)]
    if kind == "local":
        n_windows = -(-h // window) * -(-w // window)  # padded to whole windows
        return [torch.randn(n_windows, window * window, C, device=device) for _ in range(T)]
    raise ValueError(f"unknown cross-task attention kind {kind!r}; valid: query, global, local")


def tab1(T: int, M: int, C: int, h: int, w: int, repeats: int, timed: bool, heads: int = 4) -> dict[str, dict]:
    """Compute (GFLOPs) and CPU time (s) of query / global / local cross-task attention on an (h, w) map."""
    rows = {}
    for kind in ("query", "local", "global"):
        with torch.device("meta"):
            block = CrossTaskQueryAttention(C, heads, mlp_ratio=4.0)
            tokens = cross_task_tokens(kind, T, M, C, h, w, device="meta")
        flops, _ = count_flops(lambda: block(tokens))
        rows[kind] = {"tokens": sum(t.shape[0] * t.shape[1] for t in tokens), "gflops": flops / 1e9}
        if timed:
            block = CrossTaskQueryAttention(C, heads, mlp_ratio=4.0).eval()
            tokens = cross_task_tokens(kind, T, M, C, h, w)
            rows[kind]["cpu_s"] = median_seconds(lambda: block(tokens), repeats)
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    timed = not args.no_time
    out: dict[str, Any] = {"presets": {}, "unit": "GFLOPs = 2 x GMACs (torch flop counter)"}
    print("Tab. II: parameters (M) and compute (GFLOPs, 2 per multiply-add; GMACs = half) at the paper's sizes")
    print(f"{'preset':16s} {'head':10s} {'size':>9s} {'params':>7s} {'head p.':>7s} {'GFLOPs':>8s} {'GMACs':>8s} "
          f"{'head GF':>8s} {'CTQA GF':>8s}   paper (params, G)")
    for name in args.presets.split(","):
        cfg = get_config(name)
        for head in ("mqt", "multi-task"):
            c = model_costs(name, head=head)
            out["presets"].setdefault(name, {})[head] = c
            paper = PAPER_TAB2.get(name, {}).get(head)
            size = "x".join(map(str, cfg.image_size))
            print(f"{name:16s} {head:10s} {size:>9s} {c['params_m']:7.2f} {c['head_params_m']:7.2f} "
                  f"{c['gflops']:8.2f} {c['gflops'] / 2:8.2f} {c['head_gflops']:8.2f} {c['ctqa_gflops']:8.3f}   "
                  f"{paper if paper else '-'}")

    h = head_vs_official(args.repeats, timed)
    out["head_vs_official"] = {"ours": h, "official": OFFICIAL_HEAD}
    print("\nMQT head on HRNet-18 features, 4 NYUD tasks, 448x576, batch 1 (target: <= 1/2 of official)")
    print(f"  ours:     {h['params_m']:.2f} M params, {h['gflops']:.1f} GFLOPs ({h['gmacs']:.1f} GMACs)"
          + (f", {h['cpu_s']:.3f} s CPU" if "cpu_s" in h else ""))
    print(f"  official: {OFFICIAL_HEAD['params_m']} M params ({OFFICIAL_HEAD['dead_params_m']} M never get a "
          f"gradient), {OFFICIAL_HEAD['gflops']} GFLOPs, {OFFICIAL_HEAD['cpu_s']} s CPU (quoted from issue #2)")
    print(f"  ratio: compute {h['flops_ratio']:.3f}" + (f", CPU time {h['time_ratio']:.3f}" if "time_ratio" in h
          else "") + f"  -> {'PASS' if h['pass'] else 'FAIL'}")

    cfg = PRESETS["hrnet18-nyud"]
    T, M, C = len(cfg.tasks), cfg.num_queries, cfg.dim
    out["tab1"] = {}
    for stride in (8, 4):
        hh, ww = cfg.image_size[0] // stride, cfg.image_size[1] // stride
        # Global attention at stride 4 has 64k tokens: counted, but too slow to time on a CPU.
        rows = tab1(T, M, C, hh, ww, args.repeats, timed and stride == 8)
        ratio = rows["query"]["gflops"] / rows["global"]["gflops"]
        out["tab1"][f"stride{stride}"] = {"size": [hh, ww], "rows": rows, "query_over_global": ratio,
                                          "pass": ratio <= TARGET_TAB1_RATIO}
        print(f"\nTab. I: cross-task attention, T={T} tasks, M={M} queries, C={C}, feature {hh}x{ww} "
              f"(stride {stride} of 448x576), one attention+MLP block")
        for kind, r in rows.items():
            t = f"{r['cpu_s']:.4f} s" if "cpu_s" in r else "not timed"
            print(f"  {kind:7s} tokens {r['tokens']:7d}  {r['gflops']:10.3f} GFLOPs  {t:>12s}   "
                  f"paper: {PAPER_TAB1[kind]} G")
        print(f"  query / global compute = 1/{1 / ratio:.0f}  (target <= 1/300) -> "
              f"{'PASS' if ratio <= TARGET_TAB1_RATIO else 'FAIL'}")
    return out
