"""Zero-shot depth on real photographs (`python -m mqt_lite.evaluate --real`): the model against a trivial prior.

A model trained only on synthetic scenes predicts depth in the units of its world; on a real photo only the
ordering and the relative layout can be right, so the measures are the scale-invariant ones used for zero-shot
monocular depth (MiDaS, Ranftl et al., TPAMI 2022):
- Spearman rank correlation between predicted and true depth over the valid pixels (ties share their mean rank).
  It only depends on the ordering, so it is the same whether the truth is depth or disparity (disparity orders
  pixels exactly in reverse).
- AbsRel, RMSE (metres) and delta1 after a least-squares scale and shift alignment in inverse-depth (disparity)
  space, as MiDaS evaluates: s, t minimise sum (s / pred + t - 1 / true)^2 over the valid pixels; the aligned
  inverse depth is clamped to at least 1 / DEPTH_CAP and inverted back to depth, and the errors are taken in depth.
The prior scored the same way is "higher in the image is farther": inverse depth linear in the image row (what a
level camera sees of a flat floor), so after the alignment it is the best floor-plane fit of the truth. Ground
truth: data/real.py (every real image with dense ground truth that an installed package ships); predictions are
made at the model's input size by `model.predict` and upsampled to the photo's size. One more number tells how
much of a model's ranking the prior explains: `vs_prior`, the Spearman correlation of its depth with the prior's
over the same pixels (1 for the prior itself; near 1: the model ranks depth by image row and little else).

`photo_figure` (`evaluate --real --figure FILE`) draws every task the model predicts on the free-licence photos of
data/real.py (no ground truth: what it shows is judged by eye).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from .data.real import PHOTOS, REAL_IMAGES, load_photo, load_real
from .viz import prediction_grid

DEPTH_CAP = 10.0  # metres: aligned depth is capped here (MiDaS uses 10 m on its indoor sets)
MIN_DEPTH = 1e-3  # metres: predicted depth is clamped here before inverting it
DELTA = 1.25
PREDICTORS = ("model", "row_prior")
FIGURE_DPI = 80  # docs/real_photos.png: about 1 MB at 5 photos x 7 panels


def spearman(pred: np.ndarray, target: np.ndarray) -> float:
    """Spearman's rank correlation of two equally long 1-D arrays (ties get their mean rank); nan if either is
    constant."""
    a, b = rankdata(pred), rankdata(target)
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 0 else float("nan")


def align_scale_shift(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(s, t) minimising sum (s x + t - y)^2 (least squares; float64)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n, sx, sy, sxx, sxy = len(x), x.sum(), y.sum(), (x * x).sum(), (x * y).sum()
    det = n * sxx - sx * sx
    if det <= 0:  # constant x: only the shift can fit
        return 0.0, float(sy / n)
    return float((n * sxy - sx * sy) / det), float((sxx * sy - sx * sxy) / det)


def valid_depth(target: np.ndarray) -> np.ndarray:
    """The pixels with ground truth: finite depth above 0 (0 and non-finite mark missing disparity)."""
    return np.isfinite(target) & (target > 0)


def depth_scores(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Spearman, then AbsRel, RMSE and delta1 after scale-and-shift alignment in inverse depth (module docstring).

    Args:
        pred: predicted depth (H, W), any positive units.
        target: true depth (H, W) in metres, 0 or non-finite = invalid.
    """
    valid = valid_depth(target)
    p = np.maximum(np.asarray(pred, np.float64)[valid], MIN_DEPTH)
    g = np.asarray(target, np.float64)[valid]
    s, t = align_scale_shift(1 / p, 1 / g)
    aligned = 1 / np.maximum(s / p + t, 1 / DEPTH_CAP)
    ratio = np.maximum(aligned / g, g / aligned)
    return {"spearman": spearman(p, g), "absrel": float(np.mean(np.abs(aligned - g) / g)),
            "rmse": float(np.sqrt(np.mean((aligned - g) ** 2))), "delta1": float(np.mean(ratio < DELTA)),
            "scale": s, "shift": t, "pixels": int(valid.sum())}


def row_prior(H: int, W: int) -> np.ndarray:
    """(H, W) depth of the prior "higher in the image is farther": inverse depth (row + 0.5) / H, linear in the
    row (the units are arbitrary: every measure here is scale-invariant)."""
    return np.broadcast_to(H / (np.arange(H, dtype=np.float64)[:, None] + 0.5), (H, W))


def evaluate_real(model: Any, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Depth scores of the model and of the row prior on every real image (or `names` of REAL_IMAGES), and their
    mean over the images: {"images": {name: {predictor: scores}}, "mean": {predictor: scores}, "sources": ...}."""
    images: dict[str, dict[str, dict[str, float]]] = {}
    for row in load_real(names):
        depth = model.predict(row["image"]).get("depth")
        if depth is None:
            raise ValueError(f"this model does not predict depth (its tasks: {list(model.cfg.tasks)}); the "
                             "real-image benchmark scores depth")
        truth = row["depth"]
        prior, valid = row_prior(*truth.shape), valid_depth(truth)
        model_scores = {**depth_scores(depth, truth), "vs_prior": spearman(depth[valid], prior[valid])}
        images[row["name"]] = {"model": model_scores, "row_prior": {**depth_scores(prior, truth), "vs_prior": 1.0}}
    mean = {p: {k: float(np.mean([scores[p][k] for scores in images.values()])) for k in images[next(iter(images))][p]}
            for p in PREDICTORS}
    sources = {name: {k: REAL_IMAGES[name][k] for k in ("source", "licence")} for name in images}
    return {"images": images, "mean": mean, "sources": sources, "depth_cap": DEPTH_CAP,
            "alignment": "least-squares scale and shift of inverse depth (MiDaS)"}


def format_real(report: dict[str, Any]) -> str:
    """The report as a table: one line per image and predictor, then the mean."""
    head = f"{'image':12s} {'predictor':10s} {'spearman':>9s} {'absrel':>8s} {'rmse m':>8s} {'delta1':>8s} " \
           f"{'vs prior':>9s}"
    lines = [head, "  (spearman, delta1: higher is better; absrel, rmse: lower is better; vs prior: Spearman of the "
                   "predictor's depth with the row prior's)"]
    rows = [(name, scores) for name, scores in report["images"].items()]
    if len(rows) > 1:
        rows.append(("mean", report["mean"]))
    for name, scores in rows:
        for p in PREDICTORS:
            s = scores[p]
            lines.append(f"{name:12s} {p:10s} {s['spearman']:9.4f} {s['absrel']:8.4f} {s['rmse']:8.4f} "
                         f"{s['delta1']:8.4f} {s.get('vs_prior', float('nan')):9.4f}")
    return "\n".join(lines)


def photo_figure(model: Any, path: str | Path | None = None, names: tuple[str, ...] | None = None):
    """The model's predictions of every task on real photos (data/real.py's PHOTOS, or `names` of them), one photo a
    row; saved as a PNG at `path` when given. Needs matplotlib. Returns the Figure."""
    names = tuple(names or PHOTOS)
    photos = [load_photo(n) for n in names]
    fig = prediction_grid(photos, [model.predict(p) for p in photos], names, model.cfg.dataset, model.cfg.tasks,
                          title=f"{model.cfg.name} on real photos (no ground truth; scikit-image's CC0 / public-domain "
                                "samples)")
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=FIGURE_DPI)
    return fig
