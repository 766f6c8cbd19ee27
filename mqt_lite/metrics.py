"""Streaming metrics of the paper (Sec. IV-A, "Evaluation Metrics"), pooled over the whole dataset.

    MeanIoU            mIoU %  = mean over classes of TP / (TP + FP + FN), one confusion matrix      (semseg, parts)
    DepthRMSE          metres  = sqrt(sum (p - g)^2 / #valid), target 0 = invalid                    (depth)
    NormalsMeanError   degrees = mean angle between unit vectors, all-zero target = invalid          (normals)
    SaliencyMaxF       %       = max over t = 0.05..0.95 of F_beta, beta^2 = 0.3, counts pooled      (sal)
    BoundaryODSF       %       = max over t of F of thinned, matched boundary pixels (SEISM odsF)    (edge)
    delta_m            %       = (1/T) sum_t (-1)^l_t (M_m,t - M_s,t) / M_s,t * 100, l_t = 1 if lower is better

Conventions follow ATRC's evaluation code (counts pooled over all pixels of the dataset, not averaged per image)
and SEISM for boundaries. Every metric keeps its state as float64 tensors in one dict `self.state`, so states add
up: many small `update` calls equal one big call, and `all_reduce()` sums them across torchrun ranks.
A metric that has seen no valid pixel reports NaN.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from .boundary import boundary_counts
from .tasks import EDGE_MAX_DIST, IGNORE, TASKS, Task

NAN = float("nan")


def as_tensor(x: Any) -> Tensor:
    """A detached tensor from a tensor (any device) or array-like."""
    return x.detach() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))


def check(metric: str, what: str, x: Tensor, ndims: tuple[int, ...], floating: bool | None) -> None:
    """ValueError naming the expected shape/dtype, e.g. 'MeanIoU expects pred (B,H,W) integer labels, got ...'."""
    if x.ndim not in ndims or (floating is not None and x.is_floating_point() != floating):
        raise ValueError(f"{metric} expects {what}, got {str(x.dtype).removeprefix('torch.')} {tuple(x.shape)}")


def check_same_shape(metric: str, pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"{metric} expects pred and target of the same shape, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")


def binary_target(metric: str, target: Tensor) -> Tensor:
    """Validated (B,H,W) target in {0, 1, 255}."""
    check(metric, "target (B,H,W) integer labels in {0,1,255}", target, (3,), floating=False)
    if ((target != 0) & (target != 1) & (target != IGNORE)).any():
        raise ValueError(f"{metric} expects target (B,H,W) with values in {{0,1,{IGNORE}}}")
    return target


def probabilities(metric: str, pred: Tensor) -> Tensor:
    """Validated (B,H,W) float probabilities in [0, 1]."""
    check(metric, "pred (B,H,W) float probabilities in [0,1]", pred, (3,), floating=True)
    if pred.numel() and (pred.min() < 0 or pred.max() > 1):
        raise ValueError(f"{metric} expects probabilities in [0,1] (apply Task.postprocess to the logits)")
    return pred


class Metric:
    """Base class. Subclasses fill `self.state` with float64 tensors in __init__ and implement update/details."""

    key = ""  # name of the headline value in details(); equals Task.metric

    def __init__(self) -> None:
        self.state: dict[str, Tensor] = {}

    def update(self, pred: Any, target: Any) -> None:
        """Add a batch (tensors on any device, or numpy arrays)."""
        raise NotImplementedError

    def details(self) -> dict[str, float]:
        """The headline value under `self.key`, then extras."""
        raise NotImplementedError

    def compute(self) -> float:
        """The headline value."""
        return self.details()[self.key]

    def reset(self) -> None:
        for v in self.state.values():
            v.zero_()

    def all_reduce(self) -> None:
        """Sum the state over torch.distributed ranks (no-op unless initialised); one collective call."""
        if not (dist.is_available() and dist.is_initialized()):
            return
        flat = torch.cat([v.reshape(-1) for v in self.state.values()])
        if dist.get_backend() == "nccl":  # NCCL reduces GPU tensors only
            flat = flat.cuda()
        dist.all_reduce(flat)
        flat, start = flat.cpu(), 0
        for v in self.state.values():
            v.copy_(flat[start:start + v.numel()].view_as(v))
            start += v.numel()

    def _add(self, **values: Tensor) -> None:
        for k, v in values.items():
            self.state[k] += v.to(device="cpu", dtype=torch.float64)


class MeanIoU(Metric):
    """mIoU in % from one confusion matrix over the dataset (ATRC/MTI-Net `eval_semseg` pooling).

    IoU_c = TP_c / (TP_c + FP_c + FN_c); mIoU = mean over the classes with TP + FP + FN > 0, i.e. classes that
    occur in the ground truth or the prediction somewhere in the dataset. Classes absent from both are left out
    (the reference code would count them as 0; on NYUD/PASCAL every class occurs, so both agree). A class predicted
    but never in the ground truth counts with IoU 0. pred (B,H,W) int labels in [0, K), target (B,H,W), `ignore_index`
    skipped. details: mIoU, pixel_acc, iou/<class index> for the classes that count.
    """

    key = "mIoU"

    def __init__(self, num_classes: int, ignore_index: int = IGNORE) -> None:
        super().__init__()
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.state["confusion"] = torch.zeros(num_classes, num_classes, dtype=torch.float64)  # rows: ground truth

    def update(self, pred: Any, target: Any) -> None:
        pred, target = as_tensor(pred), as_tensor(target)
        check("MeanIoU", "pred (B,H,W) integer labels", pred, (3,), floating=False)
        check("MeanIoU", "target (B,H,W) integer labels", target, (3,), floating=False)
        check_same_shape("MeanIoU", pred, target)
        valid = target != self.ignore_index
        t, p = target[valid].long(), pred[valid].long()
        K = self.num_classes
        for what, x in (("target", t), ("pred", p)):
            if x.numel() and (x.min() < 0 or x.max() >= K):
                raise ValueError(f"MeanIoU expects {what} labels in [0, {K}) or {self.ignore_index}, "
                                 f"got values in [{int(x.min())}, {int(x.max())}]")
        self._add(confusion=torch.bincount(t * K + p, minlength=K * K).reshape(K, K))

    def details(self) -> dict[str, float]:
        cm = self.state["confusion"]
        tp = cm.diag()
        union = cm.sum(0) + cm.sum(1) - tp  # TP + FP + FN
        counted = union > 0
        iou = tp / union.clamp(min=1) * 100
        out = {"mIoU": float(iou[counted].mean()) if counted.any() else NAN,
               "pixel_acc": float(tp.sum() / cm.sum() * 100) if cm.sum() > 0 else NAN}
        out.update({f"iou/{c}": float(iou[c]) for c in range(self.num_classes) if counted[c]})
        return out


class DepthRMSE(Metric):
    """RMSE in metres = sqrt(sum (p - g)^2 / N) over the N valid pixels (g > 0) of the dataset (ATRC DepthMeter).

    pred, target (B,1,H,W) or (B,H,W). details: rmse, log_rmse (natural log, prediction clamped at MIN_DEPTH as
    ATRC does), abs_rel = mean |p - g| / g.
    """

    key = "rmse"
    MIN_DEPTH = 1e-9  # metres; keeps log(p) finite

    def __init__(self) -> None:
        super().__init__()
        self.state.update({k: torch.zeros((), dtype=torch.float64) for k in ("sq", "log_sq", "abs_rel", "n")})

    def update(self, pred: Any, target: Any) -> None:
        pred, target = as_tensor(pred), as_tensor(target)
        for what, x in (("pred", pred), ("target", target)):
            check("DepthRMSE", f"{what} (B,1,H,W) or (B,H,W) float depth in metres", x, (3, 4), floating=True)
            if x.ndim == 4 and x.shape[1] != 1:
                raise ValueError(f"DepthRMSE expects {what} (B,1,H,W) or (B,H,W), got {tuple(x.shape)}")
        pred, target = pred.reshape(-1, *pred.shape[-2:]), target.reshape(-1, *target.shape[-2:])  # (B, H, W)
        check_same_shape("DepthRMSE", pred, target)
        valid = target > 0
        p, g = pred[valid].double(), target[valid].double()
        self._add(sq=(p - g).square().sum(), log_sq=(p.clamp(min=self.MIN_DEPTH).log() - g.log()).square().sum(),
                  abs_rel=((p - g).abs() / g).sum(), n=valid.sum())

    def details(self) -> dict[str, float]:
        n = float(self.state["n"])
        if n == 0:
            return {"rmse": NAN, "log_rmse": NAN, "abs_rel": NAN}
        return {"rmse": math.sqrt(float(self.state["sq"]) / n), "log_rmse": math.sqrt(float(self.state["log_sq"]) / n),
                "abs_rel": float(self.state["abs_rel"]) / n}


class NormalsMeanError(Metric):
    """Mean angular error in degrees = mean over valid pixels of acos(clamp(<p, g>, -1, 1)) (ATRC NormalsMeter).

    pred, target (B,3,H,W), both L2-normalised here; all-zero target = invalid. details: mErr, median (from a
    histogram with HIST_BIN-degree bins, linearly interpolated inside the bin), and % of pixels within 11.25,
    22.5 and 30 degrees.
    """

    key = "mErr"
    WITHIN = (11.25, 22.5, 30.0)
    HIST_BIN = 0.01  # degrees
    MAX_ANGLE = 180.0

    def __init__(self) -> None:
        super().__init__()
        n_bins = round(self.MAX_ANGLE / self.HIST_BIN)
        self.state.update({"sum": torch.zeros((), dtype=torch.float64), "n": torch.zeros((), dtype=torch.float64),
                           "within": torch.zeros(len(self.WITHIN), dtype=torch.float64),
                           "hist": torch.zeros(n_bins, dtype=torch.float64)})

    def update(self, pred: Any, target: Any) -> None:
        pred, target = as_tensor(pred), as_tensor(target)
        for what, x in (("pred", pred), ("target", target)):
            check("NormalsMeanError", f"{what} (B,3,H,W) float vectors", x, (4,), floating=True)
            if x.shape[1] != 3:
                raise ValueError(f"NormalsMeanError expects {what} (B,3,H,W) float vectors, got {tuple(x.shape)}")
        check_same_shape("NormalsMeanError", pred, target)
        valid = (target != 0).any(1)  # (B, H, W)
        cos = (F.normalize(pred.double(), dim=1) * F.normalize(target.double(), dim=1)).sum(1)
        angle = torch.rad2deg(torch.acos(cos.clamp(-1, 1)))[valid]
        bins = (angle / self.HIST_BIN).long().clamp(max=len(self.state["hist"]) - 1)
        self._add(sum=angle.sum(), n=valid.sum(), within=torch.stack([(angle < w).sum() for w in self.WITHIN]),
                  hist=torch.bincount(bins, minlength=len(self.state["hist"])))

    def details(self) -> dict[str, float]:
        n = float(self.state["n"])
        if n == 0:
            return {"mErr": NAN, "median": NAN, **{f"within_{w}": NAN for w in self.WITHIN}}
        cum = self.state["hist"].cumsum(0)
        b = int(torch.searchsorted(cum, torch.tensor(n / 2, dtype=torch.float64)))  # first bin reaching half
        below = float(cum[b - 1]) if b else 0.0
        median = (b + (n / 2 - below) / float(self.state["hist"][b])) * self.HIST_BIN
        out = {"mErr": float(self.state["sum"]) / n, "median": median}
        out.update({f"within_{w}": float(c) / n * 100 for w, c in zip(self.WITHIN, self.state["within"])})
        return out


class SaliencyMaxF(Metric):
    """maxF in %: F_beta = (1 + b2) P R / (b2 P + R), b2 = 0.3, max over thresholds (ATRC SaliencyMeter).

    A pixel is positive at threshold t when p >= t; TP/FP/FN are pooled over the dataset per threshold;
    P = 0 when nothing is predicted, R = 0 without positives. pred (B,H,W) probabilities in [0, 1]; target
    (B,H,W) in {0, 1, 255}, 255 skipped. details: maxF, and the threshold, precision, recall where it is reached.
    """

    key = "maxF"

    def __init__(self, beta2: float = 0.3, thresholds: Sequence[float] | None = None) -> None:
        super().__init__()
        self.beta2 = beta2
        self.thresholds = (torch.linspace(0.05, 0.95, 19, dtype=torch.float64) if thresholds is None
                           else torch.tensor(sorted(thresholds), dtype=torch.float64))
        self.state.update({k: torch.zeros(len(self.thresholds), dtype=torch.float64) for k in ("tp", "fp", "fn")})

    def update(self, pred: Any, target: Any) -> None:
        pred, target = probabilities("SaliencyMaxF", as_tensor(pred)), binary_target("SaliencyMaxF", as_tensor(target))
        check_same_shape("SaliencyMaxF", pred, target)
        valid = target != IGNORE
        # level = number of thresholds <= p: the pixel is positive at threshold k iff k < level
        level = torch.bucketize(pred[valid].double(), self.thresholds.to(pred.device), right=True)
        positive = target[valid] == 1
        tp, fp = self._positives(level[positive]), self._positives(level[~positive])
        self._add(tp=tp, fp=fp, fn=positive.sum() - tp)

    def _positives(self, level: Tensor) -> Tensor:
        """Per threshold k, the number of pixels with level > k (predicted positive)."""
        at_level = torch.bincount(level, minlength=len(self.thresholds) + 1)
        return at_level.flip(0).cumsum(0).flip(0)[1:]

    def details(self) -> dict[str, float]:
        tp, fp, fn = self.state["tp"], self.state["fp"], self.state["fn"]
        p, r = tp / (tp + fp).clamp(min=1), tp / (tp + fn).clamp(min=1)
        den = self.beta2 * p + r
        f = torch.where(den > 0, (1 + self.beta2) * p * r / den.clamp(min=torch.finfo(den.dtype).tiny), 0)
        if (tp + fp + fn).sum() == 0:
            return {"maxF": NAN}
        best = int(f.argmax())
        return {"maxF": float(f[best] * 100), "threshold": float(self.thresholds[best]),
                "precision": float(p[best] * 100), "recall": float(r[best] * 100)}


def f_measure(matched: np.ndarray, n_pred: np.ndarray, n_gt: np.ndarray) -> tuple[np.ndarray, ...]:
    """(P, R, F) with the BSDS conventions P = 0 without predictions, R = 0 without GT, F = 0 when P + R = 0."""
    p = np.divide(matched, n_pred, out=np.zeros_like(matched, dtype=float), where=n_pred > 0)
    r = np.divide(matched, n_gt, out=np.zeros_like(matched, dtype=float), where=n_gt > 0)
    f = np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=p + r > 0)
    return p, r, f


def own_extent(valid: np.ndarray) -> tuple[slice, slice] | None:
    """The bounding box (rows, cols) of the True pixels of an (H, W) mask; None when there are none."""
    rows, cols = np.flatnonzero(valid.any(1)), np.flatnonzero(valid.any(0))
    if rows.size == 0:
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


class BoundaryODSF(Metric):
    """Boundary F-measure at the optimal dataset scale (odsF, %), as SEISM computes it (mqt_lite/boundary.py).

    For each threshold t_k = k / (n + 1), k = 1..n: predicted pixels p >= t are thinned to one-pixel lines and
    matched one to one to GT boundary pixels within max_dist x image diagonal. Per threshold, matched pixels,
    predicted pixels and GT pixels are pooled over the dataset; P = matched / predicted, R = matched / GT,
    F = 2PR / (P + R), odsF = max over thresholds. pred (B,H,W) probabilities; target (B,H,W) in {0,1,255}, 255
    pixels are excluded from both prediction and GT. Each image is scored at its own extent, the bounding box of
    its non-255 pixels: evaluation pads with 255, and the official evaluation crops padded predictions back before
    scoring, so the radius comes from the image's own diagonal and a padded image scores as the unpadded one.
    details: odsF, oisF (each image at its own best threshold, counts pooled), AP (area under the pooled P-R curve,
    sum over thresholds in order of rising recall of (R_k - R_k-1) P_k, R_0 = 0), and threshold/precision/recall at ODS.
    """

    key = "odsF"

    def __init__(self, max_dist: float = 0.0075, thresholds: int = 99) -> None:
        super().__init__()
        self.max_dist = max_dist
        self.thresholds = np.linspace(1 / (thresholds + 1), thresholds / (thresholds + 1), thresholds)
        self.state["counts"] = torch.zeros(3, thresholds, dtype=torch.float64)  # matched, predicted, GT
        self.state["ois"] = torch.zeros(3, dtype=torch.float64)  # the same at each image's best threshold

    def update(self, pred: Any, target: Any) -> None:
        pred = probabilities("BoundaryODSF", as_tensor(pred))
        target = binary_target("BoundaryODSF", as_tensor(target))
        check_same_shape("BoundaryODSF", pred, target)
        pred, target = pred.cpu().numpy(), target.cpu().numpy()
        for prob, gt in zip(pred, target):
            extent = own_extent(gt != IGNORE)
            if extent is None:  # nothing but padding / ignore: nothing to score
                continue
            prob, gt = prob[extent], gt[extent]
            counts = boundary_counts(np.where(gt == IGNORE, 0, prob), gt == 1, self.thresholds, self.max_dist)
            best = int(f_measure(*counts)[2].argmax())
            self._add(counts=torch.from_numpy(counts), ois=torch.from_numpy(counts[:, best]))

    def details(self) -> dict[str, float]:
        counts, ois = self.state["counts"].numpy(), self.state["ois"].numpy()
        if counts[1:].sum() == 0:
            return {"odsF": NAN, "oisF": NAN, "AP": NAN}
        p, r, f = f_measure(*counts)
        best = int(f.argmax())
        order = np.argsort(r, kind="stable")
        ap = float(np.sum(np.diff(r[order], prepend=0.0) * p[order]))
        return {"odsF": float(f[best] * 100), "oisF": float(f_measure(*ois)[2] * 100), "AP": ap * 100,
                "threshold": float(self.thresholds[best]), "precision": float(p[best] * 100),
                "recall": float(r[best] * 100)}


def delta_m(multi: Mapping[str, float], single: Mapping[str, float], tasks: Sequence[str]) -> float:
    """Multi-task performance change in % vs single-task baselines (higher is better).

    delta_m = (1/T) sum_t (-1)^l_t (M_m,t - M_s,t) / M_s,t * 100, l_t = 1 when TASKS[t].lower_is_better;
    `multi` and `single` map task -> headline metric value.
    """
    total = 0.0
    for t in tasks:
        for name, results in (("multi", multi), ("single", single)):
            if t not in results:
                raise ValueError(f"delta_m: task {t!r} missing from the {name}-task results {sorted(results)}")
        sign = -1.0 if TASKS[t].lower_is_better else 1.0
        total += sign * (multi[t] - single[t]) / single[t]
    return total / len(tasks) * 100


# Task.metric -> a fresh metric of that task on a dataset
METRICS: dict[str, Callable[[Task, str], Metric]] = {
    "mIoU": lambda task, dataset: MeanIoU(task.channels(dataset)),
    "rmse": lambda task, dataset: DepthRMSE(),
    "mErr": lambda task, dataset: NormalsMeanError(),
    "maxF": lambda task, dataset: SaliencyMaxF(),
    "odsF": lambda task, dataset: BoundaryODSF(max_dist=EDGE_MAX_DIST[dataset]),
}


def make_metric(task: Task, dataset: str) -> Metric:
    """The paper's metric of a task on `dataset`, fresh."""
    return METRICS[task.metric](task, dataset)


def make_metrics(tasks: Sequence[str], dataset: str) -> dict[str, Metric]:
    """{task: a fresh metric of that task on `dataset`}."""
    return {t: make_metric(TASKS[t], dataset) for t in tasks}
