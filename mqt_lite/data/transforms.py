"""Joint transforms and the torch adapter shared by every dataset (DESIGN Sec. 5, paper Sec. IV-A).

Training: "random scaling with values between 0.5 and 2.0 and random cropping to the input size" (Sec. IV-A),
plus the horizontal flip and photometric jitter of the ATRC / MTI-Net recipes:
  1. photometric jitter, image only: brightness, contrast and saturation factors ~ U(1 - JITTER, 1 + JITTER);
  2. random scale s ~ U(0.5, 2.0): the image bilinear; labels, depth and normals nearest (bilinear would blend
     classes, average depths across object boundaries and mix valid normals with invalid zeros). Both use
     pixel-centre coordinates (align_corners=False, "nearest-exact"), so image and labels stay aligned;
  3. pad bottom/right to at least `size` (image: the ImageNet mean, labels 255, depth 0, normals 0), random crop;
  4. horizontal flip with probability 1/2, negating the normals' x component.
Evaluation: pad bottom/right to `size` with the same ignore values, so metrics over the padded maps equal metrics
on the original; an image larger than `size` raises (the papers pad to the largest image, they never resize).
Randomness: each sample draws from SeedSequence((seed, epoch, index)): reproducible whatever the number of
DataLoader workers; call `set_epoch` before each epoch's iterator (not seen by persistent workers).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from ..tasks import TASKS
from .schema import IGNORE_INDEX, as_numpy

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SCALE_RANGE = (0.5, 2.0)
JITTER = 0.2
LUMA = (0.299, 0.587, 0.114)  # RGB -> grey weights (ITU-R BT.601)
# value of padded pixels per target; the normalised image is padded with 0 (= the mean colour)
PAD_VALUE = {"semseg": IGNORE_INDEX, "parts": IGNORE_INDEX, "sal": IGNORE_INDEX, "edge": IGNORE_INDEX,
             "depth": 0.0, "normals": 0.0}


def normalize_image(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) RGB, uint8 (or float in [0, 255]) -> (3, H, W) float32 normalised with the ImageNet mean, std."""
    return normalize_pixels(torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1))


def normalize_pixels(x: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) float in [0, 255] -> the same normalised with the ImageNet mean, std."""
    return (x / 255 - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)


def denormalize(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (B, 3, H, W) normalised image -> (H, W, 3) or (B, H, W, 3) uint8 RGB."""
    mean = torch.tensor(IMAGENET_MEAN, device=image.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=image.device).view(3, 1, 1)
    x = ((image.detach().float() * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)
    return x.movedim(-3, -1).cpu().numpy()


def jitter_colour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random brightness, contrast and saturation of a (H, W, 3) uint8 image (float result in [0, 255])."""
    b, c, s = rng.uniform(1 - JITTER, 1 + JITTER, 3)
    x = image.astype(np.float32) * b
    grey = x @ np.array(LUMA, np.float32)  # (H, W)
    x = (x - grey.mean()) * c + grey.mean()
    grey = x @ np.array(LUMA, np.float32)
    x = grey[..., None] + (x - grey[..., None]) * s
    return np.clip(x, 0, 255)


def _targets_to_tensor(row: dict[str, np.ndarray], tasks: tuple[str, ...]) -> torch.Tensor:
    """Stack every target into one float (C, H, W) tensor, so geometric ops handle them together."""
    maps = [torch.from_numpy(row[t].astype(np.float32)).view(-1, *row[t].shape[-2:]) for t in tasks]
    return torch.cat(maps)


def _channels(task: str) -> int:
    return 3 if TASKS[task].kind == "normals" else 1


class MultiTaskDataset(torch.utils.data.Dataset):
    """A schema dataset as torch samples: {"image": (3, H, W) float32, task: target} after joint transforms.

    Targets: semseg/parts/sal/edge int64 (H, W) with 255 = ignore; depth float32 (1, H, W), 0 = invalid;
    normals float32 (3, H, W), all-zero = invalid.

    Args:
        hf_dataset: a dataset from make_synthetic, load_nyud, load_pascal or load_dataset.
        tasks: targets to return.
        size: (H, W) training crop, or the size evaluation images are padded to.
        train: random augmentation (True) or padding only (False).
        seed: seed of the augmentations.
    """

    def __init__(self, hf_dataset, tasks: Iterable[str], size: tuple[int, int], train: bool, seed: int = 0):
        self.ds = hf_dataset.with_format("numpy") if hf_dataset.format["type"] is None else hf_dataset
        self.tasks, self.size, self.train, self.seed = tuple(tasks), tuple(size), train, seed
        self.epoch = 0
        if not self.tasks:
            raise ValueError(f"tasks is empty; pick some of {list(TASKS)}")
        for t in self.tasks:
            if t not in TASKS:
                raise ValueError(f"unknown task {t!r}; valid: {list(TASKS)}")
        as_numpy(self.ds[0], self.tasks)  # fail now if a task has no column

    def set_epoch(self, epoch: int) -> None:
        """Draw new augmentations: sample i of epoch e uses SeedSequence((seed, e, i))."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = as_numpy(self.ds[int(index)], self.tasks)
        if self.train:
            rng = np.random.default_rng(np.random.SeedSequence((self.seed, self.epoch, int(index))))
            image, targets = self._augment(row, rng)
        else:
            image, targets = self._pad(normalize_image(row["image"]), _targets_to_tensor(row, self.tasks), rng=None)
        sample = {"image": image}
        for t, x in zip(self.tasks, targets.split([_channels(t) for t in self.tasks])):
            sample[t] = x.round().long()[0] if TASKS[t].kind in ("labels", "binary") else x
        return sample

    def _augment(self, row: dict[str, np.ndarray], rng: np.random.Generator):
        """Jitter, random scale, pad + random crop, random flip."""
        image = normalize_image(jitter_colour(row["image"], rng))
        targets = _targets_to_tensor(row, self.tasks)
        H, W = image.shape[-2:]
        scale = rng.uniform(*SCALE_RANGE)
        out = (max(1, round(H * scale)), max(1, round(W * scale)))
        image = F.interpolate(image[None], size=out, mode="bilinear", align_corners=False)[0]
        targets = F.interpolate(targets[None], size=out, mode="nearest-exact")[0]
        image, targets = self._pad(image, targets, rng)
        if rng.random() < 0.5:
            image, targets = image.flip(-1), targets.flip(-1)
            if "normals" in self.tasks:
                start = sum(_channels(t) for t in self.tasks[: self.tasks.index("normals")])
                targets[start] = -targets[start]  # x points the other way in the mirrored image
        return image, targets

    def _pad(self, image: torch.Tensor, targets: torch.Tensor, rng: np.random.Generator | None):
        """Pad bottom/right to at least `size`; then crop to `size` at random (training) or require a fit."""
        (H, W), (h, w) = image.shape[-2:], self.size
        if rng is None and (H > h or W > w):
            raise ValueError(f"evaluation image of size {(H, W)} is larger than size={self.size}; pass the largest "
                             "image size of the dataset (the papers pad, they never resize evaluation images)")
        pad = (0, max(0, w - W), 0, max(0, h - H))
        image = F.pad(image, pad, value=0.0)  # 0 = the mean colour after normalisation
        values = [PAD_VALUE[t] for t in self.tasks for _ in range(_channels(t))]
        targets = torch.stack([F.pad(x, pad, value=float(v)) for x, v in zip(targets, values)])
        if rng is None:
            return image, targets
        top = int(rng.integers(image.shape[-2] - h + 1))
        left = int(rng.integers(image.shape[-1] - w + 1))
        return image[:, top:top + h, left:left + w], targets[:, top:top + h, left:left + w]
