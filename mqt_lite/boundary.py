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
- Matching: the maximum number of one-to-one matches, i.e. a maximum-cardinality bipartite matching, found by
  Hopcroft-Karp (compiled with numba) on the sparse graph of (prediction, GT) pairs within the radius, gathered
  once per image. Predicted pixels with no GT pixel within the radius (one distance transform per image) never
  enter the graph; each threshold starts from the previous threshold's maximum matching (only the pixels that
  switched off lose their match), so few augmenting paths remain to be found; thresholds whose binarisation
  equals the previous one reuse its counts.

Departures from SEISM: ``correspondPixels`` solves a min-cost assignment (CSA) in which unmatched pixels pay a large
outlier cost; that maximises the number of matches too, up to its sparse outlier graph and tie-breaking, so our
counts equal or slightly exceed it. scipy's ``maximum_bipartite_matching`` is not used: it took minutes on graphs
without a perfect matching; a unit-capacity ``maximum_flow`` (Dinic) gave the same counts but was most of the time
per image (``python -m mqt_lite.bench metrics`` times it). The ground truth is used as given (not thinned), as in
SEISM.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

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


def hopcroft_karp(indptr: np.ndarray, gt: np.ndarray, active: np.ndarray, mate_p: np.ndarray,
                  mate_g: np.ndarray) -> int:
    """Size of a maximum one-to-one matching of the active predicted pixels to GT pixels (Hopcroft & Karp 1973).

    Args:
        indptr, gt: the candidate pairs as CSR rows, predicted pixel p -> GT ids ``gt[indptr[p]:indptr[p + 1]]``.
        active: (P,) bool, the predicted pixels on at this threshold; the others take no part.
        mate_p, mate_g: (P,) and (n_gt,) int64, a matching to start from (-1 = unmatched), updated in place to a
            maximum one. Starting from the previous threshold's matching leaves few augmenting paths to find.
    Each phase finds shortest augmenting paths: a BFS from every free active pixel layers the alternating graph,
    then a DFS along the layers (iterative, with a per-pixel edge pointer) augments vertex-disjoint paths.
    O(E sqrt(V)); compiled by numba when it is installed.
    """
    P = len(indptr) - 1
    for p in range(P):  # matches of pixels that are off at this threshold are dropped
        if not active[p] and mate_p[p] >= 0:
            mate_g[mate_p[p]] = -1
            mate_p[p] = -1
    unreached = P + 1
    dist = np.empty(P, np.int64)
    queue = np.empty(P, np.int64)
    edge = np.empty(P, np.int64)  # next edge each pixel's DFS tries
    stack_p = np.empty(P, np.int64)  # the DFS path: pixel i moves to pixel i+1 through GT pixel stack_g[i]
    stack_g = np.empty(P, np.int64)
    while True:
        tail = 0
        for p in range(P):
            if active[p] and mate_p[p] < 0:
                dist[p] = 0
                queue[tail] = p
                tail += 1
            else:
                dist[p] = unreached
            edge[p] = indptr[p]
        shortest, head = unreached, 0
        while head < tail:  # BFS over layers shorter than the shortest augmenting path
            p = queue[head]
            head += 1
            if dist[p] >= shortest:
                break
            for e in range(indptr[p], indptr[p + 1]):
                q = mate_g[gt[e]]
                if q < 0:
                    shortest = min(shortest, dist[p] + 1)
                elif dist[q] == unreached:
                    dist[q] = dist[p] + 1
                    queue[tail] = q
                    tail += 1
        if shortest == unreached:
            break  # no augmenting path: the matching is maximum
        for root in range(P):
            if not active[root] or mate_p[root] >= 0 or dist[root] != 0:
                continue
            top = 0
            stack_p[0] = root
            while top >= 0:
                u = stack_p[top]
                if edge[u] == indptr[u + 1]:  # dead end for the rest of this phase
                    dist[u] = unreached
                    top -= 1
                    continue
                g = gt[edge[u]]
                edge[u] += 1
                q = mate_g[g]
                if q < 0:  # augment: every pixel on the path takes the GT pixel it moved through
                    stack_g[top] = g
                    for i in range(top + 1):
                        mate_p[stack_p[i]] = stack_g[i]
                        mate_g[stack_g[i]] = stack_p[i]
                    break
                if dist[q] == dist[u] + 1:
                    stack_g[top] = g
                    top += 1
                    stack_p[top] = q
    matched = 0
    for p in range(P):
        matched += mate_p[p] >= 0
    return matched


try:
    import numba

    hopcroft_karp = numba.njit(cache=True, nogil=True)(hopcroft_karp)
except ImportError:  # pragma: no cover - numba is a dependency; the pure-Python loops are correct but slow
    warnings.warn("numba is not installed: boundary odsF matching runs as pure Python (slow); pip install numba",
                  stacklevel=1)


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
    indptr, gt_nbrs = np.concatenate(([0], np.cumsum(degree))), gt_nbrs.astype(np.int64)
    on_near = np.ascontiguousarray(on[near].T)  # (T, pixels)
    new_pixels = np.bincount(levels.ravel(), minlength=n + 1)  # level k pixels switch off between t_{k-1} and t_k
    mate_p, mate_g = np.full(len(degree), -1, np.int64), np.full(len(gy), -1, np.int64)
    for k in range(n):  # each threshold starts from the previous one's maximum matching
        if k > 0 and new_pixels[k] == 0:  # same binarisation as threshold k-1
            counts[0, k] = counts[0, k - 1]
        else:
            counts[0, k] = hopcroft_karp(indptr, gt_nbrs, on_near[k], mate_p, mate_g)
    return counts
