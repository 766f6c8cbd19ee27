"""Task losses and their weighted sum (paper Sec. III-C, eq. 9; weights are `TASKS[t].loss_weight`).

    semseg, parts   cross-entropy over K classes, 255 ignored
    sal             balanced BCE on one logit, w = the batch's fraction of negative pixels, 255 ignored
    edge            balanced BCE, -[w y log p + (1 - w)(1 - y) log(1 - p)], w fixed per dataset as the official
                    code sets it (tasks.EDGE_POS_WEIGHT)
    depth           L1 in metres over valid pixels (target > 0); optionally (MQTConfig.depth_ssi_weight > 0, not
                    the paper's) plus a scale-and-shift-invariant L1, for photos whose depth scale cannot be told
    normals         L1 between the L2-normalised prediction and the target, summed over x, y, z and divided by the
                    number of valid pixels (target not all-zero)

These follow the official code (MQTransformer, built on ATRC). Its saliency loss is a two-class cross-entropy
with class weights (1 - w, w) per batch, summed and divided by the number of valid pixels; a softmax over two
logits (a, b) is a sigmoid of b - a, so it is this one-logit balanced BCE exactly. Its normals loss sums |p - g|
over the three components per valid pixel: the same as averaging over components times 3 (so the paper's
weight 10 acts on that sum, not on the mean).

Every loss is a mean over the valid pixels of the batch. A batch with no valid pixel for a task gives exactly 0
with a (zero) gradient, never NaN: the training loop needs no special case. Which loss a task uses is decided here,
by its kind (`LOSSES`, `make_loss`).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .tasks import EDGE_POS_WEIGHT, IGNORE, TASKS, Task, unit_vectors


def masked_mean(values: Tensor, valid: Tensor) -> Tensor:
    """Mean of `values` over the `valid` elements; 0 with a zero gradient when there are none."""
    return torch.where(valid, values, 0).sum() / valid.sum().clamp(min=1)


def check_sizes(output: Tensor, target: Tensor, expected: str) -> None:
    """ValueError naming both shapes unless output is (B, K, H, W) with the target's batch and spatial size."""
    if output.ndim != 4 or output.shape[0] != target.shape[0] or output.shape[-2:] != target.shape[-2:]:
        raise ValueError(f"expected output (B,K,H,W) and target {expected} of the same batch and spatial size, "
                         f"got output {tuple(output.shape)} and target {tuple(target.shape)}")


class CrossEntropy(nn.Module):
    """Per-pixel cross-entropy. output (B, K, H, W) logits, target (B, H, W) int64, `ignore_index` skipped."""

    def __init__(self, ignore_index: int = IGNORE) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        check_sizes(output, target, "(B,H,W)")
        valid = target != self.ignore_index
        ce = F.cross_entropy(output, target.masked_fill(~valid, 0).long(), reduction="none")  # (B, H, W)
        return masked_mean(ce, valid)


class BinaryCrossEntropy(nn.Module):
    """Balanced BCE with logits on one channel. output (B, 1, H, W), target (B, H, W) in {0, 1, 255}, 255 skipped.

    -[w y log p + (1 - w)(1 - y) log(1 - p)], summed over valid pixels and divided by their number. pos_weight w
    fixed (boundaries), or None: w = the fraction of negatives among the batch's valid pixels (HED-style; saliency).
    log p and log(1 - p) come from logsigmoid for stability.
    """

    def __init__(self, pos_weight: float | None = None) -> None:
        super().__init__()
        self.pos_weight = pos_weight

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        check_sizes(output, target, "(B,H,W)")
        if output.shape[1] != 1:
            raise ValueError(f"expected output (B,1,H,W) for a binary task, got {tuple(output.shape)}")
        logit, valid, y = output[:, 0], target != IGNORE, (target == 1).to(output.dtype)
        if self.pos_weight is None:  # per batch: the fraction of negatives among valid pixels (no grad flows here)
            w = ((target == 0) & valid).sum() / valid.sum().clamp(min=1)
        else:
            w = self.pos_weight
        loss = -(w * y * F.logsigmoid(logit) + (1 - w) * (1 - y) * F.logsigmoid(-logit))
        return masked_mean(loss, valid)


class DepthL1(nn.Module):
    """L1 in metres over valid pixels. output (B, 1, H, W), target (B, 1, H, W) or (B, H, W), 0 = invalid.

    With `ssi_weight` > 0 (not the paper's loss: `MQTConfig.depth_ssi_weight`), plus ssi_weight times a scale-and-
    shift-invariant L1, the loss MiDaS (Ranftl et al., TPAMI 2022) trains zero-shot depth with, here in depth rather
    than disparity: per image, the output is aligned to the target by the least-squares scale s and shift t over its
    valid pixels (gradients flow through s and t), and the term is the mean |s * output + t - target| there, averaged
    over the images with valid pixels. It is 0 for any output = a * target + b, so it rewards the depth *layout*
    alone, what a photo of unknown scale can show (`evaluate --real`); the L1 keeps the metres, and the sign: s may
    be negative, so this term alone would score an upside-down depth map like a right one. (A log-space
    scale-invariant term was tried first: it pulled outputs near 0 further down and collapsed depth.)
    """

    SSI_EPS = 1e-6  # keeps the alignment finite for a constant output

    def __init__(self, ssi_weight: float = 0.0) -> None:
        super().__init__()
        self.ssi_weight = ssi_weight

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        check_sizes(output, target, "(B,1,H,W)")
        if output.shape[1] != 1 or target.numel() != output.numel():
            raise ValueError(f"expected output (B,1,H,W) and target (B,1,H,W), got output {tuple(output.shape)} "
                             f"and target {tuple(target.shape)}")
        target = target.reshape(output.shape)
        valid = target > 0
        loss = masked_mean((output - target).abs(), valid)
        if self.ssi_weight:
            loss = loss + self.ssi_weight * self.shift_scale_invariant(output, target, valid)
        return loss

    def shift_scale_invariant(self, output: Tensor, target: Tensor, valid: Tensor) -> Tensor:
        """Mean over images (with valid pixels) of mean |s p + t - g| over their valid pixels, (s, t) the per-image
        least-squares fit of the output p to the target g."""
        keep = valid.flatten(1)  # (B, HW)
        n = keep.sum(1).clamp(min=1)
        p = torch.where(keep, output.float().flatten(1), 0)  # (where, not a product: no inf * 0 from invalid pixels)
        g = torch.where(keep, target.float().flatten(1), 0)
        pc = torch.where(keep, p - p.sum(1, keepdim=True) / n[:, None], 0)  # centred: s p + t - g = s pc - gc
        gc = torch.where(keep, g - g.sum(1, keepdim=True) / n[:, None], 0)
        s = (pc * gc).sum(1) / ((pc * pc).sum(1) + self.SSI_EPS)  # (B,)
        residual = (s[:, None] * pc - gc).abs().sum(1) / n
        return masked_mean(residual, keep.any(1))


class NormalsL1(nn.Module):
    """sum over x, y, z of |normalise(output) - target|, mean over valid pixels. (B, 3, H, W); all-zero = invalid."""

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        check_sizes(output, target, "(B,3,H,W)")
        if output.shape[1] != 3 or target.shape != output.shape:
            raise ValueError(f"expected output and target (B,3,H,W), got output {tuple(output.shape)} "
                             f"and target {tuple(target.shape)}")
        valid = (target != 0).any(1)  # (B, H, W)
        return masked_mean((unit_vectors(output) - target).abs().sum(1), valid)


# task kind -> the loss of a task of that kind, given the task, the boundaries' positive weight and the weight of
# depth's scale-and-shift-invariant term
LOSSES: dict[str, Callable[[Task, float, float], nn.Module]] = {
    "labels": lambda task, w, si: CrossEntropy(),
    "binary": lambda task, w, si: BinaryCrossEntropy(w if task.balanced else None),  # saliency: w per batch
    "depth": lambda task, w, si: DepthL1(si),
    "normals": lambda task, w, si: NormalsL1(),
}


def make_loss(task: Task, edge_pos_weight: float, depth_ssi_weight: float = 0.0) -> nn.Module:
    """The loss module of a task, forward (output (B,K,H,W), target) -> scalar; `edge_pos_weight` is the fixed
    positive weight of balanced binary tasks (boundaries), `depth_ssi_weight` that of depth's scale-and-shift-
    invariant term."""
    return LOSSES[task.kind](task, edge_pos_weight, depth_ssi_weight)


class MultiTaskLoss(nn.Module):
    """Eq. 9: total = sum_t w_t L_t with w_t = TASKS[t].loss_weight.

    forward(outputs {task: (B, K_t, H, W)}, batch {task: target, ...}) -> (total, {task: L_t}); the per-task
    dict holds the UNweighted losses (for logging).
    """

    def __init__(self, tasks: Sequence[str], edge_pos_weight: float = EDGE_POS_WEIGHT["synthetic"],
                 depth_ssi_weight: float = 0.0) -> None:
        super().__init__()
        self.losses = nn.ModuleDict({t: make_loss(TASKS[t], edge_pos_weight, depth_ssi_weight) for t in tasks})

    def forward(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        per_task = {}
        for t, loss in self.losses.items():
            out, target = outputs[t], batch[t]
            if out.shape[-2:] != target.shape[-2:]:
                raise ValueError(f"{t}: output {tuple(out.shape)} and target {tuple(target.shape)} differ in "
                                 "spatial size (the model must output at input size)")
            per_task[t] = loss(out, target)
        total = sum(TASKS[t].loss_weight * v for t, v in per_task.items())
        return total, per_task
