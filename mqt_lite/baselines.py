"""Baselines of Tab. II/III on the same backbones, and the trivial predictor every model must beat.

- multi-task baseline: one shared backbone, one convolutional head per task, no MQT head
  (`MultiTaskModel` with `head="multi-task"`, model.py).
- single-task baseline: one whole network (backbone + head) per task, `SingleTaskModel` below. Training it
  jointly on the summed loss is the same as training each network alone: no parameter is shared, so each
  network's gradient only comes from its own task's loss.
- `TrivialModel`: the same prediction at every pixel (`Task.constant_prediction`), for `evaluate --trivial`.
"""
from __future__ import annotations

from typing import Callable, NoReturn, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .config import MQTConfig
from .predict import Predictor
from .sharing import HubMixin
from .tasks import TASKS


class SingleTaskModel(Predictor, HubMixin, nn.Module):
    """T independent networks, one per task; forward returns {task: (B, K_t, H, W)} like the others.

    Args:
        cfg: the config, with `head="single-task"`.
        network: builds one task's network from the config narrowed to that task with `head="multi-task"`
            (`build_model` passes `model.MultiTaskModel`).
    """

    def __init__(self, cfg: MQTConfig, network: Callable[[MQTConfig], nn.Module]) -> None:
        super().__init__()
        self.cfg = cfg
        self.nets = nn.ModuleDict({t: network(cfg.replace(tasks=(t,), head="multi-task")) for t in cfg.tasks})

    @property
    def size_divisor(self) -> int:
        return max(net.size_divisor for net in self.nets.values())

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        return {t: net(images)[t] for t, net in self.nets.items()}

    def forward_with_attention(self, images: Tensor) -> NoReturn:
        """No attention maps: raises ValueError (only head='mqt' has them)."""
        raise ValueError("head='single-task' has no attention maps; only head='mqt' does")


class TrivialModel(nn.Module):
    """The same prediction at every pixel: the training split's majority class, mean depth and mean normal,
    and "no saliency / no boundary" (probability ~0). What a model must beat to have learned anything.

    Args:
        cfg: the config of the model it stands in for (tasks, dataset).
        rows: training rows in the schema (`data.as_numpy`); `evaluate.trivial_model(cfg)` loads them.
    """

    def __init__(self, cfg: MQTConfig, rows: Sequence[dict[str, np.ndarray]]) -> None:
        super().__init__()
        self.cfg = cfg
        self.constants: dict[str, torch.Tensor] = {
            t: TASKS[t].constant_prediction([r[t] for r in rows], cfg.dataset) for t in cfg.tasks}

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        B, _, H, W = images.shape
        return {t: c.view(1, -1, 1, 1).expand(B, -1, H, W) for t, c in self.constants.items()}
