"""Real photographs with dense ground truth that an installed package ships, for zero-shot evaluation.

No real dataset can be downloaded where this package is developed, so the real-image benchmark uses what the
installed dependencies carry. Searched: every sample image in the scikit-image wheel (`skimage/data`), matplotlib's
sample data, and the other installed packages' data files. The one real photograph with dense ground truth among
them is scikit-image's `stereo_motorcycle`: the left view of the Middlebury 2014 "Motorcycle" stereo pair,
downsampled 4x to 741x500, with its ground-truth disparity (structured light; non-finite where unknown). Its
calibration for that resolution (from `skimage.data.stereo_motorcycle`'s docstring) turns disparity d into
metric z-depth as Middlebury defines it: Z = f * baseline / (d + doffs).

Licence: scikit-image states no licence for these files (they ship inside its BSD-3-Clause wheel); the dataset's
authors ask users to cite D. Scharstein et al., "High-resolution stereo datasets with subpixel-accurate ground
truth", GCPR 2014. This package only reads the files from the installed wheel, for evaluation: it neither copies
them nor trains on them (the rich world's textures, photos.py, exclude them).

PHOTOS (no ground truth) are the real photographs the demo's gallery and `evaluate --real --figure` show the model's
predictions on: only scikit-image's photos under a free licence (CC0 or public domain, as photos.PHOTOS records), so
the motorcycle, whose licence is not stated, is scored but never shown. They are also textures of the rich world
(cut, recoloured and pasted on walls and furniture), so a rich-world model has seen patches of them, never the
whole photo with its scene layout.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from .photos import PHOTOS as TEXTURE_PHOTOS
from .photos import skimage_data_dir

# name -> files in skimage/data, calibration of the downsampled pair (pixels, metres), licence and citation
REAL_IMAGES = {
    "motorcycle": {
        "image": "motorcycle_left.png", "disparity": "motorcycle_disp.npz",
        "focal": 994.978, "baseline": 0.193001, "doffs": 31.086,
        "licence": "no licence stated by scikit-image (shipped in its BSD-3-Clause wheel); "
                   "cite Scharstein et al., GCPR 2014",
        "source": "Middlebury 2014 stereo dataset, 'Motorcycle', left view, downsampled 4x, via scikit-image",
    },
}


# name -> file in skimage/data: scenes (not the flat textures brick, grass, gravel), most room-like first
PHOTOS = {"coffee": "coffee.png", "astronaut": "astronaut.png", "chelsea": "chelsea.png", "camera": "camera.png",
          "rocket": "rocket.jpg"}


def photo_licence(name: str) -> tuple[str, str]:
    """(licence, source) of a photo of PHOTOS, as `skimage.data`'s docstrings state them."""
    return TEXTURE_PHOTOS[PHOTOS[name]]


def load_photo(name: str) -> np.ndarray:
    """A photo of PHOTOS from the installed scikit-image wheel as (H, W, 3) uint8 (grey photos repeated over RGB)."""
    if name not in PHOTOS:
        raise ValueError(f"no photo {name!r}; available: {list(PHOTOS)}")
    with Image.open(skimage_data_dir() / PHOTOS[name]) as im:
        return np.array(im.convert("RGB"))


def depth_from_disparity(disparity: np.ndarray, focal: float, baseline: float, doffs: float) -> np.ndarray:
    """Metric z-depth (float32, metres; 0 = invalid) from a disparity map (pixels; non-finite or <= -doffs =
    unknown): Z = focal * baseline / (disparity + doffs)."""
    d = np.asarray(disparity, np.float64) + doffs
    valid = np.isfinite(d) & (d > 0)
    depth = np.zeros(d.shape, np.float32)
    depth[valid] = focal * baseline / d[valid]
    return depth


def load_real(names: tuple[str, ...] | None = None) -> list[dict[str, np.ndarray | str]]:
    """The real images with ground truth, as schema rows: {"name", "image" (H, W, 3) uint8, "depth" (H, W)
    float32 metres, 0 = invalid}.

    Args:
        names: keys of REAL_IMAGES (default: all).
    """
    folder = skimage_data_dir()
    rows = []
    for name in names or tuple(REAL_IMAGES):
        spec = REAL_IMAGES[name]
        with Image.open(folder / spec["image"]) as im:
            image = np.array(im.convert("RGB"))  # a writable copy
        with np.load(folder / spec["disparity"]) as data:
            disparity = data["arr_0"]
        depth = depth_from_disparity(disparity, spec["focal"], spec["baseline"], spec["doffs"])
        if depth.shape != image.shape[:2]:
            raise ValueError(f"{name}: disparity {depth.shape} and image {image.shape[:2]} differ in size")
        rows.append({"name": name, "image": image, "depth": depth})
    return rows
