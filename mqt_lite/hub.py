"""Load models as the ecosystem does: one loader for every name, and the Hugging Face Hub's layout.

    mqt_lite.from_pretrained("tiny-synthetic")          # bundled with the package, offline
    mqt_lite.from_pretrained("runs/mine")               # a checkpoint folder (or a file in one)
    mqt_lite.from_pretrained("user/mqt-tiny")           # a Hub model repo, downloaded once into the Hub cache
    model.save_pretrained("runs/mine"); model.push_to_hub("user/mqt-tiny")   # writing: mqt_lite/sharing.py
    python -m mqt_lite card mqt_lite/assets/tiny-synthetic       # (re)write a folder's README.md
    python -m mqt_lite card mqt_lite/assets/tiny-rich --evaluation real.json   # store an evaluate --json report too
    python -m mqt_lite push CHECKPOINT USER/REPO                 # upload a checkpoint

A shared model is a folder, or a Hub model repo, of four files (`model.safetensors`, `checkpoint.json`,
`config.json`, `README.md`; sharing.py writes them). `load_checkpoint` builds the model its card describes and
loads the weights; `from_pretrained` (alias `load_pretrained`) finds the folder first. This module sits above the
models; `save_pretrained`, `push_to_hub`, `model_card` and `write_card` live in sharing.py (below them, since the
models inherit `HubMixin`) and are re-exported here.

Why not `huggingface_hub.PyTorchModelHubMixin`: its `from_pretrained` is a classmethod of one class, but here the
checkpoint decides the class (`build_model` picks MultiTaskModel or SingleTaskModel from the config's head), and it
hooks `__new__` of every model to record the constructor's arguments; the layout above is the one it writes, by
hand, with `HfApi.upload_folder` and `snapshot_download` doing the Hub side.
Nothing is downloaded unless the name is a Hub id; with HF_HUB_OFFLINE=1 a Hub id loads from the local cache.
"""
from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import torch
from huggingface_hub import constants, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
from torch import nn

from .checkpoint import CARD, WEIGHTS, bundled_path, checkpoint_folder, load_weights, pretrained_path, read_card
from .config import MQTConfig
from .model import build_model
from .sharing import (CONFIG, LIBRARY, README, HubMixin, add_evaluations, evaluation_command, evaluation_key,
                      model_card, push_to_hub, save_pretrained, write_card)

__all__ = ["ModelNotFoundError", "from_pretrained", "load_pretrained", "load_checkpoint", "download", "is_hub_id",
           "looks_like_path", "save_pretrained", "push_to_hub", "model_card", "write_card", "HubMixin", "CONFIG",
           "README", "add_evaluations", "evaluation_command", "evaluation_key", "main"]
HUB_PREFIX = "hf-hub:"  # timm's spelling of an explicit Hub id; "user/repo" alone works too
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # exactly one slash, as the Hub's repo ids
FILES = (WEIGHTS, CARD, CONFIG, README)  # what a download fetches


class ModelNotFoundError(FileNotFoundError, ValueError):
    """A name that is no folder, no bundled model and no Hub repo that can be reached (or found in the cache).

    Both a FileNotFoundError (nothing to load) and a ValueError (an unknown name), as `load_pretrained` raised.
    """


def is_hub_id(name: str) -> bool:
    """Whether `name` reads as a Hub repo id ("user/repo" or "hf-hub:user/repo") rather than a local path."""
    return name.startswith(HUB_PREFIX) or (HUB_ID.match(name) is not None and not name.startswith("."))


def from_pretrained(name: str | os.PathLike, device: str | torch.device = "cpu", *, revision: str | None = None,
                    cache_dir: str | os.PathLike | None = None, token: str | bool | None = None) -> nn.Module:
    """The one loader: a checkpoint folder, a model bundled with the package, or a Hugging Face Hub id.

    Tried in that order: an existing folder (or a file in one) is loaded as it is; a bundled name
    (`mqt_lite/assets/NAME`) works offline; "user/repo" (or "hf-hub:user/repo") is fetched with
    `huggingface_hub.snapshot_download` into its cache (HF_HUB_CACHE), or read from there with HF_HUB_OFFLINE=1.

    Args:
        name: folder, bundled name or Hub id.
        device: where to put the model.
        revision: Hub branch, tag or commit (Hub ids only).
        cache_dir: Hub cache folder (default: huggingface_hub's, HF_HUB_CACHE).
        token: Hub token for private repos (default: the one `hf auth login` stored).
    Returns:
        the model in eval mode; its card (checkpoint.json plus "path", and "source": `name`) is at `model.card`.
    Raises:
        ModelNotFoundError: nothing of that name here, in the package or (reachable) on the Hub.
    """
    text = str(name)
    bundled = bundled_path(text)
    if Path(text).exists():
        folder = Path(text)
    elif bundled is not None:
        folder = bundled
    elif is_hub_id(text):
        folder = download(text.removeprefix(HUB_PREFIX), revision=revision, cache_dir=cache_dir, token=token)
    elif looks_like_path(text):
        raise ModelNotFoundError(f"checkpoint folder {text} does not exist (a checkpoint folder holds "
                                 "model.safetensors and checkpoint.json, as `python -m mqt_lite.train --out DIR` writes)")
    else:
        raise ModelNotFoundError(f"no model {text!r}: it is no folder here, not a Hugging Face Hub id (user/repo), "
                                 f"and {_why_not_bundled(text)}")
    model = load_checkpoint(folder, device)
    model.card["source"] = text
    return model


def load_pretrained(name: str = "tiny-synthetic", device: str | torch.device = "cpu") -> nn.Module:
    """`from_pretrained` with the bundled model as the default name.

    Args:
        name: a bundled model (see `mqt_lite/assets/`; "tiny-synthetic" is trained on the synthetic world), a
            folder, or a Hugging Face Hub id (downloaded once, then read from the cache).
        device: where to put it.
    """
    return from_pretrained(name, device)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Build the model a checkpoint folder describes and load its weights. The card is at `model.card`."""
    card = read_card(path)
    cfg = MQTConfig.from_card(card["config"])
    model = build_model(cfg.replace(pretrained=False))  # the weights come from the checkpoint
    load_weights(model, path)
    model.card = {**card, "path": str(checkpoint_folder(path))}
    # channels-last: the layout convolutions run fastest in (1.4x on a 256x256 predict on CPU), and the one
    # training uses, so a trained model and its reloaded checkpoint predict bit-identically
    return model.to(device, memory_format=torch.channels_last).eval()


def looks_like_path(name: str) -> bool:
    """An absolute or dotted path, or one with more than one separator: never a bundled name or a Hub id."""
    return os.path.isabs(name) or name.startswith(".") or name.count("/") > 1 or os.sep != "/" and os.sep in name


def _why_not_bundled(name: str) -> str:
    """pretrained_path's message for `name`: it lists the bundled models."""
    try:
        pretrained_path(name)
    except ValueError as e:
        return str(e)
    return f"{name!r} is bundled"


def download(repo_id: str, *, revision: str | None = None, cache_dir: str | os.PathLike | None = None,
             token: str | bool | None = None) -> Path:
    """The local snapshot folder of a Hub model repo (downloaded unless cached; only the cache when offline)."""
    cache = Path(cache_dir or constants.HF_HUB_CACHE)
    try:
        return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, token=token,
                                      allow_patterns=list(FILES), library_name=LIBRARY))
    except LocalEntryNotFoundError as e:
        how = ("HF_HUB_OFFLINE=1 is set, so only the local Hub cache is read; unset it (or set HF_HUB_OFFLINE=0) "
               "to download" if constants.is_offline_mode() else "the Hub could not be reached")
        raise ModelNotFoundError(
            f"Hub model {repo_id!r} is not in the local Hub cache ({cache}, set by HF_HUB_CACHE) and {how}; "
            f"or pass a folder holding {', '.join(FILES[:2])}.") from e
    except HfHubHTTPError as e:  # repo not found, private without a token, revision unknown
        raise ModelNotFoundError(f"Hub model {repo_id!r} cannot be fetched: {e}") from e


def main(argv: list[str] | None = None) -> None:
    """`python -m mqt_lite card FOLDER` | `python -m mqt_lite push CHECKPOINT USER/REPO`."""
    p = argparse.ArgumentParser(prog="python -m mqt_lite", description=main.__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    card = sub.add_parser("card", help="(re)write FOLDER/README.md from FOLDER/checkpoint.json")
    card.add_argument("folder")
    card.add_argument("--name", help="what the card's example loads (default: the bundled name, or a placeholder)")
    card.add_argument("--evaluation", action="append", default=[], metavar="REPORT.json",
                      help="first store this `python -m mqt_lite.evaluate ... --json` report in FOLDER/checkpoint.json "
                           "(one of the same model and measurement is replaced); repeat for several")
    push = sub.add_parser("push", help="upload a checkpoint (folder, bundled name or Hub id) to a Hub repo")
    push.add_argument("checkpoint")
    push.add_argument("repo_id")
    push.add_argument("--private", action="store_true")
    args = p.parse_args(argv)
    if args.command == "card":
        reports = [json.loads(Path(f).read_text()) for f in args.evaluation]
        print(f"wrote {write_card(args.folder, args.name, reports)}")
    else:
        print(push_to_hub(from_pretrained(args.checkpoint), args.repo_id, private=args.private or None))
