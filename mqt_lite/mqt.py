"""The Multi-Query Transformer head (paper Sec. III-B, eqs. 2-8, Fig. 3-4). MHSA is eq. (1), in attention.py.

    F (B, C, h, w) -> tokens of all scales, shared by the tasks; X_t = Linear_t(tokens)         `tokens`, `encode`
    shared encoder    q_t = LN(Q_t + pos_q)                                    the query input  (2)  `encode`
                      q_t = q_t + MHSA(q_t, LN(X_t) + pos_x, LN(X_t))          reads the pixels (2)
      query learning  q_t = q_t + Linear(q_t)                                                   (3)
                      q_t = q_t + MLP(LN(q_t))                                                  (4)
    cross-task query  Q = [q_1; ...; q_T] (B, T*M, C);  Q = Q + MHSA(LN(Q))                     (5)  `cross_task`
    attention (CTQA)  Q = Q + MLP(LN(Q));  split Q back into q_1 ... q_T                        (6)
    shared decoder    X_t = X_t + MHSA(LN(X_t) + pos_x, LN(q_t) + pos_q, LN(q_t))  pixels read  (7)  `decode`
                      X_t = X_t + MLP(LN(X_t))                                                  (8)
    -> {t: X_t (B, C, h, w)}: the finest scale + each coarser scale upsampled through a gain g_s     `to_maps`

MHSA(query, key, value) is multi-head attention, eq. (1) in each head. The LayerNorm on X_t in (2) and the ones in
(5) and (7) are pre-norms the equations leave implicit (see below).

`forward(feat)` runs the stages in that order; `forward_with_attention(feat)` runs the same forward and also
returns every attention map as an `MQTAttention` (all blocks when `depth > 1`, and the Fig. 6 map).

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
- Fields for the cheap experiments of README "Where the gap comes from" (defaults keep the design above):
  `query_init="trunc_normal"` (with `learn_queries=True`: the official code's queries), `pixel_pos_scale`
  (0: no pixel encoding, as the official head), `decoder_layer_scale` (LayerScale gains on the decoder's residual
  branches instead of unit gain), and `head_lr_scale` (the head's learning rate, train.py).
- The official decoder's extra pixel self-attention (O(N^2), not in the paper, and batch-mixing in that code)
  is not included.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import MLP, Attention, sine_position_encoding
from .config import QUERY_INITS, SCALE_FUSIONS, MQTConfig

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
        q = self.norm_q(q + q_pos)  # (2) the query input: LN(Q + pos)
        x = self.norm_x(x)
        a, weights = self.attn(q, x + x_pos, x, need_weights)  # MHSA, eq. (1) per head
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

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, layer_scale: float = 0.0) -> None:
        super().__init__()
        self.norm_x = nn.LayerNorm(dim)
        self.norm_q = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio)
        # LayerScale (layer_scale > 0): per-channel gains on both residual branches, so that at initialisation the
        # block passes the pixels on nearly unchanged; 0 keeps the paper's unit-gain residuals.
        self.gamma_attn = nn.Parameter(torch.full((dim,), layer_scale)) if layer_scale else None
        self.gamma_mlp = nn.Parameter(torch.full((dim,), layer_scale)) if layer_scale else None

    def forward(self, x: Tensor, x_pos: Tensor, q: Tensor, q_pos: Tensor,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """x (B, N, C), q (B, M, C) -> x (B, N, C), weights (B, heads, N, M)."""
        q = self.norm_q(q)
        a, weights = self.attn(self.norm_x(x) + x_pos, q + q_pos, q, need_weights)
        if self.gamma_attn is not None:
            a = self.gamma_attn * a
        x = x + a  # (7)
        m = self.mlp(self.norm_mlp(x))
        x = x + (m if self.gamma_mlp is None else self.gamma_mlp * m)  # (8)
        return x, weights


@dataclass
class MQTAttention:
    """Every attention map of one forward pass of the head, batch first, stage by stage (Fig. 4 and 6).

    Filled by `MQTHead.forward(feat, record)`; `forward_with_attention` returns one. N counts the tokens of all
    scales (`token_sizes`), M the queries of a task, T the tasks.
    """

    tasks: tuple[str, ...]
    token_sizes: list[tuple[int, int]] = field(default_factory=list)  # (h_s, w_s) of each scale, finest first
    encoder: dict[str, list[Tensor]] = field(default_factory=dict)  # task -> per block (B, heads, M, N): eq. (2)
    # task -> (B, heads, M, N): the last encoder block's map for the queries after CTQA, where they would read (Fig. 6)
    encoder_after_ctqa: dict[str, Tensor] = field(default_factory=dict)
    cross_task: Tensor | None = None  # (B, heads, T*M, T*M): eq. (5); None without CTQA
    decoder: dict[str, list[Tensor]] = field(default_factory=dict)  # task -> per block (B, heads, N, M): eq. (7)


class MQTHead(nn.Module):
    """Task-specific features + shared encoder + CTQA + shared decoder. F -> {task: (B, C, h, w)}.

    Args (defaults: MQTConfig's; `from_config(cfg)` takes them from a config):
        tasks: task names, in output order.
        dim: the head width C (the fused feature's channels).
        num_heads, mlp_ratio: of every attention block and MLP.
        num_queries: M per task (Tab. IV c).
        depth: encoder and decoder blocks (Tab. IV b).
        num_scales: task-specific feature scales (Tab. VI).
        query_learning: eqs. (3)-(4); cross_task_attention: eqs. (5)-(6) (Tab. IV a).
        shared_encoder_decoder: one encoder and decoder for all tasks, or one per task (Tab. V).
        learn_queries: train the queries Q_t (the official code) or keep them fixed (the paper).
        query_init: the queries' initialisation, one of QUERY_INITS: U(-1, 1) or truncated N(0, 0.02).
        pixel_pos_scale: multiplies the pixels' fixed sine encoding (0: none, as the official head).
        decoder_layer_scale: 0 for unit-gain decoder residuals, > 0 for LayerScale gains starting there.
        scale_fusion: how coarse scales return to the finest, one of SCALE_FUSIONS (module docstring).
    """

    def __init__(self, tasks: tuple[str, ...], dim: int, *, num_heads: int = MQTConfig.num_heads,
                 mlp_ratio: float = MQTConfig.mlp_ratio, num_queries: int = MQTConfig.num_queries,
                 depth: int = MQTConfig.depth, num_scales: int = MQTConfig.num_scales,
                 query_learning: bool = MQTConfig.query_learning,
                 cross_task_attention: bool = MQTConfig.cross_task_attention,
                 shared_encoder_decoder: bool = MQTConfig.shared_encoder_decoder,
                 learn_queries: bool = MQTConfig.learn_queries, scale_fusion: str = MQTConfig.scale_fusion,
                 query_init: str = MQTConfig.query_init, pixel_pos_scale: float = MQTConfig.pixel_pos_scale,
                 decoder_layer_scale: float = MQTConfig.decoder_layer_scale) -> None:
        super().__init__()
        self.tasks, self.num_scales, self.pixel_pos_scale = tuple(tasks), num_scales, pixel_pos_scale
        T, M, C = len(tasks), num_queries, dim
        self.task_proj = nn.ModuleList(nn.Linear(C, C) for _ in range(T))  # X_t = Linear_t(F)
        if query_init not in QUERY_INITS:
            raise ValueError(f"unknown query_init {query_init!r}; valid: {list(QUERY_INITS)}")
        queries = torch.empty(T, M, C)
        if query_init == "uniform":
            queries.uniform_(-QUERY_INIT_RANGE, QUERY_INIT_RANGE)
        else:
            nn.init.trunc_normal_(queries, std=POS_INIT_STD)
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
            nn.ModuleList(DecoderBlock(C, num_heads, mlp_ratio, decoder_layer_scale) for _ in range(depth))
            for _ in range(groups))
        self.ctqa = CrossTaskQueryAttention(C, num_heads, mlp_ratio) if cross_task_attention else None

    @classmethod
    def from_config(cls, cfg: MQTConfig) -> MQTHead:
        """The head a config describes."""
        return cls(cfg.tasks, cfg.dim, num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio, num_queries=cfg.num_queries,
                   depth=cfg.depth, num_scales=cfg.num_scales, query_learning=cfg.query_learning,
                   cross_task_attention=cfg.cross_task_attention, shared_encoder_decoder=cfg.shared_encoder_decoder,
                   learn_queries=cfg.learn_queries, scale_fusion=cfg.scale_fusion, query_init=cfg.query_init,
                   pixel_pos_scale=cfg.pixel_pos_scale, decoder_layer_scale=cfg.decoder_layer_scale)

    def forward(self, feat: Tensor, record: MQTAttention | None = None) -> dict[str, Tensor]:
        """F (B, C, h, w) -> {task: refined feature X_t (B, C, h, w)}; with `record`, every attention map goes there."""
        tokens, x_pos, sizes = self.tokens(feat)  # all scales' pixels (B, N, C), their positions (1, N, C)
        pixels, queries = self.encode(tokens, x_pos, record)  # X_t (B, N, C), q_t (B, M, C): eqs. (2)-(4)
        queries = self.cross_task(queries, record)  # eqs. (5)-(6)
        if record is not None:
            record.token_sizes = sizes
            self.record_after_ctqa(pixels, x_pos, queries, record)
        return self.decode(pixels, x_pos, queries, sizes, record)  # eqs. (7)-(8)

    def forward_with_attention(self, feat: Tensor) -> tuple[dict[str, Tensor], MQTAttention]:
        """The forward pass, and every attention map of it. The maps come from the reference attention (the
        weights are formed), so the outputs match `forward`'s up to float rounding."""
        record = MQTAttention(self.tasks)
        return self(feat, record), record

    def tokens(self, feat: Tensor) -> tuple[Tensor, Tensor, list[tuple[int, int]]]:
        """The pixels of the fused feature as tokens: F (B, C, h, w) -> tokens (B, N, C), positions (1, N, C) and
        the (h_s, w_s) of each scale.

        Scale s is F average-pooled by 2^s (ceil mode), flattened row-major; the scales follow each other, finest
        first, so N = sum_s h_s * w_s. A token's position is a fixed 2-D sine encoding of its place in its scale,
        plus a learned embedding of the scale (with several scales). All tasks share these tokens (pooling commutes
        with the per-task projection of `encode`).
        """
        C = feat.shape[1]
        tokens, pos, sizes = [], [], []
        for s in range(self.num_scales):
            fs = F.avg_pool2d(feat, 2 ** s, ceil_mode=True) if s else feat  # (B, C, h_s, w_s)
            h, w = fs.shape[-2:]
            tokens.append(fs.flatten(2).transpose(1, 2))  # (B, h_s*w_s, C)
            p = sine_position_encoding(h, w, C, feat.device, feat.dtype)
            if self.pixel_pos_scale != 1.0:
                p = p * self.pixel_pos_scale
            pos.append(p + self.scale_embed[s] if self.scale_embed is not None else p)
            sizes.append((h, w))
        return torch.cat(tokens, 1), torch.cat(pos, 0)[None], sizes

    def to_maps(self, tokens: Tensor, sizes: list[tuple[int, int]]) -> Tensor:
        """Tokens laid out as `tokens` lays them out (B, N, C) -> one map (B, C, h, w) at the finest scale: the
        finest scale's tokens, plus each coarser scale upsampled (bilinear) and multiplied by its gain g_s."""
        B, _, C = tokens.shape
        parts = tokens.split([h * w for h, w in sizes], dim=1)
        maps = [p.transpose(1, 2).reshape(B, C, h, w) for p, (h, w) in zip(parts, sizes)]  # channels-last views
        out = maps[0]
        for gain, m in zip(self.scale_gain, maps[1:]):
            out = out + gain.view(1, C, 1, 1) * F.interpolate(m, size=sizes[0], mode="bilinear", align_corners=False)
        return out

    def blocks(self, groups: nn.ModuleList) -> list[nn.ModuleList]:
        """The blocks of `groups` (the encoders or the decoders) each task uses, in task order: the shared ones,
        or its own (Tab. V)."""
        return [groups[0]] * len(self.tasks) if len(groups) == 1 else list(groups)

    def encode(self, tokens: Tensor, x_pos: Tensor,
               record: MQTAttention | None = None) -> tuple[list[Tensor], list[Tensor]]:
        """Shared encoder, eqs. (2)-(4): each task's feature X_t = Linear_t(tokens) and its queries q_t after reading
        it. tokens (B, N, C), x_pos (1, N, C) -> ([X_t (B, N, C)], [q_t (B, M, C)]) in task order."""
        B = tokens.shape[0]
        pixels, queries = [], []
        for t, (task, blocks) in enumerate(zip(self.tasks, self.blocks(self.encoders))):
            x = self.task_proj[t](tokens)  # task-specific feature X_t (B, N, C)
            q = self.queries[t].expand(B, -1, -1)  # (B, M, C)
            q_pos = self.query_pos[t][None]  # (1, M, C)
            for block in blocks:
                q, weights = block(q, q_pos, x, x_pos, need_weights=record is not None)
                if record is not None:
                    record.encoder.setdefault(task, []).append(weights)
            pixels.append(x)
            queries.append(q)
        return pixels, queries

    def cross_task(self, queries: list[Tensor], record: MQTAttention | None = None) -> list[Tensor]:
        """Cross-task query attention, eqs. (5)-(6): T x (B, M, C) -> T x (B, M, C); unchanged without CTQA."""
        if self.ctqa is None:
            return queries
        queries, weights = self.ctqa(queries, need_weights=record is not None)
        if record is not None:
            record.cross_task = weights
        return queries

    def record_after_ctqa(self, pixels: list[Tensor], x_pos: Tensor, queries: list[Tensor],
                          record: MQTAttention) -> None:
        """Fig. 6: where each task's queries, updated by CTQA, would read its pixels (its last encoder block)."""
        for t, (task, blocks) in enumerate(zip(self.tasks, self.blocks(self.encoders))):
            q_pos = self.query_pos[t][None]  # (1, M, C)
            record.encoder_after_ctqa[task] = blocks[-1].query_map(queries[t], q_pos, pixels[t], x_pos)

    def decode(self, pixels: list[Tensor], x_pos: Tensor, queries: list[Tensor], sizes: list[tuple[int, int]],
               record: MQTAttention | None = None) -> dict[str, Tensor]:
        """Shared decoder, eqs. (7)-(8): every pixel of X_t reads its task's queries; then the maps (`to_maps`).
        T x X_t (B, N, C), T x q_t (B, M, C) -> {task: (B, C, h, w)}."""
        out = {}
        for t, (task, blocks) in enumerate(zip(self.tasks, self.blocks(self.decoders))):
            x, q, q_pos = pixels[t], queries[t], self.query_pos[t][None]  # (B, N, C), (B, M, C), (1, M, C)
            for block in blocks:
                x, weights = block(x, x_pos, q, q_pos, need_weights=record is not None)
                if record is not None:
                    record.decoder.setdefault(task, []).append(weights)
            out[task] = self.to_maps(x, sizes)
        return out
