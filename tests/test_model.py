"""Model tests, timm style: every preset, every ablation, shapes, gradients, attention, batch independence."""
from __future__ import annotations

import inspect
import itertools

import pytest
import torch

from mqt_lite import PRESETS, TASKS, MQTConfig, get_config
from mqt_lite.attention import Attention, attention
from mqt_lite.model import build_model
from mqt_lite.mqt import MQTAttention, MQTHead

# A small, fast variant of the tiny preset for the combinatorial tests.
SMALL = dict(dim=32, num_heads=2, num_queries=4, mlp_ratio=1.0)


def small_input_overrides(name: str) -> dict:
    """Big backbones are built for a small input so the test stays fast."""
    kw = dict(PRESETS[name].backbone_kwargs)
    if "img_size" in kw:
        kw["img_size"] = [64, 64]
    return {"backbone_kwargs": kw, "pretrained": False}  # tests never download


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_output_shapes(name):
    cfg = PRESETS[name]
    model = build_model(name, **small_input_overrides(name)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert set(out) == set(cfg.tasks)
    for t, y in out.items():
        assert y.shape == (1, TASKS[t].channels(cfg.dataset), 64, 64), t
        assert torch.isfinite(y).all(), t


ABLATIONS = list(itertools.product([True, False], repeat=4))  # QL, CTQA, shared, learn_queries


@pytest.mark.parametrize("ql,ctqa,shared,learn_q", ABLATIONS)
@pytest.mark.parametrize("depth,num_scales", [(1, 1), (2, 2)])
def test_every_parameter_gets_a_gradient(ql, ctqa, shared, learn_q, depth, num_scales):
    model = build_model("tiny-synthetic", **SMALL, query_learning=ql, cross_task_attention=ctqa,
                        shared_encoder_decoder=shared, learn_queries=learn_q, depth=depth, num_scales=num_scales)
    out = model(torch.randn(2, 3, 64, 64))
    sum(y.float().square().mean() for y in out.values()).backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"parameters without gradient: {dead}"
    assert all(torch.isfinite(y).all() for y in out.values())


@pytest.mark.parametrize("head", ["multi-task", "single-task"])
def test_baselines_every_parameter_gets_a_gradient(head):
    model = build_model("tiny-synthetic", **SMALL, head=head)
    out = model(torch.randn(2, 3, 64, 64))
    sum(y.float().square().mean() for y in out.values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_two_scales_start_as_the_fine_scale_alone():
    """scale_fusion="gated": the coarse scale enters through a zero gain, so at initialisation the head's output is
    its fine-scale map and the coarse path cannot blur it; the gain is learned (it gets a gradient)."""
    torch.manual_seed(0)
    model = build_model("tiny-synthetic", **SMALL).eval()
    head = model.mqt
    assert isinstance(head.scale_gain, torch.nn.Parameter) and torch.equal(head.scale_gain, torch.zeros(1, 32))
    tokens = torch.randn(2, 8 * 8 + 4 * 4, 32)
    fine = tokens[:, :64].transpose(1, 2).reshape(2, 32, 8, 8)
    assert torch.equal(head.to_maps(tokens, [(8, 8), (4, 4)]), fine)
    x = torch.randn(1, 3, 64, 64)
    model(x)["depth"].sum().backward()
    assert head.scale_gain.grad.abs().sum() > 0
    # "add" (the first design) adds the upsampled coarse map at unit gain, and has no gain parameter
    add = build_model("tiny-synthetic", **SMALL, scale_fusion="add").mqt
    assert "scale_gain" not in dict(add.named_parameters()) and "mqt.scale_gain" not in add.state_dict()
    coarse = tokens[:, 64:].transpose(1, 2).reshape(2, 32, 4, 4)
    up = torch.nn.functional.interpolate(coarse, size=(8, 8), mode="bilinear", align_corners=False)
    assert torch.allclose(add.to_maps(tokens, [(8, 8), (4, 4)]), fine + up)


def test_queries_fixed_by_default_and_learned_on_request():
    fixed = build_model("tiny-synthetic", **SMALL)
    assert "mqt.queries" not in dict(fixed.named_parameters())
    assert "mqt.queries" in fixed.state_dict()  # saved with the checkpoint
    learned = build_model("tiny-synthetic", **SMALL, learn_queries=True)
    assert "mqt.queries" in dict(learned.named_parameters())


def test_experiment_fields_change_only_what_they_name():
    """The cheap experiments' fields (issue 12, item 5): each is off by default and does what its name says."""
    torch.manual_seed(0)
    base = build_model("tiny-synthetic", **SMALL).eval()
    x = torch.randn(1, 3, 64, 64)
    # decoder LayerScale: gains start at the given value, and at 0 gain the decoder passes the pixels through
    ls = build_model("tiny-synthetic", **SMALL, decoder_layer_scale=1e-4).mqt
    block = ls.decoders[0][0]
    assert torch.equal(block.gamma_attn, torch.full((32,), 1e-4)) and base.mqt.decoders[0][0].gamma_attn is None
    with torch.no_grad():
        block.gamma_attn.zero_()
        block.gamma_mlp.zero_()
    px, pos, q = torch.randn(2, 20, 32), torch.randn(1, 20, 32), torch.randn(2, 4, 32)
    assert torch.equal(block(px, pos, q, torch.zeros(1, 4, 32))[0], px)
    # the pixels' sine encoding: scaled, and at 0 only the learned scale embedding is left
    none = build_model("tiny-synthetic", **SMALL, pixel_pos_scale=0.0).mqt
    _, p0, _ = none.tokens(torch.randn(1, 32, 8, 8))
    assert torch.equal(p0[0, :64], none.scale_embed[0].expand(64, 32))
    _, p1, _ = base.mqt.tokens(torch.randn(1, 32, 8, 8))
    assert not torch.equal(p1[0, :64], base.mqt.scale_embed[0].expand(64, 32))
    # queries: U(-1, 1) by default (std 1/sqrt(3)), the official truncated N(0, 0.02) on request
    official = build_model("tiny-synthetic", **SMALL, learn_queries=True, query_init="trunc_normal").mqt
    assert 0.015 < official.queries.std().item() < 0.025 and 0.5 < base.mqt.queries.std().item() < 0.65
    assert "queries" in dict(official.named_parameters())
    with torch.no_grad():  # all three still run end to end
        for kw in ({"decoder_layer_scale": 1e-4}, {"pixel_pos_scale": 0.0}, {"query_init": "trunc_normal"}):
            assert all(torch.isfinite(y).all() for y in build_model("tiny-synthetic", **SMALL, **kw)(x).values())


@pytest.mark.parametrize("head", ["mqt", "single-task"])
def test_head_lr_scale_puts_the_head_in_its_own_group(head):
    from mqt_lite.train import make_optimizer

    cfg = get_config("tiny-synthetic", **SMALL, head=head, head_lr_scale=0.3)
    model = build_model(cfg)
    opt, _ = make_optimizer(cfg, model)
    backbone_group, head_group = opt.param_groups
    assert head_group["initial_lr"] == pytest.approx(0.3 * backbone_group["initial_lr"])
    names = {id(p): n for n, p in model.named_parameters()}
    assert backbone_group["params"] and all("backbone." in names[id(p)] for p in backbone_group["params"])
    assert head_group["params"] and not any("backbone." in names[id(p)] for p in head_group["params"])
    assert len(backbone_group["params"]) + len(head_group["params"]) == len(list(model.parameters()))
    one, _ = make_optimizer(get_config("tiny-synthetic", **SMALL, head=head), model)
    assert len(one.param_groups) == 1  # the default keeps one group (and the fused update)


def test_single_task_baseline_is_one_network_per_task():
    st = build_model("tiny-synthetic", **SMALL, head="single-task")
    mt = build_model("tiny-synthetic", **SMALL, head="multi-task")
    assert set(st.nets) == set(TASKS)
    assert sum(p.numel() for p in st.parameters()) > 5 * sum(p.numel() for p in mt.backbone.parameters())


@pytest.mark.parametrize("num_tasks", range(1, 7))
def test_any_number_of_tasks(num_tasks):
    tasks = tuple(TASKS)[:num_tasks]
    model = build_model("tiny-synthetic", **SMALL, tasks=tasks).eval()
    out, att = model.forward_with_attention(torch.randn(1, 3, 64, 64))
    assert tuple(out) == tasks and att.tasks == tasks
    M = SMALL["num_queries"]
    assert att.cross_task.shape == (1, SMALL["num_heads"], num_tasks * M, num_tasks * M)


@pytest.mark.parametrize("size", [(33, 47), (64, 64), (97, 31), (1, 1)])
def test_odd_input_sizes(size):
    model = build_model("tiny-synthetic", **SMALL).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *size))
    assert all(y.shape[-2:] == size for y in out.values())


def test_attention_maps_shapes_and_rows_sum_to_one():
    model = build_model("tiny-synthetic", **SMALL).eval()
    with torch.no_grad():
        out, att = model.forward_with_attention(torch.randn(2, 3, 64, 96))
        plain = model(torch.randn(2, 3, 64, 96))
    assert isinstance(att, MQTAttention)
    (h1, w1), (h2, w2) = att.token_sizes
    assert (h1, w1) == (16, 24) and (h2, w2) == (8, 12)
    N, M, heads = h1 * w1 + h2 * w2, SMALL["num_queries"], SMALL["num_heads"]
    for t in TASKS:
        assert len(att.encoder[t]) == len(att.decoder[t]) == 1  # depth 1: one block each
        maps = {"encoder": att.encoder[t][0], "encoder_after_ctqa": att.encoder_after_ctqa[t],
                "decoder": att.decoder[t][0]}
        assert maps["encoder"].shape == maps["encoder_after_ctqa"].shape == (2, heads, M, N)
        assert maps["decoder"].shape == (2, heads, N, M)
        for a in maps.values():
            torch.testing.assert_close(a.sum(-1), torch.ones_like(a[..., 0]))
    torch.testing.assert_close(att.cross_task.sum(-1), torch.ones(2, heads, len(TASKS) * M))
    assert set(plain) == set(out)


def test_every_block_keeps_its_attention_and_the_head_reads_like_the_paper():
    """depth 2: both blocks' maps are returned; forward = tokens, encode, cross_task, decode (to_maps inside)."""
    torch.manual_seed(0)
    model = build_model("tiny-synthetic", **SMALL, depth=2, shared_encoder_decoder=False).eval()
    head, feat = model.mqt, torch.randn(1, 32, 8, 12)
    with torch.no_grad():
        out, att = head.forward_with_attention(feat)
        tokens, x_pos, sizes = head.tokens(feat)
        pixels, queries = head.encode(tokens, x_pos)
        by_stages = head.decode(pixels, x_pos, head.cross_task(queries), sizes)
        plain = head(feat)
    assert all(len(att.encoder[t]) == len(att.decoder[t]) == 2 for t in TASKS)
    assert not torch.equal(att.encoder["depth"][0], att.encoder["depth"][1])
    for t in TASKS:
        assert torch.equal(by_stages[t], plain[t]) and plain[t].shape == (1, 32, 8, 12)
        torch.testing.assert_close(out[t], plain[t], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("head", ["multi-task", "single-task"])
def test_models_without_attention_say_so(head):
    model = build_model("tiny-synthetic", **SMALL, head=head)
    with pytest.raises(ValueError, match="only head='mqt'"):
        model.forward_with_attention(torch.randn(1, 3, 32, 32))


def test_the_head_is_built_from_a_config_by_keyword():
    cfg = get_config("tiny-synthetic", **SMALL, depth=2)
    torch.manual_seed(0)
    a = MQTHead.from_config(cfg)
    torch.manual_seed(0)
    b = MQTHead(cfg.tasks, cfg.dim, num_heads=2, mlp_ratio=1.0, num_queries=4, depth=2)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    default = inspect.signature(MQTHead).parameters
    assert all(default[k].default == getattr(MQTConfig, k) for k in default if k not in ("tasks", "dim"))


def test_forward_with_attention_does_not_change_outputs():
    model = build_model("tiny-synthetic", **SMALL).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a = model(x)
        b, _ = model.forward_with_attention(x)
    for t in a:
        torch.testing.assert_close(a[t], b[t], atol=1e-5, rtol=1e-5)


def test_reference_attention_equals_sdpa():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 8)
    ref, w = attention(q, k, v)
    sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    assert (ref - sdpa).abs().max() < 1e-5
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 5))
    layer = Attention(16, 4)
    x, y = torch.randn(2, 5, 16), torch.randn(2, 9, 16)
    fast, _ = layer(x, y, y)
    slow, weights = layer(x, y, y, need_weights=True)
    assert (fast - slow).abs().max() < 1e-5 and weights.shape == (2, 4, 5, 9)


def test_eval_predictions_independent_of_other_images_in_batch():
    model = build_model("tiny-synthetic", **SMALL).eval()
    x = torch.randn(3, 3, 64, 64)
    y = x.clone()
    y[1:] = torch.randn(2, 3, 64, 64)  # only the other images change
    with torch.no_grad():
        a, b = model(x), model(y)
        alone = model(x[:1])
    for t in a:
        torch.testing.assert_close(a[t][0], b[t][0], atol=1e-5, rtol=1e-5)
        # Another batch size may pick another conv kernel: float rounding only (mixing images moves by O(1)).
        torch.testing.assert_close(a[t][0], alone[t][0], atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("bad,match", [
    (dict(tasks=("semseg", "nope")), "valid tasks"),
    (dict(backbone="not_a_backbone_xyz"), "unknown timm backbone"),
    (dict(num_queries=0), "num_queries must be >= 1"),
    (dict(depth=0), "depth must be >= 1"),
    (dict(head="fancy"), "valid: \\['mqt'"),
    (dict(dataset="nyud", tasks=("parts",)), "valid for nyud"),
    (dict(dim=30, num_heads=4), "divisible"),
    (dict(query_init="zeros"), "valid: \\['uniform'"),
    (dict(pixel_pos_scale=-1.0), "pixel_pos_scale must be >= 0"),
    (dict(decoder_layer_scale=-1e-4), "decoder_layer_scale must be >= 0"),
    (dict(head_lr_scale=0.0), "head_lr_scale must be > 0"),
])
def test_bad_configs_raise_value_error_naming_choices(bad, match):
    with pytest.raises(ValueError, match=match):
        build_model("tiny-synthetic", **bad)


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ValueError, match="tiny-synthetic"):
        build_model("tiny-synthtic")


def test_hrnet18_nyud_matches_paper_parameter_count():
    """Tab. II: MQTransformer with HRNet18 on NYUD-v2 has 5.23 M parameters."""
    model = build_model("hrnet18-nyud", pretrained=False)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(params - 5.23) / 5.23 < 0.02, params


@pytest.mark.parametrize("size", [(200, 330), (128, 128), (97, 61)])
def test_preprocess_equals_normalise_then_resize(size):
    """predict resizes the uint8 image first and normalises after: the same numbers as the other order."""
    import numpy as np
    import torch.nn.functional as F

    from mqt_lite.data import normalize_image

    model = build_model("tiny-synthetic", **SMALL)
    rgb = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    x, (h, w), original = model.preprocess(rgb)
    Hc, Wc = model.cfg.image_size
    scale = min(Hc / size[0], Wc / size[1])
    ref = F.interpolate(normalize_image(rgb)[None], size=(h, w), mode="bilinear", align_corners=False,
                        antialias=scale < 1)[0]
    assert original == size and x.shape == (3, Hc, Wc)
    torch.testing.assert_close(x[:, :h, :w], ref, atol=1e-5, rtol=0)
    assert not x[:, h:, :].any() and not x[:, :, w:].any()  # the padding is zero (the mean colour)


def test_preprocess_takes_a_read_only_array_without_warning():
    import warnings

    import numpy as np

    model = build_model("tiny-synthetic", **SMALL)
    rgb = np.zeros((40, 50, 3), np.uint8)
    rgb.flags.writeable = False  # as datasets hands out its rows
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a notebook shows a warning as stderr output
        x, _, _ = model.preprocess(rgb)
    assert x.shape == (3, *model.cfg.image_size) and not rgb.flags.writeable
