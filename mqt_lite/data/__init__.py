"""Datasets in one schema (see schema.py) and the torch adapter that feeds them to the model.

    ds = make_synthetic(2000, split="train")          # or load_nyud(root, "val"), load_pascal(root, "train")
    ds[0]                                             # {"name", "image", "semseg", ...} numpy arrays
    train = MultiTaskDataset(ds, tasks, size=(128, 128), train=True)
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import datasets

from ..config import MQTConfig
from ..imageio import IMAGENET_MEAN, IMAGENET_STD, denormalize, normalize_image
from ..tasks import DATASET_TASKS
from .nyud import load_nyud
from .pascal import load_pascal
from .schema import COLUMNS, DatasetLayoutError, as_numpy, label_boundaries
from .synthetic import SPLITS, make_synthetic, render_scene, scene_rng
from .transforms import MultiTaskDataset

DATASETS = tuple(DATASET_TASKS)  # synthetic, nyud, pascal
LOADERS = {"nyud": load_nyud, "pascal": load_pascal}  # the real datasets, read from a folder


def load_dataset(name: str, split: str, root: str | Path | None = None, tasks: Iterable[str] | None = None,
                 **kwargs):
    """Any dataset by name as a datasets.Dataset in the common schema.

    Args:
        name: "synthetic", "nyud" or "pascal".
        split: "train" or "val" ("test" too for synthetic).
        root: the dataset folder (nyud, pascal; unused by synthetic).
        tasks: task columns to keep (default: all of the dataset's).
        kwargs: for synthetic, make_synthetic's (num_images defaults to MQTConfig's train_size for "train",
            val_size otherwise; seed, size, cache_dir, world).
    """
    if name == "synthetic":
        default = MQTConfig.train_size if split == "train" else MQTConfig.val_size
        ds = make_synthetic(kwargs.pop("num_images", default), split=split, **kwargs)
        return ds if tasks is None else ds.select_columns(["name", "image", *tasks])
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {list(DATASETS)}")
    if not root:
        raise ValueError(f"load_dataset({name!r}) needs root=, the folder of the dataset "
                         f"({'NYUD_MT' if name == 'nyud' else 'PASCAL_MT'})")
    return LOADERS[name](root, split, tasks, **kwargs)


__all__ = [
    "COLUMNS", "DATASETS", "IMAGENET_MEAN", "IMAGENET_STD", "SPLITS", "DatasetLayoutError",
    "MultiTaskDataset", "as_numpy", "denormalize", "label_boundaries", "load_dataset", "load_nyud", "load_pascal",
    "make_synthetic", "normalize_image", "render_scene", "scene_rng",
]


def load_split(cfg: MQTConfig, split: str, num_images: int | None = None):
    """A config's dataset split: the synthetic world at the config's image size and split size (or the first
    `num_images` scenes; a rich-world train split with `classic_fraction` takes the first of each world's scenes in
    that proportion, rich then classic), or the real dataset in `cfg.data_root` (its first `num_images` images)."""
    if cfg.dataset == "synthetic":
        n = num_images or (cfg.train_size if split == "train" else cfg.val_size)
        classic = round(n * cfg.classic_fraction) if split == "train" else 0
        parts = [load_dataset("synthetic", split, num_images=count, size=cfg.image_size, world=world)
                 for world, count in ((cfg.synthetic_world, n - classic), ("classic", classic)) if count]
        return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts).with_format("numpy")
    ds = load_dataset(cfg.dataset, split, root=cfg.data_root or None)
    return ds.select(range(min(num_images, len(ds)))) if num_images else ds
