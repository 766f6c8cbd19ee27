"""`python app.py`: a Gradio demo of MQTransformer's live multi-task predictions and attention maps.

The app only wires the package together: `model.predict` makes the task maps, `Task.colourise` and
`Task.legend` colour them, `mqt_lite.metrics` scores a synthetic scene against its ground truth and
`mqt_lite.attention_maps` draws the attention view. `python app.py --help` lists the options.

Endpoint for `gradio_client`: `/predict`, one image in; out, every task's colourised map (in the model's task
order; PNG for label maps, WebP for the others) and a status message in Markdown. The examples and "New random
scene" are synthetic scenes whose seed is stored in the PNG, so their ground truth is rendered again and shown
beside the prediction, with per-image metrics.
"""
import os

# Set before gradio is imported (so the imports below come after code): no calls out at start.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import argparse
import logging
import secrets
import threading
from collections import OrderedDict
import shutil
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from mqt_lite import TASKS
from mqt_lite import attention_maps as am
from mqt_lite import imageio
from mqt_lite.hub import from_pretrained
from mqt_lite.data import render_scene
from mqt_lite.metrics import make_metrics

MAX_SIDE = 1024  # larger images are downscaled to this long side before predicting
SMALL_SIDE = 16  # below this the demo says predictions will be coarse
SCENE_SIZE = 256  # side of the synthetic scenes made by "New random scene" and the examples
EXAMPLE_SEEDS = (3, 11, 42)
MAX_SEED = 2 ** 31 - 1
SEED_KEY = "mqt_lite_scene_seed"  # PNG text chunk holding a synthetic scene's seed
ORIENTATION_TAG = imageio.ORIENTATION_TAG  # EXIF orientation; 1 = upright
CONCURRENCY = 2  # requests served at once per event (the model in eval mode is thread-safe for forward)
QUEUE_SIZE = 8  # requests waiting beyond these; more are answered "queue is full, try again" (HTTP 503)
MAX_UPLOAD = "20mb"  # larger uploads are refused by the server before they are stored
DECODE_BUDGET = imageio.DECODE_BUDGET  # bytes an uploaded image may take decoded (checked from its header)
RESULT_CACHE_BYTES = 256 * 2 ** 20  # the last results kept for the ground-truth and attention views
CACHE_SWEEP = (300, 600)  # every 5 min, delete uploads and outputs older than 10 min (gr.Blocks delete_cache)
GRID_COLUMNS = 2  # task cells per row in the predictions tab
IMAGE_MIN_WIDTH = 120  # small enough for a prediction and its ground truth to sit side by side
OK_MARK, WARN_MARK = "✓", "⚠"  # plain symbols: they render without an emoji font
STREAM_EVERY = 0.5  # seconds between webcam frames sent for prediction
STREAM_TIME_LIMIT = 120  # seconds a webcam stream runs before the user restarts it
TRAINED_ON = {
    "synthetic": "the **synthetic world** of `mqt_lite.data.synthetic` (procedural rooms with boxes, spheres, "
                 "cylinders and cones). It has never seen a real photo: expect nonsense on camera images",
    "nyud": "**NYUD-v2** (real indoor photos, 40 classes)",
    "pascal": "**PASCAL-Context** (real photos, 21 classes and human parts)",
}
COLOUR_MEANING = {  # what Task.colourise does, by kind of task
    "depth": "near (pale yellow) to far (dark purple), over the predicted depth range",
    "normals": "surface direction (x, y, z) in camera axes as (red, green, blue)",
    "binary": "probability, black 0 to white 1",
}
BETTER = {True: "lower", False: "higher"}  # by Task.lower_is_better
CSS = ".legend span.swatch {display:inline-block;width:0.9em;height:0.9em;margin:0 0.25em 0 0.6em;" \
      "border:1px solid #444;vertical-align:middle}"


class InputError(ValueError):
    """An input the demo cannot use; the message is shown to the user."""


@dataclass
class Loaded:
    """A decoded input image and what was done to it."""

    rgb: np.ndarray  # (H, W, 3) uint8
    notes: list[str] = field(default_factory=list)
    seed: int | None = None  # the synthetic scene the image says it is


def load_image(value: Any) -> Loaded:
    """Anything a user or client can send (path, gr.Image payload, PIL image, array) -> RGB uint8.

    EXIF orientation is applied, transparent pixels are put on white, images larger than MAX_SIDE are
    downscaled; files are decoded within DECODE_BUDGET (`mqt_lite.imageio`: header first, then a reduced
    decode). Raises InputError with a readable message for anything that is not a usable image.
    """
    if isinstance(value, dict):  # gr.Image payload (the events run with preprocess=False)
        value = value.get("path")
    if value is None:
        raise InputError("No image yet: upload one, use the webcam, pick an example or press 'New random scene'.")
    if isinstance(value, (str, Path)):
        return _load_file(Path(value))
    notes = ["Transparent pixels are shown on white."] if _transparent(value) else []
    if notes:
        value = Image.alpha_composite(Image.new("RGBA", value.size, "white"), value.convert("RGBA"))
    try:
        rgb = imageio.to_rgb_array(value)
    except (ValueError, TypeError) as e:
        raise InputError(f"Not a usable image: {e}") from None
    H, W = rgb.shape[:2]
    size = imageio.fit_size((W, H), MAX_SIDE)
    if size != (W, H):
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR, reducing_gap=2.0))
    return Loaded(rgb, notes + _size_notes((W, H), size))


def _transparent(value: Any) -> bool:
    return isinstance(value, Image.Image) and ("A" in value.mode or "transparency" in value.info)


def _load_file(path: Path) -> Loaded:
    """An image file, decoded within the memory budget, with notes on what was done to it."""
    name = path.name
    if not path.is_file():
        raise InputError(f"'{path}' is not a file.")
    try:
        image = imageio.read_image(path, MAX_SIDE, DECODE_BUDGET)
    except imageio.ImageTooLarge as e:
        raise InputError(f"'{name}' is too large: {e}") from None
    except Image.DecompressionBombError as e:
        raise InputError(f"'{name}' has too many pixels to decode safely ({e}).") from None
    except UnidentifiedImageError:
        raise InputError(f"'{name}' is not an image file that can be read (PNG, JPEG, WebP, TIFF, ...).") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"'{name}' could not be decoded; is it truncated or corrupt? ({e})") from None
    notes = ["Rotated upright as its EXIF orientation says."] if image.rotated else []
    notes += ["Transparent pixels are shown on white."] if image.transparent else []
    text = image.text.get(SEED_KEY, "")  # the seed `save_scene` stores in a synthetic scene's PNG
    H, W = image.rgb.shape[:2]
    return Loaded(image.rgb, notes + _size_notes(image.size, (W, H)), int(text) if text.isdigit() else None)


def _size_notes(original: tuple[int, int], size: tuple[int, int]) -> list[str]:
    if original != size:
        return [f"The {original[0]}×{original[1]} image was downscaled to {size[0]}×{size[1]} "
                f"(at most {MAX_SIDE} px a side)."]
    if min(size) < SMALL_SIDE:
        return [f"The image is only {size[0]}×{size[1]} pixels: the predictions will be coarse."]
    return []


def save_scene(folder: Path, seed: int, size: int = SCENE_SIZE) -> Path:
    """Render synthetic scene `seed` and save it as a PNG that remembers its seed."""
    path = folder / f"scene-{seed}-{size}.png"
    if not path.exists():
        info = PngImagePlugin.PngInfo()
        info.add_text(SEED_KEY, str(seed))
        Image.fromarray(render_scene(seed, size)["image"]).save(path, pnginfo=info)
    return path


def _as_target(array: np.ndarray) -> torch.Tensor:
    """A ground-truth map as the metrics take it: labels (1, H, W) int64, maps (1, 1, H, W), vectors (1, 3, H, W)."""
    x = torch.from_numpy(np.ascontiguousarray(array))
    return x.long()[None] if not x.is_floating_point() else x.view(1, -1, *x.shape[-2:])


def image_format(task: str) -> str:
    """How a task's maps are sent to the browser: PNG for label maps (exact colours), else WebP (lossy, but
    several times faster to encode than PNG for smooth maps such as depth and normals)."""
    return "png" if TASKS[task].kind == "labels" else "webp"


def legend_html(task: str, dataset: str) -> str:
    """Class colours and names under a label map; what the colours mean under the other maps."""
    kind = TASKS[task].kind
    body = COLOUR_MEANING[kind] if kind != "labels" else "".join(
        f'<span class="swatch" style="background:rgb{rgb}"></span>{name}' for name, rgb in TASKS[task].legend(dataset))
    return f'<div class="legend">{body}</div>'


def model_card(model: torch.nn.Module) -> str:
    """Markdown: what the model is, what it was trained on and how good it was on validation."""
    cfg, card = model.cfg, getattr(model, "card", None)
    lines = [f"**Model** `{cfg.name}`: {cfg.backbone} backbone, `{cfg.head}` head, tasks "
             f"{', '.join(TASKS[t].title for t in cfg.tasks)}; works at {cfg.image_size[0]}×{cfg.image_size[1]}.",
             f"**Trained on** {TRAINED_ON.get(cfg.dataset, cfg.dataset)}.",
             "**Weights** random (untrained): the predictions mean nothing." if card is None else
             f"**Checkpoint** `{card.get('path', '?')}`, step {card.get('step', '?')}."]
    metrics = (card or {}).get("metrics") or {}
    rows = [f"| {TASKS[t].title} | {TASKS[t].metric} | {v:.4g} | {BETTER[TASKS[t].lower_is_better]} |"
            for t, v in metrics.items() if t in TASKS]
    if rows:
        lines.append("**Validation metrics**\n\n| task | metric | value | better |\n|---|---|---|---|\n"
                     + "\n".join(rows))
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


def local_only(image: gr.Image) -> gr.Image:
    """Make an input image read only files it received: a client-supplied URL is refused before any network
    access (Gradio would download it, resolving the host first, while moving inputs to its cache). Wraps the
    component's own methods: a gr.Image subclass would make Gradio write an app.pyi stub beside this file."""
    move, async_move = image.move_resource_to_block_cache, image.async_move_resource_to_block_cache

    async def guarded_async_move(url_or_file_path: str | Path | None) -> str | None:
        _refuse_urls(url_or_file_path)
        return await async_move(url_or_file_path)

    def guarded_move(url_or_file_path: str | Path | None) -> str | None:
        _refuse_urls(url_or_file_path)
        return move(url_or_file_path)

    image.async_move_resource_to_block_cache, image.move_resource_to_block_cache = guarded_async_move, guarded_move
    return image


def _refuse_urls(value: str | Path | None) -> None:
    if isinstance(value, str) and "://" in value:
        raise gr.Error("This demo only reads images uploaded to it; URLs are refused. Download the image and "
                       "upload the file.")


class DemoApp:
    """The demo's functions, one per UI event; testable without a server."""

    def __init__(self, model: torch.nn.Module, cache_bytes: int = RESULT_CACHE_BYTES) -> None:
        self.model = model.eval()
        self.results = ResultCache(cache_bytes)  # what the ground-truth and attention views need, by key
        self.dataset, self.tasks = model.cfg.dataset, tuple(model.cfg.tasks)
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
        scene = render_scene(loaded.seed, loaded.rgb.shape[:2])
        return scene if np.array_equal(scene["image"], loaded.rgb) else None  # else: edited, or another renderer

    def compare(self, key: str | None) -> tuple:
        """Ground-truth images and the per-image metrics table, shown only for synthetic scenes."""
        state = self.results.get(key)
        truth = self._truth(state["loaded"]) if state else None
        if truth is None:
            return (*[gr.update(value=None, visible=False)] * len(self.tasks), gr.update(value=None, visible=False))
        preds, images, rows = state["preds"], [], []
        for t, metric in make_metrics(self.tasks, self.dataset).items():
            depth = TASKS[t].kind == "depth" and preds[t].max() > 0  # colour it over the prediction's range
            scale = {"vmin": preds[t][preds[t] > 0].min(), "vmax": preds[t].max()} if depth else {}
            images.append(gr.update(value=TASKS[t].colourise(truth[t], self.dataset, **scale), visible=True))
            metric.update(preds[t][None], _as_target(truth[t]))
            value = metric.compute()
            rows.append([TASKS[t].title, TASKS[t].metric, "n/a" if np.isnan(value) else f"{value:.2f}",
                         BETTER[TASKS[t].lower_is_better]])
        label = f"Per-image metrics against the ground truth of synthetic scene {state['loaded'].seed}"
        return (*images, gr.update(value=rows, visible=True, label=label))

    def new_scene(self) -> str:
        """A fresh synthetic scene (random seed) as a PNG path for the input image."""
        return str(save_scene(self.scene_dir, int(np.random.default_rng().integers(MAX_SEED))))

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


def _prediction_grid(app: DemoApp) -> tuple[list[gr.Image], list[gr.Image]]:
    """One cell per task: prediction, ground truth (hidden until a synthetic scene), legend."""
    preds, truths = [], []
    for i in range(0, len(app.tasks), GRID_COLUMNS):
        with gr.Row(equal_height=True):
            for t in app.tasks[i:i + GRID_COLUMNS]:
                with gr.Column(min_width=240, elem_id=f"task-{t}"):
                    with gr.Row():
                        preds.append(gr.Image(label=f"{TASKS[t].title}", format=image_format(t), interactive=False,
                                              elem_id=f"pred-{t}", min_width=IMAGE_MIN_WIDTH))
                        truths.append(gr.Image(label="ground truth", format=image_format(t), interactive=False,
                                               visible=False, elem_id=f"truth-{t}", min_width=IMAGE_MIN_WIDTH))
                    gr.HTML(legend_html(t, app.dataset))
    return preds, truths


def build_demo(model: torch.nn.Module | None = None, queue_size: int = QUEUE_SIZE) -> gr.Blocks:
    """The Gradio app for `model` (default: the bundled tiny-synthetic model), at most `queue_size` waiting."""
    model = load_model("tiny-synthetic") if model is None else model
    app = DemoApp(model)
    with gr.Blocks(title="MQTransformer demo", fill_width=True, delete_cache=CACHE_SWEEP) as demo:
        gr.Markdown(f"# MQTransformer: multi-task dense prediction with task queries\n"
                    f"Model `{model.cfg.name}`, trained on {TRAINED_ON.get(model.cfg.dataset, model.cfg.dataset)}.")
        state, attention_open = gr.State(None), gr.State(False)
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                image = local_only(gr.Image(label="Input image", type="filepath", image_mode=None, height=320,
                                            sources=["upload", "webcam", "clipboard"], elem_id="input-image"))
                scene_btn = gr.Button("New random scene", variant="primary")
                gr.Examples([str(save_scene(app.scene_dir, s)) for s in EXAMPLE_SEEDS], inputs=image,
                            label="Synthetic scenes (with ground truth)",
                            example_labels=[f"scene {s}" for s in EXAMPLE_SEEDS])
                status = gr.Markdown("Upload an image, or press 'New random scene'.", elem_id="status")
            with gr.Column(scale=3):
                with gr.Tabs():
                    with gr.Tab("Predictions") as tab_pred:
                        preds, truths = _prediction_grid(app)
                        metrics = gr.Dataframe(headers=["task", "metric", "value", "better"], visible=False,
                                               label="Per-image metrics against the ground truth",
                                               elem_id="metrics", interactive=False)
                    with gr.Tab("Attention maps") as tab_att:
                        att_outputs, att_inputs = _attention_tab(app, model)
                    with gr.Tab("Live webcam") as tab_cam:
                        cam = local_only(gr.Image(label="Webcam", sources=["webcam"], streaming=True, type="numpy",
                                                  height=240))
                        gallery = gr.Gallery(label="Live predictions", columns=GRID_COLUMNS + 1, height="auto")
                    with gr.Tab("Model card") as tab_card:
                        gr.Markdown(model_card(model), elem_id="model-card")
        # preprocess=False: the function gets the uploaded file's path and decodes it itself (clear errors)
        predicted = image.change(app.predict, image, [*preds, status, state], api_name="predict", preprocess=False,
                                 api_description="One image in; every task's colourised map (PNG for label maps, "
                                                 "WebP for the others) and a status message out.")
        predicted.then(app.compare, state, [*truths, metrics], api_visibility="private")
        scene_btn.click(app.new_scene, None, image, api_visibility="private")
        cam.stream(app.stream, cam, gallery, stream_every=STREAM_EVERY, time_limit=STREAM_TIME_LIMIT,
                   concurrency_limit=1, api_visibility="private")
        for tab, is_att in ((tab_pred, False), (tab_att, True), (tab_cam, False), (tab_card, False)):
            tab.select(lambda v=is_att: v, None, attention_open, api_visibility="private")
        if att_inputs:
            predicted.then(app.attention, [state, *att_inputs, attention_open], [*att_outputs, state],
                           api_visibility="private")
            task, stage, query = att_inputs
            gr.on([tab_att.select, task.change, stage.change, query.release], app.attention,
                  [state, *att_inputs], [*att_outputs, state], api_visibility="private")
    return demo.queue(default_concurrency_limit=CONCURRENCY, max_size=queue_size)


def _attention_tab(app: DemoApp, model: torch.nn.Module) -> tuple[list, list]:
    """Controls and outputs of the attention view; a note instead for models without attention."""
    if not app.has_attention:
        gr.Markdown(f"This model's head is `{model.cfg.head}`: it has no task queries, so no attention maps. "
                    "Load an MQT checkpoint (`head='mqt'`) to see them.")
        return [], []
    with gr.Row():
        task = gr.Dropdown([(TASKS[t].title, t) for t in app.tasks], value=app.tasks[0], label="Task")
        stage = gr.Radio([(label.split(":")[0], key) for key, label in am.STAGES.items()], value="encoder",
                         label="Stage")
        query = gr.Slider(0, model.cfg.num_queries - 1, value=0, step=1, label="Query index")
    with gr.Row():
        att_map = gr.Image(label="Query attention over the image", format="png", interactive=False,
                           elem_id="attention-map")
        matrix = gr.Image(label="Cross-task query attention", show_label=False, format="png", interactive=False)
    caption = gr.Markdown()
    return [att_map, matrix, caption], [task, stage, query]


def load_model(checkpoint: str) -> torch.nn.Module:
    """A checkpoint folder, a model bundled with the package by name, or a Hub id (mqt_lite.from_pretrained)."""
    return from_pretrained(checkpoint)


def configure_threads() -> int:
    """Torch threads per request such that CONCURRENCY requests share the cores without oversubscription
    (spinning OpenMP threads on busy cores made predictions 5x slower here). Returns the count."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = max(1, cores // CONCURRENCY)
    torch.set_num_threads(threads)
    return threads


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, share: bool = False) -> str:
    """Start serving `demo` in the background (with the app's CSS); returns the local URL."""
    _, url, share_url = demo.launch(server_name=host, server_port=port, share=share, css=CSS,
                                    max_file_size=MAX_UPLOAD, prevent_thread_lock=True, quiet=True)
    return url + (f" (public: {share_url})" if share_url else "")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the demo."""
    p = argparse.ArgumentParser(description="MQTransformer demo: live multi-task predictions and attention maps.")
    p.add_argument("--checkpoint", default="tiny-synthetic",
                   help="a checkpoint folder, a bundled model name or a Hugging Face Hub id user/repo")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 to serve the network)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    args = p.parse_args(argv)
    try:
        model = load_model(args.checkpoint)
    except (OSError, ValueError) as e:  # missing, corrupt or unknown checkpoint
        p.error(str(e))
    configure_threads()
    demo = build_demo(model)
    print(f"MQTransformer demo running at {launch(demo, args.host, args.port, args.share)}", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
