"""Figures of samples with all their labels, for the notebooks and `python -m mqt_lite.data.synthetic --figure`.

matplotlib is imported inside the functions, so the package imports without it. Colours, legends and captions
come from the tasks (`Task.colourise`, `Task.legend`, `Task.caption` in tasks.py), so predictions and ground truth
always look alike. Attention maps are drawn by attention_maps.py.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .imageio import denormalize
from .tasks import DATASET_TASKS, TASKS

LEGEND_FONTSIZE = 7
PANEL_INCHES = 2.2  # side of one image panel


# ----------------------------------------------------------------------------- samples and labels
def to_display(sample: dict[str, Any]) -> dict[str, np.ndarray]:
    """A schema row (numpy) or a MultiTaskDataset sample (torch) -> numpy arrays in the schema's layout
    (a single-channel target (1, H, W), as depth comes from a MultiTaskDataset, as (H, W))."""
    out = {}
    for key, value in sample.items():
        if key not in TASKS and key != "image":
            continue
        if hasattr(value, "detach"):  # torch
            value = denormalize(value) if key == "image" else value.detach().cpu().numpy()
        value = np.asarray(value)
        out[key] = value[0] if key in TASKS and value.ndim == 3 and value.shape[0] == 1 else value
    return out


def colourise(array: np.ndarray, task: str, dataset: str) -> np.ndarray:
    """(H, W) labels/probabilities/depth or (3, H, W) normals -> (H, W, 3) uint8 via the task's colouriser."""
    return TASKS[task].colourise(array, dataset)


def legend_entries(task: str, dataset: str, present: np.ndarray | None = None) -> list[tuple[str, np.ndarray]]:
    """(class name, RGB in [0, 1]) for a label task, from the colouriser itself; only `present` labels if given."""
    entries = TASKS[task].legend(dataset)
    keep = range(len(entries)) if present is None else [int(i) for i in np.unique(present) if i < len(entries)]
    return [(entries[i][0], np.array(entries[i][1]) / 255) for i in keep]


def _legend(ax, task: str, dataset: str, present: np.ndarray) -> None:
    """Class legend under an axis."""
    from matplotlib.patches import Patch  # matplotlib: optional (the notebooks and app extras)

    entries = legend_entries(task, dataset, present)
    handles = [Patch(facecolor=c, edgecolor="k", linewidth=0.3, label=n) for n, c in entries]
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize=LEGEND_FONTSIZE,
                  ncol=2, frameon=False, handlelength=1.0, columnspacing=0.8)


def show_sample(sample: dict[str, Any], dataset: str = "synthetic", tasks: Sequence[str] | None = None,
                ax_row: Sequence[Any] | None = None, legend: bool = True):
    """Draw an image and its labels side by side, with titles and class legends.

    Args:
        sample: a schema row (`ds[i]`, numpy) or a MultiTaskDataset sample (torch, denormalised for display).
        dataset: label space for class names and colours.
        tasks: tasks to draw (default: every task of the dataset present in the sample).
        ax_row: 1 + len(tasks) matplotlib axes to draw into (default: a new figure).
        legend: draw the class legends under the label maps.
    Returns: the matplotlib Figure.
    """
    import matplotlib.pyplot as plt  # matplotlib: optional (the notebooks and app extras)

    arrays = to_display(sample)
    tasks = [t for t in DATASET_TASKS[dataset] if t in arrays] if tasks is None else list(tasks)
    if ax_row is None:
        _, ax_row = plt.subplots(1, 1 + len(tasks), figsize=(PANEL_INCHES * (1 + len(tasks)), PANEL_INCHES * 1.6),
                                 squeeze=False)
        ax_row = ax_row[0]
    for ax, key in zip(ax_row, ["image", *tasks]):
        ax.imshow(arrays[key] if key == "image" else colourise(arrays[key], key, dataset), interpolation="nearest")
        ax.set_title("Image" if key == "image" else TASKS[key].caption(arrays[key]), fontsize=9)
        ax.set_axis_off()
        if legend and key != "image" and TASKS[key].has_classes:
            _legend(ax, key, dataset, arrays[key])
    return ax_row[0].figure


def sample_grid(samples: Sequence[dict[str, Any]], dataset: str = "synthetic", tasks: Sequence[str] | None = None):
    """Several samples, one per row (image + labels); titles on every panel, class legends under the last row.

    Returns: the matplotlib Figure.
    """
    import matplotlib.pyplot as plt  # matplotlib: optional (the notebooks and app extras)

    first = to_display(samples[0])
    tasks = [t for t in DATASET_TASKS[dataset] if t in first] if tasks is None else list(tasks)
    cols = 1 + len(tasks)
    fig, axes = plt.subplots(len(samples), cols, figsize=(PANEL_INCHES * cols, PANEL_INCHES * (len(samples) + 0.8)),
                             squeeze=False)
    for row, sample in zip(axes, samples):
        show_sample(sample, dataset, tasks, ax_row=row, legend=False)
    for ax, key in zip(axes[-1], ["image", *tasks]):
        if key != "image" and TASKS[key].has_classes:
            present = np.concatenate([to_display(s)[key].ravel() for s in samples])
            _legend(ax, key, dataset, present)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- predictions on photos
def prediction_grid(images: Sequence[np.ndarray], predictions: Sequence[dict[str, np.ndarray]],
                    names: Sequence[str], dataset: str = "synthetic", tasks: Sequence[str] | None = None,
                    title: str | None = None):
    """Photos (no ground truth), one per row, with the model's predictions beside them (`model.predict` output).

    Args:
        images: (H, W, 3) uint8 photos.
        predictions: `model.predict(image)` of each photo.
        names: a row label per photo (above its image).
        dataset: label space of the model (class names and colours).
        tasks: tasks to draw (default: every task of the dataset in the predictions).
        title: the figure's title.
    Returns: the matplotlib Figure.
    """
    fig = sample_grid([{"image": im, **pred} for im, pred in zip(images, predictions)], dataset, tasks)
    for row, name in zip(fig.axes[::len(fig.axes) // len(images)], names):
        row.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
    return fig
