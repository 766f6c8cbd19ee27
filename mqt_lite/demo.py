"""The demo's functions (`python app.py`): intake of whatever a visitor sends, one handler per UI event, and the
bounded cache of results between events. `app.py` lays out the Gradio page and wires these in; `python -m
mqt_lite.bench app` times them.

Needs the `app` extra (gradio): the handlers answer with `gr.update` and show problems as `gr.Warning` toasts.
The model's side is the package's: `model.predict` makes the task maps, `Task.colourise` colours them,
`mqt_lite.metrics` scores a synthetic scene against its ground truth, `mqt_lite.attention_maps` draws the
attention view, `mqt_lite.imageio` decodes images within a memory budget.
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from . import attention_maps as am
from . import imageio
from .config import world_of
from .data import render_scene
from .data.real import load_photo
from .metrics import make_metrics
from .tasks import TASKS

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no calls out at start
import gradio as gr  # noqa: E402  (gradio: the `app` extra)

MAX_SIDE = 1024  # larger images are downscaled to this long side before predicting
SMALL_SIDE = 16  # below this the demo says predictions will be coarse
SCENE_SIZE = 256  # side of the synthetic scenes made by "New random scene" and the examples
MAX_SEED = 2 ** 31 - 1
SEED_KEY = "mqt_lite_scene_seed"  # PNG text chunk holding a synthetic scene's seed
WORLD_KEY = "mqt_lite_scene_world"  # and the synthetic world it was rendered in (absent: classic)
DEFAULT_MODEL = "tiny-synthetic"  # what `python app.py` serves; tiny-rich is not clearly better on photos (README)
CONCURRENCY = 2  # requests served at once per event (the model in eval mode is thread-safe for forward)
QUEUE_SIZE = 8  # requests waiting beyond these; more are answered "queue is full, try again" (HTTP 503)
RESULT_CACHE_BYTES = 256 * 2 ** 20  # the last results kept for the ground-truth and attention views
OK_MARK, WARN_MARK = "✓", "⚠"  # plain symbols: they render without an emoji font
TRAINED_ON = {
    "synthetic": "the **synthetic world** of `mqt_lite.data.synthetic` (procedural rooms with boxes, spheres, "
                 "cylinders and cones). It has never seen a real photo: expect nonsense on camera images",
    "synthetic-rich": "the **rich synthetic world** of `mqt_lite.data.rich` (furnished rooms textured with real "
                      "photographs, random cameras, lamps and camera noise), made for zero-shot transfer. It has "
                      "never seen a labelled real photo: on photos its maps are a guess (the model card says how good)",
    "nyud": "**NYUD-v2** (real indoor photos, 40 classes)",
    "pascal": "**PASCAL-Context** (real photos, 21 classes and human parts)",
}
BETTER = {True: "lower", False: "higher"}  # by Task.lower_is_better


def trained_on(cfg: Any) -> str:
    """Markdown: what a model of this config was trained on (TRAINED_ON by dataset, and synthetic world)."""
    world = world_of(cfg)
    key = f"synthetic-{world}" if world not in (None, "classic") else cfg.dataset
    return TRAINED_ON.get(key, TRAINED_ON.get(cfg.dataset, cfg.dataset))


class InputError(ValueError):
    """An input the demo cannot use; the message is shown to the user."""


@dataclass
class Loaded:
    """A decoded input image and what was done to it."""

    rgb: np.ndarray  # (H, W, 3) uint8
    notes: list[str] = field(default_factory=list)
    seed: int | None = None  # the synthetic scene the image says it is
    world: str = "classic"  # and its synthetic world


def load_image(value: Any) -> Loaded:
    """Anything a user or client can send (path, gr.Image payload, PIL image, array) -> RGB uint8.

    Decoded by `imageio.decode`: EXIF orientation applied, transparent pixels on white, images larger than
    MAX_SIDE downscaled, files within `imageio.DECODE_BUDGET` (header first, then a reduced decode). Raises
    InputError with a readable message for anything that is not a usable image.
    """
    if isinstance(value, dict):  # gr.Image payload (the events run with preprocess=False)
        value = value.get("path")
    if value is None:
        raise InputError("No image yet: upload one, use the webcam, pick an example or press 'New random scene'.")
    if isinstance(value, (str, Path)):
        image = _decode_file(Path(value))
    else:
        try:
            image = imageio.decode(value, MAX_SIDE)
        except (ValueError, TypeError) as e:
            raise InputError(f"Not a usable image: {e}") from None
    notes = ["Rotated upright as its EXIF orientation says."] if image.rotated else []
    notes += ["Transparent pixels are shown on white."] if image.transparent else []
    text = image.text.get(SEED_KEY, "")  # the seed `save_scene` stores in a synthetic scene's PNG
    H, W = image.rgb.shape[:2]
    return Loaded(image.rgb, notes + _size_notes(image.size, (W, H)), int(text) if text.isdigit() else None,
                  image.text.get(WORLD_KEY, "classic"))


def _decode_file(path: Path) -> imageio.Decoded:
    """An image file, decoded within the memory budget; InputError naming the file otherwise."""
    name = path.name
    if not path.is_file():
        raise InputError(f"'{path}' is not a file.")
    try:
        return imageio.decode(path, MAX_SIDE)
    except imageio.ImageTooLarge as e:
        raise InputError(f"'{name}' is too large: {e}") from None
    except Image.DecompressionBombError as e:
        raise InputError(f"'{name}' has too many pixels to decode safely ({e}).") from None
    except UnidentifiedImageError:
        raise InputError(f"'{name}' is not an image file that can be read (PNG, JPEG, WebP, TIFF, ...).") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"'{name}' could not be decoded; is it truncated or corrupt? ({e})") from None


def _size_notes(original: tuple[int, int], size: tuple[int, int]) -> list[str]:
    if original != size:
        return [f"The {original[0]}×{original[1]} image was downscaled to {size[0]}×{size[1]} "
                f"(at most {MAX_SIDE} px a side)."]
    if min(size) < SMALL_SIDE:
        return [f"The image is only {size[0]}×{size[1]} pixels: the predictions will be coarse."]
    return []


def save_scene(folder: Path, seed: int, size: int = SCENE_SIZE, world: str = "classic") -> Path:
    """Render synthetic scene `seed` of `world` and save it as a PNG that remembers its seed and world."""
    path = folder / (f"scene-{seed}-{size}.png" if world == "classic" else f"scene-{world}-{seed}-{size}.png")
    if not path.exists():
        info = PngImagePlugin.PngInfo()
        info.add_text(SEED_KEY, str(seed))
        if world != "classic":
            info.add_text(WORLD_KEY, world)
        Image.fromarray(render_scene(seed, size, world=world)["image"]).save(path, pnginfo=info)
    return path


def save_photo(folder: Path, name: str) -> Path:
    """A real photo of `data.real.PHOTOS` (from the installed scikit-image wheel) as a PNG in `folder`, for the
    gallery: served from the demo's own temporary folder, like the synthetic examples."""
    path = folder / f"photo-{name}.png"
    if not path.exists():
        Image.fromarray(load_photo(name)).save(path)
    return path


def as_target(array: np.ndarray) -> torch.Tensor:
    """A ground-truth map as the metrics take it: labels (1, H, W) int64, maps (1, 1, H, W), vectors (1, 3, H, W)."""
    x = torch.from_numpy(np.ascontiguousarray(array))
    return x.long()[None] if not x.is_floating_point() else x.view(1, -1, *x.shape[-2:])


def configure_threads() -> int:
    """Torch threads per request such that CONCURRENCY requests share the cores without oversubscription
    (spinning OpenMP threads on busy cores made predictions 5x slower here). Returns the count."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = max(1, cores // CONCURRENCY)
    torch.set_num_threads(threads)
    return threads


def model_card(model: torch.nn.Module) -> str:
    """Markdown: what the model is, what it was trained on and how good it was on validation."""
    cfg, card = model.cfg, getattr(model, "card", None)
    lines = [f"**Model** `{cfg.name}`: {cfg.backbone} backbone, `{cfg.head}` head, tasks "
             f"{', '.join(TASKS[t].title for t in cfg.tasks)}; works at {cfg.image_size[0]}×{cfg.image_size[1]}.",
             f"**Trained on** {trained_on(cfg)}.",
             "**Weights** random (untrained): the predictions mean nothing." if card is None else
             f"**Checkpoint** `{card.get('path', '?')}`, step {card.get('step', '?')}."]
    metrics = (card or {}).get("metrics") or {}
    rows = [f"| {TASKS[t].title} | {TASKS[t].metric} | {v:.4g} | {BETTER[TASKS[t].lower_is_better]} |"
            for t, v in metrics.items() if t in TASKS]
    if rows:
        lines.append("**Validation metrics**\n\n| task | metric | value | better |\n|---|---|---|---|\n"
                     + "\n".join(rows))
    for report in (card or {}).get("evaluations", []):  # stored by `python -m mqt_lite card --evaluation`
        if report.get("preset") == cfg.name and "mean" in report:
            ours, prior = report["mean"]["model"], report["mean"]["row_prior"]
            lines.append(f"**Real photos** ({', '.join(report['images'])}; zero-shot depth): Spearman "
                         f"{ours['spearman']:.3f} against {prior['spearman']:.3f} for the prior 'higher in the "
                         f"image is farther'; after scale-and-shift alignment AbsRel {ours['absrel']:.3f} "
                         f"(prior {prior['absrel']:.3f}).")
    return "\n\n".join(lines)


def _nbytes(value: Any) -> int:
    """Bytes held by the arrays and tensors in a (nested) value."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    return _nbytes(vars(value)) if hasattr(value, "__dict__") else 0


class ResultCache:
    """The latest results (decoded image, predictions, attention), least recently used evicted first, within
    `max_bytes`. A session's gr.State holds only its key, so memory does not grow with sessions or image sizes."""

    def __init__(self, max_bytes: int = RESULT_CACHE_BYTES) -> None:
        self.max_bytes, self.nbytes = max_bytes, 0
        self._items: OrderedDict[str, tuple[dict, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, value: dict) -> str:
        """Store a result; returns its key."""
        key = secrets.token_urlsafe(12)
        self._store(key, value)
        return key

    def get(self, key: Any) -> dict | None:
        """The result of a key, or None when there is none (evicted, or never stored)."""
        with self._lock:
            if not isinstance(key, str) or key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key][0]

    def update(self, key: str, value: dict) -> None:
        """Store a result again after it grew (e.g. its attention was computed)."""
        self._store(key, value)

    def _store(self, key: str, value: dict) -> None:
        size = _nbytes(value)
        with self._lock:
            if key in self._items:
                self.nbytes -= self._items.pop(key)[1]
            while self._items and self.nbytes + size > self.max_bytes:
                self.nbytes -= self._items.popitem(last=False)[1][1]
            self._items[key] = (value, size)
            self.nbytes += size


class DemoApp:
    """The demo's functions, one per UI event; testable without a server."""

    def __init__(self, model: torch.nn.Module, cache_bytes: int = RESULT_CACHE_BYTES) -> None:
        self.model = model.eval()
        self.results = ResultCache(cache_bytes)  # what the ground-truth and attention views need, by key
        self.dataset, self.tasks = model.cfg.dataset, tuple(model.cfg.tasks)
        self.world = getattr(model.cfg, "synthetic_world", "classic")  # of "New random scene" and the examples
        self.has_attention = getattr(model, "mqt", None) is not None
        self.scene_dir = Path(tempfile.mkdtemp(prefix="mqt_lite_scenes_"))  # examples and random scenes
        weakref.finalize(self, shutil.rmtree, self.scene_dir, ignore_errors=True)

    def predict(self, image: Any) -> tuple:
        """/predict: one image -> each task's colourised map (task order), a status message, the session state
        (the key of the result in `self.results`). Bad inputs give a message (and a gr.Warning toast), never
        an exception."""
        empty = (None,) * len(self.tasks)
        try:
            loaded = load_image(image)
            start = time.perf_counter()
            with torch.inference_mode():
                preds = self.model.predict(loaded.rgb)
            ms = (time.perf_counter() - start) * 1000
        except InputError as e:
            if image is not None:
                gr.Warning(str(e))
            return (*empty, f"{WARN_MARK} {e}", None)
        except Exception as e:  # the UI boundary: report, keep serving
            logging.getLogger(__name__).exception("prediction failed")
            gr.Warning(f"Prediction failed: {e}")
            return (*empty, f"{WARN_MARK} Prediction failed ({type(e).__name__}: {e}).", None)
        maps = tuple(TASKS[t].colourise(preds[t], self.dataset) for t in self.tasks)
        H, W = loaded.rgb.shape[:2]
        status = [f"{OK_MARK} {len(self.tasks)} tasks predicted for a {W}×{H} image in {ms:.0f} ms.", *loaded.notes]
        key = self.results.put({"loaded": loaded, "preds": preds, "attention": None})
        return (*maps, "\n\n".join(status), key)

    def _truth(self, loaded: Loaded) -> dict[str, np.ndarray] | None:
        """The ground truth of a synthetic scene that renders to exactly this image, else None."""
        if loaded.seed is None or self.dataset != "synthetic":
            return None
        scene = render_scene(loaded.seed, loaded.rgb.shape[:2], world=loaded.world)
        return scene if np.array_equal(scene["image"], loaded.rgb) else None  # else: edited, or another renderer

    def compare(self, key: str | None) -> tuple:
        """Ground-truth images and the per-image metrics table, shown only for synthetic scenes."""
        state = self.results.get(key)
        truth = self._truth(state["loaded"]) if state else None
        if truth is None:
            return (*[gr.update(value=None, visible=False)] * len(self.tasks), gr.update(value=None, visible=False))
        preds, images, rows = state["preds"], [], []
        for t, metric in make_metrics(self.tasks, self.dataset).items():
            task = TASKS[t]  # the ground truth is coloured on the prediction's scale (depth: its range)
            images.append(gr.update(value=task.colourise(truth[t], self.dataset, **task.colour_range(preds[t])),
                                    visible=True))
            metric.update(preds[t][None], as_target(truth[t]))
            value = metric.compute()
            rows.append([task.title, task.metric, "n/a" if np.isnan(value) else f"{value:.2f}",
                         BETTER[task.lower_is_better]])
        world = "" if state["loaded"].world == "classic" else f"{state['loaded'].world} "
        label = f"Per-image metrics against the ground truth of {world}synthetic scene {state['loaded'].seed}"
        return (*images, gr.update(value=rows, visible=True, label=label))

    def new_scene(self) -> str:
        """A fresh synthetic scene (random seed, the model's world) as a PNG path for the input image."""
        return str(save_scene(self.scene_dir, int(np.random.default_rng().integers(MAX_SEED)), world=self.world))

    def attention(self, key: str | None, task: str, stage: str, query: int, tab_open: bool = True) -> tuple:
        """The attention view: (overlay of one query's map, cross-task matrix image, caption, key).
        Computed once per image, and only while the view's tab is open."""
        if not tab_open:
            return None, None, "Open this tab to see the attention of the current image.", key
        state = self.results.get(key)
        if not state:
            text = "Predict an image first." if key is None else \
                "This image's result was dropped to keep memory bounded (only the latest are kept): predict it again."
            return None, None, text, key
        if state["attention"] is None:
            state["attention"] = am.compute_attention(self.model, state["loaded"].rgb)
            self.results.update(key, state)
        maps = state["attention"]
        query = int(min(max(query, 0), maps.num_queries - 1))
        values = am.query_map(maps, stage, task, query)
        matrix = am.cross_task_matrix(maps)
        caption = (f"**{TASKS[task].title}**, query {query} of {maps.num_queries}: {am.STAGES[stage]}. "
                   f"Bright = most attention in this map (peak {values.max():.3g}).\n\n")
        caption += ("**Cross-task query attention** (eq. 5): row = the task whose queries read, column = the task "
                    "read; each cell is the row's share, averaged over heads and the row task's queries."
                    if matrix is not None else "This model has no cross-task query attention (ablation).")
        image = None if matrix is None else am.matrix_image(matrix, self.tasks)
        return am.overlay(state["loaded"].rgb, values), image, caption, key

    def stream(self, frame: np.ndarray | None) -> list[tuple[np.ndarray, str]]:
        """A webcam frame -> gallery of (image or colourised map, title)."""
        *maps, _, key = self.predict(frame)
        state = self.results.get(key)
        titles = [TASKS[t].title for t in self.tasks]
        return [] if state is None else [(state["loaded"].rgb, "Input"), *zip(maps, titles)]
