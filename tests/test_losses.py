"""Losses (mqt_lite/losses.py): values on hand examples, masking, gradients, weights from TASKS."""
import math

import pytest
import torch

from mqt_lite.losses import BinaryCrossEntropy, CrossEntropy, DepthL1, MultiTaskLoss, NormalsL1, make_loss
from mqt_lite.tasks import TASKS

CONFIDENT = 30.0  # logit margin of a "very confident" prediction


def test_cross_entropy_confident_correct_is_near_zero_and_ignore_skipped():
    target = torch.tensor([[[0, 2], [1, 255]]])
    out = torch.zeros(1, 3, 2, 2)
    out.scatter_(1, target.clamp(max=2)[:, None], CONFIDENT)
    out[0, :, 1, 1] = torch.tensor([CONFIDENT, 0, 0])  # wrong at the ignored pixel: must not count
    assert CrossEntropy()(out, target) < 1e-9
    # uniform logits: -log(1/3) per valid pixel
    assert CrossEntropy()(torch.zeros(1, 3, 2, 2), target) == pytest.approx(math.log(3))


def test_bce_fixed_and_batch_balanced_hand_computed():
    # logit 0 -> p = 0.5, each pixel costs log 2 times its weight. Fixed w = 0.95: y=1 -> 0.95 log 2, y=0 -> 0.05 log 2
    out, pos, neg = torch.zeros(1, 1, 1, 2), torch.tensor([[[1, 255]]]), torch.tensor([[[0, 255]]])
    assert BinaryCrossEntropy(0.95)(out, pos) == pytest.approx(0.95 * math.log(2))
    assert BinaryCrossEntropy(0.95)(out, neg) == pytest.approx(0.05 * math.log(2))
    # per batch (saliency): 1 positive, 3 negatives -> w = 3/4; (3/4 * 1 + 1/4 * 3) log 2 / 4 pixels = 3/8 log 2
    assert BinaryCrossEntropy()(torch.zeros(1, 1, 1, 5), torch.tensor([[[1, 0, 0, 0, 255]]])) == \
        pytest.approx(3 / 8 * math.log(2))
    # confident and correct: ~0, and stable for huge logits (logsigmoid)
    assert BinaryCrossEntropy(0.95)(torch.full((1, 1, 1, 2), 1e4), torch.tensor([[[1, 1]]])) == 0


def test_saliency_loss_equals_the_official_balanced_two_class_cross_entropy():
    """Official: CE over 2 logits with class weights (1 - w, w), w = fraction of negatives, summed / valid pixels."""
    g = torch.Generator().manual_seed(0)
    logit = torch.randn(2, 1, 5, 6, generator=g)
    target = torch.randint(0, 2, (2, 5, 6), generator=g)
    target[0, 0] = 255
    valid = target != 255
    w = ((target == 0) & valid).sum() / valid.sum()
    two_class = torch.cat([torch.zeros_like(logit), logit], dim=1)  # softmax over (0, x) = sigmoid(x)
    ce = torch.nn.functional.cross_entropy(two_class, target, weight=torch.stack([1 - w, w]), ignore_index=255,
                                           reduction="none")
    assert BinaryCrossEntropy()(logit, target) == pytest.approx(ce.sum() / valid.sum(), rel=1e-6)


def test_normals_loss_equals_the_official_formula():
    """Official: sum over x, y, z of |normalise(p) - g| over valid pixels, divided by the number of valid pixels."""
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(2, 3, 4, 5, generator=g)
    target = torch.nn.functional.normalize(torch.randn(2, 3, 4, 5, generator=g), dim=1)
    target[1, :, 2:] = 0  # invalid pixels
    valid = (target != 0).any(1, keepdim=True)  # (B, 1, H, W)
    unit = pred / pred.norm(dim=1, keepdim=True)
    official = ((unit - target).abs() * valid).sum() / valid.sum()
    assert NormalsL1()(pred, target) == pytest.approx(official.item(), rel=1e-6)
    # by hand: prediction (1,0,0) vs target (0,1,0): |1| + |1| + 0 = 2 for the one pixel
    assert NormalsL1()(torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1), torch.tensor([0.0, 1, 0]).view(1, 3, 1, 1)) == \
        pytest.approx(2.0)


def test_l1_losses_zero_on_perfect_and_masked():
    depth = torch.tensor([[[[1.0, 0.0], [2.0, 3.0]]]])  # one invalid pixel
    pred = depth.clone()
    pred[0, 0, 0, 1] = 100.0  # error at the invalid pixel does not count
    assert DepthL1()(pred, depth) == 0
    assert DepthL1()(pred + 1, depth[:, 0]) == pytest.approx(1.0)  # (B,H,W) target accepted
    n = torch.nn.functional.normalize(torch.randn(2, 3, 4, 4), dim=1)
    assert NormalsL1()(5 * n, n) == pytest.approx(0.0, abs=1e-6)  # the prediction is normalised first


def test_depth_shift_scale_invariant_term_by_hand():
    """The optional term (depth_ssi_weight): per image, mean |s p + t - g| over valid pixels after the least-squares
    fit (s, t) of the output p to the target g, averaged over images with any valid pixel."""
    target = torch.tensor([[[[1.0, 2.0, 3.0, 0.0]]], [[[0.0, 0.0, 0.0, 0.0]]]])  # image 1 has no valid pixel
    valid = target > 0
    loss = DepthL1(ssi_weight=1.0)
    assert loss.shift_scale_invariant(3 * target - 5, target, valid) == pytest.approx(0, abs=1e-5)
    # p = (0, 0, 1) against g = (1, 2, 3): s = 1.5, t = 1.5, fit (1.5, 1.5, 3), residuals (0.5, 0.5, 0): mean 1/3
    output = torch.tensor([[[[0.0, 0.0, 1.0, 9.0]]], [[[5.0, 5.0, 5.0, 5.0]]]], requires_grad=True)
    l1 = (1 + 2 + 2) / 3
    value = loss(output, target)
    assert value.item() == pytest.approx(l1 + 1 / 3, rel=1e-5)
    assert DepthL1(ssi_weight=2.0)(output, target).item() == pytest.approx(l1 + 2 / 3, rel=1e-5)
    value.backward()
    assert torch.isfinite(output.grad).all() and output.grad[0, 0, 0, 3] == 0 and (output.grad[1] == 0).all()
    constant = torch.full_like(target, 2.0)  # a constant output: finite, the targets' mean absolute deviation
    assert loss.shift_scale_invariant(constant, target, valid).item() == pytest.approx(2 / 3, rel=1e-4)
    assert DepthL1()(output, target).item() == pytest.approx(l1)  # off: the paper's L1 exactly
    assert MultiTaskLoss(("depth",), depth_ssi_weight=0.5).losses["depth"].ssi_weight == 0.5
    assert MultiTaskLoss(("depth",)).losses["depth"].ssi_weight == 0.0


@pytest.mark.parametrize("loss, out_shape, target", [
    (CrossEntropy(), (2, 4, 3, 3), torch.full((2, 3, 3), 255)),
    (BinaryCrossEntropy(), (2, 1, 3, 3), torch.full((2, 3, 3), 255)),
    (BinaryCrossEntropy(0.95), (2, 1, 3, 3), torch.full((2, 3, 3), 255)),
    (DepthL1(), (2, 1, 3, 3), torch.zeros(2, 1, 3, 3)),
    (NormalsL1(), (2, 3, 3, 3), torch.zeros(2, 3, 3, 3)),
])
def test_no_valid_pixel_gives_zero_with_zero_gradient(loss, out_shape, target):
    out = torch.randn(out_shape, requires_grad=True)
    value = loss(out, target)
    value.backward()
    assert value == 0 and torch.isfinite(value)
    assert out.grad is not None and torch.equal(out.grad, torch.zeros_like(out))


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_loss_is_finite_with_gradient(task):
    out = torch.randn(2, TASKS[task].channels("synthetic"), 5, 6, requires_grad=True)
    target = {"labels": torch.randint(0, out.shape[1], (2, 5, 6)), "binary": torch.randint(0, 2, (2, 5, 6)),
              "depth": torch.rand(2, 1, 5, 6) + 0.1, "normals": torch.randn(2, 3, 5, 6)}[TASKS[task].kind]
    value = make_loss(TASKS[task], 0.95)(out, target)
    value.backward()
    assert torch.isfinite(value) and value > 0 and out.grad.abs().sum() > 0


def test_multitask_total_uses_task_weights():
    tasks = ["semseg", "parts", "sal", "normals", "depth", "edge"]
    g = torch.Generator().manual_seed(0)
    outputs = {t: torch.randn(2, TASKS[t].channels("synthetic"), 4, 4, generator=g) for t in tasks}
    batch = {"semseg": torch.randint(0, 6, (2, 4, 4), generator=g),
             "parts": torch.randint(0, 4, (2, 4, 4), generator=g),
             "sal": torch.randint(0, 2, (2, 4, 4), generator=g), "edge": torch.randint(0, 2, (2, 4, 4), generator=g),
             "normals": torch.randn(2, 3, 4, 4, generator=g), "depth": torch.rand(2, 1, 4, 4, generator=g)}
    total, per_task = MultiTaskLoss(tasks)(outputs, batch)
    assert set(per_task) == set(tasks)
    assert total == pytest.approx(sum(TASKS[t].loss_weight * per_task[t] for t in tasks))
    # the edge loss has the fixed weight, saliency the per-batch one
    assert per_task["edge"] == pytest.approx(BinaryCrossEntropy(0.95)(outputs["edge"], batch["edge"]))
    assert per_task["sal"] == pytest.approx(BinaryCrossEntropy()(outputs["sal"], batch["sal"]))


def test_size_mismatch_raises_with_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 4, 8, 8\).*\(2, 4, 4\)"):
        MultiTaskLoss(["semseg"])({"semseg": torch.randn(2, 4, 8, 8)},
                                  {"semseg": torch.zeros(2, 4, 4, dtype=torch.long)})
    with pytest.raises(ValueError, match=r"\(B,1,H,W\)"):
        BinaryCrossEntropy()(torch.randn(2, 2, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))


@pytest.mark.parametrize("preset, weight", [("hrnet18-nyud", 0.8), ("swin-s-nyud", 0.8), ("hrnet18-pascal", 0.95),
                                            ("swin-t-pascal", 0.95), ("tiny-synthetic", 0.95)])
def test_presets_carry_the_official_edge_weight(preset, weight):
    from mqt_lite import get_config

    cfg = get_config(preset)
    assert cfg.edge_weight == weight
    assert get_config(preset, edge_pos_weight=0.7).edge_weight == 0.7  # an explicit value wins
