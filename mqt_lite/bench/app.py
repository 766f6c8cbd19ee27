"""`python -m mqt_lite.bench app`: latency of the demo's prediction function (`mqt_lite.demo.DemoApp.predict`).

At each size a synthetic scene is saved as a PNG and handed over as a file path, as the server does; one call
decodes it, predicts every task and colourises the maps. Reported after warm-up, with the torch threads that
`python app.py` uses: median and 95th percentile wall time of `model.predict` alone, of the app's function,
and of the app's function plus the encoding of its maps that Gradio adds before answering ("served": PNG for
label maps, WebP for the others). Uses the bundled tiny-synthetic model, or a randomly initialised one (with a
note) when it is not there. Target: served median under TARGET_MS at TARGET_SIZE.

Also, as a stranger would use it: the peak RSS (over the idle process, measured in a fresh subprocess) and time
of the demo's intake for small files that decode to huge frames, and the latency of a live local server
(median / p95 per request, requests per second, "queue is full" answers) at several concurrent clients. The server
is `python app.py --checkpoint CHECKPOINT` started in a subprocess, as a user serves it, so that part needs a
checkout of the repository (app.py beside the package).
"""
from __future__ import annotations

import argparse
import io
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..demo import CONCURRENCY, QUEUE_SIZE, DemoApp, configure_threads, load_image, save_scene
from ..hub import from_pretrained
from ..imageio import DECODE_BUDGET
from ..model import build_model
from ..tasks import TASKS

TARGET_MS = 150.0
TARGET_SIZE = 256
ROOT = Path(__file__).resolve().parents[2]  # the folder holding the package (and, in a checkout, app.py)
APP_FILE = ROOT / "app.py"
SERVER_START_S = 300  # seconds `python app.py` may take to start serving (imports, model, examples)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", default="256,512", help="comma-separated image sides")
    p.add_argument("--runs", type=int, default=20, help="timed calls per figure")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first")
    p.add_argument("--checkpoint", default="tiny-synthetic", help="a checkpoint folder or a bundled model name")
    p.add_argument("--clients", default="4,8,16", help="concurrent clients of the live server ('' to skip)")
    p.add_argument("--requests", type=int, default=4, help="requests per client")
    p.add_argument("--client-size", type=int, default=256, help="side of the image each client sends")
    p.add_argument("--no-hostile", action="store_true", help="skip the hostile-image memory figures")


MEASURE = """
import json, sys, time
sys.path.insert(0, sys.argv[2])
from mqt_lite import demo
status = lambda key: int(next(ln for ln in open("/proc/self/status") if ln.startswith(key)).split()[1]) / 1024
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS: the idle process
before, start = status("VmRSS"), time.perf_counter()
try:
    shape = list(demo.load_image(sys.argv[1]).rgb.shape)
except demo.InputError as e:
    shape = str(e)
print(json.dumps({"peak_mb": status("VmHWM") - before,
                  "seconds": time.perf_counter() - start, "result": shape}))
"""


def hostile_images(folder: Path) -> dict[str, Path]:
    """Small files that decode to huge frames (as in issue 15)."""
    sixteen = Image.new("I;16", (9000, 9000), 1000)
    ImageDraw.Draw(sixteen).rectangle((2000, 2000, 7000, 5000), fill=60000)
    palette = Image.new("P", (13000, 13000), 0)
    palette.putpalette([0, 0, 0, 250, 120, 30] + [0] * 762)
    ImageDraw.Draw(palette).ellipse((1000, 1000, 12000, 9000), fill=1)
    floats = Image.new("F", (9000, 9000), 0.25)
    files = {"png 16-bit 9000x9000": (sixteen, "sixteen.png"), "png palette 13000x13000": (palette, "palette.png"),
             "tiff float32 9000x9000": (floats, "floats.tif")}
    out = {}
    for name, (im, file) in files.items():
        im.save(folder / file)
        out[name] = folder / file
    return out


def hostile(folder: Path) -> dict[str, Any]:
    """Peak RSS over the idle process and time of demo.load_image on each hostile file, each in a subprocess."""
    rows = {}
    for name, path in hostile_images(folder).items():
        r = subprocess.run([sys.executable, "-c", MEASURE, str(path), str(ROOT)], capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            raise SystemExit(f"measuring {name} failed:\n{r.stderr[-2000:]}")
        rows[name] = {"file_kb": path.stat().st_size / 1024, **json.loads(r.stdout.strip().splitlines()[-1])}
        print(f"{name:>24s} {rows[name]['file_kb']:8.0f} KB  peak +{rows[name]['peak_mb']:6.0f} MB  "
              f"{rows[name]['seconds']:5.1f} s  -> {rows[name]['result']}")
    return rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(checkpoint: str, log: Path) -> Iterator[str]:
    """`python app.py --checkpoint CHECKPOINT` on a free local port in a subprocess (its output in `log`); yields
    its URL once it serves, and stops it afterwards."""
    if not APP_FILE.is_file():
        raise SystemExit(f"app.py not found at {APP_FILE}: run this benchmark from a checkout of the repository")
    cmd = [sys.executable, str(APP_FILE), "--checkpoint", checkpoint, "--port", str(_free_port())]
    with log.open("w") as out:
        server = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        start = time.perf_counter()
        while "running at " not in log.read_text():  # app.py prints its URL once it serves
            if server.poll() is not None or time.perf_counter() - start > SERVER_START_S:
                raise SystemExit(f"`{' '.join(cmd)}` did not start serving:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield log.read_text().split("running at ", 1)[1].split()[0]
    finally:
        server.terminate()
        server.wait(timeout=60)


def concurrency(checkpoint: str, folder: Path, size: int, clients: list[int], requests: int) -> dict:
    """Median / p95 seconds per request, requests per second and busy answers of a live server, per client count.
    Each client sends its own scene (identical concurrent outputs would share one gradio cache file)."""
    from gradio_client import Client, handle_file  # gradio_client: the dev extra
    from gradio_client.utils import QueueError  # gradio_client: the dev extra

    images = [save_scene(folder, seed=seed, size=size) for seed in range(max(clients) + 1)]
    rows = {}
    with served(checkpoint, folder / "server.log") as url:
        Client(url, verbose=False).predict(handle_file(str(images[-1])), api_name="/predict")  # warm-up
        for n in clients:
            pool = [(Client(url, verbose=False), images[i]) for i in range(n)]

            def one(job: tuple) -> list[float | None]:
                client, image = job
                times: list[float | None] = []
                for _ in range(requests):
                    start = time.perf_counter()
                    try:
                        client.predict(handle_file(str(image)), api_name="/predict")
                        times.append(time.perf_counter() - start)
                    except QueueError:  # "Queue is full! Please try again."
                        times.append(None)
                return times

            start = time.perf_counter()
            with ThreadPoolExecutor(n) as ex:
                times = [t for ts in ex.map(one, pool) for t in ts]
            rows[n] = _client_row(n, times, time.perf_counter() - start)
    return rows


def _client_row(n: int, times: list[float | None], wall: float) -> dict[str, Any]:
    """n clients' median / p95 seconds of the answered requests, requests per second and busy answers; printed."""
    ok = [t for t in times if t is not None]
    r = {"p50_s": float(np.median(ok)) if ok else None, "p95_s": float(np.percentile(ok, 95)) if ok else None,
         "req_per_s": len(ok) / wall, "busy": len(times) - len(ok), "requests": len(times)}
    print(f"{n:>8d} clients  p50 {r['p50_s'] or 0:5.2f} s  p95 {r['p95_s'] or 0:5.2f} s  "
          f"{r['req_per_s']:5.2f} req/s  busy {r['busy']}/{r['requests']}")
    return r


def _times_ms(fn: Callable[[], Any], runs: int, warmup: int) -> dict[str, float]:
    """Median and 95th percentile of fn's wall time in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95))}


def _encode(maps: tuple, formats: list[str]) -> None:
    """Encode the maps as Gradio does for the app's gr.Image outputs."""
    for m, fmt in zip(maps, formats):
        Image.fromarray(m).save(io.BytesIO(), format=fmt)


def run(args: argparse.Namespace) -> dict[str, Any]:
    try:
        model, source = from_pretrained(args.checkpoint), "checkpoint"
    except (OSError, ValueError) as e:
        print(f"note: {e}\nnote: timing a randomly initialised tiny-synthetic model instead (same architecture)")
        model, source = build_model("tiny-synthetic").eval(), "random"
    configure_threads()  # as `python app.py` serves
    demo = DemoApp(model)
    n_tasks, formats = len(demo.tasks), [TASKS[t].spec.display_format for t in demo.tasks]
    out: dict[str, Any] = {"model": model.cfg.name, "weights": source, "threads": torch.get_num_threads(),
                           "runs": args.runs, "target_ms": TARGET_MS, "sizes": {}}
    print(f"demo prediction latency: {model.cfg.name} ({source} weights), {n_tasks} tasks, "
          f"{torch.get_num_threads()} threads, {args.runs} runs after {args.warmup} warm-up (median / p95 ms)")
    print(f"{'size':>9s} {'model.predict':>16s} {'app predict':>16s} {'served':>16s}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            path = str(save_scene(Path(tmp), seed=0, size=size))
            rgb = load_image(path).rgb
            row = {
                "model": _times_ms(lambda: model.predict(rgb), args.runs, args.warmup),
                "app": _times_ms(lambda: demo.predict(path), args.runs, args.warmup),
                "served": _times_ms(lambda: _encode(demo.predict(path)[:n_tasks], formats), args.runs, args.warmup),
            }
            out["sizes"][size] = row
            fmt = lambda r: f"{r['median_ms']:6.1f} / {r['p95_ms']:6.1f}"  # noqa: E731
            print(f"{f'{size}x{size}':>9s} {fmt(row['model']):>16s} {fmt(row['app']):>16s} {fmt(row['served']):>16s}")
        if not args.no_hostile:
            print(f"hostile images through the demo's intake (decode budget {DECODE_BUDGET / 2 ** 20:.0f} MB):")
            out["hostile"] = hostile(Path(tmp))
        clients = [int(c) for c in args.clients.split(",") if c]
        if clients and source == "random":
            print("note: no live server: `python app.py` serves a checkpoint, and none could be loaded")
        elif clients:
            print(f"live server (`python app.py --checkpoint {args.checkpoint}`), {args.requests} requests per client "
                  f"of a {args.client_size}² scene, queue size {QUEUE_SIZE}, concurrency {CONCURRENCY}:")
            out["clients"] = concurrency(args.checkpoint, Path(tmp), args.client_size, clients, args.requests)
    if TARGET_SIZE in out["sizes"]:
        median = out["sizes"][TARGET_SIZE]["served"]["median_ms"]
        out["pass"] = median < TARGET_MS
        print(f"target: served median < {TARGET_MS:.0f} ms at {TARGET_SIZE}x{TARGET_SIZE}: {median:.1f} ms -> "
              f"{'PASS' if out['pass'] else 'FAIL'}")
    return out
