"""Image intake with bounded memory: files and arrays -> RGB uint8 -> the model's normalised input tensor.

The one decoder of the package: `model.predict` takes arrays and PIL images through `to_rgb_array`, the demo takes
whatever it is sent (a file, a PIL image, an array) through `decode`, and both normalise with `normalize_image`
(which the data pipeline uses too).

Why: the demo decodes whatever a stranger uploads. A 158 KB PNG can hold 9000x9000 16-bit pixels; decoding it,
converting the whole frame to RGB (PIL keeps 4 bytes a pixel) and to float64 took 4.6 GB before the downscale.
Here the header is read first and the decode is refused when the frame, in its own mode, would exceed
`DECODE_BUDGET` bytes; JPEGs are decoded at a reduced scale (`Image.draft`); the frame is then converted and
reduced by an integer factor in strips of rows (`STRIP_PIXELS` at a time), so no full-size RGB or float copy
is ever made. 16-bit and float pixels are scaled in float32, strip by strip.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

DECODE_BUDGET = 512 * 2 ** 20  # bytes a decoded frame may take in its own mode (PIL: 1-4 bytes a pixel)
STRIP_PIXELS = 2 ** 22  # pixels converted at a time (about 4 Mpx: 16 MB of RGB)
ORIENTATION_TAG = 0x0112  # EXIF orientation; 1 = upright
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}  # as ImageOps.exif_transpose
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}  # others: 4
_HIGH_BIT = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the backbones' input normalisation
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageTooLarge(ValueError):
    """An image whose decode would exceed the memory budget; the message names the budget."""


@dataclass
class Decoded:
    """An image read by `read_image`: RGB uint8 at most `max_side` a side, and what was done to it."""

    rgb: np.ndarray  # (H, W, 3) uint8, upright
    size: tuple[int, int]  # (W, H) of the image in the file, upright
    rotated: bool = False  # turned as its EXIF orientation says
    transparent: bool = False  # had transparency, now on white
    text: dict[str, str] = field(default_factory=dict)  # text chunks of the file (e.g. PNG tEXt)


def decode_cost(size: tuple[int, int], mode: str) -> int:
    """Bytes PIL needs for a decoded frame of this size and mode."""
    return size[0] * size[1] * _BYTES_PER_PIXEL.get(mode, 4)


def fit_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(W, H) scaled down (aspect kept) so that the long side is at most max_side."""
    W, H = size
    if max(W, H) <= max_side:
        return W, H
    scale = max_side / max(W, H)
    return max(1, round(W * scale)), max(1, round(H * scale))


def read_image(path: str | Path, max_side: int, budget: int = DECODE_BUDGET) -> Decoded:
    """Decode an image file to RGB uint8 with its long side at most `max_side`, within `budget` bytes.

    Raises ImageTooLarge before decoding when the frame would not fit the budget, and PIL's errors
    (UnidentifiedImageError, DecompressionBombError, OSError) for files that are not readable images.
    """
    with warnings.catch_warnings():  # our budget, checked below, is the limit; PIL's hard limit still holds
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as im:  # reads the header only
            return _decode(im, max_side, budget)


def decode(image: Any, max_side: int, budget: int = DECODE_BUDGET) -> Decoded:
    """A file (path), PIL image or array -> Decoded: RGB uint8, long side at most `max_side`, transparent pixels on
    white. Files go through `read_image` (header first, within `budget`, EXIF orientation applied), images in
    memory through `to_rgb_array`.

    Raises ImageTooLarge and PIL's errors for files (as `read_image`), ValueError or TypeError for arrays that are
    no image.
    """
    if isinstance(image, (str, Path)):
        return read_image(image, max_side, budget)
    transparent = isinstance(image, Image.Image) and ("A" in image.mode or "transparency" in image.info)
    if transparent:
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    rgb = to_rgb_array(image)
    size = (rgb.shape[1], rgb.shape[0])
    target = fit_size(size, max_side)
    if target != size:
        rgb = np.asarray(Image.fromarray(rgb).resize(target, Image.BILINEAR, reducing_gap=2.0))
    return Decoded(rgb, size, transparent=transparent)


def _decode(im: Image.Image, max_side: int, budget: int) -> Decoded:
    """An opened (not yet decoded) image -> Decoded, within the budget."""
    size = im.size
    orientation = im.getexif().get(ORIENTATION_TAG, 1)
    target = fit_size(size, max_side)
    if im.format == "JPEG":
        im.draft(None, target)  # decode at 1/2, 1/4 or 1/8 scale, no smaller than the target
    cost = decode_cost(im.size, im.mode)
    if cost > budget:
        raise ImageTooLarge(
            f"the {size[0]}×{size[1]} {im.mode} image would take {cost / 2 ** 20:.0f} MB to decode; at most "
            f"{budget / 2 ** 20:.0f} MB (about {budget // _BYTES_PER_PIXEL.get(im.mode, 4) / 1e6:.0f} megapixels "
            f"in this mode) are decoded. Downscale it first.")
    im.load()
    transparent = im.mode not in _HIGH_BIT and ("A" in im.mode or "transparency" in im.info)
    text = {k: v for k, v in im.info.items() if isinstance(k, str) and isinstance(v, str)}
    rgb = _reduce_to_rgb(im, target, transparent)
    rotate = _TRANSPOSE.get(orientation)
    if rotate is not None:
        rgb = np.asarray(Image.fromarray(rgb).transpose(rotate))
        size = size[::-1] if orientation >= 5 else size
    return Decoded(np.ascontiguousarray(rgb), size, rotate is not None, transparent, text)


def _reduce_to_rgb(im: Image.Image, target: tuple[int, int], transparent: bool) -> np.ndarray:
    """A decoded frame -> RGB uint8 of size `target`, converted and reduced strip by strip."""
    W, H = im.size
    factor = max(1, min(W // target[0], H // target[1]))  # integer pre-reduction, not below the target
    rows = max(factor, STRIP_PIXELS // max(W, 1) // factor * factor)  # a multiple of factor
    hi = _full_scale(im) if im.mode in _HIGH_BIT else 0.0
    strips = []
    for top in range(0, H, rows):
        strip = _strip_to_rgb(im.crop((0, top, W, min(H, top + rows))), transparent, hi)
        strips.append(np.asarray(strip.reduce(factor) if factor > 1 else strip))
    rgb = strips[0] if len(strips) == 1 else np.concatenate(strips)
    if (rgb.shape[1], rgb.shape[0]) != target:
        rgb = np.asarray(Image.fromarray(rgb).resize(target, Image.BILINEAR, reducing_gap=2.0))
    return rgb


def _full_scale(im: Image.Image) -> float:
    """The value shown as white for 16-bit, 32-bit integer and float frames (read without a copy)."""
    lo, top = im.getextrema()
    if im.mode == "F":
        return 1.0 if top <= 1.0 else 255.0
    return 65535.0 if im.mode != "I" or top <= 65535 else float(2 ** 31 - 1)


def _strip_to_rgb(strip: Image.Image, transparent: bool, hi: float) -> Image.Image:
    if hi:
        return Image.fromarray(scale_to_uint8(np.asarray(strip), hi)).convert("RGB")
    if transparent:  # transparent pixels on white
        return Image.alpha_composite(Image.new("RGBA", strip.size, "white"), strip.convert("RGBA")).convert("RGB")
    return strip.convert("RGB")


def scale_to_uint8(a: np.ndarray, hi: float) -> np.ndarray:
    """Values 0..hi (NaN as 0) -> uint8, in float32 and in row chunks (no full-size float copy)."""
    out = np.empty(a.shape, np.uint8)
    rows = max(1, STRIP_PIXELS // max(1, a[0].size))
    for top in range(0, a.shape[0], rows):
        chunk = np.nan_to_num(a[top:top + rows].astype(np.float32), nan=0.0, posinf=hi, neginf=0.0)
        out[top:top + rows] = np.clip(chunk * np.float32(255.0 / hi) + np.float32(0.5), 0, 255)
    return out


def to_rgb_array(image: Any) -> np.ndarray:
    """PIL image or array (H, W), (H, W, 1|3|4), any integer or float dtype -> RGB uint8 (H, W, 3)."""
    if hasattr(image, "convert"):  # PIL: handles palette, CMYK, 16-bit, RGBA, grayscale
        if image.mode not in _HIGH_BIT:
            return np.asarray(image.convert("RGB"))
        image = scale_to_uint8(np.asarray(image), _full_scale(image))
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"expected an image array (H, W), (H, W, 3) or (H, W, 4), got shape {a.shape}")
    a = a[..., :3] if a.shape[2] == 4 else a
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating):
            a = scale_to_uint8(a, 1.0 if np.nanmax(a) <= 1.0 else 255.0)
        elif np.issubdtype(a.dtype, np.integer):  # e.g. 16-bit: scale by the dtype's range
            a = scale_to_uint8(a, float(np.iinfo(a.dtype).max))
        else:
            raise ValueError(f"unsupported image dtype {a.dtype}")
    return np.ascontiguousarray(np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a)


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
