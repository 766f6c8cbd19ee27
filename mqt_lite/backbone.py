"""Feature extractor (paper Sec. III-B): a timm backbone and multi-scale fusion into one map.

"We fuse these features into one single high-resolution feature map via addition and bilinear
interpolation upsampling." Levels have different widths, so each is first projected to the head width C
by a 1x1 convolution (at its own, cheap resolution), then upsampled to the finest level and added.

Any timm model that supports `features_only=True` works (HRNet, Swin, ResNet, ConvNeXt, ...). Channels and
strides are read from `feature_info`; NHWC outputs (Swin) are permuted to NCHW. Levels finer than stride 4
(e.g. a stem at stride 2) are skipped, as in the paper's HRNet and Swin set-ups.
"""
from __future__ import annotations

from typing import Any

import timm
import torch.nn.functional as F
from torch import Tensor, nn

MIN_STRIDE = 4  # the fused map lives at 1/4 of the input resolution


def create_backbone(name: str, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """timm.create_model(name, features_only=True) with a ValueError naming close matches for a bad name."""
    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('_')[0]}*")[:12]
        raise ValueError(f"unknown timm backbone {name!r}; close matches: {close or 'none'} "
                         "(see timm.list_models() for all)")
    try:
        return timm.create_model(name, pretrained=pretrained, features_only=True, **kwargs)
    except Exception as e:  # timm raises hub, HTTP or OS errors depending on what failed; all mean the same here
        if not pretrained:
            raise
        raise RuntimeError(
            f"could not load the ImageNet weights of {name!r} ({type(e).__name__}: {e}). The paper's presets start "
            "from them (pretrained=True), and timm downloads them once from the Hugging Face Hub into its cache. "
            "Connect once (and unset HF_HUB_OFFLINE) to cache them, or train from scratch with pretrained=False "
            "(CLI: --pretrained=false)."
        ) from e


class FeatureExtractor(nn.Module):
    """image (B, 3, H, W) -> fused feature F (B, C, H/4, W/4)."""

    def __init__(self, name: str, dim: int, pretrained: bool = False, **kwargs: Any) -> None:
        super().__init__()
        self.body = create_backbone(name, pretrained, **kwargs)
        info = self.body.feature_info
        self.levels = [i for i, r in enumerate(info.reduction()) if r >= MIN_STRIDE]
        if not self.levels:
            raise ValueError(f"backbone {name!r} has no feature level at stride >= {MIN_STRIDE}")
        self.channels = [info.channels()[i] for i in self.levels]
        self.strides = [info.reduction()[i] for i in self.levels]
        self.nhwc = getattr(self.body, "output_fmt", "NCHW") == "NHWC"  # a str enum in timm
        self.proj = nn.ModuleList(nn.Conv2d(c, dim, kernel_size=1) for c in self.channels)
        self.size_divisor = max(self.strides)  # inputs are padded to a multiple of this

    def forward(self, x: Tensor) -> Tensor:
        return self.fuse(self.body(x))

    def fuse(self, feats: list[Tensor]) -> Tensor:
        """The backbone's pyramid -> one map at stride 4: 1x1 projection, bilinear upsampling, addition."""
        feats = [feats[i] for i in self.levels]
        if self.nhwc:
            feats = [f.permute(0, 3, 1, 2) for f in feats]  # (B, H_i, W_i, C_i) -> (B, C_i, H_i, W_i)
        size = feats[0].shape[-2:]  # the finest level, stride 4
        fused = self.proj[0](feats[0])  # (B, C, H/4, W/4)
        for proj, f in zip(self.proj[1:], feats[1:]):
            fused = fused + F.interpolate(proj(f), size=size, mode="bilinear", align_corners=False)
        return fused
