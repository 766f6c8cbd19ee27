"""Joint transforms: flip negates normals x, scale/crop keep labels aligned, eval padding, reproducibility."""
import datasets
import numpy as np
import pytest
import torch

from mqt_lite.data import IMAGENET_MEAN, MultiTaskDataset, denormalize, make_synthetic, normalize_image
from mqt_lite.data import transforms

TASKS = ("semseg", "parts", "sal", "edge", "depth", "normals")
BLOCK = 6  # side of the constant label blocks


def coded_dataset(n=2, H=36, W=48):
    """Rows whose image encodes their labels: R = 40 * semseg, G = 60 * parts; depth = semseg + 1.

    Labels are constant on BLOCK x BLOCK blocks; normals are a unit vector per block with x = +-0.6.
    """
    rng = np.random.default_rng(0)
    rows = {k: [] for k in ("name", "image", *TASKS)}
    for i in range(n):
        cells = (H // BLOCK, W // BLOCK)
        up = lambda a: np.kron(a, np.ones((BLOCK, BLOCK), a.dtype))
        semseg = up(rng.integers(0, 6, cells).astype(np.uint8))
        parts = up(rng.integers(0, 4, cells).astype(np.uint8))
        sx = up(rng.choice([-0.6, 0.6], cells).astype(np.float32))
        image = np.stack([semseg * 40, parts * 60, np.full_like(semseg, 7)], -1).astype(np.uint8)
        normals = np.stack([sx, np.full_like(sx, 0.8), np.zeros_like(sx)])
        for k, v in (("name", str(i)), ("image", image), ("semseg", semseg), ("parts", parts),
                     ("sal", (semseg > 2).astype(np.uint8)), ("edge", (parts > 1).astype(np.uint8)),
                     ("depth", semseg.astype(np.float32) + 1), ("normals", normals)):
            rows[k].append(v)
    return datasets.Dataset.from_dict(rows).with_format("numpy")


@pytest.fixture
def no_jitter(monkeypatch):
    monkeypatch.setattr(transforms, "JITTER", 0.0)


def interior(label):
    """Pixels whose 3x3 neighbourhood has one label (away from block, pad and crop boundaries)."""
    t = torch.nn.functional.pad(torch.as_tensor(label).float()[None, None], (1, 1, 1, 1), value=-1.0)
    lo = -torch.nn.functional.max_pool2d(-t, 3, 1)[0, 0]
    hi = torch.nn.functional.max_pool2d(t, 3, 1)[0, 0]
    return (lo == hi).numpy()


def test_normalize_denormalize_round_trip():
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    x = normalize_image(image)
    assert x.shape == (3, 5, 7) and x.dtype == torch.float32
    assert np.array_equal(denormalize(x), image) and np.array_equal(denormalize(x[None])[0], image)
    mean = np.round(np.array(IMAGENET_MEAN) * 255).astype(np.uint8)
    assert torch.allclose(normalize_image(np.tile(mean, (2, 2, 1))), torch.zeros(3, 2, 2), atol=0.01)


def test_scale_crop_keep_labels_aligned(no_jitter):
    ds = MultiTaskDataset(coded_dataset(), TASKS, size=(32, 40), train=True, seed=1)
    scales_seen = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            s = ds[i]
            assert s["image"].shape == (3, 32, 40) and s["depth"].shape == (1, 32, 40)
            assert all(s[t].dtype == torch.int64 and s[t].shape == (32, 40) for t in ("semseg", "parts", "sal", "edge"))
            sem, parts = s["semseg"].numpy(), s["parts"].numpy()
            pad = sem == 255
            scales_seen.add(bool(pad.any()))
            assert np.array_equal(pad, parts == 255) and np.array_equal(pad, s["depth"][0].numpy() == 0)
            assert torch.all(s["normals"][:, torch.from_numpy(pad)] == 0)
            rgb = denormalize(s["image"]).astype(int)
            ok = interior(sem) & interior(parts) & ~pad
            assert ok.sum() > 100
            assert np.abs(rgb[..., 0][ok] - 40 * sem[ok]).max() <= 1
            assert np.abs(rgb[..., 1][ok] - 60 * parts[ok]).max() <= 1
            assert np.array_equal(s["depth"][0].numpy()[~pad], sem[~pad] + 1.0)
            assert np.array_equal(s["sal"].numpy()[~pad], (sem[~pad] > 2).astype(np.int64))
            assert np.array_equal(s["edge"].numpy()[~pad], (parts[~pad] > 1).astype(np.int64))
    assert scales_seen == {True, False}  # some crops needed padding (scale < 1), some did not


def test_flip_negates_normals_x(no_jitter, monkeypatch):
    monkeypatch.setattr(transforms, "SCALE_RANGE", (1.0, 1.0))
    raw = coded_dataset(1)
    ds = MultiTaskDataset(raw, ("normals", "semseg"), size=(36, 48), train=True)
    n0, sem0 = torch.from_numpy(raw[0]["normals"]), torch.from_numpy(raw[0]["semseg"]).long()
    flips = set()
    for epoch in range(12):
        ds.set_epoch(epoch)
        s = ds[0]
        flipped = not torch.equal(s["semseg"], sem0)
        flips.add(flipped)
        if flipped:
            assert torch.equal(s["semseg"], sem0.flip(-1))
            assert torch.equal(s["normals"][0], -n0[0].flip(-1)) and torch.equal(s["normals"][1:], n0[1:].flip(-1))
        else:
            assert torch.equal(s["normals"], n0)
    assert flips == {True, False}


def test_jitter_changes_only_the_image():
    raw = coded_dataset(1)
    ds = MultiTaskDataset(raw, TASKS, size=(36, 48), train=True)
    image = raw[0]["image"]
    rng = np.random.default_rng(0)
    jittered = transforms.jitter_colour(image, rng)
    assert jittered.shape == image.shape and not np.allclose(jittered, image)
    assert set(ds[0]) == {"image", *TASKS}


def test_eval_pads_bottom_right_with_ignore_values_and_rejects_larger_images():
    raw = coded_dataset(1, H=30, W=42)
    ds = MultiTaskDataset(raw, TASKS, size=(36, 48), train=False)
    s = ds[0]
    assert torch.equal(s["semseg"][:30, :42], torch.from_numpy(raw[0]["semseg"]).long())
    assert np.array_equal(denormalize(s["image"])[:30, :42], raw[0]["image"])
    assert torch.all(s["semseg"][30:] == 255) and torch.all(s["semseg"][:, 42:] == 255)
    assert torch.all(s["edge"][30:] == 255) and torch.all(s["depth"][:, 30:] == 0)
    assert torch.all(s["normals"][:, :, 42:] == 0) and torch.all(s["image"][:, 30:] == 0)
    assert torch.equal(ds[0]["semseg"], s["semseg"])  # no randomness in evaluation
    with pytest.raises(ValueError, match="larger than size"):
        MultiTaskDataset(raw, TASKS, size=(28, 48), train=False)[0]


def test_augmentation_reproducible_per_seed_epoch_index_and_dataloader_workers():
    raw = make_synthetic(4, size=32)
    ds = MultiTaskDataset(raw, ("semseg", "depth"), size=(24, 24), train=True, seed=3)
    a, b = ds[1], ds[1]
    assert all(torch.equal(a[k], b[k]) for k in a)
    ds.set_epoch(1)
    assert not torch.equal(ds[1]["image"], a["image"])
    other = MultiTaskDataset(raw, ("semseg", "depth"), size=(24, 24), train=True, seed=4)
    assert not torch.equal(other[1]["image"], a["image"])
    ds.set_epoch(0)
    batches = [next(iter(torch.utils.data.DataLoader(ds, batch_size=4, num_workers=w))) for w in (0, 1)]
    assert batches[0]["depth"].shape == (4, 1, 24, 24) and batches[0]["semseg"].dtype == torch.int64
    assert all(torch.equal(batches[0][k], batches[1][k]) for k in batches[0])
    assert torch.equal(batches[0]["image"][1], a["image"])


def test_unknown_or_missing_task_fails_early():
    raw = coded_dataset(1)
    with pytest.raises(KeyError, match="no 'depth' column"):
        MultiTaskDataset(raw.remove_columns("depth"), ("depth",), size=(8, 8), train=True)
    with pytest.raises(ValueError, match="unknown task"):
        MultiTaskDataset(raw, ("foo",), size=(8, 8), train=True)
