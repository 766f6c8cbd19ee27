"""Sample figures: every panel titled, class legends with the dataset's class names; lazy matplotlib."""
import subprocess
import sys

import matplotlib
import numpy as np
import pytest

from mqt_lite import viz
from mqt_lite.data import MultiTaskDataset, make_synthetic
from mqt_lite.tasks import CLASS_NAMES, DATASET_TASKS

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def rows():
    return make_synthetic(2, size=32, split="val")


def legend_texts(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def test_show_sample_numpy_row_titles_and_legends(rows):
    fig = viz.show_sample(rows[0], "synthetic")
    axes = fig.axes
    assert len(axes) == 1 + len(DATASET_TASKS["synthetic"])
    assert all(ax.get_title() for ax in axes)
    by_title = {ax.get_title().split("\n")[0]: ax for ax in axes}
    present = {CLASS_NAMES["synthetic"]["semseg"][i] for i in np.unique(rows[0]["semseg"])}
    assert set(legend_texts(by_title["Semantic segmentation"])) == present
    assert "background" in legend_texts(by_title["Part segmentation"])
    assert "m" in by_title["Depth"].get_title()
    matplotlib.pyplot.close(fig)


def test_show_sample_torch_sample_and_subset_of_tasks(rows):
    sample = MultiTaskDataset(rows, ("semseg", "depth", "normals"), size=(32, 32), train=True)[0]
    fig = viz.show_sample(sample, "synthetic")
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == ["Image", "Semantic segmentation", "Surface normals",
                                                                   "Depth"]
    image = fig.axes[0].get_images()[0].get_array()
    assert image.dtype == np.uint8 and image.shape == (32, 32, 3)
    matplotlib.pyplot.close(fig)


def test_colourise_and_legend_match():
    labels = np.array([[0, 1, 255]], np.uint8)
    rgb = viz.colourise(labels, "semseg", "pascal")
    assert rgb.shape == (1, 3, 3) and rgb.dtype == np.uint8 and not np.array_equal(rgb[0, 0], rgb[0, 1])
    entries = viz.legend_entries("semseg", "pascal", labels)
    assert [n for n, _ in entries] == ["background", "aeroplane"]
    assert np.allclose(entries[1][1], rgb[0, 1] / 255)


def test_sample_grid_is_labelled(rows):
    fig = viz.sample_grid([rows[0], rows[1]], "synthetic")
    cols = 1 + len(DATASET_TASKS["synthetic"])
    assert len(fig.axes) == 2 * cols and all(ax.get_title() for ax in fig.axes)
    legends = [t for ax in fig.axes[cols:] for t in legend_texts(ax)]
    assert "floor" in legends and "wall" in legends and "side" in legends
    matplotlib.pyplot.close(fig)


def test_package_imports_without_matplotlib():
    code = "import sys, mqt_lite, mqt_lite.viz, mqt_lite.data; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
