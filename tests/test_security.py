"""The demo against strangers: hostile images stay within a memory budget, a flood of requests gets "queue is full"
answers while the server keeps serving, results do not pile up per session, and a URL payload never reaches
the network."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import app
from mqt_lite import demo
from mqt_lite.model import build_model

pytestmark = pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting':DeprecationWarning",
                                        "ignore:The copy keyword is deprecated:DeprecationWarning")
ROOT = Path(__file__).resolve().parents[1]
INTAKE_BUDGET_MB = 1024  # peak RSS over the idle process while one hostile image goes through the intake
MEASURE = """
import json, sys, time
from mqt_lite import demo
status = lambda key: int(next(ln for ln in open("/proc/self/status") if ln.startswith(key)).split()[1]) / 1024
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS: the idle process
before, start = status("VmRSS"), time.perf_counter()
loaded = demo.load_image(sys.argv[1])
print(json.dumps({"peak_mb": status("VmHWM") - before,
                  "seconds": time.perf_counter() - start, "shape": loaded.rgb.shape, "notes": loaded.notes}))
"""


def hostile_images(folder: Path) -> dict[str, Path]:
    """The benchmark's small files that decode to huge frames: the 9000² 16-bit and 13000² palette PNGs."""
    from mqt_lite.bench.app import hostile_images as make

    return {name: path for name, path in make(folder).items() if name.startswith("png")}


def measure_intake(path: Path) -> dict:
    """Peak RSS (MB over the process before the call) and time of demo.load_image on one file, in a subprocess."""
    r = subprocess.run([sys.executable, "-c", MEASURE, str(path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_hostile_images_stay_within_the_memory_budget(tmp_path):
    for name, path in hostile_images(tmp_path).items():
        assert path.stat().st_size < 2 * 2 ** 20, name  # small files ...
        result = measure_intake(path)  # ... that would decode to 160-680 MB frames (4.6 GB before)
        assert result["peak_mb"] < INTAKE_BUDGET_MB, (name, result)
        assert result["shape"] == [1024, 1024, 3] and "downscaled" in result["notes"][0], (name, result)
    huge = tmp_path / "huge.png"
    Image.new("I", (12000, 12000)).save(huge, format="TIFF")  # 576 MB as 32-bit: over the budget
    with pytest.raises(demo.InputError, match=r"too large: .* at most 512 MB"):
        demo.load_image(str(huge))


def test_high_bit_images_keep_their_contrast(tmp_path):
    a = (np.arange(64 * 48).reshape(48, 64) * 21).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "sixteen.png")
    rgb = demo.load_image(str(tmp_path / "sixteen.png")).rgb
    np.testing.assert_array_equal(rgb[..., 0], (a / 65535 * 255 + 0.5).astype(np.uint8))
    floats = np.linspace(0, 1, 48 * 64, dtype=np.float32).reshape(48, 64)
    floats[0, 0] = np.nan
    out = demo.load_image(floats).rgb
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255 and out.dtype == np.uint8


def test_results_stay_within_the_cache_budget(tmp_path):
    torch.manual_seed(0)
    demo_app = demo.DemoApp(build_model("tiny-synthetic").eval(), cache_bytes=8 * 2 ** 20)
    keys = []
    for seed in range(12):  # 12 sessions, each one 256² image: about 2.4 MB of results each
        keys.append(demo_app.predict(str(demo.save_scene(tmp_path, seed, 256)))[-1])
    assert demo_app.results.nbytes <= 8 * 2 ** 20 and 1 <= len(demo_app.results) < 12
    assert demo_app.results.get(keys[-1]) is not None  # the latest is kept ...
    assert "dropped to keep memory bounded" in demo_app.attention(keys[0], "depth", "decoder", 0)[2]  # the first not


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gated_server():
    """A live demo whose predictions wait for a gate, with a queue of 2: (url, page, gate, predictions started)."""
    torch.manual_seed(0)
    model = build_model("tiny-synthetic").eval()
    gate, predict, started = threading.Event(), model.predict, []
    model.predict = lambda image: started.append(1) or gate.wait(60) and predict(image)
    page = app.build_demo(model, queue_size=2)
    url = app.launch(page, port=_free_port())
    yield url, page, gate, started
    gate.set()
    page.close()


def test_a_flood_gets_busy_answers_and_the_server_keeps_serving(gated_server, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.utils import QueueError

    url, page, gate, started = gated_server
    # download_files=False: only the status is checked here; identical output maps of concurrent requests share a
    # cache file that gradio rewrites while serving, which can cut a download short (a gradio race, not ours)
    client = Client(url, verbose=False, download_files=False)
    # distinct images, for the same reason
    scenes = [handle_file(str(demo.save_scene(tmp_path, seed, 64))) for seed in range(8)]
    accepted = [client.submit(scenes[i], api_name="/predict") for i in range(4)]  # 2 served (at the gate) + 2
    while (len(started) < demo.CONCURRENCY or len(page._queue) < 2) and not accepted[0].done():
        gate.wait(0.05)  # until two are being served and two wait: the queue is full
    for i in range(4, 7):
        with pytest.raises(QueueError, match="Queue is full"):
            client.predict(scenes[i], api_name="/predict")
    gate.set()
    assert all(job.result(timeout=120)[-1].startswith(demo.OK_MARK) for job in accepted)
    assert client.predict(scenes[7], api_name="/predict")[-1].startswith(demo.OK_MARK)  # still serving
    sessions = page.state_holder.session_data.values()
    assert all(isinstance(v, (str, bool, type(None))) for s in sessions for v in s.state_data.values())


def test_a_url_payload_makes_no_network_call(gated_server, monkeypatch):
    from gradio_client import Client
    from gradio import processing_utils

    url, _, gate, _ = gated_server
    gate.set()
    client = Client(url, verbose=False)
    calls = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", "::1"):
            calls.append(("dns", host))
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1"):
            calls.append(("connect", address))
        return real_connect(self, address)

    async def download(*args, **kwargs):
        calls.append(("download", args))
        raise RuntimeError("no downloads")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(processing_utils, "async_ssrf_protected_download", download)
    payload = {"path": "http://10.255.255.1:8000/x.png", "meta": {"_type": "gradio.FileData"}}
    with pytest.raises(Exception, match="URLs are refused"):
        client.predict(payload, api_name="/predict")
    assert calls == []
    assert client.predict(None, api_name="/predict")[-1].startswith(demo.WARN_MARK)  # still serving
