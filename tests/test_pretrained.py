"""The bundled model: loads offline, predicts every task, and clearly learned each one."""
from __future__ import annotations

import numpy as np
import pytest

from mqt_lite import TASKS, load_pretrained
from mqt_lite.checkpoint import pretrained_path
from mqt_lite.data import render_scene
from mqt_lite.evaluate import TrivialModel, evaluate, headline, val_loader


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
    trivial = headline(evaluate(TrivialModel(model.cfg, num_images=50), loader))
    for t in model.cfg.tasks:
        if TASKS[t].lower_is_better:
            assert ours[t] < 0.5 * trivial[t], (t, ours[t], trivial[t])
        else:
            assert ours[t] > trivial[t] + 30, (t, ours[t], trivial[t])


def test_unknown_bundled_model_lists_the_available_ones():
    with pytest.raises(ValueError, match="tiny-synthetic"):
        load_pretrained("nyud-huge")
