"""Checkpoints against hostile files and crashes: no pickle is ever loaded, a crash at any point of a save leaves
the old or the new checkpoint (and resumes bit-exactly), mixed folders and torn histories are caught, and the
command lines end known errors with one line."""
from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import mqt_lite
from mqt_lite import checkpoint as ck
from mqt_lite import evaluate
from mqt_lite.checkpoint import CheckpointError, load_train_state, read_card, save_checkpoint
from mqt_lite.hub import load_checkpoint
from mqt_lite.model import build_model
from mqt_lite.train import main as train_main
from mqt_lite.train import train

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(image_size=(64, 64), train_size=16, val_size=4, batch_size=4, dim=32, num_heads=2, num_queries=4,
            mlp_ratio=1.0, num_workers=0, eval_every=10_000, checkpoint_every=2, log_every=1, warmup_iters=0,
            iterations=6)


class Exploit:
    """A pickle that, when loaded, creates the file `marker` (standing in for any code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


class Killed(BaseException):
    """Stands in for kill -9: nothing in train() or the checkpoint code catches it."""


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: (final weights, folder)."""
    out = tmp_path_factory.mktemp("reference")
    model, _ = train("tiny-synthetic", out, progress=False, **TINY)
    return weights(model), out


def test_a_planted_pickle_is_refused_and_never_runs(reference, tmp_path, capsys):
    _, run = reference
    folder = tmp_path / "old-run"
    folder.mkdir()
    for name in (ck.CARD, ck.WEIGHTS):
        (folder / name).write_bytes((run / name).read_bytes())
    marker = tmp_path / "exploit-ran"
    (folder / ck.LEGACY_TRAIN_STATE).write_bytes(pickle.dumps(Exploit(marker)))  # as older versions named it
    with pytest.raises(CheckpointError, match=r"train_state.pt is a pickle .* refused: loading a pickle can run"):
        train("tiny-synthetic", folder, resume=True, progress=False)
    with pytest.raises(SystemExit) as e:
        train_main(["--resume", str(folder), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 1 and len(err.splitlines()) == 1 and "is a pickle" in err
    assert load_checkpoint(folder).card["step"] == 6  # its weights are still usable
    (folder / ck.TRAIN_STATE).write_bytes(pickle.dumps(Exploit(marker)))  # a pickle under the new name
    with pytest.raises(CheckpointError, match="corrupt or not an mqt_lite training state"):
        load_train_state(folder)
    assert not marker.exists()


def test_no_load_path_unpickles(reference, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("something unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    _, run = reference
    load_checkpoint(run)
    mqt_lite.load_pretrained()
    assert load_train_state(run)["step"] == 6
    train("tiny-synthetic", run, resume=True, progress=False)  # resume reads weights, state and history
    sources = [*(ROOT / "mqt_lite").rglob("*.py"), ROOT / "app.py"]
    unsafe = re.compile(r"torch\.load\(|pickle\.loads?\(|Unpickler|weights_only\s*=\s*False|allow_pickle\s*=\s*True")
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in sources for i, line in enumerate(p.read_text().splitlines(), 1)
            if unsafe.search(line)]
    assert not hits, f"code that unpickles: {hits}"


def _crash_points(monkeypatch, at: int | None) -> list[str]:
    """Raise Killed before the `at`-th file operation of the checkpoint code (None: only record them)."""
    events: list[str] = []

    def wrap(name, fn):
        def wrapped(*args, **kwargs):
            events.append(f"{name}{tuple(Path(str(a)).name for a in args[:2])}")
            if at is not None and len(events) > at:
                raise Killed(events[-1])
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(ck, "_write_temp", wrap("write", ck._write_temp))
    monkeypatch.setattr(ck.os, "replace", wrap("rename", os.replace))
    monkeypatch.setattr(ck, "_fsync_dir", wrap("sync", ck._fsync_dir))
    return events


def test_a_kill_between_any_two_checkpoint_writes_resumes_bit_exactly(reference, tmp_path, monkeypatch):
    expected, _ = reference
    with monkeypatch.context() as m:  # count the operations: the run saves 3 checkpoints (steps 2, 4, 6)
        events = _crash_points(m, None)
        train("tiny-synthetic", tmp_path / "count", progress=False, **TINY)
    first = next(i for i, e in enumerate(events) if ck.WEIGHTS in e)  # before it: the history file is created
    per_save = (len(events) - first) // 3
    assert per_save >= 8, events  # 3 temporaries, the journal and its rename, 3 renames, syncs
    for k in range(per_save):  # every point of the second save (step 4)
        out = tmp_path / f"kill-{k}"
        with monkeypatch.context() as m:
            events = _crash_points(m, first + per_save + k)
            with pytest.raises(Killed):
                train("tiny-synthetic", out, progress=False, **TINY)
        step = read_card(out)["step"]
        assert step in (2, 4), (k, events[-1])  # the old checkpoint or the new one
        state = load_train_state(out)  # consistent: checked against the card
        assert state["step"] == step and not list(out.glob(".*.tmp")) and not (out / ck.JOURNAL).exists()
        resumed, history = train("tiny-synthetic", out, resume=True, progress=False)
        assert same(weights(resumed), expected), f"crash before {events[-1]} (step {step}): weights differ"
        assert [r["step"] for r in history if r["split"] == "train"] == list(range(1, 7))


def test_mixed_checkpoints_are_caught(tmp_path):
    torch.manual_seed(0)
    model = build_model("tiny-synthetic", **{k: TINY[k] for k in ("dim", "num_heads", "num_queries", "mlp_ratio")})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    save_checkpoint(tmp_path, model, step=5, train_state={"optimizer": opt.state_dict(), "step": 5})
    assert load_train_state(tmp_path)["optimizer"]["param_groups"][0]["lr"] == 0.1
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(tmp_path / ck.WEIGHTS), metadata={"step": "10"})  # weights of another step
    with pytest.raises(CheckpointError, match="mixed checkpoint: its card is of step 5 but the weights are of step 10"):
        load_checkpoint(tmp_path)
    save_checkpoint(tmp_path, model, step=7)  # without a training state: the old one goes with the commit
    assert not (tmp_path / ck.TRAIN_STATE).exists()
    with pytest.raises(CheckpointError, match="weights only"):
        load_train_state(tmp_path)


def test_a_hostile_journal_cannot_rename_other_files(tmp_path):
    torch.manual_seed(0)
    save_checkpoint(tmp_path, build_model("tiny-synthetic", dim=32, num_heads=2, num_queries=4, mlp_ratio=1.0), 1)
    (tmp_path / ck.JOURNAL).write_text('{"files": {"checkpoint.json": "../../etc/passwd"}}')
    with pytest.raises(CheckpointError, match="names files it must not touch"):
        read_card(tmp_path)


def test_a_torn_history_line_is_dropped_with_a_warning(reference, tmp_path):
    _, run = reference
    out = tmp_path / "torn"
    train("tiny-synthetic", out, progress=False, **{**TINY, "iterations": 4})
    with (out / "history.jsonl").open("a") as f:
        f.write('{"step": 5, "split": "tr')  # killed while appending
    with pytest.warns(UserWarning, match="dropped a torn last line"):
        _, history = train("tiny-synthetic", out, resume=True, progress=False)
    assert [r["step"] for r in history if r["split"] == "train"] == [1, 2, 3, 4]


def test_command_line_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MQT_DEBUG", raising=False)
    cases = [
        (evaluate.main, ["--checkpoint", str(tmp_path / "no" / "such" / "dir")], "does not exist"),
        (evaluate.main, ["--checkpoint", "no-such-model"], "no bundled model"),
        (train_main, ["--resume", str(tmp_path / "missing")], "missing does not exist"),
        (train_main, ["--out", str(tmp_path / "x"), "--data", "nyud", "--tasks=semseg,depth",
                     "--data-root", str(tmp_path / "nyud")],
         "dataset folder not found"),
    ]
    for main, argv, phrase in cases:
        with pytest.raises(SystemExit) as e:
            main(argv)
        err = capsys.readouterr().err.strip()
        assert e.value.code == 1 and phrase in err.splitlines()[0] and "Traceback" not in err, (argv, err)
    monkeypatch.setenv("MQT_DEBUG", "1")  # the traceback for bug reports
    with pytest.raises(FileNotFoundError):
        evaluate.main(["--checkpoint", str(tmp_path / "nowhere/")])


@pytest.mark.parametrize("value, phrase", [("-1", "lr must be > 0.0"), ("nan", "lr must be a finite number"),
                                           ("inf", "lr must be a finite number")])
def test_bad_numbers_are_usage_errors(value, phrase, capsys):
    with pytest.raises(SystemExit) as e:
        train_main(["--out", "x", f"--lr={value}"])
    assert e.value.code == 2 and phrase in capsys.readouterr().err
