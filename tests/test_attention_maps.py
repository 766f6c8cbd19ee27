"""mqt_lite.attention_maps: token maps land where their tokens are, the CTQA matrix pools per task, drawings."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mqt_lite import attention_maps as am
from mqt_lite.model import build_model

TASKS = ("semseg", "depth")
HEADS, M = 2, 3


def toy_maps(hot_token: int, original: tuple[int, int] = (64, 40)) -> am.AttentionMaps:
    """Hand-made attention: an 8x8 + 4x4 token pyramid (stride 4) over a 32x20 image padded to 32x32,
    every query of every stage putting all its weight on `hot_token`."""
    sizes = [(8, 8), (4, 4)]
    N = sum(h * w for h, w in sizes)
    enc = np.zeros((HEADS, M, N), np.float32)
    enc[..., hot_token] = 1.0
    dec = np.zeros((HEADS, N, M), np.float32)
    dec[:, hot_token, :] = 1.0
    per_task = lambda a: {t: a.copy() for t in TASKS}  # noqa: E731
    attention = {"encoder": per_task(enc), "encoder_after_ctqa": per_task(enc), "decoder": per_task(dec),
                 "cross_task": np.full((HEADS, 2 * M, 2 * M), 1 / (2 * M), np.float32)}
    return am.AttentionMaps(attention, TASKS, sizes, (4.0, 4.0), (32, 20), original)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("tiny-synthetic", tasks=("semseg", "sal", "depth")).eval()


@pytest.mark.parametrize("stage", list(am.STAGES))
def test_query_map_peaks_where_the_token_is(stage):
    row, col = 2, 3  # finest token: input pixels y 8..12, x 12..16 -> centre (10, 14); original is 2x the input
    values = am.query_map(toy_maps(row * 8 + col), stage, "depth", query=1)
    assert values.shape == (64, 40)
    y, x = np.unravel_index(values.argmax(), values.shape)
    assert abs(y - 20) <= 4 and abs(x - 28) <= 4


def test_padding_is_cropped_away():
    # a token in the padded columns (x >= 20 input pixels, i.e. token column >= 5) never reaches the image
    values = am.query_map(toy_maps(0 * 8 + 7), "encoder", "semseg", query=0)
    assert values.max() == 0


def test_tokens_to_grid_keeps_mass_for_density_and_averages_otherwise():
    sizes = [(4, 6), (2, 3)]
    rng = np.random.default_rng(0)
    values = rng.random(4 * 6 + 2 * 3)
    values /= values.sum()
    assert am.tokens_to_grid(values, sizes, density=True).sum() == pytest.approx(1.0)
    coarse_only = np.r_[np.zeros(24), np.ones(6)]
    np.testing.assert_allclose(am.tokens_to_grid(coarse_only, sizes, density=False), 0.5)  # mean of 0 and 1


def test_cross_task_matrix_pools_blocks():
    maps = toy_maps(0)
    cross = np.zeros((HEADS, 2 * M, 2 * M), np.float32)
    cross[:, :M, M:] = 1 / M  # semseg's queries read only depth's
    cross[:, M:, M:] = 1 / M  # depth's read only their own
    maps.attention["cross_task"] = cross
    np.testing.assert_allclose(am.cross_task_matrix(maps), [[0, 1], [0, 1]], atol=1e-6)
    maps.attention["cross_task"] = None
    assert am.cross_task_matrix(maps) is None


def test_bad_arguments_raise():
    maps = toy_maps(0)
    with pytest.raises(ValueError, match="stage"):
        am.query_map(maps, "middle", "semseg", 0)
    with pytest.raises(ValueError, match="task"):
        am.query_map(maps, "encoder", "edge", 0)
    with pytest.raises(ValueError, match="range"):
        am.query_map(maps, "encoder", "semseg", M)
    with pytest.raises(ValueError, match="size"):
        am.overlay(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="labels"):
        am.matrix_image(np.zeros((2, 2)), ["a", "b", "c"])


def test_compute_attention_on_a_model(model):
    image = np.random.default_rng(0).integers(0, 255, (50, 90, 3), dtype=np.uint8)
    maps = am.compute_attention(model, image)
    assert maps.tasks == ("semseg", "sal", "depth") and maps.original == (50, 90)
    assert maps.num_queries == model.cfg.num_queries
    for stage in am.STAGES:
        values = am.query_map(maps, stage, "sal", maps.num_queries - 1)
        assert values.shape == (50, 90) and np.isfinite(values).all() and values.min() >= 0
    matrix = am.cross_task_matrix(maps)
    assert matrix.shape == (3, 3)
    np.testing.assert_allclose(matrix.sum(1), 1.0, atol=1e-5)


def test_compute_attention_needs_an_mqt_head():
    with pytest.raises(ValueError, match="no attention"):
        am.compute_attention(build_model("tiny-synthetic", head="multi-task"), np.zeros((8, 8, 3), np.uint8))


def test_heatmap_overlay_and_matrix_image():
    ramp = am.heatmap(np.array([[0.0, 0.5, 1.0]]))
    np.testing.assert_array_equal(ramp[0, 0], am.HEAT_LUT[0])
    np.testing.assert_array_equal(ramp[0, 2], am.HEAT_LUT[-1])
    assert ramp[0, 0].sum() < ramp[0, 1].sum() < ramp[0, 2].sum()  # dark to bright
    assert (am.heatmap(np.full((3, 3), 7.0)) == am.HEAT_LUT[0]).all()  # flat map: dark, no NaN
    image = np.full((4, 5, 3), 200, np.uint8)
    blended = am.overlay(image, np.zeros((4, 5)), alpha=0.5)
    assert blended.dtype == np.uint8 and blended.shape == (4, 5, 3)
    picture = am.matrix_image(np.array([[0.9, 0.1], [0.3, 0.7]]), ["semseg", "depth"])
    assert isinstance(picture, Image.Image)
    assert picture.width > 2 * am.MATRIX_CELL and picture.height > 2 * am.MATRIX_CELL


def _head_by_hand(model, x, ctqa):
    """The model's outputs with `ctqa` (queries list -> queries list) in place of CTQA, eqs. (5)-(6)."""
    head = model.mqt
    tokens, x_pos, sizes = head.tokens(model.backbone(x))  # x: a multiple of the model's size divisor
    pixels, queries = head.encode(tokens, x_pos)
    feats = head.decode(pixels, x_pos, ctqa(queries), sizes)
    return {t: F.interpolate(model.heads[t](feats[t]), size=x.shape[-2:], mode="bilinear", align_corners=False)
            for t in model.cfg.tasks}


@torch.no_grad()
def test_cross_task_off_skips_ctqa_and_restores_it(model):
    x = torch.randn(2, 3, 64, 64)
    before = model(x)
    with am.cross_task_off(model):
        off = model(x)
        _, attention = model.forward_with_attention(x)
        assert attention.cross_task is None
    expected = _head_by_hand(model, x, lambda queries: queries)
    for task in model.cfg.tasks:
        torch.testing.assert_close(off[task], expected[task])
        assert not torch.allclose(off[task], before[task], atol=1e-4)  # CTQA did something
        torch.testing.assert_close(model(x)[task], before[task])  # restored


@torch.no_grad()
def test_restrict_cross_task_masks_whole_task_blocks(model):
    x = torch.randn(2, 3, 64, 64)
    T, M = len(model.cfg.tasks), model.cfg.num_queries
    before = model(x)
    with am.restrict_cross_task(model, np.ones((T, T), bool)):  # nothing hidden: the model itself
        same = model(x)
    with am.restrict_cross_task(model, np.eye(T, dtype=bool)):  # each task reads only its own queries
        own = model(x)
        _, attention = model.forward_with_attention(x)
    alone = _head_by_hand(model, x, lambda queries: [model.mqt.ctqa([q])[0][0] for q in queries])
    hide = np.ones((T, T), bool)
    hide[:, 1] = False
    hide[1, 1] = True  # task 1's queries hidden from the other tasks
    with am.restrict_cross_task(model, hide):
        hidden = model(x)
    for t, task in enumerate(model.cfg.tasks):
        torch.testing.assert_close(same[task], before[task], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(own[task], alone[task], atol=1e-5, rtol=1e-4)  # = CTQA over one task alone
        if t == 1:  # the hidden task reads as before
            torch.testing.assert_close(hidden[task], before[task], atol=1e-5, rtol=1e-4)
        else:
            assert not torch.allclose(hidden[task], before[task], atol=1e-5)
    blocks = attention.cross_task.reshape(2, -1, T, M, T, M)
    assert blocks[:, :, 0, :, 1:].abs().max() == 0 and blocks[:, :, 0, :, 0].sum(-1).allclose(torch.tensor(1.0))
    assert "forward" not in vars(model.mqt.ctqa.attn)  # the mask is gone after the block
    torch.testing.assert_close(model(x)[model.cfg.tasks[0]], before[model.cfg.tasks[0]])


def test_probes_reject_bad_arguments(model):
    with pytest.raises(ValueError, match="allowed must be"):
        with am.restrict_cross_task(model, np.ones((2, 2), bool)):
            pass
    with pytest.raises(ValueError, match="all False"):
        with am.restrict_cross_task(model, np.zeros((3, 3), bool)):
            pass
    with pytest.raises(ValueError, match="without cross-task"):
        with am.cross_task_off(build_model("tiny-synthetic", tasks=("semseg", "depth"), cross_task_attention=False)):
            pass
    with pytest.raises(ValueError, match="no MQT head"):
        with am.cross_task_off(build_model("tiny-synthetic", head="multi-task")):
            pass
