"""Baselines of Tab. II/III on the same backbones.

- multi-task baseline: one shared backbone, one convolutional head per task, no MQT head
  (`MultiTaskModel` with `head="multi-task"`).
- single-task baseline: one whole network (backbone + head) per task, `SingleTaskModel` below. Training it
  jointly on the summed loss is the same as training each network alone: no parameter is shared, so each
  network's gradient only comes from its own task's loss.
"""
from __future__ import annotations

from torch import Tensor, nn

from .config import MQTConfig
from .hub import HubMixin
from .model import MultiTaskModel
from .predict import Predictor


class SingleTaskModel(Predictor, HubMixin, nn.Module):
    """T independent networks, one per task; forward returns {task: (B, K_t, H, W)} like the others."""

    def __init__(self, cfg: MQTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.nets = nn.ModuleDict({t: MultiTaskModel(cfg.replace(tasks=(t,), head="multi-task"))
                                   for t in cfg.tasks})

    @property
    def size_divisor(self) -> int:
        return max(net.size_divisor for net in self.nets.values())

    def forward(self, images: Tensor, return_attention: bool = False) -> dict[str, Tensor]:
        if return_attention:
            raise ValueError("head='single-task' has no attention maps; only head='mqt' does")
        return {t: net(images)[t] for t, net in self.nets.items()}
