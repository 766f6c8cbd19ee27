"""Task losses and their weighted sum (paper Sec. III-C, eq. 9; weights in `TASKS`).

semseg, parts: cross-entropy, 255 ignored.  sal: binary cross-entropy on one logit (the two-class form of the
paper's cross-entropy), 255 ignored.  edge: balanced BCE with positive weight w (0.95 by default, as ATRC):
-[w y log p + (1 - w)(1 - y) log(1 - p)].  depth: L1 over valid pixels (target > 0).  normals: L1 between the
L2-normalised prediction and the target over valid pixels (target not all-zero).

Every loss is a mean over the valid pixels of the batch. A batch without any valid pixel for a task gives a
loss of exactly 0 that still carries a (zero) gradient: no NaN, no special case in the training loop.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .tasks import TASKS

IGNORE = 255


def _masked_mean(values: Tensor, valid: Tensor) -> Tensor:
    """Mean of `values` over `valid` pixels; 0 (with a graph) when there are none."""
    return (values * valid).sum() / valid.sum().clamp(min=1)


class CrossEntropy(nn.Module):
    """Per-pixel cross-entropy over K classes; output (B, K, H, W), target (B, H, W) int, 255 = ignore."""

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        valid = target != IGNORE
        ce = F.cross_entropy(output, target.masked_fill(~valid, 0).long(), reduction="none")
        return _masked_mean(ce, valid)


class BalancedBCE(nn.Module):
    """Binary cross-entropy on one logit; output (B, 1, H, W), target (B, H, W) in {0, 1, 255}.

    pos_weight w weighs positives by w and negatives by 1 - w (0.5 = plain BCE up to a factor 2).
    """

    def __init__(self, pos_weight: float = 0.5) -> None:
        super().__init__()
        self.pos_weight = pos_weight

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        logit = output[:, 0]
        valid = target != IGNORE
        y = (target == 1).float()
        w = self.pos_weight
        loss = -(w * y * F.logsigmoid(logit) + (1 - w) * (1 - y) * F.logsigmoid(-logit))
        return _masked_mean(loss, valid)


class SaliencyBCE(BalancedBCE):
    """Plain binary cross-entropy (unweighted) for saliency."""

    def __init__(self) -> None:
        super().__init__(pos_weight=0.5)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return 2 * super().forward(output, target)  # 0.5 / 0.5 weights -> standard BCE


class DepthL1(nn.Module):
    """L1 in metres over valid pixels; output (B, 1, H, W), target (B, 1, H, W) or (B, H, W), 0 = invalid."""

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        target = target.reshape(output.shape)
        return _masked_mean((output - target).abs(), (target > 0).float())


class NormalsL1(nn.Module):
    """L1 between the unit-normalised prediction and the target; (B, 3, H, W); all-zero target = invalid."""

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        valid = (target.abs().sum(1, keepdim=True) > 0).float()  # (B, 1, H, W)
        pred = F.normalize(output, dim=1)
        return _masked_mean((pred - target).abs().sum(1, keepdim=True), valid) / 3  # mean over x, y, z


LOSSES = {"labels": CrossEntropy, "depth": DepthL1, "normals": NormalsL1}


def make_loss(task: str, edge_pos_weight: float = 0.95) -> nn.Module:
    """The loss module of a task (sal and edge are both binary: saliency plain, boundaries balanced)."""
    kind = TASKS[task].kind
    if kind == "binary":
        return BalancedBCE(edge_pos_weight) if TASKS[task].metric == "odsF" else SaliencyBCE()
    return LOSSES[kind]()


class MultiTaskLoss(nn.Module):
    """sum_t w_t L_t with w_t = TASKS[t].loss_weight (eq. 9). forward -> (total, {task: unweighted L_t})."""

    def __init__(self, tasks: Sequence[str], edge_pos_weight: float = 0.95) -> None:
        super().__init__()
        self.losses = nn.ModuleDict({t: make_loss(t, edge_pos_weight) for t in tasks})

    def forward(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        per_task = {}
        for t, loss in self.losses.items():
            out, target = outputs[t], batch[t]
            if out.shape[-2:] != target.shape[-2:]:
                raise ValueError(f"{t}: output of spatial size {tuple(out.shape[-2:])} does not match the target's "
                                 f"{tuple(target.shape[-2:])} (output {tuple(out.shape)}, target {tuple(target.shape)})")
            per_task[t] = loss(out, target)
        total = sum(TASKS[t].loss_weight * v for t, v in per_task.items())
        return total, per_task
