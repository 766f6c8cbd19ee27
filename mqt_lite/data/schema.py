"""The one data schema every dataset is converted to (DESIGN Sec. 5), and helpers shared by the loaders.

A row of any dataset, read with `ds[i]`, is a dict of numpy arrays:

    name     str                      image id
    image    uint8   (H, W, 3)        RGB
    semseg   uint8   (H, W)           class index, 255 = ignore
    parts    uint8   (H, W)           part index, 255 = ignore
    sal      uint8   (H, W)           {0, 1}, 255 = ignore
    edge     uint8   (H, W)           {0, 1}, 255 = ignore
    depth    float32 (H, W)           metres (z-depth), 0 = invalid
    normals  float32 (3, H, W)        unit vectors in the camera frame, all-zero = invalid

A dataset only has the task columns it annotates (NYUD has no parts/sal). How the rows are stored differs:
the synthetic world is rendered once and stored in Arrow (PNG for the uint8 maps, float arrays for depth and
normals, `with_format("numpy")`); the real datasets keep only file paths and decode on access through
`Dataset.set_transform` (their decoded float maps would take tens of GB).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

IGNORE_INDEX = 255  # label value of pixels without ground truth (semseg, parts, sal, edge)

# column -> (dtype, number of dims); the image is channels-last (as PIL gives it), the normals channels-first
# (as the model predicts them).
COLUMNS: dict[str, tuple[type, int]] = {
    "image": (np.uint8, 3),
    "semseg": (np.uint8, 2),
    "parts": (np.uint8, 2),
    "sal": (np.uint8, 2),
    "edge": (np.uint8, 2),
    "depth": (np.float32, 2),
    "normals": (np.float32, 3),
}
MAX_LISTED_MISSING = 5  # how many missing files an error message names


class DatasetLayoutError(FileNotFoundError, ValueError):
    """A dataset folder is missing, incomplete or malformed; the message names the path and the expected layout.

    Both a FileNotFoundError (a missing file or folder) and a ValueError (a file with unexpected content).
    """


def as_numpy(row: dict[str, Any], tasks: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Convert one row (numpy, PIL or lists) to schema arrays with exact dtypes; check shapes agree.

    Args:
        row: a row of a dataset built by this package.
        tasks: task columns to keep (default: all present); "image" is always kept.
    """
    keys = ["image"] + [t for t in (tasks if tasks is not None else COLUMNS) if t != "image"]
    out = {}
    for key in keys:
        if key not in row:
            if tasks is None:
                continue
            raise KeyError(f"this dataset has no {key!r} column; it has {sorted(row)}")
        dtype, ndim = COLUMNS[key]
        arr = np.asarray(row[key])
        if arr.ndim != ndim:
            raise ValueError(f"column {key!r} should have {ndim} dims, got shape {arr.shape}")
        out[key] = arr if arr.dtype == dtype else arr.astype(dtype)
    size = out["image"].shape[:2]
    for key, arr in out.items():
        hw = arr.shape[-2:] if key == "normals" else arr.shape[:2]
        if hw != size:
            raise ValueError(f"column {key!r} is {hw} but the image is {size}")
    return out


def label_boundaries(*label_maps: np.ndarray) -> np.ndarray:
    """Boundary map (uint8 {0,1}) of one or more label maps of the same shape.

    Rule (exact, 1 pixel wide): pixel (i, j) is a boundary when, in any of the maps, its label differs from the
    pixel to its right (i, j+1) or the pixel below it (i+1, j). Boundaries thus lie on the top/left side of a
    label change. The reference loaders take |Laplacian| > 0 (both sides) and thin it to about 1 pixel.
    """
    edge = np.zeros(label_maps[0].shape, dtype=bool)
    for m in label_maps:
        edge[:, :-1] |= m[:, :-1] != m[:, 1:]
        edge[:-1, :] |= m[:-1, :] != m[1:, :]
    return edge.astype(np.uint8)


def read_image(path: str | Path, mode: str | None = None) -> np.ndarray:
    """An image file as a numpy array (converted to PIL `mode` if given: "RGB", "L")."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert(mode) if mode else im)


def normals_from_png(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, H, W) float32 by 2 v / 255 - 1; black pixels (0, 0, 0) are invalid (all zero)."""
    normals = rgb.astype(np.float32).transpose(2, 0, 1) * (2 / 255) - 1
    normals[:, (rgb == 0).all(-1)] = 0
    return normals


def png_bytes(array: np.ndarray, compress_level: int = 6) -> dict:
    """A uint8 array as lossless PNG bytes, in the form a datasets.Image() column stores."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=compress_level)
    return {"bytes": buffer.getvalue(), "path": None}


def read_split(path: Path, layout: str) -> list[str]:
    """Image ids listed one per line in a split file (blank lines skipped)."""
    if not path.is_file():
        raise DatasetLayoutError(f"split file not found: {path}\n{layout}")
    ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise DatasetLayoutError(f"split file is empty: {path}\n{layout}")
    return ids


def find_file(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    """The first existing `folder/stem.suffix` for suffixes in order of preference, else None."""
    for suffix in suffixes:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def require_folders(root: Path, folders: Iterable[str], layout: str) -> None:
    """Raise DatasetLayoutError naming the first missing folder of the layout."""
    if not root.is_dir():
        raise DatasetLayoutError(f"dataset folder not found: {root}\n{layout}")
    for name in folders:
        if not (root / name).is_dir():
            raise DatasetLayoutError(f"missing folder: {root / name}\n{layout}")


def raise_if_missing(missing: list[str], split: str, layout: str) -> None:
    """Fail before building when any split entry lacks a file (nothing is half-loaded)."""
    if missing:
        shown = "\n  ".join(missing[:MAX_LISTED_MISSING])
        more = f"\n  ... and {len(missing) - MAX_LISTED_MISSING} more" if len(missing) > MAX_LISTED_MISSING else ""
        raise DatasetLayoutError(
            f"{len(missing)} file(s) of split {split!r} are missing:\n  {shown}{more}\n{layout}"
        )


class _DecodeRows:
    """Batch transform applying `decode` to each record; picklable, so spawned DataLoader workers can use it."""

    def __init__(self, decode: Callable[[dict[str, str]], dict[str, Any]]):
        self.decode = decode

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        rows = [self._decode_one({k: v[i] for k, v in batch.items()}) for i in range(len(batch["name"]))]
        return {k: [r[k] for r in rows] for k in rows[0]}

    def _decode_one(self, record: dict[str, str]) -> dict[str, Any]:
        try:
            return self.decode(record)
        except (OSError, ValueError) as e:  # name the files of the failing image
            files = "\n  ".join(str(v) for k, v in record.items() if k != "name" and v)
            raise DatasetLayoutError(f"cannot decode image {record['name']!r}: {e}\n  {files}") from e


def lazy_dataset(records: dict[str, list[str]], decode: Callable[[dict[str, str]], dict[str, Any]]):
    """A datasets.Dataset of file paths whose rows decode to schema arrays on access (`ds[i]`).

    Args:
        records: column -> list of values (strings: the name and one path column per source file).
        decode: maps one record (column -> value) to the schema row; a module-level function or a partial of
            one (it travels to DataLoader workers).
    """
    import datasets

    ds = datasets.Dataset.from_dict(records)
    ds.set_transform(_DecodeRows(decode))
    return ds
