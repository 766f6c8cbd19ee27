"""Metrics (mqt_lite/metrics.py, mqt_lite/boundary.py): hand-computed examples, invariances, error messages."""
import math

import numpy as np
import pytest
import torch
import torch.distributed as dist

from mqt_lite import boundary
from mqt_lite.metrics import (BoundaryODSF, DepthRMSE, MeanIoU, NormalsMeanError, SaliencyMaxF, delta_m,
                              make_metrics)


# ---------------------------------------------------------------------------------------------- MeanIoU
def iou_example():
    pred = torch.tensor([[[0, 0, 1], [1, 2, 2]]])
    target = torch.tensor([[[0, 1, 1], [1, 2, 255]]])
    return pred, target


def test_miou_hand_computed():
    # valid pixels (target, pred): (0,0) (1,0) (1,1) (1,1) (2,2); the last pixel is ignored.
    # class 0: TP 1, FP 1, FN 0 -> 1/2;  class 1: TP 2, FP 0, FN 1 -> 2/3;  class 2: TP 1 -> 1
    # mIoU = (1/2 + 2/3 + 1) / 3 = 72.22 %, pixel accuracy 4/5 = 80 %
    m = MeanIoU(3)
    m.update(*iou_example())
    d = m.details()
    assert d["mIoU"] == pytest.approx((0.5 + 2 / 3 + 1) / 3 * 100)
    assert m.compute() == d["mIoU"]
    assert d["pixel_acc"] == pytest.approx(80.0)
    assert d["iou/1"] == pytest.approx(200 / 3)


def test_miou_ignore_and_absent_classes():
    pred, target = iou_example()
    changed = pred.clone()
    changed[0, 1, 2] = 0  # the ignored pixel
    m4 = MeanIoU(4)  # class 3 never occurs: left out of the mean
    m4.update(changed, target)
    assert m4.compute() == pytest.approx((0.5 + 2 / 3 + 1) / 3 * 100)
    assert "iou/3" not in m4.details()
    wrong = pred.clone()
    wrong[0, 0, 0] = 3  # predicted but absent from the ground truth: counts with IoU 0
    m4.reset()
    m4.update(wrong, target)
    # class 0: TP 0, FN 1 -> 0; class 1 2/3; class 2 1; class 3: FP 1 -> 0
    assert m4.compute() == pytest.approx((0 + 2 / 3 + 1 + 0) / 4 * 100)


def test_miou_perfect_and_empty():
    t = torch.randint(0, 5, (2, 6, 7))
    m = MeanIoU(5)
    assert math.isnan(m.compute())
    m.update(t, t)
    assert m.compute() == pytest.approx(100.0)


def test_miou_errors():
    with pytest.raises(ValueError, match=r"MeanIoU expects pred \(B,H,W\) integer labels, got float32 \(2, 3, 4, 5\)"):
        MeanIoU(3).update(torch.zeros(2, 3, 4, 5), torch.zeros(2, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        MeanIoU(3).update(torch.full((1, 2, 2), 7), torch.zeros(1, 2, 2, dtype=torch.long))


# ---------------------------------------------------------------------------------------------- DepthRMSE
def test_depth_rmse_hand_computed_and_pooled():
    # errors over valid pixels: 1-1 = 0, 2-3 = -1, 5-7 = -2 (target 0 invalid) -> sqrt((0 + 1 + 4) / 3)
    m = DepthRMSE()
    m.update(torch.tensor([[[1.0, 2.0], [4.0, 5.0]]]), torch.tensor([[[1.0, 3.0], [0.0, 7.0]]]))
    assert m.compute() == pytest.approx(math.sqrt(5 / 3))
    # pooled over pixels, not averaged over images: image A err 2 (1 px), image B errs 0, 0, -1 (3 px)
    # -> sqrt((4 + 1) / 4) = 1.118, while the mean of per-image RMSEs would be (2 + 0.577) / 2
    m.reset()
    m.update(torch.tensor([[[3.0]]]), torch.tensor([[[1.0]]]))
    m.update(torch.tensor([[[1.0, 1.0, 1.0]]]), torch.tensor([[[1.0, 1.0, 2.0]]]))
    assert m.compute() == pytest.approx(math.sqrt(5 / 4))


def test_depth_perfect_shapes_and_errors():
    g = torch.rand(2, 1, 5, 5) + 0.5
    m = DepthRMSE()
    m.update(g[:, 0], g)  # postprocess gives (B,H,W), the batch (B,1,H,W)
    assert m.compute() == 0.0
    with pytest.raises(ValueError, match=r"\(B,1,H,W\) or \(B,H,W\)"):
        m.update(torch.rand(2, 3, 5, 5), g)


# ---------------------------------------------------------------------------------------------- Normals
def test_normals_hand_computed():
    # pixel 0: (1,0,0) vs (0,1,0) -> 90 deg; pixel 1: (1,1,0) vs (2,0,0) (normalised inside) -> 45 deg;
    # pixel 2: equal -> 0 deg; pixel 3: all-zero target -> invalid.  mean 45, median 45, within 11.25/30: 1/3
    pred = torch.tensor([[1.0, 0, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]]).T.reshape(1, 3, 1, 4)
    target = torch.tensor([[0.0, 1, 0], [2, 0, 0], [0, 0, 1], [0, 0, 0]]).T.reshape(1, 3, 1, 4)
    m = NormalsMeanError()
    m.update(pred, target)
    d = m.details()
    assert d["mErr"] == pytest.approx(45.0)
    assert d["median"] == pytest.approx(45.0, abs=NormalsMeanError.HIST_BIN)
    assert d["within_11.25"] == pytest.approx(100 / 3) and d["within_30.0"] == pytest.approx(100 / 3)


def test_normals_perfect_and_errors():
    n = torch.nn.functional.normalize(torch.randn(2, 3, 4, 4), dim=1)
    m = NormalsMeanError()
    m.update(n, n)
    assert m.compute() == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match=r"\(B,3,H,W\)"):
        m.update(torch.zeros(2, 2, 4, 4), torch.zeros(2, 2, 4, 4))


# ---------------------------------------------------------------------------------------------- Saliency
def test_saliency_maxf_hand_computed():
    # thresholds 0.25 / 0.5 / 0.75, b2 = 0.3; pred (.9 .6 .3 .1), target (1 0 1 0), one ignored pixel
    # t=.25: TP 2 FP 1 -> P 2/3 R 1 -> F = 1.3 * 2/3 / (0.2 + 1) = .7222
    # t=.50: TP 1 FP 1 -> P .5 R .5 -> F = 1.3 * .25 / (.15 + .5) = .5
    # t=.75: TP 1 FP 0 -> P 1 R .5 -> F = 1.3 * .5 / (.3 + .5) = .8125  -> maxF 81.25 at 0.75
    m = SaliencyMaxF(thresholds=(0.25, 0.5, 0.75))
    m.update(torch.tensor([[[0.9, 0.6, 0.3, 0.1, 0.99]]]), torch.tensor([[[1, 0, 1, 0, 255]]]))
    d = m.details()
    assert d["maxF"] == pytest.approx(81.25)
    assert d["threshold"] == 0.75 and d["precision"] == pytest.approx(100) and d["recall"] == pytest.approx(50)


def test_saliency_perfect_and_errors():
    g = torch.randint(0, 2, (2, 8, 8))
    m = SaliencyMaxF()
    m.update(g.float(), g)
    assert m.compute() == pytest.approx(100.0)
    with pytest.raises(ValueError, match=r"\[0,1\]"):
        m.update(g.float() * 3, g)
    with pytest.raises(ValueError, match=r"pred \(B,H,W\)"):
        m.update(g.float()[:, None], g)


# ---------------------------------------------------------------------------------------------- streaming
@pytest.mark.parametrize("make, pred_fn, target_fn", [
    (lambda: MeanIoU(4), lambda g: torch.randint(0, 4, (6, 9, 9), generator=g),
     lambda g: torch.randint(0, 4, (6, 9, 9), generator=g).masked_fill_(torch.rand(6, 9, 9, generator=g) < 0.2, 255)),
    (DepthRMSE, lambda g: torch.rand(6, 1, 9, 9, generator=g), lambda g: torch.rand(6, 1, 9, 9, generator=g).round()),
    (NormalsMeanError, lambda g: torch.randn(6, 3, 9, 9, generator=g), lambda g: torch.randn(6, 3, 9, 9, generator=g)),
    (SaliencyMaxF, lambda g: torch.rand(6, 9, 9, generator=g), lambda g: torch.randint(0, 2, (6, 9, 9), generator=g)),
    (lambda: BoundaryODSF(0.1, thresholds=9), lambda g: torch.rand(6, 9, 9, generator=g),
     lambda g: torch.randint(0, 2, (6, 9, 9), generator=g)),
])
def test_many_small_updates_equal_one_big(make, pred_fn, target_fn):
    g = torch.Generator().manual_seed(0)
    pred, target = pred_fn(g), target_fn(g)
    big, small = make(), make()
    big.update(pred, target)
    for i in range(0, 6, 2):
        small.update(pred[i:i + 2].numpy(), target[i:i + 2].numpy())  # numpy input too
    assert big.details() == pytest.approx(small.details(), nan_ok=True)


def test_all_reduce_sums_state_over_ranks(tmp_path):
    m = MeanIoU(3)
    m.update(*iou_example())
    before = m.state["confusion"].clone()
    m.all_reduce()  # not initialised: no-op
    assert torch.equal(m.state["confusion"], before)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    try:
        m.all_reduce()  # one rank: the sum is the state itself
    finally:
        dist.destroy_process_group()
    assert torch.equal(m.state["confusion"], before)


# ---------------------------------------------------------------------------------------------- delta_m
def test_delta_m_hand_computed():
    # semseg (higher better): (40 - 50) / 50 = -0.2;  depth (lower better): -(0.5 - 0.4) / 0.4 = -0.25
    # delta_m = (-0.2 - 0.25) / 2 * 100 = -22.5 %
    assert delta_m({"semseg": 40, "depth": 0.5}, {"semseg": 50, "depth": 0.4}, ["semseg", "depth"]) == \
        pytest.approx(-22.5)
    with pytest.raises(ValueError, match="'depth'.*single"):
        delta_m({"semseg": 40, "depth": 0.5}, {"semseg": 50}, ["semseg", "depth"])


def test_make_metrics():
    ms = make_metrics(["semseg", "edge"], "nyud")
    assert isinstance(ms["semseg"], MeanIoU) and ms["semseg"].num_classes == 40
    assert isinstance(ms["edge"], BoundaryODSF) and ms["edge"].max_dist == 0.011


# ---------------------------------------------------------------------------------------------- thinning
def reference_thin(mask):
    """Lam-Lee-Suen thinning from the textbook definition, written with neighbour counts (independent of the
    bit formula): full-image parallel subiterations until nothing changes."""
    a = np.pad(mask.astype(int), 1)
    shifts = [(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)]  # x1..x8
    while True:
        changed = False
        for first in (True, False):
            H, W = a.shape
            x = [a[1 + dy:H - 1 + dy, 1 + dx:W - 1 + dx] for dy, dx in shifts] + [None]
            x[8] = x[0]
            xh = sum((x[2 * i] == 0) & ((x[2 * i + 1] == 1) | (x[2 * i + 2] == 1)) for i in range(4))
            n1 = sum(x[2 * k] | x[2 * k + 1] for k in range(4))
            n2 = sum(x[2 * k + 1] | x[2 * k + 2] for k in range(4))
            g3 = ((x[1] | x[2] | (1 - x[7])) & x[0]) == 0 if first else ((x[5] | x[6] | (1 - x[3])) & x[4]) == 0
            d = (a[1:-1, 1:-1] == 1) & (xh == 1) & (np.minimum(n1, n2) >= 2) & (np.minimum(n1, n2) <= 3) & g3
            if d.any():
                a[1:-1, 1:-1][d] = 0
                changed = True
        if not changed:
            return a[1:-1, 1:-1].astype(bool)


def test_thin_hand_examples():
    bar = np.zeros((9, 12), bool)
    bar[3:6, 1:11] = True  # a 3-pixel-thick horizontal bar thins to its middle row
    t = boundary.thin(bar)
    assert t[4, 2:9].all() and t.sum() == t[4].sum() and not (t & ~bar).any()
    line = np.eye(7, dtype=bool)  # already one pixel wide: unchanged
    assert np.array_equal(boundary.thin(line), line)


def test_thin_matches_reference_on_random_blobs():
    rng = np.random.default_rng(0)
    from scipy import ndimage
    for _ in range(5):
        mask = ndimage.gaussian_filter(rng.random((40, 37)), 2) > 0.5
        assert np.array_equal(boundary.thin(mask), reference_thin(mask))


def test_all_threshold_planes_thinned_like_single_masks():
    # 99 thresholds = two uint64 words per pixel; every plane must equal thinning that binary map alone
    from scipy import ndimage
    prob = ndimage.gaussian_filter(np.random.default_rng(1).random((30, 34)), 1.5)
    prob = (prob - prob.min()) / np.ptp(prob)
    th = np.linspace(0.01, 0.99, 99)
    words = boundary.pack_levels(np.searchsorted(th, prob, side="right"), len(th))
    boundary.thin_words(words)
    for k in range(0, 99, 7):
        w, bit = divmod(k, 64)
        plane = (words[w, 1:-1, 1:-1] >> np.uint64(bit)) & np.uint64(1)
        assert np.array_equal(plane.astype(bool), reference_thin(prob >= th[k])), k


# ---------------------------------------------------------------------------------------------- matching
def kuhn_matching(pairs, n_left):
    """Maximum bipartite matching by simple augmenting paths (reference)."""
    adj = [[] for _ in range(n_left)]
    for i, j in pairs:
        adj[i].append(j)
    mate = {}

    def augment(i, seen):
        for j in adj[i]:
            if j not in seen:
                seen.add(j)
                if j not in mate or augment(mate[j], seen):
                    mate[j] = i
                    return True
        return False

    return sum(augment(i, set()) for i in range(n_left))


def test_hopcroft_karp_equals_reference_from_any_start():
    rng = np.random.default_rng(2)
    H = W = 16
    radius = 2.3
    for _ in range(10):
        pred = np.flatnonzero(rng.random(H * W) < 0.15)
        gt = rng.random((H, W)) < 0.12
        R = int(radius)
        ids = np.full((H + 2 * R, W + 2 * R), -1)
        gy, gx = np.nonzero(gt)
        ids[gy + R, gx + R] = np.arange(len(gy))
        py, px = np.divmod(pred, W)
        flat = (py + R) * (W + 2 * R) + px + R
        pairs = [(i, j) for i in range(len(pred)) for j in range(len(gy))
                 if (py[i] - gy[j]) ** 2 + (px[i] - gx[j]) ** 2 <= radius ** 2]
        degree, nbrs = boundary.neighbours(flat, ids.ravel(), boundary.disc_offsets(radius, W + 2 * R))
        indptr, nbrs, pair_set = np.concatenate(([0], np.cumsum(degree))), nbrs.astype(np.int64), set(pairs)
        mate_p, mate_g = np.full(len(pred), -1), np.full(len(gy), -1)
        # a chain of thresholds: each starts from the previous (stale) matching, as boundary_counts does
        for active in [np.ones(len(pred), bool)] + [rng.random(len(pred)) < f for f in (0.3, 0.8, 0.5)]:
            start = mate_p.copy(), mate_g.copy()
            size = boundary.hopcroft_karp(indptr, nbrs, active, mate_p, mate_g)
            # numba's compiled function and the plain Python it compiles agree
            python = getattr(boundary.hopcroft_karp, "py_func", boundary.hopcroft_karp)
            assert python(indptr, nbrs, active, *start) == size
            rows = np.flatnonzero(active)
            sub = [(int(np.searchsorted(rows, i)), j) for i, j in pairs if active[i]]
            assert size == kuhn_matching(sub, len(rows))
            # the matching itself is valid: one to one, active pixels only, along candidate pairs
            matched = np.flatnonzero(mate_p >= 0)
            assert len(matched) == size == (mate_g >= 0).sum() and active[matched].all()
            assert np.array_equal(mate_g[mate_p[matched]], matched)
            assert all((i, mate_p[i]) in pair_set for i in matched)


# ---------------------------------------------------------------------------------------------- odsF
def line_image(cols, rows=slice(5, 25), value=0.9, shape=(30, 40)):
    """Vertical one-pixel lines; a 30x40 image has a 50-pixel diagonal, so max_dist 0.05 is a 2.5-pixel radius."""
    a = np.zeros(shape, np.float32)
    for c in cols:
        a[rows, c] = value
    return a


def odsf(pred, target):
    m = BoundaryODSF(max_dist=0.05)
    m.update(torch.as_tensor(pred)[None], torch.as_tensor(target)[None])
    return m.details()


def test_odsf_perfect_prediction():
    gt = line_image([10], value=1).astype(np.int64)
    d = odsf(line_image([10]), gt)
    # thresholds <= 0.9: 20 of 20 pixels matched -> P = R = 1; above 0.9 nothing predicted
    assert d["odsF"] == pytest.approx(100) and d["oisF"] == pytest.approx(100) and d["AP"] == pytest.approx(100)


@pytest.mark.parametrize("shift, expected", [(1, 100.0), (2, 100.0), (3, 0.0)])
def test_odsf_shifted_line(shift, expected):
    # radius 2.5 px: a line moved sideways by 1 or 2 px is fully matched, by 3 px not at all
    gt = line_image([10], value=1).astype(np.int64)
    assert odsf(line_image([10 + shift]), gt)["odsF"] == pytest.approx(expected)


@pytest.mark.parametrize("dy, dx, expected", [(0, 2, 100.0), (1, 2, 100.0), (2, 2, 0.0), (0, 3, 0.0)])
def test_odsf_single_pixel_radius(dy, dx, expected):
    # one GT pixel, one predicted pixel: distances 2, sqrt(5) = 2.24 <= 2.5 match; sqrt(8) = 2.83 and 3 do not
    gt = np.zeros((30, 40), np.int64)
    gt[10, 10] = 1
    pred = np.zeros((30, 40), np.float32)
    pred[10 + dy, 10 + dx] = 0.9
    assert odsf(pred, gt)["odsF"] == pytest.approx(expected)


def test_odsf_matching_is_one_to_one():
    # two predicted lines (40 px) next to one GT line (20 px): only 20 matches -> P 1/2, R 1, F = 2/3
    gt = line_image([10], value=1).astype(np.int64)
    assert odsf(line_image([9, 12]), gt)["odsF"] == pytest.approx(200 / 3)


def test_odsf_ignore_pixels_excluded():
    gt = line_image([10], value=1).astype(np.int64)
    pred = line_image([10, 30])  # the line at column 30 is a false positive ...
    assert odsf(pred, gt)["odsF"] == pytest.approx(200 / 3)
    gt[:, 28:33] = 255  # ... unless its pixels are ignored
    assert odsf(pred, gt)["odsF"] == pytest.approx(100)


def test_odsf_thins_thick_predictions():
    # a 3-pixel-wide band is thinned to its middle line before matching: P stays ~1 instead of 1/3
    gt = line_image([10], value=1).astype(np.int64)
    d = odsf(line_image([9, 10, 11]), gt)
    assert d["precision"] > 95 and d["recall"] > 85


def test_odsf_errors():
    with pytest.raises(ValueError, match=r"pred \(B,H,W\)"):
        BoundaryODSF().update(torch.rand(1, 1, 5, 5), torch.zeros(1, 5, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\{0,1,255\}"):
        BoundaryODSF().update(torch.rand(1, 5, 5), torch.full((1, 5, 5), 3))


def pad(a, rows, cols, value):
    """Pad the last two dims of an array bottom/right with `value`, as evaluation pads to eval_size."""
    widths = [(0, 0)] * (a.ndim - 2) + [(0, rows), (0, cols)]
    return np.pad(a, widths, constant_values=value)


def test_odsf_radius_comes_from_the_image_not_the_padding():
    # 30x40 image: radius 0.05 x 50 = 2.5 px, so a line 3 px off is not matched. Padded to 60x80 with ignore
    # labels the padded diagonal (100) would allow 5 px; the metric must still use the image's own 50.
    gt = line_image([10], value=1).astype(np.int64)
    pred = line_image([13])
    assert odsf(pred, gt)["odsF"] == 0
    assert odsf(pad(pred, 30, 40, 0.7), pad(gt, 30, 40, 255))["odsF"] == 0


def test_padded_images_score_exactly_as_unpadded_in_every_metric():
    """Evaluation pads with the ignore values (255 labels, 0 depth, all-zero normals); nothing padded may count."""
    rng = np.random.default_rng(0)
    H, W, pads = 48, 64, (13, 21)
    gt = {"semseg": rng.integers(0, 6, (2, H, W)), "parts": rng.integers(0, 4, (2, H, W)),
          "sal": rng.integers(0, 2, (2, H, W)), "edge": (rng.random((2, H, W)) < 0.05).astype(np.int64),
          "depth": rng.uniform(0.5, 5, (2, 1, H, W)).astype(np.float32),
          "normals": rng.normal(size=(2, 3, H, W)).astype(np.float32)}
    gt["normals"] /= np.linalg.norm(gt["normals"], axis=1, keepdims=True)
    ignore = {"semseg": 255, "parts": 255, "sal": 255, "edge": 255, "depth": 0.0, "normals": 0.0}
    pred = {"semseg": rng.integers(0, 6, (2, H + pads[0], W + pads[1])),
            "parts": rng.integers(0, 4, (2, H + pads[0], W + pads[1])),
            "sal": rng.random((2, H + pads[0], W + pads[1])).astype(np.float32),
            "edge": rng.random((2, H + pads[0], W + pads[1])).astype(np.float32),
            "depth": rng.uniform(0.5, 5, (2, 1, H + pads[0], W + pads[1])).astype(np.float32),
            "normals": rng.normal(size=(2, 3, H + pads[0], W + pads[1])).astype(np.float32)}
    # the prediction inside the padding is arbitrary (here random): it must not matter
    plain, padded = make_metrics(list(gt), "synthetic"), make_metrics(list(gt), "synthetic")
    plain["nyud edge"], padded["nyud edge"] = BoundaryODSF(max_dist=0.011), BoundaryODSF(max_dist=0.011)
    for name in plain:
        t = name.split()[-1]
        plain[name].update(torch.as_tensor(pred[t][..., :H, :W]), torch.as_tensor(gt[t]))
        padded[name].update(torch.as_tensor(pred[t]), torch.as_tensor(pad(gt[t], *pads, ignore[t])))
    for name in plain:
        assert padded[name].details() == plain[name].details(), name
