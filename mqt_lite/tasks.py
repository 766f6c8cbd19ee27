"""TASKS: the one place that knows each of the six dense prediction tasks (paper Sec. III-C, IV-A).

Everything task-specific lives here: output channels per dataset, class names, loss weight, metric name and
direction. Code elsewhere iterates over TASKS; it never branches on a task's name.
"""
from __future__ import annotations

from dataclasses import dataclass

# Label spaces. The synthetic world's classes are rendered by mqt_lite.data.synthetic.
CLASS_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "synthetic": {
        "semseg": ("floor", "wall", "box", "sphere", "cylinder", "cone"),
        "parts": ("background", "top", "side", "bottom"),
    },
    "nyud": {
        "semseg": (
            "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
            "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror",
            "floor mat", "clothes", "ceiling", "books", "refrigerator", "television", "paper", "towel",
            "shower curtain", "box", "whiteboard", "person", "night stand", "toilet", "sink", "lamp",
            "bathtub", "bag", "otherstructure", "otherfurniture", "otherprop",
        ),
    },
    "pascal": {
        "semseg": (
            "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
            "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
            "train", "tvmonitor",
        ),
        "parts": ("background", "head", "torso", "upper arm", "lower arm", "upper leg", "lower leg"),
    },
}

DATASET_TASKS: dict[str, tuple[str, ...]] = {
    "synthetic": ("semseg", "parts", "sal", "normals", "depth", "edge"),
    "nyud": ("semseg", "depth", "normals", "edge"),
    "pascal": ("semseg", "parts", "sal", "normals", "edge"),
}

# Boundary matching tolerance as a fraction of the image diagonal (SEISM / ATRC conventions).
EDGE_MAX_DIST: dict[str, float] = {"synthetic": 0.0075, "nyud": 0.011, "pascal": 0.0075}


@dataclass(frozen=True)
class Task:
    """What the rest of the package needs to know about one task."""

    name: str
    title: str
    kind: str  # "labels" (per-pixel classes), "binary" (per-pixel probability), "depth", "normals"
    loss_weight: float  # Sec. III-C
    metric: str  # key in the metrics dict: mIoU | rmse | mErr | maxF | odsF
    lower_is_better: bool

    def channels(self, dataset: str) -> int:
        """Output channels K_t of the model for this task on `dataset`."""
        if self.kind == "labels":
            return len(class_names(dataset, self.name))
        return 3 if self.kind == "normals" else 1


def class_names(dataset: str, task: str) -> tuple[str, ...]:
    """Class names of a label task (semseg, parts) in a dataset."""
    try:
        return CLASS_NAMES[dataset][task]
    except KeyError:
        raise ValueError(f"dataset {dataset!r} has no class names for task {task!r}") from None


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("semseg", "Semantic segmentation", "labels", 1.0, "mIoU", False),
        Task("parts", "Human parts", "labels", 2.0, "mIoU", False),
        Task("sal", "Saliency", "binary", 5.0, "maxF", False),
        Task("normals", "Surface normals", "normals", 10.0, "mErr", True),
        Task("depth", "Depth", "depth", 1.0, "rmse", True),
        Task("edge", "Boundaries", "binary", 50.0, "odsF", False),
    )
}
