"""Config tests: presets, overrides, round trips, packaging single source of truth."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from mqt_lite import DATASET_TASKS, PRESETS, MQTConfig, get_config
from mqt_lite.config import parse_overrides, world_of

ROOT = Path(__file__).resolve().parents[1]

PAPER_PRESETS = ["hrnet18-nyud", "hrnet18-pascal", "swin-t-nyud", "swin-s-nyud", "swin-b-nyud", "swin-l-nyud",
                 "swin-t-pascal", "swin-s-pascal", "tiny-synthetic"]


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_required_presets_exist_with_the_papers_setup(name):
    cfg = PRESETS[name]
    assert cfg.name == name
    if name.endswith("nyud"):
        assert cfg.tasks == DATASET_TASKS["nyud"] == ("semseg", "depth", "normals", "edge")
        assert cfg.image_size == (448, 576)
    elif name.endswith("pascal"):
        assert cfg.tasks == ("semseg", "parts", "sal", "normals", "edge") and cfg.image_size == (512, 512)
    if name != "tiny-synthetic":  # Sec. IV-A recipe
        assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum) == ("sgd", 1e-3, 5e-4, 0.9)
        assert (cfg.iterations, cfg.batch_size, cfg.num_queries, cfg.depth, cfg.num_scales) == (40000, 8, 64, 1, 2)
    else:
        assert len(cfg.tasks) == 6


def test_dict_round_trip():
    cfg = get_config("swin-t-pascal", num_queries=8)
    assert MQTConfig.from_dict(cfg.to_dict()) == cfg


def test_parse_overrides_types():
    o = parse_overrides(["--lr=0.01", "--tasks=semseg,depth", "--query_learning=false", "--image_size=96x128",
                         "--num-queries=8", '--backbone_kwargs={"feature_location": ""}'])
    assert o == {"lr": 0.01, "tasks": ("semseg", "depth"), "query_learning": False, "image_size": (96, 128),
                 "num_queries": 8, "backbone_kwargs": {"feature_location": ""}}
    cfg = get_config("tiny-synthetic", **o)
    assert cfg.num_queries == 8 and cfg.tasks == ("semseg", "depth")


@pytest.mark.parametrize("bad,match", [(["--nope=1"], "valid keys"), (["lr=1"], "--key=value"),
                                       (["--depth=two"], "expects int"), (["--query_learning=maybe"], "true/false")])
def test_bad_overrides(bad, match):
    with pytest.raises(ValueError, match=match):
        parse_overrides(bad)


def test_environment_yml_defers_to_pyproject():
    """pyproject.toml is the single source of dependencies; environment.yml only brings Python and pip."""
    env = (ROOT / "environment.yml").read_text()
    section = env.split("\ndependencies:", 1)[1]
    deps = [ln.strip()[2:] for ln in section.splitlines() if re.match(r"\s+- ", ln)]
    assert "python=3.11" in deps and "pip" in deps
    assert any(d.startswith("-e .[dev]") for d in deps)
    pip_pkgs = [d for d in deps if d not in ("python=3.11", "pip", "pip:") and not d.startswith("-e")]
    assert pip_pkgs == [], f"environment.yml lists packages that belong in pyproject.toml: {pip_pkgs}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = " ".join(project["dependencies"] + sum(project["optional-dependencies"].values(), []))
    for pkg in ("torch", "timm", "jupyterlab", "ipywidgets", "matplotlib", "gradio", "datasets", "nbval"):
        assert pkg in names, pkg


def test_world_of_reads_configs_cards_and_reports_alike():
    assert world_of(get_config("tiny-synthetic")) == "classic"
    assert world_of(get_config("tiny-rich")) == "rich"
    assert world_of(get_config("hrnet18-nyud")) is None
    assert world_of({"dataset": "synthetic", "synthetic_world": "rich"}) == "rich"  # a card's config or a report
    assert world_of({"dataset": "synthetic"}) == "classic"  # a card written before the rich world existed
    assert world_of({"dataset": "pascal", "synthetic_world": "rich"}) is None
