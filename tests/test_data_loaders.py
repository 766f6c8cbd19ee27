"""NYUD (both layouts) and PASCAL_MT loaders on small fake trees, with exact expected values, and every dataset
the package returns under the usual `datasets` verbs and formats."""
import pickle
import subprocess
import sys

import datasets
import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from mqt_lite.data import (COLUMNS, DatasetLayoutError, MultiTaskDataset, as_numpy, label_boundaries, load_dataset,
                           load_nyud, load_pascal, make_synthetic)
from mqt_lite.data.pascal import NORMALS_VALID_CLASSES

H, W = 6, 8
RNG = np.random.default_rng(0)


def save_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def write_split(path, ids):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(ids) + "\n")


def segmentation_png():
    seg = np.zeros((H, W), np.uint8)
    seg[0, :3] = (0, 1, 40)
    seg[1:] = RNG.integers(0, 41, (H - 1, W))
    return seg


@pytest.fixture
def nyud_mt(tmp_path):
    """NYUD_MT layout: jpg images, .npy depth/normals/edge."""
    root = tmp_path / "NYUD_MT"
    for i in ("a", "b"):
        save_png(root / "images" / f"{i}.jpg", RNG.integers(0, 256, (H, W, 3), dtype=np.uint8))
        save_png(root / "segmentation" / f"{i}.png", segmentation_png())
        for folder, array in (("depth", RNG.uniform(0.5, 9, (H, W)).astype(np.float32)),
                              ("normals", RNG.uniform(-1, 1, (H, W, 3)).astype(np.float32)),
                              ("edge", (RNG.random((H, W)) > 0.7).astype(np.float32))):
            (root / folder).mkdir(exist_ok=True)
            np.save(root / folder / f"{i}.npy", array)
    write_split(root / "gt_sets" / "train.txt", ["a", "b"])
    write_split(root / "gt_sets" / "val.txt", ["b"])
    return root


@pytest.fixture
def nyud_old(tmp_path):
    """Older NYUDv2 layout: png images, normals, edges; 16-bit png depth in mm."""
    root = tmp_path / "NYUDv2"
    save_png(root / "images" / "0001.png", RNG.integers(0, 256, (H, W, 3), dtype=np.uint8))
    save_png(root / "segmentation" / "0001.png", segmentation_png())
    save_png(root / "normals" / "0001.png", RNG.integers(1, 256, (H, W, 3), dtype=np.uint8))
    save_png(root / "edge" / "0001.png", np.where(RNG.random((H, W)) > 0.5, 255, 0).astype(np.uint8))
    save_png(root / "depth" / "0001.png", RNG.integers(0, 10000, (H, W)).astype(np.uint16))
    write_split(root / "gt_sets" / "val.txt", ["0001"])
    return root


def test_nyud_mt_exact_values(nyud_mt):
    ds = load_nyud(nyud_mt, "train")
    assert len(ds) == 2 and len(load_nyud(nyud_mt, "val")) == 1
    row = ds[0]
    assert row["name"] == "a" and set(row) == {"name", "image", "semseg", "depth", "normals", "edge"}
    assert row["image"].dtype == np.uint8 and row["image"].shape == (H, W, 3)
    seg = np.array(Image.open(nyud_mt / "segmentation" / "a.png")).astype(int)
    assert row["semseg"].dtype == np.uint8 and list(row["semseg"][0, :3]) == [255, 0, 39]
    assert np.array_equal(row["semseg"], np.where(seg == 0, 255, seg - 1))
    assert row["depth"].dtype == np.float32 and np.array_equal(row["depth"], np.load(nyud_mt / "depth" / "a.npy"))
    normals = np.load(nyud_mt / "normals" / "a.npy")
    assert row["normals"].dtype == np.float32 and np.array_equal(row["normals"], normals.transpose(2, 0, 1))
    assert np.array_equal(row["edge"], (np.load(nyud_mt / "edge" / "a.npy") > 0).astype(np.uint8))


def test_lazy_datasets_pickle_and_subset(nyud_mt, pascal):
    """DataLoader workers may be spawned (macOS): the decoding transform must travel with the dataset."""
    for ds in (load_nyud(nyud_mt, "train"), load_pascal(pascal, "train")):
        again = pickle.loads(pickle.dumps(ds))
        assert np.array_equal(again[1]["image"], ds[1]["image"]) and again[1]["name"] == ds[1]["name"]
        assert np.array_equal(ds.select([1])[0]["edge"], ds[1]["edge"])


def test_nyud_old_layout_exact_values(nyud_old):
    row = load_dataset("nyud", "val", root=nyud_old)[0]
    rgb = np.array(Image.open(nyud_old / "normals" / "0001.png")).astype(np.float32)
    assert np.allclose(row["normals"], (2 * rgb / 255 - 1).transpose(2, 0, 1), atol=1e-6)
    mm = np.array(Image.open(nyud_old / "depth" / "0001.png")).astype(np.float32)
    assert np.allclose(row["depth"], mm / 1000) and row["depth"].dtype == np.float32
    assert np.array_equal(row["edge"], (np.array(Image.open(nyud_old / "edge" / "0001.png")) > 0).astype(np.uint8))
    assert set(np.unique(row["edge"])) == {0, 1}
    assert np.array_equal(row["image"], np.array(Image.open(nyud_old / "images" / "0001.png")))


def test_nyud_black_normals_png_pixel_is_invalid(nyud_old):
    rgb = np.full((H, W, 3), 200, np.uint8)
    rgb[2, 3] = 0
    save_png(nyud_old / "normals" / "0001.png", rgb)
    normals = load_nyud(nyud_old, "val")[0]["normals"]
    assert np.all(normals[:, 2, 3] == 0) and np.allclose(normals[:, 0, 0], 2 * 200 / 255 - 1)


def test_nyud_missing_folder_and_missing_file_are_named(nyud_mt):
    (nyud_mt / "depth" / "b.npy").unlink()
    with pytest.raises(DatasetLayoutError, match=r"depth/b\{\.npy,\.png\}") as e:
        load_nyud(nyud_mt, "val")
    assert "expected NYUD-v2 layout" in str(e.value)
    assert len(load_nyud(nyud_mt, "val", tasks=("semseg",))) == 1  # only the requested tasks' files are needed
    with pytest.raises(DatasetLayoutError, match="gt_sets/test.txt"):
        load_nyud(nyud_mt, "test")
    with pytest.raises(DatasetLayoutError, match="missing folder.*normals"):
        import shutil
        shutil.rmtree(nyud_mt / "normals")
        load_nyud(nyud_mt, "train")
    with pytest.raises(DatasetLayoutError, match="dataset folder not found"):
        load_nyud(nyud_mt / "nowhere", "train")


# ----------------------------------------------------------------------------- PASCAL
def part_struct(parts):
    dtype = [("part_name", "O"), ("mask", "O")]
    out = np.zeros((1, len(parts)) if parts else (0, 0), dtype=dtype)
    for k, (name, mask) in enumerate(parts):
        out[0, k] = (name, mask.astype(np.uint8))
    return out


def write_parts_mat(path, objects):
    """A PASCAL-Part file: anno.objects[k] with class, class_ind, mask, parts (part_name, mask)."""
    dtype = [("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")]
    objs = np.zeros((1, len(objects)), dtype=dtype)
    for k, (cls, cls_ind, mask, parts) in enumerate(objects):
        objs[0, k] = (cls, cls_ind, mask.astype(np.uint8), part_struct(parts))
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"anno": {"imname": path.stem, "objects": objs}})


def box(r0, r1, c0, c1):
    m = np.zeros((H, W), bool)
    m[r0:r1, c0:c1] = True
    return m


@pytest.fixture
def pascal(tmp_path):
    root = tmp_path / "PASCAL_MT"
    ids = ["p1", "p2", "p3"]
    write_split(root / "ImageSets" / "Context" / "train.txt", ids)
    write_split(root / "ImageSets" / "Context" / "val.txt", ["p3"])
    for i in ids:
        save_png(root / "JPEGImages" / f"{i}.jpg", RNG.integers(0, 256, (H, W, 3), dtype=np.uint8))
        sal = np.array([[127, 128, 255, 0] * (W // 4)] * H, np.uint8)
        save_png(root / "sal_distill" / f"{i}.png", sal)
        save_png(root / "normals_distill" / f"{i}.png", RNG.integers(1, 256, (H, W, 3), dtype=np.uint8))
        label_map = np.where(box(0, 3, 0, 8), 3, 1).astype(np.uint16)  # 3 (air conditioner) valid, 1 (accordion) not
        label_map[4:, 5:] = 284  # person
        (root / "pascal-context" / "trainval").mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(root / "pascal-context" / "trainval" / f"{i}.mat", {"LabelMap": label_map})
    seg = np.zeros((H, W), np.uint8)
    seg[4:, 5:], seg[0, 0] = 15, 255
    save_png(root / "semseg" / "VOC12" / "p1.png", seg)
    save_png(root / "semseg" / "VOC12" / "p2.png", seg)  # a person, but no human_parts file
    save_png(root / "semseg" / "pascal-context" / "p3.png", np.full((H, W), 7, np.uint8))  # fallback folder
    write_parts_mat(root / "human_parts" / "p1.mat", [
        ("person", 15, box(0, 6, 0, 4), [("head", box(0, 1, 0, 2)), ("hair", box(0, 1, 2, 4)),
                                         ("luarm", box(1, 2, 0, 4)), ("rlarm", box(2, 3, 0, 4)),
                                         ("neck", box(3, 4, 0, 2)), ("ruleg", box(3, 4, 2, 4)),
                                         ("lfoot", box(4, 6, 0, 4))]),
        ("person", 15, box(4, 6, 5, 8), []),  # a person without part annotations
        ("dog", 12, box(0, 3, 5, 8), [("head", box(0, 1, 5, 8))]),  # not a person: background
    ])
    return root


def test_pascal_parts_mapping_and_missing_annotations(pascal):
    ds = load_pascal(pascal, "train")
    p1, p2, p3 = ds[0], ds[1], ds[2]
    expect = np.zeros((H, W), np.uint8)
    expect[0, 0:4], expect[1, :4], expect[2, :4] = 1, 3, 4  # head + hair -> head, luarm, rlarm
    expect[3, :2], expect[3, 2:4], expect[4:, :4] = 2, 5, 6  # neck -> torso, ruleg, lfoot -> lower leg
    expect[4:, 5:] = 255  # the person without parts is ignored
    assert p1["parts"].dtype == np.uint8 and np.array_equal(p1["parts"], expect)
    assert np.all(p2["parts"] == 255)  # no file, person in semseg: all ignored
    assert np.all(p3["parts"] == 0)  # no file, no person: all background


def test_pascal_semseg_sal_normals_edge(pascal):
    ds = load_pascal(pascal, "train")
    p1, p3 = ds[0], ds[2]
    assert p1["semseg"][0, 0] == 255 and p1["semseg"][5, 7] == 15 and np.all(p3["semseg"] == 7)
    assert list(p1["sal"][0, :4]) == [0, 1, 1, 0]
    rgb = np.array(Image.open(pascal / "normals_distill" / "p1.png")).astype(np.float32)
    label_map = scipy.io.loadmat(pascal / "pascal-context" / "trainval" / "p1.mat")["LabelMap"]
    valid = np.isin(label_map, NORMALS_VALID_CLASSES)
    assert 3 in NORMALS_VALID_CLASSES and 284 in NORMALS_VALID_CLASSES and 1 not in NORMALS_VALID_CLASSES
    assert np.allclose(p1["normals"][:, valid], (2 * rgb / 255 - 1).transpose(2, 0, 1)[:, valid], atol=1e-6)
    assert np.all(p1["normals"][:, ~valid] == 0) and (~valid).any()
    expect_edge = np.zeros((H, W), np.uint8)
    expect_edge[2, :] = 1  # class 3 above, 1 below: the row above the change
    expect_edge[3, 5:] = 1  # 1 above the person block
    expect_edge[4:, 4] = 1  # left of the person block
    assert np.array_equal(p1["edge"], expect_edge) and np.array_equal(label_boundaries(label_map), expect_edge)
    assert set(p1) == {"name", "image", "semseg", "parts", "sal", "normals", "edge"}


def test_pascal_missing_files_and_folders(pascal):
    (pascal / "sal_distill" / "p3.png").unlink()
    with pytest.raises(DatasetLayoutError, match="sal_distill/p3.png") as e:
        load_pascal(pascal, "val")
    assert "expected PASCAL_MT layout" in str(e.value) and "ATRC" in str(e.value)
    assert len(load_pascal(pascal, "val", tasks=("semseg", "edge"))) == 1
    (pascal / "semseg" / "pascal-context" / "p3.png").unlink()
    with pytest.raises(DatasetLayoutError, match=r"semseg/VOC12/p3.png or .*semseg/pascal-context/p3.png"):
        load_pascal(pascal, "val", tasks=("semseg",))
    with pytest.raises(DatasetLayoutError, match="missing folder.*human_parts"):
        import shutil
        shutil.rmtree(pascal / "human_parts")
        load_pascal(pascal, "train", tasks=("parts",))


def test_load_dataset_dispatch(nyud_mt):
    synthetic = load_dataset("synthetic", "val", tasks=("depth",), num_images=2, size=16)
    assert len(synthetic) == 2 and set(synthetic[0]) == {"name", "image", "depth"}
    assert len(load_dataset("nyud", "train", root=nyud_mt, tasks=("depth",))) == 2
    with pytest.raises(ValueError, match="root"):
        load_dataset("pascal", "train")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cityscapes", "train", root=nyud_mt)
    with pytest.raises(ValueError, match="no labels"):
        load_nyud(nyud_mt, "train", tasks=("sal",))


def test_a_malformed_file_names_its_files_and_a_misfit_names_the_image(nyud_mt):
    (nyud_mt / "depth" / "b.npy").write_bytes(b"not an array")
    with pytest.raises(DatasetLayoutError, match=r"(?s)cannot decode nyud.depth.*depth/b\.npy"):
        load_nyud(nyud_mt, "val")[0]
    np.save(nyud_mt / "depth" / "b.npy", np.ones((H + 1, W), np.float32))  # not the image's size
    with pytest.raises(ValueError, match=r"image 'b': column 'depth' is \(7, 8\) but the image is \(6, 8\)"):
        MultiTaskDataset(load_nyud(nyud_mt, "val"), ["depth"], size=(8, 8), train=False)


# ----------------------------------------------------------------------------- datasets verbs
# How `datasets` formats each column (as it formats Image() columns: channels-first under "torch").
TORCH_SHAPES = {"image": (3, H, W), "semseg": (1, H, W), "parts": (1, H, W), "sal": (1, H, W), "edge": (1, H, W),
                "depth": (H, W), "normals": (3, H, W)}


def assert_rows_equal(a, b):
    assert set(a) == set(b)
    for key in a:
        if key == "name":
            assert a[key] == b[key]
        else:
            assert isinstance(a[key], np.ndarray) and np.array_equal(a[key], b[key]), key


@pytest.fixture
def real_datasets(nyud_mt, pascal):
    return {"nyud": load_nyud(nyud_mt, "train"), "pascal": load_pascal(pascal, "train")}


def test_every_column_is_an_array_under_numpy_and_torch_formats(nyud_mt, real_datasets):
    depth = load_nyud(nyud_mt, "val").with_format("torch")[0]["depth"]
    assert isinstance(depth, torch.Tensor) and depth.shape == (H, W) and depth.dtype == torch.float32
    assert np.array_equal(depth.numpy(), np.load(nyud_mt / "depth" / "b.npy"))
    for ds in real_datasets.values():
        plain = ds[1]
        assert_rows_equal(ds.with_format(None).with_format("numpy")[1], plain)
        row = ds.with_format("torch")[1]
        for key in set(row) - {"name"}:
            assert isinstance(row[key], torch.Tensor) and tuple(row[key].shape) == TORCH_SHAPES[key], key
            assert row[key].dtype == (torch.uint8 if COLUMNS[key][0] == np.uint8 else torch.float32), key
        assert_rows_equal(as_numpy(row), as_numpy(plain))  # the same values, channels-first
        python = ds.with_format(None)[1]  # PIL images and arrays, never the stored paths
        assert not any(isinstance(v, (str, dict)) for k, v in python.items() if k != "name")


def test_select_filter_map_split_save_and_load_keep_decoding(tmp_path, real_datasets):
    for name, ds in real_datasets.items():
        rows = [ds[i] for i in range(len(ds))]
        assert_rows_equal(ds.select([1])[0], rows[1])
        assert_rows_equal(ds.filter(lambda r: r["name"] == rows[1]["name"])[0], rows[1])
        doubled = ds.map(lambda r: {"normals": r["normals"] * 2, "mean_edge": float(r["edge"].mean())})
        assert np.array_equal(doubled[0]["normals"], rows[0]["normals"] * 2)  # a rewritten column stays exact
        assert np.isclose(doubled[0]["mean_edge"], rows[0]["edge"].mean())
        halved = doubled.remove_columns("mean_edge").select([1]).map(lambda r: {"normals": r["normals"] / 2})
        assert_rows_equal(halved[0], rows[1])
        split = ds.train_test_split(test_size=1, shuffle=False)
        assert_rows_equal(split["test"][0], rows[-1]) and len(split["train"]) == len(ds) - 1
        ds.save_to_disk(str(tmp_path / name))
        again = datasets.load_from_disk(str(tmp_path / name))
        assert again.format["type"] == "numpy" and again.features == ds.features
        for i, row in enumerate(rows):
            assert_rows_equal(again[i], row)


def test_a_saved_dataset_loads_in_a_fresh_process(tmp_path, nyud_mt):
    load_nyud(nyud_mt, "val").save_to_disk(str(tmp_path / "nyud"))
    read = f"import datasets; print(datasets.load_from_disk({str(tmp_path / 'nyud')!r})[0]['depth'].shape)"
    run = lambda code: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    done = run("import mqt_lite.data; " + read)
    assert done.returncode == 0 and done.stdout.strip() == f"({H}, {W})", done.stderr
    bare = run(read)  # without mqt_lite the feature type is unknown, and datasets' error names it
    assert bare.returncode != 0 and "mqt_lite.data.SchemaFile" in bare.stderr


def test_multitask_dataset_trains_from_every_format_and_verb(real_datasets):
    for ds in real_datasets.values():
        tasks = [t for t in ds.column_names if t not in ("name", "image")]
        expect = MultiTaskDataset(ds, tasks, size=(8, 8), train=True)[1]
        for variant in (ds.with_format("torch"), ds.with_format(None), ds.filter(lambda r: True), ds.map(lambda r: {})):
            sample = MultiTaskDataset(variant, tasks, size=(8, 8), train=True)[1]
            assert all(torch.equal(sample[k], expect[k]) for k in expect)


def test_synthetic_world_keeps_decoding_under_the_verbs(tmp_path):
    ds = make_synthetic(3, size=16, split="val")
    row = ds.with_format("torch")[0]
    assert row["depth"].shape == (16, 16) and row["normals"].shape == (3, 16, 16) and row["semseg"].shape == (1, 16, 16)
    ds.save_to_disk(str(tmp_path / "syn"))
    assert_rows_equal(datasets.load_from_disk(str(tmp_path / "syn"))[2], ds[2])
    assert_rows_equal(ds.train_test_split(test_size=1, shuffle=False)["test"][0], ds[2])
    assert_rows_equal(ds.filter(lambda r: r["name"] == ds[1]["name"]).map(lambda r: {})[0], ds[1])
