"""Texture atlas of the rich synthetic world: real photographs that scikit-image ships, plus procedural patterns.

Domain randomisation: a model that has only seen flat colours and stripes treats the texture of a real wall or
floor as geometry. Covering the world's surfaces with real photographs (cut, scaled, rotated and recoloured per
surface by `rich.py`) makes texture a nuisance to ignore rather than a cue to trust.

The photographs are the sample images inside the scikit-image wheel (its `skimage/data` folder; nothing is
downloaded): only those whose docstrings in `skimage.data` put them under CC0 or in the public domain (PHOTOS
records each one's licence and source). The stereo pair `motorcycle_*` is NOT a texture: it is the real-image
test set of `data/real.py`. Each photo's largest central square is resized to TEXTURE_SIZE; grey photos are
repeated over the three channels. Procedural patterns (plain, stripes, checks, marble, grain) are grey images
of the same size, so every surface is textured by one lookup into one (K, S, S, 3) uint8 atlas.
"""
from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path

import numpy as np
from PIL import Image

TEXTURE_SIZE = 256  # texels per side; a power of two, so texture coordinates wrap with a bit mask
# file in skimage/data -> (licence, source), as the docstrings of skimage.data state them
PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut.png": ("public domain", "NASA (Eileen Collins), via scikit-image"),
    "brick.png": ("CC0", "CC0Textures Bricks25, via scikit-image"),
    "camera.png": ("CC0", "Lav Varshney, via scikit-image"),
    "chelsea.png": ("CC0", "Stefan van der Walt, via scikit-image"),
    "clock_motion.png": ("public domain", "Stefan van der Walt, via scikit-image"),
    "coffee.png": ("CC0", "Rachel Michetti, via scikit-image"),
    "grass.png": ("CC0", "linolafett (DeviantArt), via scikit-image"),
    "gravel.png": ("CC0", "CC0Textures Gravel04, via scikit-image"),
    "hubble_deep_field.jpg": ("public domain", "NASA / Hubble, via scikit-image"),
    "rocket.jpg": ("public domain", "SpaceX, via scikit-image"),
    "text.png": ("public domain", "Wikipedia 'Corner.png', via scikit-image"),
}
PATTERNS = ("plain", "stripes", "checks", "marble", "grain")
GRAIN_SEED, GRAIN_CELLS = 12345, 16  # the fixed value noise behind "grain" (cells per side)


def skimage_data_dir() -> Path:
    """The data folder inside the installed scikit-image wheel (found without importing scikit-image)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the rich synthetic world and the real-image benchmark read the sample images of "
                          "scikit-image: pip install scikit-image")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _square(path: Path, size: int) -> np.ndarray:
    """A photo's largest central square, resized to (size, size, 3) uint8."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        side = min(w, h)
        box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
        return np.asarray(im.resize((size, size), Image.BILINEAR, box=box))


def _pattern(name: str, size: int) -> np.ndarray:
    """A procedural grey pattern (size, size) in [0, 1] that tiles seamlessly."""
    i = np.arange(size, dtype=np.float32)
    x, y = i[None, :], i[:, None]
    turn = 2 * math.pi / size
    if name == "stripes":
        return np.broadcast_to((np.sin(x * 8 * turn) > 0).astype(np.float32), (size, size))
    if name == "checks":
        return ((x // (size // 4) + y // (size // 4)) % 2).astype(np.float32)
    if name == "marble":  # waves of whole periods: seamless
        return 0.5 + 0.25 * (np.sin((3 * x + 2 * y) * turn + 2 * np.sin(y * 2 * turn)) + np.sin((x - 4 * y) * turn))
    if name == "grain":  # bilinear value noise on a periodic grid
        cells = np.random.default_rng(GRAIN_SEED).random((GRAIN_CELLS, GRAIN_CELLS)).astype(np.float32)
        g = i * GRAIN_CELLS / size
        k, f = g.astype(int), g - g.astype(int)
        rows = cells[k] * (1 - f[:, None]) + cells[(k + 1) % GRAIN_CELLS] * f[:, None]
        return rows[:, k] * (1 - f[None, :]) + rows[:, (k + 1) % GRAIN_CELLS] * f[None, :]
    return np.zeros((size, size), np.float32)  # plain


@functools.lru_cache(maxsize=None)
def atlas(size: int = TEXTURE_SIZE) -> tuple[np.ndarray, int]:
    """(textures (K, size, size, 3) uint8 read-only, number of photos): the photos of PHOTOS first, then PATTERNS."""
    folder = skimage_data_dir()
    missing = [name for name in PHOTOS if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"scikit-image's sample images {missing} are not in {folder}: "
                                "install a scikit-image wheel that ships them (pip install -U scikit-image)")
    photos = [_square(folder / name, size) for name in PHOTOS]
    patterns = [np.repeat(np.round(_pattern(n, size) * 255).astype(np.uint8)[..., None], 3, -1) for n in PATTERNS]
    textures = np.stack(photos + patterns)
    textures.flags.writeable = False
    return textures, len(photos)

