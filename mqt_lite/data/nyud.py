"""NYUD-v2 (Silberman et al., ECCV 2012) in the common schema: 795 train / 654 val indoor images, 4 tasks.

Two on-disk layouts are in circulation and both load; every file is decoded by its extension, so a folder
mixing them works too:

    NYUD_MT: images/<id>.jpg (480x640), segmentation/<id>.png, depth/<id>.npy, normals/<id>.npy,
             edge/<id>.npy, gt_sets/{train,val}.txt
    older NYUDv2 export: images/<id>.png, normals/<id>.png, edge/<id>.png, depth/<id>.npy or <id>.png

Conversions to the schema:
- segmentation png: 0 (unlabelled) -> 255 (ignore), 1..40 -> 0..39; any other value -> 255.
- depth: .npy is metres; .png is 16-bit millimetres (/1000); non-finite or negative -> 0 (invalid).
- normals: .npy in [-1, 1], (H, W, 3) or (3, H, W), all-zero stays invalid; .png 2 v / 255 - 1 with black
  pixels invalid. Vectors are not renormalised (the losses and metrics normalise); their frame is the one the
  files use.
- edge: > 0 -> 1 (the .npy files hold {0, 1}, the pngs {0, 255}).
The dataset stores only file paths and decodes through `datasets` features (`Image` for the photo,
`schema.SchemaFile` for the maps) when a row is read, whatever the format or verb; decoded, the two splits would
take about 7 GB (4.9 MB of float depth and normals per 480x640 image), which is why nothing is materialised.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from ..tasks import CLASS_NAMES, DATASET_TASKS, IGNORE
from .schema import (DatasetLayoutError, file_dataset, find_file, normals_from_png, raise_if_missing,
                     read_image, read_split, register_decoder, require_folders)

LAYOUT = """expected NYUD-v2 layout (NYUD_MT, or the older NYUDv2 export with .png in place of .jpg/.npy):
  <root>/images/<id>.jpg | .png
  <root>/segmentation/<id>.png        40 classes as 1..40, 0 = unlabelled
  <root>/depth/<id>.npy | .png        metres | 16-bit millimetres
  <root>/normals/<id>.npy | .png      [-1, 1] | 2 v / 255 - 1
  <root>/edge/<id>.npy | .png
  <root>/gt_sets/{train,val}.txt      one <id> per line
NYUD_MT is distributed as an archive with the ATRC, MTI-Net and Multi-Task-Learning-PyTorch repositories
(S. Vandenhende et al.); put its folder at <root>."""
NUM_CLASSES = len(CLASS_NAMES["nyud"]["semseg"])
MM_PER_METRE = 1000.0
# task (or "image") -> (folder, accepted suffixes in order of preference)
SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "image": ("images", (".jpg", ".png")),
    "semseg": ("segmentation", (".png",)),
    "depth": ("depth", (".npy", ".png")),
    "normals": ("normals", (".npy", ".png")),
    "edge": ("edge", (".npy", ".png")),
}


def _semseg(path: str) -> np.ndarray:
    lut = np.full(256, IGNORE, np.uint8)
    lut[1:NUM_CLASSES + 1] = np.arange(NUM_CLASSES)  # 0 = unlabelled stays ignored
    return lut[read_image(path)]


def _depth(path: str) -> np.ndarray:
    depth = np.load(path) if path.endswith(".npy") else read_image(path).astype(np.float32) / MM_PER_METRE
    depth = np.asarray(depth, np.float32)
    return np.where(np.isfinite(depth) & (depth > 0), depth, 0).astype(np.float32)


def _normals(path: str) -> np.ndarray:
    if not path.endswith(".npy"):
        return normals_from_png(read_image(path, "RGB"))
    normals = np.asarray(np.load(path), np.float32)
    if normals.ndim != 3 or 3 not in (normals.shape[0], normals.shape[-1]):
        raise DatasetLayoutError(f"{path}: normals should be (H, W, 3) or (3, H, W), got {normals.shape}")
    normals = normals if normals.shape[0] == 3 else normals.transpose(2, 0, 1)
    return np.where(np.isfinite(normals), normals, 0).astype(np.float32)


def _edge(path: str) -> np.ndarray:
    edge = np.load(path) if path.endswith(".npy") else read_image(path, "L")
    return (np.asarray(edge) > 0).astype(np.uint8)


for _task, _decode in (("semseg", _semseg), ("depth", _depth), ("normals", _normals), ("edge", _edge)):
    register_decoder(f"nyud.{_task}", _decode)


def load_nyud(root: str | Path, split: str, tasks: Iterable[str] | None = None):
    """NYUD-v2 as a datasets.Dataset ("numpy" format) whose rows (`ds[i]`) are schema arrays, decoded on access.

    Args:
        root: the NYUD folder (either layout).
        split: a split file name in gt_sets/ ("train" or "val").
        tasks: tasks to load (default all four); only their folders are required.
    Raises:
        DatasetLayoutError: a folder, the split file or any file of the split is missing.
    """
    root, tasks = Path(root), tuple(tasks or DATASET_TASKS["nyud"])
    unknown = sorted(set(tasks) - set(DATASET_TASKS["nyud"]))
    if unknown:
        raise ValueError(f"NYUD has no labels for {unknown}; valid: {list(DATASET_TASKS['nyud'])}")
    columns = ("image", *tasks)
    require_folders(root, ["gt_sets"] + [SOURCES[c][0] for c in columns], LAYOUT)
    ids = read_split(root / "gt_sets" / f"{split}.txt", LAYOUT)
    paths: dict[str, list[str]] = {c: [] for c in columns}
    missing = []
    for image_id in ids:
        for c in columns:
            folder, suffixes = SOURCES[c]
            path = find_file(root / folder, image_id, suffixes)
            if path is None:
                missing.append(f"{root / folder / image_id}{{{','.join(suffixes)}}}")
            paths[c].append(str(path))
    raise_if_missing(missing, split, LAYOUT)
    return file_dataset(ids, paths["image"], {t: (f"nyud.{t}", paths[t]) for t in tasks})
