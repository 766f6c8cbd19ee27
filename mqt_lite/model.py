"""MultiTaskModel = feature extractor + (MQT head | nothing) + one prediction head per task; build_model(cfg).

Fig. 3 of the paper: image -> backbone -> fused feature -> MQTransformer -> per-task heads "via convolution"
(Sec. III-C). With `head="multi-task"` the MQT head is left out: that is the paper's multi-task baseline
(shared backbone, per-task heads, Tab. II/III). `head="single-task"` builds one such network per task
(`baselines.SingleTaskModel`).

    outputs = model(images)                                   # {task: (B, K_t, H, W)}, always
    outputs, attention = model.forward_with_attention(images)  # and every attention map (mqt.MQTAttention)
"""
from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from .backbone import FeatureExtractor
from .baselines import SingleTaskModel
from .config import MQTConfig, get_config
from .mqt import MQTAttention, MQTHead
from .predict import Predictor
from .sharing import HubMixin
from .tasks import TASKS, upsample_tasks


class TaskHead(nn.Module):
    """Per-task prediction head: 3x3 conv, BatchNorm, ReLU, 1x1 conv to the task's K_t outputs."""

    def __init__(self, dim: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, kernel_size=3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(dim)
        self.out = nn.Conv2d(dim, out_channels, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(F.relu(self.norm(self.conv(x))))


class MultiTaskModel(Predictor, HubMixin, nn.Module):
    """images (B, 3, H, W), normalised -> {task: (B, K_t, H, W)}; attention maps from `forward_with_attention`."""

    def __init__(self, cfg: MQTConfig) -> None:
        super().__init__()
        if cfg.head == "single-task":
            raise ValueError("head='single-task' builds one network per task: use build_model(cfg)")
        self.cfg = cfg
        self.backbone = FeatureExtractor(cfg.backbone, cfg.dim, cfg.pretrained, **cfg.backbone_kwargs)
        self.mqt = MQTHead.from_config(cfg) if cfg.head == "mqt" else None
        self.heads = nn.ModuleDict({t: TaskHead(cfg.dim, TASKS[t].channels(cfg.dataset)) for t in cfg.tasks})

    @property
    def size_divisor(self) -> int:
        return self.backbone.size_divisor

    def forward(self, images: Tensor, record: MQTAttention | None = None) -> dict[str, Tensor]:
        """images (B, 3, H, W), any H and W -> {task: (B, K_t, H, W)}; the MQT head's attention maps go into
        `record` when one is given (see `forward_with_attention`)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        if record is not None and self.mqt is None:
            raise ValueError(f"head={self.cfg.head!r} has no attention maps; only head='mqt' does")
        H, W = images.shape[-2:]
        d = self.size_divisor
        pad_h, pad_w = -H % d, -W % d  # pad bottom/right to a multiple of the coarsest stride
        x = F.pad(images, (0, pad_w, 0, pad_h)) if pad_h or pad_w else images
        feat = self.backbone(x)  # (B, C, (H+pad_h)/4, (W+pad_w)/4)
        outputs = self.decode(feat, x.shape[-2:], record)
        return {t: y[..., :H, :W] for t, y in outputs.items()}  # crop the padding away: (B, K_t, H, W)

    def forward_with_attention(self, images: Tensor) -> tuple[dict[str, Tensor], MQTAttention]:
        """The forward pass and every attention map of the MQT head (token-level, batch first; see mqt.py).
        Raises ValueError for models without an MQT head."""
        if self.mqt is None:
            raise ValueError(f"head={self.cfg.head!r} has no attention maps; only head='mqt' does")
        record = MQTAttention(self.mqt.tasks)
        return self(images, record), record

    def decode(self, feat: Tensor, size: tuple[int, int], record: MQTAttention | None = None) -> dict[str, Tensor]:
        """Fused feature (B, C, h, w) -> {task: (B, K_t, *size)}: the MQT head (if any), then the task heads."""
        feats = self.mqt(feat, record) if self.mqt is not None else {t: feat for t in self.cfg.tasks}
        return upsample_tasks({t: head(feats[t]) for t, head in self.heads.items()}, size)


def build_model(preset_or_config: str | MQTConfig = "tiny-synthetic", **overrides: Any) -> nn.Module:
    """Build a model from a preset name or config, with fields overridden.

    Args:
        preset_or_config: a name in `PRESETS` or an `MQTConfig`.
        **overrides: config fields, e.g. `head="multi-task"`, `num_queries=8`, `tasks=("semseg", "depth")`.
    """
    cfg = get_config(preset_or_config, **overrides)
    if cfg.head == "single-task":
        return SingleTaskModel(cfg, MultiTaskModel)
    return MultiTaskModel(cfg)
