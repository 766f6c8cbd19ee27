"""TASKS: the one place that knows each of the six dense prediction tasks (paper Sec. III-C, IV-A).

Everything task-specific lives here: output and target channels per dataset, class names, loss weight, which
metric scores it, pad value, how a horizontal flip changes its target, its constant ("trivial") prediction, a
random valid target, post-processing of the model's raw outputs, and its colours, legend and captions. Code
elsewhere iterates over TASKS and asks the task; it never branches on a task's name, and neither does this file:
methods dispatch on `kind` (through the `KINDS` table where a kind is plain data), and binary tasks differ by data
(`balanced` loss, `metric` key). The losses and metrics keep their own by-kind / by-metric tables
(`losses.make_loss`, `metrics.make_metric`): this module imports nothing else of the package.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

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
class Kind:
    """What every task of one kind shares: how its targets are stored, padded, flipped and shown."""

    target_channels: int  # channels of the target (the schema's layout)
    pad_value: float  # value of padded target pixels: ignore (labels, binary) or invalid (depth, normals)
    integer_target: bool  # targets are integer labels (255 = ignore) rather than floats
    flip_negates: tuple[int, ...]  # target channels that change sign when the image is mirrored left-right
    display_format: str  # how the demo sends its maps: PNG keeps label colours exact, WebP is faster for smooth maps
    colour_meaning: str  # what the colours of `Task.colourise` mean, for the maps without a class legend
    decimals: int  # digits of the headline metric in tables (RMSE in metres needs one more than percentages)


KINDS: dict[str, Kind] = {
    "labels": Kind(1, IGNORE, True, (), "png", "", 2),
    "binary": Kind(1, IGNORE, True, (), "webp", "probability, black 0 to white 1", 2),
    "depth": Kind(1, 0.0, False, (), "webp", "near (pale yellow) to far (dark purple), over the predicted depth range",
                  3),
    "normals": Kind(3, 0.0, False, (0,), "webp", "surface direction (x, y, z) in camera axes as (red, green, blue)",
                    2),
}
BACKGROUND_LOGIT = -20.0  # sigmoid(-20) ~ 2e-9: the trivial binary prediction, every pixel background
RANDOM_DEPTH = (0.5, 5.5)  # metres: the range of random depth targets


@dataclass(frozen=True)
class Task:
    """What the rest of the package needs to know about one task."""

    name: str
    title: str
    kind: str  # a key of KINDS: "labels" (per-pixel classes), "binary" (per-pixel probability), "depth", "normals"
    loss_weight: float  # Sec. III-C
    metric: str  # key in the metrics dict: mIoU | rmse | mErr | maxF | odsF
    lower_is_better: bool
    balanced: bool = False  # binary tasks only: class-balanced BCE (boundaries) instead of plain BCE (saliency)

    @property
    def spec(self) -> Kind:
        """The KINDS entry of this task's kind (target layout, padding, flip, display)."""
        return KINDS[self.kind]

    @property
    def has_classes(self) -> bool:
        """A label task: its outputs are class scores and its maps have a class legend."""
        return self.kind == "labels"

    def channels(self, dataset: str) -> int:
        """Output channels K_t of the model for this task on `dataset`."""
        if self.has_classes:
            return len(class_names(dataset, self.name))
        return self.spec.target_channels  # one value per pixel, or a vector for normals

    def postprocess(self, output: Tensor) -> Tensor:
        """Raw model output (B, K, H, W) -> what the metric takes and `predict` returns.

        labels: argmax int64 (B, H, W); binary: sigmoid probabilities (B, H, W); depth: metres >= 0 (B, H, W);
        normals: unit vectors (B, 3, H, W).
        """
        if output.ndim != 4:
            raise ValueError(f"{self.name}: postprocess expects output (B,K,H,W), got {tuple(output.shape)}")
        if self.has_classes:
            return output.max(1).indices  # = argmax(1), ~100x faster on NCHW batch-1 maps on CPU
        if self.kind == "binary":
            return torch.sigmoid(output[:, 0])
        if self.kind == "depth":
            return output[:, 0].clamp(min=0)
        return unit_vectors(output)

    def target_from_channels(self, x: Tensor) -> Tensor:
        """This task's channels (target_channels, H, W) of the float stack the joint transforms work on -> its target:
        int64 labels (H, W) for label and binary tasks, else the float channels as they are."""
        return x.round().long()[0] if self.spec.integer_target else x

    def constant_prediction(self, targets: Sequence[np.ndarray], dataset: str) -> Tensor:
        """Raw output (K,) predicting the same thing at every pixel, from training targets (schema arrays): the
        majority class, "no saliency / no boundary" (BACKGROUND_LOGIT), the mean depth, the mean valid normal."""
        if self.has_classes:
            k = self.channels(dataset)
            counts = sum(np.bincount(v[v != IGNORE].ravel(), minlength=k)[:k] for v in targets)
            c = torch.full((k,), -1.0)
            c[int(np.argmax(counts))] = 1.0  # argmax -> the majority class
            return c
        if self.kind == "binary":
            return torch.tensor([BACKGROUND_LOGIT])
        if self.kind == "depth":
            return torch.tensor([float(np.mean(np.concatenate([v[v > 0] for v in targets])))])
        # normals: the mean valid vector (postprocess normalises it)
        valid = [v.reshape(3, -1)[:, np.abs(v).sum(0).ravel() > 0] for v in targets]
        return torch.from_numpy(np.mean(np.concatenate(valid, axis=1), axis=1)).float()

    def random_target(self, batch: int, size: tuple[int, int], dataset: str) -> Tensor:
        """A random valid target batch as a loader gives it (torch's global RNG): labels and binary (B, H, W) int64,
        depth (B, 1, H, W) in RANDOM_DEPTH metres, normals (B, 3, H, W) unit vectors."""
        H, W = size
        if self.has_classes:
            return torch.randint(0, self.channels(dataset), (batch, H, W))
        if self.kind == "binary":
            return torch.randint(0, 2, (batch, H, W))
        if self.kind == "depth":
            lo, hi = RANDOM_DEPTH
            return torch.rand(batch, 1, H, W) * (hi - lo) + lo
        return F.normalize(torch.randn(batch, 3, H, W), dim=1)

    def colourise(self, array: np.ndarray, dataset: str, vmin: float | None = None,
                  vmax: float | None = None) -> np.ndarray:
        """Prediction or target of this task -> (H, W, 3) uint8 image.

        labels (H, W) ints: fixed palette, 255 (ignore) black. depth (H, W) or (1, H, W) metres: warm (near) to
        dark (far) ramp, scaled to [vmin, vmax] (default: this image's valid range), invalid (<= 0) black.
        normals (3, H, W): (n + 1) / 2 * 255, invalid (all-zero) black. binary (H, W) probabilities: grayscale,
        255 (ignore) mid-grey. `dataset` is accepted for a uniform signature (the palette is the same everywhere).
        """
        a = np.asarray(array)
        if self.has_classes:
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

    def colour_range(self, prediction: np.ndarray) -> dict[str, float]:
        """`colourise` keywords that show another map (the ground truth) on the scale of this prediction: depth over
        the predicted range (when it has one); nothing for the other tasks, whose colours are absolute."""
        if self.kind != "depth" or not prediction.max() > 0:
            return {}
        return {"vmin": prediction[prediction > 0].min(), "vmax": prediction.max()}

    def legend(self, dataset: str) -> list[tuple[str, tuple[int, int, int]]]:
        """(class name, (r, g, b)) of every class of a label task, in label order."""
        if not self.has_classes:
            raise ValueError(f"{self.name} is not a label task: it has no legend")
        return [(name, tuple(int(c) for c in PALETTE[i])) for i, name in enumerate(class_names(dataset, self.name))]

    def caption(self, array: np.ndarray) -> str:
        """A panel title for a map of this task: its title, plus the depth range in metres or the normals' colours."""
        if self.kind == "depth":
            valid = array[array > 0]
            return f"{self.title}\n{valid.min():.1f}-{valid.max():.1f} m" if valid.size else self.title
        if self.kind == "normals":
            return f"{self.title}\n(x, y, z) -> RGB"
        return self.title


def unit_vectors(x: Tensor, eps: float = 1e-12) -> Tensor:
    """x / max(||x||, eps) over dim 1, as F.normalize, through a sum of squares: F.normalize's vector_norm is
    ~100x slower on the contiguous NCHW maps of a batch-1 forward on CPU."""
    return x / x.square().sum(1, keepdim=True).sqrt().clamp(min=eps)


def upsample_tasks(outputs: dict[str, Tensor], size: tuple[int, int]) -> dict[str, Tensor]:
    """{task: (B, K_t, h, w)} -> {task: (B, K_t, *size)}, bilinear (align_corners=False), in one call over all the
    tasks' channels stacked (every map of the same h, w; at least one). Bilinear resampling is per channel, so this
    equals one call per task up to float rounding; on CPU the one call is 2.5-4x faster (batch 1 and 12), because
    each head's map alone is channels-last with 1-6 channels, upsample_bilinear2d's slow case. The returned maps are
    channel slices (views) of one tensor."""
    names = list(outputs)
    stacked = torch.cat([outputs[t] for t in names], 1)  # (B, sum K_t, h, w), the layout of the inputs
    up = F.interpolate(stacked, size=size, mode="bilinear", align_corners=False)
    return dict(zip(names, up.split([outputs[t].shape[1] for t in names], 1)))


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
