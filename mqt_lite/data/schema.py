"""The one data schema every dataset is converted to, and helpers shared by the loaders (paper Sec. IV-A).

A row of any dataset, read with `ds[i]`, is a dict of numpy arrays:

    name     str                      image id
    image    uint8   (H, W, 3)        RGB
    semseg   uint8   (H, W)           class index, 255 = ignore
    parts    uint8   (H, W)           part index, 255 = ignore
    sal      uint8   (H, W)           {0, 1}, 255 = ignore
    edge     uint8   (H, W)           {0, 1}, 255 = ignore
    depth    float32 (H, W)           metres (z-depth), 0 = invalid
    normals  float32 (3, H, W)        unit vectors in the camera frame, all-zero = invalid

A dataset only has the task columns it annotates (NYUD has no parts/sal). Every dataset the package returns
decodes through `datasets` features, so the usual verbs keep working (`with_format("numpy" | "torch")`,
`select`, `filter`, `map`, `train_test_split`, `save_to_disk` / `load_from_disk`):
- the synthetic world is rendered once and stored in Arrow: `Image()` (PNG) for the uint8 maps,
  `Array2D` / `Array3D` for depth and normals;
- the real datasets store only file paths: `Image(mode="RGB")` for the photo, `SchemaFile` below for every
  label map, which decodes its source file(s) on access (their decoded float maps would take tens of GB).
  `save_to_disk` embeds the decoded values, as it embeds Image() files, so the copy stands alone but costs the
  decoded size (NYUD about 7 GB, PASCAL about 22 GB); reading it back needs `import mqt_lite.data` first (the
  error of `datasets` names the feature type otherwise).
Returned formats, as `datasets` formats image columns: with "numpy" the uint8 maps are (H, W) uint8 and the image
(H, W, 3); with "torch" image-like columns are channels-first: image (3, H, W), label maps (1, H, W) uint8;
depth (H, W) and normals (3, H, W) float32 under both.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable

import datasets
import numpy as np
import pyarrow as pa
from datasets.features.features import register_feature
from datasets.table import array_cast
from PIL import Image

# column -> (dtype, number of dims, layout); the image is channels-last (as PIL gives it), the normals
# channels-first (as the model predicts them). Label maps mark pixels without ground truth with tasks.IGNORE (255).
COLUMNS: dict[str, tuple[type, int, str]] = {
    "image": (np.uint8, 3, "HWC"),
    "semseg": (np.uint8, 2, "HW"),
    "parts": (np.uint8, 2, "HW"),
    "sal": (np.uint8, 2, "HW"),
    "edge": (np.uint8, 2, "HW"),
    "depth": (np.float32, 2, "HW"),
    "normals": (np.float32, 3, "CHW"),
}
MAX_LISTED_MISSING = 5  # how many missing files an error message names


class DatasetLayoutError(FileNotFoundError, ValueError):
    """A dataset folder is missing, incomplete or malformed; the message names the path and the expected layout.

    Both a FileNotFoundError (a missing file or folder) and a ValueError (a file with unexpected content).
    """


def as_numpy(row: dict[str, Any], tasks: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Convert one row (numpy, PIL, lists or the channels-first tensors of the "torch" format) to schema arrays
    with exact dtypes; check shapes agree.

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
        dtype, ndim, _ = COLUMNS[key]
        arr = _channels_last(key, row[key]) if hasattr(row[key], "permute") else np.asarray(row[key])
        if arr.ndim != ndim:
            raise ValueError(f"column {key!r} should have {ndim} dims, got shape {arr.shape}")
        out[key] = arr if arr.dtype == dtype else arr.astype(dtype)
    size = out["image"].shape[:2]
    for key, arr in out.items():
        hw = arr.shape[-2:] if COLUMNS[key][2] == "CHW" else arr.shape[:2]
        if hw != size:
            raise ValueError(f"image {str(row.get('name'))!r}: column {key!r} is {hw} but the image is {size}")
    return out


def _channels_last(key: str, tensor: Any) -> np.ndarray:
    """A tensor of the "torch" format (images (C, H, W), label maps (1, H, W)) as the schema's numpy array."""
    arr = tensor.numpy()
    if key == "image" and arr.ndim == 3:
        return arr.transpose(1, 2, 0)
    if COLUMNS[key][1] == 2 and arr.ndim == 3 and arr.shape[0] == 1:
        return arr[0]
    return arr


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


def read_image(path: str | Path | io.BytesIO, mode: str | None = None) -> np.ndarray:
    """An image file (or its bytes) as a numpy array (converted to PIL `mode` if given: "RGB", "L")."""
    with Image.open(path) as im:
        return np.asarray(im.convert(mode) if mode else im)


def normals_from_png(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, H, W) float32 by 2 v / 255 - 1; black pixels (0, 0, 0) are invalid (all zero)."""
    normals = rgb.astype(np.float32).transpose(2, 0, 1) * (2 / 255) - 1
    normals[:, (rgb == 0).all(-1)] = 0
    return normals


def png_bytes(array: np.ndarray, compress_level: int = 6) -> dict:
    """A uint8 array as lossless PNG bytes, in the form a datasets.Image() column stores."""
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


# The feature's type name as stored in a saved dataset's dataset_info.json; `datasets` prints it when it does not
# know the type (a fresh process that did not import mqt_lite), which says what to import.
FEATURE_TYPE = "mqt_lite.data.SchemaFile"
PATH_SEP = "\n"  # joins the source files of one value (PASCAL parts need the part .mat and the semseg png)
NPY_MAGIC = b"\x93NUMPY"
_DECODERS: dict[str, Callable[..., np.ndarray]] = {}


def register_decoder(name: str, decode: Callable[..., np.ndarray]) -> None:
    """Make `decode(*paths) -> schema array` available to SchemaFile(decoder=name) columns."""
    _DECODERS[name] = decode


@dataclass
class SchemaFile:
    """A `datasets` feature: one schema column stored as the path(s) of its source file(s), decoded on access.

    Like `datasets.Image`, the Arrow storage is {"bytes", "path"}: "path" holds the source files (joined by a
    newline, "" for an optional file that is absent) and `decoder` names the function turning them into the
    schema array (see `register_decoder`). A decoded value written back (by `map`, or embedded by
    `save_to_disk` / `push_to_hub`) is stored exactly as bytes: PNG for uint8 maps, .npy otherwise.
    uint8 maps decode to PIL images (so "numpy" and "torch" format them as `Image()` columns),
    float maps to numpy arrays.
    """

    decoder: str = ""
    decode: bool = True
    id: str | None = field(default=None, repr=False)
    pa_type: ClassVar[Any] = pa.struct({"bytes": pa.binary(), "path": pa.string()})
    _type: str = field(default=FEATURE_TYPE, init=False, repr=False)

    def __call__(self):
        return self.pa_type

    def encode_example(self, value: Any) -> dict:
        """Paths (str, Path or a tuple of them, None for an absent optional file) or a decoded array/image."""
        if isinstance(value, dict):
            return {"bytes": value.get("bytes"), "path": value.get("path")}
        if isinstance(value, (str, Path)):
            return {"bytes": None, "path": str(value)}
        if isinstance(value, (tuple, list)) and all(isinstance(v, (str, Path, type(None))) for v in value):
            return {"bytes": None, "path": PATH_SEP.join("" if v is None else str(v) for v in value)}
        array = np.asarray(value)
        buffer = io.BytesIO()
        if array.dtype == np.uint8 and array.ndim == 2:
            return png_bytes(array)
        np.save(buffer, array, allow_pickle=False)
        return {"bytes": buffer.getvalue(), "path": None}

    def decode_example(self, value: dict, token_per_repo_id: dict | None = None) -> Any:
        """The schema array (a PIL image for uint8 maps) of one stored value."""
        if value["bytes"] is not None:
            data = io.BytesIO(value["bytes"])
            array = np.load(data, allow_pickle=False) if value["bytes"][:6] == NPY_MAGIC else read_image(data)
        else:
            paths = [p or None for p in value["path"].split(PATH_SEP)]
            if self.decoder not in _DECODERS:
                raise KeyError(f"no decoder {self.decoder!r} registered; known: {sorted(_DECODERS)}")
            try:
                array = _DECODERS[self.decoder](*paths)
            except (OSError, ValueError) as e:  # name the files of the failing value
                files = "\n  ".join(p for p in paths if p)
                raise DatasetLayoutError(f"cannot decode {self.decoder} from:\n  {files}\n{e}") from e
        if array.dtype == np.uint8 and array.ndim == 2:
            return Image.fromarray(array)
        return array

    def cast_storage(self, storage: pa.StringArray | pa.StructArray) -> pa.StructArray:
        """Arrow storage of paths (strings) or of {"bytes", "path"} structs as this feature's struct."""
        if pa.types.is_string(storage.type):
            empty = pa.array([None] * len(storage), type=pa.binary())
            storage = pa.StructArray.from_arrays([empty, storage], ["bytes", "path"], mask=storage.is_null())
        return array_cast(storage, self.pa_type)

    def embed_storage(self, storage: pa.StructArray, **kwargs: Any) -> pa.StructArray:
        """Store every value decoded, as bytes (what `save_to_disk` and `push_to_hub` do, as for Image()).

        The copy no longer needs the source files; it costs the decoded size (float maps uncompressed).
        """
        values = storage.to_pylist()
        data = [v if v is None or v["bytes"] is not None else
                {"bytes": self.encode_example(np.asarray(self.decode_example(v)))["bytes"], "path": v["path"]}
                for v in values]
        return array_cast(pa.array(data, type=self.pa_type), self.pa_type)


with warnings.catch_warnings():  # datasets flags register_feature as experimental; it is how Image-like types plug in
    warnings.simplefilter("ignore", UserWarning)
    register_feature(SchemaFile, FEATURE_TYPE)


def file_dataset(names: list[str], image_paths: list[str], columns: dict[str, tuple[str, list]]) -> "datasets.Dataset":
    """A datasets.Dataset of file paths decoded by features, in "numpy" format (rows are schema arrays).

    Args:
        names: image ids.
        image_paths: the photo of each image (decoded by `datasets.Image(mode="RGB")`).
        columns: task -> (decoder name, per image the path or tuple of paths it decodes).
    """
    features = datasets.Features({"name": datasets.Value("string"), "image": datasets.Image(mode="RGB"),
                                  **{task: SchemaFile(decoder) for task, (decoder, _) in columns.items()}})
    data = {"name": names, "image": image_paths, **{task: paths for task, (_, paths) in columns.items()}}
    return datasets.Dataset.from_dict(data, features=features).with_format("numpy")
