"""The demo: its functions (mqt_lite/demo.py) on every kind of input, the ground truth and attention views, the
model card; app.py's page, command line, and a live local server driven with gradio_client (concurrent and bad
requests)."""
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin

import app
import mqt_lite
from mqt_lite import demo
from mqt_lite.checkpoint import save_checkpoint
from mqt_lite.imageio import ORIENTATION_TAG
from mqt_lite.model import build_model

# gradio's queue uses pandas options that pandas 3 deprecates: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting':DeprecationWarning",
                                        "ignore:The copy keyword is deprecated:DeprecationWarning")
ASSET = Path(mqt_lite.__file__).parent / "assets" / demo.DEFAULT_MODEL / "checkpoint.json"
TASKS = ("semseg", "parts", "sal", "normals", "depth", "edge")


@pytest.fixture(scope="module", autouse=True)
def served_threads():
    """Torch threads as `python app.py` sets them (one per request on 2 cores), restored afterwards."""
    before = torch.get_num_threads()
    demo.configure_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("tiny-synthetic").eval()


@pytest.fixture(scope="module")
def demo_app(model):
    return demo.DemoApp(model)


@pytest.fixture(scope="module")
def scene(demo_app) -> Path:
    return demo.save_scene(demo_app.scene_dir, seed=5, size=96)


def _jpeg_with_orientation(path: Path) -> None:
    """40 wide x 20 high, left half red; EXIF orientation 6 = shown turned 90 degrees clockwise."""
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20, 0] = 255
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[ORIENTATION_TAG] = 6
    im.save(path, exif=exif)


def _good_inputs(folder: Path) -> dict[str, tuple[Path, tuple[int, int], str]]:
    """name -> (file, expected (H, W) of the outputs, a phrase the status must contain)."""
    rng = np.random.default_rng(0)
    rgba = np.dstack([rng.integers(0, 255, (32, 32, 3)), np.tile([0, 255], (32, 16))]).astype(np.uint8)
    palette = Image.fromarray(rng.integers(0, 4, (24, 24), dtype=np.uint8)).convert("P")
    palette.info["transparency"] = 0
    files = {
        "rgb.png": (Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)), (48, 64), "48"),
        "grey.png": (Image.fromarray(rng.integers(0, 255, (30, 40), dtype=np.uint8)), (30, 40), "40×30"),
        "rgba.png": (Image.fromarray(rgba), (32, 32), "white"),
        "sixteen.png": (Image.fromarray((np.arange(600).reshape(20, 30) * 100).astype(np.uint16)), (20, 30), "30×20"),
        "palette.png": (palette, (24, 24), "white"),
        "cmyk.jpg": (Image.new("CMYK", (30, 20), (0, 255, 0, 0)), (20, 30), "30×20"),
        "tiny.png": (Image.new("RGB", (1, 1), (9, 9, 9)), (1, 1), "coarse"),
        "large.jpg": (Image.new("RGB", (2100, 1400), (90, 120, 30)), (683, 1024), "downscaled"),
    }
    out = {}
    for name, (im, size, phrase) in files.items():
        im.save(folder / name)
        out[name] = (folder / name, size, phrase)
    _jpeg_with_orientation(folder / "exif.jpg")
    out["exif.jpg"] = (folder / "exif.jpg", (40, 20), "EXIF")
    return out


def _bad_inputs(folder: Path, scene: Path) -> dict[str, tuple[object, str]]:
    """name -> (input, a phrase the message must contain)."""
    (folder / "notes.txt").write_text("not an image")
    (folder / "empty.png").write_bytes(b"")
    (folder / "truncated.png").write_bytes(scene.read_bytes()[:400])
    return {"text": (folder / "notes.txt", "not an image"), "empty": (folder / "empty.png", "not an image"),
            "truncated": (folder / "truncated.png", "truncated or corrupt"), "none": (None, "No image"),
            "missing": (folder / "nowhere.png", "not a file"),
            "bad array": (np.zeros((3, 3, 5), np.uint8), "Not a usable image")}


def test_environment_is_set_before_gradio():
    import os

    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False" and os.environ["HF_HUB_DISABLE_TELEMETRY"] == "1"


def test_predict_answers_every_kind_of_image(demo_app, tmp_path):
    for name, (path, (H, W), phrase) in _good_inputs(tmp_path).items():
        *maps, status, state = demo_app.predict(str(path))
        assert status.startswith(demo.OK_MARK) and phrase in status, (name, status)
        assert len(maps) == len(TASKS), name
        for m in maps:
            assert m.dtype == np.uint8 and m.shape == (H, W, 3), (name, m.shape)
        assert demo_app.results.get(state)["preds"].keys() == set(TASKS)


def test_loading_fixes_orientation_transparency_and_depth(tmp_path):
    inputs = _good_inputs(tmp_path)
    upright = demo.load_image(str(inputs["exif.jpg"][0])).rgb
    assert upright.shape == (40, 20, 3)
    assert upright[:20, :, 0].mean() > 200 and upright[20:, :, 0].mean() < 50  # red half on top after turning
    rgba = demo.load_image(str(inputs["rgba.png"][0])).rgb
    assert (rgba[:, 0::2] == 255).all()  # fully transparent columns are white
    assert demo.load_image(str(inputs["sixteen.png"][0])).rgb.max() > 100  # 16-bit scaled, not clipped to black
    assert demo.load_image({"path": str(inputs["rgb.png"][0])}).rgb.shape == (48, 64, 3)  # gr.Image payload
    assert demo.load_image(np.ones((5, 6), np.float32)).rgb.shape == (5, 6, 3)  # webcam-style arrays


def test_bad_inputs_give_a_message_not_an_exception(demo_app, tmp_path, scene):
    for name, (value, phrase) in _bad_inputs(tmp_path, scene).items():
        if value is None:  # nothing to warn about: the image was cleared
            *maps, status, state = demo_app.predict(None)
        else:
            with pytest.warns(UserWarning, match=phrase):  # gr.Warning: a toast in the UI
                *maps, status, state = demo_app.predict(value if isinstance(value, np.ndarray) else str(value))
        assert status.startswith(demo.WARN_MARK) and phrase in status, (name, status)
        assert maps == [None] * len(TASKS) and state is None


def test_label_maps_are_png_and_predict_is_the_endpoint(model):
    page = app.build_demo(model)
    images = {b.elem_id: b for b in page.blocks.values() if str(b.elem_id).startswith(("pred-", "truth-"))}
    assert len(images) == 2 * len(TASKS)
    for t in ("semseg", "parts"):  # label maps must be lossless
        assert images[f"pred-{t}"].format == images[f"truth-{t}"].format == "png"
    assert images["pred-depth"].format == "webp"  # smooth maps: lossy but fast to encode
    endpoint = next(f for f in page.fns.values() if f.api_name == "predict")
    assert endpoint.fn.__func__ is demo.DemoApp.predict and app.DemoApp is demo.DemoApp
    assert [b.elem_id for b in endpoint.outputs[:len(TASKS)]] == [f"pred-{t}" for t in TASKS]


def test_ground_truth_and_metrics_for_synthetic_scenes(demo_app, scene, tmp_path):
    *_, state = demo_app.predict(str(scene))
    *truths, table = demo_app.compare(state)
    assert all(t["visible"] and t["value"].shape == (96, 96, 3) for t in truths)
    assert table["visible"] and [row[0] for row in table["value"]] == [mqt_lite.TASKS[t].title for t in TASKS]
    assert all(np.isfinite(float(row[2])) for row in table["value"])  # every task has valid pixels here
    assert "scene 5" in table["label"]
    # the same pixels without the seed, or the seed on other pixels: no ground truth
    plain = tmp_path / "plain.png"
    Image.open(scene).save(plain)
    forged = tmp_path / "forged.png"
    pixels = np.asarray(Image.open(scene)).copy()
    pixels[0, 0] ^= 1
    meta = PngImagePlugin.PngInfo()
    meta.add_text(demo.SEED_KEY, Image.open(scene).info[demo.SEED_KEY])
    Image.fromarray(pixels).save(forged, pnginfo=meta)
    for path in (plain, forged):
        *truths, table = demo_app.compare(demo_app.predict(str(path))[-1])
        assert not table["visible"] and not any(t["visible"] for t in truths)
    assert not demo_app.compare(None)[-1]["visible"]


def test_attention_view_is_computed_on_demand_and_cached(demo_app, scene):
    *_, key = demo_app.predict(str(scene))
    state = demo_app.results.get(key)
    assert state["attention"] is None  # predicting alone does not compute attention
    closed = demo_app.attention(key, "depth", "decoder", 3, tab_open=False)
    assert closed[0] is None and state["attention"] is None
    overlay, matrix, caption, key = demo_app.attention(key, "depth", "decoder", 3)
    assert overlay.shape == (96, 96, 3) and matrix.width > 0 and "query 3 of 32" in caption
    cached = state["attention"]
    _, _, caption, key = demo_app.attention(key, "semseg", "encoder_after_ctqa", 999)
    assert state["attention"] is cached and "query 31 of 32" in caption  # out-of-range query clipped
    assert demo_app.attention(None, "depth", "decoder", 0)[2].startswith("Predict")


def test_webcam_stream_gives_a_labelled_gallery(demo_app):
    frame = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    gallery = demo_app.stream(frame)
    assert [title for _, title in gallery] == ["Input"] + [mqt_lite.TASKS[t].title for t in TASKS]
    assert all(image.shape == (48, 64, 3) for image, _ in gallery)
    assert demo_app.stream(None) == []


@pytest.mark.parametrize("head", ["multi-task", "single-task"])
def test_models_without_attention_or_with_other_tasks(scene, head):
    model = build_model("tiny-synthetic", head=head, dataset="nyud", tasks=("semseg", "depth"))
    page = app.build_demo(model)
    assert not any(getattr(b, "elem_id", None) == "attention-map" for b in page.blocks.values())
    assert "NYUD-v2" in next(b.value for b in page.blocks.values() if getattr(b, "elem_id", "") == "model-card")
    demo_app = demo.DemoApp(model)
    *maps, status, state = demo_app.predict(str(scene))
    assert len(maps) == 2 and status.startswith(demo.OK_MARK)
    assert not demo_app.compare(state)[-1]["visible"]  # a synthetic scene's labels are not NYUD's


def test_mqt_model_with_fewer_tasks_and_no_cross_task_attention(scene):
    no_ctqa = demo.DemoApp(build_model("tiny-synthetic", tasks=("sal", "edge"), cross_task_attention=False))
    _, matrix, caption, _ = no_ctqa.attention(no_ctqa.predict(str(scene))[-1], "edge", "encoder", 0)
    assert matrix is None and "no cross-task" in caption


def test_model_card_and_command_line(model, tmp_path, monkeypatch):
    assert "random (untrained)" in demo.model_card(model)
    folder = save_checkpoint(tmp_path / "ckpt", model, step=7, metrics={"semseg": 0.25, "depth": 1.5})
    card = demo.model_card(mqt_lite.from_pretrained(str(folder)))
    assert all(s in card for s in ("step 7", str(folder), "synthetic world", "mIoU", "0.25", "rmse"))
    launched = {}
    monkeypatch.setattr(app.gr.Blocks, "launch", lambda self, **kw: launched.update(kw) or (None, "http://x/", None))
    monkeypatch.setattr(app.gr.Blocks, "block_thread", lambda self: None)
    app.main(["--checkpoint", str(folder)])
    assert (launched["server_name"], launched["server_port"], launched["share"]) == ("127.0.0.1", 7860, False)
    for bad in (str(tmp_path / "missing"), "no-such-bundled-model"):
        with pytest.raises(SystemExit) as e:
            app.main(["--checkpoint", bad])
        assert e.value.code == 2


@pytest.mark.skipif(not ASSET.is_file(), reason=f"the bundled {demo.DEFAULT_MODEL} checkpoint (mqt_lite/assets/) is "
                                                 "not there yet; the lead adds it before merging")
def test_default_demo_uses_the_bundled_model(scene, monkeypatch):
    monkeypatch.setattr(app.gr.Blocks, "launch", lambda self, **kw: (None, "http://x/", None))
    monkeypatch.setattr(app.gr.Blocks, "block_thread", lambda self: None)
    app.main([])  # the default --checkpoint loads
    page = app.build_demo()
    card = next(b.value for b in page.blocks.values() if getattr(b, "elem_id", "") == "model-card")
    assert f"`{demo.DEFAULT_MODEL}`" in card
    endpoint = next(f for f in page.fns.values() if f.api_name == "predict")
    *maps, status, _ = endpoint.fn(str(scene))
    assert status.startswith(demo.OK_MARK) and len(maps) == len(TASKS)


def test_the_app_serves_the_bundled_tiny_rich_model(monkeypatch):
    served = {}
    monkeypatch.setattr(app, "build_demo", lambda model: served.setdefault("model", model) and app.gr.Blocks())
    monkeypatch.setattr(app, "launch", lambda *a, **kw: "http://x/")
    monkeypatch.setattr(app.gr.Blocks, "block_thread", lambda self: None)
    app.main(["--checkpoint", "tiny-rich"])
    rich = served["model"]
    assert rich.cfg.name == "tiny-rich" and rich.cfg.synthetic_world == "rich"
    card = demo.model_card(rich)
    assert "rich synthetic world" in card and "**Real photos** (motorcycle; zero-shot depth): Spearman" in card


def _examples(page) -> dict[str, tuple[list[str], list[str]]]:
    """The page's example galleries: label -> (file paths, example labels)."""
    return {b.label: ([sample[0]["path"] for sample in b.samples], b.sample_labels)
            for b in page.blocks.values() if type(b).__name__ == "Dataset"}


def test_real_photo_examples_exist_and_run_through_predict(model):
    from mqt_lite.data.real import PHOTOS

    page = app.build_demo(model)
    galleries = _examples(page)
    real = next(label for label in galleries if label.startswith("Real photos"))
    paths, labels = galleries[real]
    assert labels == list(PHOTOS) and "CC0" in real and "no ground truth" in real
    endpoint = next(f for f in page.fns.values() if f.api_name == "predict")
    for name, path in zip(labels, paths):
        assert Path(path).is_file(), name
        *maps, status, key = endpoint.fn(path)
        assert status.startswith(demo.OK_MARK) and len(maps) == len(TASKS), (name, status)
        H, W = np.asarray(Image.open(path)).shape[:2]
        assert all(m.shape == (H, W, 3) for m in maps), name
        assert not endpoint.fn.__self__.compare(key)[-1]["visible"]  # a photo has no ground truth


def test_a_rich_world_model_gets_rich_scenes_with_their_ground_truth():
    torch.manual_seed(0)
    rich_model = build_model("tiny-rich").eval()
    rich_app = demo.DemoApp(rich_model)
    assert "rich synthetic world" in demo.trained_on(rich_model.cfg)
    assert "rich" not in demo.trained_on(build_model("tiny-synthetic").cfg)
    path = rich_app.new_scene()
    assert demo.load_image(path).world == "rich" and "scene-rich-" in path
    *_, table = rich_app.compare(rich_app.predict(path)[-1])
    assert table["visible"] and "rich synthetic scene" in table["label"]
    page = app.build_demo(rich_model)
    scenes = next(paths for label, (paths, _) in _examples(page).items() if label.startswith("Synthetic"))
    assert all(demo.load_image(p).world == "rich" for p in scenes)
    # a classic scene shown to the rich model still gets its (classic) ground truth
    classic = demo.save_scene(rich_app.scene_dir, 5, 64)
    assert rich_app.compare(rich_app.predict(str(classic))[-1])[-1]["visible"]


# ----------------------------------------------------------------------------- live server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(model):
    page = app.build_demo(model)
    url = app.launch(page, port=_free_port())
    yield url
    page.close()


def test_live_server_predicts_concurrently_and_survives_bad_input(server, demo_app, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    assert "/predict" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    files = [demo.save_scene(tmp_path, seed, size) for seed, size in ((1, 40), (2, 56), (3, 72), (4, 88))]

    def call(path: Path) -> tuple:
        return client.predict(handle_file(str(path)), api_name="/predict")

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, files))
    for path, result in zip(files, results):
        *maps, status = result
        assert status.startswith(demo.OK_MARK) and len(maps) == len(TASKS)
        direct = demo_app.predict(str(path))[:len(TASKS)]
        for t, served, expected in zip(TASKS, maps, direct):
            assert served.endswith(f".{mqt_lite.TASKS[t].spec.display_format}")
            decoded = np.asarray(Image.open(served).convert("RGB"))
            assert decoded.shape == expected.shape
            if mqt_lite.TASKS[t].spec.display_format == "png":
                np.testing.assert_array_equal(decoded, expected)  # label maps arrive exactly
    (tmp_path / "bad.txt").write_text("no")
    *maps, status = call(tmp_path / "bad.txt")
    assert maps == [None] * len(TASKS) and "not an image" in status
    assert call(files[0])[-1].startswith(demo.OK_MARK)  # still serving
