"""Boundary evaluation without MATLAB: thinning and one-to-one pixel matching (paper Sec. IV-A, odsF).

The paper (like ATRC) scores boundaries with SEISM: for each threshold t the predicted probability map is
binarised (p >= t), thinned to one-pixel-wide lines (MATLAB ``bwmorph(b, 'thin', Inf)``), and thinned predicted
pixels are matched one to one to ground-truth boundary pixels closer than ``max_dist`` x image diagonal
(``correspondPixels``). This module returns those per-threshold counts for one image; ``metrics.BoundaryODSF``
pools them over a dataset.

How it is computed:
- Thinning: the two-subiteration algorithm MATLAB uses (Lam, Lee & Suen 1992, as in ``bwmorph 'thin'``), run for
  all thresholds at once: every pixel holds one bit per threshold (two uint64 words for 99 thresholds) and the
  deletion rule is a boolean formula, so one pass of numpy bit operations thins 99 binary images in parallel.
  Rows are processed in tiles so that settled regions are skipped.
- Matching: the maximum number of one-to-one matches, i.e. a maximum-cardinality bipartite matching, solved as a
  unit-capacity max-flow (scipy ``maximum_flow``, Dinic) on the sparse graph of (prediction, GT) pairs within the
  radius. Predicted pixels with no GT pixel within the radius (one distance transform per image) never enter the
  graph, and thresholds whose binarisation equals the previous one reuse its counts.

Departures from SEISM: ``correspondPixels`` solves a min-cost assignment (CSA) in which unmatched pixels pay a large
outlier cost; that maximises the number of matches too, up to its sparse outlier graph and tie-breaking, so our
counts equal or slightly exceed it. scipy's ``maximum_bipartite_matching`` is not used: it took minutes on graphs
without a perfect matching. The ground truth is used as given (not thinned), as in SEISM.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.csgraph import maximum_flow

BITS_PER_WORD = 64
TILE_ROWS = 16  # rows thinned together: temporaries stay in cache and settled tiles are skipped
# LOW_BITS[n] has its n lowest bits set (n = 0..64).
LOW_BITS = np.array([(1 << n) - 1 for n in range(BITS_PER_WORD + 1)], dtype=np.uint64)


def deletable(x: Sequence[np.ndarray], first: bool) -> np.ndarray:
    """bwmorph 'thin' deletion rule as bit operations on the 8 neighbours x1..x8 (E, NE, N, NW, W, SW, S, SE).

    A foreground pixel is deleted when (G1) its crossing number X_H is 1, (G2) 2 <= min(n1, n2) <= 3 and
    (G3) ``(x2 | x3 | ~x8) & x1 == 0`` in the first subiteration, ``(x6 | x7 | ~x4) & x5 == 0`` in the second.
    Works elementwise on bool arrays and bitwise on integer words (one bit per binary image).
    """
    x1, x2, x3, x4, x5, x6, x7, x8 = x
    c1, c2, c3, c4 = x2 | x3, x4 | x5, x6 | x7, x8 | x1  # the terms of n2
    a1, a2, a3, a4 = x1 | x2, x3 | x4, x5 | x6, x7 | x8  # the terms of n1
    b1, b2, b3, b4 = c1 & ~x1, c2 & ~x3, c3 & ~x5, c4 & ~x7  # X_H = b1 + b2 + b3 + b4
    one_crossing = ((b1 | b2) ^ (b3 | b4)) & ~((b1 & b2) | (b3 & b4))
    a12, a34, c12, c34 = a1 & a2, a3 & a4, c1 & c2, c3 & c4
    n1_at_least_2 = a12 | a34 | ((a1 | a2) & (a3 | a4))
    n2_at_least_2 = c12 | c34 | ((c1 | c2) & (c3 | c4))
    min_at_most_3 = ~(a12 & a34 & c12 & c34)
    g3 = ~((c1 | ~x8) & x1) if first else ~((c3 | ~x4) & x5)
    return one_crossing & n1_at_least_2 & n2_at_least_2 & min_at_most_3 & g3


def pack_levels(levels: np.ndarray, n: int) -> np.ndarray:
    """Bit planes of the binary maps ``levels > k`` for k < n: (ceil(n/64), H+2, W+2) uint64, zero border."""
    H, W = levels.shape
    words = np.zeros((-(-n // BITS_PER_WORD), H + 2, W + 2), np.uint64)
    for w in range(words.shape[0]):
        words[w, 1:-1, 1:-1] = LOW_BITS[np.clip(levels - BITS_PER_WORD * w, 0, BITS_PER_WORD)]
    return words


def thin_words(words: np.ndarray) -> None:
    """Thin every bit plane of ``words`` (n_words, H+2, W+2) in place until nothing changes."""
    n_words, Hp, Wp = words.shape
    offsets = (1, 1 - Wp, -Wp, -1 - Wp, -1, Wp - 1, Wp, Wp + 1)  # x1..x8 in the flattened image
    tiles = [(max(r * Wp, Wp + 1), min((r + TILE_ROWS) * Wp, (Hp - 1) * Wp - 1)) for r in range(1, Hp - 1, TILE_ROWS)]
    for a in words.reshape(n_words, -1):
        before_last, last = np.ones(len(tiles), bool), np.ones(len(tiles), bool)  # tiles changed in the last 2 steps
        step = 0
        while before_last.any() or last.any():
            # a tile's result can differ from its previous same-subiteration result only if it or a neighbour changed
            moved = before_last | last
            todo = moved | np.r_[moved[1:], False] | np.r_[False, moved[:-1]]
            deletions = []
            for t in np.flatnonzero(todo):
                lo, hi = tiles[t]
                d = deletable([a[lo + o:hi + o] for o in offsets], first=step % 2 == 0) & a[lo:hi]
                if d.any():
                    deletions.append((t, d))
            now = np.zeros(len(tiles), bool)
            for t, d in deletions:  # applied after all tiles are evaluated: the subiteration is parallel
                lo, hi = tiles[t]
                a[lo:hi] &= ~d
                now[t] = True
            before_last, last = last, now
            step += 1


def thin(mask: np.ndarray) -> np.ndarray:
    """Thin a 2-D binary mask to one-pixel-wide lines, like MATLAB ``bwmorph(mask, 'thin', Inf)``."""
    mask = np.asarray(mask, dtype=bool)
    words = pack_levels(mask.astype(np.int64), 1)
    thin_words(words)
    return words[0, 1:-1, 1:-1] != 0


def unpack_pixels(words: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat (padded) indices of pixels that are on at any of the n planes, and their (len, n) bool table."""
    flat = words.reshape(words.shape[0], -1)
    idx = np.flatnonzero(np.bitwise_or.reduce(flat, axis=0))
    as_bytes = np.ascontiguousarray(flat[:, idx].T.astype("<u8")).view(np.uint8)  # (len, n_words * 8)
    return idx, np.unpackbits(as_bytes, axis=1, bitorder="little")[:, :n].view(bool)


def disc_offsets(radius: float, row_stride: int) -> np.ndarray:
    """Flat offsets of the pixels within ``radius`` (Euclidean, inclusive) of the origin."""
    R = int(radius)
    dy, dx = np.mgrid[-R:R + 1, -R:R + 1]
    inside = dy**2 + dx**2 <= radius**2
    return dy[inside] * row_stride + dx[inside]


def neighbours(pred: np.ndarray, gt_ids: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GT pixels within the radius of each predicted pixel, as CSR rows: (count per pixel, concatenated GT ids).

    Args:
        pred: flat indices of predicted pixels in the padded id image.
        gt_ids: flat padded image holding each GT pixel's id (0..n_gt-1) and -1 elsewhere.
        offsets: ``disc_offsets`` for that image.
    """
    cand = gt_ids[pred[:, None] + offsets]  # (P, K) GT id of each position within the radius, or -1
    has = cand >= 0
    return has.sum(1), cand[has]  # row-major: each pixel's GT neighbours are contiguous


def take_rows(degree: np.ndarray, flat: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CSR rows `rows` of (degree, flat), again as (degree, flat)."""
    start = np.cumsum(degree) - degree
    lens = degree[rows]
    return lens, flat[np.repeat(start[rows] - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())]


def max_matching(degree: np.ndarray, gt: np.ndarray, n_gt: int) -> int:
    """Size of a maximum one-to-one matching of predicted pixels to GT pixels, given as CSR rows (``neighbours``)."""
    if gt.size == 0:
        return 0
    # Flow network: source 0 -> predicted 1..P -> GT P+1..P+n_gt -> sink, every capacity 1.
    P = len(degree)
    n = P + n_gt + 2
    per_row = np.concatenate(([P], degree, np.ones(n_gt, np.int64), [0]))
    indptr = np.concatenate(([0], np.cumsum(per_row))).astype(np.int32)
    indices = np.concatenate((np.arange(1, P + 1), P + 1 + gt, np.full(n_gt, n - 1))).astype(np.int32)
    graph = sparse.csr_array((np.ones(len(indices), np.int32), indices, indptr), shape=(n, n))
    return int(maximum_flow(graph, 0, n - 1, method="dinic").flow_value)


def boundary_counts(prob: np.ndarray, gt: np.ndarray, thresholds: np.ndarray, max_dist: float) -> np.ndarray:
    """Per-threshold counts for one image: rows (matched pixels, thinned predicted pixels, GT pixels).

    Args:
        prob: (H, W) boundary probabilities; a pixel is predicted at threshold t when prob >= t.
        gt: (H, W) bool ground-truth boundary map (used as given, not thinned).
        thresholds: increasing thresholds, shape (T,).
        max_dist: matching radius as a fraction of the image diagonal.
    Returns:
        (3, T) float64; matches are one to one, so matched predicted pixels == matched GT pixels.
    """
    H, W = prob.shape
    n = len(thresholds)
    counts = np.zeros((3, n))
    counts[2] = gt.sum()
    levels = np.searchsorted(thresholds, prob, side="right")  # on at threshold k  <=>  k < level
    words = pack_levels(levels, n)
    thin_words(words)
    idx, on = unpack_pixels(words, n)
    counts[1] = on.sum(0)
    if not gt.any() or idx.size == 0:
        return counts
    radius = max_dist * math.hypot(H, W)
    y, x = np.divmod(idx, W + 2)
    y, x = y - 1, x - 1  # undo the thinning border
    near = ndimage.distance_transform_edt(~gt)[y, x] <= radius  # farther pixels can never match
    R = int(radius)
    gt_ids = np.full((H + 2 * R, W + 2 * R), -1, np.int32)
    gy, gx = np.nonzero(gt)
    gt_ids[gy + R, gx + R] = np.arange(len(gy))
    pred_flat = (y[near] + R) * (W + 2 * R) + x[near] + R
    # candidate GT neighbours of every pixel that is on (and near GT) at some threshold, gathered once
    degree, gt_nbrs = neighbours(pred_flat, gt_ids.ravel(), disc_offsets(radius, W + 2 * R))
    on_near = np.ascontiguousarray(on[near].T)  # (T, pixels)
    new_pixels = np.bincount(levels.ravel(), minlength=n + 1)  # level k pixels switch off between t_{k-1} and t_k
    for k in range(n):
        if k > 0 and new_pixels[k] == 0:  # same binarisation as threshold k-1
            counts[0, k] = counts[0, k - 1]
        else:
            counts[0, k] = max_matching(*take_rows(degree, gt_nbrs, np.flatnonzero(on_near[k])), len(gy))
    return counts
