"""The bundled model's raw outputs on fixed inputs, fingerprinted; `tests/pretrained_reference.json` holds them.

    python tests/pretrained_reference.py --write    # (re)make the reference; only when the model is meant to change

The reference was first made before the one-way architecture refactor (issue 14), so `test_pretrained.py` checks
that refactors leave the bundled model's numbers bit-identical. It was remade once, for the one-call upsampling of
all tasks' maps (`tasks.upsample_tasks`, issue 16), which changed the outputs by float rounding only: every sum and
absolute sum within a relative 1.2e-9 of the previous reference. Each output is fingerprinted by the SHA-256 of its
float32 bytes (bit-identity) and by its float64 sum and sum of absolute values (to tell "different machine or
torch build, same numbers up to rounding" from "different model"). One torch thread: the kernels then reduce in
one fixed order.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

REFERENCE = Path(__file__).with_name("pretrained_reference.json")
SCENES = ((0, 128, 128), (1, 96, 160))  # synthetic validation scenes: (index, H, W)
RANDOM_SHAPE = (1, 3, 100, 150)  # a raw input that the model pads to a multiple of its stride and crops back


def fixed_inputs() -> dict[str, torch.Tensor]:
    """Normalised synthetic scenes (one of them padded by the model), and a random tensor of an odd size. Made
    without `model.preprocess`, so that they fix the model's numbers only."""
    from mqt_lite.data import normalize_image, render_scene, scene_rng

    inputs = {f"scene{i}": normalize_image(render_scene(scene_rng(0, "val", i), (H, W))["image"])[None]
              for i, H, W in SCENES}
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
            return {name: {t: fingerprint(y) for t, y in model(x).items()} for name, x in fixed_inputs().items()}
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
