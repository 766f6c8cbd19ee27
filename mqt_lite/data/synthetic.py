"""The synthetic world: procedural rooms with labels for all six tasks, ray cast in numpy (not in the paper).

A scene is a room (floor, four walls, no ceiling; the camera inside, looking slightly down) with 3-7 objects
(box, sphere, cylinder, cone) of random yaw, size, colour and texture, lit by a directional and an ambient
light, with soft blob shadows on the room. One ray per pixel through a pinhole camera; every primitive is
intersected analytically for all rays at once, only inside its projected bounding box.

Label conventions (the tests check each exactly):
- world frame: x right, y up, z forward (metres), floor at y = 0; some objects float above the floor.
- semseg: CLASS_NAMES["synthetic"]["semseg"]; every pixel is labelled (the room fills the view).
- parts: by the world-space normal's up component n_y: top if n_y > cos 45deg, bottom if n_y < -cos 45deg,
  side otherwise; background on the floor and walls.
- sal: 1 on every object, 0 elsewhere.
- depth: z-depth (distance along the optical axis, not along the ray) in metres; valid everywhere.
- normals: camera frame as in OpenCV (x right, y down, z forward), unit length, facing the camera.
- edge: `schema.label_boundaries(semseg, instance)`: 1 where the class or the instance (the floor, each wall,
  each object) differs from the right or lower neighbour.
- image i of a split depends only on (seed, split, i): its RNG is SeedSequence((seed, SPLITS[split], i)).
"""
from __future__ import annotations

import argparse
import colorsys
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np

from ..config import SYNTHETIC_WORLDS as WORLDS
from ..viz import sample_grid
from .rich import RENDER_VERSION as RICH_VERSION
from .rich import render_rich
from .raycast import SEMSEG, SHAPES, Camera, Solid, scene_labels, trace, write_hit
from .schema import png_bytes

SPLITS = {"train": 0, "val": 1, "test": 2}
RENDER_VERSION = 1  # bump when scenes change: cached datasets are keyed by it
LABELS = ("semseg", "parts", "sal", "edge")  # uint8 maps
TEXTURES = ("plain", "stripes", "checks", "noise")
# camera and room (metres, degrees)
HFOV = 60.0
CAM_HEIGHT, CAM_PITCH, CAM_YAW = (1.2, 1.8), (8.0, 22.0), (-15.0, 15.0)
ROOM_HALF_WIDTH, ROOM_DEPTH, ROOM_BEHIND = (2.5, 4.5), (6.0, 10.0), 1.5
NUM_OBJECTS, OBJECT_DISTANCE, OBJECT_GAP, PLACEMENT_TRIES = (3, 7), (2.0, 6.5), 0.1, 20
VIEW_FILL = 0.8  # objects are placed within this fraction of the horizontal field of view
BOX_HALF, SPHERE_RADIUS = ((0.2, 0.2, 0.2), (0.6, 0.7, 0.6)), (0.2, 0.55)
ROUND_RADIUS, ROUND_HALF_HEIGHT = (0.15, 0.5), (0.25, 0.7)  # cylinders and cones
FLOAT_PROB, FLOAT_ABOVE_EYE = 0.25, (0.1, 0.8)  # floating objects hang above eye level: their bottoms show
TEXTURE_FREQ = (4.0, 10.0)  # pattern periods across an object
FIRST_OBJECT = 5  # instance ids: 0 floor, 1-4 walls, then the objects
# lighting
AMBIENT, DIFFUSE, SHADOW_STRENGTH, SHADOW_SOFTNESS, SHADOW_RADIUS = 0.4, 0.6, 0.6, 0.5, 0.8
LIGHT_ELEVATION = (35.0, 70.0)
PLINTH_HEIGHT, PLINTH_SHADE = 0.12, 0.55  # darker band at the bottom of the walls
FLOOR_TILE = (0.4, 1.0)
PNG_COMPRESSION = 1  # zlib level of the stored PNGs: 1 is 2x faster than 6, files ~25% larger
BUILD_CHUNK = 256  # scenes rendered before converting them to Arrow


@dataclass
class Obj(Solid):
    """One object: a Solid (shape, base position (x, y0, z), yaw, half size (x, y, z)) and its appearance."""

    colours: tuple[np.ndarray, np.ndarray]
    texture: str
    freq: float
    axis: np.ndarray


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The RNG of image `index` of a split; the splits never share a scene."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {list(SPLITS)}")
    return np.random.default_rng(np.random.SeedSequence((seed, SPLITS[split], index)))


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _sample_object(rng: np.random.Generator, cam: np.ndarray, yaw: float, room: tuple, placed: list) -> Obj | None:
    """A random object in front of the camera, inside the room, not overlapping `placed`; None if none fits."""
    shape = SHAPES[rng.integers(len(SHAPES))]
    if shape == "box":
        half = rng.uniform(*BOX_HALF)
    elif shape == "sphere":
        half = np.full(3, rng.uniform(*SPHERE_RADIUS))
    else:  # cylinder and cone: radius, half height
        r, hh = rng.uniform(*ROUND_RADIUS), rng.uniform(*ROUND_HALF_HEIGHT)
        half = np.array([r, hh, r])
    footprint = float(np.hypot(half[0], half[2]))
    half_width, depth = room
    for _ in range(PLACEMENT_TRIES):
        dist = rng.uniform(*OBJECT_DISTANCE)
        lateral = rng.uniform(-1, 1) * VIEW_FILL * dist * math.tan(math.radians(HFOV / 2))
        x = cam[0] + dist * math.sin(yaw) + lateral * math.cos(yaw)
        z = cam[2] + dist * math.cos(yaw) - lateral * math.sin(yaw)
        inside = abs(x) < half_width - footprint and z < depth - footprint
        if inside and all(np.hypot(x - o.pos[0], z - o.pos[2]) > footprint + np.hypot(o.half[0], o.half[2])
                          + OBJECT_GAP for o in placed):
            break
    else:
        return None
    floating = rng.random() < FLOAT_PROB
    y0 = cam[1] + rng.uniform(*FLOAT_ABOVE_EYE) if floating else 0.0
    hue = rng.random()  # a saturated colour and a contrasting second one for the pattern
    c1 = _hsv(hue, rng.uniform(0.5, 0.9), rng.uniform(0.6, 0.95))
    c2 = _hsv(hue + rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.9))
    axis = rng.normal(size=3).astype(np.float32)
    return Obj(shape, np.array([x, y0, z], np.float32), float(rng.uniform(0, 2 * math.pi)), half.astype(np.float32),
               (c1, c2), TEXTURES[rng.integers(len(TEXTURES))], float(rng.uniform(*TEXTURE_FREQ)),
               axis / np.linalg.norm(axis))


def _pattern(obj: Obj, p: tuple) -> np.ndarray:
    """Texture mix in [0, 1] at local points p: 0 is the object's first colour, 1 its second."""
    scale = obj.freq / (2 * float(obj.half.mean()) + 1.0)
    qx, qy, qz = (c * scale for c in p)
    along = qx * obj.axis[0] + qy * obj.axis[1] + qz * obj.axis[2]
    if obj.texture == "stripes":
        return (np.sin(along * math.pi) > 0).astype(np.float32)
    if obj.texture == "checks":
        return ((np.floor(qx) + np.floor(qy) + np.floor(qz)) % 2).astype(np.float32)
    if obj.texture == "noise":  # two incommensurate waves: a marbled, non-repeating look
        return 0.5 + 0.25 * (np.sin(along * math.e + qy) + np.sin(qx * math.sqrt(2) - qz))
    return np.zeros_like(qx)


def render_scene(rng: np.random.Generator | int, size: int | tuple[int, int] = 128,
                 world: str = "classic") -> dict[str, np.ndarray]:
    """Sample and render one scene.

    Args:
        rng: a numpy Generator or an integer seed.
        size: image side or (H, W).
        world: "classic" (this module's world) or "rich" (domain-randomised rooms with real-photo textures:
            data/rich.py, whose docstring gives its instance ids).
    Returns: the schema arrays (image, semseg, parts, sal, edge, depth, normals) plus `instance` (int16 (H, W):
        0 floor, 1-4 walls, FIRST_OBJECT + k object k).
    """
    if world not in WORLDS:
        raise ValueError(f"unknown synthetic world {world!r}; valid: {list(WORLDS)}")
    if world == "rich":
        return render_rich(rng, size)
    rng = np.random.default_rng(rng)
    H, W = (size, size) if isinstance(size, int) else size
    camera = _camera(rng, H, W)
    room = (rng.uniform(*ROOM_HALF_WIDTH), rng.uniform(*ROOM_DEPTH))
    objects: list[Obj] = []
    for _ in range(rng.integers(NUM_OBJECTS[0], NUM_OBJECTS[1] + 1)):
        obj = _sample_object(rng, camera.pos, camera.yaw, room, objects)
        if obj is not None:
            objects.append(obj)
    depth, normal, instance, mix = _render_room(camera.pos, camera.dirs, room, rng.uniform(*FLOOR_TILE))
    room_colours = _room_colours(rng)  # (2, 5, 3): base colour and colour change at mix = 1 of the floor and walls
    semseg = np.where(instance == 0, SEMSEG["floor"], SEMSEG["wall"]).astype(np.uint8)
    for k, obj in enumerate(objects):
        _render_object(obj, FIRST_OBJECT + k, camera, (depth, normal, instance, mix, semseg))
    image = _shade(rng, camera, (depth, normal, instance, mix), objects, room_colours)
    return scene_labels(image, semseg, instance, depth, normal, camera.rot, instance >= FIRST_OBJECT)


def _camera(rng: np.random.Generator, H: int, W: int) -> Camera:
    """A random camera inside the room, looking slightly down, and its rays."""
    cam = np.array([rng.uniform(-0.5, 0.5), rng.uniform(*CAM_HEIGHT), 0.0], np.float32)
    yaw, pitch = np.radians(rng.uniform(*CAM_YAW)), np.radians(rng.uniform(*CAM_PITCH))
    fwd = np.array([math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)])
    right = np.array([math.cos(yaw), 0.0, -math.sin(yaw)])
    down = np.array([right[1] * fwd[2] - right[2] * fwd[1], right[2] * fwd[0] - right[0] * fwd[2],
                     right[0] * fwd[1] - right[1] * fwd[0]])  # right x forward
    rot = np.stack([right, down, fwd]).astype(np.float32)
    f = (W / 2) / math.tan(math.radians(HFOV / 2))
    u = (np.arange(W, dtype=np.float32) + 0.5 - W / 2)[None, :] / f
    v = (np.arange(H, dtype=np.float32) + 0.5 - H / 2)[:, None] / f
    dirs = tuple(u * rot[0, i] + v * rot[1, i] + rot[2, i] for i in range(3))  # 3 x (H, W): u right + v down + fwd
    return Camera(cam, yaw, rot, f, dirs)


def _render_object(obj: Obj, instance_id: int, camera: Camera, maps: tuple) -> None:
    """Ray cast one object inside its screen box; where it is nearer than what is there, write its depth, world
    normal, instance id, texture mix and class into `maps` (depth, normal (3 arrays), instance, mix, semseg)."""
    depth, normal, instance, mix, semseg = maps
    h = trace(obj, camera, depth)
    if h is None:
        return
    write_hit(h, instance_id, depth, normal, instance)
    mix[h.rows, h.cols][h.hit] = _pattern(obj, tuple(q[h.hit] for q in h.p))
    semseg[h.rows, h.cols][h.hit] = SEMSEG[obj.shape]


def _shade(rng: np.random.Generator, camera: Camera, maps: tuple, objects: list[Obj],
           room_colours: np.ndarray) -> np.ndarray:
    """The image (H, W, 3) uint8: albedo (base colour + texture mix x colour change) lit by a random directional
    light and the ambient light, with soft blob shadows on the room. maps: depth, world normal, instance, mix."""
    depth, normal, instance, mix = maps
    is_obj = instance >= FIRST_OBJECT
    el, az = np.radians(rng.uniform(*LIGHT_ELEVATION)), rng.uniform(0, 2 * math.pi)
    light = np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)], np.float32)  # unit
    shade = AMBIENT + DIFFUSE * np.maximum(normal[0] * light[0] + normal[1] * light[1] + normal[2] * light[2], 0)
    shade = np.where(is_obj, shade, shade * _shadow(camera.pos, camera.dirs, depth, objects, light))
    table = [room_colours] + [np.stack([o.colours[0], o.colours[1] - o.colours[0]])[:, None] for o in objects]
    colours = np.concatenate(table, 1)  # (2, FIRST_OBJECT + len(objects), 3)
    albedo = colours[0][instance] + mix[..., None] * colours[1][instance]
    return np.clip(albedo * shade[..., None] * 255 + 0.5, 0, 255).astype(np.uint8)


def _render_room(cam: np.ndarray, dirs: tuple, room: tuple, tile: float) -> tuple:
    """Depth, world normal (3 arrays), instance id and texture mix of the floor and walls hit by every ray."""
    half_width, depth_back = room
    dx, dy, dz = dirs
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(dy < 0, -cam[1] / dy, np.inf)  # no ceiling: rays going up hit a wall
        t_x = np.where(dx > 0, (half_width - cam[0]) / dx, (-half_width - cam[0]) / dx)
        t_z = np.where(dz > 0, (depth_back - cam[2]) / dz, (-ROOM_BEHIND - cam[2]) / dz)
    t_x, t_z = np.where(t_x > 0, t_x, np.inf), np.where(t_z > 0, t_z, np.inf)  # rays parallel to a wall
    floor = (t_floor <= t_x) & (t_floor <= t_z)
    side = ~floor & (t_x <= t_z)
    back = ~floor & ~side
    depth = np.minimum(np.minimum(t_floor, t_x), t_z).astype(np.float32)
    normal = [np.where(side, -np.sign(dx), 0).astype(np.float32), floor.astype(np.float32),
              np.where(back, -np.sign(dz), 0).astype(np.float32)]
    instance = np.where(floor, 0, np.where(side, np.where(dx < 0, 1, 2), np.where(dz > 0, 3, 4))).astype(np.int16)
    px, py, pz = (cam[i] + depth * dirs[i] for i in range(3))
    checker = (np.floor(px / tile) + np.floor(pz / tile)) % 2
    mix = np.where(floor, checker, py < PLINTH_HEIGHT).astype(np.float32)
    return depth, normal, instance, mix


def _room_colours(rng: np.random.Generator) -> np.ndarray:
    """(2, 5, 3) base colours and colour changes (mix = 1: the other tile, the plinth) of the floor and 4 walls."""
    floor = _hsv(rng.uniform(0.05, 0.12), rng.uniform(0.2, 0.5), rng.uniform(0.45, 0.7))
    wall = _hsv(rng.random(), rng.uniform(0.1, 0.35), rng.uniform(0.7, 0.95))
    walls = wall[None] * rng.uniform(0.85, 1.0, (4, 1)).astype(np.float32)  # each wall a slightly different shade
    base = np.concatenate([floor[None], walls])
    change = np.concatenate([floor[None] * (rng.uniform(0.7, 0.9) - 1), walls * (PLINTH_SHADE - 1)])
    return np.stack([base, change])


def _shadow(cam: np.ndarray, dirs: tuple, depth: np.ndarray, objects: list[Obj], light: np.ndarray) -> np.ndarray:
    """Soft blob shadows: light visibility from how far the ray towards the light passes from each object.

    Points are expressed in a light-aligned basis (a, b across the light, s along it) once; an object then
    shadows the points whose (a, b) lie within its radius and whose s is below its own.
    """
    across_a = np.cross(light, (0.0, 0.0, 1.0))
    across_a /= np.linalg.norm(across_a)
    basis = np.stack([across_a, np.cross(light, across_a), light]).astype(np.float32)  # (3, 3)
    p = [cam[i] + depth * dirs[i] for i in range(3)]
    a, b, s = (basis[k, 0] * p[0] + basis[k, 1] * p[1] + basis[k, 2] * p[2] for k in range(3))
    vis = np.ones_like(depth)
    for obj in objects:
        radius = SHADOW_RADIUS * float(np.mean(obj.half))
        ca, cb, cs = basis @ (obj.pos + np.array([0, obj.half[1], 0], np.float32))
        miss = np.sqrt((a - ca) ** 2 + (b - cb) ** 2)
        occ = np.clip((radius - miss) / (SHADOW_SOFTNESS * radius) + 0.5, 0, 1)
        vis = np.where(s < cs, np.minimum(vis, 1 - SHADOW_STRENGTH * occ), vis)
    return vis


def make_synthetic(num_images: int, seed: int = 0, size: int | tuple[int, int] = 128, split: str = "train",
                   cache_dir: str | Path | None = None, world: str = "classic"):
    """The synthetic world as a datasets.Dataset in the common schema (numpy format).

    Args:
        num_images: scenes in the dataset; image i is the same whatever num_images is.
        seed: world seed; splits "train", "val", "test" of one seed never share a scene.
        size: image side or (H, W).
        split: one of SPLITS.
        cache_dir: if given, reuse the dataset saved there by an earlier call with the same arguments (and
            save it there otherwise); the reloaded dataset is memory-mapped instead of held in RAM
            (about 280 kB per 128x128 scene, mostly the float normals).
        world: "classic" or "rich" (see render_scene); image names of the rich world start "synthetic-rich-".
    """
    H, W = (size, size) if isinstance(size, int) else tuple(size)
    scene_rng(seed, split, 0)  # validates the split before any work
    if world not in WORLDS:
        raise ValueError(f"unknown synthetic world {world!r}; valid: {list(WORLDS)}")
    prefix = "synthetic" if world == "classic" else f"synthetic-{world}"
    version = RENDER_VERSION if world == "classic" else RICH_VERSION
    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}")
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{prefix}-v{version}-seed{seed}-{split}-{H}x{W}-n{num_images}"
        if (path / "dataset_info.json").is_file():
            return datasets.load_from_disk(str(path)).with_format("numpy")
    features = datasets.Features({
        "name": datasets.Value("string"),
        **{k: datasets.Image() for k in ("image", *LABELS)},  # PNG, lossless
        "depth": datasets.Array2D((H, W), "float32"),
        "normals": datasets.Array3D((3, H, W), "float32"),
    })
    chunks = []  # render and convert a chunk at a time: the rendered arrays of all scenes need not fit in memory
    for start in range(0, num_images, BUILD_CHUNK):
        index = range(start, min(start + BUILD_CHUNK, num_images))
        scenes = [render_scene(scene_rng(seed, split, i), (H, W), world) for i in index]
        columns = {k: [png_bytes(s[k], PNG_COMPRESSION) for s in scenes] for k in ("image", *LABELS)}
        columns.update({k: [s[k] for s in scenes] for k in ("depth", "normals")})
        columns["name"] = [f"{prefix}-{seed}-{split}-{i:06d}" for i in index]
        chunks.append(datasets.Dataset.from_dict(columns, features=features))
    ds = datasets.concatenate_datasets(chunks)
    if path is not None:
        tmp = path.with_name(path.name + ".tmp")  # complete or absent: a crash leaves no half-written cache
        shutil.rmtree(tmp, ignore_errors=True)
        ds.save_to_disk(str(tmp))
        tmp.rename(path)
        ds = datasets.load_from_disk(str(path))
    return ds.with_format("numpy")


def main(argv: list[str] | None = None) -> None:
    """`python -m mqt_lite.data.synthetic --figure docs/synthetic_world.png [--world rich]`: a grid of scenes and
    their labels."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--figure", required=True, help="output PNG path")
    parser.add_argument("--scenes", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--world", choices=WORLDS, default="classic")
    args = parser.parse_args(argv)
    samples = [render_scene(scene_rng(args.seed, "val", i), args.size, args.world) for i in range(args.scenes)]
    fig = sample_grid(samples, "synthetic")
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=100)
    print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
