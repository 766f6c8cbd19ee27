"""The demo in a real browser: headless Debian Chromium driven by playwright uploads an image, waits for every
task's prediction, its ground truth and metrics, opens the attention view and takes a screenshot.

Refresh the README's screenshot (the app's default bundled model when present, on a scene of its world) with:
    python tests/test_app_browser.py docs/app_screenshot.png
"""
import os
import re
import socket
import sys
from pathlib import Path

import pytest
import torch

from mqt_lite import TASKS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
VIEWPORT = {"width": 1440, "height": 900}
TIMEOUT_MS = 60_000  # shared CPUs: first predictions can be slow
SCREENSHOT_SEED = 42
EXAMPLE_SEED = 3  # one of app.EXAMPLE_SEEDS

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"no Chromium at {CHROMIUM} (`.ci/run` installs Debian's `chromium`)"),
    # gradio's queue uses pandas options that pandas 3 deprecates: not ours to fix
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting':DeprecationWarning",
                               "ignore:The copy keyword is deprecated:DeprecationWarning"),
]


@pytest.fixture(autouse=True)
def served_threads():
    """Torch threads as `python app.py` sets them (one per request on 2 cores), restored afterwards."""
    from mqt_lite import demo

    before = torch.get_num_threads()
    demo.configure_threads()
    yield
    torch.set_num_threads(before)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _all_loaded(selectors: list[str]) -> str:
    """JS predicate: every selector matches an <img> that has finished loading a picture."""
    checks = " && ".join(f"(document.querySelector('{s} img')?.naturalWidth > 0)" for s in selectors)
    return f"() => {checks}"


def drive(url: str, image: Path, tasks: tuple[str, ...], screenshot: Path,
          attention_screenshot: Path | None = None) -> dict[str, str]:
    """Upload `image` (a synthetic scene), wait for predictions, ground truth and metrics, screenshot the page;
    open the attention tab and wait for its map (screenshot it too if asked); back on the predictions, click an
    example, then "New random scene", waiting each time for the new scene's metrics. Returns texts of the page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            page.locator("#input-image input[type=file]").set_input_files(str(image))
            page.wait_for_function(_all_loaded([f"#pred-{t}" for t in tasks] + [f"#truth-{t}" for t in tasks]))
            page.locator("#metrics").filter(has_text=TASKS[tasks[-1]].title).wait_for()
            status = page.locator("#status").inner_text()
            page.screenshot(path=str(screenshot), full_page=True)
            page.get_by_role("tab", name="Attention maps").click()
            page.wait_for_function(_all_loaded(["#attention-map"]))
            if attention_screenshot:
                page.screenshot(path=str(attention_screenshot))
            page.get_by_role("tab", name="Predictions").click()
            page.get_by_role("button", name=f"scene {EXAMPLE_SEED}").click()
            page.locator("#metrics").filter(has_text=f"synthetic scene {EXAMPLE_SEED}").wait_for()
            page.get_by_role("button", name="New random scene").click()
            page.locator("#metrics").filter(has_text=re.compile(rf"synthetic scene (?!{EXAMPLE_SEED}\b)")).wait_for()
            page.get_by_role("tab", name="Model card").click()
            return {"status": status, "card": page.locator("#model-card").inner_text()}
        finally:
            browser.close()


def serve_and_capture(model: torch.nn.Module, image: Path, *screenshots: Path) -> dict[str, str]:
    """Serve the demo for `model` on a free localhost port, drive it, and always stop the server."""
    import app

    demo = app.build_demo(model)
    url = app.launch(demo, port=_free_port())
    try:
        return drive(url, image, tuple(model.cfg.tasks), *screenshots)
    finally:
        demo.close()


def test_upload_predicts_every_task_in_a_browser(tmp_path):
    pytest.importorskip("playwright")
    from mqt_lite import demo
    from mqt_lite.model import build_model

    torch.manual_seed(0)
    model = build_model("tiny-synthetic").eval()
    image = demo.save_scene(tmp_path, SCREENSHOT_SEED)
    shots = tmp_path / "app.png", tmp_path / "app-attention.png"
    texts = serve_and_capture(model, image, *shots)
    assert texts["status"].startswith(demo.OK_MARK) and "256×256" in texts["status"]
    assert "synthetic world" in texts["card"]
    assert all(shot.stat().st_size > 0 for shot in shots)


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mqt_lite import demo, from_pretrained
    from mqt_lite.model import build_model

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/app_screenshot.png")
    try:
        net = from_pretrained(demo.DEFAULT_MODEL)  # what `python app.py` serves
    except ValueError as e:
        print(f"note: {e}; using a randomly initialised tiny-synthetic model")
        net = build_model("tiny-synthetic").eval()
    demo.configure_threads()
    with tempfile.TemporaryDirectory() as tmp:
        scene = demo.save_scene(Path(tmp), SCREENSHOT_SEED, world=net.cfg.synthetic_world)  # as the app's examples
        net.predict(demo.load_image(str(scene)).rgb)  # warm up, so the status shows a steady-state time
        print(serve_and_capture(net, scene, out)["status"])
    print(f"screenshot written to {out}")
