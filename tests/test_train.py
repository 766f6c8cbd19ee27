"""Training, checkpoints and evaluation end to end on tiny synthetic runs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mqt_lite.checkpoint import CheckpointError, load_weights, read_card, save_checkpoint
from mqt_lite.hub import load_checkpoint
from mqt_lite.losses import MultiTaskLoss
from mqt_lite.model import build_model
from mqt_lite.train import main as train_main
from mqt_lite.train import train

ROOT = Path(__file__).resolve().parents[1]
# A run small enough for a test: 64x64 scenes, a narrow head, no workers.
TINY = dict(image_size=(64, 64), train_size=16, val_size=4, batch_size=4, dim=32, num_heads=2, num_queries=4,
            mlp_ratio=1.0, num_workers=0, eval_every=10_000, checkpoint_every=10_000, log_every=1, warmup_iters=0)


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_a_few_steps_lower_the_loss():
    _, history = train("tiny-synthetic", progress=False, **{**TINY, "iterations": 40, "lr": 2e-3})
    losses = [r["loss"] for r in history if r["split"] == "train"]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, losses
    evals = [r for r in history if r["split"] == "val"]
    assert evals and all(k in evals[-1] for k in ("semseg/mIoU", "depth/rmse", "normals/mErr", "sal/maxF",
                                                   "edge/odsF", "parts/mIoU"))


def test_resume_equals_an_uninterrupted_run(tmp_path):
    cfg = {**TINY, "iterations": 6, "checkpoint_every": 2}
    full, _ = train("tiny-synthetic", tmp_path / "full", progress=False, **cfg)

    def interrupt(record):
        if record["split"] == "train" and record["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train("tiny-synthetic", tmp_path / "cut", progress=False, callback=interrupt, **cfg)
    assert read_card(tmp_path / "cut")["step"] == 3  # Ctrl-C saved the work done so far
    resumed, history = train("tiny-synthetic", tmp_path / "cut", resume=True, progress=False)
    a, b = weights(full), weights(resumed)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"resumed run differs in {different}"
    steps = [r["step"] for r in history if r["split"] == "train"]
    assert steps == list(range(1, 7))  # the history continues without gaps or repeats


def test_nan_loss_stops_names_the_task_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    forward = MultiTaskLoss.forward
    calls = {"n": 0}

    def poisoned(self, outputs, batch):
        total, losses = forward(self, outputs, batch)
        calls["n"] += 1
        if calls["n"] == 4:  # the 4th step's depth loss
            losses["depth"] = losses["depth"] * float("nan")
            total = total + losses["depth"]
        return total, losses

    monkeypatch.setattr(MultiTaskLoss, "forward", poisoned)
    with pytest.raises(FloatingPointError, match=r"task depth .* step 3.*last good checkpoint \(step 2\)"):
        train("tiny-synthetic", tmp_path, progress=False, **{**TINY, "iterations": 10, "checkpoint_every": 2})
    assert read_card(tmp_path)["step"] == 2


def test_checkpoint_round_trip_and_bad_checkpoints(tmp_path):
    torch.manual_seed(0)
    model = build_model("tiny-synthetic", **{k: TINY[k] for k in ("dim", "num_heads", "num_queries", "mlp_ratio")})
    save_checkpoint(tmp_path / "ok", model, step=5, metrics={"semseg": 1.0})
    loaded = load_checkpoint(tmp_path / "ok")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert loaded.card["step"] == 5 and loaded.card["metrics"] == {"semseg": 1.0}
    assert not list((tmp_path / "ok").glob("*.tmp"))  # atomic writes leave no temporaries

    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="missing checkpoint.json, model.safetensors"):
        load_checkpoint(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "checkpoint.json").write_text((tmp_path / "ok" / "checkpoint.json").read_text())
    (tmp_path / "bad" / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "bad")
    other = build_model("tiny-synthetic", dim=32, num_heads=2, num_queries=8, mlp_ratio=1.0)
    with pytest.raises(CheckpointError, match="num_queries: checkpoint 4 vs model 8"):
        load_weights(other, tmp_path / "ok")


def test_cli_errors_list_valid_choices(capsys):
    with pytest.raises(SystemExit):
        train_main(["--out", "x", "--not_a_key=1"])
    assert "valid keys" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["--preset", "nope", "--out", "x"])
    assert "valid presets" in capsys.readouterr().err


def _run(args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, **kw)


def overrides(**extra):
    cfg = {**TINY, **extra}
    return [f"--{k}={'x'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in cfg.items()]


def test_cli_train_then_evaluate_json(tmp_path):
    r = _run([sys.executable, "-m", "mqt_lite.train", "--out", str(tmp_path), "--no-progress",
              *overrides(iterations=4)])
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "history.jsonl").is_file() and read_card(tmp_path)["step"] == 4
    r = _run([sys.executable, "-m", "mqt_lite.evaluate", "--checkpoint", str(tmp_path), "--json",
              "--num-images", "4", "--single-task", str(tmp_path), "--trivial"])
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    expected = {"semseg": "mIoU", "parts": "mIoU", "sal": "maxF", "normals": "mErr", "depth": "rmse", "edge": "odsF"}
    for task, metric in expected.items():
        assert metric in report["metrics"][task]
    assert report["delta_m"] == pytest.approx(0.0)  # a model against itself
    trivial = report["trivial"]  # constant predictions: nothing detected, mean depth/normal
    assert set(trivial) == set(expected) and trivial["sal"] == 0.0 and trivial["edge"] == 0.0


@pytest.mark.slow
def test_torchrun_two_processes_gloo_identical_weights(tmp_path):
    worker = ROOT / "tests" / "ddp_worker.py"
    r = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
              str(worker), str(tmp_path)])
    assert r.returncode == 0, r.stderr[-3000:]
    w0, w1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert w0.keys() == w1.keys()
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert read_card(tmp_path / "run")["world_size"] == 2
