"""Mixed precision (mqt_lite/precision.py), the shared training step and the fast post-processing."""
import pytest
import torch
import torch.nn.functional as F

import mqt_lite
from mqt_lite import TASKS, build_model, get_config, precision
from mqt_lite.attention import sdpa
from mqt_lite.bench.train import random_batch
from mqt_lite.losses import MultiTaskLoss
from mqt_lite.train import make_optimizer, to_device, train_step

SMALL = dict(dim=32, num_heads=2, num_queries=4, mlp_ratio=1.0, image_size=(32, 32))


def test_explicit_precisions_and_fp32():
    assert precision.autocast_dtype("fp32", "cpu") is None
    assert precision.autocast_dtype("bf16", "cpu") is torch.bfloat16
    assert precision.autocast_dtype("fp16", "cuda") is torch.float16
    with pytest.raises(ValueError, match="valid"):
        precision.autocast_dtype("int8", "cpu")
    with pytest.raises(ValueError, match="precision"):
        get_config("tiny-synthetic", precision="half")


@pytest.mark.parametrize("capability, dtype", [((7, 5), torch.float16), ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)])
def test_auto_on_cuda_picks_fp16_with_a_scaler_where_bf16_is_not_native(monkeypatch, capability, dtype):
    """A T4 (compute capability 7.5, bf16 only emulated): fp16 autocast and an active GradScaler; an A100 (8.0) or
    H100 (9.0): bf16, no scaler. The T4 case must not trust `torch.cuda.is_bf16_supported()`, which answers True
    there (emulation): it is patched to True throughout."""
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: capability)
    assert precision.autocast_dtype("auto", "cuda") is dtype
    assert precision.autocast_dtype("auto", "cuda", training=False) is dtype
    assert precision.grad_scaler("cpu", dtype).is_enabled() == (dtype is torch.float16)  # (cuda scalers need a GPU)


def test_no_gpu_means_no_native_cuda_bf16(monkeypatch):
    monkeypatch.setattr(torch.version, "hip", None)

    def no_gpu(*a, **k):
        raise RuntimeError("Found no NVIDIA driver on your system")

    monkeypatch.setattr(torch.cuda, "get_device_capability", no_gpu)
    assert not precision.cuda_has_native_bf16("cuda")


def test_training_setup_takes_the_fp16_branch_on_a_t4(monkeypatch):
    """train() and bench train build their step with training_setup: on a T4 it gets fp16 and an enabled scaler.
    (Built for the CPU with the CUDA answers patched in: a CUDA GradScaler cannot be made without a GPU.)"""
    from mqt_lite import train as train_module

    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (7, 5))
    monkeypatch.setattr(train_module, "autocast_dtype", lambda p, d, **k: precision.autocast_dtype(p, "cuda", **k))
    setup = train_module.training_setup(get_config("tiny-synthetic", **SMALL), torch.device("cpu"))
    assert setup.dtype is torch.float16 and setup.scaler.is_enabled()


@pytest.mark.parametrize("native", [True, False])
def test_auto_on_cpu_uses_bf16_for_training_only_where_native(monkeypatch, native):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert precision.autocast_dtype("auto", "cpu") is (torch.bfloat16 if native else None)
    assert precision.autocast_dtype("auto", "cpu", training=False) is None  # CPU inference stays fp32
    assert precision.autocast_dtype("auto", "mps") is None


def test_attention_stays_fp32_under_cpu_autocast():
    q = torch.randn(2, 2, 5, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert sdpa(q, q, q).dtype == torch.float32
        assert torch.nn.Linear(8, 8)(q).dtype == torch.bfloat16  # while the projections do run in bf16
    assert torch.allclose(sdpa(q, q, q), F.scaled_dot_product_attention(q, q, q))


@pytest.mark.parametrize("name", ["fp32", "bf16", "fp16"])
def test_train_step_in_every_precision_updates_the_weights(name):
    torch.manual_seed(0)
    cfg = get_config("tiny-synthetic", **SMALL, precision=name)
    model = build_model(cfg).to(memory_format=torch.channels_last).train()
    opt, sched = make_optimizer(cfg, model)
    dtype = precision.autocast_dtype(cfg.precision, "cpu")
    scaler = precision.grad_scaler("cpu", dtype)
    assert scaler.is_enabled() == (name == "fp16")
    before = [p.detach().clone() for p in model.parameters()]
    batch = to_device(random_batch(cfg, 2, torch.device("cpu")), torch.device("cpu"))
    criterion = MultiTaskLoss(cfg.tasks, cfg.edge_weight)
    for _ in range(12):  # fp16: the scaler skips steps with inf gradients while it lowers its scale from 2**16
        total, losses = train_step(model, criterion, batch, opt, sched, scaler, dtype, cfg.grad_clip)
        assert torch.isfinite(total) and set(losses) == set(cfg.tasks)
    changed = sum(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    if name == "fp16":  # the scaler is in the loop, skipping overflowing steps (fp16 is for GPUs; auto never
        assert scaler.get_scale() < 2.0 ** 16  # picks it on CPU, where its backward overflows even at scale 1)
    else:
        assert changed > 0.9 * len(before)


def test_fast_postprocess_equals_argmax_and_normalize():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 6, 40, 50, generator=g)
    assert torch.equal(TASKS["semseg"].postprocess(logits), logits.argmax(1))
    normals = torch.randn(1, 3, 40, 50, generator=g)
    assert torch.allclose(TASKS["normals"].postprocess(normals), F.normalize(normals, dim=1), atol=1e-6)
    assert torch.equal(TASKS["normals"].postprocess(torch.zeros(1, 3, 2, 2)), torch.zeros(1, 3, 2, 2))


def test_old_cards_load_with_the_behaviour_they_were_trained_with():
    from mqt_lite import MQTConfig

    old = {k: v for k, v in get_config("tiny-synthetic").to_dict().items()
           if k not in ("precision", "eval_precision", "scale_fusion")}
    cfg = MQTConfig.from_card({**old, "amp": True})
    assert (cfg.scale_fusion, cfg.precision, cfg.eval_precision) == ("add", "fp32", "auto")


def test_channels_last_inference_equals_the_contiguous_model_within_1e4():
    """Loaded models run channels-last (faster); the numbers are those of the plain layout up to float rounding."""
    model = mqt_lite.load_pretrained()
    assert model.backbone.proj[0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fast = model(x)
        plain = model.to(memory_format=torch.contiguous_format)(x)
    for t in fast:
        assert torch.allclose(fast[t], plain[t], atol=1e-4), t
