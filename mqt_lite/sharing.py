"""Share models as the ecosystem does: the Hugging Face Hub layout with a model card (`save_pretrained`,
`push_to_hub`, `HubMixin`); loading them back is `mqt_lite.hub.from_pretrained`.

A shared model is a folder, or a Hub model repo, holding
    model.safetensors   the weights
    checkpoint.json     mqt_lite's card (config, step, metrics, how it was trained): what `load_checkpoint` reads
    config.json         the model config alone: the file the Hub and `huggingface_hub` tools look for
    README.md           the model card: YAML metadata (licence, preset, tasks, data, metrics, command) and text

A card may also hold `evaluations`: the reports of `python -m mqt_lite.evaluate --json` (real photos with `--real`,
a synthetic world with `--world`; of this model, or of another bundled model to compare with) that
`python -m mqt_lite card FOLDER --evaluation REPORT.json` stored there, and `limitations`, sentences written by
whoever measured them. The model card shows both, every number with the command that prints it.

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
from .config import world_of
from .tasks import TASKS

CONFIG = "config.json"
README = "README.md"
LIBRARY = "mqt_lite"
PAPER = ('the paper "Multi-Task Learning with Multi-Query Transformer for Dense Prediction" by Xu et al.; '
         "official code: https://github.com/yangyangxu0/MQTransformer")
DATASETS = {"synthetic": "the synthetic world of mqt_lite.data.make_synthetic", "nyud": "NYUD-v2 (NYUD_MT)",
            "pascal": "PASCAL-Context (PASCAL_MT)"}
RICH_WORLD = "the rich synthetic world of mqt_lite.data.rich (domain randomisation for real photos)"
METRIC_DECIMALS = 4
EVALUATE = "python -m mqt_lite.evaluate --checkpoint"
REAL_MEASURES = (("spearman", "Spearman ↑"), ("absrel", "AbsRel ↓"), ("rmse", "RMSE m ↓"), ("delta1", "δ<1.25 ↑"),
                 ("vs_prior", "Spearman with the row prior"))


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
    rich = world_of(cfg) == "rich"
    data = card.get("trained_on") or (RICH_WORLD if rich else DATASETS.get(cfg["dataset"], cfg["dataset"]))
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
    load = name or "path/to/this/folder"
    text = _card_text(card, load, data, command, split, rows)
    if card.get("evaluations") or card.get("limitations"):
        text = text.replace("\n## Files\n", f"{_evaluations_text(card, load)}\n## Files\n", 1)
    return f"---\n{meta.to_yaml()}\n---\n{text}"


# ----------------------------------------------------------------------------- stored evaluations
def evaluation_key(report: dict[str, Any]) -> tuple[str, str]:
    """(preset, what was measured: "real" or "synthetic-WORLD" / the dataset) of an `evaluate --json` report."""
    if "images" in report:
        return report["preset"], "real"
    world = world_of(report)
    return report["preset"], f"synthetic-{world}" if world else report.get("dataset", "?")


def evaluation_command(report: dict[str, Any], preset: str, load: str) -> str:
    """The command that prints `report` again (this model loaded as `load`; another preset by its bundled name)."""
    who, what = evaluation_key(report)
    flags = " --real" if what == "real" else f" --world {what.removeprefix('synthetic-')}" \
        if what.startswith("synthetic-") else f" --data {what}"
    return f"{EVALUATE} {load if who == preset else who}{flags}" + (" --trivial" if "trivial" in report else "")


def add_evaluations(card: dict[str, Any], reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The card with `reports` (`evaluate --json` output) stored under "evaluations", each replacing a stored one of
    the same `evaluation_key`; the machine-specific checkpoint path is dropped."""
    stored = {evaluation_key(r): r for r in card.get("evaluations", [])}
    for r in reports:
        stored[evaluation_key(r)] = {k: v for k, v in r.items() if k != "checkpoint"}
    return {**card, "evaluations": list(stored.values())}


def _two_places(value: float) -> str:
    """A metric as the results table shows it (rounded to METRIC_DECIMALS first), with three places below 1."""
    value = round(float(value), METRIC_DECIMALS)
    return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"


def _evaluations_text(card: dict[str, Any], load: str) -> str:
    """The card's sections on stored evaluations: real photos, then synthetic worlds side by side, then limitations."""
    preset = card["config"]["name"]
    reports = card.get("evaluations", [])
    real = [r for r in reports if evaluation_key(r)[1] == "real"]
    synthetic = [r for r in reports if evaluation_key(r)[1] != "real"]
    out = []
    if real:
        head = "| image | predictor | " + " | ".join(h for _, h in REAL_MEASURES) + " |"
        lines = ["## Real photos: zero-shot depth", "",
                 "Depth ranked (Spearman) and, after a least-squares scale and shift of inverse depth (the MiDaS "
                 "protocol), its errors; the row prior is \"higher in the image is farther\" scored the same way. The "
                 "last column says how much of a ranking is that prior's (1: all of it).", "",
                 head, "|---|---|" + "---|" * len(REAL_MEASURES)]
        this = sorted(real, key=lambda r: r["preset"] != preset)  # this model first
        for image in this[0]["images"]:
            rows = [(f"{r['preset']}" + (" (this model)" if r["preset"] == preset else ""), r, "model") for r in this]
            rows.insert(1, ("row prior", this[0], "row_prior"))
            for label, r, who in rows:
                scores = r["images"].get(image, {}).get(who)
                if scores:
                    lines.append(f"| {image} | {label} | " + " | ".join(
                        f"{scores[k]:.4f}" if k in scores else "-" for k, _ in REAL_MEASURES) + " |")
        lines += ["", "Printed by " + ", ".join(f"`{evaluation_command(r, preset, load)}`" for r in this) + "."]
        out.append("\n".join(lines))
    if synthetic:
        own = evaluation_key({"synthetic_world": "classic", **card["config"], "preset": preset})[1]  # trained on
        ordered = sorted(synthetic, key=lambda r: (r["preset"] != preset, evaluation_key(r)[1] != own,
                                                   evaluation_key(r)[1]))
        cols = [f"{r['preset']}, {evaluation_key(r)[1].removeprefix('synthetic-')} val" for r in ordered]
        tasks = [t for t in TASKS if any(t in r["headline"] for r in ordered)]
        lines = ["## Synthetic validation scenes", "", "| task | metric | " + " | ".join(cols) + " |",
                 "|---|---|" + "---|" * len(cols)]
        for t in tasks:
            arrow = "↓" if TASKS[t].lower_is_better else "↑"
            values = " | ".join(_two_places(r["headline"][t]) if t in r["headline"] else "-" for r in ordered)
            lines.append(f"| {TASKS[t].title} | {TASKS[t].metric} {arrow} | {values} |")
        lines += ["", "Columns printed by, in order: " +
                  ", ".join(f"`{evaluation_command(r, preset, load)}`" for r in ordered) + "."]
        out.append("\n".join(lines))
    if card.get("limitations"):
        out.append("## What it gets right and wrong\n\n" + "\n".join(f"- {x}" for x in card["limitations"]))
    return "\n" + "\n\n".join(out) + "\n"


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


def write_card(folder: str | os.PathLike, name: str | None = None,
               evaluations: list[dict[str, Any]] | None = None) -> Path:
    """(Re)write `folder`/README.md from its checkpoint.json (a bundled folder's card loads it by its name), after
    storing `evaluations` (`evaluate --json` reports, see `add_evaluations`) in that checkpoint.json."""
    folder = Path(folder)
    if evaluations:
        card = add_evaluations(read_card(folder), evaluations)
        _replace(folder / CARD, lambda tmp: Path(tmp).write_text(json.dumps(card, indent=2, default=str) + "\n"))
    bundled = bundled_path(folder.resolve().name)
    if name is None and bundled is not None and bundled.resolve() == folder.resolve():
        name = folder.resolve().name
    path = folder / README
    path.write_text(model_card(read_card(folder), name))
    return path
