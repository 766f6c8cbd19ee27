"""MultiTaskModel = feature extractor + (MQT head | nothing) + one prediction head per task; build_model(cfg).

Fig. 3 of the paper: image -> backbone -> fused feature -> MQTransformer -> per-task heads "via convolution"
(Sec. III-C). With `head="multi-task"` the MQT head is left out: that is the paper's multi-task baseline
(shared backbone, per-task heads, Tab. II/III). `head="single-task"` builds one such network per task
(`baselines.SingleTaskModel`).
"""
from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from .backbone import FeatureExtractor
from .config import MQTConfig, get_config
from .hub import HubMixin
from .mqt import MQTHead
from .predict import Predictor
from .tasks import TASKS


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
    """images (B, 3, H, W), normalised -> {task: (B, K_t, H, W)} (+ attention maps on request)."""

    def __init__(self, cfg: MQTConfig) -> None:
        super().__init__()
        if cfg.head == "single-task":
            raise ValueError("head='single-task' builds one network per task: use build_model(cfg)")
        self.cfg = cfg
        self.backbone = FeatureExtractor(cfg.backbone, cfg.dim, cfg.pretrained, **cfg.backbone_kwargs)
        self.mqt = MQTHead(
            cfg.tasks, cfg.dim, cfg.num_heads, cfg.mlp_ratio, cfg.num_queries, cfg.depth, cfg.num_scales,
            cfg.query_learning, cfg.cross_task_attention, cfg.shared_encoder_decoder, cfg.learn_queries,
            cfg.scale_fusion,
        ) if cfg.head == "mqt" else None
        self.heads = nn.ModuleDict({t: TaskHead(cfg.dim, TASKS[t].channels(cfg.dataset)) for t in cfg.tasks})

    @property
    def size_divisor(self) -> int:
        return self.backbone.size_divisor

    def forward(self, images: Tensor, return_attention: bool = False) -> Any:
        """images (B, 3, H, W), any H and W -> {task: (B, K_t, H, W)}, or (outputs, attention) on request."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        if return_attention and self.mqt is None:
            raise ValueError(f"head={self.cfg.head!r} has no attention maps; only head='mqt' does")
        H, W = images.shape[-2:]
        d = self.size_divisor
        pad_h, pad_w = -H % d, -W % d  # pad bottom/right to a multiple of the coarsest stride
        x = F.pad(images, (0, pad_w, 0, pad_h)) if pad_h or pad_w else images
        feat = self.backbone(x)  # (B, C, (H+pad_h)/4, (W+pad_w)/4)
        outputs, attention = self.decode(feat, x.shape[-2:], return_attention)
        outputs = {t: y[..., :H, :W] for t, y in outputs.items()}  # crop the padding away: (B, K_t, H, W)
        return (outputs, attention) if return_attention else outputs

    def decode(self, feat: Tensor, size: tuple[int, int], return_attention: bool = False) -> tuple[dict, Any]:
        """Fused feature (B, C, h, w) -> ({task: (B, K_t, *size)}, attention or None): MQT head + task heads."""
        if self.mqt is not None:
            feats, attention = self.mqt(feat, need_weights=return_attention)
        else:
            feats, attention = {t: feat for t in self.cfg.tasks}, None
        outputs = {t: F.interpolate(head(feats[t]), size=size, mode="bilinear", align_corners=False)
                   for t, head in self.heads.items()}
        return outputs, attention


def build_model(preset_or_config: str | MQTConfig = "tiny-synthetic", **overrides: Any) -> nn.Module:
    """Build a model from a preset name or config, with fields overridden.

    Args:
        preset_or_config: a name in `PRESETS` or an `MQTConfig`.
        **overrides: config fields, e.g. `head="multi-task"`, `num_queries=8`, `tasks=("semseg", "depth")`.
    """
    cfg = get_config(preset_or_config, **overrides)
    if cfg.head == "single-task":
        from .baselines import SingleTaskModel

        return SingleTaskModel(cfg)
    return MultiTaskModel(cfg)
