"""The bundled model's raw outputs on fixed inputs, fingerprinted; `tests/pretrained_reference.json` holds them.

    python tests/pretrained_reference.py --write    # (re)make the reference; only when the model is meant to change

The reference was made before the one-way architecture refactor (issue 14), so `test_pretrained.py` checks that
refactors leave the bundled model's numbers bit-identical. Each output is fingerprinted by the SHA-256 of its
float32 bytes (bit-identity) and by its float64 sum and sum of absolute values (to tell "different machine or
torch build, same numbers up to rounding" from "different model"). One torch thread: the kernels then reduce in
one fixed order.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

REFERENCE = Path(__file__).with_name("pretrained_reference.json")
SCENE_SEEDS = (0, 1)  # synthetic validation scenes through model.preprocess
RANDOM_SHAPE = (1, 3, 100, 150)  # a raw input that the model pads to a multiple of its stride and crops back


def fixed_inputs(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Two synthetic scenes and a random photo through `preprocess`, and a raw random tensor of an odd size."""
    from mqt_lite.data import render_scene, scene_rng

    images = {f"scene{i}": render_scene(scene_rng(0, "val", i), 128)["image"] for i in SCENE_SEEDS}
    images["random_photo"] = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    inputs = {name: model.preprocess(im)[0][None] for name, im in images.items()}
    inputs["random_tensor"] = torch.randn(*RANDOM_SHAPE, generator=torch.Generator().manual_seed(0))
    return inputs


def fingerprint(y: torch.Tensor) -> dict[str, float | str]:
    """SHA-256 (first 16 hex digits) of the float32 bytes, float64 sum and sum of absolute values."""
    y = y.detach().float().cpu().contiguous()
    return {"sha256": hashlib.sha256(y.numpy().tobytes()).hexdigest()[:16], "sum": float(y.double().sum()),
            "abs_sum": float(y.double().abs().sum())}


def fingerprints(model: torch.nn.Module) -> dict[str, dict[str, dict]]:
    """{input name: {task: fingerprint of the raw output model(x)}}, computed on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            return {name: {t: fingerprint(y) for t, y in model(x).items()} for name, x in fixed_inputs(model).items()}
    finally:
        torch.set_num_threads(threads)


def machine() -> dict[str, str]:
    """What bit-identity depends on besides the code: the torch build and the CPU's vector instructions."""
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


if __name__ == "__main__":
    if "--write" not in sys.argv:
        sys.exit(__doc__)
    import mqt_lite

    reference = {"made_with": "python tests/pretrained_reference.py --write", **machine(),
                 "outputs": fingerprints(mqt_lite.load_pretrained("tiny-synthetic"))}
    REFERENCE.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {REFERENCE}")
