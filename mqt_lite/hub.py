"""Share and load models as the ecosystem does: the Hugging Face Hub layout, one loader for every name, model cards.

A shared model is a folder, or a Hub model repo, holding
    model.safetensors   the weights
    checkpoint.json     mqt_lite's card (config, step, metrics, how it was trained): what `load_checkpoint` reads
    config.json         the model config alone: the file the Hub and `huggingface_hub` tools look for
    README.md           the model card: YAML metadata (licence, preset, tasks, data, metrics, command) and text

    model.save_pretrained("runs/mine")                  # the four files
    model.push_to_hub("user/mqt-tiny")                  # the same files, one commit
    mqt_lite.from_pretrained("user/mqt-tiny")           # or a folder, or a bundled name ("tiny-synthetic")
    python -m mqt_lite card mqt_lite/assets/tiny-synthetic       # (re)write a folder's README.md

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
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

CONFIG = "config.json"
README = "README.md"
HUB_PREFIX = "hf-hub:"  # timm's spelling of an explicit Hub id; "user/repo" alone works too
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # exactly one slash, as the Hub's repo ids
LIBRARY = "mqt_lite"
PAPER = ('the paper "Multi-Task Learning with Multi-Query Transformer for Dense Prediction" by Xu et al.; '
         "official code: https://github.com/yangyangxu0/MQTransformer")
DATASETS = {"synthetic": "the synthetic world of mqt_lite.data.make_synthetic", "nyud": "NYUD-v2 (NYUD_MT)",
            "pascal": "PASCAL-Context (PASCAL_MT)"}
METRIC_DECIMALS = 4


class ModelNotFoundError(FileNotFoundError, ValueError):
    """A name that is no folder, no bundled model and no Hub repo that can be reached (or found in the cache).

    Both a FileNotFoundError (nothing to load) and a ValueError (an unknown name), as `load_pretrained` raised.
    """


def _files() -> tuple[str, ...]:
    from .checkpoint import CARD, WEIGHTS

    return WEIGHTS, CARD, CONFIG, README


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
    from .checkpoint import load_checkpoint

    text = str(name)
    bundled = _bundled(text)
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


def looks_like_path(name: str) -> bool:
    """An absolute or dotted path, or one with more than one separator: never a bundled name or a Hub id."""
    return os.path.isabs(name) or name.startswith(".") or name.count("/") > 1 or os.sep != "/" and os.sep in name


def _bundled(name: str) -> Path | None:
    """The folder of a model bundled with the package under `name`, else None."""
    from .checkpoint import pretrained_path

    try:
        return pretrained_path(name)
    except ValueError:
        return None


def _why_not_bundled(name: str) -> str:
    """pretrained_path's message for `name`: it lists the bundled models."""
    from .checkpoint import pretrained_path

    try:
        pretrained_path(name)
    except ValueError as e:
        return str(e)
    return f"{name!r} is bundled"


def download(repo_id: str, *, revision: str | None = None, cache_dir: str | os.PathLike | None = None,
             token: str | bool | None = None) -> Path:
    """The local snapshot folder of a Hub model repo (downloaded unless cached; only the cache when offline)."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    cache = Path(cache_dir or constants.HF_HUB_CACHE)
    try:
        return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, token=token,
                                      allow_patterns=list(_files()), library_name=LIBRARY))
    except LocalEntryNotFoundError as e:
        how = ("HF_HUB_OFFLINE=1 is set, so only the local Hub cache is read; unset it (or set HF_HUB_OFFLINE=0) "
               "to download" if constants.is_offline_mode() else "the Hub could not be reached")
        raise ModelNotFoundError(
            f"Hub model {repo_id!r} is not in the local Hub cache ({cache}, set by HF_HUB_CACHE) and {how}; "
            f"or pass a folder holding {', '.join(_files()[:2])}.") from e
    except HfHubHTTPError as e:  # repo not found, private without a token, revision unknown
        raise ModelNotFoundError(f"Hub model {repo_id!r} cannot be fetched: {e}") from e


# ----------------------------------------------------------------------------- writing
def save_pretrained(model: nn.Module, directory: str | os.PathLike, *, name: str | None = None,
                    **card: Any) -> Path:
    """Write the shared layout (weights, checkpoint.json, config.json, README.md) into `directory`.

    Args:
        model: a model of this package (its `.cfg`; `.card` too when it was loaded, so step, metrics and the
            training command carry over).
        directory: the folder (created; the four files are replaced one by one via temporary files).
        name: how the card's usage example loads it (a Hub id; default: "path/to/this/folder").
        card: checkpoint.json fields to set, e.g. `metrics={...}`, `step=900`, `trained_with="python -m ..."`.
    """
    from safetensors.torch import save_file

    from .checkpoint import CARD, FORMAT, WEIGHTS

    model = getattr(model, "module", model)  # DistributedDataParallel
    model = getattr(model, "_orig_mod", model)  # torch.compile
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    inherited = {k: v for k, v in getattr(model, "card", {}).items() if k not in ("path", "source")}
    full = {"format": FORMAT, "step": 0, "metrics": {}, **inherited, "config": model.cfg.to_dict(), **card}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    _replace(folder / WEIGHTS, lambda tmp: save_file(tensors, tmp))
    _replace(folder / CARD, lambda tmp: Path(tmp).write_text(json.dumps(full, indent=2, default=str)))
    _replace(folder / CONFIG, lambda tmp: Path(tmp).write_text(json.dumps(full["config"], indent=2)))
    _replace(folder / README, lambda tmp: Path(tmp).write_text(model_card(full, name)))
    return folder


def _replace(path: Path, write) -> None:
    """write(tmp) beside `path`, then rename it over `path` (a crash leaves the old file or the new one)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def push_to_hub(model: nn.Module, repo_id: str, *, private: bool | None = None, token: str | None = None,
                commit_message: str = "Upload mqt_lite model", revision: str | None = None, **card: Any) -> str:
    """Create (or reuse) the Hub model repo and upload the shared layout in one commit; returns the commit URL.

    Args:
        model: as for `save_pretrained`.
        repo_id: "user/repo".
        private: create the repo private (default: the account's default).
        token: Hub token (default: the one `hf auth login` stored).
        commit_message: the commit's message.
        revision: the branch to push to (default: main).
        card: checkpoint.json fields, as for `save_pretrained`.
    """
    from huggingface_hub import HfApi

    api = HfApi(token=token, library_name=LIBRARY)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_pretrained(model, tmp, name=repo_id, **card)
        commit = api.upload_folder(repo_id=repo_id, folder_path=folder, repo_type="model",
                                   commit_message=commit_message, revision=revision)
    return str(getattr(commit, "commit_url", commit))


class HubMixin:
    """`save_pretrained` and `push_to_hub` as model methods (the models of this package inherit them)."""

    def save_pretrained(self, directory: str | os.PathLike, **kwargs: Any) -> Path:
        """See `mqt_lite.hub.save_pretrained`."""
        return save_pretrained(self, directory, **kwargs)

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> str:
        """See `mqt_lite.hub.push_to_hub`."""
        return push_to_hub(self, repo_id, **kwargs)


# ----------------------------------------------------------------------------- model card
def model_card(card: dict[str, Any], name: str | None = None) -> str:
    """README.md of a model from its checkpoint.json card: YAML metadata for the Hub, then the text.

    Deterministic (a function of the card and `name` only), so a committed card can be checked against it.

    Args:
        card: the checkpoint.json content (config, step, metrics, trained_with, trained_on, metrics_split).
        name: what the usage example passes to `from_pretrained` (default: "path/to/this/folder").
    """
    from huggingface_hub import ModelCardData

    from .tasks import TASKS

    cfg = card["config"]
    tasks = list(cfg["tasks"])
    data = card.get("trained_on") or DATASETS.get(cfg["dataset"], cfg["dataset"])
    command = card.get("trained_with", "not recorded")
    metrics = {t: {"metric": TASKS[t].metric, "value": round(float(v), METRIC_DECIMALS),
                   "lower_is_better": TASKS[t].lower_is_better} for t, v in card.get("metrics", {}).items()}
    split = card.get("metrics_split", "the validation split")
    meta = ModelCardData(license="mit", library_name=LIBRARY,
                         tags=["mqt_lite", "mqtransformer", "multi-task-learning", "dense-prediction", "pytorch"],
                         preset=cfg["name"], tasks=tasks, training_data=data, trained_with=command,
                         step=card.get("step"), metrics_split=split, results=metrics)
    load = name or "path/to/this/folder"
    arrow = {True: "↓", False: "↑"}  # lower / higher is better
    rows = "\n".join(f"| {TASKS[t].title} | {m['metric']} {arrow[m['lower_is_better']]} | {m['value']:.2f} |"
                     for t, m in metrics.items())
    return f"""---
{meta.to_yaml()}
---

# mqt_lite: {cfg['name']}

An MQTransformer (Multi-Query Transformer) for multi-task dense prediction, as in {PAPER}.
Built and trained with mqt_lite; one network predicts {', '.join(TASKS[t].title.lower() for t in tasks)}.
Backbone `{cfg['backbone']}`, head `{cfg['head']}`, {cfg['num_queries']} queries per task, width {cfg['dim']},
input {cfg['image_size'][0]}x{cfg['image_size'][1]}.

## Use

```python
import mqt_lite
model = mqt_lite.from_pretrained("{load}")  # a Hub id, a folder holding these files, or a bundled name
predictions = model.predict(image)  # {{task: numpy array}} for one RGB image
```

`python app.py --checkpoint {load}` opens the demo; `python -m mqt_lite.evaluate --checkpoint {load}` scores it.

## Training

- data: {data}
- command: `{command}`
- steps: {card.get('step')} (batch {cfg['batch_size']}, {cfg['optimizer']}, learning rate {cfg['lr']})

## Results

On {split}:

| task | metric | value |
|---|---|---|
{rows}

## Files

`model.safetensors` (weights), `checkpoint.json` (config, step, metrics: what mqt_lite reads), `config.json`
(the config alone), `README.md` (this card, written by `python -m mqt_lite card FOLDER`).

## Licence

MIT.
"""


def write_card(folder: str | os.PathLike, name: str | None = None) -> Path:
    """(Re)write `folder`/README.md from its checkpoint.json (a bundled folder's card loads it by its name)."""
    from .checkpoint import read_card

    folder = Path(folder)
    bundled = _bundled(folder.resolve().name)
    if name is None and bundled is not None and bundled.resolve() == folder.resolve():
        name = folder.resolve().name
    path = folder / README
    path.write_text(model_card(read_card(folder), name))
    return path


def main(argv: list[str] | None = None) -> None:
    """`python -m mqt_lite card FOLDER` | `python -m mqt_lite push CHECKPOINT USER/REPO`."""
    p = argparse.ArgumentParser(prog="python -m mqt_lite", description=main.__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    card = sub.add_parser("card", help="(re)write FOLDER/README.md from FOLDER/checkpoint.json")
    card.add_argument("folder")
    card.add_argument("--name", help="what the card's example loads (default: the bundled name, or a placeholder)")
    push = sub.add_parser("push", help="upload a checkpoint (folder, bundled name or Hub id) to a Hub repo")
    push.add_argument("checkpoint")
    push.add_argument("repo_id")
    push.add_argument("--private", action="store_true")
    args = p.parse_args(argv)
    if args.command == "card":
        print(f"wrote {write_card(args.folder, args.name)}")
    else:
        print(push_to_hub(from_pretrained(args.checkpoint), args.repo_id, private=args.private or None))
