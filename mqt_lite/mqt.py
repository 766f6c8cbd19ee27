"""The Multi-Query Transformer head (paper Sec. III-B, eqs. 1-8, Fig. 3-4).

    F (B, C, h, w) -> per task t: X_t = Linear_t(F), plus pooled copies for the extra scales
    shared encoder     q_t = LN(Q_t + pos_q)                      queries read their task's pixels  (1)
                       q_t = q_t + MHSA(q_t, X_t + pos_x, X_t)                                     (2)
      query learning   q_t = q_t + Linear(q_t)                                                     (3)
                       q_t = q_t + MLP(LN(q_t))                                                    (4)
    cross-task query   Q = [q_1; ...; q_T] (B, T*M, C);  Q = Q + MHSA(LN(Q));  Q = Q + MLP(LN(Q))  (5)(6)
    attention (CTQA)   split Q back into q_1 ... q_T
    shared decoder     X_t = X_t + MHSA(LN(X_t) + pos_x, LN(q_t) + pos_q, LN(q_t))  pixels read queries (7)
                       X_t = X_t + MLP(LN(X_t))                                                    (8)
    -> {t: X_t (B, C, h, w)}: the finest scale, plus each coarser scale upsampled through a gain g_s (zero at init)

Cost: the encoder and decoder are linear in the number of pixels N (M queries each), CTQA is O((T*M)^2 C)
whatever the image size. Letters: B batch, T tasks, M queries per task, N pixels, C channels.

Where this departs from the paper, and why (each is a config field or documented choice):
- Queries Q_t are fixed after uniform initialisation by default, as the text says ("not further optimized");
  `learn_queries=True` trains them, as the official code does. Their positional encodings are learned.
- The paper does not say how the pixels' positional encoding is made: we use a fixed 2-D sine encoding
  (works at any input size) plus a learned embedding per scale.
- Extra scales (`num_scales`, Tab. VI) are 2x average-pooled copies of X_t. The encoder reads all scales'
  pixels at once; the decoder refines all of them. The paper says only "two-scale task-specific features" (the
  official head builds a second input and never reads it), so how they come back is ours:
  `scale_fusion="gated"` (default) adds each coarse scale, upsampled, through a per-channel gain g_s that starts
  at zero (LayerScale-style): at initialisation the output is the fine-scale map alone, and the coarse path
  contributes only as far as training finds it useful. `scale_fusion="add"` adds it at unit gain (our first
  design): every task then reads a blurred copy of its own feature from the first step, which cost boundary
  odsF in the 180-step sweep (README).
  Pooling commutes with the linear map X_t = Linear_t(F), so the multi-scale tokens of F are made once and
  projected per task: the same numbers, without pooling and re-laying-out every task's map.
- Pre-norm LayerNorms on the pixel features and queries where the equations leave them implicit.
- The official decoder's extra pixel self-attention (O(N^2), not in the paper, and batch-mixing in that code)
  is not included.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import MLP, Attention, sine_position_encoding

SCALE_FUSIONS = ("gated", "add")  # how coarse scales return to the finest (module docstring)
QUERY_INIT_RANGE = 1.0  # queries ~ U(-1, 1): "uniformly initialized"
POS_INIT_STD = 0.02


class EncoderBlock(nn.Module):
    """Shared encoder (Fig. 4 pink box): task queries attend to their task's pixels, then query learning."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, query_learning: bool) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_x = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.query_learning = query_learning
        if query_learning:
            self.linear = nn.Linear(dim, dim)
            self.norm_mlp = nn.LayerNorm(dim)
            self.mlp = MLP(dim, mlp_ratio)

    def forward(self, q: Tensor, q_pos: Tensor, x: Tensor, x_pos: Tensor,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """q (B, M, C), q_pos (1, M, C), x (B, N, C), x_pos (1, N, C) -> q (B, M, C), weights (B, heads, M, N)."""
        q = self.norm_q(q + q_pos)  # (1) query input: LN(Q + pos)
        x = self.norm_x(x)
        a, weights = self.attn(q, x + x_pos, x, need_weights)
        q = q + a  # (2)
        if self.query_learning:
            q = q + self.linear(q)  # (3)
            q = q + self.mlp(self.norm_mlp(q))  # (4)
        return q, weights

    def query_map(self, q: Tensor, q_pos: Tensor, x: Tensor, x_pos: Tensor) -> Tensor:
        """Where queries q would look among the pixels with this block's attention (B, heads, M, N)."""
        return self.attn.weights(self.norm_q(q + q_pos), self.norm_x(x) + x_pos)


class CrossTaskQueryAttention(nn.Module):
    """CTQA (Fig. 4): self-attention over the queries of all tasks together, eqs. (5)-(6)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm_attn = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio)

    def forward(self, queries: list[Tensor], need_weights: bool = False) -> tuple[list[Tensor], Tensor | None]:
        """T tensors (B, M, C) -> T tensors (B, M, C), weights (B, heads, T*M, T*M)."""
        M = queries[0].shape[1]
        Q = torch.cat(queries, dim=1)  # (B, T*M, C): the cross-task query
        n = self.norm_attn(Q)
        a, weights = self.attn(n, n, n, need_weights)
        Q = Q + a  # (5)
        Q = Q + self.mlp(self.norm_mlp(Q))  # (6)
        return list(Q.split(M, dim=1)), weights


class DecoderBlock(nn.Module):
    """Shared decoder (Fig. 4 green box): every pixel attends to its task's queries, eqs. (7)-(8)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm_x = nn.LayerNorm(dim)
        self.norm_q = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio)

    def forward(self, x: Tensor, x_pos: Tensor, q: Tensor, q_pos: Tensor,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """x (B, N, C), q (B, M, C) -> x (B, N, C), weights (B, heads, N, M)."""
        q = self.norm_q(q)
        a, weights = self.attn(self.norm_x(x) + x_pos, q + q_pos, q, need_weights)
        x = x + a  # (7)
        x = x + self.mlp(self.norm_mlp(x))  # (8)
        return x, weights


class MQTHead(nn.Module):
    """Task-specific features + shared encoder + CTQA + shared decoder. F -> {task: (B, C, h, w)}."""

    def __init__(self, tasks: tuple[str, ...], dim: int, num_heads: int = 4, mlp_ratio: float = 4.0,
                 num_queries: int = 64, depth: int = 1, num_scales: int = 2, query_learning: bool = True,
                 cross_task_attention: bool = True, shared_encoder_decoder: bool = True,
                 learn_queries: bool = False, scale_fusion: str = "gated") -> None:
        super().__init__()
        self.tasks, self.num_scales = tasks, num_scales
        T, M, C = len(tasks), num_queries, dim
        self.task_proj = nn.ModuleList(nn.Linear(C, C) for _ in range(T))  # X_t = Linear_t(F)
        queries = torch.empty(T, M, C).uniform_(-QUERY_INIT_RANGE, QUERY_INIT_RANGE)
        if learn_queries:
            self.queries = nn.Parameter(queries)
        else:
            self.register_buffer("queries", queries)  # saved with the model, never updated
        self.query_pos = nn.Parameter(torch.randn(T, M, C) * POS_INIT_STD)
        self.scale_embed = nn.Parameter(torch.randn(num_scales, C) * POS_INIT_STD) if num_scales > 1 else None
        if scale_fusion not in SCALE_FUSIONS:
            raise ValueError(f"unknown scale_fusion {scale_fusion!r}; valid: {list(SCALE_FUSIONS)}")
        if scale_fusion == "gated" and num_scales > 1:  # g_s per coarse scale and channel, learned from zero
            self.scale_gain = nn.Parameter(torch.zeros(num_scales - 1, C))
        else:  # "add": fixed at 1 (with one scale: empty); a buffer, so no parameter goes without a gradient
            self.register_buffer("scale_gain", torch.ones(num_scales - 1, C), persistent=False)
        groups = 1 if shared_encoder_decoder else T  # one encoder/decoder for all tasks, or one per task
        self.encoders = nn.ModuleList(
            nn.ModuleList(EncoderBlock(C, num_heads, mlp_ratio, query_learning) for _ in range(depth))
            for _ in range(groups))
        self.decoders = nn.ModuleList(
            nn.ModuleList(DecoderBlock(C, num_heads, mlp_ratio) for _ in range(depth)) for _ in range(groups))
        self.ctqa = CrossTaskQueryAttention(C, num_heads, mlp_ratio) if cross_task_attention else None

    def _group(self, t: int) -> int:
        """Which encoder/decoder task t uses: the shared one, or its own (Tab. V)."""
        return 0 if len(self.encoders) == 1 else t

    def _tokens(self, feat: Tensor) -> tuple[Tensor, Tensor, list[tuple[int, int]]]:
        """F (B, C, h, w) -> tokens of all scales (B, N, C), their positions (1, N, C), the scales' sizes."""
        C = feat.shape[1]
        tokens, pos, sizes = [], [], []
        for s in range(self.num_scales):
            fs = F.avg_pool2d(feat, 2 ** s, ceil_mode=True) if s else feat  # (B, C, h_s, w_s)
            h, w = fs.shape[-2:]
            tokens.append(fs.flatten(2).transpose(1, 2))  # (B, h_s*w_s, C)
            p = sine_position_encoding(h, w, C, feat.device, feat.dtype)
            pos.append(p + self.scale_embed[s] if self.scale_embed is not None else p)
            sizes.append((h, w))
        return torch.cat(tokens, 1), torch.cat(pos, 0)[None], sizes

    def _unpixels(self, tokens: Tensor, sizes: list[tuple[int, int]]) -> Tensor:
        """Tokens of all scales (B, N, C) -> (B, C, h, w): the finest scale + sum_s g_s * upsample(scale s)."""
        B, _, C = tokens.shape
        parts = tokens.split([h * w for h, w in sizes], dim=1)
        maps = [p.transpose(1, 2).reshape(B, C, h, w) for p, (h, w) in zip(parts, sizes)]  # channels-last views
        out = maps[0]
        for gain, m in zip(self.scale_gain, maps[1:]):
            out = out + gain.view(1, C, 1, 1) * F.interpolate(m, size=sizes[0], mode="bilinear", align_corners=False)
        return out

    def forward(self, feat: Tensor, need_weights: bool = False) -> tuple[dict[str, Tensor], dict | None]:
        """feat F (B, C, h, w) -> ({task: (B, C, h, w)}, attention maps or None)."""
        B = feat.shape[0]
        tokens, x_pos, sizes = self._tokens(feat)  # (B, N, C), (1, N, C): shared by all tasks
        pixels, q_list, enc_w = [], [], {}
        for t, task in enumerate(self.tasks):
            x = self.task_proj[t](tokens)  # task-specific feature X_t (B, N, C)
            q = self.queries[t].expand(B, -1, -1)  # (B, M, C)
            q_pos = self.query_pos[t][None]  # (1, M, C)
            for block in self.encoders[self._group(t)]:
                q, enc_w[task] = block(q, q_pos, x, x_pos, need_weights)
            pixels.append(x)
            q_list.append(q)

        ctqa_w = None
        if self.ctqa is not None:
            q_list, ctqa_w = self.ctqa(q_list, need_weights)  # T x (B, M, C)

        out, dec_w, after_w = {}, {}, {}
        for t, task in enumerate(self.tasks):
            x, q, q_pos = pixels[t], q_list[t], self.query_pos[t][None]
            if need_weights:  # Fig. 6: where the query looks after the cross-task interaction
                after_w[task] = self.encoders[self._group(t)][-1].query_map(q, q_pos, x, x_pos)
            for block in self.decoders[self._group(t)]:
                x, dec_w[task] = block(x, x_pos, q, q_pos, need_weights)
            out[task] = self._unpixels(x, sizes)
        if not need_weights:
            return out, None
        return out, {"encoder": enc_w, "encoder_after_ctqa": after_w, "cross_task": ctqa_w,
                     "decoder": dec_w, "token_sizes": sizes, "tasks": self.tasks}
