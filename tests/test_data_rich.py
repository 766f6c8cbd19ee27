"""The rich synthetic world: opt-in, same schema, deterministic, exact labels; its photos are free; its furniture fits."""
import math

import numpy as np
import pytest
import torch

from mqt_lite import PRESETS, get_config
from mqt_lite.data import label_boundaries, load_split, make_synthetic, render_scene, scene_rng
from mqt_lite.data import furniture, photos, rich
from mqt_lite.tasks import CLASS_NAMES

SEM = CLASS_NAMES["synthetic"]["semseg"]
PARTS = CLASS_NAMES["synthetic"]["parts"]
OBJECT_CLASSES = [SEM.index(n) for n in ("box", "sphere", "cylinder", "cone")]
SIZE = (48, 64)
DTYPES = {"image": (np.uint8, 3), "semseg": (np.uint8, 2), "parts": (np.uint8, 2), "sal": (np.uint8, 2),
          "edge": (np.uint8, 2), "depth": (np.float32, 2), "normals": (np.float32, 3)}


def scene_and_camera(seed, index, size=SIZE):
    """A rich scene and the camera and room it was rendered with (render_rich draws the room, then the camera,
    first from the scene's generator, so replaying those two draws gives them back)."""
    scene = render_scene(scene_rng(seed, "train", index), size, world="rich")
    rng = scene_rng(seed, "train", index)
    room = rich._room(rng)
    return scene, rich._camera(rng, room, *size), room


@pytest.fixture(scope="module")
def scenes():
    return [scene_and_camera(4, i) for i in range(40)]


def camera_rays(camera, H, W):
    """(3, H, W) camera-frame rays (u, v, 1) through the pixel centres, with the scene's focal lengths."""
    u = (np.arange(W) + 0.5 - W / 2) / camera.f
    v = (np.arange(H) + 0.5 - H / 2) / camera.fy
    return np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.ones((1, 1))))


def test_schema_and_the_classic_world_stays_the_default():
    s = render_scene(0, SIZE, world="rich")
    for key, (dtype, ndim) in DTYPES.items():
        assert s[key].dtype == dtype and s[key].ndim == ndim, key
    assert s["image"].shape == (*SIZE, 3) and s["normals"].shape == (3, *SIZE)
    classic = render_scene(0, SIZE)
    assert not np.array_equal(classic["image"], s["image"])
    with pytest.raises(ValueError, match="world"):
        render_scene(0, SIZE, world="photoreal")


def test_deterministic_per_seed_split_index_and_in_datasets():
    a, b = (render_scene(scene_rng(1, "val", 2), 32, "rich")["image"] for _ in range(2))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, render_scene(scene_rng(1, "val", 3), 32, "rich")["image"])
    ds = make_synthetic(3, seed=1, size=32, split="val", world="rich")
    assert list(ds["name"]) == [f"synthetic-rich-1-val-{i:06d}" for i in range(3)]
    for key in DTYPES:
        assert np.array_equal(ds[2][key], render_scene(scene_rng(1, "val", 2), 32, "rich")[key]), key


def test_every_class_room_surface_and_cutout_occurs(scenes):
    sem = np.stack([s["semseg"] for s, _, _ in scenes])
    inst = np.stack([s["instance"] for s, _, _ in scenes])
    assert set(np.unique(sem)) == set(range(len(SEM)))
    assert set(np.unique(np.stack([s["parts"] for s, _, _ in scenes]))) == set(range(len(PARTS)))
    assert {0, 1, 2, 3, rich.CEILING} <= set(np.unique(inst))
    assert (inst >= rich.BEYOND).any() and (inst < rich.FIRST_OBJECT).any()  # seen through doors and windows
    assert ((inst >= rich.BEYOND) & (inst < rich.FIRST_OBJECT)).any()


def test_saliency_parts_and_boundaries_follow_the_instances(scenes):
    for s, _, _ in scenes:
        on_object = s["instance"] >= rich.FIRST_OBJECT
        assert np.array_equal(np.isin(s["semseg"], OBJECT_CLASSES), on_object)
        assert np.array_equal(s["sal"] == 1, on_object)
        assert np.all((s["parts"] == PARTS.index("background")) == ~on_object)
        assert np.array_equal(s["edge"], label_boundaries(s["semseg"], s["instance"]))
        floor = np.isin(s["instance"], [0])
        assert np.array_equal(s["semseg"] == SEM.index("floor"), floor)


def test_normals_unit_and_facing_the_camera(scenes):
    for s, camera, _ in scenes:
        n = s["normals"]
        assert np.allclose(np.linalg.norm(n, axis=0), 1, atol=1e-4)
        assert np.all((n * camera_rays(camera, *SIZE)).sum(0) < 0)


def test_depth_puts_every_room_point_on_its_plane(scenes):
    """z-depth x the pixel's ray gives the world point; each room id's points lie on its plane."""
    for s, camera, room in scenes:
        rays = np.tensordot(camera.rot.T, camera_rays(camera, *SIZE), 1)  # world directions, (3, H, W)
        p = camera.pos[:, None, None] + rays * s["depth"]
        inst = s["instance"]
        planes = {0: (1, 0.0), 1: (0, -room.half_width), 2: (0, room.half_width), 3: (2, room.depth),
                  4: (2, -room.behind), rich.CEILING: (1, room.height)}
        for k, (axis, value) in planes.items():
            assert np.allclose(p[axis][inst == k], value, atol=1e-3), k
        for k in (1, 2, 3, 4):  # beyond a cut-out: the room's box grown by one cut-out's distance, on side k
            axis, value = planes[k]
            beyond = np.abs(p[axis][inst == rich.BEYOND + k - 1])
            fars = np.array([abs(value) + cut[5] for cut in room.cutouts])
            assert np.all(np.abs(beyond[:, None] - fars[None]).min(1) < 1e-3) if beyond.size else True


def test_parts_follow_the_up_normal(scenes):
    cos45 = math.cos(math.radians(45))
    for s, camera, _ in scenes:
        ny = np.tensordot(camera.rot @ np.array([0, 1, 0], np.float32), s["normals"], 1)
        obj = s["sal"] == 1
        clear = obj & (np.abs(np.abs(ny) - cos45) > 1e-3)
        expect = np.where(ny > cos45, PARTS.index("top"), np.where(ny < -cos45, PARTS.index("bottom"),
                                                                   PARTS.index("side")))
        assert np.array_equal(s["parts"][clear], expect[clear])


def test_the_photos_are_free_and_the_test_photos_are_not_textures():
    assert {lic for lic, _ in photos.PHOTOS.values()} <= {"CC0", "public domain"}
    assert not [name for name in photos.PHOTOS if "motorcycle" in name]
    textures, n_photos = photos.atlas()
    assert n_photos == len(photos.PHOTOS) and len(textures) == n_photos + len(photos.PATTERNS)
    assert textures.shape[1:] == (photos.TEXTURE_SIZE, photos.TEXTURE_SIZE, 3) and textures.dtype == np.uint8
    assert not textures.flags.writeable


def test_furniture_stays_in_the_room_and_apart():
    for seed in range(60):
        rng = np.random.default_rng(seed)
        room = rich._room(rng)
        camera = rich._camera(rng, room, 16, 16)
        groups = furniture.place_groups(rng, 9, room, camera.pos, camera.yaw)
        assert groups
        for g in groups:
            for part in g.parts:  # the corners of its footprint, turned by its yaw, are inside the walls
                c, s = math.cos(part.yaw), math.sin(part.yaw)
                for lx, lz in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
                    lx, lz = lx * part.half[0], lz * part.half[2]
                    assert abs(part.pos[0] + c * lx + s * lz) <= room.half_width + 1e-4
                    assert -room.behind - 1e-4 <= part.pos[2] - s * lx + c * lz <= room.depth + 1e-4
        circles = [g.footprint for g in groups] + [(camera.pos[0], camera.pos[2], furniture.CAMERA_CLEARANCE)]
        for i, (x, z, r) in enumerate(circles):
            assert all(math.hypot(x - x2, z - z2) > r + r2 for x2, z2, r2 in circles[i + 1:])


def test_half_the_scenes_have_a_subject_close_in_front_of_the_camera(monkeypatch):
    """The first group of a scene with a subject (HERO_PROB) stands straight ahead of the camera, just clear of it:
    its centre within the subject's distance range and lateral spread; without one, groups spread anywhere."""
    assert 0 < furniture.HERO_PROB < 1

    def first_groups(prob):
        monkeypatch.setattr(furniture, "HERO_PROB", prob)
        out = []
        for seed in range(40):
            rng = np.random.default_rng(seed)
            room = rich._room(rng)
            camera = rich._camera(rng, room, 16, 16)
            groups = furniture.place_groups(rng, 1, room, camera.pos, camera.yaw)
            if groups:
                x, z, reach = groups[0].footprint
                dx, dz = x - camera.pos[0], z - camera.pos[2]
                ahead = dx * math.sin(camera.yaw) + dz * math.cos(camera.yaw)
                side = dx * math.cos(camera.yaw) - dz * math.sin(camera.yaw)
                out.append((ahead, side, reach))
        return out

    subjects = first_groups(1.0)
    assert len(subjects) >= 30  # a subject seldom fails to fit in the room
    for ahead, side, reach in subjects:
        near = furniture.CAMERA_CLEARANCE + reach + furniture.GROUP_GAP
        assert near + furniture.HERO_GAP[0] - 1e-4 <= ahead <= near + furniture.HERO_GAP[1] + 1e-4
        assert abs(side) <= furniture.HERO_LATERAL * ahead + 1e-4
    anywhere = first_groups(0.0)
    assert max(a - r for a, _, r in anywhere) > max(a - r for a, _, r in subjects) + 1  # others stand farther too


def test_config_selects_the_world():
    assert all(cfg.synthetic_world == "classic" for name, cfg in PRESETS.items() if name != "tiny-rich")
    assert PRESETS["tiny-rich"].synthetic_world == "rich"
    assert PRESETS["tiny-rich"].model_dict() == PRESETS["tiny-synthetic"].model_dict()
    # the two departures for real photos are tiny-rich's alone; the training loop takes the depth term from the config
    assert all(cfg.classic_fraction == 0 and cfg.depth_ssi_weight == 0 for name, cfg in PRESETS.items()
               if name != "tiny-rich")
    from mqt_lite.train import training_setup

    setup = training_setup(get_config("tiny-rich", backbone="resnet18", backbone_kwargs={}), torch.device("cpu"))
    assert setup.criterion.losses["depth"].ssi_weight == PRESETS["tiny-rich"].depth_ssi_weight > 0
    with pytest.raises(ValueError, match="synthetic_world"):
        get_config("tiny-synthetic", synthetic_world="photoreal")
    cfg = get_config("tiny-rich", image_size=(16, 16), val_size=2)
    assert list(load_split(cfg, "val")["name"]) == ["synthetic-rich-0-val-000000", "synthetic-rich-0-val-000001"]


def test_classic_fraction_mixes_classic_scenes_into_the_rich_train_split_only():
    cfg = get_config("tiny-rich", image_size=(16, 16), train_size=5, val_size=2, classic_fraction=0.4)
    assert list(load_split(cfg, "train")["name"]) == [
        "synthetic-rich-0-train-000000", "synthetic-rich-0-train-000001", "synthetic-rich-0-train-000002",
        "synthetic-0-train-000000", "synthetic-0-train-000001"]
    assert list(load_split(cfg, "val")["name"]) == ["synthetic-rich-0-val-000000", "synthetic-rich-0-val-000001"]
    train = load_split(cfg, "train")
    assert train[4]["depth"].shape == (16, 16) and train[4]["image"].shape == (16, 16, 3)  # one schema
    with pytest.raises(ValueError, match="classic_fraction.*synthetic_world='rich'"):
        get_config("tiny-synthetic", classic_fraction=0.3)
    with pytest.raises(ValueError, match="classic_fraction must be"):
        get_config("tiny-rich", classic_fraction=1.5)
