"""PASCAL-Context (Mottaghi et al., CVPR 2014) multi-task version PASCAL_MT: 4998 train / 5105 val, 5 tasks.

Conversions to the schema, following the PASCAL_MT loaders of ATRC / MTI-Net where they are stated:
- semseg: semseg/VOC12/<id>.png (fallback semseg/pascal-context/<id>.png), 21 classes, 255 kept as ignore.
- parts: human_parts/<id>.mat (PASCAL-Part: struct `anno` with `objects`, each with `class_ind`, `mask` and
  `parts` of `part_name` + `mask`). Parts of persons (semseg class "person") are painted in file order with the 6
  groups of PART_GROUPS; everything else is background. Departures: a person without part annotations is
  ignored (255) where the reference labels it background; an image without a .mat file is all ignore (255)
  when its semseg shows a person, else all background.
- sal: sal_distill/<id>.png / 255 > 0.5.
- normals: normals_distill/<id>.png, 2 v / 255 - 1, valid only on pixels whose PASCAL-Context class is also an
  NYUD class (NORMALS_VALID_CLASSES, as the reference loaders evaluate them); black pixels are invalid too.
- edge: from pascal-context/trainval/<id>.mat `LabelMap` by `schema.label_boundaries` (1 pixel wide; the
  reference thins |Laplacian| > 0, which is about 1 pixel wide too).
The dataset stores only file paths and decodes through `datasets` features (`Image` for the photo,
`schema.SchemaFile` for the maps) when a row is read, whatever the format or verb; decoded, the float normals
alone would take about 22 GB (2.2 MB per ~500x375 image), which is why nothing is materialised.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import scipy.io

from ..tasks import CLASS_NAMES, DATASET_TASKS, IGNORE
from .schema import (DatasetLayoutError, file_dataset, find_file, label_boundaries, normals_from_png,
                     raise_if_missing, read_image, read_split, register_decoder, require_folders)

LAYOUT = """expected PASCAL_MT layout:
  <root>/JPEGImages/<id>.jpg
  <root>/semseg/VOC12/<id>.png              (or semseg/pascal-context/<id>.png) 21 classes, 255 = ignore
  <root>/human_parts/<id>.mat               PASCAL-Part annotation (an image may lack one)
  <root>/sal_distill/<id>.png
  <root>/normals_distill/<id>.png
  <root>/pascal-context/trainval/<id>.mat   LabelMap of the 459 PASCAL-Context classes (edges, normals mask)
  <root>/ImageSets/Context/{train,val}.txt  one <id> per line
PASCAL_MT is distributed as an archive with the ATRC, MTI-Net and Multi-Task-Learning-PyTorch repositories
(S. Vandenhende et al.); put its folder at <root>."""
PERSON = CLASS_NAMES["pascal"]["semseg"].index("person")
PARTS = {name: i for i, name in enumerate(CLASS_NAMES["pascal"]["parts"])}
PART_GROUPS = {  # PASCAL-Part person part names -> our 6 part classes
    "head": ("head", "hair", "leye", "reye", "lear", "rear", "lebrow", "rebrow", "nose", "mouth"),
    "torso": ("torso", "neck"),
    "upper arm": ("luarm", "ruarm"),
    "lower arm": ("llarm", "rlarm", "lhand", "rhand"),
    "upper leg": ("luleg", "ruleg"),
    "lower leg": ("llleg", "rlleg", "lfoot", "rfoot"),
}
PART_INDEX = {part: PARTS[group] for group, names in PART_GROUPS.items() for part in names}
# 1-based PASCAL-Context class ids whose name is also an NYUD-v2 class name (+ tvmonitor): where the distilled
# normals are trusted (derived from the class lists shipped with Multi-Task-Learning-PyTorch, data/db_info).
NORMALS_VALID_CLASSES = np.array([
    3, 4, 6, 9, 10, 11, 13, 15, 17, 18, 22, 23, 29, 30, 33, 34, 36, 37, 38, 39, 41, 43, 46, 49, 50, 51, 53, 55, 56,
    59, 61, 62, 65, 66, 68, 69, 72, 73, 78, 83, 84, 85, 87, 88, 95, 96, 101, 104, 105, 107, 111, 113, 115, 122,
    124, 135, 141, 142, 143, 146, 150, 154, 157, 158, 159, 165, 172, 174, 181, 183, 184, 191, 193, 195, 197, 199,
    202, 213, 215, 216, 219, 220, 223, 225, 228, 230, 232, 233, 238, 239, 242, 243, 246, 250, 251, 252, 255, 260,
    261, 263, 269, 272, 273, 275, 281, 283, 284, 285, 286, 287, 288, 290, 291, 292, 293, 295, 304, 307, 309, 310,
    314, 315, 319, 323, 329, 330, 331, 336, 342, 345, 349, 350, 351, 352, 355, 357, 368, 370, 371, 374, 379, 380,
    383, 384, 397, 401, 403, 405, 407, 408, 411, 412, 413, 414, 417, 419, 421, 423, 427, 429, 430, 432, 440, 441,
    442, 443, 444, 446, 454, 457,
])
SAL_THRESHOLD = 0.5


def _label_map(path: str) -> np.ndarray:
    return np.asarray(scipy.io.loadmat(path)["LabelMap"])


def _parts(mat_path: str | None, semseg: np.ndarray) -> np.ndarray:
    """Part labels (H, W) from a PASCAL-Part .mat file, or the whole-image rule when there is none."""
    if mat_path is None:
        return np.full(semseg.shape, IGNORE if (semseg == PERSON).any() else PARTS["background"], np.uint8)
    anno = scipy.io.loadmat(mat_path, squeeze_me=True, struct_as_record=False)["anno"]
    parts = np.full(semseg.shape, PARTS["background"], np.uint8)
    persons = [o for o in np.atleast_1d(anno.objects) if int(o.class_ind) == PERSON]
    for person in persons:  # ignore first, so that annotated parts overlapping it win
        if np.atleast_1d(person.parts).size == 0:
            parts[np.asarray(person.mask, bool)] = IGNORE
    for person in persons:
        for part in np.atleast_1d(person.parts):
            name = str(part.part_name)
            if name not in PART_INDEX:
                raise DatasetLayoutError(f"{mat_path}: unknown person part {name!r}; known: {sorted(PART_INDEX)}")
            parts[np.asarray(part.mask, bool)] = PART_INDEX[name]
    return parts


def _normals(normals_path: str, label_map_path: str) -> np.ndarray:
    """Distilled normals, valid only on pixels of the classes NYUD also has (and not black)."""
    normals = normals_from_png(read_image(normals_path, "RGB"))
    normals[:, ~np.isin(_label_map(label_map_path), NORMALS_VALID_CLASSES)] = 0
    return normals


# decoder name -> decode(*paths); the paths each column stores are listed in load_pascal's `sources`
register_decoder("pascal.semseg", read_image)
register_decoder("pascal.parts", lambda mat_path, semseg_path: _parts(mat_path, read_image(semseg_path)))
register_decoder("pascal.sal", lambda path: (read_image(path, "L") / 255 > SAL_THRESHOLD).astype(np.uint8))
register_decoder("pascal.normals", _normals)
register_decoder("pascal.edge", lambda label_map_path: label_boundaries(_label_map(label_map_path)))
# the source files (keys of load_pascal's `sources`) each task's column stores
TASK_SOURCES = {"semseg": ("semseg",), "parts": ("parts", "semseg"), "sal": ("sal",),
                "normals": ("normals", "labelmap"), "edge": ("labelmap",)}


def load_pascal(root: str | Path, split: str, tasks: Iterable[str] | None = None):
    """PASCAL_MT as a datasets.Dataset ("numpy" format) whose rows (`ds[i]`) are schema arrays, decoded on access.

    Args:
        root: the PASCAL_MT folder.
        split: a split file name in ImageSets/Context/ ("train" or "val").
        tasks: tasks to load (default all five); only the files they need are required.
    Raises:
        DatasetLayoutError: a folder, the split file or any required file of the split is missing.
    """
    root, tasks = Path(root), tuple(tasks or DATASET_TASKS["pascal"])
    unknown = sorted(set(tasks) - set(DATASET_TASKS["pascal"]))
    if unknown:
        raise ValueError(f"PASCAL-Context has no labels for {unknown}; valid: {list(DATASET_TASKS['pascal'])}")
    # source -> candidate folders (first existing file wins), suffix, required per image
    sources = {"image": (["JPEGImages"], ".jpg", True)}
    if {"semseg", "parts"} & set(tasks):  # parts needs semseg for images without a part annotation
        sources["semseg"] = (["semseg/VOC12", "semseg/pascal-context"], ".png", True)
    if "parts" in tasks:
        sources["parts"] = (["human_parts"], ".mat", False)
    if "sal" in tasks:
        sources["sal"] = (["sal_distill"], ".png", True)
    if "normals" in tasks:
        sources["normals"] = (["normals_distill"], ".png", True)
    if {"normals", "edge"} & set(tasks):
        sources["labelmap"] = (["pascal-context/trainval"], ".mat", True)
    folders = [f for name, (fs, _, _) in sources.items() for f in (fs if name != "semseg" else [])]
    require_folders(root, ["ImageSets/Context"] + folders, LAYOUT)
    if "semseg" in sources and not any((root / f).is_dir() for f in sources["semseg"][0]):
        raise DatasetLayoutError(f"missing folder: {root / 'semseg/VOC12'} (or semseg/pascal-context)\n{LAYOUT}")
    ids = read_split(root / "ImageSets" / "Context" / f"{split}.txt", LAYOUT)
    paths: dict[str, list] = {name: [] for name in sources}
    missing = []
    for image_id in ids:
        for name, (candidates, suffix, required) in sources.items():
            path = next((p for f in candidates if (p := find_file(root / f, image_id, (suffix,)))), None)
            if path is None and required:
                missing.append(" or ".join(str(root / f / f"{image_id}{suffix}") for f in candidates))
            paths[name].append(None if path is None else str(path))
    raise_if_missing(missing, split, LAYOUT)
    columns = {}
    for t in tasks:
        stored = [paths[source] for source in TASK_SOURCES[t]]
        columns[t] = (f"pascal.{t}", list(zip(*stored)) if len(stored) > 1 else stored[0])
    return file_dataset(ids, paths["image"], columns)
