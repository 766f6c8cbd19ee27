"""Attention maps of the MQT head as pictures: per-query 2-D maps, overlays and the cross-task matrix.

The model returns its attention on request (`model.forward_with_attention(x)`, an `mqt.MQTAttention`) as
token-level tensors. This module turns them into things to look at (numpy and PIL only, no matplotlib), for the app
and the notebooks:

- `compute_attention(model, image)` runs one image and keeps the maps with the geometry needed to place them.
- `query_map(maps, stage, task, query)` is one query's map over the image's own pixels, for the three stages
  of Fig. 4: the encoder (where query m of task t reads its pixels, eq. 2), the same map after the cross-task
  query attention (Fig. 6 of the paper), and the decoder (how much each pixel reads from query m, eq. 7).
- `cross_task_matrix(maps)` is the CTQA attention (eq. 5) pooled into a (T, T) task-to-task matrix.
- `overlay`, `heatmap` and `matrix_image` draw them, on the package's one colour ramp (tasks.DEPTH_LUT, run from
  dark to bright: the depth maps' colours, far to near).
- `cross_task_off(model)` and `restrict_cross_task(model, allowed)` are causal probes, context managers that change
  the CTQA of a trained model at inference: off altogether (eqs. 5-6 skipped, the queries go from the encoder
  straight to the decoder), or with task i's queries allowed to read task j's only where `allowed[i, j]`.
With `depth > 1`, the maps shown are those of the last encoder and decoder block.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .tasks import DEPTH_LUT

STAGES: dict[str, str] = {
    "encoder": "encoder: where the query reads its task's pixels (eq. 2)",
    "encoder_after_ctqa": "encoder, after cross-task query attention: where the updated query would read (Fig. 6)",
    "decoder": "decoder: how much each pixel reads from the query (eq. 7)",
}
HEAT_LUT = DEPTH_LUT[::-1]  # (256, 3) uint8 from dark (no attention) to bright (the most)
OVERLAY_ALPHA = 0.6  # weight of the heat map over the image
MATRIX_CELL = 64  # pixels per cell of the cross-task matrix image
MATRIX_FONT_SIZE = 14
MATRIX_MARGIN = 8
DARK_CELL = 0.5  # cells darker than this (fraction of full brightness) get white text


@dataclass
class AttentionMaps:
    """The attention of one image (batch dimension removed) and where its tokens lie in the image."""

    attention: dict[str, Any]  # stage -> {task: (heads, Nq, Nk) array}; "cross_task": (heads, TM, TM) or None
    tasks: tuple[str, ...]
    token_sizes: list[tuple[int, int]]  # (h_s, w_s) of each scale, finest first
    stride: tuple[float, float]  # input pixels per finest token (y, x)
    resized: tuple[int, int]  # (h, w) of the image inside the model's padded input
    original: tuple[int, int]  # (H, W) of the image

    @property
    def num_queries(self) -> int:
        """M, the queries per task."""
        return next(iter(self.attention["encoder"].values())).shape[1]


@torch.inference_mode()
def compute_attention(model: torch.nn.Module, image: Any) -> AttentionMaps:
    """Run one image (RGB array or PIL image) through an MQT model and keep its attention maps.

    Args:
        model: a model with an MQT head (`head="mqt"`); others raise ValueError.
        image: anything `model.preprocess` takes.
    """
    if getattr(model, "mqt", None) is None:
        raise ValueError(f"head={model.cfg.head!r} has no attention maps; only head='mqt' does")
    x, resized, original = model.preprocess(image)
    device = next(model.parameters()).device
    _, attention = model.forward_with_attention(x[None].to(device))
    sizes = [tuple(s) for s in attention.token_sizes]
    d = model.size_divisor
    padded = [s + (-s % d) for s in x.shape[-2:]]  # the model pads its input to a multiple of d
    stride = (padded[0] / sizes[0][0], padded[1] / sizes[0][1])
    maps = {"encoder": {t: _first(blocks[-1]) for t, blocks in attention.encoder.items()},  # the last block's
            "encoder_after_ctqa": {t: _first(a) for t, a in attention.encoder_after_ctqa.items()},
            "decoder": {t: _first(blocks[-1]) for t, blocks in attention.decoder.items()},
            "cross_task": None if attention.cross_task is None else _first(attention.cross_task)}
    return AttentionMaps(maps, tuple(attention.tasks), sizes, stride, tuple(resized), tuple(original))


def _first(a: torch.Tensor) -> np.ndarray:
    """The first image of a batch (B, ...) as a float32 array (...)."""
    return a[0].float().cpu().numpy()


def tokens_to_grid(values: np.ndarray, token_sizes: list[tuple[int, int]], density: bool) -> np.ndarray:
    """Values of the multi-scale token sequence (N,) -> one map on the finest grid (h1, w1).

    Coarse scale s (2^s x 2^s finest cells per token) is repeated onto the finest grid. With `density`,
    a coarse token's value is shared among its cells, so attention mass is kept (the map sums as the
    tokens did); otherwise the scales' values are averaged per cell.
    """
    h1, w1 = token_sizes[0]
    grid = np.zeros((h1, w1), np.float64)
    parts = np.split(values, np.cumsum([h * w for h, w in token_sizes])[:-1])
    for s, (part, (h, w)) in enumerate(zip(parts, token_sizes)):
        k = 2 ** s  # finest cells per coarse token along each side
        up = np.kron(part.reshape(h, w), np.ones((k, k)))[:h1, :w1]
        grid += up / k ** 2 if density else up / len(token_sizes)
    return grid


def query_map(maps: AttentionMaps, stage: str, task: str, query: int) -> np.ndarray:
    """One query's attention as a float map (H, W) over the image's own pixels, averaged over heads.

    Args:
        maps: from `compute_attention`.
        stage: a key of STAGES.
        task: one of `maps.tasks`.
        query: query index in [0, M).
    Returns: for the encoder stages, the share of the query's attention on each finest token cell (a
        stride x stride patch of the model's input), resampled to the image; for the decoder, the weight
        each pixel gives to the query (in [0, 1]).
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; valid: {list(STAGES)}")
    if task not in maps.tasks:
        raise ValueError(f"task {task!r} is not one of the model's tasks {maps.tasks}")
    if not 0 <= query < maps.num_queries:
        raise ValueError(f"query {query} is out of range [0, {maps.num_queries})")
    weights = maps.attention[stage][task].mean(0)  # (Nq, Nk) averaged over heads
    is_decoder = stage == "decoder"  # decoder weights are (N pixels, M queries); encoder (M, N)
    values = weights[:, query] if is_decoder else weights[query]  # (N,)
    grid = tokens_to_grid(values, maps.token_sizes, density=not is_decoder)
    return grid_to_image(grid, maps)


def grid_to_image(grid: np.ndarray, maps: AttentionMaps) -> np.ndarray:
    """A map on the finest token grid (h1, w1) -> (H, W) over the image, without the padding."""
    (h, w), (H, W), (sy, sx) = maps.resized, maps.original, maps.stride
    box = (0.0, 0.0, w / sx, h / sy)  # the image's part of the grid, in token units
    resized = Image.fromarray(grid.astype(np.float32)).resize((W, H), Image.BILINEAR, box=box)
    return np.asarray(resized, dtype=np.float32)


def cross_task_matrix(maps: AttentionMaps) -> np.ndarray | None:
    """CTQA attention pooled per task block -> (T, T): row i = how task i's queries split their attention
    over the queries of each task (averaged over heads and over task i's queries; rows sum to 1).
    None when the model has no cross-task query attention."""
    cross = maps.attention["cross_task"]
    if cross is None:
        return None
    T, M = len(maps.tasks), maps.num_queries
    blocks = cross.mean(0).reshape(T, M, T, M)  # (reader task, reader query, read task, read query)
    return blocks.sum(3).mean(1)


def heatmap(values: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Values (H, W) -> (H, W, 3) uint8 on the heat ramp from `lo` (dark) to `hi` (bright); default: the
    map's own minimum and maximum."""
    v = np.nan_to_num(np.asarray(values, np.float64))
    lo = v.min() if lo is None else lo
    hi = v.max() if hi is None else hi
    v = np.clip(v, lo, hi)
    v = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    return HEAT_LUT[np.round(v * (len(HEAT_LUT) - 1)).astype(np.int64)]


def overlay(image: np.ndarray, values: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """Blend the heat map of `values` (H, W) over an RGB uint8 image (H, W, 3)."""
    if image.shape[:2] != values.shape:
        raise ValueError(f"image {image.shape[:2]} and map {values.shape} differ in size")
    blend = (1 - alpha) * image.astype(np.float64) + alpha * heatmap(values)
    return (blend + 0.5).astype(np.uint8)


def matrix_image(matrix: np.ndarray, labels: list[str] | tuple[str, ...]) -> Image.Image:
    """A labelled picture of a (T, T) matrix of shares in [0, 1]: rows read columns, each cell shows its
    percentage and a colour from 0 (dark) to the matrix's largest value (bright)."""
    T = len(labels)
    if matrix.shape != (T, T):
        raise ValueError(f"matrix {matrix.shape} does not match {T} labels")
    font = ImageFont.load_default(size=MATRIX_FONT_SIZE)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max(probe.textlength(s, font=font) for s in labels)
    left, top = int(label_w) + 2 * MATRIX_MARGIN, MATRIX_FONT_SIZE + 2 * MATRIX_MARGIN
    img = Image.new("RGB", (left + T * MATRIX_CELL + MATRIX_MARGIN, top + T * MATRIX_CELL + MATRIX_MARGIN), "white")
    draw = ImageDraw.Draw(img)
    colours = heatmap(matrix, lo=0.0)  # (T, T, 3): 0% dark, the largest cell bright
    for i in range(T):
        y = top + i * MATRIX_CELL
        draw.text((MATRIX_MARGIN, y + MATRIX_CELL / 2), labels[i], fill="black", font=font, anchor="lm")
        draw.text((left + (i + 0.5) * MATRIX_CELL, MATRIX_MARGIN), labels[i], fill="black", font=font, anchor="mt")
        for j in range(T):
            x = left + j * MATRIX_CELL
            draw.rectangle((x, y, x + MATRIX_CELL - 1, y + MATRIX_CELL - 1), fill=tuple(int(c) for c in colours[i, j]))
            text = "white" if colours[i, j].mean() < DARK_CELL * 255 else "black"
            draw.text((x + MATRIX_CELL / 2, y + MATRIX_CELL / 2), f"{matrix[i, j]:.0%}", fill=text, font=font,
                      anchor="mm")
    return img


def _mqt_head(model: torch.nn.Module) -> torch.nn.Module:
    """The MQT head of a model (or of a DDP-wrapped one) that has cross-task query attention."""
    head = getattr(getattr(model, "module", model), "mqt", None)
    if head is None:
        raise ValueError("the model has no MQT head (head='mqt'), so no cross-task query attention")
    if head.ctqa is None:
        raise ValueError("the model was built without cross-task query attention (cross_task_attention=False)")
    return head


@contextmanager
def cross_task_off(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Inside the block, the model runs without CTQA (eqs. 5-6): each task's queries go from the shared encoder
    straight to the shared decoder, as in a model built with `cross_task_attention=False`, but with the trained
    weights of everything else. The block is restored on exit, also after an error.

        with cross_task_off(model):
            results = evaluate(model, batches)
    """
    head = _mqt_head(model)
    ctqa = head.ctqa
    head.ctqa = None  # MQTHead.cross_task returns the queries unchanged when there is no CTQA block
    try:
        yield model
    finally:
        head.ctqa = ctqa


@contextmanager
def restrict_cross_task(model: torch.nn.Module, allowed: Any) -> Iterator[torch.nn.Module]:
    """Inside the block, CTQA's attention (eq. 5) lets a query of task i read the queries of task j only where
    `allowed[i, j]` (a (T, T) boolean array in the order of `model.cfg.tasks`); the other keys get weight 0 and
    each row's softmax renormalises over the keys left. Everything else (the MLP of eq. 6, the residuals) runs as
    trained. `allowed` all True is the model itself; the identity lets every task read only its own queries (no
    cross-task exchange); a column j of False except its diagonal hides task j's queries from the other tasks.
    """
    head = _mqt_head(model)
    T, M = head.queries.shape[:2]
    allowed = np.asarray(allowed, dtype=bool)
    if allowed.shape != (T, T):
        raise ValueError(f"allowed must be ({T}, {T}) for the tasks {head.tasks}, got {allowed.shape}")
    if not allowed.any(1).all():
        raise ValueError("every task must be allowed to read some task's queries (a row of allowed is all False)")
    attn = head.ctqa.attn
    attn.keep = torch.from_numpy(np.kron(allowed, np.ones((M, M), bool))).to(head.queries.device)  # (T*M, T*M)
    try:
        yield model
    finally:
        attn.keep = None
