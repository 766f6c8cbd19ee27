"""The bundled model: loads offline, predicts every task, clearly learned each one, and its numbers do not drift."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pretrained_reference import REFERENCE, fingerprints, machine

from mqt_lite import TASKS, load_pretrained
from mqt_lite.checkpoint import pretrained_path
from mqt_lite.data import render_scene
from mqt_lite.evaluate import evaluate, headline, trivial_model, val_loader


@pytest.fixture(scope="module")
def model():
    return load_pretrained("tiny-synthetic")


def test_bundled_model_is_small_and_described(model):
    size = sum(f.stat().st_size for f in pretrained_path("tiny-synthetic").iterdir())
    assert size < 20 * 2**20
    assert model.card["config"]["dataset"] == "synthetic" and "trained_with" in model.card
    assert set(model.card["metrics"]) == set(model.cfg.tasks)


def test_predicts_every_task_at_the_image_size(model):
    image = render_scene(7, (90, 150))["image"]
    out = model.predict(image)
    assert set(out) == set(TASKS)
    for t, y in out.items():
        assert y.shape[-2:] == (90, 150), t
        assert np.isfinite(y).all(), t


def test_beats_trivial_predictors_by_a_wide_margin(model):
    """On validation scenes it never saw: far better than majority class / mean depth / mean normal / background."""
    loader = val_loader(model.cfg, num_images=16)
    ours = headline(evaluate(model, loader))
    trivial = headline(evaluate(trivial_model(model.cfg, num_images=50), loader))
    for t in model.cfg.tasks:
        if TASKS[t].lower_is_better:
            assert ours[t] < 0.5 * trivial[t], (t, ours[t], trivial[t])
        else:
            assert ours[t] > trivial[t] + 30, (t, ours[t], trivial[t])


def test_raw_outputs_match_the_stored_reference(model):
    """The raw outputs model(x) on fixed inputs are bit-identical to tests/pretrained_reference.json (see its
    docstring) on the machine and torch build that made it, and equal up to float rounding elsewhere."""
    reference = json.loads(REFERENCE.read_text())
    ours = fingerprints(model)
    assert ours.keys() == reference["outputs"].keys()
    same_machine = machine() == {k: reference[k] for k in machine()}
    for name, tasks in reference["outputs"].items():
        for t, ref in tasks.items():
            got = ours[name][t]
            if same_machine:
                assert got == ref, (name, t)
            else:  # other kernels may round differently: the same numbers to about 6 digits
                assert math.isclose(got["abs_sum"], ref["abs_sum"], rel_tol=1e-5), (name, t)
                assert math.isclose(got["sum"], ref["sum"], rel_tol=1e-5, abs_tol=1e-5 * ref["abs_sum"]), (name, t)


def test_unknown_bundled_model_lists_the_available_ones():
    with pytest.raises(ValueError, match="tiny-synthetic"):
        load_pretrained("nyud-huge")


# ----------------------------------------------------------------------------- tiny-rich, the model for real photos
@pytest.fixture(scope="module")
def rich():
    return load_pretrained("tiny-rich")


def test_tiny_rich_is_bundled_small_and_loads_offline(rich, monkeypatch):
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    folder = pretrained_path("tiny-rich")
    files = sorted(p.name for p in folder.iterdir())
    layout = sorted(p.name for p in pretrained_path("tiny-synthetic").iterdir() if p.name != "single_task.json")
    assert files == layout  # the same layout (tiny-synthetic also ships its single-task reference, for delta_m)
    assert sum(f.stat().st_size for f in folder.iterdir()) <= 15 * 2**20
    # the wheel ships it: pyproject's package-data patterns match every file of the folder
    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mqt_lite"]
    package = root / "mqt_lite"
    assert set(folder.iterdir()) <= {p for pattern in patterns for p in package.glob(pattern)}
    assert rich.cfg.name == "tiny-rich" and rich.cfg.synthetic_world == "rich"
    assert rich.card["config"]["dataset"] == "synthetic" and set(rich.card["metrics"]) == set(rich.cfg.tasks)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a bundled name never touches the network
    assert load_pretrained("tiny-rich").card["step"] == rich.card["step"]


def test_tiny_rich_predicts_every_task_on_a_real_photo(rich):
    from mqt_lite.data.real import load_photo

    photo = load_photo("coffee")
    out = rich.predict(photo)
    assert set(out) == set(TASKS)
    for t, y in out.items():
        assert y.shape[-2:] == photo.shape[:2] and np.isfinite(y).all(), t
