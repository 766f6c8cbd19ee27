"""Task registry (mqt_lite/tasks.py): post-processing, losses and metrics per task, colours, legends."""
import inspect

import numpy as np
import pytest
import torch

from mqt_lite import losses, metrics
from mqt_lite.tasks import DEPTH_LUT, PALETTE, TASKS, Task, class_names, upsample_tasks

B, H, W = 2, 5, 7


@pytest.mark.parametrize("task", list(TASKS))
def test_postprocess_shapes_and_dtypes(task):
    t = TASKS[task]
    out = t.postprocess(torch.randn(B, t.channels("synthetic"), H, W))
    if t.kind == "labels":
        assert out.shape == (B, H, W) and out.dtype == torch.int64
    elif t.kind == "binary":
        assert out.shape == (B, H, W) and out.is_floating_point() and 0 <= out.min() and out.max() <= 1
    elif t.kind == "depth":
        assert out.shape == (B, H, W) and out.min() >= 0
    else:
        assert out.shape == (B, 3, H, W) and torch.allclose(out.norm(dim=1), torch.ones(B, H, W))
    with pytest.raises(ValueError, match=r"\(B,K,H,W\)"):
        t.postprocess(torch.randn(B, H, W))


@pytest.mark.parametrize("channels_last", [False, True])
def test_upsample_tasks_equals_one_interpolate_per_task(channels_last):
    """The one-call upsampling of predict and the model's decode gives what a call per task gives (bilinear is
    per channel; the kernels may round differently), whatever the maps' layout, with each task's channels in place."""
    torch.manual_seed(0)
    outputs = {t: torch.randn(B, TASKS[t].channels("synthetic"), H, W) for t in TASKS}
    if channels_last:
        outputs = {t: o.contiguous(memory_format=torch.channels_last) for t, o in outputs.items()}
    up = upsample_tasks(outputs, (11, 13))
    assert list(up) == list(outputs)
    for t, o in outputs.items():
        expected = torch.nn.functional.interpolate(o, size=(11, 13), mode="bilinear", align_corners=False)
        assert up[t].shape == expected.shape and torch.allclose(up[t], expected, rtol=0, atol=1e-6), t


def test_losses_and_metrics_dispatch_on_data():
    assert isinstance(losses.make_loss(TASKS["semseg"], 0.95), losses.CrossEntropy)
    assert losses.make_loss(TASKS["sal"], 0.95).pos_weight is None
    assert losses.make_loss(TASKS["edge"], 0.8).pos_weight == 0.8
    assert isinstance(losses.make_loss(TASKS["depth"], 0.95), losses.DepthL1)
    assert isinstance(losses.make_loss(TASKS["normals"], 0.95), losses.NormalsL1)
    assert metrics.make_metric(TASKS["parts"], "pascal").num_classes == 7
    assert isinstance(metrics.make_metric(TASKS["sal"], "pascal"), metrics.SaliencyMaxF)
    assert metrics.make_metric(TASKS["edge"], "pascal").max_dist == 0.0075
    assert metrics.make_metric(TASKS["edge"], "nyud").max_dist == 0.011
    for t in TASKS.values():  # the metric's headline key is the task's metric name
        assert metrics.make_metric(t, "synthetic").key == t.metric
    assert "name ==" not in inspect.getsource(Task)  # no task-name branching


@pytest.mark.parametrize("task", list(TASKS))
def test_what_a_task_knows_about_its_targets(task):
    t = TASKS[task]
    target = t.random_target(2, (5, 7), "synthetic")
    assert target.shape[0] == 2 and target.shape[-2:] == (5, 7)
    stacked = target[0].float().reshape(-1, 5, 7)  # the float channels the joint transforms work on
    assert stacked.shape[0] == t.spec.target_channels
    assert torch.equal(t.target_from_channels(stacked), target[0])
    assert t.spec.pad_value == (255 if t.spec.integer_target else 0.0)
    constant = t.constant_prediction([target[i].numpy().reshape(target.shape[1:]) for i in range(2)], "synthetic")
    assert constant.shape == (t.channels("synthetic"),) and torch.isfinite(constant).all()
    assert t.caption(np.ones((5, 7))).startswith(t.title)


def test_flip_and_display_conventions():
    assert TASKS["normals"].spec.flip_negates == (0,)  # the mirror image's normals point the other way in x
    assert all(not t.spec.flip_negates for n, t in TASKS.items() if n != "normals")
    assert TASKS["semseg"].spec.display_format == "png" and TASKS["depth"].spec.display_format == "webp"
    assert TASKS["depth"].colour_range(np.array([0.0, 2.0, 4.0])) == {"vmin": 2.0, "vmax": 4.0}
    assert TASKS["sal"].colour_range(np.array([0.5])) == {} and TASKS["depth"].colour_range(np.zeros(3)) == {}
    assert TASKS["parts"].constant_prediction([np.array([[1, 1, 2, 255]])], "synthetic").argmax() == 1


def test_existing_fields_unchanged():
    assert TASKS["semseg"].channels("nyud") == 40 and TASKS["normals"].channels("pascal") == 3
    assert Task("x", "X", "depth", 1.0, "rmse", True).balanced is False


def sample(task):
    rng = np.random.default_rng(0)
    kind = TASKS[task].kind
    if kind == "labels":
        return np.where(rng.random((H, W)) < 0.2, 255, rng.integers(0, 6, (H, W)))
    if kind == "normals":
        return rng.standard_normal((3, H, W))
    return rng.random((H, W))


@pytest.mark.parametrize("task", list(TASKS))
def test_colourise_gives_uint8_rgb(task):
    img = TASKS[task].colourise(sample(task), "synthetic")
    assert img.shape == (H, W, 3) and img.dtype == np.uint8


def test_colourise_conventions():
    labels = np.array([[0, 1, 255]])
    rgb = TASKS["semseg"].colourise(labels, "nyud")
    assert (rgb[0, 2] == 0).all() and not (rgb[0, 0] == rgb[0, 1]).all()
    assert len({tuple(c) for c in PALETTE[:40]}) == 40 and (PALETTE[:40].sum(1) > 0).all()  # distinct, none black
    depth = TASKS["depth"].colourise(np.array([[1.0, 5.0, 0.0]]), "nyud")
    assert (depth[0, 0] == DEPTH_LUT[0]).all() and (depth[0, 1] == DEPTH_LUT[-1]).all() and (depth[0, 2] == 0).all()
    assert depth[0, 0, 0] > depth[0, 1, 0]  # near is warm (red-yellow), far dark
    fixed = TASKS["depth"].colourise(np.array([[1.0]]), "nyud", vmin=0.0, vmax=2.0)
    assert (fixed[0, 0] == DEPTH_LUT[128]).all()
    normals = TASKS["normals"].colourise(np.array([1.0, -1.0, 0.0]).reshape(3, 1, 1), "nyud")
    assert normals[0, 0].tolist() == [255, 0, 128]
    grey = TASKS["sal"].colourise(np.array([[0.0, 1.0]]), "pascal")
    assert grey[0, 0].tolist() == [0, 0, 0] and grey[0, 1].tolist() == [255, 255, 255]


def test_legend_matches_colourise():
    entries = TASKS["parts"].legend("pascal")
    assert [n for n, _ in entries] == list(class_names("pascal", "parts"))
    rgb = TASKS["parts"].colourise(np.arange(len(entries))[None], "pascal")[0]
    assert [c for _, c in entries] == [tuple(v) for v in rgb.tolist()]
    with pytest.raises(ValueError):
        TASKS["depth"].legend("nyud")
