"""`model.predict(images)`: the one inference call shared by the app, the notebooks and users.

Each image is resized (aspect kept) to fit the model's `image_size`, padded to it (as the evaluation protocol
pads), run in batches, cropped back, upsampled to the image's own size and post-processed by its task:
semseg/parts int labels (H, W), depth metres (H, W), normals unit vectors (3, H, W), sal/edge probabilities (H, W).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .imageio import normalize_pixels, to_rgb_array
from .precision import autocast, autocast_dtype
from .tasks import TASKS, upsample_tasks


class Predictor:
    """Mixin for models with `.cfg` (image_size, tasks) and `forward(images) -> {task: logits}`."""

    def preprocess(self, image: Any) -> tuple[Tensor, tuple[int, int], tuple[int, int]]:
        """One image -> (normalised tensor (3, H_cfg, W_cfg), resized size (h, w), original size (H, W)).

        Any PIL image or array goes through `imageio.to_rgb_array` (16-bit and float pixels scaled in row chunks).
        """
        rgb = to_rgb_array(image)
        H, W = rgb.shape[:2]
        Hc, Wc = self.cfg.image_size
        scale = min(Hc / H, Wc / W)
        h, w = max(1, min(Hc, round(H * scale))), max(1, min(Wc, round(W * scale)))
        # Resize first, then normalise: both are linear and the resize weights sum to 1, so the order changes
        # only rounding (< 1e-6), and normalising h*w pixels instead of H*W is what a large photo needs.
        # (a read-only array, e.g. a datasets row, is copied as uint8 first: torch warns on non-writable memory)
        x = torch.from_numpy(np.require(rgb, requirements="W")).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
        if (h, w) != (H, W):
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=scale < 1)
        x = normalize_pixels(x[0])  # (3, h, w)
        return F.pad(x, (0, Wc - w, 0, Hc - h)), (h, w), (H, W)

    @torch.inference_mode()  # no autograd bookkeeping at all (cheaper than no_grad at batch 1)
    def predict(self, images: Any, batch_size: int = 8,
                precision: str | None = None) -> dict[str, np.ndarray] | list[dict[str, np.ndarray]]:
        """Predict every task for one image (RGB uint8 array or PIL image) or a list of them.

        Args:
            images: an image, or a list of images of any sizes.
            batch_size: images per forward pass.
            precision: autocast of the forward pass (mqt_lite.precision): "fp32", "bf16", "fp16" or "auto"
                (bf16/fp16 on CUDA, fp32 on CPU); default the config's `eval_precision`.
        Returns:
            for one image {task: np.ndarray at the image's size}; for a list, a list of such dicts.
        """
        single = not isinstance(images, (list, tuple))
        batch = [images] if single else list(images)
        was_training = self.training
        if was_training:  # (train()/eval() walk every module: 4 ms each on the bundled model, so only when needed)
            self.eval()
        device = next(self.parameters()).device
        dtype = autocast_dtype(precision or self.cfg.eval_precision, device, training=False)
        results: list[dict[str, np.ndarray]] = []
        try:
            for i in range(0, len(batch), batch_size):
                prepped = [self.preprocess(im) for im in batch[i:i + batch_size]]
                x = torch.stack([p[0] for p in prepped]).to(device)
                with autocast(device, dtype):
                    out = self(x)
                for j, (_, (h, w), (H, W)) in enumerate(prepped):
                    results.append(self._postprocess({t: o[j:j + 1, :, :h, :w].float() for t, o in out.items()},
                                                     (H, W)))
        finally:
            if was_training:
                self.train()
        return results[0] if single else results

    @staticmethod
    def _postprocess(out: dict[str, Tensor], size: tuple[int, int]) -> dict[str, np.ndarray]:
        # (all tasks upsampled in one call: transiently 4 bytes a pixel per channel of every task, ~64 B/pixel on
        # the bundled model, beside the ~40 B/pixel of the returned arrays)
        return {t: TASKS[t].postprocess(o)[0].cpu().numpy() for t, o in upsample_tasks(out, size).items()}

