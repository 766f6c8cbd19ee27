"""Checkpoints: safetensors weights + a JSON card (config, step, metrics) + a safetensors training state.

A checkpoint is a folder:
    model.safetensors        the weights (and the fixed query buffers); metadata "step"
    checkpoint.json          {"config": ..., "step": ..., "metrics": ..., ...}: what the model is and how good it is
    train_state.safetensors  optimizer, scheduler and RNG states (only needed to resume training), no pickle:
                             the tensors as safetensors, everything else as JSON in its metadata

Loading a model from a checkpoint (building it from the card's config, then `load_weights`) is
`mqt_lite.hub.load_checkpoint`: this module sits below the models and knows only the files.

Why no pickle: checkpoints are downloaded and shared, and unpickling a file runs whatever code it names. Nothing
in this module calls `torch.load` or `pickle`; a folder from older versions with `train_state.pt` is refused on
resume with an explanation (its weights still load).

Why a journal: the three files form one checkpoint, so they must change together. A save writes every file to a
hidden temporary name, then writes `.commit.json` (the one atomic step: a rename) naming them, then renames them
into place and deletes the journal. A crash before the journal leaves the old checkpoint (plus temporaries that the
next save or resume removes); a crash after it is finished by the next reader ("rolled forward"). So a reader sees
the old checkpoint or the new one, never a mix, and the folder keeps its flat layout (bundled models and
`from_pretrained` folders are the same three files without a journal).
"""
from __future__ import annotations

import json
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .config import MQTConfig

WEIGHTS, CARD, TRAIN_STATE = "model.safetensors", "checkpoint.json", "train_state.safetensors"
LEGACY_TRAIN_STATE = "train_state.pt"  # pickled by mqt_lite before the safetensors state: never loaded
JOURNAL = ".commit.json"
FORMAT = "mqt_lite-checkpoint/1"
STATE_FORMAT = "mqt_lite-train-state/1"
_PARTS = (WEIGHTS, TRAIN_STATE, CARD)  # renamed in this order; the card last


class CheckpointError(ValueError):
    """A checkpoint that exists but cannot be used (corrupt, mixed, unsafe, or made for another model)."""


# ----------------------------------------------------------------------------- atomic files
def _fsync_dir(folder: Path) -> None:
    if os.name == "posix":  # a rename is durable once its directory is synced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_temp(folder: Path, name: str, write: Callable[[str], None]) -> str:
    """write(path) into a new hidden temporary file `.NAME.XXXX.tmp` in folder, synced; returns its file name."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    except BaseException:
        os.remove(tmp)
        raise
    return Path(tmp).name


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) on a temporary file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / _write_temp(path.parent, path.name, write)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _is_temp_of(name: str, part: str) -> bool:
    return name.startswith(f".{part}.") and name.endswith(".tmp") and "/" not in name and os.sep not in name


def _roll_forward(folder: Path) -> None:
    """Finish a save whose journal was written (the commit point): rename its files into place."""
    journal = folder / JOURNAL
    try:
        plan = json.loads(journal.read_text())
        files = plan["files"]
    except FileNotFoundError:
        return
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{journal} is corrupt ({e}); delete it to keep the previous checkpoint") from e
    bad = [f"{k}: {v}" for k, v in files.items() if k not in _PARTS or not _is_temp_of(str(v), k)]
    if bad:  # a journal only ever renames our own temporaries onto our own file names
        raise CheckpointError(f"{journal} names files it must not touch ({bad}); delete it")
    try:
        for part in _PARTS:
            if part in files and (folder / files[part]).exists():
                os.replace(folder / files[part], folder / part)
        for part in plan.get("remove", []):
            if part in (TRAIN_STATE, LEGACY_TRAIN_STATE):
                (folder / part).unlink(missing_ok=True)
        _fsync_dir(folder)
        journal.unlink(missing_ok=True)
    except PermissionError as e:
        raise CheckpointError(f"{folder} holds an interrupted save that needs write access to finish: {e}") from e


def remove_stale_temporaries(folder: str | Path) -> list[str]:
    """Delete temporaries of saves that crashed before their commit; returns their names. Only for the writer."""
    folder = Path(folder)
    _roll_forward(folder)
    stale = [p for p in folder.glob(".*.tmp")
             if any(_is_temp_of(p.name, part) for part in (*_PARTS, LEGACY_TRAIN_STATE, JOURNAL))]
    for p in stale:
        p.unlink(missing_ok=True)
    return sorted(p.name for p in stale)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel (or compiled) wrapper."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


# ----------------------------------------------------------------------------- training state without pickle
def _pack(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """A nested state (dicts, lists, tuples, numbers, tensors) -> JSON; its tensors go into `tensors`."""
    if isinstance(obj, torch.Tensor):
        key = str(len(tensors))
        tensors[key] = obj.detach().to("cpu").contiguous().clone()  # clone: no shared storage in safetensors
        return {"__tensor__": key}
    if isinstance(obj, tuple):
        return {"__tuple__": [_pack(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_pack(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _pack(v, tensors) for k, v in obj.items()}
        return {"__items__": [[_pack(k, tensors), _pack(v, tensors)] for k, v in obj.items()]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"training state holds a {type(obj).__name__}, which a checkpoint cannot store without pickle")


def _unpack(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_unpack(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__tuple__" in obj:
        return tuple(_unpack(v, tensors) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {_unpack(k, tensors): _unpack(v, tensors) for k, v in obj["__items__"]}
    return {k: _unpack(v, tensors) for k, v in obj.items()}


def _save_train_state(state: dict[str, Any], step: int, path: str) -> None:
    tensors: dict[str, torch.Tensor] = {}
    skeleton = json.dumps(_pack(state, tensors))
    save_file(tensors, path, metadata={"format": STATE_FORMAT, "step": str(step), "state": skeleton})


def load_train_state(path: str | Path) -> dict[str, Any]:
    """The optimizer/scheduler/RNG state saved with a checkpoint, checked to be of the card's step.

    Raises CheckpointError for a missing, corrupt or mixed state and for a pickled `train_state.pt` (refused:
    unpickling a file can run code hidden in it). Called to resume, so it also deletes the temporaries of saves
    that crashed before their commit.
    """
    folder = checkpoint_folder(path)
    remove_stale_temporaries(folder)
    file, card = folder / TRAIN_STATE, read_card(folder)
    if not file.is_file():
        if (folder / LEGACY_TRAIN_STATE).is_file():
            raise CheckpointError(
                f"{folder / LEGACY_TRAIN_STATE} is a pickle (written by an older mqt_lite) and is refused: loading "
                f"a pickle can run any code hidden in it. The weights still load (load_checkpoint), but resuming "
                f"needs the training state: start the run again, or resume it with the mqt_lite version that "
                f"wrote it if you trust where the folder came from.")
        raise CheckpointError(f"{folder} holds weights only (no {TRAIN_STATE}): it cannot be resumed")
    try:
        with safe_open(str(file), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(file))
        state = _unpack(json.loads(meta["state"]), tensors)
    except (SafetensorError, OSError, RuntimeError, KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{file} is corrupt or not an mqt_lite training state ({e})") from e
    if meta.get("format") != STATE_FORMAT or not isinstance(state, dict):
        raise CheckpointError(f"{file} is not an mqt_lite training state (format {meta.get('format')!r})")
    if meta.get("step") != str(card["step"]) or state.get("step") != card["step"]:
        _mixed(folder, card["step"], f"the training state is of step {state.get('step')}")
    if weights_step(folder) not in (None, card["step"]):
        _mixed(folder, card["step"], f"the weights are of step {weights_step(folder)}")
    return state


def _mixed(folder: Path, step: int, what: str) -> None:
    raise CheckpointError(f"{folder} is a mixed checkpoint: its card is of step {step} but {what} (a crash while "
                          f"an older mqt_lite saved it, or files copied from different runs). Resume from a "
                          f"consistent copy, or start again.")


# ----------------------------------------------------------------------------- save and load
def save_checkpoint(directory: str | Path, model: nn.Module, step: int, metrics: dict | None = None,
                    train_state: dict | None = None, **extra: Any) -> Path:
    """Write weights, card (and training state) into `directory` as one atomic step. Returns the folder.

    Without `train_state`, a training state left from an earlier save is removed with the commit (it would
    belong to another step).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(directory)
    model = unwrap(model)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    card = {"format": FORMAT, "config": model.cfg.to_dict(), "step": step, "metrics": metrics or {}, **extra}
    written: dict[str, str] = {}  # a crash before the journal leaves these behind: the next save removes them
    written[WEIGHTS] = _write_temp(directory, WEIGHTS, lambda p: save_file(tensors, p, metadata={"step": str(step)}))
    if train_state is not None:
        written[TRAIN_STATE] = _write_temp(directory, TRAIN_STATE, lambda p: _save_train_state(train_state, step, p))
    written[CARD] = _write_temp(directory, CARD, lambda p: Path(p).write_text(json.dumps(card, indent=2, default=str)))
    plan = {"files": written, "remove": [LEGACY_TRAIN_STATE] + ([TRAIN_STATE] if train_state is None else [])}
    atomic_write(directory / JOURNAL, lambda p: Path(p).write_text(json.dumps(plan)))  # the commit point
    _roll_forward(directory)
    return directory


def checkpoint_folder(path: str | Path) -> Path:
    """The checkpoint folder of `path` (a folder, or a file in one), with a crashed save finished; FileNotFoundError
    naming what is missing unless it holds weights and a card."""
    path = Path(path)
    folder = path.parent if path.suffix in (".json", ".safetensors", ".pt") else path
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder {folder} does not exist" if not folder.exists() else
                                f"{folder} is not a checkpoint folder (it is a file)")
    _roll_forward(folder)  # a save that crashed after its commit: finish it
    missing = [f for f in (CARD, WEIGHTS) if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"no usable checkpoint at {folder}: missing {', '.join(missing)}. A checkpoint folder holds "
            f"{WEIGHTS} and {CARD}, as written by `python -m mqt_lite.train --out DIR`.")
    return folder


def read_card(path: str | Path) -> dict[str, Any]:
    """The JSON card of a checkpoint folder (config, step, metrics)."""
    file = checkpoint_folder(path) / CARD
    try:
        card = json.loads(file.read_text())
        MQTConfig.from_card(card["config"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{file} is corrupt or not an mqt_lite checkpoint card: {e}") from e
    return card


def weights_step(path: str | Path) -> int | None:
    """The step recorded in the weights file (None for weights saved without one, e.g. by other tools)."""
    file = checkpoint_folder(path) / WEIGHTS
    try:
        with safe_open(str(file), framework="pt") as f:
            step = (f.metadata() or {}).get("step")
    except (SafetensorError, OSError, RuntimeError) as e:
        raise CheckpointError(f"{file} is corrupt (cannot be read as safetensors): {e}") from e
    return int(step) if step is not None and step.isdigit() else None


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    file = checkpoint_folder(path) / WEIGHTS
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, RuntimeError) as e:
        raise CheckpointError(f"{file} is corrupt (cannot be read as safetensors): {e}") from e


def load_weights(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load a checkpoint's weights into `model`; a checkpoint of another config raises listing the differences."""
    card = read_card(path)
    model = unwrap(model)
    saved = MQTConfig.from_card(card["config"]).model_dict()
    current = model.cfg.model_dict()
    diff = {k: (saved[k], current[k]) for k in saved if saved[k] != current[k]}
    if diff:
        lines = ", ".join(f"{k}: checkpoint {a!r} vs model {b!r}" for k, (a, b) in diff.items())
        raise CheckpointError(f"checkpoint {path} was made for another model config ({lines})")
    if weights_step(path) not in (None, card["step"]):
        _mixed(checkpoint_folder(path), card["step"], f"the weights are of step {weights_step(path)}")
    state = read_weights(path)
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in set(own) & set(state)
              if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise CheckpointError(f"checkpoint {path} does not fit the model: missing keys {missing[:10]}, "
                              f"unexpected keys {unexpected[:10]}, mismatched shapes {shapes[:10]}")
    model.load_state_dict(state)
    return card


def pretrained_path(name: str) -> Path:
    """Folder of a model bundled with the package (mqt_lite/assets/NAME)."""
    root = Path(str(resources.files("mqt_lite") / "assets"))
    available = sorted(p.name for p in root.iterdir() if (p / CARD).is_file()) if root.is_dir() else []
    if name not in available:
        raise ValueError(f"no bundled model {name!r}; available: {available} (a checkpoint folder is given by its "
                         f"path, e.g. runs/{name} or ./{name})")
    return root / name


def bundled_path(name: str) -> Path | None:
    """The folder of a model bundled with the package under `name`, else None."""
    try:
        return pretrained_path(name)
    except ValueError:
        return None
