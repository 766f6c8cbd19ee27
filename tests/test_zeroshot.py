"""Zero-shot depth on real photos: the measures on hand-computed cases, the ground truth, and `evaluate --real`."""
import math

import numpy as np
import pytest

from mqt_lite import evaluate
from mqt_lite.data.real import REAL_IMAGES, depth_from_disparity, load_real
from mqt_lite.zeroshot import DEPTH_CAP, align_scale_shift, depth_scores, row_prior, spearman


def test_spearman_on_hand_computed_cases():
    assert spearman(np.array([1, 2, 3]), np.array([10, 20, 40])) == pytest.approx(1)
    assert spearman(np.array([1, 2, 3]), np.array([40, 20, 10])) == pytest.approx(-1)
    # ties share their mean rank: ranks (1.5, 1.5, 3.5, 3.5) and (1, 2, 3, 4) -> 4 / sqrt(4 * 5)
    assert spearman(np.array([1, 1, 2, 2]), np.array([1, 2, 3, 4])) == pytest.approx(4 / math.sqrt(20))
    assert math.isnan(spearman(np.ones(3), np.array([1, 2, 3])))


def test_scale_and_shift_alignment_is_least_squares():
    assert align_scale_shift(np.array([0, 1, 2]), np.array([3, 5, 7])) == pytest.approx((2, 3))
    # x = (0, 1, 2), y = (1, 2, 4): s = (3 * 10 - 3 * 7) / 6 = 1.5, t = (5 * 7 - 3 * 10) / 6 = 5 / 6
    assert align_scale_shift(np.array([0, 1, 2]), np.array([1, 2, 4])) == pytest.approx((1.5, 5 / 6))
    assert align_scale_shift(np.full(3, 2.0), np.array([1, 2, 6])) == pytest.approx((0, 3))


def test_depth_scores_on_a_hand_computed_case():
    """Inverse depths x = 1 / pred = (1, .5, .5), y = 1 / true = (1, .5, .25): s = 1.25, t = -0.25, aligned inverse
    depth (1, .375, .375), aligned depth (1, 8/3, 8/3) against (1, 2, 4); two invalid pixels are skipped."""
    pred = np.array([1.0, 2.0, 2.0, 5.0, 7.0])
    true = np.array([1.0, 2.0, 4.0, 0.0, np.inf])
    s = depth_scores(pred, true)
    assert (s["scale"], s["shift"]) == pytest.approx((1.25, -0.25))
    assert s["absrel"] == pytest.approx((0 + (2 / 3) / 2 + (4 / 3) / 4) / 3)
    assert s["rmse"] == pytest.approx(math.sqrt((0 + (2 / 3) ** 2 + (4 / 3) ** 2) / 3))
    assert s["delta1"] == pytest.approx(1 / 3)  # ratios 1, 4/3, 3/2
    assert s["spearman"] == pytest.approx(1.5 / math.sqrt(3))  # ranks (1, 2.5, 2.5) vs (1, 2, 3)
    assert s["pixels"] == 3


def test_depth_scores_are_invariant_to_scale_and_shift_of_inverse_depth():
    rng = np.random.default_rng(0)
    true = rng.uniform(1, 5, (20, 30))
    s = depth_scores(1 / (3 / true + 0.2), true)
    assert s["spearman"] == pytest.approx(1) and s["delta1"] == 1
    assert s["absrel"] == pytest.approx(0, abs=1e-9) and s["rmse"] == pytest.approx(0, abs=1e-9)
    far = depth_scores(np.ones((2, 2)) * [[1, 1], [1, 1e-9]], np.full((2, 2), 50.0))
    assert far["absrel"] == pytest.approx(1 - DEPTH_CAP / 50)  # aligned depth is capped at DEPTH_CAP


def test_the_row_prior_is_exact_on_a_level_floor():
    """A level camera over a flat floor sees inverse depth linear in the row below the horizon."""
    H, W = 6, 4
    true = np.broadcast_to(1 / (0.1 * (np.arange(H)[:, None] + 1.0)), (H, W))
    s = depth_scores(row_prior(H, W), true)
    assert s["spearman"] == pytest.approx(1) and s["absrel"] == pytest.approx(0, abs=1e-9)
    assert row_prior(H, W)[0, 0] > row_prior(H, W)[-1, 0]  # higher in the image is farther


def test_depth_from_disparity():
    d = np.array([[100.0, np.inf], [np.nan, 40.0]])
    depth = depth_from_disparity(d, focal=1000.0, baseline=0.1, doffs=0.0)
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, [[1.0, 0.0], [0.0, 2.5]])
    assert depth_from_disparity(np.array([10.0]), 1000.0, 0.1, 10.0)[0] == pytest.approx(5.0)


def test_the_real_images_load_with_metric_depth():
    rows = load_real()
    assert [r["name"] for r in rows] == list(REAL_IMAGES)
    moto = rows[0]
    assert moto["image"].shape == (500, 741, 3) and moto["image"].dtype == np.uint8
    valid = moto["depth"] > 0
    assert 0.9 < valid.mean() < 0.95  # structured-light ground truth has holes
    assert 2.0 < moto["depth"][valid].min() < moto["depth"][valid].max() < 5.1  # metres


def test_evaluate_real_on_the_bundled_model(capsys):
    report = evaluate.main(["--checkpoint", "tiny-synthetic", "--real"])
    out = capsys.readouterr().out
    assert "motorcycle" in out and "row_prior" in out
    prior = report["images"]["motorcycle"]["row_prior"]
    assert prior["spearman"] == pytest.approx(0.6657, abs=1e-4)  # depends on the ground truth only
    model = report["images"]["motorcycle"]["model"]
    assert -1 <= model["spearman"] <= 1 and model["absrel"] > 0 and model["pixels"] == prior["pixels"]
    assert -1 <= model["vs_prior"] <= 1 and prior["vs_prior"] == 1 and "vs prior" in out
    assert report["sources"]["motorcycle"]["licence"]


def test_evaluate_can_switch_the_synthetic_world(capsys):
    report = evaluate.main(["--checkpoint", "tiny-synthetic", "--world", "rich", "--num-images", "2", "--json"])
    assert report["synthetic_world"] == "rich" and set(report["headline"]) == set(report["metrics"])
    # tiny-rich trained on a mix of worlds (classic_fraction): scoring it on the classic world drops the mix
    report = evaluate.main(["--checkpoint", "tiny-rich", "--world", "classic", "--num-images", "2", "--trivial",
                            "--json"])
    assert report["synthetic_world"] == "classic" and set(report["trivial"]) == set(report["metrics"])
    capsys.readouterr()


def test_the_shown_photos_are_real_free_and_load():
    from mqt_lite.data.real import PHOTOS, load_photo, photo_licence

    assert "motorcycle" not in PHOTOS and all("motorcycle" not in f for f in PHOTOS.values())  # licence not stated
    for name in PHOTOS:
        licence, source = photo_licence(name)
        assert licence in ("CC0", "public domain") and "scikit-image" in source, name
        photo = load_photo(name)
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3 and min(photo.shape[:2]) >= 256
    with pytest.raises(ValueError, match="available"):
        load_photo("moon")


def test_evaluate_real_figure_writes_a_png(tmp_path, capsys):
    from PIL import Image

    from mqt_lite.data.real import PHOTOS

    path = tmp_path / "docs" / "real_photos.png"
    evaluate.main(["--checkpoint", "tiny-synthetic", "--real", "--figure", str(path)])
    assert f"figure written to {path}" in capsys.readouterr().out
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 7 * 100 and im.height > len(PHOTOS) * 100  # 7 panels a photo
    with pytest.raises(SystemExit):  # --figure draws the real photos: only with --real
        evaluate.main(["--checkpoint", "tiny-synthetic", "--figure", str(path)])
