"""mqt_lite.hub offline: save/load round trips, a Hub id from a pre-populated local Hub cache with HF_HUB_OFFLINE,
push_to_hub against a stand-in for the upload API, the one loader behind every entry point, the bundled card."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
import torch
import yaml
from huggingface_hub import constants, scan_cache_dir, try_to_load_from_cache
from huggingface_hub.file_download import repo_folder_name

import mqt_lite
from mqt_lite import hub, sharing
from mqt_lite.checkpoint import CARD, WEIGHTS, pretrained_path, read_card
from mqt_lite.data import render_scene
from mqt_lite.hub import load_pretrained
from mqt_lite.model import build_model

REPO = "someone/mqt-tiny"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ROOT = Path(__file__).resolve().parents[1]


def populate_cache(cache: Path, repo_id: str, folder: Path, commit: str = COMMIT) -> None:
    """Lay `folder` out as huggingface_hub's cache does: blobs by hash, snapshots/<commit>/ links, refs/main."""
    repo = cache / repo_folder_name(repo_id=repo_id, repo_type="model")
    for file in sorted(folder.iterdir()):
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / file.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty Hub cache in tmp_path, used by default, with HF_HUB_OFFLINE on (any request would raise)."""
    cache = tmp_path / "hub-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


@pytest.fixture(scope="module")
def bundled():
    return load_pretrained("tiny-synthetic")


@pytest.fixture(scope="module")
def image():
    return render_scene(3, (96, 112))["image"]


def assert_same_predictions(a, b, image):
    pa, pb = a.predict(image), b.predict(image)
    assert set(pa) == set(pb) == set(a.cfg.tasks)
    for task in pa:
        assert (pa[task] == pb[task]).all(), task  # bit-identical, not close


def test_save_pretrained_writes_the_hub_layout_and_round_trips(tmp_path, bundled, image):
    folder = bundled.save_pretrained(tmp_path / "mine")
    assert sorted(p.name for p in folder.iterdir()) == sorted([WEIGHTS, CARD, hub.CONFIG, hub.README])
    assert mqt_lite.MQTConfig.from_dict(json.loads((folder / hub.CONFIG).read_text())) == bundled.cfg
    card = read_card(folder)
    assert card["metrics"] == bundled.card["metrics"] and card["trained_with"] == bundled.card["trained_with"]
    again = mqt_lite.from_pretrained(folder)
    assert again.card["source"] == str(folder)
    assert_same_predictions(again, bundled, image)
    fresh = build_model("tiny-synthetic", dim=32, num_queries=4)  # a model never saved: step 0, no metrics
    loaded = mqt_lite.from_pretrained(str(fresh.save_pretrained(tmp_path / "fresh", metrics={"depth": 1.5})))
    assert loaded.card["step"] == 0 and loaded.card["metrics"] == {"depth": 1.5}
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in fresh.state_dict().items())


def test_single_task_models_save_and_load_too(tmp_path, image):
    model = build_model("tiny-synthetic", head="single-task", tasks=("semseg", "depth"), dim=16)
    again = mqt_lite.from_pretrained(model.save_pretrained(tmp_path / "st"))
    assert type(again).__name__ == "SingleTaskModel"
    # a loaded model runs channels-last (checkpoint.load_checkpoint): compare in that layout, bit for bit
    assert_same_predictions(again.eval(), model.to(memory_format=torch.channels_last).eval(), image)


def test_the_bundled_name_a_folder_and_a_cached_hub_id_predict_the_same(tmp_path, offline_cache, bundled, image):
    populate_cache(offline_cache, REPO, bundled.save_pretrained(tmp_path / "upload"))
    cached = scan_cache_dir(offline_cache)  # huggingface_hub itself recognises the layout
    assert [r.repo_id for r in cached.repos] == [REPO] and not cached.warnings
    assert try_to_load_from_cache(REPO, CARD) == str(offline_cache / repo_folder_name(
        repo_id=REPO, repo_type="model") / "snapshots" / COMMIT / CARD)
    from_hub = mqt_lite.from_pretrained(REPO)
    assert from_hub.card["source"] == REPO and COMMIT in from_hub.card["path"]
    assert_same_predictions(from_hub, bundled, image)
    assert_same_predictions(mqt_lite.from_pretrained("hf-hub:" + REPO), bundled, image)
    assert_same_predictions(mqt_lite.from_pretrained(tmp_path / "upload"), bundled, image)
    assert_same_predictions(load_pretrained(REPO), bundled, image)  # the old entry point takes every name too


def test_an_uncached_hub_id_offline_names_hf_hub_offline_and_the_cache(offline_cache):
    with pytest.raises(hub.ModelNotFoundError, match="HF_HUB_OFFLINE") as e:
        mqt_lite.from_pretrained("nobody/nothing")
    assert str(offline_cache) in str(e.value) and isinstance(e.value, FileNotFoundError)
    with pytest.raises(hub.ModelNotFoundError, match="no bundled model 'nyud-huge'; available: .*tiny-synthetic"):
        mqt_lite.from_pretrained("nyud-huge")  # no folder, no bundled name, no Hub id: nothing is looked up
    with pytest.raises(hub.ModelNotFoundError, match="checkpoint folder ./runs/missing does not exist"):
        mqt_lite.from_pretrained("./runs/missing")  # a path, so neither a bundled name nor a Hub id
    with pytest.raises(hub.ModelNotFoundError, match="checkpoint folder /no/such/dir does not exist"):
        mqt_lite.from_pretrained("/no/such/dir")


def test_hub_ids_and_paths_are_told_apart():
    assert hub.is_hub_id("user/repo") and hub.is_hub_id("hf-hub:user/repo") and hub.is_hub_id("u-1/r.2_x")
    for path in ("tiny-synthetic", "runs/a/b", "./runs/a", "/abs/path", "../x/y", "runs/"):
        assert not hub.is_hub_id(path), path


def test_push_to_hub_uploads_the_layout_and_card_in_one_commit(tmp_path, monkeypatch, bundled, image):
    sent = {}

    def create_repo(self, repo_id, **kwargs):
        sent["create"] = (repo_id, kwargs)
        return SimpleNamespace(repo_id=repo_id)

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        sent["upload"] = (repo_id, kwargs)
        shutil.copytree(folder_path, tmp_path / "sent")  # the temporary folder is gone after the call
        return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/{COMMIT}")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    url = bundled.push_to_hub(REPO, private=True)
    assert url.endswith(COMMIT) and sent["create"] == (REPO, {"private": True, "exist_ok": True})
    assert sent["upload"][0] == REPO and sent["upload"][1]["repo_type"] == "model"
    files = tmp_path / "sent"
    assert sorted(p.name for p in files.iterdir()) == sorted([WEIGHTS, CARD, hub.CONFIG, hub.README])
    readme = (files / hub.README).read_text()
    meta = yaml.safe_load(readme.split("---")[1])
    assert meta["license"] == "mit" and meta["preset"] == "tiny-synthetic" and meta["tasks"] == list(bundled.cfg.tasks)
    assert meta["trained_with"] == bundled.card["trained_with"] and "synthetic" in meta["training_data"]
    assert meta["results"]["semseg"] == {"metric": "mIoU", "value": round(bundled.card["metrics"]["semseg"], 4),
                                         "lower_is_better": False}
    assert f'from_pretrained("{REPO}")' in readme
    assert_same_predictions(mqt_lite.from_pretrained(files), bundled, image)  # what was sent loads


def test_the_committed_card_of_the_bundled_model_is_the_generated_one():
    """Regenerate with `python -m mqt_lite card mqt_lite/assets/tiny-synthetic` after retraining."""
    folder = pretrained_path("tiny-synthetic")
    committed = (folder / hub.README).read_text()
    assert committed == hub.model_card(read_card(folder), "tiny-synthetic"), \
        "stale card: run `python -m mqt_lite card mqt_lite/assets/tiny-synthetic`"
    meta = yaml.safe_load(committed.split("---")[1])
    assert meta["results"].keys() == read_card(folder)["metrics"].keys() and meta["license"] == "mit"


def test_the_card_command_writes_what_model_card_returns(tmp_path):
    folder = tmp_path / "tiny-synthetic"
    shutil.copytree(pretrained_path("tiny-synthetic"), folder)
    (folder / hub.README).unlink()
    done = subprocess.run([sys.executable, "-m", "mqt_lite", "card", str(folder)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    assert (folder / hub.README).read_text() == hub.model_card(read_card(folder), None)  # not the bundled folder


def test_app_and_evaluate_load_a_cached_hub_id(tmp_path, offline_cache, bundled, image):
    import app
    from mqt_lite.evaluate import main as evaluate_main

    populate_cache(offline_cache, REPO, bundled.save_pretrained(tmp_path / "upload"))
    assert app.from_pretrained is mqt_lite.from_pretrained  # `python app.py --checkpoint REPO` loads with it
    assert_same_predictions(app.from_pretrained(REPO), bundled, image)
    report = evaluate_main(["--checkpoint", REPO, "--num-images", "2", "--json"])
    assert report["preset"] == "tiny-synthetic" and COMMIT in report["checkpoint"]


# ----------------------------------------------------------------------------- stored evaluations (tiny-rich's card)
def _report(preset: str, world: str | None = None, **values: float) -> dict:
    """A stand-in for `evaluate --json` output: real photos when world is None, else a synthetic world."""
    if world is None:
        scores = {"model": {"spearman": values["spearman"], "absrel": 0.2, "rmse": 0.7, "delta1": 0.6},
                  "row_prior": {"spearman": 0.6657, "absrel": 0.1409, "rmse": 0.5738, "delta1": 0.7682}}
        return {"checkpoint": "/somewhere/on/a/machine", "preset": preset, "images": {"motorcycle": scores},
                "mean": scores}
    return {"checkpoint": "/somewhere/on/a/machine", "preset": preset, "dataset": "synthetic", "split": "val",
            "synthetic_world": world, "headline": values}


def test_the_card_command_stores_evaluate_reports_and_shows_them(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(pretrained_path("tiny-synthetic"), folder)
    before = read_card(folder)
    files = []
    for i, report in enumerate([_report("tiny-synthetic", spearman=0.1234), _report("tiny-synthetic", spearman=0.5678),
                                _report("tiny-synthetic", "rich", semseg=12.3456, depth=1.23456),
                                _report("other", "classic", semseg=45.6789, depth=0.98765)]):
        files += ["--evaluation", str(tmp_path / f"{i}.json")]
        (tmp_path / f"{i}.json").write_text(json.dumps(report))
    hub.main(["card", str(folder), *files])
    card = read_card(folder)
    assert {k: v for k, v in card.items() if k != "evaluations"} == before  # nothing else changed
    assert len(card["evaluations"]) == 3  # the second real-photo report replaced the first
    assert all("checkpoint" not in r for r in card["evaluations"])  # no machine's path is stored
    readme = (folder / hub.README).read_text()
    assert readme == hub.model_card(card, None)
    assert "| motorcycle | tiny-synthetic (this model) | 0.5678 | 0.2000 | 0.7000 | 0.6000 | - |" in readme
    assert "| motorcycle | row prior | 0.6657 |" in readme and "0.1234" not in readme
    assert "| Semantic segmentation | mIoU ↑ | 12.35 | 45.68 |" in readme  # this model first, then the other
    assert "| Depth | rmse ↓ | 1.23 | 0.988 |" in readme
    assert "`python -m mqt_lite.evaluate --checkpoint path/to/this/folder --world rich`" in readme
    assert "`python -m mqt_lite.evaluate --checkpoint other --world classic`" in readme
    card["limitations"] = ["It does this.", "Not that."]
    assert "## What it gets right and wrong\n\n- It does this.\n- Not that.\n" in hub.model_card(card)


def test_the_committed_card_of_tiny_rich_is_the_generated_one_from_its_stored_evaluations():
    """Regenerate with `python -m mqt_lite card mqt_lite/assets/tiny-rich --evaluation REPORT.json ...` (README)."""
    folder = pretrained_path("tiny-rich")
    card = read_card(folder)
    readme = (folder / hub.README).read_text()
    assert readme == hub.model_card(card, "tiny-rich"), "stale card: run `python -m mqt_lite card mqt_lite/assets/tiny-rich`"
    stored = {hub.evaluation_key(r): r for r in card["evaluations"]}
    assert set(stored) == {("tiny-rich", "real"), ("tiny-rich", "synthetic-rich"), ("tiny-rich", "synthetic-classic"),
                           ("tiny-synthetic", "real"), ("tiny-synthetic", "synthetic-classic")}
    # the rich-world evaluation is the one training recorded (same 100 validation scenes)
    for t, v in card["metrics"].items():
        assert stored["tiny-rich", "synthetic-rich"]["headline"][t] == pytest.approx(v, rel=1e-6), t
    # tiny-synthetic's stored classic numbers are those of its own card
    for t, v in read_card(pretrained_path("tiny-synthetic"))["metrics"].items():
        assert stored["tiny-synthetic", "synthetic-classic"]["headline"][t] == pytest.approx(v, rel=1e-6), t
    for (preset, _), report in stored.items():
        if "images" in report:
            scores = report["images"]["motorcycle"]["model"]
            assert f"| motorcycle | {preset}{' (this model)' if preset == 'tiny-rich' else ''} | " \
                   f"{scores['spearman']:.4f} | {scores['absrel']:.4f} | {scores['rmse']:.4f} | " \
                   f"{scores['delta1']:.4f} | {scores['vs_prior']:.4f} |" in readme
        else:
            assert all(sharing._two_places(v) in readme for v in report["headline"].values())
        assert hub.evaluation_command(report, "tiny-rich", "tiny-rich") in readme


@pytest.mark.parametrize("name", ["tiny-rich", "tiny-synthetic"])
def test_evaluate_real_reproduces_the_stored_real_photo_numbers(name, capsys):
    from mqt_lite.evaluate import main as evaluate_main

    stored = next(r for r in read_card(pretrained_path("tiny-rich"))["evaluations"]
                  if hub.evaluation_key(r) == (name, "real"))
    report = evaluate_main(["--checkpoint", name, "--real", "--json"])
    capsys.readouterr()
    for predictor in ("model", "row_prior"):
        for k in ("spearman", "absrel", "rmse", "delta1", "vs_prior"):  # equal up to other machines' float rounding
            assert report["mean"][predictor][k] == pytest.approx(stored["mean"][predictor][k], rel=1e-4, abs=1e-6)
