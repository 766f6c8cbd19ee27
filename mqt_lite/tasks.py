"""TASKS: the one place that knows each of the six dense prediction tasks (paper Sec. III-C, IV-A).

Everything task-specific lives here: output channels per dataset, class names, loss weight and loss, metric,
post-processing of the model's raw outputs, and colours for plots. Code elsewhere iterates over TASKS; it never
branches on a task's name, and neither does this file: methods dispatch on `kind`, binary tasks differ by data
(`balanced` loss, `metric` key).
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from .metrics import Metric

IGNORE = 255  # label value of ignored pixels (semseg, parts, sal, edge)

# Label spaces. The synthetic world's classes are rendered by mqt_lite.data.synthetic.
CLASS_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "synthetic": {
        "semseg": ("floor", "wall", "box", "sphere", "cylinder", "cone"),
        "parts": ("background", "top", "side", "bottom"),
    },
    "nyud": {
        "semseg": (
            "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
            "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror",
            "floor mat", "clothes", "ceiling", "books", "refrigerator", "television", "paper", "towel",
            "shower curtain", "box", "whiteboard", "person", "night stand", "toilet", "sink", "lamp",
            "bathtub", "bag", "otherstructure", "otherfurniture", "otherprop",
        ),
    },
    "pascal": {
        "semseg": (
            "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
            "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
            "train", "tvmonitor",
        ),
        "parts": ("background", "head", "torso", "upper arm", "lower arm", "upper leg", "lower leg"),
    },
}

DATASET_TASKS: dict[str, tuple[str, ...]] = {
    "synthetic": ("semseg", "parts", "sal", "normals", "depth", "edge"),
    "nyud": ("semseg", "depth", "normals", "edge"),
    "pascal": ("semseg", "parts", "sal", "normals", "edge"),
}

# Boundary matching tolerance as a fraction of the image diagonal (SEISM / ATRC conventions).
EDGE_MAX_DIST: dict[str, float] = {"synthetic": 0.0075, "nyud": 0.011, "pascal": 0.0075}
# Boundaries' positive weight w of the balanced BCE, as the official code sets it per dataset (NYUD 0.8,
# PASCAL 0.95). The synthetic world uses 0.95 too: 3.1 % of its pixels are boundary at 128x128 (200 training
# scenes), so the HED-style weight (the fraction of negatives) would be 0.97; 0.95 was kept, not tuned.
EDGE_POS_WEIGHT: dict[str, float] = {"synthetic": 0.95, "nyud": 0.8, "pascal": 0.95}


@dataclass(frozen=True)
class Task:
    """What the rest of the package needs to know about one task."""

    name: str
    title: str
    kind: str  # "labels" (per-pixel classes), "binary" (per-pixel probability), "depth", "normals"
    loss_weight: float  # Sec. III-C
    metric: str  # key in the metrics dict: mIoU | rmse | mErr | maxF | odsF
    lower_is_better: bool
    balanced: bool = False  # binary tasks only: class-balanced BCE (boundaries) instead of plain BCE (saliency)

    def channels(self, dataset: str) -> int:
        """Output channels K_t of the model for this task on `dataset`."""
        if self.kind == "labels":
            return len(class_names(dataset, self.name))
        return 3 if self.kind == "normals" else 1

    def postprocess(self, output: Tensor) -> Tensor:
        """Raw model output (B, K, H, W) -> what the metric takes and `predict` returns.

        labels: argmax int64 (B, H, W); binary: sigmoid probabilities (B, H, W); depth: metres >= 0 (B, H, W);
        normals: unit vectors (B, 3, H, W).
        """
        if output.ndim != 4:
            raise ValueError(f"{self.name}: postprocess expects output (B,K,H,W), got {tuple(output.shape)}")
        if self.kind == "labels":
            return output.max(1).indices  # = argmax(1), ~100x faster on NCHW batch-1 maps on CPU
        if self.kind == "binary":
            return torch.sigmoid(output[:, 0])
        if self.kind == "depth":
            return output[:, 0].clamp(min=0)
        return unit_vectors(output)

    def make_loss(self, edge_pos_weight: float = EDGE_POS_WEIGHT["synthetic"]) -> nn.Module:
        """The task's loss module, forward (output (B,K,H,W), target) -> scalar (mqt_lite.losses)."""
        from . import losses

        if self.kind == "binary":
            return losses.BinaryCrossEntropy(edge_pos_weight if self.balanced else None)
        return {"labels": losses.CrossEntropy, "depth": losses.DepthL1, "normals": losses.NormalsL1}[self.kind]()

    def make_metric(self, dataset: str) -> Metric:
        """The paper's metric of this task on `dataset` (a fresh mqt_lite.metrics.Metric)."""
        from . import metrics

        factories = {
            "mIoU": lambda: metrics.MeanIoU(self.channels(dataset)),
            "rmse": metrics.DepthRMSE,
            "mErr": metrics.NormalsMeanError,
            "maxF": metrics.SaliencyMaxF,
            "odsF": lambda: metrics.BoundaryODSF(max_dist=EDGE_MAX_DIST[dataset]),
        }
        return factories[self.metric]()

    def colourise(self, array: np.ndarray, dataset: str, vmin: float | None = None,
                  vmax: float | None = None) -> np.ndarray:
        """Prediction or target of this task -> (H, W, 3) uint8 image.

        labels (H, W) ints: fixed palette, 255 (ignore) black. depth (H, W) or (1, H, W) metres: warm (near) to
        dark (far) ramp, scaled to [vmin, vmax] (default: this image's valid range), invalid (<= 0) black.
        normals (3, H, W): (n + 1) / 2 * 255, invalid (all-zero) black. binary (H, W) probabilities: grayscale,
        255 (ignore) mid-grey. `dataset` is accepted for a uniform signature (the palette is the same everywhere).
        """
        a = np.asarray(array)
        if self.kind == "labels":
            return PALETTE[np.where((a < 0) | (a > IGNORE), IGNORE, a).astype(np.int64)]
        if self.kind == "depth":
            return _depth_colours(a.reshape(a.shape[-2:]).astype(np.float64), vmin, vmax)
        if self.kind == "normals":
            if a.ndim != 3 or a.shape[0] != 3:
                raise ValueError(f"{self.name}: colourise expects normals (3,H,W), got {a.shape}")
            rgb = np.round((np.clip(a, -1, 1) + 1) / 2 * 255).astype(np.uint8).transpose(1, 2, 0)
            return np.where((a != 0).any(0)[..., None], rgb, 0).astype(np.uint8)
        grey = np.where(a == IGNORE, 0.5, np.clip(a, 0, 1))
        return np.repeat(np.round(grey * 255).astype(np.uint8)[..., None], 3, axis=-1)

    def legend(self, dataset: str) -> list[tuple[str, tuple[int, int, int]]]:
        """(class name, (r, g, b)) of every class of a label task, in label order."""
        if self.kind != "labels":
            raise ValueError(f"{self.name} is not a label task: it has no legend")
        return [(name, tuple(int(c) for c in PALETTE[i])) for i, name in enumerate(class_names(dataset, self.name))]


def unit_vectors(x: Tensor, eps: float = 1e-12) -> Tensor:
    """x / max(||x||, eps) over dim 1, as F.normalize, through a sum of squares: F.normalize's vector_norm is
    ~100x slower on the contiguous NCHW maps of a batch-1 forward on CPU."""
    return x / x.square().sum(1, keepdim=True).sqrt().clamp(min=eps)


def class_names(dataset: str, task: str) -> tuple[str, ...]:
    """Class names of a label task (semseg, parts) in a dataset."""
    try:
        return CLASS_NAMES[dataset][task]
    except KeyError:
        raise ValueError(f"dataset {dataset!r} has no class names for task {task!r}") from None


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("semseg", "Semantic segmentation", "labels", 1.0, "mIoU", False),
        Task("parts", "Part segmentation", "labels", 2.0, "mIoU", False),
        Task("sal", "Saliency", "binary", 5.0, "maxF", False),
        Task("normals", "Surface normals", "normals", 10.0, "mErr", True),
        Task("depth", "Depth", "depth", 1.0, "rmse", True),
        Task("edge", "Boundaries", "binary", 50.0, "odsF", False, balanced=True),
    )
}


def _palette() -> np.ndarray:
    """(256, 3) uint8 label colours: hues spaced by the golden ratio, alternating saturation and brightness;
    index 255 (ignore) is black."""
    golden = (5 ** 0.5 - 1) / 2
    colours = [colorsys.hsv_to_rgb((i * golden) % 1, 0.9 - 0.3 * (i % 2), 0.95 - 0.25 * (i // 2 % 2))
               for i in range(IGNORE)]
    return np.round(np.array(colours + [(0.0, 0.0, 0.0)]) * 255).astype(np.uint8)


PALETTE = _palette()

# Depth ramp from near (pale yellow, warm) to far (deep purple), close to matplotlib's "inferno" reversed; black is
# left for invalid pixels. Anchors are interpolated linearly to a 256-entry table.
DEPTH_ANCHORS = np.array([(252, 254, 164), (249, 196, 65), (243, 120, 25), (211, 67, 70), (158, 40, 100),
                          (101, 21, 110), (50, 10, 90), (20, 10, 50)], dtype=np.float64)
DEPTH_LUT = np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(DEPTH_ANCHORS)), DEPTH_ANCHORS[:, c])
                      for c in range(3)], axis=1).round().astype(np.uint8)


def _depth_colours(depth: np.ndarray, vmin: float | None, vmax: float | None) -> np.ndarray:
    """(H, W) metres -> (H, W, 3) uint8 through DEPTH_LUT; non-positive or non-finite depth is black."""
    valid = np.isfinite(depth) & (depth > 0)
    lo = vmin if vmin is not None else (depth[valid].min() if valid.any() else 0.0)
    hi = vmax if vmax is not None else (depth[valid].max() if valid.any() else 1.0)
    x = np.clip((np.where(valid, depth, lo) - lo) / max(hi - lo, np.finfo(np.float64).eps), 0, 1)
    return np.where(valid[..., None], DEPTH_LUT[np.round(x * 255).astype(np.int64)], 0).astype(np.uint8)
