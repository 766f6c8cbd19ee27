"""`python app.py`: a Gradio demo of MQTransformer's live multi-task predictions and attention maps.

This file only lays out the page and parses the command line: every event is handled by `mqt_lite.demo.DemoApp`
(intake, prediction, ground truth, attention view), the model is loaded by `mqt_lite.from_pretrained`, and each
task says how its maps are shown (`Task.spec.display_format`, `Task.legend`, `Task.spec.colour_meaning`).
`python app.py --help` lists the options.

Endpoint for `gradio_client`: `/predict`, one image in; out, every task's colourised map (in the model's task
order; PNG for label maps, WebP for the others) and a status message in Markdown. The synthetic examples and "New
random scene" are scenes of the model's synthetic world whose seed is stored in the PNG, so their ground truth is
rendered again and shown beside the prediction, with per-image metrics. The real-photo examples are scikit-image's
CC0 / public-domain photos (`mqt_lite.data.real.PHOTOS`): predictions only, there is no ground truth.
"""
import os

# Set before gradio is imported (so the imports below come after code): no calls out at start.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import argparse
from pathlib import Path

import gradio as gr
import torch

from mqt_lite import TASKS, from_pretrained
from mqt_lite.attention_maps import STAGES
from mqt_lite.data.real import PHOTOS
from mqt_lite.demo import (CONCURRENCY, DEFAULT_MODEL, QUEUE_SIZE, DemoApp, configure_threads, model_card, save_photo,
                           save_scene, trained_on)

EXAMPLE_SEEDS = (3, 11, 42)
MAX_UPLOAD = "20mb"  # larger uploads are refused by the server before they are stored
CACHE_SWEEP = (300, 600)  # every 5 min, delete uploads and outputs older than 10 min (gr.Blocks delete_cache)
GRID_COLUMNS = 2  # task cells per row in the predictions tab
IMAGE_MIN_WIDTH = 120  # small enough for a prediction and its ground truth to sit side by side
STREAM_EVERY = 0.5  # seconds between webcam frames sent for prediction
STREAM_TIME_LIMIT = 120  # seconds a webcam stream runs before the user restarts it
CSS = ".legend span.swatch {display:inline-block;width:0.9em;height:0.9em;margin:0 0.25em 0 0.6em;" \
      "border:1px solid #444;vertical-align:middle}"


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


def legend_html(task: str, dataset: str) -> str:
    """Class colours and names under a label map; what the colours mean under the other maps."""
    t = TASKS[task]
    body = "".join(f'<span class="swatch" style="background:rgb{rgb}"></span>{name}'
                   for name, rgb in t.legend(dataset)) if t.has_classes else t.spec.colour_meaning
    return f'<div class="legend">{body}</div>'


def _prediction_grid(app: DemoApp) -> tuple[list[gr.Image], list[gr.Image]]:
    """One cell per task: prediction, ground truth (hidden until a synthetic scene), legend."""
    preds, truths = [], []
    for i in range(0, len(app.tasks), GRID_COLUMNS):
        with gr.Row(equal_height=True):
            for t in app.tasks[i:i + GRID_COLUMNS]:
                fmt = TASKS[t].spec.display_format
                with gr.Column(min_width=240, elem_id=f"task-{t}"):
                    with gr.Row():
                        preds.append(gr.Image(label=f"{TASKS[t].title}", format=fmt, interactive=False,
                                              elem_id=f"pred-{t}", min_width=IMAGE_MIN_WIDTH))
                        truths.append(gr.Image(label="ground truth", format=fmt, interactive=False,
                                               visible=False, elem_id=f"truth-{t}", min_width=IMAGE_MIN_WIDTH))
                    gr.HTML(legend_html(t, app.dataset))
    return preds, truths


def build_demo(model: torch.nn.Module | None = None, queue_size: int = QUEUE_SIZE) -> gr.Blocks:
    """The Gradio app for `model` (default: the bundled DEFAULT_MODEL), at most `queue_size` waiting."""
    model = from_pretrained(DEFAULT_MODEL) if model is None else model
    app = DemoApp(model)
    with gr.Blocks(title="MQTransformer demo", fill_width=True, delete_cache=CACHE_SWEEP) as demo:
        gr.Markdown(f"# MQTransformer: multi-task dense prediction with task queries\n"
                    f"Model `{model.cfg.name}`, trained on {trained_on(model.cfg)}.")
        state, attention_open = gr.State(None), gr.State(False)
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                image = local_only(gr.Image(label="Input image", type="filepath", image_mode=None, height=320,
                                            sources=["upload", "webcam", "clipboard"], elem_id="input-image"))
                scene_btn = gr.Button("New random scene", variant="primary")
                gr.Examples([str(save_scene(app.scene_dir, s, world=app.world)) for s in EXAMPLE_SEEDS], inputs=image,
                            label="Synthetic scenes (with ground truth)",
                            example_labels=[f"scene {s}" for s in EXAMPLE_SEEDS])
                gr.Examples([str(save_photo(app.scene_dir, n)) for n in PHOTOS], inputs=image,
                            label="Real photos (scikit-image, CC0 / public domain; no ground truth)",
                            example_labels=list(PHOTOS))
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
        stage = gr.Radio([(label.split(":")[0], key) for key, label in STAGES.items()], value="encoder",
                         label="Stage")
        query = gr.Slider(0, model.cfg.num_queries - 1, value=0, step=1, label="Query index")
    with gr.Row():
        att_map = gr.Image(label="Query attention over the image", format="png", interactive=False,
                           elem_id="attention-map")
        matrix = gr.Image(label="Cross-task query attention", show_label=False, format="png", interactive=False)
    caption = gr.Markdown()
    return [att_map, matrix, caption], [task, stage, query]


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, share: bool = False) -> str:
    """Start serving `demo` in the background (with the app's CSS); returns the local URL."""
    _, url, share_url = demo.launch(server_name=host, server_port=port, share=share, css=CSS,
                                    max_file_size=MAX_UPLOAD, prevent_thread_lock=True, quiet=True)
    return url + (f" (public: {share_url})" if share_url else "")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the demo."""
    p = argparse.ArgumentParser(description="MQTransformer demo: live multi-task predictions and attention maps.")
    p.add_argument("--checkpoint", default=DEFAULT_MODEL,
                   help="a checkpoint folder, a bundled model name (tiny-rich: trained for real photos; "
                        "tiny-synthetic: the classic world only) or a Hugging Face Hub id user/repo "
                        f"(default: {DEFAULT_MODEL})")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 to serve the network)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    args = p.parse_args(argv)
    try:
        model = from_pretrained(args.checkpoint)
    except (OSError, ValueError) as e:  # missing, corrupt or unknown checkpoint
        p.error(str(e))
    configure_threads()
    demo = build_demo(model)
    print(f"MQTransformer demo running at {launch(demo, args.host, args.port, args.share)}", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
