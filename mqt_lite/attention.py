"""Multi-head attention, eq. (1) of the paper: Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V.

`attention()` is the four-line reference used for teaching and whenever the weights are asked for;
`Attention` runs `F.scaled_dot_product_attention` otherwise (fused kernels, no (Nq, Nk) matrix kept).
Everything is batch-first, (B, N, C): the official code's extra `nn.MultiheadAttention` was sequence-first
but fed batch-first tensors, so it attended across the images of a batch. Here nothing can mix images.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MAX_CYCLES = 16.0  # highest frequency of the pixel position encoding, in cycles per feature map


def attention(q: Tensor, k: Tensor, v: Tensor, keep: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Reference scaled dot-product attention. q (..., Nq, d), k and v (..., Nk, d) -> (out, weights); `keep` as in
    `attention_weights`."""
    weights = attention_weights(q, k, keep)  # (..., Nq, Nk)
    return weights @ v, weights


def attention_weights(q: Tensor, k: Tensor, keep: Tensor | None = None) -> Tensor:
    """softmax(q k^T / sqrt(d)): q (..., Nq, d), k (..., Nk, d) -> (..., Nq, Nk), each row sums to 1.

    `keep` (a boolean (Nq, Nk), broadcast): only where it is True may a query read a key; the others get weight 0
    and each row's softmax renormalises over the keys left (a row must keep at least one key)."""
    logits = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # (..., Nq, Nk)
    if keep is not None:
        logits = logits.masked_fill(~keep, float("-inf"))
    return logits.softmax(dim=-1)


def sdpa(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """F.scaled_dot_product_attention, in fp32 under CPU autocast: there its bf16 backward is 1.8-2.6x slower than
    fp32 at head dims of 16-64, while the projections around it gain most from bf16 (mqt_lite.precision)."""
    if q.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float())
    return F.scaled_dot_product_attention(q, k, v)


class Attention(nn.Module):
    """Multi-head attention with separate query, key and value inputs (self- or cross-attention).

    `keep`, None by default, may be set to a boolean (Nq, Nk) mask: queries then read only the keys it allows, through
    the reference attention (the causal probes of attention_maps.py set it on a trained model's CTQA).
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.keep: Tensor | None = None
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def _split(self, x: Tensor) -> Tensor:
        B, N, C = x.shape
        return x.view(B, N, self.num_heads, C // self.num_heads).transpose(1, 2)  # (B, heads, N, d)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """query (B, Nq, C), key and value (B, Nk, C) -> (out (B, Nq, C), weights (B, heads, Nq, Nk) or None)."""
        B, Nq, C = query.shape
        q, k, v = self._split(self.q(query)), self._split(self.k(key)), self._split(self.v(value))
        if need_weights or self.keep is not None:
            out, weights = attention(q, k, v, self.keep)
        else:
            out, weights = sdpa(q, k, v), None
        out = out.transpose(1, 2).reshape(B, Nq, C)  # merge heads
        return self.proj(out), weights if need_weights else None

    def weights(self, query: Tensor, key: Tensor) -> Tensor:
        """Only the attention map (B, heads, Nq, Nk) of `query` over `key` (for visualisation)."""
        return attention_weights(self._split(self.q(query)), self._split(self.k(key)))


class MLP(nn.Module):
    """Two linear layers with a GELU between them, as in eqs. (4), (6) and (8)."""

    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


def sine_position_encoding(h: int, w: int, dim: int, device: torch.device | None = None,
                           dtype: torch.dtype = torch.float32) -> Tensor:
    """Fixed 2-D sine/cosine encoding of an (h, w) grid -> (h*w, dim); half the channels for y, half for x.

    Used for pixels (the paper's "positional encoding" of the task-specific feature, Fig. 4 black circle).
    Unlike a learned table it works at any feature size, so the model takes any input size.
    """
    if dim % 4:
        raise ValueError(f"sine position encoding needs dim divisible by 4, got {dim}")
    quarter = dim // 4
    # Frequencies from 1 to MAX_CYCLES cycles across the map, log-spaced, so every channel varies.
    freq = torch.logspace(0, math.log10(MAX_CYCLES), quarter, device=device)  # (dim/4,)
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h * 2 * math.pi  # in (0, 2 pi)
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w * 2 * math.pi
    y = ys[:, None] * freq[None]  # (h, dim/4)
    x = xs[:, None] * freq[None]  # (w, dim/4)
    y = torch.cat([y.sin(), y.cos()], dim=1)[:, None, :].expand(h, w, dim // 2)
    x = torch.cat([x.sin(), x.cos()], dim=1)[None, :, :].expand(h, w, dim // 2)
    return torch.cat([y, x], dim=2).reshape(h * w, dim).to(dtype)
