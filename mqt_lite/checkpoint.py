"""Checkpoints: safetensors weights + a JSON card (config, step, metrics) + a training-state sidecar.

A checkpoint is a folder:
    model.safetensors   the weights (and the fixed query buffers)
    checkpoint.json     {"config": ..., "step": ..., "metrics": ..., ...}: what the model is and how good it is
    train_state.pt      optimizer, scheduler and RNG states (only needed to resume training)
Every file is written to a temporary name and renamed into place, so a crash never leaves a torn file.
"""
from __future__ import annotations

import json
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .config import MQTConfig

WEIGHTS, CARD, TRAIN_STATE = "model.safetensors", "checkpoint.json", "train_state.pt"
FORMAT = "mqt_lite-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint that exists but cannot be used (corrupt, or made for another model)."""


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) on a temporary file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel (or compiled) wrapper."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def save_checkpoint(directory: str | Path, model: nn.Module, step: int, metrics: dict | None = None,
                    train_state: dict | None = None, **extra: Any) -> Path:
    """Write weights, card (and training state) into `directory` atomically. Returns the folder."""
    directory = Path(directory)
    model = unwrap(model)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write(directory / WEIGHTS, lambda p: save_file(tensors, p))
    if train_state is not None:
        atomic_write(directory / TRAIN_STATE, lambda p: torch.save(train_state, p))
    card = {"format": FORMAT, "config": model.cfg.to_dict(), "step": step, "metrics": metrics or {}, **extra}
    atomic_write(directory / CARD, lambda p: Path(p).write_text(json.dumps(card, indent=2, default=str)))
    return directory


def _folder(path: str | Path) -> Path:
    path = Path(path)
    folder = path.parent if path.suffix in (".json", ".safetensors", ".pt") else path
    missing = [f for f in (CARD, WEIGHTS) if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"no usable checkpoint at {folder}: missing {', '.join(missing)}. A checkpoint folder holds "
            f"{WEIGHTS} and {CARD}, as written by `python -m mqt_lite.train --out DIR`.")
    return folder


def read_card(path: str | Path) -> dict[str, Any]:
    """The JSON card of a checkpoint folder (config, step, metrics)."""
    file = _folder(path) / CARD
    try:
        card = json.loads(file.read_text())
        MQTConfig.from_card(card["config"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{file} is corrupt or not an mqt_lite checkpoint card: {e}") from e
    return card


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    file = _folder(path) / WEIGHTS
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


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Build the model a checkpoint describes and load its weights. The card is at `model.card`."""
    from .model import build_model

    card = read_card(path)
    cfg = MQTConfig.from_card(card["config"])
    model = build_model(cfg.replace(pretrained=False))  # the weights come from the checkpoint
    load_weights(model, path)
    model.card = {**card, "path": str(_folder(path))}
    return model.to(device).eval()


def pretrained_path(name: str) -> Path:
    """Folder of a model bundled with the package (mqt_lite/assets/NAME)."""
    root = Path(str(resources.files("mqt_lite") / "assets"))
    available = sorted(p.name for p in root.iterdir() if (p / CARD).is_file()) if root.is_dir() else []
    if name not in available:
        raise ValueError(f"no bundled model {name!r}; available: {available}")
    return root / name


def load_pretrained(name: str = "tiny-synthetic", device: str | torch.device = "cpu") -> nn.Module:
    """A model by name: bundled with the package (works offline), a checkpoint folder, or a Hub id ("user/repo").

    Args:
        name: a bundled model (see `mqt_lite/assets/`; "tiny-synthetic" is trained on the synthetic world), a
            folder, or a Hugging Face Hub id (downloaded once, then read from the cache): `mqt_lite.hub`.
        device: where to put it.
    """
    from .hub import from_pretrained

    return from_pretrained(name, device)
