"""Share models as the ecosystem does: the Hugging Face Hub layout with a model card (`save_pretrained`,
`push_to_hub`, `HubMixin`); loading them back is `mqt_lite.hub.from_pretrained`.

A shared model is a folder, or a Hub model repo, holding
    model.safetensors   the weights
    checkpoint.json     mqt_lite's card (config, step, metrics, how it was trained): what `load_checkpoint` reads
    config.json         the model config alone: the file the Hub and `huggingface_hub` tools look for
    README.md           the model card: YAML metadata (licence, preset, tasks, data, metrics, command) and text

This module sits below the models (they inherit `HubMixin`), so it only writes; `hub.py` (above the models)
loads, and re-exports what is here.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, ModelCardData
from safetensors.torch import save_file
from torch import nn

from .checkpoint import CARD, FORMAT, WEIGHTS, bundled_path, read_card, unwrap
from .tasks import TASKS

CONFIG = "config.json"
README = "README.md"
LIBRARY = "mqt_lite"
PAPER = ('the paper "Multi-Task Learning with Multi-Query Transformer for Dense Prediction" by Xu et al.; '
         "official code: https://github.com/yangyangxu0/MQTransformer")
DATASETS = {"synthetic": "the synthetic world of mqt_lite.data.make_synthetic", "nyud": "NYUD-v2 (NYUD_MT)",
            "pascal": "PASCAL-Context (PASCAL_MT)"}
METRIC_DECIMALS = 4


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
    model = unwrap(model)  # DistributedDataParallel, torch.compile
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
        """See `mqt_lite.sharing.save_pretrained`."""
        return save_pretrained(self, directory, **kwargs)

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> str:
        """See `mqt_lite.sharing.push_to_hub`."""
        return push_to_hub(self, repo_id, **kwargs)


# ----------------------------------------------------------------------------- model card
def model_card(card: dict[str, Any], name: str | None = None) -> str:
    """README.md of a model from its checkpoint.json card: YAML metadata for the Hub, then the text.

    Deterministic (a function of the card and `name` only), so a committed card can be checked against it.

    Args:
        card: the checkpoint.json content (config, step, metrics, trained_with, trained_on, metrics_split).
        name: what the usage example passes to `from_pretrained` (default: "path/to/this/folder").
    """
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
    arrow = {True: "↓", False: "↑"}  # lower / higher is better
    rows = "\n".join(f"| {TASKS[t].title} | {m['metric']} {arrow[m['lower_is_better']]} | {m['value']:.2f} |"
                     for t, m in metrics.items())
    text = _card_text(card, name or "path/to/this/folder", data, command, split, rows)
    return f"---\n{meta.to_yaml()}\n---\n{text}"


def _card_text(card: dict[str, Any], load: str, data: str, command: str, split: str, rows: str) -> str:
    """The model card's text below its metadata: what it is, how to use it, its training, results and files."""
    cfg, tasks = card["config"], list(card["config"]["tasks"])
    return f"""
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
    folder = Path(folder)
    bundled = bundled_path(folder.resolve().name)
    if name is None and bundled is not None and bundled.resolve() == folder.resolve():
        name = folder.resolve().name
    path = folder / README
    path.write_text(model_card(read_card(folder), name))
    return path
